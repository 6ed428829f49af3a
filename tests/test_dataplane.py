"""The live dataplane, offline: replays through real threads, checked packet by packet.

Every replay is checked against the packets themselves: the bytes that left
egress are the bytes that came in minus the dropped ones, and the RFC 4737
count the dataplane reports equals the one recomputed from the egress order
(tests/dptrace.py, an independent parser).
"""

from __future__ import annotations

import threading
import time
from collections import Counter

import numpy as np
import pytest

from paraflowo.dataplane import (
    Capture, CounterNF, Dataplane, DropNF, NF, ParaFlowOPolicy, Policy, RSSPPPolicy,
    SleepNF, SpinNF, calibrate_spin, make_nf, make_policy, recount_reordered, run_trace)

from dptrace import egress_packets, elephant_and_mice, frame, reordered_per_flow

STEPS = calibrate_spin(200_000, 3)
POLICIES = ["rss", "spray", "paraflowo", "rsspp"]


@pytest.fixture(scope="module")
def trace():
    return elephant_and_mice()


def _replay(cap, policy, nf="forward", workers=2, **kw):
    nf = make_nf(nf, steps_per_ns=STEPS, seed=3)
    return run_trace(cap, policy=policy, workers=workers, nf=nf, capture_out=True, **kw)


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("nf", ["forward", "drop:0.1"])
def test_replay_conserves_packets_and_bytes(trace, policy, nf):
    cap, pkts = trace
    r, eg = _replay(cap, policy, nf)
    out = egress_packets(eg)
    assert r["packets_in"] == len(pkts) and r["not_offered"] == 0
    assert r["packets_in"] == r["packets_out"] + r["dropped"]
    assert r["dropped"] == r["dropped_flag"] and r["dropped_room"] == 0
    assert len(out) == r["packets_out"]
    # every output is an input, once; what is missing is exactly the drops
    cin, cout = Counter(pkts), Counter(out)
    assert not cout - cin
    assert sum((cin - cout).values()) == r["dropped_flag"]
    assert r["bytes_out"] == sum(len(p) for p in out)
    if nf == "forward":
        assert r["dropped"] == 0
    else:
        assert 0.05 * len(pkts) < r["dropped"] < 0.15 * len(pkts)


@pytest.mark.parametrize("policy", POLICIES)
def test_reported_out_of_order_matches_a_recount(trace, policy):
    cap, pkts = trace
    r, eg = _replay(cap, policy, "spin:300")
    out = egress_packets(eg)
    recount = reordered_per_flow(pkts, out)
    assert r["out_of_order"] == sum(recount.values())
    # per flow, too (the library's own recount names flows as the report does)
    lib = recount_reordered(pkts, out)
    assert {f["flow"]: f["out_of_order"] for f in r["flows"]} == lib


def test_spray_reorders_and_the_count_sees_it(trace):
    cap, pkts = trace
    r, eg = _replay(cap, "spray", "spin:300")
    recount = reordered_per_flow(pkts, egress_packets(eg))
    # both workers had work and the elephant was reordered: the checks above can fail
    assert min(r["worker_packets"]) > 1000
    assert sum(recount.values()) > 0
    assert r["out_of_order"] == sum(recount.values()) > 0


@pytest.mark.parametrize("nf", ["spin:300", "drop:0.2"])
def test_paraflowo_keeps_every_flow_in_order_while_spreading_the_elephant(trace, nf):
    cap, pkts = trace
    loops = 1 if nf.startswith("drop") else 2
    r, eg = _replay(cap, "paraflowo", nf, loops=loops)
    out = egress_packets(eg)
    assert r["packets_in"] == loops * len(pkts) == r["packets_out"] + r["dropped"]
    st = r["policy_stats"]
    assert st["para_packets"] > 0.8 * loops * 4000 and st["switches"] > 0
    assert min(r["worker_packets"]) > 0.2 * len(pkts)        # the elephant used both
    # loops replay identical bytes: recount each loop's share in egress order
    # (without drops, a packet's second appearance belongs to the second loop)
    first, second, seen = [], [], set()
    for p in out:
        (second if p in seen else first).append(p)
        seen.add(p)
    assert sum(reordered_per_flow(pkts, first).values()) == 0
    assert sum(reordered_per_flow(pkts, second).values()) == 0
    assert r["out_of_order"] == 0
    if nf.startswith("drop"):
        assert st["tombstones"] > 0 and st["late"] == 0


def test_a_small_reorder_window_makes_ingress_wait_not_reorder(trace):
    # window 32: a flowlet on a fast worker would run more than a window ahead
    # of the head on the other; c_ready holds ingress until the head moves
    cap, pkts = trace
    r, eg = _replay(cap, "paraflowo", "spin:300", knobs={"window": 32, "n_queues": 16})
    assert r["window_waits"] > 0
    assert sum(reordered_per_flow(pkts, egress_packets(eg)).values()) == 0
    assert r["out_of_order"] == 0 and r["packets_out"] == len(pkts)
    assert r["policy_stats"]["late"] == 0


def test_paced_replay_takes_the_recorded_time():
    pkts = [frame(0x0A000001, 0x0A000002, 1, 2, i) for i in range(50)]
    cap = Capture.from_packets(pkts, ts_ns=np.arange(50, dtype=np.int64) * 2_000_000)
    t0 = time.perf_counter()
    r, eg = _replay(cap, "rss", speed=2.0)
    took = time.perf_counter() - t0
    # 49 gaps of 2 ms at speed 2: the last packet is due at 49 ms
    assert took >= 0.049 and r["seconds"] >= 0.049
    assert egress_packets(eg) == pkts
    assert np.all(np.diff(eg.ts_ns) >= 0)


def test_idle_threads_sleep_instead_of_burning_cores():
    # 20 packets 10 ms apart: the vSwitch and 3 workers wait ~0.2 s in all;
    # with back-off they use a small fraction of one core between them
    pkts = [frame(0x0A000001, 0x0A000002, 1, 2, i) for i in range(20)]
    cap = Capture.from_packets(pkts, ts_ns=np.arange(20, dtype=np.int64) * 10_000_000)
    r, _ = _replay(cap, "paraflowo", workers=3, speed=1.0)
    assert r["packets_out"] == 20 and r["seconds"] >= 0.19
    assert sum(r["worker_cpu_share"]) + r["vswitch_cpu_share"] < 0.3


def test_stop_with_packets_in_flight_loses_nothing(trace):
    cap, pkts = trace
    dp = Dataplane(make_policy("paraflowo", 2), SpinNF(2000, steps_per_ns=STEPS))
    timer = threading.Timer(0.15, dp.request_stop)
    timer.start()
    try:
        r, eg = run_trace(cap, loops=50, capture_out=True, dataplane=dp)
    finally:
        timer.cancel()
    assert r["stopped"] and r["not_offered"] > 0
    assert r["packets_in"] + r["not_offered"] == 50 * len(pkts)
    assert r["packets_in"] == r["packets_out"] + r["dropped"] and r["dropped"] == 0
    assert dp.store.n_used == 0 and dp.policy.stats()["held"] == 0
    assert r["out_of_order"] == 0 and len(eg) == r["packets_out"]


def test_thread_contract_one_run_at_a_time_counters_from_any_thread(trace):
    cap, _ = trace
    dp = Dataplane(make_policy("rss", 2), SpinNF(1000, steps_per_ns=STEPS))
    errors, snaps = [], []

    def second_run():
        try:
            dp.run_trace_arrays(cap.data, cap.offsets, cap.lengths, None, 1, 0)
        except RuntimeError as exc:
            errors.append(str(exc))

    def progress(c):
        snaps.append(c)
        if len(snaps) == 1:
            t = threading.Thread(target=second_run)
            t.start()
            t.join()

    r = dp.run_trace_arrays(cap.data, cap.offsets, cap.lengths, None, 20, 0,
                            progress=progress, interval=0.02)
    assert errors == ["this Dataplane is already running"]
    assert snaps and all(s["packets_out"] <= s["packets_in"] for s in snaps)
    assert r["packets_out"] == 20 * len(cap)
    # after the run the same object runs again
    r2 = dp.run_trace_arrays(cap.data, cap.offsets, cap.lengths, None, 1, 0)
    assert r2["packets_out"] == len(cap)


def test_a_running_policy_and_its_components_refuse_other_drivers(trace):
    cap, _ = trace
    pol = make_policy("paraflowo", 2)
    dp = Dataplane(pol, SpinNF(1000, steps_per_ns=STEPS))
    other = Dataplane(pol, NF())
    seen = []

    def progress(c):
        if seen:
            return
        with pytest.raises(RuntimeError, match=r"policy 'paraflowo' is in use by a running "
                                               r"Dataplane"):
            other.run_trace_arrays(cap.data, cap.offsets, cap.lengths, None, 1, 0)
        with pytest.raises(RuntimeError, match=r"is in use by another thread"):
            pol.breakup.ingress(1, 2, 0, 100, 10**18)
        seen.append(c)

    r = dp.run_trace_arrays(cap.data, cap.offsets, cap.lengths, None, 20, 0,
                            progress=progress, interval=0.02)
    assert seen and r["packets_out"] == 20 * len(cap)
    # free again afterwards: the other dataplane runs the same policy
    assert other.run_trace_arrays(cap.data, cap.offsets, cap.lengths, None, 1,
                                  0)["packets_out"] == len(cap)


def test_counter_nf_counts_every_flow_exactly_across_workers(trace):
    cap, pkts = trace
    nf = CounterNF(1024)
    r, _ = _replay(cap, "spray", nf, loops=3)
    counts = nf.counts()
    assert sum(p for p, _ in counts.values()) == 3 * len(pkts) == r["packets_out"]
    assert sum(b for _, b in counts.values()) == 3 * sum(len(p) for p in pkts)
    assert len(counts) == 51 and nf.overflow == 0


def test_drop_nf_extremes_and_spin_nf_cost(trace):
    cap, pkts = trace
    r, eg = _replay(cap, "paraflowo", DropNF(1.0))
    assert r["packets_out"] == 0 and r["dropped_flag"] == len(pkts) and len(eg) == 0
    r, eg = _replay(cap, "rss", DropNF(0.0))
    assert r["dropped"] == 0
    # spin:NS makes a worker busy about NS per packet (the NF's own time)
    r, _ = _replay(cap, "spray", SpinNF(20_000, steps_per_ns=STEPS), workers=1)
    busy = r["worker_utilization"][0] * r["seconds"]
    assert busy >= 0.9 * len(pkts) * 20e-6


def test_sleep_nf_waits_without_cpu():
    pkts = [frame(0x0A000001, 0x0A000002, 1, 2, i) for i in range(40)]
    r, eg = _replay(Capture.from_packets(pkts), "rss", "sleep:2000", workers=1)
    assert egress_packets(eg) == pkts and r["nf"] == "sleep:2000"
    assert r["worker_utilization"][0] * r["seconds"] >= 40 * 2e-6


def test_rsspp_migrates_buckets_off_the_busy_core():
    # 64 mouse flows whose RETA buckets all start on core 0 of 2 (even hashes
    # are not guaranteed, so force: a RETA that maps everything to core 0)
    from paraflowo import IndirectionTable
    reta = IndirectionTable(2)
    reta.set_entries(np.zeros(128, np.uint16))
    pol = RSSPPPolicy(2, reta, period_ns=200_000)
    pkts = [frame(0x0A010000 + (i % 64), 0x0A020001, 1000 + i % 64, 53, i) for i in range(20000)]
    cap = Capture.from_packets(pkts)
    dp = Dataplane(pol, SpinNF(500, steps_per_ns=STEPS))
    r, _ = run_trace(cap, dataplane=dp, speed=1.0)
    assert pol.migrations > 0 and 1 in pol.table_array()
    assert min(r["worker_packets"]) > 0
    assert r["packets_out"] == len(pkts)


# -- errors at the boundary ----------------------------------------------------

def test_bad_arguments_name_the_parameter():
    pol = make_policy("rss", 2)
    with pytest.raises(ValueError, match=r"ring must be a power of two"):
        Dataplane(pol, NF(), ring=100)
    with pytest.raises(ValueError, match=r"batch must be in \[1, 64\], got 0"):
        Dataplane(pol, NF(), batch=0)
    with pytest.raises(TypeError):
        Dataplane(None, NF())
    with pytest.raises(ValueError, match=r"policy must be one of rss, spray, paraflowo, "
                                         r"rsspp, got 'ecmp'"):
        make_policy("ecmp", 2)
    with pytest.raises(TypeError, match=r"name \(the policy\) must be a str, got 3"):
        make_policy(3, 2)
    with pytest.raises(TypeError, match="base class"):
        Policy(2)
    with pytest.raises(ValueError, match=r"nf must be one of forward, spin:NS"):
        make_nf("spin:fast")
    with pytest.raises(ValueError, match=r"nf must be one of"):
        make_nf("teleport")
    with pytest.raises(TypeError, match=r"spec \(the nf\) must be a str or an NF, got 5"):
        make_nf(5)
    with pytest.raises(ValueError, match=r"p must be in \[0, 1\], got 1.5"):
        DropNF(1.5)
    with pytest.raises(ValueError, match=r"ns must be in \[0, 1000000000\], got -1"):
        SpinNF(-1, steps_per_ns=1.0)
    with pytest.raises(ValueError, match=r"ns must be in \[1, 1000000000\], got 0"):
        SleepNF(0)
    with pytest.raises(ValueError, match=r"capacity must be a power of two"):
        CounterNF(1000)
    p4 = make_policy("paraflowo", 2, n_queues=64)
    with pytest.raises(ValueError, match=r"reorder must have 64 queues"):
        from paraflowo import ReorderQueues
        ParaFlowOPolicy(p4.breakup, ReorderQueues(32, 1024, None, 16))
    with pytest.raises(ValueError, match=r"n_para must be in \[1, 2\], got 3"):
        make_policy("paraflowo", 2, n_para=3)


def test_bad_replays_are_refused_before_any_thread_starts(trace):
    cap, _ = trace
    with pytest.raises(ValueError, match=r"speed must be > 0 or None"):
        run_trace(cap, speed=0)
    with pytest.raises(ValueError, match=r"loops must be in \[1, "):
        run_trace(cap, loops=0)
    with pytest.raises(ValueError, match=r"loops must keep the egress capture within "):
        run_trace(cap, loops=10**6, capture_out=True)
    with pytest.raises(ValueError, match=r"capture must hold at least one packet, got 0"):
        run_trace(Capture.from_packets([]))
    with pytest.raises(ValueError, match=r"policy must have 3 cores \(workers\), got 2"):
        run_trace(cap, policy=make_policy("rss", 2), workers=3)
    dp = Dataplane(make_policy("rss", 1), NF(), slot_bytes=512)
    with pytest.raises(ValueError, match=r"packets must be at most slot_bytes=512 bytes"):
        dp.run_trace_arrays(cap.data, cap.offsets, cap.lengths, None, 1, 0)
    dp = Dataplane(make_policy("rss", 1), NF())
    with pytest.raises(ValueError, match=r"due_ns must be >= 0 and nondecreasing"):
        dp.run_trace_arrays(cap.data, cap.offsets[:2], cap.lengths[:2],
                            np.array([5, 1]), 1, 0)
    with pytest.raises(ValueError, match=r"if_b must differ from if_a"):
        dp.run_bridge("lo", "lo", 0.1)
    with pytest.raises(ValueError, match=r"if_a must be an interface name"):
        dp.run_bridge("x" * 20, "lo", 0.1)


@pytest.mark.parametrize("policy", ["rss", "paraflowo", "spray"])
def test_vswitch_naps_lose_nothing_and_keep_order(trace, policy):
    # The nap is off by default (docs: "Live dataplane", measured): turned on, with
    # workers slow enough that ingress waits for ring room, it must stay invisible
    # to the packets: every byte out, the reported reordering equal to a recount
    # (zero but under spray), and the naps counted.
    cap, pkts = trace
    dp = Dataplane(make_policy(policy, 2), make_nf("spin:3000", steps_per_ns=STEPS),
                   ring=64, max_nap_ns=400_000)
    r, eg = run_trace(cap, dataplane=dp, capture_out=True)
    out = egress_packets(eg)
    assert r["packets_out"] == r["packets_in"] == len(pkts) and r["dropped"] == 0
    assert Counter(out) == Counter(pkts)
    assert r["out_of_order"] == sum(reordered_per_flow(pkts, out).values())
    if policy != "spray":
        assert r["out_of_order"] == 0
    c = dp.counters()
    assert c["nap_ns"] >= 20_000 * c["naps"] and r["vswitch_naps"] == c["naps"]
    if policy == "spray":
        # round robin keeps both rx rings holding work whenever ingress waits for
        # room, which is when the vSwitch naps (rss leaves the mice's ring empty
        # most of the time, so it may never nap)
        assert c["naps"] > 0


def test_naps_are_off_by_default():
    assert Dataplane(make_policy("rss", 2), make_nf("forward")).max_nap_ns == 0
