import os
import sys
from pathlib import Path

from hypothesis import settings

# tests import their small shared helpers (cybuild, models) by plain name
sys.path.insert(0, str(Path(__file__).parent))

# PARAFLOWO_HYPOTHESIS_PROFILE=bounds: the CI run against a build with bounds
# checks on (.ci/run) draws fewer examples where a test does not set its own
# count; "default" is hypothesis' own.
settings.register_profile("bounds", max_examples=20)
settings.load_profile(os.environ.get("PARAFLOWO_HYPOTHESIS_PROFILE", "default"))
