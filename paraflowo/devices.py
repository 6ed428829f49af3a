"""Device profiles and capacity planning: now :mod:`paraflowo.planning`.

This module re-exports :mod:`paraflowo.planning` so that code written against
``paraflowo.devices`` keeps working; new code may import from either.
"""

from paraflowo.planning import *  # noqa: F401,F403
from paraflowo.planning import __all__  # noqa: F401
