"""Properties of the dataplane's ring and of whole replays, against plain models."""

from __future__ import annotations

from collections import Counter, deque

import numpy as np
from hypothesis import given, settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from paraflowo._core.ring import SPSCRing, spsc_stress
from paraflowo.dataplane import Capture, DropNF, make_policy, run_trace, Dataplane

from dptrace import frame, reordered_per_flow


class RingMachine(RuleBasedStateMachine):
    """SPSCRing against a bounded deque (one thread: the index arithmetic)."""

    def __init__(self):
        super().__init__()
        self.cap = 8
        self.ring = SPSCRing(self.cap)
        self.model = deque()
        self.next = 0

    @rule(n=st.integers(0, 12))
    def push(self, n):
        recs = np.array([[i, ~i & (2**64 - 1), i * 3, 7] for i in range(self.next, self.next + n)],
                        dtype=np.uint64).reshape(n, 4)
        k = self.ring.push(recs)
        assert k == min(n, self.cap - len(self.model))
        self.model.extend(map(tuple, recs[:k].tolist()))
        self.next += k

    @rule(n=st.integers(0, 12))
    def pop(self, n):
        got = self.ring.pop(n)
        want = [self.model.popleft() for _ in range(min(n, len(self.model)))]
        assert list(map(tuple, got.tolist())) == want

    @invariant()
    def same_length(self):
        assert len(self.ring) == len(self.model)


TestRing = RingMachine.TestCase
TestRing.settings = settings(max_examples=60, stateful_step_count=40, deadline=None)


def test_ring_between_two_threads_loses_tears_and_reorders_nothing():
    # a small ring wraps ~30,000 times; 64-bit counters cross the boundaries
    assert spsc_stress(200_000, capacity=8, batch=5) == 0
    assert spsc_stress(50_000, capacity=2, batch=1) == 0


@st.composite
def traces(draw):
    n_flows = draw(st.integers(1, 6))
    n = draw(st.integers(1, 300))
    flows = draw(st.lists(st.integers(0, n_flows - 1), min_size=n, max_size=n))
    sizes = draw(st.lists(st.integers(60, 1500), min_size=n_flows, max_size=n_flows))
    return [frame(0x0A000000 + f, 0x0A0000FF, 1000 + f, 80, uid, sizes[f])
            for uid, f in enumerate(flows)]


@settings(max_examples=25, deadline=None)
@given(pkts=traces(), policy=st.sampled_from(["rss", "spray", "paraflowo", "rsspp"]),
       workers=st.integers(1, 3), p=st.sampled_from([0.0, 0.3]),
       threshold=st.sampled_from([1, 8, 64]), window=st.sampled_from([2, 16, 4096]))
def test_replay_against_the_model(pkts, policy, workers, p, threshold, window):
    """Model: egress = ingress minus the dropped packets; per flow, the order
    is kept by rss and paraflowo; the reported out-of-order count is the
    recount from the egress order, for every policy."""
    knobs = {"threshold": threshold, "window": window, "n_queues": 4} if policy == "paraflowo" \
        else {}
    dp = Dataplane(make_policy(policy, workers, **knobs), DropNF(p, seed=1), ring=4,
                   store_slots=64)
    r, eg = run_trace(Capture.from_packets(pkts), dataplane=dp, capture_out=True)
    out = [eg.packet(i) for i in range(len(eg))]
    assert r["packets_in"] == len(pkts) == r["packets_out"] + r["dropped_flag"]
    assert not Counter(out) - Counter(pkts) and len(out) == r["packets_out"]
    recount = sum(reordered_per_flow(pkts, out).values())
    assert r["out_of_order"] == recount
    if policy in ("rss", "paraflowo"):
        assert recount == 0
    assert dp.store.n_used == 0
