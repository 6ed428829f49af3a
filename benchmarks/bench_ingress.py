"""Ingress throughput: PSN allocation, flowlet scheduling and the Breakup pipeline.

Timed run::

    pytest benchmarks/bench_ingress.py --benchmark-enable --benchmark-only

Each benchmark records its packet rate in ``extra_info["mpps"]``.  The burst
benchmarks build a fresh pipeline per round (``pedantic`` setup), because
time may not go backwards for one object.
"""

import numpy as np
import pytest

from paraflowo import (
    FLOWLET_DTYPE,
    META_DTYPE,
    Breakup,
    CountMinDetector,
    FlowletScheduler,
    PSNAllocator,
    ThresholdDetector,
)

from benchutil import record_mpps

N_BURST = 1_000_000        # packets per burst run
N_PY = 50_000              # packets per per-packet Python run
N_FLOWS = 100_000
GOLDEN = np.uint64(0x9E3779B97F4A7C15)


@pytest.fixture(scope="module")
def zipf():
    """Zipf(1.1) over 100k flows, seeded: a few elephants carry most packets.

    One packet every 10 ns (100 Mpps line rate), 64-byte packets, 4 ports.
    """
    rng = np.random.default_rng(2026)
    ranks = rng.zipf(1.1, 2 * N_BURST)
    ranks = ranks[ranks <= N_FLOWS][:N_BURST].astype(np.uint64)
    keys = ranks * GOLDEN                                   # distinct 64-bit flow keys
    hashes = (keys >> np.uint64(32)).astype(np.uint32)
    ports = (ranks % np.uint64(4)).astype(np.uint16)
    lengths = np.full(N_BURST, 64, np.uint16)
    times = np.arange(N_BURST, dtype=np.int64) * 10
    top = [r * int(GOLDEN) % 2**64 for r in range(1, 6)]      # the 5 largest flows
    return dict(keys=keys, hashes=hashes, ports=ports, lengths=lengths, times=times, top=top)


def new_breakup(kind, top):
    det = {
        "countmin": lambda: CountMinDetector(4096, 4, threshold=20_000, window_ns=1_000_000),
        "threshold": lambda: ThresholdDetector(1024, threshold=20_000, window_ns=1_000_000),
        "tags": lambda: None,
    }[kind]()
    b = Breakup(det, PSNAllocator(256, idle_ns=1_000_000),
                FlowletScheduler(8, n_para=4, t_switch_init_ns=20_000), capacity=1024)
    if kind == "tags":
        for k in top:                      # elephants tagged upstream (telemetry)
            b.detector.force(k, True)
    return b


# -- Breakup -----------------------------------------------------------------------

@pytest.mark.benchmark(group="breakup")
@pytest.mark.parametrize("kind", ["tags", "countmin", "threshold"])
def test_breakup_burst(benchmark, zipf, kind):
    z = zipf
    out = np.zeros(N_BURST, META_DTYPE)

    def setup():
        return (new_breakup(kind, z["top"]),), {}

    def run(b):
        b.ingress_burst(z["keys"], z["hashes"], z["ports"], z["lengths"], z["times"], out=out)
        return b

    benchmark.pedantic(run, setup=setup, rounds=5, iterations=1)
    record_mpps(benchmark, N_BURST)
    para = float(np.mean(out["flags"] != 0))
    benchmark.extra_info["para_fraction"] = para
    assert 0.05 < para < 0.9                     # a few elephants carry a share


@pytest.mark.benchmark(group="breakup")
def test_breakup_per_packet_python(benchmark, zipf):
    z = zipf
    args = list(zip(z["keys"][:N_PY].tolist(), z["hashes"][:N_PY].tolist(),
                    z["ports"][:N_PY].tolist(), z["times"][:N_PY].tolist()))

    def setup():
        return (new_breakup("countmin", z["top"]),), {}

    def run(b):
        ingress = b.ingress
        for k, h, p, t in args:
            ingress(k, h, p, 64, t)
        return b

    benchmark.pedantic(run, setup=setup, rounds=3, iterations=1)
    record_mpps(benchmark, N_PY)


# -- PSN allocator -------------------------------------------------------------------

@pytest.mark.benchmark(group="psn")
def test_psn_tag_burst(benchmark, zipf):
    z = zipf
    q = np.empty(N_BURST, np.int32)
    p = np.empty(N_BURST, np.uint32)

    def setup():
        return (PSNAllocator(4096, psn_bits=16, idle_ns=100_000),), {}

    def run(a):
        a.tag_burst(z["keys"], z["ports"], z["hashes"], z["times"], q, p)

    benchmark.pedantic(run, setup=setup, rounds=5, iterations=1)
    record_mpps(benchmark, N_BURST)


@pytest.mark.benchmark(group="psn")
def test_psn_tag_per_packet_python(benchmark, zipf):
    z = zipf
    args = list(zip(z["keys"][:N_PY].tolist(), z["ports"][:N_PY].tolist(),
                    z["hashes"][:N_PY].tolist(), z["times"][:N_PY].tolist()))

    def setup():
        return (PSNAllocator(4096, psn_bits=16, idle_ns=100_000),), {}

    def run(a):
        tag = a.tag
        for k, po, h, t in args:
            tag(k, po, h, t)

    benchmark.pedantic(run, setup=setup, rounds=3, iterations=1)
    record_mpps(benchmark, N_PY)


# -- flowlet scheduler ------------------------------------------------------------------

N_SCHED_FLOWS = 64


def _sched_setup(z):
    s = FlowletScheduler(8, n_para=4, smoothing=0.25, t_switch_min_ns=1_000,
                         t_switch_max_ns=100_000, t_switch_init_ns=20_000)
    s.observe_burst(np.arange(8, dtype=np.uint16), np.arange(1, 9, dtype=np.int64) * 1000)
    flows = np.zeros(N_SCHED_FLOWS, FLOWLET_DTYPE)
    for i in range(N_SCHED_FLOWS):
        s.start(flows, i, int(z["hashes"][i]), 0)
    return s, flows


@pytest.mark.benchmark(group="scheduler")
def test_scheduler_steer_burst(benchmark, zipf):
    z = zipf
    index = (z["keys"] % np.uint64(N_SCHED_FLOWS)).astype(np.int64)
    out = np.empty(N_BURST, np.uint16)

    def setup():
        return _sched_setup(z), {}

    def run(s, flows):
        s.steer_burst(flows, index, z["times"], out)

    benchmark.pedantic(run, setup=setup, rounds=5, iterations=1)
    record_mpps(benchmark, N_BURST)


@pytest.mark.benchmark(group="scheduler")
def test_scheduler_steer_per_packet_python(benchmark, zipf):
    z = zipf
    args = list(zip((z["keys"][:N_PY] % np.uint64(N_SCHED_FLOWS)).tolist(),
                    z["times"][:N_PY].tolist()))

    def setup():
        return _sched_setup(z), {}

    def run(s, flows):
        steer = s.steer
        for i, t in args:
            steer(flows, i, t)

    benchmark.pedantic(run, setup=setup, rounds=3, iterations=1)
    record_mpps(benchmark, N_PY)


@pytest.mark.benchmark(group="scheduler")
def test_scheduler_observe_burst(benchmark, zipf):
    z = zipf
    cores = (z["hashes"] % np.uint32(8)).astype(np.uint16)
    delays = (z["times"] % 5000).astype(np.int64)

    def setup():
        return _sched_setup(z), {}

    def run(s, flows):
        s.observe_burst(cores, delays)

    benchmark.pedantic(run, setup=setup, rounds=5, iterations=1)
    record_mpps(benchmark, N_BURST)
