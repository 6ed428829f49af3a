"""Trace reading: the fast (numpy, memory-mapped) reader next to the dpkt path.

One capture (a TCP elephant plus mice, written by ``tests/tracegen.py`` into a
tmp dir, as pcap and as pcapng) is read by both engines in the same run; each benchmark records
packets per second as ``extra_info["mpps"]``, and ``test_ratio`` measures the
two side by side (alternating, best of 3 each) and records the speed-up in
``extra_info["speedup"]``.  Time with
``pytest benchmarks/bench_pcap.py --benchmark-enable --benchmark-only``.
"""

import time

import pytest

import tracegen as tg
from benchutil import packets, record_mpps

from paraflowo.sim.pcap import read_pcap

dpkt = pytest.importorskip("dpkt")

N = packets(200_000, 3_000)


@pytest.fixture(scope="module", params=["pcap", "pcapng"])
def capture(request, tmp_path_factory):
    elephant_pps = 50_000
    dur = N / (elephant_pps + 40 * 500)
    recs = tg.elephant_and_mice(dur, elephant_pps=elephant_pps, n_mice=40, mice_pps=500)
    p = tmp_path_factory.mktemp("bench") / f"trace.{request.param}"
    if request.param == "pcap":
        tg.write_pcap(p, recs)
    else:
        tg.write_pcapng(p, [(0, ns, f) for ns, f in recs])
    return p, len(read_pcap(p).times)


@pytest.mark.benchmark(group="pcap")
@pytest.mark.parametrize("engine", ["fast", "dpkt"])
def test_read(benchmark, capture, engine):
    path, n = capture
    tr = benchmark(read_pcap, path, engine=engine)
    assert len(tr.times) == n
    record_mpps(benchmark, n)


@pytest.mark.benchmark(group="pcap-ratio")
def test_ratio(benchmark, capture):
    path, n = capture
    best = {"fast": float("inf"), "dpkt": float("inf")}

    def both():
        for engine in ("fast", "dpkt"):
            t0 = time.perf_counter()
            read_pcap(path, engine=engine)
            best[engine] = min(best[engine], time.perf_counter() - t0)

    benchmark.pedantic(both, rounds=3, iterations=1)
    benchmark.extra_info["fast_pps"] = n / best["fast"]
    benchmark.extra_info["dpkt_pps"] = n / best["dpkt"]
    benchmark.extra_info["speedup"] = best["dpkt"] / best["fast"]
