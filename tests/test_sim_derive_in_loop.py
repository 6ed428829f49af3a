"""SimCore.derive_timeout (the derived timeout inside the loop) and the policy threads.

It must give exactly what the runner did before (``AdaptiveTimeout.update()``
called from Python between runs of ``SLICE`` arrivals): the same counters,
per-flow tables and timeout history.
"""

import tomllib

import numpy as np
import pytest

from paraflowo._core.sim import SimCore
from paraflowo.hashing import IndirectionTable
from paraflowo.sim import load_scenario, parse_scenario
from paraflowo.sim.runner import _build
from paraflowo.sim.timeout import GAIN, SLICE
from paraflowo.sim.traffic import Traffic, make_flows

HETERO = """
name = "h"
duration_s = 0.04
seed = 3
[cores]
count = 4
service_mpps = [0.2, 0.3, 0.5, 0.6]
service = "exponential"
rx_queue = 256
[[flows]]
count = 2
rate_pps = 500000
jitter = 0.2
[[flows]]
count = 30
rate_pps = [1000, 20000]
[paraflowo]
threshold_pps = 100000
"""


def _run_both(scenario):
    flows = make_flows(scenario, np.random.default_rng(1))
    dur = int(round(scenario.duration_s * 1e9))
    chunks = list(Traffic(flows, dur, int(round(scenario.jitter_period_s * 1e9)),
                          np.random.default_rng(2)).chunks())
    reta = IndirectionTable(scenario.cores.count, scenario.cores.reta_size)
    old, auto_old, _ = _build("paraflowo", scenario, flows, reta, 4, dur // 4 + 1)
    new, auto_new, _ = _build("paraflowo", scenario, flows, reta, 4, dur // 4 + 1)
    assert auto_old is not None and new.derived_timeout() is None
    new.derive_timeout(auto_new.cap_ns, auto_new.floor_ns, GAIN, SLICE)
    rng_o, rng_n = np.random.default_rng(5), np.random.default_rng(5)
    for ch in chunks:
        eo = rng_o.standard_exponential(len(ch.times))
        en = rng_n.standard_exponential(len(ch.times))
        for a in range(0, len(ch.times), SLICE):           # the runner as it was
            old.run(ch.times[a:a + SLICE], ch.flows[a:a + SLICE], eo[a:a + SLICE])
            auto_old.update()
        new.run(ch.times, ch.flows, en)
    old.flush()
    new.flush()
    return old, auto_old, new


def _same(old, new):
    for a, b in ((old.stats(), new.stats()), (old.flow_stats(), new.flow_stats())):
        for k in a:
            np.testing.assert_array_equal(np.asarray(a[k]), np.asarray(b[k]), err_msg=k)
    po, pn = old.paraflowo_stats(), new.paraflowo_stats()
    for k in po:
        if k == "reorder":
            assert po[k] == pn[k]
        else:
            np.testing.assert_array_equal(np.asarray(po[k]), np.asarray(pn[k]), err_msg=k)


def test_hetero_exponential_cores_same_as_updates_between_slices():
    sc = parse_scenario(tomllib.loads(HETERO))
    old, auto, new = _run_both(sc)
    value, low, high, changes = new.derived_timeout()
    assert changes == auto.changes and changes > 0          # the timeout really moved
    assert (value, low, high) == (auto.value_ns, auto.low_ns, auto.high_ns)
    assert old.paraflowo_stats()["reorder"].timeouts >= 0
    _same(old, new)


def test_paper_fig7_same_as_updates_between_slices():
    sc = load_scenario("paper-fig7").with_duration(0.3)
    old, auto, new = _run_both(sc)
    assert new.derived_timeout() == (auto.value_ns, auto.low_ns, auto.high_ns, auto.changes)
    _same(old, new)


@pytest.mark.parametrize("args, exc, fragment", [
    ((0, 1, 16, 2048), ValueError, "cap_ns must be in [1, 2**62], got 0"),
    ((100, 101, 16, 2048), ValueError, "floor_ns must be in [1, 100], got 101"),
    ((100, 10, 0, 2048), ValueError, "gain must be in [1, 2**20], got 0"),
    ((100, 10, 16, 0), ValueError, "slice_arrivals must be in [1, 2**30], got 0"),
    ((100, 10, 16, 1.5), TypeError, "slice_arrivals must be an integer, got 1.5"),
])
def test_derive_timeout_errors(args, exc, fragment):
    sc = load_scenario("paper-fig7")
    flows = make_flows(sc, np.random.default_rng(1))
    reta = IndirectionTable(sc.cores.count, sc.cores.reta_size)
    eng = _build("paraflowo", sc, flows, reta, 1, 10**9)[0]
    with pytest.raises(exc) as e:
        eng.derive_timeout(*args)
    assert fragment in str(e.value)
    assert eng.derived_timeout() is None
    rss = _build("rss", sc, flows, reta, 1, 10**9)[0]
    with pytest.raises(ValueError, match="derive_timeout needs a SimCore of policy 'paraflowo', "
                                         "got policy 'rss'"):
        rss.derive_timeout(100, 10, 16, 2048)
    with pytest.raises(exc) as e:                # the arguments are checked first
        rss.derive_timeout(*args)
    assert fragment in str(e.value)


def test_derive_timeout_before_init_is_a_runtime_error():
    with pytest.raises(RuntimeError, match="not initialised"):
        SimCore.__new__(SimCore).derive_timeout(100, 10, 16, 2048)


# -- the runner's policy threads (no barrier between chunks) -------------------

def test_a_failing_policy_loop_raises_in_the_caller_without_hanging(monkeypatch):
    from paraflowo.sim import runner, simulate
    calls = {"n": 0}
    real = runner._timed_run

    def flaky(eng, times, flows, expd):
        calls["n"] += 1
        if calls["n"] == 5:
            raise RuntimeError("boom in a policy loop")
        return real(eng, times, flows, expd)

    monkeypatch.setattr(runner, "_timed_run", flaky)
    with pytest.raises(RuntimeError, match="boom in a policy loop"):
        simulate(load_scenario("paper-fig7").with_duration(1.5), ["rss", "spray"], workers=2)


@pytest.mark.parametrize("workers", [1, 3])
def test_progress_reports_every_chunk_once_in_order(workers):
    from paraflowo.sim import simulate
    seen = []
    r = simulate(load_scenario("paper-fig7").with_duration(1.0), ["rss", "spray", "rsspp"],
                 progress=lambda done, total: seen.append((done, total)), workers=workers)
    assert len(seen) >= 4                             # 1 s of fig7: several chunks
    assert [d for d, _ in seen] == sorted({d for d, _ in seen})
    assert seen[-1] == (10**9, 10**9)
    assert r.policies["rss"]["packets"] == r.scenario["packets"]
