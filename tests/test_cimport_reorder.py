"""The reorder cimport API, driven without the GIL from a freshly compiled module."""

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from paraflowo import FLAG_PARA, ReorderBuffer, ReorderQueues, empty_meta

from cybuild import build_cython_module

SOURCE = """
# cython: boundscheck=False, wraparound=False
import numpy as np
from libc.stdint cimport uint8_t, uint32_t, uint64_t, int32_t, int64_t
from paraflowo._core._types cimport pfo_psn_t, pfo_handle_t, pfo_ns_t, pfo_meta_t
from paraflowo._core.reorder cimport (
    ReorderBuffer, ReorderQueues, pfo_rob_insert, pfo_rob_drain, pfo_rob_flush,
    pfo_rob_process, pfo_rob_pass,
    pfo_rob_next_deadline, pfo_rob_held, pfo_rob_insert_burst, pfo_robq_process,
    pfo_robq_drain, pfo_rob_t, PFO_ROB_BUFFERED, PFO_ROB_EINVAL, PFO_NS_NEVER)

def run(ReorderBuffer rb, const uint32_t[::1] psns, const uint64_t[::1] handles,
        const int64_t[::1] times, const uint8_t[::1] dropped, Py_ssize_t drain_every,
        Py_ssize_t cap, bint use_methods):
    # insert each packet at its own time; every drain_every packets drain with
    # an output of only `cap` slots, calling again until it returns < cap
    cdef Py_ssize_t i, n = psns.shape[0], k = 0, c
    out = np.zeros(n + 8, np.uint64)
    st = np.zeros(n, np.uint8)
    cdef uint64_t[::1] o = out
    cdef uint8_t[::1] s = st
    with nogil:
        for i in range(n):
            if use_methods:
                s[i] = <uint8_t>rb.c_insert(psns[i], handles[i], times[i], dropped[i])
            else:
                s[i] = <uint8_t>pfo_rob_insert(rb.rob, psns[i], handles[i], times[i], dropped[i])
            if (i + 1) % drain_every == 0 or i == n - 1:
                while True:
                    if use_methods:
                        c = rb.c_drain(times[i], &o[k], cap)
                    else:
                        c = pfo_rob_drain(rb.rob, times[i], &o[k], cap)
                    k += c
                    if c < cap:
                        break
    return st, out[:k]

def run_pass(ReorderBuffer rb, const uint32_t[::1] psns, const uint64_t[::1] handles,
             const int64_t[::1] times, const uint8_t[::1] dropped):
    # per packet: the in-order fast path when it applies, else insert; then
    # drain at the packet's time
    cdef Py_ssize_t i, n = psns.shape[0], k = 0, passed = 0
    out = np.zeros(n + 8, np.uint64)
    cdef uint64_t[::1] o = out
    with nogil:
        for i in range(n):
            if not dropped[i] and pfo_rob_pass(rb.rob, psns[i], times[i]):
                o[k] = handles[i]
                k += 1
                passed += 1
            else:
                pfo_rob_insert(rb.rob, psns[i], handles[i], times[i], dropped[i])
            k += pfo_rob_drain(rb.rob, times[i], &o[k], o.shape[0] - k)
    return out[:k], passed

def run_bursts(ReorderBuffer rb, const uint32_t[::1] psns, const uint64_t[::1] handles,
               const int64_t[::1] times, const uint8_t[::1] dropped, Py_ssize_t burst,
               Py_ssize_t drain_every):
    # pfo_rob_process per burst of `burst` packets (each at the time of its
    # first packet), with statuses; and pfo_rob_insert_burst + drain when
    # drain_every < 0
    cdef Py_ssize_t i = 0, j, n = psns.shape[0], k = 0
    out = np.zeros(n + rb.held + 1, np.uint64)
    st = np.zeros(n, np.uint8)
    cdef uint64_t[::1] o = out
    cdef uint8_t[::1] s = st
    with nogil:
        while i < n:
            j = n - i if n - i < burst else burst
            if drain_every < 0:
                pfo_rob_insert_burst(rb.rob, &psns[i], &handles[i], j, times[i],
                                     &dropped[i], &s[i])
                k += pfo_rob_drain(rb.rob, times[i], &o[k], o.shape[0] - k)
            else:
                k += pfo_rob_process(rb.rob, &psns[i], &handles[i], j, times[i],
                                     &dropped[i], &s[i], drain_every, &o[k], o.shape[0] - k)
            i += j
    return st, out[:k]

def deadline(ReorderBuffer rb):
    cdef pfo_ns_t d
    with nogil:
        d = rb.c_next_deadline()
    return None if d == PFO_NS_NEVER else d

def flush(ReorderBuffer rb, Py_ssize_t cap):
    out = np.zeros(rb.held + 1, np.uint64)
    cdef uint64_t[::1] o = out
    cdef Py_ssize_t k = 0, c
    with nogil:
        while True:
            c = rb.c_flush(&o[k], cap)
            k += c
            if c < cap:
                break
    return out[:k]

def bad_time(ReorderBuffer rb):
    cdef int r1
    cdef Py_ssize_t r2
    cdef pfo_handle_t o[4]
    with nogil:
        r1 = rb.c_insert(0, 0, rb.rob.last_ns - 1, False)
        r2 = rb.c_drain(rb.rob.last_ns - 1, o, 4)
    return r1 == PFO_ROB_EINVAL, r2

def queues_per_packet(ReorderQueues rq, const uint32_t[::1] qs, const uint32_t[::1] psns,
                      const uint64_t[::1] handles, int64_t now, int64_t later):
    cdef Py_ssize_t i, n = qs.shape[0], k = 0, c
    out = np.zeros(n + 1, np.uint64)
    oq = np.zeros(n + 1, np.int32)
    st = np.zeros(n, np.int32)
    cdef uint64_t[::1] o = out
    cdef int32_t[::1] q = oq
    cdef int32_t[::1] s = st
    cdef pfo_ns_t d1, d2
    with nogil:
        for i in range(n):
            s[i] = rq.c_insert(qs[i], psns[i], handles[i], now, False)
        k = rq.c_drain(now, &o[0], &q[0], 2)        # a small output first
        d1 = rq.c_next_deadline()
        while True:
            c = rq.c_drain(later, &o[k], &q[k], 2)
            k += c
            if c < 2:
                break
        d2 = rq.c_next_deadline()
    return st, out[:k], oq[:k], d1, d2

def queues(ReorderQueues rq, meta, int64_t now):
    cdef const unsigned char[::1] raw = meta.view(np.uint8)
    cdef Py_ssize_t n = meta.shape[0], k
    out = np.zeros(n + rq.held + 1, np.uint64)
    oq = np.zeros(n + rq.held + 1, np.int32)
    cdef uint64_t[::1] o = out
    cdef int32_t[::1] q = oq
    with nogil:
        k = pfo_robq_process(&rq.q, <const pfo_meta_t*>&raw[0], n, now, &o[0], &q[0],
                             o.shape[0], NULL, 2)
    return out[:k], oq[:k]

def header_layout(ReorderQueues rq):
    # where the queues' headers lie in their block, and the offsets of the
    # fields a common insert and drain touch, from the first byte of a header
    cdef pfo_rob_t* r = rq.q.robs[0]
    cdef char* b = <char*>r
    cdef uint32_t i
    addr = [<size_t>rq.q.robs[i] for i in range(rq.q.n_queues)]
    hot = {"slots": <char*>&r.slots - b, "order": <char*>&r.order - b,
           "head": <char*>&r.head - b, "in_ring": <char*>&r.in_ring - b,
           "order_head": <char*>&r.order_head - b, "order_n": <char*>&r.order_n - b,
           "n_tomb": <char*>&r.n_tomb - b, "ready_n": <char*>&r.ready_n - b,
           "last_ns": <char*>&r.last_ns - b, "st.inserted": <char*>&r.st.inserted - b,
           "st.released": <char*>&r.st.released - b}
    return addr, hot, sizeof(pfo_rob_t), sizeof(r.st.inserted)
"""


@pytest.fixture(scope="module")
def mod(tmp_path_factory):
    return build_cython_module(tmp_path_factory.mktemp("cy_reorder"), "use_reorder", SOURCE)


def python_run(rb, psns, handles, times, dropped, drain_every):
    st, out = [], []
    for i, (p, h, t, d) in enumerate(zip(psns, handles, times, dropped)):
        st.append(int(rb.insert(int(p), int(h), int(t), bool(d))))
        if (i + 1) % drain_every == 0 or i == len(psns) - 1:
            out += rb.drain(int(t)).tolist()
    return st, out


@settings(max_examples=40, deadline=None)
@given(
    bits=st.sampled_from([8, 16, 32]),
    wexp=st.integers(1, 6),
    first=st.integers(0, 2**32 - 1),
    offsets=st.lists(st.integers(-3, 90), max_size=120),
    seed=st.integers(0, 2**16),
    drain_every=st.integers(1, 40),
    cap=st.integers(1, 9),
    use_methods=st.booleans(),
)
def test_nogil_path_equals_per_packet(mod, bits, wexp, first, offsets, seed, drain_every,
                                      cap, use_methods):
    M = 1 << bits
    first %= M
    rng = np.random.default_rng(seed)
    n = len(offsets)
    psns = np.array([(first + o) % M for o in offsets], np.uint32)
    handles = rng.integers(0, 2**63, n, dtype=np.uint64)
    times = np.cumsum(rng.integers(0, 4, n)).astype(np.int64)
    dropped = (rng.random(n) < 0.1).astype(np.uint8)
    a = ReorderBuffer(1 << wexp, 15, psn_bits=bits, first_psn=first)
    b = ReorderBuffer(1 << wexp, 15, psn_bits=bits, first_psn=first)
    want_st, want_out = python_run(a, psns, handles, times, dropped, drain_every)
    got_st, got_out = mod.run(b, psns, handles, times, dropped, drain_every, cap, use_methods)
    assert got_st.tolist() == want_st
    assert got_out.tolist() == want_out
    assert a.stats == b.stats
    assert mod.deadline(b) == b.next_deadline == a.next_deadline
    assert mod.flush(b, cap).tolist() == a.flush().tolist()


@settings(max_examples=40, deadline=None)
@given(
    bits=st.sampled_from([8, 16, 32]),
    wexp=st.integers(1, 6),
    first=st.integers(0, 2**32 - 1),
    swaps=st.lists(st.integers(0, 119), max_size=20),
    seed=st.integers(0, 2**16),
)
def test_in_order_fast_path_releases_as_insert_and_drain(mod, bits, wexp, first, swaps, seed):
    # a mostly in-order stream (a few swaps, drops, gaps and timeouts): the
    # fast path plus insert gives exactly insert + drain after each packet
    M = 1 << bits
    first %= M
    rng = np.random.default_rng(seed)
    n = 120
    offs = list(range(n))
    for s in swaps:
        offs[s], offs[(s + 1) % n] = offs[(s + 1) % n], offs[s]
    gaps = rng.random(n) < 0.03
    offs = [o for o, g in zip(offs, gaps) if not g]          # some PSNs never come
    psns = np.array([(first + o) % M for o in offs], np.uint32)
    handles = np.arange(len(offs), dtype=np.uint64)
    times = np.cumsum(rng.integers(0, 9, len(offs))).astype(np.int64)
    dropped = (rng.random(len(offs)) < 0.05).astype(np.uint8)
    a = ReorderBuffer(1 << wexp, 15, psn_bits=bits, first_psn=first)
    b = ReorderBuffer(1 << wexp, 15, psn_bits=bits, first_psn=first)
    _, want = python_run(a, psns, handles, times, dropped, 1)
    got, passed = mod.run_pass(b, psns, handles, times, dropped)
    assert got.tolist() == want
    sa, sb = a.stats._asdict(), b.stats._asdict()
    assert sb.pop("peak_held") <= sa.pop("peak_held")
    assert sa == sb and a.head == b.head and a.held == b.held
    if not swaps and not gaps.any() and not dropped.any():
        assert passed == len(offs)                 # in order: every packet passes


@settings(max_examples=40, deadline=None)
@given(
    bits=st.sampled_from([8, 16, 32]),
    wexp=st.integers(1, 6),
    offsets=st.lists(st.integers(-3, 90), min_size=1, max_size=120),
    seed=st.integers(0, 2**16),
    burst=st.integers(1, 40),
    drain_every=st.integers(-1, 9),
)
@example(bits=8, wexp=1, offsets=[0, 1, 2, 4], seed=1, burst=4, drain_every=0)   # drains on FULL
def test_nogil_burst_functions_equal_per_packet(mod, bits, wexp, offsets, seed, burst,
                                                 drain_every):
    M = 1 << bits
    rng = np.random.default_rng(seed)
    n = len(offsets)
    psns = np.array([o % M for o in offsets], np.uint32)
    handles = np.arange(n, dtype=np.uint64)
    times = np.repeat(np.cumsum(rng.integers(0, 9, (n + burst - 1) // burst)), burst)[:n]
    times = times.astype(np.int64)
    dropped = (rng.random(n) < 0.1).astype(np.uint8)
    a = ReorderBuffer(1 << wexp, 15, psn_bits=bits)
    b = ReorderBuffer(1 << wexp, 15, psn_bits=bits)
    want_st, want_out = [], []
    refused_then_taken = 0
    for i0 in range(0, n, burst):
        t = int(times[i0])
        for i in range(i0, min(n, i0 + burst)):
            args = (int(psns[i]), int(handles[i]), t, bool(dropped[i]))
            s = a.insert(*args)
            if s == 4 and drain_every >= 0:
                # pfo_rob_process drains a FULL insert's way first (its out has
                # room here), then inserts: not refused after all
                want_out += a.drain(t).tolist()
                s = a.insert(*args)
                refused_then_taken += 1
            want_st.append(int(s))
            if drain_every > 0 and (i - i0 + 1) % drain_every == 0:
                want_out += a.drain(t).tolist()
        want_out += a.drain(t).tolist()
    got_st, got_out = mod.run_bursts(b, psns, handles, times, dropped, burst, drain_every)
    assert got_st.tolist() == want_st
    assert got_out.tolist() == want_out
    assert a.stats._replace(full=a.stats.full - refused_then_taken) == b.stats


def test_in_order_fast_path_on_an_in_order_stream(mod):
    rb = ReorderBuffer(8, 10, psn_bits=8, first_psn=250)
    n = 20                                            # wraps at 256
    psns = (250 + np.arange(n, dtype=np.uint32)) % 256
    out, passed = mod.run_pass(rb, psns, np.arange(n, dtype=np.uint64),
                               np.arange(n, dtype=np.int64), np.zeros(n, np.uint8))
    assert out.tolist() == list(range(n)) and passed == n
    assert rb.head == (250 + n) % 256 and rb.held == 0
    assert (rb.stats.inserted, rb.stats.released, rb.stats.peak_held) == (n, n, 0)
    # a gap: the next packets are held as usual, then the fast path resumes
    psns2 = np.array([15, 14, 16], np.uint32)
    out, passed = mod.run_pass(rb, psns2, np.array([1, 0, 2], np.uint64),
                               np.array([30, 31, 32], np.int64), np.zeros(3, np.uint8))
    assert out.tolist() == [0, 1, 2] and passed == 1


def test_nogil_bad_time_changes_nothing(mod):
    rb = ReorderBuffer(8, 10)
    rb.insert(2, 2, 100)
    before = rb.stats, rb.head
    assert mod.bad_time(rb) == (True, -1)
    assert (rb.stats, rb.head) == before
    assert mod.deadline(rb) == 110


def test_nogil_queues_per_packet(mod):
    rq = ReorderQueues(3, 8, 50)
    qs = np.array([0, 0, 1, 2, 7, 1], np.uint32)
    psns = np.array([0, 1, 2, 1, 0, 0], np.uint32)
    handles = np.array([10, 11, 22, 31, 99, 20], np.uint64)
    st, h, q, d1, d2 = mod.queues_per_packet(rq, qs, psns, handles, 5, 55)
    assert st.tolist() == [0, 0, 0, 0, -1, 0]        # queue 7: PFO_ROB_EINVAL
    got = {}
    for hh, qq in zip(h.tolist(), q.tolist()):
        got.setdefault(qq, []).append(hh)
    assert got == {0: [10, 11], 1: [20, 22], 2: [31]}
    assert d1 == 5                                    # more was due at once
    assert d2 == 2**63 - 1 and rq.held == 0           # PFO_NS_NEVER


def test_nogil_queues(mod):
    rq = ReorderQueues(3, 8, 50)
    m = empty_meta(5)
    m["queue"] = [0, 1, 0, 2, 1]
    m["psn"] = [1, 0, 0, 3, 1]
    m["handle"] = [11, 20, 10, 99, 21]
    m["flags"] = [FLAG_PARA, FLAG_PARA, FLAG_PARA, 0, FLAG_PARA]
    h, q = mod.queues(rq, m, 7)
    got = {}
    for hh, qq in zip(h.tolist(), q.tolist()):
        got.setdefault(qq, []).append(hh)
    assert got == {-1: [99], 0: [10, 11], 1: [20, 21]}


@pytest.mark.parametrize("n_queues", [1, 3, 64, 1024])
def test_queue_headers_start_cache_lines_with_the_hot_fields_in_one(mod, n_queues):
    # ReorderQueues' block is aligned and its headers lie at a stride of
    # whole cache lines, so the fields of the common insert and drain (the
    # first 64 bytes of pfo_rob_t) are one line of every queue
    rq = ReorderQueues(n_queues, 256, 1000)
    addr, hot, size, word = mod.header_layout(rq)
    stride = -(-size // 64) * 64
    assert all(a % 64 == 0 for a in addr)
    assert [b - a for a, b in zip(addr, addr[1:])] == [stride] * (n_queues - 1)
    assert all(0 <= off and off + (8 if name in ("slots", "order", "last_ns") else 4) <= 64
               for name, off in hot.items() if not name.startswith("st."))
    assert hot["st.inserted"] + word <= 64 and hot["st.released"] + word <= 64
