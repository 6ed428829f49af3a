"""The simulator's Python entry points: SimCore and simulate() refuse bad input up front."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from paraflowo import IndirectionTable, SimCore
from paraflowo.sim import load_scenario, simulate


def _core(**kw):
    args = dict(policy="rss", service_ns=np.full(2, 1000, np.int64), rx_queue=4,
                flow_hash=np.arange(3, dtype=np.uint32), n_bins=4, bin_ns=1000,
                reta=IndirectionTable(2, 8))
    args.update(kw)
    return SimCore(**args)


def test_simcore_not_initialised_raises_instead_of_crashing():
    eng = SimCore.__new__(SimCore)      # (a final type: no subclass can skip __init__)
    t = np.zeros(1, np.int64)
    f = np.zeros(1, np.int32)
    for call in (eng.flush, eng.stats, eng.paraflowo_stats, lambda: eng.run(t, f)):
        with pytest.raises(RuntimeError, match="SimCore is not initialised"):
            call()


def test_simcore_failed_init_is_not_initialised():
    eng = _core()
    with pytest.raises(ValueError, match="service_ns must be in"):
        eng.__init__("rss", np.full(2, 2**62, np.int64), 4, np.arange(3, dtype=np.uint32),
                     4, 1000, IndirectionTable(2, 8))
    with pytest.raises(RuntimeError, match="not initialised"):
        eng.flush()


@pytest.mark.parametrize("kw, exc, msg", [
    (dict(service_ns=np.full(2, 2**62, np.int64)), ValueError,
     "service_ns must be in [1, 2**36] ns, got 4611686018427387904"),
    (dict(service_ns=np.array([0, 5], np.int64)), ValueError, "service_ns must be in [1, 2**36] ns, got 0"),
    (dict(bin_ns=2**62), ValueError, "bin_ns must be in [1, 2**60], got 4611686018427387904"),
    (dict(period_ns=2**63), ValueError, "period_ns must be in [1, 2**62], got"),
    (dict(policy=3), TypeError, "policy must be a str, got 3"),
    (dict(exponential=True, service_mean=np.array([1e300, 1.0])), ValueError,
     "service_mean must be 2 floats in (0, 2**36]"),
    (dict(policy="paraflowo", paraflowo={}), TypeError,
     "paraflowo['breakup'] must be a Breakup, got NoneType"),
])
def test_simcore_refuses_parameters_whose_arithmetic_would_overflow(kw, exc, msg):
    with pytest.raises(exc) as info:
        _core(**kw)
    assert msg in str(info.value)


def test_simcore_times_past_the_bins_end_promptly():
    # bin_ns = 1 and an arrival near 2**62: the utilization bins stop at
    # n_bins instead of stepping 2**62 times
    eng = _core(bin_ns=1)
    assert eng.run(np.array([0, 2**62], np.int64), np.zeros(2, np.int32)) == 2
    eng.flush()
    assert eng.stats()["released"] == 2
    with pytest.raises(ValueError, match=r"times must be at most 2\*\*62"):
        eng.run(np.array([2**62 + 1], np.int64), np.zeros(1, np.int32))


def test_simcore_refuses_bad_exponential_draws():
    eng = _core(exponential=True)
    for bad in (np.nan, -1.0, 1e300):
        with pytest.raises(ValueError, match="expd must be in"):
            eng.run(np.zeros(1, np.int64), np.zeros(1, np.int32), expd=np.array([bad]))
    assert eng.stats()["arrived"].sum() == 0


@pytest.mark.parametrize("kw, exc, msg", [
    (dict(workers="2"), TypeError, "workers must be an integer, got '2'"),
    (dict(workers=0), ValueError, "workers must be in [1, 2**16], got 0"),
    (dict(workers=2**100), ValueError, "workers must be in [1, 2**16], got 1267650600228229401496703205376"),
    (dict(workers=2.0), TypeError, "workers must be an integer, got 2.0"),
    (dict(policies="rss"), TypeError, "policies must be a sequence of policy names, got 'rss'"),
    (dict(progress=5), TypeError, "progress must be callable or None, got 5"),
    (dict(trace=3), TypeError, "trace must be a paraflowo.sim.pcap.Trace or None, got 3"),
    (dict(command=41), TypeError, "command must be a str or a sequence of str, got 41"),
    (dict(command=b"x"), TypeError, "command must be a str or a sequence of str, got b'x'"),
    (dict(command=["a", 1]), TypeError, "command must be a str or a sequence of str, got ['a', 1]"),
    (dict(trace_path=5), TypeError, "trace_path must be a str or os.PathLike, got 5"),
    (dict(trace_path="no-such-capture.pcap"), ValueError,
     "trace_path must name an existing file, got 'no-such-capture.pcap'"),
])
def test_simulate_argument_kinds(kw, exc, msg):
    sc = load_scenario("paper-fig7").with_duration(0.001)
    with pytest.raises(exc) as info:
        simulate(sc, **{"policies": ["rss"], **kw})
    assert msg in str(info.value)
    with pytest.raises(TypeError, match="scenario must be a Scenario, got bool"):
        simulate(True)


def test_scenario_entry_points_refuse_wrong_kinds():
    from paraflowo.sim.scenario import parse_scenario
    with pytest.raises(TypeError, match="name_or_path must be a str or pathlib.Path, got True"):
        load_scenario(True)
    with pytest.raises(TypeError, match="data must be a dict"):
        parse_scenario(True)


def test_simcore_run_trace_arrays_are_checked_by_name():
    from paraflowo.hashing import IndirectionTable
    eng = SimCore("rss", np.array([1000, 1000], np.int64), 8, np.array([1, 2], np.uint32),
                  4, 10**6, IndirectionTable(2, 128))
    t, f = np.array([0, 10], np.int64), np.array([0, 1], np.int32)
    core, fin = np.zeros(2, np.int16), np.zeros(2, np.int64)
    with pytest.raises(ValueError, match=r"trace_finish must have length 2, got 3"):
        eng.run(t, f, trace_core=core, trace_finish=np.zeros(3, np.int64))
    ro = core.copy()
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="trace_core must be writable, got a read-only array"):
        eng.run(t, f, trace_core=ro, trace_finish=fin)
    assert eng.run(t, f, trace_core=core, trace_finish=fin) == 2     # unchanged by the errors


@pytest.mark.parametrize("call, exc, msg", [
    (lambda: __import__("paraflowo.sim.sweep", fromlist=["x"]).spawn_seeds(1, 0),
     ValueError, "k must be in [1, 2**20], got 0"),
    (lambda: __import__("paraflowo.sim.sweep", fromlist=["x"]).spawn_seeds(2**64, 1),
     ValueError, "root must be in [0, 2**64 - 1]"),
    (lambda: __import__("paraflowo.sim.sweep", fromlist=["x"]).scenario_toml(True),
     TypeError, "scenario must be a Scenario, got bool"),
    (lambda: __import__("paraflowo.sim.sweep", fromlist=["x"]).read_table(True),
     TypeError, "path must be a str or os.PathLike, got True"),
    (lambda: __import__("paraflowo.sim.sweep", fromlist=["x"]).load_sweep_spec(""),
     ValueError, "path must be a non-empty path without NUL, got ''"),
    (lambda: __import__("paraflowo.sim.pcap", fromlist=["x"]).read_pcap(True),
     TypeError, "path must be a str or os.PathLike, got True"),
    (lambda: __import__("paraflowo.sim.timeout", fromlist=["x"]).longest_wait_ns([], 8, False),
     ValueError, "service_ns must hold at least one core, got none"),
    (lambda: __import__("paraflowo.sim.timeout", fromlist=["x"]).longest_wait_ns([1e3], 0, False),
     ValueError, "rx_queue must be in [1, 2**24], got 0"),
    (lambda: __import__("paraflowo.sim.timeout", fromlist=["x"]).derived_idle_ns(2**70),
     ValueError, "longest_ns must be in [0, 2**62]"),
    (lambda: __import__("paraflowo.sim.timeout", fromlist=["x"]).derived_window(1e3, 1e6, 7, 1),
     ValueError, "psn_bits must be in [8, 32], got 7"),
])
def test_sweep_pcap_and_timeout_helpers_check_their_arguments(call, exc, msg):
    with pytest.raises(exc) as info:
        call()
    assert msg in str(info.value)


def _first_bad_arrival(times, flows, now, n_flows):
    """The model: the first arrival breaking SimCore.run's contract, or None."""
    prev = now
    for i, (t, f) in enumerate(zip(times, flows)):
        if not (0 <= f < n_flows) or t > 2**62 or t < prev:
            return i
        prev = t
    return None


_EDGE_TIMES = [0, 1, 2, 2**62 - 1, 2**62, 2**62 + 1, 2**63 - 1, -1, -(2**63), 2**61, 7]


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_simcore_run_accepts_exactly_the_contract(data):
    # SimCore.run checks a chunk with or-ed sign bits (no branch per arrival)
    # and looks one by one only when those say "maybe": whatever the mix of
    # steps back, times at and past 2**62, negative times and flow ids at and
    # past n_flows, it accepts a chunk exactly when the plain model does, and
    # names the model's first offending arrival.
    n_flows = data.draw(st.sampled_from([1, 3, 10, 2**20]))
    n = data.draw(st.integers(1, 40))
    base = data.draw(st.lists(st.integers(0, 50), min_size=n, max_size=n))
    times = np.cumsum(base).astype(np.int64)
    flows = np.array(data.draw(st.lists(st.integers(0, n_flows - 1), min_size=n,
                                        max_size=n)), np.int32)
    for _ in range(data.draw(st.integers(0, 3))):
        i = data.draw(st.integers(0, n - 1))
        if data.draw(st.booleans()):
            times[i] = data.draw(st.sampled_from(_EDGE_TIMES))
        else:
            flows[i] = data.draw(st.sampled_from([n_flows, n_flows + 1, 2**31 - 1, -1,
                                                  -(2**31), n_flows - 1, 0]))
    if data.draw(st.booleans()) and times[-1] <= 2**62:
        times = np.maximum.accumulate(times)        # often sorted, edges kept
    eng = _core(flow_hash=np.arange(n_flows, dtype=np.uint32))
    # a first, valid arrival sets the time the chunk must not go below
    # (0, inside the chunk's times, 2**62 - 1 or 2**62)
    now = data.draw(st.sampled_from([0, 1, 25, 2**62 - 1, 2**62]))
    assert eng.run(np.array([now], np.int64), np.zeros(1, np.int32)) == 1
    bad = _first_bad_arrival(times.tolist(), flows.tolist(), now, n_flows)
    if bad is None:
        assert eng.run(times, flows) == n
        eng.flush()
        assert eng.stats()["released"] + int(eng.stats()["dropped"].sum()) == n + 1
    else:
        with pytest.raises(ValueError) as exc:
            eng.run(times, flows)
        msg = str(exc.value)
        if not 0 <= flows[bad] < n_flows:
            assert msg == f"flows must be in [0, {n_flows}), got {flows[bad]}"
        else:
            assert msg.endswith(f"got {times[bad]} at index {bad}")
