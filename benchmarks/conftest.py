"""Shared fixtures for the benchmarks.

Every benchmark records its throughput as ``extra_info["mpps"]`` (million packets
per second, from the mean time of one call).  The test suite runs each benchmark
once with ``--benchmark-disable`` so they cannot rot; time them with
``pytest benchmarks --benchmark-enable --benchmark-only``.
"""

import sys
from pathlib import Path

import pytest

# benchmark modules import benchutil (and the tests' helpers) by plain name
sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(1, str(Path(__file__).parent.parent / "tests"))

import benchutil  # noqa: E402


def pytest_configure(config):
    # addopts carries --benchmark-disable; --benchmark-enable overrides it
    benchutil.TIMING = bool(config.getoption("benchmark_enable", default=False)) or not (
        config.getoption("benchmark_disable", default=True))


@pytest.fixture
def mpps(benchmark):
    """Call ``mpps(n_packets)`` after ``benchmark(...)`` to record Mpps in extra_info."""
    return lambda n_packets: benchutil.record_mpps(benchmark, n_packets)
