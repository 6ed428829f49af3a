"""Breakup against a plain-Python model of the documented pipeline (hypothesis, stateful).

The model holds the tags, the para_flow table (slot = mix64(key) & mask, linear
probing), the reorder queues (as in test_psn_props) and each flow's flowlet
state, with a fixed switching interval so that the scheduler part is simple;
and, per core, the latest ingress time of a packet reported completed there,
which ends a new elephant's first-flowlet wait on its RSS core.
"""

import numpy as np
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from paraflowo import FLAG_PARA, META_DTYPE, Breakup, FlowletScheduler, PSNAllocator

from test_psn import _home

M64 = 2**64 - 1
KEYS = st.sampled_from([0, 1, 2, 3, 4, 5, 2**63, M64])


def mix64(k):
    """murmur3 fmix64, the para_flow table's slot hash."""
    k ^= k >> 33
    k = (k * 0xFF51AFD7ED558CCD) & M64
    k ^= k >> 33
    k = (k * 0xC4CEB9FE1A85EC53) & M64
    k ^= k >> 33
    return k


def flow_of(key):
    return (key * 0x9E3779B1) % 2**32, key % 2        # (flow hash, port)


class Model:
    def __init__(self, capacity, probes, n_queues, psn_bits, idle, n_para, t_switch, reta):
        self.cap, self.probes, self.idle = capacity, probes, idle
        self.n_para, self.t_sw, self.reta = n_para, t_switch, reta
        self.slots = [None] * capacity       # dict(key, last, rx, core, since, queue)
        self.q_owner = [None] * n_queues
        self.q_last = [0] * n_queues
        self.q_next = [0] * n_queues
        self.q_mod, self.q_probes = 2**psn_bits, 4
        self.tags = {}
        self.packets = self.para_packets = self.para_flows = self.table_full = 0
        self.holds = 0
        self.done = {}                      # core -> latest completed ingress time
        self.fallbacks = 0

    def live(self, slot, now):
        return slot is not None and now - slot["last"] < self.idle

    def acquire(self, key, port, h, now):
        n = len(self.q_owner)
        home = _home(port, h, n)
        cands = [(home + i) % n for i in range(self.q_probes)]
        for q in cands:
            if self.q_owner[q] == key:
                self.q_last[q] = now
                return q
        for q in cands:
            if self.q_owner[q] is None or now - self.q_last[q] >= self.idle:
                self.q_owner[q], self.q_last[q] = key, now
                return q
        self.fallbacks += 1
        return -1

    def next_psn(self, q, now):
        psn = self.q_next[q]
        self.q_next[q] = (psn + 1) % self.q_mod
        self.q_last[q] = now
        return psn

    def find(self, key, now):
        base = mix64(key)
        for i in range(self.probes):
            j = (base + i) % self.cap
            s = self.slots[j]
            if s is None:
                return None
            if s["key"] == key:
                return j if self.live(s, now) else None
        return None

    def packet(self, key, h, port, now):
        """Return (core, queue, psn, flags) as documented."""
        self.packets += 1
        base = mix64(key)
        free = None
        for i in range(self.probes):
            j = (base + i) % self.cap
            s = self.slots[j]
            if s is None:
                free = j if free is None else free
                break
            if s["key"] == key:
                if self.live(s, now):
                    s["last"] = now
                    first = s["rx"] == h and self.done.get(s["core"], -1) <= s["since"]
                    if self.n_para > 1 and now - s["since"] >= self.t_sw and first:
                        self.holds += 1         # the RSS core may still hold older packets
                    elif self.n_para > 1 and now - s["since"] >= self.t_sw:
                        s["rx"] = (s["rx"] + 1) % 2**32
                        s["core"] = self.reta[s["rx"] % len(self.reta)]
                        s["since"] = now
                    self.para_packets += 1
                    return s["core"], s["queue"], self.next_psn(s["queue"], now), FLAG_PARA
                free = j
                break
            if free is None and now - s["last"] >= self.idle:
                free = j
        if self.tags.get(key) is True:
            if free is None:
                self.table_full += 1
            else:
                q = self.acquire(key, port, h, now)
                if q >= 0:
                    core = self.reta[h % len(self.reta)]
                    self.slots[free] = dict(key=key, last=now, rx=h, core=core, since=now, queue=q)
                    self.para_flows += 1
                    self.para_packets += 1
                    return core, q, self.next_psn(q, now), FLAG_PARA
        return self.reta[h % len(self.reta)], 0, 0, 0


class BreakupMachine(RuleBasedStateMachine):
    @initialize(capacity=st.sampled_from([1, 2, 4]), probes=st.integers(1, 3),
                n_queues=st.sampled_from([1, 2, 4]), idle=st.sampled_from([5, 40]),
                n_para=st.integers(1, 3), t_switch=st.sampled_from([0, 1, 7]),
                n_cores=st.integers(1, 4))
    def setup(self, capacity, probes, n_queues, idle, n_para, t_switch, n_cores):
        sched = FlowletScheduler(n_cores, n_para=n_para, t_switch_min_ns=t_switch,
                                 t_switch_max_ns=t_switch, t_switch_init_ns=t_switch)
        self.real = Breakup(None, PSNAllocator(n_queues, psn_bits=8, idle_ns=idle), sched,
                            capacity=capacity, probes=probes)
        self.model = Model(capacity, probes, n_queues, 8, idle, n_para, t_switch,
                           sched.reta.entries_array().tolist())
        self.now = 0
        self.last_in = 0                    # latest ingress time
        self.n_cores = n_cores

    @rule(core=st.integers(0, 3), back=st.integers(0, 12), delay=st.integers(0, 30))
    def feedback(self, core, back, delay):
        # a packet that ingressed `back` ns before the latest ingress left `core`
        core %= self.n_cores
        t_in = max(0, self.last_in - back)
        self.real.feedback(core, t_in, t_in + delay)
        self.model.done[core] = max(self.model.done.get(core, -1), t_in)

    @rule(key=KEYS, setting=st.sampled_from([True, False, None]))
    def tag(self, key, setting):
        if setting is None:
            self.real.detector.unforce(key)
            self.model.tags.pop(key, None)
        else:
            self.real.detector.force(key, setting)
            self.model.tags[key] = setting

    @rule(dt=st.integers(0, 60))
    def advance(self, dt):
        self.now += dt

    @rule(key=KEYS, dt=st.integers(0, 4))
    def packet(self, key, dt):
        self.now += dt
        h, port = flow_of(key)
        rec = np.zeros(1, META_DTYPE)
        core = self.real.ingress(key, h, port, 64, self.now, out=rec)
        self.last_in = self.now
        r = rec[0]
        assert (core, int(r["queue"]), int(r["psn"]), int(r["flags"])) == \
            self.model.packet(key, h, port, self.now)
        assert (int(r["handle"]), int(r["ingress_ns"]), int(r["flow_hash"])) == \
            (self.model.packets - 1, self.now, h)

    @rule(keys=st.lists(KEYS, max_size=30), dts=st.lists(st.integers(0, 4), min_size=30, max_size=30))
    def burst(self, keys, dts):
        times = (self.now + np.cumsum(dts[: len(keys)])).astype(np.int64)
        flows = [flow_of(k) for k in keys]
        recs = self.real.ingress_burst(
            np.array(keys, np.uint64), np.array([f[0] for f in flows], np.uint32),
            np.array([f[1] for f in flows], np.uint16), np.full(len(keys), 64, np.uint16), times)
        for k, f, t, r in zip(keys, flows, times.tolist(), recs):
            assert (int(r["core"]), int(r["queue"]), int(r["psn"]), int(r["flags"])) == \
                self.model.packet(k, f[0], f[1], t)
        if keys:
            self.now = self.last_in = int(times[-1])

    @invariant()
    def same_state(self):
        if not hasattr(self, "real"):
            return
        r, m = self.real, self.model
        assert (r.packets, r.para_packets, r.para_flows, r.table_full, r.holds) == \
            (m.packets, m.para_packets, m.para_flows, m.table_full, m.holds)
        assert r.allocator.fallbacks == m.fallbacks
        assert r.n_para(self.now) == sum(m.live(s, self.now) for s in m.slots)
        for k in [0, 1, 2, 3, 4, 5, 2**63, M64]:
            assert r.is_para(k, self.now) == (m.find(k, self.now) is not None)


BreakupMachine.TestCase.settings = settings(
    max_examples=60, stateful_step_count=40, deadline=None,
    suppress_health_check=[HealthCheck.too_slow])
TestBreakup = BreakupMachine.TestCase
