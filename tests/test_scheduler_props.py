"""FlowletScheduler properties against a pure-Python model (exact rationals)."""

import math
from fractions import Fraction

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from paraflowo import FLOWLET_DTYPE, FlowletScheduler, IndirectionTable


def llround(x):
    """C llround: round half away from zero."""
    return int(math.floor(x + 0.5)) if x >= 0 else -int(math.floor(-x + 0.5))


class Model:
    def __init__(self, n_cores, n_para, alpha, smoothing, lo, hi, init):
        self.n_para, self.s, self.lo, self.hi, self.init = n_para, smoothing, lo, hi, init
        self.a = Fraction(max(1, min(2**32, round(alpha * 2**32))), 2**32)
        self.t = [None] * n_cores

    def observe(self, core, d):
        old = self.t[core]
        self.t[core] = d if old is None else old + llround(self.s * float(d - old))

    def t_avg(self):
        v = [x for x in self.t if x is not None]
        return sum(v) // len(v) if v else None

    def t_switch(self, core):
        if self.n_para == 1:
            return 2**63 - 1
        if self.t[core] is None:
            return self.init
        ta = self.t_avg()
        if ta == 0:
            return self.lo
        if self.t[core] == 0:
            return self.hi
        exact = math.floor(self.a * ta * ta / (self.t[core] * (self.n_para - 1)))
        return min(self.hi, max(self.lo, exact))


delays = st.one_of(st.integers(0, 2000), st.integers(0, 2**40), st.sampled_from([0, 1, 2**40]))


@settings(max_examples=150, deadline=None)
@given(n_cores=st.integers(1, 6), n_para=st.integers(1, 70),
       alpha=st.one_of(st.sampled_from([1.0, 0.5, 2**-32, 1e-3]), st.floats(1e-9, 1.0)),
       smoothing=st.one_of(st.just(1.0), st.floats(0.01, 1.0),
                           st.sampled_from([0.5, 0.25, 0.125, 2**-10, 2**-40])),
       bounds=st.tuples(st.integers(0, 10**4), st.integers(0, 2**62)),
       samples=st.lists(st.tuples(st.integers(0, 5), delays), max_size=25))
def test_eq2_and_ewma_match_exact_model(n_cores, n_para, alpha, smoothing, bounds, samples):
    lo, hi = min(bounds), max(bounds)
    s = FlowletScheduler(n_cores, n_para=n_para, alpha=alpha, smoothing=smoothing,
                         t_switch_min_ns=lo, t_switch_max_ns=hi, t_switch_init_ns=lo)
    m = Model(n_cores, n_para, alpha, smoothing, lo, hi, lo)
    for core, d in samples:
        core %= n_cores
        s.observe(core, d)
        m.observe(core, d)
        assert s.t_avg == m.t_avg()
        assert [s.t_cpu(c) for c in range(n_cores)] == m.t
        assert [s.t_switch(c) for c in range(n_cores)] == [m.t_switch(c) for c in range(n_cores)]


@settings(max_examples=60, deadline=None)
@given(entries=st.lists(st.integers(0, 3), min_size=4, max_size=4),
       h=st.integers(0, 2**32 - 1), interval=st.integers(1, 50),
       gaps=st.lists(st.integers(0, 30), min_size=1, max_size=200))
def test_steer_matches_model(entries, h, interval, gaps):
    reta = IndirectionTable(4, size=4)
    reta.set_entries(entries)
    s = FlowletScheduler(4, n_para=2, reta=reta, t_switch_min_ns=interval,
                         t_switch_max_ns=interval, t_switch_init_ns=interval)
    flows = np.zeros(1, FLOWLET_DTYPE)
    assert s.start(flows, 0, h, 0) == entries[h & 3]
    rx, since, now = h, 0, 0
    for g in gaps:
        now += g
        if now - since >= interval:
            rx, since = (rx + 1) & 0xFFFFFFFF, now
        assert s.steer(flows, 0, now) == entries[rx & 3]
    assert int(flows[0]["rx_id"]) == rx and int(flows[0]["since_ns"]) == since


@settings(max_examples=150, deadline=None)
@given(n_para=st.integers(2, 5), alpha=st.sampled_from([1.0, 0.5, 0.3, 1e-3]),
       bounds=st.tuples(st.integers(0, 500), st.integers(0, 2**40)),
       ops=st.lists(st.tuples(st.booleans(), st.integers(0, 3),
                              st.one_of(st.integers(0, 70_000), st.integers(0, 2**40)),
                              st.one_of(st.integers(0, 3), st.integers(0, 5_000))),
                    min_size=1, max_size=120))
def test_steer_with_delay_samples_matches_model(n_para, alpha, bounds, ops):
    # steer asks pfo_sched_due, which decides without dividing when Eq. 2
    # fits in 64 bits (t_avg < 2**16) and asks c_t_switch otherwise: the
    # flow must switch exactly when the model's interval (exact rationals)
    # says so, samples arriving between packets (small steps reach the
    # boundaries e = t_switch - 1 and e = t_switch)
    lo, hi = min(bounds), max(bounds)
    reta = IndirectionTable(4, size=4)
    entries = [2, 0, 3, 1]
    reta.set_entries(entries)
    s = FlowletScheduler(4, n_para=n_para, alpha=alpha, reta=reta, smoothing=0.125,
                         t_switch_min_ns=lo, t_switch_max_ns=hi, t_switch_init_ns=lo)
    m = Model(4, n_para, alpha, 0.125, lo, hi, lo)
    flows = np.zeros(1, FLOWLET_DTYPE)
    h = 5
    core = s.start(flows, 0, h, 0)
    rx, since, now = h, 0, 0
    for is_sample, c, v, step in ops:
        if is_sample:
            s.observe(c, v)
            m.observe(c, v)
            continue
        now += step
        if now - since >= m.t_switch(core):
            rx, since = (rx + 1) & 0xFFFFFFFF, now
            core = entries[rx & 3]
        assert s.steer(flows, 0, now) == core
    assert int(flows[0]["rx_id"]) == rx and int(flows[0]["since_ns"]) == since


@settings(max_examples=300, deadline=None)
@given(n_para=st.integers(2, 70), alpha=st.one_of(st.sampled_from([1.0, 0.5, 1e-3, 2**-32]),
                                                  st.floats(1e-9, 1.0)),
       lo=st.integers(0, 3_000), width=st.one_of(st.integers(0, 3_000), st.integers(0, 2**40)),
       delays=st.lists(st.one_of(st.integers(0, 70_000), st.integers(0, 2**40)),
                       min_size=1, max_size=4),
       h=st.integers(0, 3))
def test_due_exactly_at_t_switch(n_para, alpha, lo, width, delays, h):
    # the flow stays at e = t_switch - 1 and switches at e = t_switch, t_switch
    # as the model computes it (exact rationals) and as t_switch() reports it
    hi = lo + width
    s = FlowletScheduler(4, n_para=n_para, alpha=alpha, t_switch_min_ns=lo,
                         t_switch_max_ns=hi, t_switch_init_ns=lo, smoothing=1.0)
    m = Model(4, n_para, alpha, 1.0, lo, hi, lo)
    for c, d in enumerate(delays):
        s.observe(c, d)
        m.observe(c, d)
    flows = np.zeros(1, FLOWLET_DTYPE)
    since = 10
    core = s.start(flows, 0, h, since)
    t = m.t_switch(core)
    assert s.t_switch(core) == t
    if t >= 1:
        assert s.steer(flows, 0, since + t - 1) == core
        assert int(flows[0]["rx_id"]) == h
    s.steer(flows, 0, since + t)
    assert int(flows[0]["rx_id"]) == h + 1 and int(flows[0]["since_ns"]) == since + t
