"""RFC 4737 reordering metrics of the simulator against a small pure-Python model.

The model reads one flow's sequence numbers in the order they leave egress and
computes, per packet, what RFC 4737 defines: Type-P-Reordered (sec. 3), the
reordering extent (sec. 4.2.2) and the n-reordering degree (sec. 5).  The
simulator's counters must agree with it on hand-made sequences and on random
spraying runs whose egress order is known from the trace outputs.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from paraflowo._core.sim import SimCore
from paraflowo.hashing import IndirectionTable
from paraflowo.sim import load_scenario, simulate
from paraflowo.sim.metrics import reordering_metrics


def rfc4737(seqs):
    """Per received packet: (reordered, extent, degree), straight from the RFC."""
    out = []
    next_exp = 0
    for i, s in enumerate(seqs):
        if s >= next_exp:                       # sec. 3: in order, NextExp moves on
            next_exp = s + 1
            out.append((False, 0, 0))
            continue
        j = min(k for k in range(i) if seqs[k] > s)          # sec. 4.2.2
        deg = 0                                              # sec. 5
        while deg < i and seqs[i - 1 - deg] > s:
            deg += 1
        out.append((True, i - j, deg))
    return out


def test_model_on_hand_made_sequences():
    # 0 1 4 5 2: 2 is reordered; 4 (index 2) is the first larger, extent 4 - 2;
    # the two packets before it (5, 4) are larger, degree 2
    assert rfc4737([0, 1, 4, 5, 2])[-1] == (True, 2, 2)
    # 0 1 4 5 2 3: 3 is reordered, extent 5 - 2 = 3, but 2 just before it is
    # smaller: degree 0 (not even 1-reordered)
    assert rfc4737([0, 1, 4, 5, 2, 3])[-1] == (True, 3, 0)
    # a packet overtaken by four: 4-reordered, a fast retransmit for TCP
    assert rfc4737([1, 2, 3, 4, 0]) == [(False, 0, 0)] * 4 + [(True, 4, 4)]
    # a loss (seq 2 never arrives) reorders nothing
    assert all(not r for r, _, _ in rfc4737([0, 1, 3, 4, 5]))


def _spray(gaps, services, rx_queue, n_flows, flows_of):
    """Run spraying on hand-made arrivals; return the core and its egress order."""
    times = np.cumsum(np.asarray(gaps, np.int64))
    flows = np.asarray(flows_of, np.int32)
    nc = len(services)
    core = SimCore("spray", np.asarray(services, np.int64), rx_queue,
                   np.arange(n_flows, dtype=np.uint32), 1, 10**12, IndirectionTable(nc, 4))
    tc = np.zeros(len(times), np.int16)
    tf = np.zeros(len(times), np.int64)
    core.run(times, flows, trace_core=tc, trace_finish=tf)
    core.flush()
    # egress order: completion time, ties to the lower core
    seq = np.zeros(len(times), np.int64)
    count = np.zeros(n_flows, np.int64)
    for i, f in enumerate(flows):
        seq[i] = count[f]
        count[f] += 1                            # a dropped packet keeps its number
    served = [i for i in range(len(times)) if tc[i] >= 0]
    order = sorted(served, key=lambda i: (tf[i], tc[i]))
    per_flow = {f: [int(seq[i]) for i in order if flows[i] == f] for f in range(n_flows)}
    return core, per_flow


def _check(core, per_flow):
    stats, fs = core.stats(), core.flow_stats()
    total = [0] * 17
    ooo = 0
    for f, seqs in per_flow.items():
        model = rfc4737(seqs)
        reo = [(e, d) for r, e, d in model if r]
        ooo += len(reo)
        assert fs["out_of_order"][f] == len(reo)
        assert fs["extent_max"][f] == max([e for e, _ in reo], default=0)
        assert fs["extent_sum"][f] == sum(e for e, _ in reo)
        assert fs["n3_reordered"][f] == sum(d >= 3 for _, d in reo)
        assert fs["released"][f] == len(seqs)
        for _, d in reo:
            total[min(d, 16)] += 1
    assert stats["out_of_order"] == ooo
    assert stats["n_reordering"].tolist() == total
    assert stats["extent_capped"] == 0
    m = reordering_metrics(stats, fs)
    assert m["n3_reordered"] == sum(total[3:])
    assert m["n_reordering"][0] == sum(total[1:])


def test_spray_by_hand_one_slow_core():
    # core 0 takes 10 us per packet, cores 1-2 take 1 us; six back-to-back
    # packets of one flow: 0 -> core 0, 1 -> core 1, 2 -> core 2, 3 -> core 0...
    # egress: 1, 2, 4, 5 (fast cores) before 0 and 3
    core, per_flow = _spray([1] * 6, [10_000, 1_000, 1_000], 64, 1, [0] * 6)
    assert per_flow[0] == [1, 2, 4, 5, 0, 3]
    _check(core, per_flow)
    fs = core.flow_stats()
    # 0 overtaken by 4 packets (extent 4, degree 4); 3: first larger is 4 at
    # index 2, extent 5 - 2 = 3, but 0 came just before it: degree 0
    assert fs["extent_max"][0] == 4 and fs["extent_sum"][0] == 7
    assert fs["n3_reordered"][0] == 1


@settings(max_examples=60, deadline=None)
@given(gaps=st.lists(st.integers(0, 3000), min_size=1, max_size=120),
       services=st.lists(st.integers(1, 5000), min_size=1, max_size=5),
       rx_queue=st.integers(1, 8), n_flows=st.integers(1, 3), data=st.data())
def test_simulator_matches_the_model(gaps, services, rx_queue, n_flows, data):
    flows_of = data.draw(st.lists(st.integers(0, n_flows - 1), min_size=len(gaps),
                                  max_size=len(gaps)))
    core, per_flow = _spray(gaps, services, rx_queue, n_flows, flows_of)
    _check(core, per_flow)


def test_history_caps_the_extent_and_says_so():
    # with this many flows each keeps 8 receive-history entries: an extent of
    # 20 is reported as 8, counted in extent_capped
    n_flows = (1 << 21) // 8
    times = np.arange(21, dtype=np.int64)
    core = SimCore("spray", np.array([100_000, 1], np.int64), 64,
                   np.zeros(n_flows, np.uint32), 1, 10**12, IndirectionTable(2, 4))
    assert core.history == 8
    # packet 0 goes to the slow core; the 20 others alternate, and the fast core
    # releases packets 1, 3, 5 ... while the slow core still holds 0, 2, 4 ...
    core.run(times, np.zeros(21, np.int32))
    core.flush()
    fs = core.flow_stats()
    assert fs["extent_max"][0] == 8
    assert core.stats()["extent_capped"] > 0


def test_policies_report_the_rfc_metrics():
    r = simulate(load_scenario("paper-fig7").with_duration(0.1), ["rss", "spray"])
    rss, spray = r.policies["rss"], r.policies["spray"]
    assert rss["out_of_order"] == 0 and rss["reorder_extent_max"] == 0
    assert rss["n_reordering"] == [0] * 16
    assert spray["out_of_order"] > 0
    assert spray["n_reordering"][0] <= spray["out_of_order"]
    assert spray["reorder_extent_max"] >= 1
    assert spray["reordered_ratio"] == pytest.approx(spray["out_of_order"]
                                                     / spray["released"])


def test_per_flow_latency_by_hand():
    from paraflowo._core.sim import flow_hist_lower_bounds
    from paraflowo.sim.metrics import flow_metrics
    # one core of 5 us, flow 0 every 10 us (latency 5000 ns), flow 1 arriving
    # with it (1 ns later: it waits for flow 0's packet, latency 9999 ns)
    times = np.repeat(np.arange(10, dtype=np.int64) * 10_000, 2) + np.tile([0, 1], 10)
    flows = np.tile(np.array([0, 1], np.int32), 10)
    core = SimCore("rss", np.array([5000], np.int64), 64, np.zeros(2, np.uint32), 1,
                   10**9, IndirectionTable(1, 4))
    core.run(times, flows)
    core.flush()
    t = flow_metrics(core.flow_stats(), np.array([0, 0]), ["all"])
    assert t["latency_ns_mean"] == [5000.0, 9999.0]
    assert t["latency_ns_max"] == [5000, 9999]
    lower = flow_hist_lower_bounds()
    # 5000 lies in [4608, 5120), 9999 in [9216, 10240): buckets of width 1/8
    assert t["latency_ns_p50"] == [4608, 9216] and t["latency_ns_p999"] == [4608, 9216]
    assert 4608 in lower and 9216 in lower
    assert t["packets"] == [10, 10] and t["released"] == [10, 10]


def test_too_many_flows_for_per_flow_histograms():
    from paraflowo.sim.metrics import flow_metrics
    n = 9000
    core = SimCore("rss", np.array([10], np.int64), 64, np.zeros(n, np.uint32), 1,
                   10**9, IndirectionTable(1, 4))
    core.run(np.array([0, 100], np.int64), np.array([0, 1], np.int32))
    core.flush()
    fs = core.flow_stats()
    assert fs["latency_hist"] is None
    t = flow_metrics(fs, np.zeros(n, np.int32), ["all"])
    assert t["latency_ns_p50"][:2] == [-1, -1] and t["latency_ns_max"][:2] == [10, 10]
