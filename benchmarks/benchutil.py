"""Sizing helper shared by the benchmark modules (imported by plain name)."""

import os

#: Set by conftest.py from the pytest options: True when benchmarks are timed.
TIMING = False


def packets(full: int, quick: int) -> int:
    """Benchmark size: ``full`` when timing, ``quick`` for the untimed run in the suite.

    ``PARAFLOWO_BENCH_FULL=1`` forces the full size; ``PFO_BENCH_PACKETS=N``
    sets it outright.
    """
    if "PFO_BENCH_PACKETS" in os.environ:
        return int(os.environ["PFO_BENCH_PACKETS"])
    if os.environ.get("PARAFLOWO_BENCH_FULL") == "1" or TIMING:
        return full
    return quick


def record_mpps(benchmark, n_packets: int) -> None:
    """Record Mpps in ``benchmark.extra_info`` after a ``benchmark(...)`` call.

    ``mpps`` comes from the mean time of one call, ``mpps_best`` from the fastest
    round (less sensitive to other load on a shared machine).  Nothing is
    recorded in the untimed run (``--benchmark-disable``).
    """
    stats = getattr(benchmark, "stats", None)
    if stats is None or not stats.stats.mean:
        return
    benchmark.extra_info["packets_per_call"] = n_packets
    benchmark.extra_info["mpps"] = float(n_packets / stats.stats.mean / 1e6)
    benchmark.extra_info["mpps_best"] = float(n_packets / stats.stats.min / 1e6)
