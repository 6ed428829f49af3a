"""PSNAllocator against a plain-Python reference model (hypothesis, stateful)."""

import numpy as np
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from paraflowo import PSNAllocator

from test_psn import _home

KEYS = st.integers(0, 7).map(lambda i: [0, 1, 2, 3, 2**63, 2**64 - 1, 12345, 99][i])


def flow_of(key):
    """Each flow key has a fixed (port, hash); small values force home collisions."""
    return key % 3, (key * 0x9E3779B1) % 5


class Model:
    """The allocator as documented, with lists and dicts."""

    def __init__(self, n_queues, psn_bits, idle_ns, probes):
        self.n, self.mod, self.idle, self.probes = n_queues, 2**psn_bits, idle_ns, probes
        self.owner = [None] * n_queues
        self.last = [0] * n_queues
        self.next = [0] * n_queues
        self.acquired = self.fallbacks = self.tagged = 0

    def live(self, q, now):
        return self.owner[q] is not None and now - self.last[q] < self.idle

    def tag(self, key, port, h, now):
        home = _home(port, h, self.n)
        cands = [(home + i) % self.n for i in range(self.probes)]
        mine = [q for q in cands if self.owner[q] == key]
        if mine:
            q = mine[0]
        else:
            free = [q for q in cands if not self.live(q, now)]
            if not free:
                self.fallbacks += 1
                return -1, 0
            q = free[0]
            self.owner[q] = key
            self.acquired += 1
        psn = self.next[q]
        self.next[q] = (psn + 1) % self.mod
        self.last[q] = now
        self.tagged += 1
        return q, psn


class AllocatorMachine(RuleBasedStateMachine):
    @initialize(n_queues=st.sampled_from([1, 2, 4, 8]), psn_bits=st.sampled_from([8, 9, 32]),
                idle_ns=st.sampled_from([1, 5, 40]), probes=st.integers(1, 5))
    def setup(self, n_queues, psn_bits, idle_ns, probes):
        self.real = PSNAllocator(n_queues, psn_bits=psn_bits, idle_ns=idle_ns, probes=probes)
        self.model = Model(n_queues, psn_bits, idle_ns, probes)
        self.now = 0

    @rule(dt=st.integers(0, 60))
    def advance(self, dt):
        self.now += dt

    @rule(key=KEYS, dt=st.integers(0, 3))
    def tag(self, key, dt):
        self.now += dt
        port, h = flow_of(key)
        assert self.real.tag(key, port, h, self.now) == self.model.tag(key, port, h, self.now)

    @rule(keys=st.lists(KEYS, max_size=20), dts=st.lists(st.integers(0, 4), min_size=20, max_size=20))
    def tag_burst(self, keys, dts):
        times = [self.now + t for t in np.cumsum(dts[: len(keys)]).tolist()]
        flows = [flow_of(k) for k in keys]
        q, p = self.real.tag_burst(
            np.array(keys, np.uint64), np.array([f[0] for f in flows], np.uint16),
            np.array([f[1] for f in flows], np.uint32), np.array(times, np.int64))
        ref = [self.model.tag(k, f[0], f[1], t) for k, f, t in zip(keys, flows, times)]
        assert list(zip(q.tolist(), p.tolist())) == ref
        if times:
            self.now = times[-1]

    @rule(psn_walk=st.integers(250, 300))
    def wrap(self, psn_walk):
        # push one flow's queue through a wrap point (psn_bits 8 wraps at 256)
        key = 2**64 - 1
        port, h = flow_of(key)
        for _ in range(psn_walk):
            assert self.real.tag(key, port, h, self.now) == self.model.tag(key, port, h, self.now)

    @invariant()
    def same_state(self):
        if not hasattr(self, "real"):
            return
        r, m = self.real, self.model
        live = [r.owner(q, self.now) for q in range(m.n)]
        assert live == [m.owner[q] if m.live(q, self.now) else None for q in range(m.n)]
        assert [r.next_psn(q) for q in range(m.n)] == m.next
        assert (r.acquired, r.fallbacks, r.tagged) == (m.acquired, m.fallbacks, m.tagged)
        assert r.n_live(self.now) == sum(x is not None for x in live)

    @invariant()
    def no_two_live_flows_on_one_queue(self):
        if not hasattr(self, "real"):
            return
        owners = [o for o in (self.real.owner(q, self.now) for q in range(self.real.n_queues))
                  if o is not None]
        assert len(owners) == len(set(owners))


AllocatorMachine.TestCase.settings = settings(
    max_examples=60, stateful_step_count=30, deadline=None,
    suppress_health_check=[HealthCheck.too_slow])
TestAllocator = AllocatorMachine.TestCase
