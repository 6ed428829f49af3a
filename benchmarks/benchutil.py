"""Sizing helper shared by the benchmark modules (imported by plain name)."""

import os

#: Set by conftest.py from the pytest options: True when benchmarks are timed.
TIMING = False


def packets(full: int, quick: int) -> int:
    """Benchmark size: ``full`` when timing, ``quick`` for the untimed run in the suite.

    ``PARAFLOWO_BENCH_FULL=1`` forces the full size.
    """
    if os.environ.get("PARAFLOWO_BENCH_FULL") == "1" or TIMING:
        return full
    return quick
