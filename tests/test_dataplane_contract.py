"""The live dataplane's objects at the Python boundary (docs/conventions.rst):
construction safety, typed errors that name the argument, the state unchanged
after an error, and the calls that may run while a dataplane runs."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from paraflowo.dataplane import (
    Capture, CounterNF, Dataplane, DropNF, NF, ParaFlowOPolicy, RSSPolicy, RSSPPPolicy,
    SleepNF, SpinNF, SprayPolicy, calibrate_spin, make_nf, make_policy, recount_reordered,
    run_bridge, run_trace)

from dptrace import elephant_and_mice

STEPS = 1.0
UNINIT = r"is not initialised"


@pytest.fixture(scope="module")
def trace():
    return elephant_and_mice()[0]


# --- objects whose __init__ never ran ---------------------------------------

@pytest.mark.parametrize("cls", [RSSPolicy, SprayPolicy, RSSPPPolicy, ParaFlowOPolicy])
def test_a_policy_without_init_refuses_every_method(cls):
    p = cls.__new__(cls)
    rec = make_policy("rss", 1).steer(1, 2, 0, 64, 0, 0)
    calls = [lambda: p.steer(1, 2, 0, 64, 0, 0), lambda: p.ready(rec),
             lambda: p.complete(rec, 0), lambda: p.poll(0), lambda: p.flush(),
             lambda: p.stats(), lambda: p.next_deadline,
             lambda: p.complete_burst(np.zeros(0, rec.dtype), 0)]
    if cls is RSSPPPolicy:
        calls.append(p.table_array)
    for call in calls:
        with pytest.raises(RuntimeError, match=UNINIT):
            call()
    with pytest.raises(RuntimeError, match=UNINIT):
        Dataplane(p, NF())


def test_a_subclass_that_skips_init_is_refused():
    class Sub(RSSPPPolicy):
        def __init__(self):
            pass

    with pytest.raises(RuntimeError, match=UNINIT):
        Sub().table_array()


def test_rsspp_with_a_bad_period_stays_unusable_not_half_built():
    p = RSSPPPolicy.__new__(RSSPPPolicy)
    with pytest.raises(ValueError, match=r"period_ns must be >= 1, got 0"):
        p.__init__(2, None, 0)
    with pytest.raises(RuntimeError, match=UNINIT):
        p.steer(1, 2, 0, 64, 0, 0)


def test_a_dataplane_without_init_refuses_its_methods(trace):
    dp = Dataplane.__new__(Dataplane)
    for call in (dp.counters, dp.flow_stats, lambda: dp.ring_baseline(10),
                 lambda: dp.run_trace_arrays(trace.data, trace.offsets, trace.lengths,
                                             None, 1, 0),
                 lambda: dp.run_bridge("a", "b")):
        with pytest.raises(RuntimeError, match=UNINIT):
            call()
    dp.request_stop()      # any thread, any time: a no-op here


def test_a_dataplane_whose_init_failed_refuses_its_methods():
    dp = Dataplane(make_policy("rss", 2), NF())
    with pytest.raises(ValueError, match=r"ring must be a power of two"):
        dp.__init__(make_policy("rss", 2), NF(), ring=3)
    dp2 = Dataplane.__new__(Dataplane)
    with pytest.raises(ValueError, match=r"batch must be in \[1, 64\], got 0"):
        dp2.__init__(make_policy("rss", 2), NF(), batch=0)
    with pytest.raises(RuntimeError, match=UNINIT):
        dp2.counters()
    with pytest.raises(RuntimeError, match=UNINIT):
        dp2.flow_stats()


def test_a_counter_nf_without_init_cannot_be_run():
    nf = CounterNF.__new__(CounterNF)
    assert nf.counts() == {}
    with pytest.raises(RuntimeError, match=UNINIT):
        Dataplane(make_policy("rss", 1), nf)
    ok = CounterNF(4)
    with pytest.raises(ValueError, match=r"capacity must stay 4 .* got 8"):
        ok.__init__(8)
    assert ok.capacity == 4


# --- typed errors, never OverflowError ----------------------------------------

@pytest.mark.parametrize("kw, err, msg", [
    ({"target_ns": 2**70}, ValueError, r"target_ns must be in \[10000, 1000000000\], got"),
    ({"target_ns": "1"}, TypeError, r"target_ns must be an integer, got '1'"),
    ({"trials": -2**80}, ValueError, r"trials must be in \[1, 100\], got"),
    ({"trials": 1.5}, TypeError, r"trials must be an integer, got 1.5"),
])
def test_calibrate_spin_errors(kw, err, msg):
    with pytest.raises(err, match=msg):
        calibrate_spin(**kw)


def test_nf_errors_name_the_argument_and_change_nothing():
    s = SpinNF(10, steps_per_ns=STEPS)
    with pytest.raises(ValueError, match=r"steps_per_ns must be in \(0, 1e6\), got -1"):
        s.__init__(20, steps_per_ns=-1)
    assert s.ns == 10
    d = DropNF(0.5)
    with pytest.raises(ValueError, match=r"seed must be in"):
        d.__init__(0.25, seed=-1)
    assert d.p == 0.5
    with pytest.raises(ValueError, match=r"seed must be in"):
        make_nf("drop:0.5", seed=2**64)
    with pytest.raises(TypeError, match=r"steps_per_ns must be a number, got 'x'"):
        make_nf("spin:10", steps_per_ns="x")
    with pytest.raises(ValueError, match=r"ns must be in \[1, 1000000000\], got 0"):
        SleepNF(0)


def test_policy_time_and_record_errors_leave_it_unchanged():
    p = make_policy("rss", 2)
    p.steer(1, 2, 0, 64, 0, 1000)
    before = p.stats()
    with pytest.raises(ValueError, match=r"now_ns must be in \[0, 2\*\*63 - 1\], got"):
        p.steer(1, 2, 0, 64, 0, 2**64)
    with pytest.raises(ValueError, match=r"now_ns must be in"):
        p.poll(-2**70)
    with pytest.raises(TypeError, match=r"now_ns must be an integer"):
        p.poll(1.5)
    with pytest.raises(TypeError, match=r"record must be a META_DTYPE record"):
        p.ready("x")
    with pytest.raises(TypeError, match=r"record must be a META_DTYPE record"):
        p.complete(None, 2000)
    with pytest.raises(ValueError, match=r"record must be one META_DTYPE record"):
        p.ready(np.zeros(2, p.steer(1, 2, 0, 64, 0, 1000).dtype))
    with pytest.raises(TypeError, match=r"record must be a META_DTYPE record, got dtype"):
        p.ready(np.zeros((), np.uint64))
    with pytest.raises(ValueError, match=r"record must be a META_DTYPE record"):
        p.ready((1, 2))
    after = p.stats()
    assert after["steered"] == before["steered"] + 1    # only the valid steer above
    with pytest.raises(ValueError, match=r"period_ns must be in"):
        RSSPPPolicy(2, None, 2**64)


def test_run_entry_points_check_everything_before_a_thread_starts(trace):
    n0 = threading.active_count()
    dp = Dataplane(make_policy("rss", 2), NF())
    cases = [
        (lambda: dp.run_trace_arrays(trace.data.astype(np.int64), trace.offsets,
                                     trace.lengths, None, 1, 0),
         TypeError, r"data must have dtype uint8, got int64"),
        (lambda: dp.run_trace_arrays(list(trace.data), trace.offsets, trace.lengths,
                                     None, 1, 0),
         TypeError, r"data must be a numpy.ndarray of dtype uint8, got list"),
        (lambda: dp.run_trace_arrays(trace.data, trace.offsets, trace.lengths,
                                     np.zeros((len(trace), 1), np.int64), 1, 0),
         ValueError, r"due_ns must be 1-dimensional"),
        (lambda: dp.run_trace_arrays(trace.data, trace.offsets, trace.lengths, None,
                                     2**64, 0),
         ValueError, r"loops must be in \[1, "),
        (lambda: dp.run_trace_arrays(trace.data, trace.offsets, trace.lengths, None, 1,
                                     -1),
         ValueError, r"span_ns must be in \[0, "),
        (lambda: dp.run_trace_arrays(trace.data, trace.offsets, trace.lengths, None, 1, 0,
                                     progress=3),
         TypeError, r"progress must be callable or None, got 3"),
        (lambda: dp.run_trace_arrays(trace.data, trace.offsets, trace.lengths, None, 1, 0,
                                     interval=float("nan")),
         ValueError, r"interval must be finite"),
        (lambda: dp.ring_baseline(2**64), ValueError, r"n_packets must be in \[1, "),
        (lambda: dp.run_bridge(1, "b"), TypeError, r"if_a must be a str"),
        (lambda: dp.run_bridge("a", "b", duration=float("inf")), ValueError,
         r"duration must be finite"),
        (lambda: dp.run_bridge("a", "b", duration=-1), ValueError,
         r"duration must be in \[0, 1e9\] seconds, got -1"),
        (lambda: dp.run_bridge("a", "b", rcvbuf=2**70), ValueError, r"rcvbuf must be in"),
        (lambda: dp.run_bridge("a\0", "b"), ValueError, r"if_a must be an interface name"),
        (lambda: run_trace("x"), TypeError, r"capture must be a Capture"),
        (lambda: run_trace(trace, speed=0), ValueError, r"speed must be > 0"),
        (lambda: run_trace(trace, progress="p"), TypeError, r"progress must be callable"),
        (lambda: run_trace(trace, dataplane=3), TypeError, r"dataplane must be a Dataplane"),
        (lambda: run_trace(trace, knobs=[1]), TypeError, r"knobs must be a dict"),
        (lambda: run_bridge("a", "a"), ValueError, r"if_b must differ from if_a"),
        (lambda: run_bridge("a", None), TypeError, r"if_b must be a str"),
        (lambda: run_bridge("a", "b", duration=-2), ValueError, r"duration must be in"),
        (lambda: run_bridge("a", "b", interval=0), ValueError, r"interval must be in"),
    ]
    for call, err, msg in cases:
        with pytest.raises(err, match=msg):
            call()
    assert threading.active_count() == n0
    assert dp.counters()["packets_in"] == 0


def test_recount_reordered_refuses_an_unknown_output_packet():
    with pytest.raises(ValueError, match=r"packets_out must hold only packets of packets_in"):
        recount_reordered([b"\x00" * 60], [b"\x01" * 60])


# --- the thread contract ------------------------------------------------------

def test_live_reads_are_allowed_and_driving_calls_refused_during_a_run(trace):
    pol = make_policy("rss", 2)
    dp = Dataplane(pol, SpinNF(2000, steps_per_ns=calibrate_spin(100_000, 2)))
    seen = []

    def progress(c):
        if seen:
            return
        assert isinstance(dp.counters()["packets_in"], int)   # live stats: allowed
        dp.flow_stats()
        for call in (lambda: pol.poll(10**18), pol.stats, pol.flush,
                     lambda: dp.ring_baseline(5),
                     lambda: dp.__init__(pol, NF())):
            with pytest.raises(RuntimeError, match=r"in use by a running Dataplane|"
                                                   r"already running"):
                call()
        seen.append(1)

    r = dp.run_trace_arrays(trace.data, trace.offsets, trace.lengths, None, 30, 0,
                            progress=progress, interval=0.01)
    assert seen and r["packets_out"] == 30 * len(trace)
    assert pol.stats()["steered"] == 30 * len(trace)      # usable again after the run


@pytest.mark.parametrize("policy", ["rss", "spray", "rsspp", "paraflowo"])
@pytest.mark.parametrize("kw, err, msg", [
    ({"t_switch_init_ns": "2"}, TypeError, r"t_switch_init_ns must be an integer, got '2'"),
    ({"n_queues": False}, TypeError, r"n_queues must be an integer, got False"),
    ({"smoothing": "x"}, TypeError, r"smoothing must be a number, got 'x'"),
    ({"seed": -1}, ValueError, r"seed must be in \[0, 2\*\*64 - 1\], got -1"),
    ({"timeout_ns": 2**64}, ValueError, r"timeout_ns must be in"),
    ({"reta": 3}, TypeError, r"reta must be an IndirectionTable or None, got 3"),
])
def test_make_policy_checks_every_knob_whatever_the_policy(policy, kw, err, msg):
    with pytest.raises(err, match=msg):
        make_policy(policy, 2, **kw)


def test_a_policy_burst_refuses_other_threads_and_leaves_the_policy_whole():
    # steer_burst runs without the GIL: meanwhile every Python call on the
    # policy from another thread raises the in-use error at once.
    p = make_policy("rss", 2)
    seen, t0 = [], 0
    for attempt in range(6):
        n = 1 << (20 + attempt)
        z = np.zeros(n, np.uint64)
        args = (z, np.arange(n, dtype=np.uint32), np.zeros(n, np.uint16),
                np.full(n, 64, np.uint16), z, np.full(n, t0, np.int64))
        th = threading.Thread(target=p.steer_burst, args=args)
        th.start()
        while th.is_alive() and not seen:
            try:
                p.stats()
            except RuntimeError as e:
                seen.append(str(e))
        th.join()
        if seen:
            break
    assert seen, "the burst was never seen running"
    assert seen[0] == ("RSSPolicy is in use by another thread (a burst is running without "
                       "the GIL); give each thread its own RSSPolicy")
    steered = p.stats()["steered"]
    assert steered == sum(1 << (20 + a) for a in range(attempt + 1))
    p.steer(1, 2, 0, 64, 0, t0)              # free again
    assert p.stats()["steered"] == steered + 1
    with pytest.raises(TypeError, match=r"keys must have dtype uint64, got int64"):
        p.steer_burst(np.zeros(1, np.int64), *args[1:])
    with pytest.raises(ValueError, match=r"ports must be C-contiguous"):
        p.steer_burst(args[0][:2], args[1][:2], np.zeros(4, np.uint16)[::2], *[a[:2] for a in args[3:]])
