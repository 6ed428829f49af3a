"""Reorder memory model (Eq. 3): now :mod:`paraflowo.planning.memory`.

This module re-exports it so that code written against ``paraflowo.memory``
keeps working.
"""

from paraflowo.planning.memory import *  # noqa: F401,F403
from paraflowo.planning.memory import __all__  # noqa: F401
