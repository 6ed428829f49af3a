"""Reorder buffer with timeout, drop flag and wrap-around; multi-queue egress."""

cimport cython
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t, int32_t, int64_t
from cpython.buffer cimport Py_buffer
from libc.stdlib cimport malloc, calloc, free, realloc
from libc.string cimport memcpy, memmove, memset

from collections import namedtuple
from enum import IntEnum

import numpy as np

from paraflowo._checks import require_int, require_pow2
from paraflowo.metadata import META_DTYPE
from paraflowo._core._types cimport PFO_FLAG_PARA, PFO_FLAG_DROP
from paraflowo._core._boundary cimport (
    PFO_INT64_MAX, PFO_OPTIONAL, PFO_UINT64_MAX, PFO_WRITABLE, pfo_bind, pfo_bound, pfo_check_len,
    pfo_enter, pfo_guard, pfo_leave, pfo_len, pfo_not_backwards, pfo_raise_backwards,
    pfo_int, pfo_raise_len, pfo_raise_part, pfo_release, pfo_time, pfo_uint)


class ReorderStatus(IntEnum):
    """Outcome of inserting one packet into a reorder buffer.

    ``BUFFERED``
        Held; a later drain releases it in PSN order.
    ``LATE``
        Its PSN is behind the head (already released or skipped).  Not kept:
        the caller owns the packet and either forwards it out of order (the
        flow sees one reordered packet) or drops it (the flow sees a loss that
        its transport repairs); ParaFlowO only reports it.
    ``DUPLICATE``
        Its PSN is already held (or tombstoned).  Not kept: the caller frees it.
    ``DROPPED``
        ``dropped=True`` was accepted: a tombstone holds the slot and the head
        passes over it without emitting anything.  The caller frees the packet.
    ``FULL``
        Not accepted and nothing changed: the window had to advance over more
        held packets than its ready queue can take (two large jumps without a
        drain between them).  Drain, then insert again.
    ``PASSED``
        (:class:`ReorderQueues` only) the record is not tagged for reordering
        (no ``FLAG_PARA``) and went straight to the output.
    """

    BUFFERED = PFO_ROB_BUFFERED
    LATE = PFO_ROB_LATE
    DUPLICATE = PFO_ROB_DUPLICATE
    DROPPED = PFO_ROB_DROPPED
    FULL = PFO_ROB_FULL
    PASSED = PFO_ROB_PASSED


ReorderStats = namedtuple(
    "ReorderStats",
    ["inserted", "released", "dropped", "late", "duplicates", "skipped", "timeouts",
     "full", "held", "peak_held"],
)
ReorderStats.__doc__ = """Counters of a reorder buffer (or the sum over reorder queues).

``inserted == released + dropped + late + duplicates + held`` at every instant.
``skipped`` counts PSNs the head passed without a packet or tombstone;
``timeouts`` the times the timeout rule fired; ``full`` the refused inserts
(not in ``inserted``); ``held`` the packets held now, ``peak_held`` the most
ever held at once (for :class:`ReorderQueues`: the sum of the per-queue peaks).
"""

cdef tuple _STATUS = tuple(ReorderStatus)
cdef object _empty = np.empty
cdef object _u64 = np.dtype(np.uint64)
cdef object _EMPTY_U64 = np.empty(0, np.uint64)
_EMPTY_U64.flags.writeable = False
cdef int64_t _NS_MAX = 0x7FFFFFFFFFFFFFFF
cdef uint64_t _U64_MAX = 0xFFFFFFFFFFFFFFFF

# Scratch space for the per-call drain/flush methods, which run under the GIL
# (the GIL is what makes sharing it safe); grows to the largest held count seen.
# While it is in use (_scratch_busy), a re-entrant call (from a finalizer run
# by the allocation of the result array) drains straight into a new array.
cdef pfo_handle_t* _scratch = NULL
cdef Py_ssize_t _scratch_cap = 0
cdef bint _scratch_busy = False


cdef pfo_handle_t* _scratch_for(Py_ssize_t n) except NULL:
    global _scratch, _scratch_cap
    cdef pfo_handle_t* p
    if n > _scratch_cap or _scratch is NULL:
        if n < 1024:
            n = 1024
        p = <pfo_handle_t*>realloc(_scratch, n * sizeof(pfo_handle_t))
        if p is NULL:
            raise MemoryError(f"cannot allocate {n} handles")
        _scratch = p
        _scratch_cap = n
    return _scratch


cdef object _array_from(const pfo_handle_t* src, Py_ssize_t k):
    # a new uint64 array holding src[0:k] (a shared read-only empty one for k = 0)
    if k == 0:
        return _EMPTY_U64
    arr = _empty(k, _u64)
    cdef Py_buffer b
    pfo_bind(&b, arr, "out", _u64, PFO_WRITABLE)
    memcpy(b.buf, src, k * sizeof(pfo_handle_t))
    pfo_release(&b)
    return arr


cdef object _u32 = np.dtype(np.uint32)
cdef object _u8 = np.dtype(np.uint8)
cdef object _i32 = np.dtype(np.int32)
cdef object _bool = np.dtype(np.bool_)
cdef object _ndarray = np.ndarray


cdef object _release_array(pfo_rob_t* r, pfo_ns_t now, bint flush):
    # drain (or flush) r into a new uint64 array of exactly the released handles
    global _scratch_busy
    cdef Py_ssize_t cap = pfo_rob_held(r), n
    cdef pfo_handle_t* buf
    cdef Py_buffer b
    if _scratch_busy:
        arr = _empty(cap + 1, _u64)
        pfo_bind(&b, arr, "out", _u64, PFO_WRITABLE)
        buf = <pfo_handle_t*>b.buf
        n = pfo_rob_flush(r, buf, cap) if flush else pfo_rob_drain(r, now, buf, cap)
        pfo_release(&b)
        return arr[:n]
    _scratch_busy = True
    try:
        buf = _scratch_for(cap)
        n = pfo_rob_flush(r, buf, cap) if flush else pfo_rob_drain(r, now, buf, cap)
        return _array_from(buf, n)
    finally:
        _scratch_busy = False


# ---------------------------------------------------------------------------
# C core
# ---------------------------------------------------------------------------

cdef int pfo_rob_init(pfo_rob_t* r, uint32_t window, pfo_ns_t timeout_ns,
                      int psn_bits, pfo_psn_t first_psn) except -1 nogil:
    cdef uint32_t i
    memset(r, 0, sizeof(pfo_rob_t))
    r.slots = <pfo_rob_slot_t*>malloc(window * sizeof(pfo_rob_slot_t))
    r.order = <pfo_psn_t*>malloc(2 * <size_t>window * sizeof(pfo_psn_t))
    r.ready = <pfo_handle_t*>malloc(window * sizeof(pfo_handle_t))
    if r.slots is NULL or r.order is NULL or r.ready is NULL:
        pfo_rob_free(r)
        with gil:
            raise MemoryError(f"cannot allocate a reorder buffer of window {window}")
    for i in range(window):
        r.slots[i].ts = PFO_ROB_SLOT_EMPTY
        r.slots[i].handle = 0
    r.window = window
    r.mask = window - 1
    r.order_mask = 2 * window - 1
    r.psn_mask = <uint32_t>((<uint64_t>1 << psn_bits) - 1)
    r.half = <uint32_t>1 << (psn_bits - 1)
    r.head = first_psn
    r.timeout_ns = timeout_ns
    return 0


cdef void pfo_rob_free(pfo_rob_t* r) noexcept nogil:
    free(r.slots)
    free(r.order)
    free(r.ready)
    r.slots = NULL
    r.order = NULL
    r.ready = NULL
    r.window = 0


cdef inline void _order_clean(pfo_rob_t* r) noexcept nogil:
    # Pop FIFO entries whose packet left the slots (released or moved to the
    # ready FIFO), so the front is the earliest-inserted packet still in slots.
    # An entry e is live iff e is inside the window and its slot holds a
    # packet: every entry behind a live front was inserted after it, within
    # less than one window of it, so a released entry is always outside the
    # window (never mistaken for a re-inserted PSN), and at most 2*window
    # entries exist at once.
    cdef const pfo_psn_t* order = r.order
    cdef const pfo_rob_slot_t* slots = r.slots
    cdef uint32_t oh = r.order_head, on = r.order_n, omask = r.order_mask
    cdef uint32_t pmask = r.psn_mask, window = r.window, mask = r.mask
    cdef pfo_psn_t head = r.head, e
    while on:
        e = order[oh]
        if ((e - head) & pmask) < window and slots[e & mask].ts >= 0:
            break
        oh = (oh + 1) & omask
        on -= 1
    r.order_head = oh
    r.order_n = on


cdef int pfo_rob_insert_slow(pfo_rob_t* r, pfo_psn_t psn, pfo_handle_t handle,
                             pfo_ns_t now, bint dropped) noexcept nogil:
    # Worked example (window 4, head 0, PSNs 0 and 2 held): PSN 5 is 5 ahead,
    # so the head moves to 5 - 4 + 1 = 2; PSN 0 goes to the ready FIFO, PSN 1
    # is skipped, PSN 2 stays in its slot; 5 is then inside [2, 6).
    cdef uint32_t d = (psn - r.head) & r.psn_mask
    cdef uint32_t adv, n_scan, i, moving = 0
    cdef pfo_rob_slot_t* s
    if d >= r.half:
        r.st.inserted += 1
        r.st.late += 1
        return PFO_ROB_LATE
    adv = d - r.window + 1          # how far the head moves
    n_scan = adv if adv < r.window else r.window
    if r.in_ring + r.n_tomb:
        if adv >= r.window:
            moving = r.in_ring
        else:
            for i in range(n_scan):
                if r.slots[(r.head + i) & r.mask].ts >= 0:
                    moving += 1
        if moving > r.window - r.ready_n:
            r.st.full += 1
            return PFO_ROB_FULL
        for i in range(n_scan):
            s = &r.slots[(r.head + i) & r.mask]
            if s.ts >= 0:
                r.ready[(r.ready_head + r.ready_n) & r.mask] = s.handle
                r.ready_n += 1
                r.in_ring -= 1
            elif s.ts == PFO_ROB_SLOT_TOMB:
                r.n_tomb -= 1
            else:
                r.st.skipped += 1
            s.ts = PFO_ROB_SLOT_EMPTY
        r.st.skipped += adv - n_scan
    else:
        r.st.skipped += adv
    r.head = (psn - r.window + 1) & r.psn_mask
    _order_clean(r)
    return pfo_rob_insert(r, psn, handle, now, dropped)


cdef inline int _insert_or_drain(pfo_rob_t* r, pfo_psn_t psn, pfo_handle_t handle,
                                 pfo_ns_t now, bint dropped, pfo_handle_t* out,
                                 Py_ssize_t cap, Py_ssize_t* k) noexcept nogil:
    # pfo_rob_insert; if it is FULL and out (not NULL) has room, drain into
    # out[k:cap] (k advances) and insert again: a burst with an output never
    # refuses a packet it has room to make space for.
    cdef int st = pfo_rob_insert(r, psn, handle, now, dropped)
    if st == PFO_ROB_FULL and out is not NULL and k[0] < cap:
        r.st.full -= 1                  # not refused after all
        k[0] += pfo_rob_drain(r, now, out + k[0], cap - k[0])
        st = pfo_rob_insert(r, psn, handle, now, dropped)
    return st


cdef Py_ssize_t _insert_run(pfo_rob_t* r, const pfo_psn_t* psns,
                            const pfo_handle_t* handles, Py_ssize_t n, pfo_ns_t now,
                            const uint8_t* dropped, uint8_t* status_out,
                            pfo_handle_t* out, Py_ssize_t cap, Py_ssize_t* k) noexcept nogil:
    # pfo_rob_insert on n packets, with the ring's fields held in locals (the
    # in-window, not-dropped case never writes r until the end of the run).
    # With out (not NULL), a FULL insert drains into out[k:cap] first.
    # Preconditions: now >= r.last_ns, every PSN < 2**psn_bits.
    cdef pfo_rob_slot_t* slots = r.slots
    cdef pfo_rob_slot_t* s
    cdef pfo_psn_t* order = r.order
    cdef uint32_t mask = r.mask, pmask = r.psn_mask, window = r.window
    cdef uint32_t omask = r.order_mask
    cdef pfo_psn_t head = r.head, p
    cdef uint32_t otail = (r.order_head + r.order_n) & omask
    cdef Py_ssize_t i, added = 0, dups = 0, buffered = 0
    cdef int st
    r.last_ns = now
    for i in range(n):
        p = psns[i]
        if ((p - head) & pmask) >= window or (dropped is not NULL and dropped[i]):
            # general path: publish the locals, insert, reload
            r.order_n += <uint32_t>added
            r.in_ring += <uint32_t>added
            r.st.inserted += added + dups
            r.st.duplicates += dups
            buffered += added
            added = dups = 0
            st = _insert_or_drain(r, p, handles[i], now, dropped is not NULL and dropped[i],
                                  out, cap, k)
            buffered += st == PFO_ROB_BUFFERED
            head = r.head
            otail = (r.order_head + r.order_n) & omask
        else:
            s = &slots[p & mask]
            if s.ts != PFO_ROB_SLOT_EMPTY:
                dups += 1
                st = PFO_ROB_DUPLICATE
            else:
                s.handle = handles[i]
                s.ts = now
                order[otail] = p
                otail = (otail + 1) & omask
                added += 1
                st = PFO_ROB_BUFFERED
        if status_out is not NULL:
            status_out[i] = <uint8_t>st
    r.order_n += <uint32_t>added
    r.in_ring += <uint32_t>added
    r.st.inserted += added + dups
    r.st.duplicates += dups
    return buffered + added


cdef inline bint _psns_fit(const pfo_rob_t* r, const pfo_psn_t* psns, Py_ssize_t n) noexcept nogil:
    cdef pfo_psn_t wide = 0
    cdef Py_ssize_t i
    if r.psn_mask == <uint32_t>0xFFFFFFFFu:
        return True
    for i in range(n):
        wide |= psns[i]
    return (wide & ~r.psn_mask) == 0


cdef inline Py_ssize_t _insert_fast(pfo_rob_slot_t* slots, pfo_psn_t* order,
                                    uint32_t mask, uint32_t pmask, uint32_t window,
                                    uint32_t omask, pfo_psn_t head, uint32_t* otail,
                                    const pfo_psn_t* psns, const pfo_handle_t* handles,
                                    Py_ssize_t i, Py_ssize_t n, pfo_ns_t now,
                                    Py_ssize_t* dups) noexcept nogil:
    # Insert psns[i:] while they fall inside the window (no call, no store to
    # the ring's header: everything stays in registers).  Returns the index
    # of the first packet not handled (n, or a PSN outside the window).
    cdef pfo_rob_slot_t* s
    cdef pfo_psn_t p
    cdef uint32_t t = otail[0]
    while i < n:
        p = psns[i]
        if ((p - head) & pmask) >= window:
            break
        s = &slots[p & mask]
        if s.ts == PFO_ROB_SLOT_EMPTY:
            s.handle = handles[i]
            s.ts = now
            order[t & omask] = p
            t += 1
        else:
            dups[0] += 1
        i += 1
    otail[0] = t
    return i


cdef Py_ssize_t _insert_plain(pfo_rob_t* r, const pfo_psn_t* psns,
                              const pfo_handle_t* handles, Py_ssize_t n, pfo_ns_t now,
                              pfo_handle_t* out, Py_ssize_t cap, Py_ssize_t* k) noexcept nogil:
    # _insert_run without drop flags or statuses: the hot loop of the burst paths
    cdef uint32_t otail, added
    cdef Py_ssize_t i = 0, dups = 0, buffered = 0
    r.last_ns = now
    while True:
        otail = r.order_head + r.order_n
        dups = 0
        i = _insert_fast(r.slots, r.order, r.mask, r.psn_mask, r.window, r.order_mask,
                         r.head, &otail, psns, handles, i, n, now, &dups)
        added = otail - (r.order_head + r.order_n)
        r.order_n += added
        r.in_ring += added
        r.st.inserted += added + dups
        r.st.duplicates += dups
        buffered += added
        if i >= n:
            return buffered
        # a PSN outside the window: the general path (LATE or window advance)
        buffered += _insert_or_drain(r, psns[i], handles[i], now, False,
                                     out, cap, k) == PFO_ROB_BUFFERED
        i += 1


cdef Py_ssize_t pfo_rob_insert_burst(pfo_rob_t* r, const pfo_psn_t* psns,
                                     const pfo_handle_t* handles, Py_ssize_t n,
                                     pfo_ns_t now, const uint8_t* dropped,
                                     uint8_t* status_out) noexcept nogil:
    cdef Py_ssize_t k = 0
    if now < r.last_ns or not _psns_fit(r, psns, n):
        return -1
    if dropped is NULL and status_out is NULL:
        return _insert_plain(r, psns, handles, n, now, NULL, 0, &k)
    return _insert_run(r, psns, handles, n, now, dropped, status_out, NULL, 0, &k)


cdef Py_ssize_t pfo_rob_process(pfo_rob_t* r, const pfo_psn_t* psns,
                                const pfo_handle_t* handles, Py_ssize_t n, pfo_ns_t now,
                                const uint8_t* dropped, uint8_t* status_out,
                                Py_ssize_t drain_every, pfo_handle_t* out,
                                Py_ssize_t cap) noexcept nogil:
    cdef Py_ssize_t i = 0, j, k = 0
    if now < r.last_ns or not _psns_fit(r, psns, n):
        return -1
    if drain_every <= 0 or drain_every > n:
        drain_every = n
    while True:
        j = n - i if n - i < drain_every else drain_every
        if dropped is NULL and status_out is NULL:
            _insert_plain(r, psns + i, handles + i, j, now, out, cap, &k)
        else:
            _insert_run(r, psns + i, handles + i, j, now,
                        NULL if dropped is NULL else dropped + i,
                        NULL if status_out is NULL else status_out + i, out, cap, &k)
        i += j
        k += pfo_rob_drain(r, now, out + k, cap - k)
        if i >= n:
            return k


cdef inline void _peak(pfo_rob_t* r) noexcept nogil:
    # held only grows between drains, so its maximum is reached just before one
    if r.in_ring + r.ready_n > r.st.peak_held:
        r.st.peak_held = r.in_ring + r.ready_n


cdef inline Py_ssize_t _release_ready(pfo_rob_t* r, pfo_handle_t* out, Py_ssize_t cap) noexcept nogil:
    cdef Py_ssize_t n = 0
    while r.ready_n and n < cap:
        out[n] = r.ready[r.ready_head]
        n += 1
        r.ready_head = (r.ready_head + 1) & r.mask
        r.ready_n -= 1
    r.st.released += n
    return n


cdef inline pfo_handle_t* _release_run(pfo_rob_t* r, pfo_handle_t* o,
                                      pfo_handle_t* oend) noexcept nogil:
    # Release the contiguous run at the head into o[0:oend-o]: packets out,
    # tombstones passed over; stops at a missing PSN or a full output.
    # Returns the new end of the output.
    cdef pfo_rob_slot_t* slots = r.slots
    cdef pfo_rob_slot_t* s
    cdef uint32_t mask = r.mask
    cdef pfo_psn_t head = r.head
    cdef uint32_t occupied = r.in_ring + r.n_tomb, moved = 0
    cdef pfo_handle_t* o0 = o
    cdef pfo_ns_t ts
    while moved < occupied:
        s = &slots[(head + moved) & mask]
        ts = s.ts
        if ts < 0:
            if ts == PFO_ROB_SLOT_EMPTY:
                break
        else:
            if o == oend:
                break
            o[0] = s.handle
            o += 1
        s.ts = PFO_ROB_SLOT_EMPTY
        moved += 1
    r.head = (head + moved) & r.psn_mask
    r.in_ring -= <uint32_t>(o - o0)
    r.n_tomb -= moved - <uint32_t>(o - o0)
    return o


cdef Py_ssize_t pfo_rob_drain(pfo_rob_t* r, pfo_ns_t now, pfo_handle_t* out,
                              Py_ssize_t cap) noexcept nogil:
    cdef Py_ssize_t n
    cdef pfo_rob_slot_t* slots = r.slots
    cdef pfo_handle_t* o
    cdef pfo_handle_t* oend = out + cap
    cdef uint32_t mask = r.mask, pmask = r.psn_mask
    cdef pfo_ns_t limit
    if now < r.last_ns:
        return -1
    r.last_ns = now
    _peak(r)
    n = _release_ready(r, out, cap)
    if r.ready_n:
        return n
    limit = now - r.timeout_ns       # no overflow: 0 <= now, timeout <= INT64_MAX
    o = out + n
    while True:
        o = _release_run(r, o, oend)
        _order_clean(r)
        # a full output stops here (the caller calls again while n == cap)
        if o == oend or r.order_n == 0 or slots[r.order[r.order_head] & mask].ts > limit:
            break
        # timeout: the earliest-inserted packet held is too old; skip the
        # missing PSNs at the head (there is a packet further on: that one)
        r.st.timeouts += 1
        while slots[r.head & mask].ts == PFO_ROB_SLOT_EMPTY:
            r.head = (r.head + 1) & pmask
            r.st.skipped += 1
    r.st.released += (o - out) - n
    return o - out


cdef Py_ssize_t pfo_rob_flush(pfo_rob_t* r, pfo_handle_t* out, Py_ssize_t cap) noexcept nogil:
    cdef Py_ssize_t n, start
    cdef pfo_rob_slot_t* s
    _peak(r)
    n = _release_ready(r, out, cap)
    if r.ready_n:
        return n
    start = n
    while r.in_ring + r.n_tomb:
        s = &r.slots[r.head & r.mask]
        if s.ts >= 0:
            if n >= cap:
                break
            out[n] = s.handle
            n += 1
            r.in_ring -= 1
        elif s.ts == PFO_ROB_SLOT_TOMB:
            r.n_tomb -= 1
        else:
            r.st.skipped += 1
        s.ts = PFO_ROB_SLOT_EMPTY
        r.head = (r.head + 1) & r.psn_mask
    r.st.released += n - start
    _order_clean(r)
    return n


cdef inline void _robq_deactivate(pfo_robq_t* q, uint32_t qid) noexcept nogil:
    cdef uint32_t i = q.pos[qid], last
    q.is_active[qid] = 0
    q.n_active -= 1
    last = q.active[q.n_active]
    q.active[i] = last
    q.pos[last] = i


cdef inline Py_ssize_t _robq_drain_one(pfo_robq_t* q, uint32_t qid, pfo_ns_t now,
                                       pfo_handle_t* out, int32_t* out_queue,
                                       Py_ssize_t cap) noexcept nogil:
    # drain queue qid into out[0:cap]; refresh its cached deadline, or take it
    # out of the active set when it holds nothing
    cdef pfo_rob_t* r = q.robs[qid]
    cdef Py_ssize_t c = pfo_rob_drain(r, now, out, cap), j
    if out_queue is not NULL:
        for j in range(c):
            out_queue[j] = <int32_t>qid
    if pfo_rob_held(r) == 0:
        if q.is_active[qid]:
            _robq_deactivate(q, qid)
    else:
        q.deadline[qid] = pfo_rob_next_deadline(r)
        if q.deadline[qid] < q.min_deadline:
            q.min_deadline = q.deadline[qid]
    return c


cdef Py_ssize_t pfo_robq_drain(pfo_robq_t* q, pfo_ns_t now, pfo_handle_t* out,
                               int32_t* out_queue, Py_ssize_t cap) noexcept nogil:
    cdef uint32_t i, qid
    cdef Py_ssize_t k = 0
    cdef pfo_ns_t newmin
    if now < q.last_ns:
        return -1
    q.last_ns = now
    # 1. the queues inserted into since their last drain, in the order of
    # their first insert
    i = 0
    while i < q.n_touched and k < cap:
        qid = q.touched[i]
        k += _robq_drain_one(q, qid, now, out + k,
                             NULL if out_queue is NULL else out_queue + k, cap - k)
        if k == cap and pfo_rob_next_deadline(q.robs[qid]) <= now:
            break                       # full output: qid stays touched
        q.is_touched[qid] = 0
        i += 1
    if i:
        memmove(q.touched, q.touched + i, (q.n_touched - i) * sizeof(uint32_t))
        q.n_touched -= i
    if q.n_touched or k == cap or now < q.min_deadline:
        return k
    # 2. timeouts of the other active queues (only when the earliest is due)
    newmin = PFO_NS_NEVER
    i = 0
    while i < q.n_active:
        qid = q.active[i]
        if q.deadline[qid] <= now and k < cap:
            k += _robq_drain_one(q, qid, now, out + k,
                                 NULL if out_queue is NULL else out_queue + k, cap - k)
            if not q.is_active[qid]:
                continue                # swapped out: active[i] is another queue now
        if q.deadline[qid] < newmin:
            newmin = q.deadline[qid]
        i += 1
    q.min_deadline = newmin
    return k


cdef Py_ssize_t pfo_robq_process(pfo_robq_t* q, const pfo_meta_t* meta, Py_ssize_t n,
                                 pfo_ns_t now, pfo_handle_t* out, int32_t* out_queue,
                                 Py_ssize_t cap, uint8_t* status_out,
                                 Py_ssize_t drain_every) noexcept nogil:
    cdef Py_ssize_t i, k = 0, d, next_drain
    cdef const pfo_meta_t* m
    cdef pfo_rob_t* r
    cdef int st
    if now < q.last_ns:
        return -1
    for i in range(n):
        m = &meta[i]
        if m.flags & PFO_FLAG_PARA:
            if m.queue >= q.n_queues:
                return -1
            r = q.robs[m.queue]
            if m.psn & ~r.psn_mask:
                return -1
    if drain_every <= 0 or drain_every > n:
        drain_every = n
    next_drain = drain_every
    for i in range(n):
        m = &meta[i]
        if m.flags & PFO_FLAG_PARA:
            st = pfo_robq_insert(q, m.queue, m.psn, m.handle, now,
                                 (m.flags & PFO_FLAG_DROP) != 0)
            if st == PFO_ROB_FULL and k < cap - (n - i):
                # drain this queue first (leaving room for the records still
                # to come), then insert again: nothing refused while out has room
                q.robs[m.queue].st.full -= 1
                k += _robq_drain_one(q, m.queue, now, out + k,
                                     NULL if out_queue is NULL else out_queue + k,
                                     cap - k - (n - i))
                st = pfo_robq_insert(q, m.queue, m.psn, m.handle, now,
                                     (m.flags & PFO_FLAG_DROP) != 0)
        else:
            out[k] = m.handle
            if out_queue is not NULL:
                out_queue[k] = -1
            k += 1
            st = PFO_ROB_PASSED
        if status_out is not NULL:
            status_out[i] = <uint8_t>st
        if i + 1 == next_drain and i + 1 < n:
            next_drain += drain_every
            # leave room for the pass-throughs of the records still to come
            k += pfo_robq_drain(q, now, out + k,
                                NULL if out_queue is NULL else out_queue + k,
                                cap - k - (n - i - 1))
    d = pfo_robq_drain(q, now, out + k, NULL if out_queue is NULL else out_queue + k, cap - k)
    return k + d


# ---------------------------------------------------------------------------
# Python boundary helpers
# ---------------------------------------------------------------------------

cdef bint _as_flag(str name, object value) except -1:
    if value is True or value is False:
        return value is True
    if isinstance(value, np.bool_):
        return bool(value)
    raise TypeError(f"{name} must be a bool, got {value!r}")


cdef object _as_u8_flags(object dropped):
    # a bool array viewed as uint8 (what the core reads); anything else as is,
    # for pfo_bind to accept (uint8) or name the problem
    if isinstance(dropped, _ndarray) and dropped.dtype == _bool:
        return dropped.view(_u8)
    if dropped is not None and not isinstance(dropped, _ndarray):
        raise TypeError(f"dropped must be None or a numpy.ndarray of dtype bool or uint8, "
                        f"got {type(dropped).__name__}")
    return dropped


cdef Py_ssize_t _every(object drain_every) except -1:
    # drain_every: any integer >= 0; 0 and values beyond any burst (> 2**63 - 1
    # included) both mean "only at the end" (returned as 0)
    if type(drain_every) is int and 0 <= drain_every <= PFO_INT64_MAX:
        return drain_every
    v = require_int("drain_every", drain_every, 0)
    return v if v <= PFO_INT64_MAX else 0


cdef int _out_room(str name, Py_ssize_t cap, Py_ssize_t need, str what) except -1:
    # Without status_out a burst must not be able to refuse a packet (FULL)
    # unseen: its output must hold everything it could release.
    if cap < need:
        raise ValueError(f"{name} must have length >= {need} ({what}; or pass status_out "
                         f"to learn which packets a shorter {name} refuses), got {cap}")
    return 0


cdef _bad_psn(str name, object psns, uint32_t psn_mask, int psn_bits):
    bad = np.flatnonzero(psns > psn_mask)[0]
    raise ValueError(f"{name} must be in [0, 2**{psn_bits} - 1], "
                     f"got {int(psns[bad])} at index {bad}")


cdef object _make_stats(pfo_rob_stats_t st, uint64_t held):
    return ReorderStats(st.inserted, st.released, st.dropped, st.late, st.duplicates,
                        st.skipped, st.timeouts, st.full, held, max(held, st.peak_held))


# ---------------------------------------------------------------------------
# ReorderBuffer
# ---------------------------------------------------------------------------

@cython.final
cdef class ReorderBuffer:
    """Reorder buffer for one reorder queue: a ring of ``window`` slots.

    Packets are inserted by PSN (packet sequence number) in any order and
    released in PSN order by :meth:`drain`.  A packet missing at the head
    stalls the output until the earliest-inserted packet still held has
    waited ``timeout_ns``; then the hole is skipped.

    Parameters
    ----------
    window : int
        Slots, a power of two in ``[2, min(2**24, 2**(psn_bits - 1))]``: PSNs
        ``[head, head + window)`` can be held.
    timeout_ns : int or None
        How long the earliest-inserted packet held may wait for a missing
        PSN, in ns (>= 0).  ``None``: never time out (holes are passed only
        when the window advances, or by :meth:`flush`).
    psn_bits : int, default 32
        PSN width, 8 to 32; PSNs compare with serial-number arithmetic modulo
        ``2**psn_bits``.
    first_psn : int, default 0
        The first PSN expected (the head starts here; it is never learned
        from arrivals).

    Raises
    ------
    TypeError
        A non-integer argument.
    ValueError
        A window that is not a power of two in range, a negative timeout,
        ``psn_bits`` outside [8, 32], ``first_psn`` outside the PSN space.

    Notes
    -----
    Serial arithmetic: a PSN at distance ``d = (psn - head) mod 2**psn_bits``
    is inside the window if ``d < window``, too far ahead if ``window <= d <
    2**(psn_bits-1)``, and behind the head (``LATE``) otherwise.  A PSN too far
    ahead advances the window just enough to hold it: the held packets it
    passes are released (in order) by the next drain, the PSNs without a
    packet are counted as ``skipped``.

    Memory: ``32 * window`` bytes (slots of handle and insert time, the
    insertion-order FIFO that finds the earliest-inserted packet in O(1)
    amortised, the ready FIFO).  Time must not go backwards: every
    ``now_ns`` is at least the previous one.  One thread at a time.

    Examples
    --------
    >>> from paraflowo import ReorderBuffer, ReorderStatus
    >>> rb = ReorderBuffer(window=8, timeout_ns=1000)
    >>> [rb.insert(p, 100 + p, now_ns=0).name for p in (1, 0, 0)]
    ['BUFFERED', 'BUFFERED', 'DUPLICATE']
    >>> rb.drain(now_ns=10).tolist()
    [100, 101]
    >>> rb.insert(3, 103, now_ns=20) is ReorderStatus.BUFFERED    # 2 is missing
    True
    >>> rb.drain(now_ns=500).tolist(), rb.drain(now_ns=1020).tolist()
    ([], [103])
    >>> rb.insert(2, 102, now_ns=1030).name
    'LATE'
    """

    def __cinit__(self, window, timeout_ns, psn_bits=32, first_psn=0):
        bits = require_int("psn_bits", psn_bits, 8, 32)
        w = require_pow2("window", window, 2, min(1 << 24, 1 << (bits - 1)))
        t = _NS_MAX if timeout_ns is None else require_int("timeout_ns", timeout_ns, 0, _NS_MAX)
        first = require_int("first_psn", first_psn, 0, (1 << bits) - 1)
        pfo_rob_init(&self.rob, w, t, bits, first)
        self.psn_bits = bits
        self.first_psn = first

    def __dealloc__(self):
        pfo_rob_free(&self.rob)

    def __repr__(self):
        t = None if self.rob.timeout_ns == _NS_MAX else self.rob.timeout_ns
        return (f"ReorderBuffer(window={self.rob.window}, timeout_ns={t}, "
                f"psn_bits={self.psn_bits}, first_psn={self.first_psn})")

    # -- C-level API (see reorder.pxd) -------------------------------------

    cdef int c_insert(self, pfo_psn_t psn, pfo_handle_t handle, pfo_ns_t now_ns,
                      bint dropped) noexcept nogil:
        return pfo_rob_insert(&self.rob, psn, handle, now_ns, dropped)

    cdef Py_ssize_t c_drain(self, pfo_ns_t now_ns, pfo_handle_t* out,
                            Py_ssize_t cap) noexcept nogil:
        return pfo_rob_drain(&self.rob, now_ns, out, cap)

    cdef Py_ssize_t c_flush(self, pfo_handle_t* out, Py_ssize_t cap) noexcept nogil:
        return pfo_rob_flush(&self.rob, out, cap)

    cdef pfo_ns_t c_next_deadline(self) noexcept nogil:
        return pfo_rob_next_deadline(&self.rob)

    # -- guards --------------------------------------------------------------

    cdef int _readable(self) except -1:
        # RuntimeError while a GIL-free burst runs on this buffer or its owner
        pfo_guard(self.busy, self)
        if self._owner_busy != NULL:
            pfo_guard(self._owner_busy[0], self._part_of)
        return 0

    cdef int _mutable(self, str use) except -1:
        # as _readable, and ValueError for a part of a ReorderQueues
        if self._part_of is not None:
            pfo_raise_part(self, self._part_of, use)
        pfo_guard(self.busy, self)
        return 0

    # -- properties ---------------------------------------------------------

    @property
    def window(self):
        """Number of slots (a power of two)."""
        return self.rob.window

    @property
    def timeout_ns(self):
        """The timeout in ns, or ``None`` for no timeout."""
        return None if self.rob.timeout_ns == _NS_MAX else self.rob.timeout_ns

    @property
    def head(self):
        """The next PSN to release (the head of the window)."""
        self._readable()
        return self.rob.head

    @property
    def held(self):
        """Packets held now (not yet released)."""
        self._readable()
        return pfo_rob_held(&self.rob)

    @property
    def last_ns(self):
        """The latest time seen; earlier times are refused."""
        self._readable()
        return self.rob.last_ns

    @property
    def next_deadline(self):
        """Earliest time at which :meth:`drain` has something to do.

        :attr:`last_ns` if packets can be released now, the timeout deadline
        of the earliest-inserted packet held otherwise, ``None`` if nothing is
        held (or there is no timeout and the head is missing).
        """
        self._readable()
        cdef pfo_ns_t d = pfo_rob_next_deadline(&self.rob)
        return None if d == PFO_NS_NEVER else d

    @property
    def stats(self):
        """A :class:`ReorderStats` snapshot of the counters."""
        self._readable()
        return _make_stats(self.rob.st, pfo_rob_held(&self.rob))

    @property
    def nbytes(self):
        """Bytes of memory this buffer owns (``32 * window``)."""
        return self.rob.window * (sizeof(pfo_rob_slot_t) + 2 * sizeof(pfo_psn_t)
                                  + sizeof(pfo_handle_t))

    # -- per packet -----------------------------------------------------------

    def insert(self, psn, handle, now_ns, dropped=False):
        """Insert one packet (or its drop tombstone).

        Parameters
        ----------
        psn : int
            Its PSN, in ``[0, 2**psn_bits)``.
        handle : int
            Its handle (uint64: a packet id, a store index, a pointer).
        now_ns : int
            The current time, ns; not earlier than the previous call's.
        dropped : bool, default False
            The VNF's drop flag: hold a tombstone instead, which the head
            passes over without emitting it.

        Returns
        -------
        ReorderStatus
            ``BUFFERED``, ``DROPPED``, ``LATE``, ``DUPLICATE`` or ``FULL``
            (see :class:`ReorderStatus` for who owns the packet after each).

        Raises
        ------
        TypeError
            A non-integer argument or a non-bool ``dropped``.
        ValueError
            ``psn``, ``handle`` or ``now_ns`` out of range, ``now_ns``
            earlier than :attr:`last_ns`, or this buffer is a part of a
            :class:`ReorderQueues` (insert through the queues).  Nothing
            changes.
        RuntimeError
            A burst on this buffer is running in another thread.
        """
        self._mutable("ReorderQueues.insert")
        cdef bint d = False if dropped is False else _as_flag("dropped", dropped)
        cdef pfo_psn_t p = <pfo_psn_t>pfo_uint("psn", psn, 0, self.rob.psn_mask)
        cdef pfo_handle_t h = pfo_uint("handle", handle, 0, PFO_UINT64_MAX)
        cdef pfo_ns_t t = pfo_time("now_ns", now_ns)
        pfo_not_backwards("now_ns", t, self.rob.last_ns)
        return _STATUS[pfo_rob_insert(&self.rob, p, h, t, d)]

    def drain(self, now_ns):
        """Release what is ready at ``now_ns``, in PSN order.

        Releases the packets the head already passed, then the contiguous run
        at the head; then, while the earliest-inserted packet still held was
        inserted at or before ``now_ns - timeout_ns``, skips the missing PSNs
        at the head and continues.  Afterwards no held packet has waited
        ``timeout_ns`` or more.

        Parameters
        ----------
        now_ns : int
            The current time, ns; not earlier than :attr:`last_ns`.

        Returns
        -------
        numpy.ndarray
            ``uint64`` handles, in release order (a new array; when nothing
            is released, a shared read-only empty one).

        Raises
        ------
        TypeError, ValueError
            A bad ``now_ns`` or one earlier than :attr:`last_ns`, or this
            buffer is a part of a :class:`ReorderQueues`.
        RuntimeError
            A burst on this buffer is running in another thread.
        """
        self._mutable("ReorderQueues.drain")
        cdef pfo_ns_t t = pfo_time("now_ns", now_ns)
        pfo_not_backwards("now_ns", t, self.rob.last_ns)
        return _release_array(&self.rob, t, False)

    def drain_into(self, now_ns, out):
        """Like :meth:`drain`, writing into ``out``; returns how many were written.

        Parameters
        ----------
        now_ns : int
            The current time, ns.
        out : numpy.ndarray
            1-D C-contiguous writable ``uint64``.  If it is too short, nothing
            is lost: the rest stays held, in order, for the next call (call
            again while the return value equals ``len(out)``).

        Returns
        -------
        int
            Handles written to ``out[:n]``.

        Raises
        ------
        TypeError, ValueError
            As :meth:`drain`, or a bad ``out``.
        RuntimeError
            A burst on this buffer is running in another thread.
        """
        self._mutable("ReorderQueues.drain_into")
        cdef pfo_ns_t t = pfo_time("now_ns", now_ns)
        cdef Py_buffer bo
        cdef Py_ssize_t n
        pfo_bind(&bo, out, "out", _u64, PFO_WRITABLE)
        try:
            pfo_not_backwards("now_ns", t, self.rob.last_ns)
            pfo_enter(&self.busy, self)
            with nogil:
                n = pfo_rob_drain(&self.rob, t, <pfo_handle_t*>bo.buf, pfo_len(&bo))
            pfo_leave(&self.busy)
        finally:
            pfo_release(&bo)
        return n

    def flush(self):
        """Release everything held, in PSN order, skipping holes and tombstones.

        For teardown: nothing stays stranded.  The head ends just past the
        last PSN held (or tombstoned); the holes before it count as skipped.

        Returns
        -------
        numpy.ndarray
            ``uint64`` handles, in PSN order.

        Raises
        ------
        ValueError
            This buffer is a part of a :class:`ReorderQueues`.
        RuntimeError
            A burst on this buffer is running in another thread.
        """
        self._mutable("ReorderQueues.flush")
        return _release_array(&self.rob, 0, True)

    # -- bursts ---------------------------------------------------------------

    cdef Py_ssize_t _burst(self, psns, handles, now_ns, dropped, status_out, out,
                           drain_every, bint process) except -2:
        # The one path of insert_burst (process False: returns the number
        # BUFFERED) and process_burst (returns the number written to out).
        # Every check runs before anything changes.
        cdef Py_buffer bp, bh, bd, bs, bo
        cdef Py_ssize_t n, r, ev = 0, cap = 0
        cdef pfo_handle_t* op = NULL
        cdef pfo_ns_t t = pfo_time("now_ns", now_ns)
        if process:
            ev = _every(drain_every)
        self._mutable("ReorderQueues.process_burst")
        bh.shape = bd.shape = bs.shape = bo.shape = NULL
        pfo_bind(&bp, psns, "psns", _u32, 0)
        try:
            pfo_bind(&bh, handles, "handles", _u64, 0)
            n = pfo_len(&bp)
            if pfo_len(&bh) != n:
                raise ValueError(f"psns and handles must have the same length, "
                                 f"got {n} and {pfo_len(&bh)}")
            if dropped is not None:
                pfo_bind(&bd, _as_u8_flags(dropped), "dropped", _u8, 0)
                pfo_check_len("dropped", pfo_len(&bd), n, n)
            pfo_bind(&bs, status_out, "status_out", _u8, PFO_WRITABLE | PFO_OPTIONAL)
            if pfo_bound(&bs):
                pfo_check_len("status_out", pfo_len(&bs), n, n)
            if process:
                pfo_bind(&bo, out, "out", _u64, PFO_WRITABLE)
                cap = pfo_len(&bo)
                op = <pfo_handle_t*>bo.buf
                if not pfo_bound(&bs):
                    _out_room("out", cap, n + <Py_ssize_t>pfo_rob_held(&self.rob),
                              "len(psns) + held")
            pfo_not_backwards("now_ns", t, self.rob.last_ns)
            pfo_enter(&self.busy, self)
            with nogil:
                if process:
                    r = pfo_rob_process(&self.rob, <const pfo_psn_t*>bp.buf,
                                        <const pfo_handle_t*>bh.buf, n, t,
                                        <const uint8_t*>bd.buf if pfo_bound(&bd) else NULL,
                                        <uint8_t*>bs.buf if pfo_bound(&bs) else NULL,
                                        ev, op, cap)
                else:
                    r = pfo_rob_insert_burst(&self.rob, <const pfo_psn_t*>bp.buf,
                                             <const pfo_handle_t*>bh.buf, n, t,
                                             <const uint8_t*>bd.buf if pfo_bound(&bd) else NULL,
                                             <uint8_t*>bs.buf if pfo_bound(&bs) else NULL)
            pfo_leave(&self.busy)
            if r < 0:       # a PSN too wide (nothing changed): name the first
                _bad_psn("psns", psns, self.rob.psn_mask, self.psn_bits)
            return r
        finally:
            pfo_release(&bo)
            pfo_release(&bs)
            pfo_release(&bd)
            pfo_release(&bh)
            pfo_release(&bp)

    def insert_burst(self, psns, handles, now_ns, dropped=None, status_out=None):
        """Insert a burst of packets at ``now_ns``, exactly as :meth:`insert` one by one.

        Parameters
        ----------
        psns : numpy.ndarray
            1-D C-contiguous ``uint32`` PSNs, each in ``[0, 2**psn_bits)``.
        handles : numpy.ndarray
            1-D C-contiguous ``uint64`` handles, same length.
        now_ns : int
            The time of the whole burst, ns.
        dropped : numpy.ndarray, optional
            ``bool`` or ``uint8`` drop flags, same length (nonzero: tombstone).
        status_out : numpy.ndarray, optional
            Writable ``uint8`` array of the same length for the statuses.

        Returns
        -------
        numpy.ndarray
            ``uint8`` statuses (values of :class:`ReorderStatus`): each
            packet's outcome, so a packet refused ``FULL`` is never silent.

        Raises
        ------
        TypeError, ValueError
            Wrong dtype, shape or contiguity, a PSN out of range, or a bad or
            backwards ``now_ns``: nothing is inserted.
        RuntimeError
            A burst on this buffer is running in another thread.
        """
        if status_out is None and isinstance(psns, _ndarray) and psns.ndim == 1:
            status_out = _empty(psns.shape[0], _u8)
        self._burst(psns, handles, now_ns, dropped, status_out, None, 0, False)
        return status_out

    def process_burst(self, psns, handles, now_ns, out, dropped=None, status_out=None,
                      drain_every=0):
        """Insert packets at ``now_ns`` and drain into ``out``, in one call.

        With ``drain_every=0`` this is :meth:`insert_burst` followed by
        :meth:`drain_into`.  With ``drain_every=k`` it drains after every
        ``k`` packets too, like a dataplane polling loop over bursts of
        ``k``: one call can then process millions of packets (a window
        advances only as far as the data does).  A packet whose insert would
        be ``FULL`` (the window must pass more held packets than the ready
        queue takes) is preceded by an extra drain into ``out``, so it is
        taken whenever ``out`` has room.  It runs without the GIL and, with
        preallocated arrays, creates no Python object per packet.

        Parameters
        ----------
        psns, handles, now_ns, dropped, status_out
            As for :meth:`insert_burst`.
        out : numpy.ndarray
            1-D C-contiguous writable ``uint64`` for the released handles.
            Without ``status_out`` it must hold ``len(psns) + held``: then
            every packet is taken.  With ``status_out`` any length is
            accepted: what does not fit stays held for the next drain, and a
            packet that could not be made room for is refused with status
            ``FULL`` (not held; the caller still owns it).
        drain_every : int, default 0
            Drain after every ``drain_every`` packets (0: only at the end).

        Returns
        -------
        int
            Handles written to ``out[:n]``, in release order.

        Raises
        ------
        TypeError, ValueError
            As :meth:`insert_burst`, or a bad ``out`` or ``drain_every``:
            nothing changes.
        RuntimeError
            A burst on this buffer is running in another thread.
        """
        return self._burst(psns, handles, now_ns, dropped, status_out, out, drain_every, True)



# ---------------------------------------------------------------------------
# ReorderQueues
# ---------------------------------------------------------------------------

@cython.final
cdef class ReorderQueues:
    """Many reorder queues, fed by bursts of metadata records.

    Queue ``q`` is a :class:`ReorderBuffer`; a tagged record (``FLAG_PARA``)
    goes to queue ``record["queue"]`` with PSN ``record["psn"]`` (a
    tombstone if ``FLAG_DROP`` is set too); an untagged record passes
    straight through.  Released handles come out in PSN order per queue.

    Parameters
    ----------
    n_queues : int
        Number of reorder queues, 1 to 65535.
    window, timeout_ns, psn_bits, first_psn
        As for :class:`ReorderBuffer`, the same for every queue.

    Notes
    -----
    A drain visits the queues inserted into since their last drain; the
    other queues that hold packets are scanned only when the earliest of their
    timeout deadlines has come, so idle queues cost nothing.  Memory:
    ``n_queues * 32 * window`` bytes.  One clock: a time earlier than one
    already seen on any queue is refused (:attr:`last_ns`).

    :attr:`buffers` gives each queue's :class:`ReorderBuffer` for inspection
    (a tuple of read-only parts): their properties and ``stats`` can be read,
    but their ``insert``, ``drain``, ``flush`` and bursts raise
    ``ValueError``, so no packet can be held behind the queues' bookkeeping.
    One thread at a time: a call while a burst runs without the GIL in
    another thread raises ``RuntimeError``.

    Examples
    --------
    >>> import numpy as np
    >>> from paraflowo import ReorderQueues, empty_meta, FLAG_PARA
    >>> rq = ReorderQueues(n_queues=2, window=8, timeout_ns=1000)
    >>> m = empty_meta(4)
    >>> m["handle"] = [10, 11, 12, 13]
    >>> m["queue"] = [0, 1, 0, 0]
    >>> m["psn"] = [1, 0, 0, 2]
    >>> m["flags"] = [FLAG_PARA, FLAG_PARA, FLAG_PARA, 0]   # the last is untagged
    >>> out = np.empty(8, np.uint64); q = np.empty(8, np.int32)
    >>> n = rq.process_burst(m, now_ns=0, out=out, out_queue=q)
    >>> out[:n].tolist(), q[:n].tolist()
    ([13, 12, 10, 11], [-1, 0, 0, 1])
    """

    def __cinit__(self, n_queues, window, timeout_ns, psn_bits=32, first_psn=0):
        n = require_int("n_queues", n_queues, 1, 0xFFFF)
        buffers = tuple([ReorderBuffer(window, timeout_ns, psn_bits, first_psn)
                         for _ in range(n)])
        self.q.robs = <pfo_rob_t**>calloc(n, sizeof(pfo_rob_t*))
        self.q.active = <uint32_t*>calloc(n, sizeof(uint32_t))
        self.q.pos = <uint32_t*>calloc(n, sizeof(uint32_t))
        self.q.is_active = <uint8_t*>calloc(n, sizeof(uint8_t))
        self.q.touched = <uint32_t*>calloc(n, sizeof(uint32_t))
        self.q.is_touched = <uint8_t*>calloc(n, sizeof(uint8_t))
        self.q.deadline = <pfo_ns_t*>calloc(n, sizeof(pfo_ns_t))
        if (self.q.robs is NULL or self.q.active is NULL or self.q.pos is NULL
                or self.q.is_active is NULL or self.q.touched is NULL
                or self.q.is_touched is NULL or self.q.deadline is NULL):
            raise MemoryError(f"cannot allocate {n} reorder queues")
        self.q.min_deadline = PFO_NS_NEVER
        self.q.last_ns = 0
        cdef Py_ssize_t i
        cdef ReorderBuffer b
        for i in range(n):
            b = <ReorderBuffer>buffers[i]
            b._part_of = "ReorderQueues"    # a read-only part from now on; it
            b._owner_busy = &self.busy      # sees our guard while we live
            self.q.robs[i] = &b.rob
        self.buffers = buffers          # a tuple: the robs pointers stay valid
        self.q.n_queues = n
        self.n_queues = n

    def __dealloc__(self):
        # the parts may outlive us (rq.buffers[0] kept): unlink our guard
        if self.buffers is not None:
            for b in self.buffers:
                (<ReorderBuffer>b)._owner_busy = NULL
        free(self.q.robs)
        free(self.q.active)
        free(self.q.pos)
        free(self.q.is_active)
        free(self.q.touched)
        free(self.q.is_touched)
        free(self.q.deadline)

    def __repr__(self):
        b = <ReorderBuffer>self.buffers[0]
        return (f"ReorderQueues(n_queues={self.n_queues}, window={b.window}, "
                f"timeout_ns={b.timeout_ns}, psn_bits={b.psn_bits}, first_psn={b.first_psn})")

    cdef int _mutable(self, str use) except -1:
        # RuntimeError while a burst runs; ValueError for a part of a MetadataCache
        if self._part_of is not None:
            pfo_raise_part(self, self._part_of, use)
        pfo_guard(self.busy, self)
        return 0

    @property
    def held(self):
        """Packets held over all queues."""
        pfo_guard(self.busy, self)
        cdef uint64_t h = 0
        cdef uint32_t i
        for i in range(self.q.n_active):
            h += pfo_rob_held(self.q.robs[self.q.active[i]])
        return h

    @property
    def n_active(self):
        """Queues in the active set (those that may hold packets)."""
        pfo_guard(self.busy, self)
        return self.q.n_active

    @property
    def last_ns(self):
        """The latest time seen by any queue (one clock); earlier times are refused."""
        pfo_guard(self.busy, self)
        return self.q.last_ns

    cdef int c_insert(self, uint32_t queue, pfo_psn_t psn, pfo_handle_t handle,
                      pfo_ns_t now_ns, bint dropped) noexcept nogil:
        return pfo_robq_insert(&self.q, queue, psn, handle, now_ns, dropped)

    cdef Py_ssize_t c_drain(self, pfo_ns_t now_ns, pfo_handle_t* out, int32_t* out_queue,
                            Py_ssize_t cap) noexcept nogil:
        return pfo_robq_drain(&self.q, now_ns, out, out_queue, cap)

    cdef pfo_ns_t c_next_deadline(self) noexcept nogil:
        cdef pfo_ns_t best = PFO_NS_NEVER, d
        cdef uint32_t i
        for i in range(self.q.n_active):
            d = pfo_rob_next_deadline(self.q.robs[self.q.active[i]])
            if d < best:
                best = d
        return best

    @property
    def next_deadline(self):
        """Earliest :attr:`ReorderBuffer.next_deadline` over the queues, or ``None``."""
        pfo_guard(self.busy, self)
        cdef pfo_ns_t best = self.c_next_deadline()
        return None if best == PFO_NS_NEVER else best

    @property
    def stats(self):
        """:class:`ReorderStats` summed over the queues."""
        pfo_guard(self.busy, self)
        cdef uint64_t tot[10]
        cdef uint32_t i
        cdef pfo_rob_t* r
        memset(tot, 0, sizeof(tot))
        for i in range(self.q.n_queues):
            r = self.q.robs[i]
            tot[0] += r.st.inserted
            tot[1] += r.st.released
            tot[2] += r.st.dropped
            tot[3] += r.st.late
            tot[4] += r.st.duplicates
            tot[5] += r.st.skipped
            tot[6] += r.st.timeouts
            tot[7] += r.st.full
            tot[8] += pfo_rob_held(r)
            tot[9] += max(pfo_rob_held(r), r.st.peak_held)
        return ReorderStats(*[tot[i] for i in range(10)])

    def insert(self, queue, psn, handle, now_ns, dropped=False):
        """Insert one packet into queue ``queue``; as :meth:`ReorderBuffer.insert`.

        One clock for every queue: ``now_ns`` must not be earlier than a time
        already seen on any queue (:attr:`last_ns`).

        Raises
        ------
        TypeError, ValueError
            As :meth:`ReorderBuffer.insert`, or ``queue`` outside
            ``[0, n_queues)``.  Nothing changes.
        RuntimeError
            A burst on these queues is running in another thread.
        """
        self._mutable("MetadataCache.receive")
        return self._insert(queue, psn, handle, now_ns, dropped)

    cdef object _insert(self, queue, psn, handle, now_ns, dropped, bint commit=True):
        # every check, then (commit) the insert; without commit only the checks
        pfo_guard(self.busy, self)
        cdef bint d = False if dropped is False else _as_flag("dropped", dropped)
        cdef uint32_t qid = <uint32_t>pfo_uint("queue", queue, 0, self.q.n_queues - 1)
        cdef pfo_rob_t* r = self.q.robs[qid]
        cdef pfo_psn_t p = <pfo_psn_t>pfo_uint("psn", psn, 0, r.psn_mask)
        cdef pfo_handle_t h = pfo_uint("handle", handle, 0, PFO_UINT64_MAX)
        cdef pfo_ns_t t = pfo_time("now_ns", now_ns)
        pfo_not_backwards("now_ns", t, self.q.last_ns)
        if not commit:
            return None
        return _STATUS[pfo_robq_insert(&self.q, qid, p, h, t, d)]

    def drain_into(self, now_ns, out, out_queue=None):
        """Drain every queue with something due at ``now_ns`` into ``out``.

        Parameters
        ----------
        now_ns : int
            The current time, ns; not earlier than :attr:`last_ns`.
        out : numpy.ndarray
            1-D C-contiguous writable ``uint64``.  If it is too short,
            nothing is lost: the rest stays held for the next call.
        out_queue : numpy.ndarray, optional
            1-D C-contiguous writable ``int32`` of the same length: the queue
            of each handle.

        Returns
        -------
        int
            Handles written to ``out[:n]``: per queue in PSN order, queue
            after queue.

        Raises
        ------
        TypeError, ValueError
            A bad ``now_ns`` (or one earlier than :attr:`last_ns`), ``out``
            or ``out_queue``.  Nothing changes.
        RuntimeError
            A burst on these queues is running in another thread.
        """
        self._mutable("MetadataCache.drain")
        return self._drain_into(now_ns, out, out_queue)

    cdef Py_ssize_t _drain_into(self, now_ns, out, out_queue) except -1:
        cdef pfo_ns_t t = pfo_time("now_ns", now_ns)
        cdef Py_buffer bo, bq
        cdef Py_ssize_t n
        bq.shape = NULL
        pfo_bind(&bo, out, "out", _u64, PFO_WRITABLE)
        try:
            pfo_bind(&bq, out_queue, "out_queue", _i32, PFO_WRITABLE | PFO_OPTIONAL)
            if pfo_bound(&bq):
                pfo_check_len("out_queue", pfo_len(&bq), pfo_len(&bo), pfo_len(&bo))
            pfo_not_backwards("now_ns", t, self.q.last_ns)
            pfo_enter(&self.busy, self)
            with nogil:
                n = pfo_robq_drain(&self.q, t, <pfo_handle_t*>bo.buf, <int32_t*>bq.buf,
                                   pfo_len(&bo))
            pfo_leave(&self.busy)
        finally:
            pfo_release(&bq)
            pfo_release(&bo)
        return n

    def drain(self, now_ns):
        """Drain at ``now_ns``; returns ``(handles uint64, queues int32)`` arrays.

        Raises as :meth:`drain_into`.
        """
        self._mutable("MetadataCache.drain")
        return self._drain(now_ns)

    cdef tuple _drain(self, now_ns):
        pfo_guard(self.busy, self)
        pfo_time("now_ns", now_ns)          # a bad time before the allocation
        cap = self.held
        out = _empty(cap, _u64)
        oq = _empty(cap, _i32)
        n = self._drain_into(now_ns, out, oq)
        return out[:n], oq[:n]

    def flush(self):
        """Release everything held in every queue; returns ``(handles, queues)``.

        Raises
        ------
        ValueError
            These queues are a part of a :class:`MetadataCache`.
        RuntimeError
            A burst on these queues is running in another thread.
        """
        self._mutable("MetadataCache.flush")
        return self._flush()

    cdef tuple _flush(self):
        pfo_guard(self.busy, self)
        hs, qs = [], []
        cdef uint32_t i
        for i in range(self.q.n_queues):
            h = _release_array(self.q.robs[i], 0, True)
            hs.append(h)
            qs.append(np.full(len(h), i, np.int32))
            self.q.is_active[i] = 0
            self.q.is_touched[i] = 0
        self.q.n_active = 0
        self.q.n_touched = 0
        self.q.min_deadline = PFO_NS_NEVER
        return np.concatenate(hs), np.concatenate(qs)

    def process_burst(self, meta, now_ns, out, out_queue=None, status_out=None,
                      drain_every=0):
        """Insert a burst of metadata records at ``now_ns``, then drain into ``out``.

        Parameters
        ----------
        meta : numpy.ndarray
            1-D C-contiguous :data:`~paraflowo.META_DTYPE` records.
        now_ns : int
            The time of the burst, ns; not earlier than :attr:`last_ns`.
        out : numpy.ndarray
            1-D C-contiguous writable ``uint64``, at least ``len(meta)``
            long, and ``len(meta) + held`` without ``status_out`` (then every
            record is taken).  Untagged records are written first, in arrival
            order; then each due queue's released handles, in PSN order.
            What does not fit stays held; a record that could not be made
            room for is refused ``FULL`` (reported in ``status_out``).
        out_queue : numpy.ndarray, optional
            Writable ``int32``, same length as ``out``: the queue of each
            output (``-1`` for a pass-through).
        status_out : numpy.ndarray, optional
            Writable ``uint8``, ``len(meta)``: each record's
            :class:`ReorderStatus`.
        drain_every : int, default 0
            Also drain after every ``drain_every`` records (0: only at the
            end), as :meth:`ReorderBuffer.process_burst`.

        Returns
        -------
        int
            Handles written to ``out[:n]``.

        Raises
        ------
        TypeError, ValueError
            Wrong dtypes, lengths or contiguity, a tagged record's queue or
            PSN out of range, or a backwards time: nothing changes.
        RuntimeError
            A burst on these queues is running in another thread.
        """
        cdef Py_buffer bm, bo, bq, bs
        cdef Py_ssize_t n, k, cap, need
        cdef pfo_ns_t t = pfo_time("now_ns", now_ns)
        cdef Py_ssize_t every = _every(drain_every)
        cdef uint64_t bound
        self._mutable("MetadataCache.receive")
        bo.shape = bq.shape = bs.shape = NULL
        pfo_bind(&bm, meta, "meta", META_DTYPE, 0)
        try:
            n = pfo_len(&bm)
            pfo_bind(&bo, out, "out", _u64, PFO_WRITABLE)
            cap = pfo_len(&bo)
            pfo_bind(&bq, out_queue, "out_queue", _i32, PFO_WRITABLE | PFO_OPTIONAL)
            if pfo_bound(&bq):
                pfo_check_len("out_queue", pfo_len(&bq), cap, cap)
            pfo_bind(&bs, status_out, "status_out", _u8, PFO_WRITABLE | PFO_OPTIONAL)
            if pfo_bound(&bs):
                pfo_check_len("status_out", pfo_len(&bs), n, n)
                pfo_check_len("out", cap, n, -1)        # room for the pass-throughs
            else:
                # held <= n_active * window: the exact sum only when that bound is short
                bound = <uint64_t>self.q.n_active * (self.q.robs[0].window + 0u)
                if <uint64_t>cap < <uint64_t>n + bound:
                    _out_room("out", cap, n + <Py_ssize_t>self.held, "len(meta) + held")
            pfo_not_backwards("now_ns", t, self.q.last_ns)
            pfo_enter(&self.busy, self)
            with nogil:
                k = pfo_robq_process(&self.q, <const pfo_meta_t*>bm.buf, n, t,
                                     <pfo_handle_t*>bo.buf, <int32_t*>bq.buf, cap,
                                     <uint8_t*>bs.buf, every)
            pfo_leave(&self.busy)
            if k < 0:
                self._explain(meta)
            return k
        finally:
            pfo_release(&bs)
            pfo_release(&bq)
            pfo_release(&bo)
            pfo_release(&bm)

    cdef int _explain(self, meta) except -1:
        # pfo_robq_process refused the burst (nothing changed): name the record
        tagged = (meta["flags"] & PFO_FLAG_PARA) != 0
        qs = meta["queue"]
        bad = np.flatnonzero(tagged & (qs >= self.n_queues))
        if bad.size:
            i = bad[0]
            raise ValueError(f"meta['queue'] must be in [0, {self.n_queues - 1}], "
                             f"got {int(qs[i])} at index {i}")
        for i in np.flatnonzero(tagged):
            b = <ReorderBuffer>self.buffers[qs[i]]
            if meta["psn"][i] > b.rob.psn_mask:
                raise ValueError(f"meta['psn'] must be in [0, 2**{b.psn_bits} - 1], "
                                 f"got {int(meta['psn'][i])} at index {i}")
        raise AssertionError("unreachable: process failed without a bad input")
