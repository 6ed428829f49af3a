"""SimCore and the thread contract: one SimCore, one thread at a time.

While ``run`` (or ``flush``) is in its loop without the GIL, every other call
on the SimCore raises RuntimeError at once, and, for a paraflowo SimCore, so
does every call on the Breakup (with its detector, allocator and scheduler)
and ReorderQueues it drives; nothing changes, and afterwards all works again.
"""

import numpy as np
import pytest

from paraflowo.hashing import IndirectionTable
from paraflowo.sim import load_scenario
from paraflowo.sim.runner import _build
from paraflowo.sim.traffic import Traffic, make_flows
from threadutil import while_busy

IN_USE = ("{} is in use by another thread (a burst is running without the GIL); "
          "give each thread its own {}")


def _engines(policy):
    sc = load_scenario("paper-fig7")
    flows = make_flows(sc, np.random.default_rng(1))
    reta = IndirectionTable(sc.cores.count, sc.cores.reta_size)
    eng, _, para = _build(policy, sc, flows, reta, 4, 10**9)
    ref = _build(policy, sc, flows, reta, 4, 10**9)[0]
    return sc, flows, eng, ref, para


def _chunk(sc, flows, n):
    tr = Traffic(flows, 4 * 10**9, int(round(sc.jitter_period_s * 1e9)),
                 np.random.default_rng(2))
    times, fl = [], []
    got = 0
    for ch in tr.chunks():
        times.append(ch.times)
        fl.append(ch.flows)
        got += len(ch.times)
        if got >= n:
            break
    return np.concatenate(times)[:n], np.concatenate(fl)[:n]


def _same(a, b):
    sa, sb = a.stats(), b.stats()
    assert sa.keys() == sb.keys()
    for k in sa:
        assert np.array_equal(sa[k], sb[k]), k
    fa, fb = a.flow_stats(), b.flow_stats()
    for k in fa:
        assert np.array_equal(fa[k], fb[k]), k


@pytest.mark.parametrize("policy", ["rss", "paraflowo"])
def test_simcore_refuses_other_threads_while_its_loop_runs(policy):
    sc, flows, eng, ref, para = _engines(policy)
    n = 1 << 20
    for attempt in range(3):
        times, fl = _chunk(sc, flows, n)
        probes = {
            "run": lambda: eng.run(times[:1], fl[:1]),
            "flush": eng.flush,
            "flow_stats": eng.flow_stats,
            "derived_timeout": eng.derived_timeout,
            # re-initialising would free the arrays the running loop writes
            "init": lambda: eng.__init__("rss", np.full(4, 1000, np.int64), 8,
                                         flows.hashes, 4, 10**9,
                                         IndirectionTable(sc.cores.count, sc.cores.reta_size)),
        }
        if para is not None:
            b, rq = para["breakup"], para["reorder"]
            probes.update({
                "paraflowo_stats": eng.paraflowo_stats,
                "breakup": lambda: b.ingress(1, 0, 1, 64, 0, 0),
                "detector": lambda: b.detector.update(1, 0),
                "allocator": lambda: b.allocator.tag(7, 0, 1, 0),
                "scheduler": lambda: b.scheduler.observe(1, 500),
                "reorder": lambda: rq.drain(0),
                "reorder part": lambda: rq.buffers[0].stats,
            })
        outcomes = while_busy(lambda: eng.run(times, fl), eng.stats, probes)
        if outcomes is not None:
            break
        # the loop ended before the guard saw it: start again, twice as long
        sc, flows, eng, ref, para = _engines(policy)
        n *= 2
    else:
        pytest.fail("SimCore.run was never seen running")
    for name in ("run", "flush", "flow_stats", "derived_timeout", "paraflowo_stats", "init"):
        if name in outcomes:
            assert isinstance(outcomes[name], RuntimeError), name
            assert str(outcomes[name]) == IN_USE.format("SimCore", "SimCore"), name
    who = {"breakup": "Breakup", "detector": "CountMinDetector",
           "allocator": "PSNAllocator", "scheduler": "FlowletScheduler",
           "reorder": "ReorderQueues", "reorder part": "ReorderQueues"}
    for name, cls in who.items():
        if name in outcomes:
            assert isinstance(outcomes[name], RuntimeError), (name, outcomes[name])
            assert str(outcomes[name]).startswith(f"{cls} is in use by another thread"), \
                (name, outcomes[name])
    # nothing the refused calls did changed the run; all works again after it
    ref.run(times, fl)
    _same(eng, ref)
    eng.flush()
    ref.flush()
    _same(eng, ref)


def test_simcore_refuses_to_run_over_parts_in_use_elsewhere():
    # a second paraflowo SimCore over the same Breakup and ReorderQueues is
    # refused while the first runs, and changes nothing
    sc, flows, eng, ref, para = _engines("paraflowo")
    from paraflowo._core.sim import SimCore
    svc = np.full(sc.cores.count, 1000, np.int64)
    twin = SimCore("paraflowo", svc, sc.cores.rx_queue, flows.hashes, 4, 10**9,
                   IndirectionTable(sc.cores.count, sc.cores.reta_size), paraflowo=para)
    n = 1 << 20
    times, fl = _chunk(sc, flows, n)
    outcomes = while_busy(lambda: eng.run(times, fl), eng.stats,
                          {"twin": lambda: twin.run(times[:1], fl[:1])})
    if outcomes is None:
        pytest.skip("the run ended before another thread could see it (machine too fast)")
    assert isinstance(outcomes["twin"], RuntimeError)
    assert str(outcomes["twin"]).endswith("give each thread its own Breakup")
    assert twin.stats()["released"] == 0 and int(twin.stats()["arrived"].sum()) == 0
