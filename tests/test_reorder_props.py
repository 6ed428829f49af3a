"""ReorderBuffer against a small pure-Python reference model (hypothesis).

The model keeps held PSNs in a dict and finds the earliest-inserted packet by
scanning: obviously correct, and slow, which is fine at these sizes.
"""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from paraflowo import ReorderBuffer, ReorderQueues, ReorderStats, ReorderStatus, empty_meta

BUFFERED, LATE, DUPLICATE, DROPPED, FULL = 0, 1, 2, 3, 4
COUNTERS = ("inserted", "released", "dropped", "late", "duplicates", "skipped",
            "timeouts", "full", "peak_held")


class Model:
    """Reference semantics of ReorderBuffer (see docs/components/reorder.rst)."""

    def __init__(self, window, timeout, bits, first):
        self.W, self.T, self.M = window, timeout, 1 << bits
        self.head = first
        self.base = 0         # the head, unwrapped (how far it has moved in total)
        self.slots = {}       # psn -> (handle, ts) for a packet, None for a tombstone
        self.ready = []       # handles the head passed, not yet drained
        self.last = 0
        self.c = dict.fromkeys(COUNTERS, 0)

    def dist(self, p):
        return (p - self.head) % self.M

    @property
    def held(self):
        return len(self.ready) + sum(v is not None for v in self.slots.values())

    def insert(self, p, h, now, dropped):
        assert now >= self.last
        self.last = now
        d = self.dist(p)
        if d >= self.M // 2:
            self.c["inserted"] += 1
            self.c["late"] += 1
            return LATE
        if d >= self.W:
            adv = d - self.W + 1
            passed = sorted((x for x in self.slots if self.dist(x) < adv), key=self.dist)
            packets = [x for x in passed if self.slots[x] is not None]
            if len(packets) > self.W - len(self.ready):
                self.c["full"] += 1
                return FULL
            for x in passed:
                if self.slots[x] is not None:
                    self.ready.append(self.slots[x][0])
                del self.slots[x]
            self.c["skipped"] += adv - len(passed)
            self.head = (p - self.W + 1) % self.M
            self.base += adv
        self.c["inserted"] += 1
        if p in self.slots:
            self.c["duplicates"] += 1
            return DUPLICATE
        if dropped:
            self.slots[p] = None
            self.c["dropped"] += 1
            return DROPPED
        self.slots[p] = (h, now)
        self.c["peak_held"] = max(self.c["peak_held"], self.held)
        return BUFFERED

    def _run(self, out):
        while self.head in self.slots:
            v = self.slots.pop(self.head)
            if v is not None:
                out.append(v[0])
            self.head = (self.head + 1) % self.M
            self.base += 1

    def drain(self, now):
        assert now >= self.last
        self.last = now
        out, self.ready = self.ready, []
        while True:
            self._run(out)
            times = [v[1] for v in self.slots.values() if v is not None]
            if not times or min(times) > now - self.T:
                break
            self.c["timeouts"] += 1
            while self.head not in self.slots:
                self.head = (self.head + 1) % self.M
                self.base += 1
                self.c["skipped"] += 1
        self.c["released"] += len(out)
        return out

    def flush(self):
        out, self.ready = self.ready, []
        while self.slots:
            if self.head in self.slots:
                v = self.slots.pop(self.head)
                if v is not None:
                    out.append(v[0])
            else:
                self.c["skipped"] += 1
            self.head = (self.head + 1) % self.M
            self.base += 1
        self.c["released"] += len(out)
        return out


class ReorderMachine(RuleBasedStateMachine):
    BITS = 32

    @initialize(
        wexp=st.integers(1, 5),
        timeout=st.sampled_from([0, 3, 10, 50, None]),
        first=st.one_of(st.just(0), st.integers(1, 2**8)),
        near_wrap=st.booleans(),
    )
    def setup(self, wexp, timeout, first, near_wrap):
        M = 1 << self.BITS
        first = (M - first) % M if near_wrap else first % M
        self.rb = ReorderBuffer(1 << wexp, timeout, psn_bits=self.BITS, first_psn=first)
        big = 2**63 - 1
        self.model = Model(1 << wexp, big if timeout is None else timeout, self.BITS, first)
        self.now = 0
        self.next_handle = 0
        self.psn_of = {}            # handle -> PSN unwrapped (base + distance)
        self.emitted = set()
        self.last_emitted_psn = None

    def _emit(self, handles, model_handles):
        assert handles == model_handles
        for h in handles:
            assert h in self.psn_of, "never-inserted handle emitted"
            assert h not in self.emitted, "handle emitted twice"
            self.emitted.add(h)
            p = self.psn_of[h]
            if self.last_emitted_psn is not None:
                assert p > self.last_emitted_psn, "emitted PSNs not increasing"
            self.last_emitted_psn = p

    def _record(self, h, p):
        self.psn_of[h] = self.model.base + self.model.dist(p)

    @rule(offset=st.one_of(st.integers(-3, 40), st.integers(-(2**7), 2**7),
                           st.integers(-(2**31), 2**31)),
          dropped=st.booleans(), dt=st.sampled_from([0, 0, 1, 2, 7]))
    def insert(self, offset, dropped, dt):
        self.now += dt
        p = (self.model.head + offset) % self.model.M
        h = self.next_handle
        self.next_handle += 1
        self._record(h, p)
        got = self.rb.insert(p, h, self.now, dropped)
        assert isinstance(got, ReorderStatus)
        assert got == self.model.insert(p, h, self.now, dropped)

    @rule(n=st.integers(1, 20), spread=st.integers(1, 40), seed=st.integers(0, 2**16),
          dt=st.sampled_from([0, 1, 5]), flags=st.booleans())
    def insert_burst(self, n, spread, seed, dt, flags):
        self.now += dt
        rng = np.random.default_rng(seed)
        psns = ((self.model.head + rng.integers(-2, spread, n)) % self.model.M).astype(np.uint32)
        handles = np.arange(self.next_handle, self.next_handle + n, dtype=np.uint64)
        self.next_handle += n
        drops = rng.random(n) < 0.1
        for h, p in zip(handles.tolist(), psns.tolist()):
            self._record(h, p)
        if flags:
            got = self.rb.insert_burst(psns, handles, self.now, dropped=drops)
        else:       # no flags, statuses into a given array: the dataplane's call
            drops[:] = False
            st_out = np.full(n, 0xAA, np.uint8)
            got = self.rb.insert_burst(psns, handles, self.now, None, st_out)
            assert got is st_out
        want = [self.model.insert(p, h, self.now, bool(d))
                for p, h, d in zip(psns.tolist(), handles.tolist(), drops)]
        assert got.tolist() == want

    @rule(n=st.integers(1, 40), spread=st.integers(1, 40), seed=st.integers(0, 2**16),
          dt=st.sampled_from([0, 1, 5, 50]), every=st.integers(0, 8))
    def process_plain(self, n, spread, seed, dt, every):
        # the hot burst path: no drop flags, no statuses, drains every `every`
        self.now += dt
        rng = np.random.default_rng(seed)
        psns = ((self.model.head + rng.integers(-2, spread, n)) % self.model.M).astype(np.uint32)
        handles = np.arange(self.next_handle, self.next_handle + n, dtype=np.uint64)
        self.next_handle += n
        want = []
        for i, (p, h) in enumerate(zip(psns.tolist(), handles.tolist())):
            self._record(h, p)
            if self.model.insert(p, h, self.now, False) == FULL:
                # the burst drains first, then inserts: nothing is refused
                self.model.c["full"] -= 1
                want += self.model.drain(self.now)
                assert self.model.insert(p, h, self.now, False) != FULL
            if every and (i + 1) % every == 0:
                want += self.model.drain(self.now)
        want += self.model.drain(self.now)
        out = np.zeros(n + self.rb.held, np.uint64)
        k = self.rb.process_burst(psns, handles, self.now, out, drain_every=every)
        self._emit(out[:k].tolist(), want)

    @rule(dt=st.sampled_from([0, 1, 3, 10, 49, 50, 51, 1000]))
    def drain(self, dt):
        self.now += dt
        self._emit(self.rb.drain(self.now).tolist(), self.model.drain(self.now))
        # the timeout bound: no held packet has waited timeout_ns or more
        for v in self.model.slots.values():
            if v is not None:
                assert v[1] > self.now - self.model.T
        d = self.rb.next_deadline
        assert d is None or d > self.now

    @rule(cap=st.integers(1, 4), dt=st.sampled_from([0, 50]))
    def drain_small(self, cap, dt):
        # a too-small output loses nothing: repeated calls equal one drain
        self.now += dt
        out = np.zeros(cap, np.uint64)
        got = []
        while True:
            n = self.rb.drain_into(self.now, out)
            got += out[:n].tolist()
            if n < cap:
                break
        self._emit(got, self.model.drain(self.now))

    @precondition(lambda self: self.now > 0)
    @rule()
    def backwards_time_is_refused(self):
        before = self.rb.stats, self.rb.head
        try:
            self.rb.insert(self.model.head, 0, self.now - 1)
        except ValueError as e:
            assert "now_ns must not go backwards" in str(e)
        else:
            raise AssertionError("time going backwards was accepted")
        assert (self.rb.stats, self.rb.head) == before

    @rule()
    def flush(self):
        self._emit(self.rb.flush().tolist(), self.model.flush())

    @invariant()
    def counters_and_conservation(self):
        if not hasattr(self, "rb"):
            return
        s = self.rb.stats
        for k in COUNTERS:
            assert getattr(s, k) == self.model.c[k], k
        assert s.held == self.model.held == self.rb.held
        assert s.inserted == s.released + s.dropped + s.late + s.duplicates + s.held
        assert self.rb.head == self.model.head


class ReorderMachine8(ReorderMachine):
    BITS = 8


class ReorderMachine16(ReorderMachine):
    BITS = 16


_settings = settings(max_examples=60, stateful_step_count=40, deadline=None)
TestReorder8 = ReorderMachine8.TestCase
TestReorder8.settings = _settings
TestReorder16 = ReorderMachine16.TestCase
TestReorder16.settings = _settings
TestReorder32 = ReorderMachine.TestCase
TestReorder32.settings = _settings


# -- burst path == per-packet path ---------------------------------------------------

@settings(max_examples=40, deadline=None)
@given(
    bits=st.sampled_from([8, 16, 32]),
    wexp=st.integers(1, 6),
    first=st.integers(0, 2**32 - 1),
    bursts=st.lists(
        st.tuples(st.lists(st.tuples(st.integers(-4, 80), st.booleans()), max_size=40),
                  st.integers(0, 30)),
        max_size=8),
    every=st.integers(0, 9),
    short_out=st.booleans(),
)
def test_process_burst_equals_per_packet(bits, wexp, first, bursts, every, short_out):
    # process_burst(drain_every=k) == per-packet insert with a drain after every
    # k packets and at the end; a short `out` only delays what is released
    M = 1 << bits
    first %= M
    a = ReorderBuffer(1 << wexp, 20, psn_bits=bits, first_psn=first)
    b = ReorderBuffer(1 << wexp, 20, psn_bits=bits, first_psn=first)
    now, h0, extra_full, diverged = 0, 0, 0, False
    for pkts, dt in bursts:
        now += dt
        psns = np.array([(first + o) % M for o, _ in pkts], np.uint32)
        drops = np.array([d for _, d in pkts], bool)
        handles = np.arange(h0, h0 + len(pkts), dtype=np.uint64)
        h0 += len(pkts)
        want_st, want = [], []
        for i, (p, h, d) in enumerate(zip(psns, handles, drops)):
            st_a = a.insert(int(p), int(h), now, bool(d))
            if st_a == ReorderStatus.FULL and not short_out:
                # a burst with room in `out` drains first, then inserts
                want += a.drain(now).tolist()
                extra_full += 1
                st_a = a.insert(int(p), int(h), now, bool(d))
                assert st_a != ReorderStatus.FULL
            want_st.append(int(st_a))
            if every and (i + 1) % every == 0:
                want += a.drain(now).tolist()
        want += a.drain(now).tolist()
        st_out = np.zeros(len(pkts), np.uint8)
        plain = not drops.any()         # then the hot path (no flags, no statuses)
        if short_out:
            # a short `out` needs status_out; what does not fit stays held, a
            # packet that cannot be made room for is refused FULL, and nothing
            # is ever lost or emitted twice
            held0 = b.held
            out = np.zeros(3, np.uint64)
            n = b.process_burst(psns, handles, now, out, dropped=drops, status_out=st_out,
                                drain_every=every)
            got = out[:n].tolist()
            while (n := b.drain_into(now, out)) > 0:
                got += out[:n].tolist()
            diverged = diverged or bool(every) or FULL in want_st
            if not diverged:    # without intermediate drains the outcome is the same
                assert got == want
                assert st_out.tolist() == want_st
            s = b.stats
            assert s.inserted == s.released + s.dropped + s.late + s.duplicates + s.held
            assert len(got) <= held0 + len(pkts) and len(set(got)) == len(got)
            refused = int((st_out == FULL).sum())
            assert s.full >= refused
        else:
            out = np.zeros(len(pkts) + b.held, np.uint64)
            if plain:
                n = b.process_burst(psns, handles, now, out, drain_every=every)
            else:
                n = b.process_burst(psns, handles, now, out, dropped=drops, status_out=st_out,
                                    drain_every=every)
                assert st_out.tolist() == want_st
            assert out[:n].tolist() == want
            assert a.stats._replace(full=a.stats.full - extra_full) == b.stats
    if not short_out:
        assert a.flush().tolist() == b.flush().tolist()


# -- ReorderQueues == independent ReorderBuffers -------------------------------------

@settings(max_examples=60, deadline=None)
@given(
    n_queues=st.integers(1, 5),
    wexp=st.integers(1, 5),
    bursts=st.lists(
        st.tuples(
            st.lists(st.tuples(st.integers(0, 4), st.integers(-2, 40), st.booleans(),
                               st.booleans()), max_size=30),
            st.sampled_from([0, 1, 5, 30])),
        max_size=8),
    every=st.integers(0, 6),
)
def test_queues_equal_independent_buffers(n_queues, wexp, bursts, every):
    from paraflowo import FLAG_DROP, FLAG_PARA, ReorderQueues, empty_meta

    rq = ReorderQueues(n_queues, 1 << wexp, 20, psn_bits=16)
    ref = [ReorderBuffer(1 << wexp, 20, psn_bits=16) for _ in range(n_queues)]
    now, h0 = 0, 0
    for recs, dt in bursts:
        now += dt
        m = empty_meta(len(recs))
        for i, (q, off, tagged, dropped) in enumerate(recs):
            q %= n_queues
            m[i]["queue"] = q
            m[i]["psn"] = (ref[q].head + off) % 2**16
            m[i]["handle"] = h0 + i
            m[i]["flags"] = (FLAG_PARA if tagged else 0) | (FLAG_DROP if dropped else 0)
        h0 += len(recs)
        # reference: per record, drains of every queue after every `every` records
        want = {}
        want_st = []
        for i, r in enumerate(m):
            if r["flags"] & FLAG_PARA:
                q = int(r["queue"])
                want_st.append(int(ref[q].insert(int(r["psn"]), int(r["handle"]), now,
                                                 bool(r["flags"] & FLAG_DROP))))
            else:
                want.setdefault(-1, []).append(int(r["handle"]))
                want_st.append(int(ReorderStatus.PASSED))
            if every and (i + 1) % every == 0 and i + 1 < len(m):
                for q, b in enumerate(ref):
                    want.setdefault(q, []).extend(b.drain(now).tolist())
        for q, b in enumerate(ref):
            want.setdefault(q, []).extend(b.drain(now).tolist())
        out = np.zeros(len(m) + sum(b.held for b in ref) + 64 * n_queues, np.uint64)
        oq = np.zeros(len(out), np.int32)
        st_out = np.zeros(len(m), np.uint8)
        k = rq.process_burst(m, now, out, oq, st_out, drain_every=every)
        got = {}
        for h, q in zip(out[:k].tolist(), oq[:k].tolist()):
            got.setdefault(q, []).append(h)
        assert st_out.tolist() == want_st
        assert {q: v for q, v in got.items() if v} == {q: v for q, v in want.items() if v}
        assert rq.held == sum(b.held for b in ref)
        # an idle drain later fires the timeouts of every holding queue
        now += 25
        h, q = rq.drain(now)
        got = {}
        for hh, qq in zip(h.tolist(), q.tolist()):
            got.setdefault(qq, []).append(hh)
        want = {qq: b.drain(now).tolist() for qq, b in enumerate(ref)}
        assert got == {qq: v for qq, v in want.items() if v}
        assert rq.next_deadline == min((b.next_deadline for b in ref
                                        if b.next_deadline is not None), default=None)
    assert rq.stats._replace(peak_held=0) == ReorderStats(
        *[sum(x) for x in zip(*[b.stats for b in ref])])._replace(peak_held=0)


# -- no silent refusal: conservation after every call, whatever the output sizes ------

@settings(max_examples=60, deadline=None)
@given(
    n_queues=st.integers(1, 4),
    bits=st.sampled_from([8, 16, 32]),
    wexp=st.integers(1, 4),
    calls=st.lists(st.tuples(
        st.lists(st.tuples(st.integers(0, 5), st.integers(0, 40), st.integers(0, 3)),
                 max_size=24),
        st.integers(0, 30),        # out length
        st.booleans(),             # pass status_out
        st.integers(0, 5),         # drain_every
        st.integers(0, 20)),       # time step
        max_size=10),
)
def test_queues_every_record_accounted_for(n_queues, bits, wexp, calls):
    rq = ReorderQueues(n_queues, 1 << wexp, 15, psn_bits=bits)
    now, h0, taken, emitted, passed = 0, 0, set(), [], 0
    for recs, cap, with_status, every, dt in calls:
        now += dt
        m = empty_meta(len(recs))
        m["queue"] = [q for q, _, _ in recs]
        m["psn"] = [p for _, p, _ in recs]
        m["flags"] = [f for _, _, f in recs]
        m["handle"] = np.arange(h0, h0 + len(recs))
        h0 += len(recs)
        out = np.zeros(cap, np.uint64)
        st_out = np.zeros(len(recs), np.uint8) if with_status else None
        before = rq.stats
        try:
            k = rq.process_burst(m, now, out, status_out=st_out, drain_every=every)
        except ValueError as e:
            assert rq.stats == before, e              # refused: nothing changed
            msg = str(e)
            assert msg.startswith(("out must have length >=", "meta['queue'] must be in")), msg
            continue
        emitted += out[:k].tolist()
        passed += int(((m["flags"] & 1) == 0).sum())    # untagged: straight out
        if st_out is not None:
            # every record's fate is reported: FULL ones were not taken
            taken |= {int(h) for h, s in zip(m["handle"], st_out) if s != ReorderStatus.FULL}
        else:
            taken |= set(m["handle"].tolist())
        s = rq.stats
        assert s.inserted == s.released + s.dropped + s.late + s.duplicates + s.held
    h, _ = rq.flush()
    emitted += h.tolist()
    assert len(emitted) == len(set(emitted))          # nothing emitted twice
    assert set(emitted) <= taken                      # nothing emitted that was refused
    s = rq.stats
    assert s.held == 0 and s.inserted == s.released + s.dropped + s.late + s.duplicates
    assert len(emitted) == s.released + passed       # every packet held came out


# -- ReorderQueues' timeouts (cached deadlines) == draining every queue --------------

@settings(max_examples=60, deadline=None)
@given(
    n_queues=st.integers(1, 40),
    steps=st.lists(
        st.one_of(
            # insert: queue, psn, time step
            st.tuples(st.just("ins"), st.integers(0, 39), st.integers(0, 20),
                      st.integers(0, 3)),
            # drain after a time step
            st.tuples(st.just("drain"), st.integers(0, 30)),
            # drain with a small output (cut short: the rest stays held)
            st.tuples(st.just("short"), st.integers(0, 30), st.integers(1, 3))),
        max_size=80),
)
def test_queues_timeouts_equal_scan(n_queues, steps):
    # Every drain of ReorderQueues (touched queues, then the active queues whose
    # cached deadline has come) releases, queue by queue, what draining every
    # independent buffer releases (the brute-force scan), also when an output
    # too small cuts a drain short; next_deadline is the minimum.
    timeout = 12
    rq = ReorderQueues(n_queues, 16, timeout, psn_bits=8)
    ref = [ReorderBuffer(16, timeout, psn_bits=8) for _ in range(n_queues)]
    now, h = 0, 0
    for step in steps:
        if step[0] == "ins":
            _, q, psn, dt = step
            q %= n_queues
            now += dt
            assert rq.insert(q, psn, h, now) == ref[q].insert(psn, h, now)
            h += 1
            continue
        now += step[1]
        hs, qs = [], []
        if step[0] == "short":
            # a small output first: the drain is cut short (the rest stays held)
            out = np.zeros(step[2], np.uint64)
            oq = np.zeros(step[2], np.int32)
            k = rq.drain_into(now, out, oq)
            hs, qs = out[:k].tolist(), oq[:k].tolist()
        h2, q2 = rq.drain(now)
        got = {}
        for hh, qq in zip(hs + h2.tolist(), qs + q2.tolist()):
            got.setdefault(qq, []).append(hh)
        for qq, b in enumerate(ref):
            assert got.get(qq, []) == b.drain(now).tolist(), qq
        assert rq.held == sum(b.held for b in ref)
        assert rq.next_deadline == min((b.next_deadline for b in ref
                                        if b.next_deadline is not None), default=None)
    hs, qs = rq.drain(now + 10 * timeout)
    got = {}
    for hh, qq in zip(hs.tolist(), qs.tolist()):
        got.setdefault(qq, []).append(hh)
    for qq, b in enumerate(ref):
        assert got.get(qq, []) == b.drain(now + 10 * timeout).tolist()
    assert rq.next_deadline == min((b.next_deadline for b in ref
                                    if b.next_deadline is not None), default=None)
