"""Elephant detectors: Count-Min burst and per-packet update, Space-Saving, anchors.

Time with ``pytest benchmarks/bench_detectors.py --benchmark-enable --benchmark-only``;
each benchmark stores its throughput in ``extra_info["mpps"]``.  The anchors
(Apache DataSketches, pyprobables) are optional: their benchmarks are skipped
when the package is not installed.
"""

import itertools

import numpy as np
import pytest

from paraflowo import CountMinDetector, ThresholdDetector

from benchutil import record_mpps

N_BURST = 1 << 20          # packets per timed burst call
N_PACKET = 100_000         # packets per timed per-packet loop
N_FLOWS = 1_000_000


def _zipf_keys(n, n_flows=N_FLOWS, s=1.1, seed=7):
    rng = np.random.default_rng(seed)
    cdf = np.cumsum(np.arange(1, n_flows + 1, dtype=np.float64) ** -s)
    cdf /= cdf[-1]
    ranks = np.minimum(np.searchsorted(cdf, rng.random(n), side="right"), n_flows - 1)
    flow_keys = rng.integers(0, 2**64 - 1, n_flows, dtype=np.uint64, endpoint=True)
    return flow_keys[ranks]


ZIPF = _zipf_keys(N_BURST)
UNIFORM = np.random.default_rng(8).integers(0, 2**64 - 1, N_BURST, dtype=np.uint64,
                                            endpoint=True)
KEYS_LIST = ZIPF[:N_PACKET].tolist()
TIMES = np.arange(N_BURST, dtype=np.int64) * 10


@pytest.mark.benchmark(group="detectors")
@pytest.mark.parametrize("conservative", [True, False], ids=["conservative", "plain"])
@pytest.mark.parametrize("stream", ["zipf", "uniform"])
@pytest.mark.parametrize("row_hashes", ["fused", "independent"])
def test_countmin_burst(benchmark, conservative, stream, row_hashes):
    # row_hashes: one shared 128-bit hash (the default) or one hash per row
    keys = ZIPF if stream == "zipf" else UNIFORM
    det = CountMinDetector(4096, 4, 10_000, 10**9, conservative=conservative, seed=1,
                           row_hashes=row_hashes)
    out = np.empty(N_BURST, dtype=np.bool_)
    flags = benchmark(det.update_burst, keys, 0, None, out)
    record_mpps(benchmark, N_BURST)
    assert flags.shape == (N_BURST,)


@pytest.mark.benchmark(group="detectors")
@pytest.mark.parametrize("conservative", [True, False], ids=["conservative", "plain"])
def test_countmin_burst_per_packet_times(benchmark, conservative):
    # per-packet times (now_ns array), as Breakup.ingress_burst calls it;
    # 10 ns apart, 1 ms windows: the burst is cut at ~10 window boundaries.
    # A fresh detector per round (untimed setup): time may not go backwards.
    out = np.empty(N_BURST, dtype=np.bool_)

    def setup():
        det = CountMinDetector(4096, 4, 10_000, 10**6, conservative=conservative, seed=1)
        return (det, ), {}

    benchmark.pedantic(lambda det: det.update_burst(ZIPF, TIMES, None, out), setup=setup,
                       rounds=30)
    record_mpps(benchmark, N_BURST)


@pytest.mark.benchmark(group="detectors")
@pytest.mark.parametrize("burst", [32, 256])
def test_countmin_burst_small_bursts(benchmark, burst):
    # the per-call cost of update_burst at vSwitch burst sizes
    det = CountMinDetector(4096, 4, 10_000, 10**9, seed=1)
    n = 64 * burst
    chunks = [ZIPF[i:i + burst] for i in range(0, n, burst)]
    outs = [np.empty(burst, dtype=np.bool_) for _ in chunks]
    upd = det.update_burst

    def run():
        for c, o in zip(chunks, outs):
            upd(c, 0, None, o)

    benchmark(run)
    record_mpps(benchmark, n)


def _update_each(upd, keys):
    # the per-packet Python path: one update call per key, all at time 0
    for k in keys:
        upd(k, 0)


@pytest.mark.benchmark(group="detectors")
@pytest.mark.parametrize("conservative", [True, False], ids=["conservative", "plain"])
@pytest.mark.parametrize("row_hashes", ["fused", "independent"])
def test_countmin_per_packet(benchmark, conservative, row_hashes):
    det = CountMinDetector(4096, 4, 10_000, 10**9, conservative=conservative, seed=1,
                           row_hashes=row_hashes)
    benchmark(_update_each, det.update, KEYS_LIST)
    record_mpps(benchmark, N_PACKET)


@pytest.mark.benchmark(group="detectors")
def test_countmin_per_packet_map(benchmark):
    # the same per-packet call driven by map() (no Python loop body)
    det = CountMinDetector(4096, 4, 10_000, 10**9, seed=1)
    zeros = list(itertools.repeat(0, N_PACKET))
    benchmark(lambda: list(map(det.update, KEYS_LIST, zeros)))
    record_mpps(benchmark, N_PACKET)


@pytest.mark.benchmark(group="detectors")
def test_threshold_burst(benchmark):
    det = ThresholdDetector(1024, 10_000, 10**9)
    out = np.empty(N_BURST, dtype=np.bool_)
    benchmark(det.update_burst, ZIPF, 0, None, out)
    record_mpps(benchmark, N_BURST)


@pytest.mark.benchmark(group="detectors")
def test_threshold_per_packet(benchmark):
    det = ThresholdDetector(1024, 10_000, 10**9)
    benchmark(_update_each, det.update, KEYS_LIST)
    record_mpps(benchmark, N_PACKET)


@pytest.mark.benchmark(group="detectors")
def test_anchor_datasketches_count_min(benchmark):
    ds = pytest.importorskip("datasketches")
    sk = ds.count_min_sketch(4, 4096, 1)
    upd = sk.update
    keys = ZIPF[:N_PACKET].view(np.int64).tolist()     # it takes signed 64-bit ints

    def run():
        for k in keys:
            upd(k)

    benchmark(run)
    record_mpps(benchmark, N_PACKET)


@pytest.mark.benchmark(group="detectors")
def test_anchor_pyprobables_count_min(benchmark):
    probables = pytest.importorskip("probables")
    sk = probables.CountMinSketch(width=4096, depth=4)
    keys = [str(k) for k in KEYS_LIST[:5000]]
    add = sk.add

    def run():
        for k in keys:
            add(k)

    benchmark(run)
    record_mpps(benchmark, len(keys))
