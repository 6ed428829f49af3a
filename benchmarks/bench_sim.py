"""Simulation rate per policy (simulated packets per wall-clock second).

The arrivals (``paper-fig7``, 1 simulated second, ~1.17 M packets) are generated
once at import; each benchmark runs one policy's event loop over them.  One
times the generation of those arrivals alone, and one the whole ``simulate``
call (generation included) for a shorter run.  Time the suite with
``pytest benchmarks/bench_sim.py --benchmark-enable --benchmark-only``.
"""

import time

import numpy as np
import pytest

from benchutil import record_mpps

from paraflowo.hashing import IndirectionTable
from paraflowo.sim import load_scenario, simulate
from paraflowo.sim.runner import _engine, paraflowo_available
from paraflowo.sim.traffic import Traffic, make_flows

SCENARIO = load_scenario("paper-fig7").with_duration(1.0)
_seeds = np.random.SeedSequence(SCENARIO.seed).spawn(3)
FLOWS = make_flows(SCENARIO, np.random.default_rng(_seeds[0]))
_chunks = list(Traffic(FLOWS, 10**9, 10**9, np.random.default_rng(_seeds[1])).chunks())
TIMES = np.concatenate([c.times for c in _chunks])
FLOW_IDS = np.concatenate([c.flows for c in _chunks])
RETA = IndirectionTable(SCENARIO.cores.count, SCENARIO.cores.reta_size)


@pytest.mark.benchmark(group="sim")
@pytest.mark.parametrize("policy", ["rss", "paraflowo", "spray", "rsspp"])
def test_event_loop(benchmark, policy):
    if policy == "paraflowo" and paraflowo_available():
        pytest.skip(paraflowo_available())

    engines = []

    def setup():        # a fresh engine per round, built outside the timing
        engines.append(_engine(policy, SCENARIO, FLOWS, RETA, 1, 10**9))
        return (engines[-1],), {}

    cpu = []

    def run(eng):
        t0 = time.process_time()
        eng.run(TIMES, FLOW_IDS)
        eng.flush()
        cpu.append(time.process_time() - t0)

    benchmark.pedantic(run, setup=setup, rounds=3, iterations=1)
    eng = engines[-1]
    # on a shared machine the CPU-time rate is the steadier figure
    benchmark.extra_info["mpps_cpu"] = len(TIMES) / max(min(cpu), 1e-9) / 1e6
    st = eng.stats()
    assert st["arrived"].sum() == len(TIMES) == st["completed"].sum() + st["dropped"].sum()
    record_mpps(benchmark, len(TIMES))


@pytest.mark.benchmark(group="sim")
def test_traffic_generation(benchmark):
    # the generator alone: paper-fig7's chunks for 1 simulated second
    # (~1.17 M arrivals, 5 chunks), rate per CPU second in mpps_cpu
    cpu = []

    def run():
        t0 = time.process_time()
        gen = Traffic(FLOWS, 10**9, 10**9, np.random.default_rng(_seeds[1]))
        n = sum(len(c.times) for c in gen.chunks())
        cpu.append(time.process_time() - t0)
        return n

    n = benchmark.pedantic(run, rounds=5, iterations=1)
    assert n == len(TIMES)
    benchmark.extra_info["mpps_cpu"] = n / max(min(cpu), 1e-9) / 1e6
    record_mpps(benchmark, n)


@pytest.mark.benchmark(group="sim")
def test_simulate_end_to_end_with_generation(benchmark):
    s = SCENARIO.with_duration(0.5)
    result = benchmark.pedantic(simulate, args=(s, ["rss"]), rounds=3, iterations=1)
    record_mpps(benchmark, result.scenario["packets"])
