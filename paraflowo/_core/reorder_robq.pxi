# The reorder queues' C core: placement, drain, process.
# Part of paraflowo/_core/reorder.pyx, which includes it (one extension module).

# The order FIFO walk (reorder_hint.h: SSE2 where there is SSE2)
cdef extern from "reorder_hint.h" nogil:
    uint32_t pfo_order_skip(const uint32_t* e, uint32_t n, uint32_t head, uint32_t pmask,
                            uint32_t window) noexcept


cdef inline size_t _robq_hstride() noexcept nogil:
    # The queues' headers lie one every this many bytes (a whole number of
    # cache lines: with the block aligned, each header's first 64 bytes, which
    # hold the fields of the common insert, are one line).  A constant.
    return _round_up(sizeof(pfo_rob_t))


cdef inline size_t _robq_books(uint32_t n) noexcept nogil:
    # robs (8n), deadline (8n), active, pos, touched (4n each), is_active,
    # is_touched (n each): 30 bytes per queue, rounded up; then the n headers
    return (_round_up(<size_t>n * (sizeof(pfo_rob_t*) + sizeof(pfo_ns_t)
                                   + 3 * sizeof(uint32_t) + 2 * sizeof(uint8_t)))
            + <size_t>n * _robq_hstride())


cdef size_t pfo_robq_footprint(uint32_t n_queues, uint32_t window, int psn_bits) noexcept nogil:
    cdef size_t one = pfo_rob_footprint(window, psn_bits)
    if one == 0 or n_queues < 1 or n_queues > PFO_ROBQ_MAX_QUEUES:
        return 0
    return _robq_books(n_queues) + n_queues * one


cdef int pfo_robq_init(pfo_robq_t* q, void* mem, size_t size, uint32_t n_queues,
                       uint32_t window, pfo_ns_t timeout_ns, int psn_bits,
                       pfo_psn_t first_psn) noexcept nogil:
    cdef size_t need = pfo_robq_footprint(n_queues, window, psn_bits)
    cdef size_t one = pfo_rob_footprint(window, psn_bits), books
    cdef char* headers
    cdef char* p = <char*>mem
    cdef uint32_t i
    if (need == 0 or q is NULL or mem is NULL or (<size_t>mem & 7) != 0 or timeout_ns < 0
            or <uint64_t>first_psn >= (<uint64_t>1 << psn_bits)):
        return PFO_EINVAL
    if size < need:
        return PFO_ENOSPC
    books = _robq_books(n_queues)
    memset(q, 0, sizeof(pfo_robq_t))
    memset(mem, 0, books)
    q.robs = <pfo_rob_t**>p
    p += n_queues * sizeof(pfo_rob_t*)
    q.deadline = <pfo_ns_t*>p
    p += n_queues * sizeof(pfo_ns_t)
    q.active = <uint32_t*>p
    p += n_queues * sizeof(uint32_t)
    q.pos = <uint32_t*>p
    p += n_queues * sizeof(uint32_t)
    q.touched = <uint32_t*>p
    p += n_queues * sizeof(uint32_t)
    q.is_active = <uint8_t*>p
    p += n_queues
    q.is_touched = <uint8_t*>p
    headers = <char*>mem + books - <size_t>n_queues * _robq_hstride()
    for i in range(n_queues):
        # cannot fail: the parameters and the size were checked above
        q.robs[i] = <pfo_rob_t*>(headers + <size_t>i * _robq_hstride())
        pfo_rob_init(q.robs[i], <char*>mem + books + i * one, one, window, timeout_ns,
                     psn_bits, first_psn)
    q.n_queues = n_queues
    q.min_deadline = PFO_NS_NEVER
    q.last_ns = 0
    return PFO_OK


cdef void pfo_robq_fini(pfo_robq_t* q) noexcept nogil:
    cdef uint32_t i
    if q is NULL:
        return
    for i in range(q.n_queues):
        pfo_rob_fini(q.robs[i])
    memset(q, 0, sizeof(pfo_robq_t))


cdef inline void _robq_deactivate_each(pfo_robq_t* q, const uint32_t* qids,
                                       uint32_t n) noexcept nogil:
    # take queues qids[0], qids[-1], ..., qids[-(n-1)] out of the active set,
    # in that order (each: the last active queue takes its place); the
    # arrays in locals, read once
    cdef uint32_t* active = q.active
    cdef uint32_t* pos = q.pos
    cdef uint8_t* is_active = q.is_active
    cdef pfo_ns_t* deadline = q.deadline
    cdef uint32_t na = q.n_active, qid, i, last, d
    for d in range(n):
        qid = qids[-<Py_ssize_t>d]
        i = pos[qid]
        is_active[qid] = 0
        deadline[qid] = 0       # an inactive queue's deadline is 0 (<= any time)
        na -= 1
        last = active[na]
        active[i] = last
        pos[last] = i
    q.n_active = na


cdef inline void _robq_deactivate(pfo_robq_t* q, uint32_t qid) noexcept nogil:
    _robq_deactivate_each(q, &qid, 1)


cdef inline void _robq_activate(pfo_robq_t* q, uint32_t qid) noexcept nogil:
    q.is_active[qid] = 1
    q.pos[qid] = q.n_active
    q.active[q.n_active] = qid
    q.n_active += 1


cdef inline uint32_t* _robq_deferred(const pfo_robq_t* q) noexcept nogil:
    # The list of queues emptied during a one-pass burst, to leave the active
    # set after it: the d-th (from 0) at [-d] of this, the touched array's last
    # entry (filled backwards: the one pass touches no queue, so the array is free)
    return q.touched + (q.n_queues - 1)


cdef inline void _robq_retire(pfo_robq_t* q, uint32_t qid, uint32_t* defer) noexcept nogil:
    # queue qid holds nothing: out of the active set now (defer NULL), or
    # noted in the deferred list (_robq_deferred) for _robq_direct to take out later
    if q.is_active[qid]:
        if defer is NULL:
            _robq_deactivate(q, qid)
        else:
            _robq_deferred(q)[-<Py_ssize_t>defer[0]] = qid
            defer[0] += 1


cdef inline void _robq_settle(pfo_robq_t* q, uint32_t qid, pfo_rob_t* r,
                              uint32_t* defer) noexcept nogil:
    # after a drain of queue qid: refresh its cached deadline, or take it out
    # of the active set when it holds nothing (_robq_retire)
    cdef pfo_ns_t dl
    if r.in_ring + r.ready_n == 0:
        _robq_retire(q, qid, defer)
    else:
        dl = pfo_rob_next_deadline(r)
        q.deadline[qid] = dl
        if dl < q.min_deadline:
            q.min_deadline = dl


cdef inline Py_ssize_t _robq_drain_one(pfo_robq_t* q, uint32_t qid, pfo_ns_t now,
                                       pfo_handle_t* out, int32_t* out_queue,
                                       Py_ssize_t cap, uint32_t* defer) noexcept nogil:
    # pfo_rob_drain of queue qid into out[0:cap] (now >= its last_ns: the
    # caller checked q.last_ns), then _robq_settle: the general visit of a queue
    cdef pfo_rob_t* r = q.robs[qid]
    cdef Py_ssize_t c = pfo_rob_drain(r, now, out, cap), j
    _robq_settle(q, qid, r, defer)
    if out_queue is not NULL:
        for j in range(c):
            out_queue[j] = <int32_t>qid
    return c


# What every queue of a pfo_robq_t shares (pfo_robq_init makes the window,
# PSN width and timeout the same for all), held in registers by the loops.
ctypedef struct _robq_par_t:
    uint32_t mask, pmask, window, omask
    pfo_ns_t tmo
    pfo_ns_t limit              # now - timeout: a packet inserted at or before it is due
    pfo_ns_t latest             # PFO_NS_NEVER - timeout: later inserts never time out


cdef inline void _robq_par(const pfo_robq_t* q, pfo_ns_t now, _robq_par_t* p) noexcept nogil:
    cdef const pfo_rob_t* r = q.robs[0]
    p.mask = r.mask
    p.pmask = r.psn_mask
    p.window = r.window
    p.omask = r.order_mask
    p.tmo = r.timeout_ns
    p.limit = now - r.timeout_ns          # no overflow: 0 <= now, timeout <= INT64_MAX
    p.latest = PFO_NS_NEVER - r.timeout_ns


cdef inline pfo_handle_t* _robq_visit(pfo_robq_t* q, uint32_t qid, pfo_rob_t* r, pfo_ns_t now,
                                     pfo_handle_t* o, pfo_handle_t* oend, int32_t* oq,
                                     const _robq_par_t* p, uint32_t* defer) noexcept nogil:
    # The drain step of one queue (pfo_rob_drain of queue qid into o[0:oend-o],
    # then _robq_settle), its common case inline: nothing passed by the head
    # waiting (ready FIFO empty), the run at the head released (or nothing to
    # release) and no timeout due; the other cases by the general drain.
    # oq (may be NULL) is out_queue at o.  Returns the new end of the output.
    # Same releases, statistics and deadline as _robq_drain_one.
    cdef pfo_rob_slot_t* slots = r.slots
    cdef pfo_rob_slot_t* s
    cdef pfo_rob_slot_t* send
    cdef pfo_psn_t* order
    cdef pfo_psn_t* op
    cdef pfo_psn_t* ope
    cdef pfo_handle_t* o0 = o
    cdef uint32_t mask = p.mask, pmask = p.pmask, moved, released, oh, on
    cdef pfo_psn_t head, e
    cdef pfo_ns_t ts
    cdef Py_ssize_t j
    if r.ready_n:
        return o + _robq_drain_one(q, qid, now, o, oq, oend - o, defer)
    r.last_ns = now
    if r.in_ring > r.st.peak_held:
        r.st.peak_held = r.in_ring
    head = r.head
    s = &slots[head & mask]
    ts = s.ts
    if ts != PFO_ROB_SLOT_EMPTY:
        # the run at the head: packets out, tombstones passed over
        moved = 0
        if r.n_tomb == 0 and oend - o >= r.in_ring:
            # no tombstone, room for every packet held: the run is packets
            # only and the output cannot fill
            if (head & mask) + r.in_ring < p.window:
                # the run, at most in_ring packets, stops at an empty slot
                # before the ring's end: no wrap to test (and the slot after
                # a packet is in the ring), two packets a step
                while True:
                    o[0] = s.handle
                    s.ts = PFO_ROB_SLOT_EMPTY
                    if s[1].ts == PFO_ROB_SLOT_EMPTY:
                        o += 1
                        break
                    o[1] = s[1].handle
                    s[1].ts = PFO_ROB_SLOT_EMPTY
                    o += 2
                    s += 2
                    if s.ts == PFO_ROB_SLOT_EMPTY:
                        break
            else:
                send = slots + p.window
                while True:
                    o[0] = s.handle
                    o += 1
                    s.ts = PFO_ROB_SLOT_EMPTY
                    s += 1
                    if s == send:
                        s = slots
                    if s.ts == PFO_ROB_SLOT_EMPTY:
                        break
            moved = <uint32_t>(o - o0)
        else:
            while True:
                if ts >= 0:
                    if o == oend:
                        break
                    o[0] = s.handle
                    o += 1
                s.ts = PFO_ROB_SLOT_EMPTY
                moved += 1
                s = &slots[(head + moved) & mask]
                ts = s.ts
                if ts == PFO_ROB_SLOT_EMPTY:
                    break
        released = <uint32_t>(o - o0)
        head = (head + moved) & pmask
        r.head = head
        r.in_ring -= released
        r.n_tomb -= moved - released
        r.st.released += released
        # pop the order FIFO's entries whose packet left (_order_clean):
        # all of them when no packet is left in the slots
        oh = r.order_head
        on = r.order_n
        if r.in_ring == 0:
            oh = (oh + on) & p.omask
            on = 0
        order = r.order
        while on:
            # the entries behind the head (their packet left), from the
            # front up to the FIFO's end or wrap, in one walk
            # (pfo_order_skip); then an entry in the window holds a packet
            # (stop) or not (pop it)
            op = order + oh
            ope = op + (on if on <= p.omask + 1 - oh else p.omask + 1 - oh)
            op += pfo_order_skip(op, <uint32_t>(ope - op), head, pmask, p.window)
            on -= <uint32_t>(op - (order + oh))
            oh = <uint32_t>(op - order) & p.omask
            if op < ope:
                if slots[op[0] & mask].ts >= 0:
                    break
                oh = (oh + 1) & p.omask
                on -= 1
        r.order_head = oh
        r.order_n = on
    if r.order_n == 0:
        # no packet left in the slots, none passed: it holds nothing
        _robq_retire(q, qid, defer)
    else:
        # the earliest-inserted packet held, and its timeout
        ts = slots[r.order[r.order_head] & mask].ts
        if o == oend:
            _robq_settle(q, qid, r, defer)   # the output is full: the rest waits
        elif ts <= p.limit:
            # a timeout is due: the general drain skips the hole and goes on
            o += pfo_rob_drain(r, now, o, oend - o)
            _robq_settle(q, qid, r, defer)
        else:
            # nothing at the head (the run stopped at a missing PSN): the
            # deadline is the earliest-inserted packet's timeout
            ts = PFO_NS_NEVER if ts > p.latest else ts + p.tmo
            q.deadline[qid] = ts
            if ts < q.min_deadline:
                q.min_deadline = ts
    if oq is not NULL:
        for j in range(o - o0):
            oq[j] = <int32_t>qid
    return o


cdef inline uint32_t _robq_drain_touched(pfo_robq_t* q, pfo_ns_t now, pfo_handle_t* out,
                                        int32_t* out_queue, Py_ssize_t cap,
                                        Py_ssize_t* kk) noexcept nogil:
    # Step 1 of pfo_robq_drain: visit the touched queues in order, into
    # out[kk:cap] (kk advances); returns how many of them are done (the others
    # stay touched: the output is full).
    cdef pfo_rob_t** robs = q.robs
    cdef const uint32_t* touched = q.touched
    cdef uint8_t* is_touched = q.is_touched
    cdef uint32_t nt = q.n_touched, i = 0, qid
    cdef pfo_rob_t* r
    cdef pfo_handle_t* o = out + kk[0]
    cdef pfo_handle_t* oend = out + cap
    cdef _robq_par_t p
    _robq_par(q, now, &p)
    while i < nt and o < oend:
        qid = touched[i]
        r = robs[qid]
        o = _robq_visit(q, qid, r, now, o, oend,
                        NULL if out_queue is NULL else out_queue + (o - out), &p, NULL)
        if o == oend and pfo_rob_next_deadline(r) <= now:
            break                       # full output: qid stays touched
        is_touched[qid] = 0
        i += 1
    kk[0] = o - out
    return i


cdef inline Py_ssize_t _robq_timeouts(pfo_robq_t* q, pfo_ns_t now, pfo_handle_t* out,
                                      int32_t* out_queue, Py_ssize_t cap,
                                      Py_ssize_t k) noexcept nogil:
    # Step 2 of pfo_robq_drain (after step 1 wrote out[0:k]): when every
    # touched queue is done, the output has room and the earliest cached
    # deadline has come, drain the other active queues whose deadline has
    # come.  Returns the new k.
    cdef uint32_t i, qid
    cdef pfo_ns_t newmin
    if q.n_touched or k == cap or now < q.min_deadline:
        return k
    newmin = PFO_NS_NEVER
    i = 0
    while i < q.n_active:
        qid = q.active[i]
        if q.deadline[qid] <= now and k < cap:
            k += _robq_drain_one(q, qid, now, out + k,
                                 NULL if out_queue is NULL else out_queue + k, cap - k, NULL)
            if not q.is_active[qid]:
                continue                # swapped out: active[i] is another queue now
        if q.deadline[qid] < newmin:
            newmin = q.deadline[qid]
        i += 1
    q.min_deadline = newmin
    return k


cdef Py_ssize_t pfo_robq_drain(pfo_robq_t* q, pfo_ns_t now, pfo_handle_t* out,
                               int32_t* out_queue, Py_ssize_t cap) noexcept nogil:
    cdef uint32_t i
    cdef Py_ssize_t k = 0
    if now < q.last_ns:
        return -1
    q.last_ns = now
    # 1. the queues inserted into since their last drain, in the order of
    # their first insert
    if q.n_touched:
        i = _robq_drain_touched(q, now, out, out_queue, cap, &k)
        if i:
            memmove(q.touched, q.touched + i, (q.n_touched - i) * sizeof(uint32_t))
            q.n_touched -= i
    # 2. timeouts of the other active queues (only when the earliest is due)
    return _robq_timeouts(q, now, out, out_queue, cap, k)


cdef inline Py_ssize_t _robq_insert_chunk(pfo_robq_t* q, const pfo_meta_t* meta,
                                          Py_ssize_t i, Py_ssize_t j, Py_ssize_t n,
                                          pfo_ns_t now, pfo_handle_t* out,
                                          int32_t* out_queue, Py_ssize_t cap,
                                          uint8_t* status_out, Py_ssize_t k) noexcept nogil:
    # The insert step of pfo_robq_process on records meta[i:j] (validated),
    # in record order: the in-window insert of a tagged, untombstoned record
    # inline (the touched list kept in a local), pass-throughs to out[k], the
    # rest by pfo_robq_insert.  Returns the new k.
    cdef pfo_rob_t** robs = q.robs
    cdef uint8_t* is_touched = q.is_touched
    cdef uint32_t* touched = q.touched
    cdef uint32_t nt = q.n_touched, qid
    cdef const pfo_meta_t* m
    cdef pfo_rob_t* r
    cdef pfo_rob_slot_t* s
    cdef pfo_psn_t psn
    cdef uint16_t flags
    cdef int st
    while i < j:
        m = &meta[i]
        flags = m.flags
        st = -2                                 # not handled inline
        if (flags & (PFO_FLAG_PARA | PFO_FLAG_DROP)) == PFO_FLAG_PARA:
            qid = m.queue
            psn = m.psn
            r = robs[qid]
            if ((psn - r.head) & r.psn_mask) < r.window:
                r.last_ns = now
                r.st.inserted += 1
                s = &r.slots[psn & r.mask]
                if s.ts == PFO_ROB_SLOT_EMPTY:
                    s.handle = m.handle
                    s.ts = now
                    r.order[(r.order_head + r.order_n) & r.order_mask] = psn
                    r.order_n += 1
                    r.in_ring += 1
                    if not is_touched[qid]:
                        is_touched[qid] = 1
                        touched[nt] = qid
                        nt += 1
                    if not q.is_active[qid]:
                        _robq_activate(q, qid)
                    st = PFO_ROB_BUFFERED
                else:
                    r.st.duplicates += 1
                    st = PFO_ROB_DUPLICATE
        elif not (flags & PFO_FLAG_PARA):
            out[k] = m.handle
            if out_queue is not NULL:
                out_queue[k] = -1
            k += 1
            st = PFO_ROB_PASSED
        if st == -2:
            q.n_touched = nt
            st = pfo_robq_insert(q, m.queue, m.psn, m.handle, now, (flags & PFO_FLAG_DROP) != 0)
            if st == PFO_ROB_FULL and k < cap - (n - i):
                # drain this queue first (leaving room for the records still
                # to come), then insert again: nothing refused while out has room
                robs[m.queue].st.full -= 1
                k += _robq_drain_one(q, m.queue, now, out + k,
                                     NULL if out_queue is NULL else out_queue + k,
                                     cap - k - (n - i), NULL)
                st = pfo_robq_insert(q, m.queue, m.psn, m.handle, now,
                                     (flags & PFO_FLAG_DROP) != 0)
            nt = q.n_touched
        if status_out is not NULL:
            status_out[i] = <uint8_t>st
        i += 1
    q.n_touched = nt
    return k


# Above this many queues the one-pass path prefetches each record's slot
# while it looks over the burst (the queues' rings no longer fit in the
# cache); below, everything is cached and a prefetch only costs instructions.
cdef enum:
    _ROBQ_PREFETCH_QUEUES = 256


# Where queue qid's slot of a PSN lies, computed without reading the queue's
# header (pfo_robq_init places the queues' slots at a fixed stride): for the
# prefetch of the look over a burst, which then waits for nothing (a
# prefetch of a wrong address is harmless, so a block laid out otherwise
# only loses speed).  The header is not prefetched: its one line of hot
# fields comes with the first load, and more prefetches per record were
# slower.
ctypedef struct _robq_geo_t:
    char* slots                 # queue 0's slots
    Py_ssize_t sstride          # bytes from one queue's slots to the next's
    uint32_t mask


cdef inline void _robq_geo(const pfo_robq_t* q, _robq_geo_t* g) noexcept nogil:
    g.slots = <char*>q.robs[0].slots
    g.sstride = (<char*>q.robs[1].slots - g.slots) if q.n_queues > 1 else 0
    g.mask = q.robs[0].mask


cdef inline void _robq_prefetch(const _robq_geo_t* g, uint32_t qid, pfo_psn_t psn) noexcept nogil:
    # ask for the slot of psn in queue qid
    pfo_prefetch(g.slots + <Py_ssize_t>qid * g.sstride
                 + <size_t>(psn & g.mask) * sizeof(pfo_rob_slot_t))


cdef inline void _robq_unmark(uint8_t* mark, const pfo_meta_t* meta, Py_ssize_t i,
                              Py_ssize_t t) noexcept nogil:
    cdef Py_ssize_t u
    for u in range(i, t):
        if meta[u].flags & PFO_FLAG_PARA:
            mark[meta[u].queue] = 0


cdef inline int _robq_scan(pfo_robq_t* q, const pfo_meta_t* meta, Py_ssize_t i,
                           Py_ssize_t j, bint validate, bint prefetch,
                           Py_ssize_t* passed) noexcept nogil:
    # The look over records meta[i:j] before pfo_robq_process inserts them.
    # With validate: -1 (nothing changed) if a tagged record's queue or PSN is
    # out of range.  Then: can they take the one-pass path (_robq_direct)?
    # Yes (1) when nothing is touched and no queue has two tagged records in
    # meta[i:j]: visiting each queue right after its insert is then the same
    # as visiting the touched queues after all the inserts.  For a yes, each
    # tagged record's queue is marked in is_touched (_robq_direct clears the
    # marks) and *passed is the number of untagged records; for a no (0)
    # nothing is marked.  prefetch: ask for each tagged record's slot
    # (_robq_prefetch).
    cdef pfo_rob_t** robs = q.robs
    cdef uint8_t* mark = q.is_touched
    cdef const pfo_meta_t* m
    cdef _robq_geo_t g
    cdef Py_ssize_t t, npass = 0
    cdef uint32_t n_queues = q.n_queues, wide = 0
    cdef bint one = q.n_touched == 0     # every tagged record so far is marked
    if prefetch:
        _robq_geo(q, &g)
    for t in range(i, j):
        m = &meta[t]
        if not (m.flags & PFO_FLAG_PARA):
            npass += 1
            continue
        if validate:
            if m.queue >= n_queues:
                if one:
                    _robq_unmark(mark, meta, i, t)
                return -1
            wide |= m.psn
        if one:
            if mark[m.queue]:
                _robq_unmark(mark, meta, i, t)    # a second record of this queue: no
                one = False
                if not validate:
                    return 0
            else:
                mark[m.queue] = 1
                if prefetch:
                    _robq_prefetch(&g, m.queue, m.psn)
    if validate and (wide & ~robs[0].psn_mask) != 0:     # the same width for every queue
        if one:
            _robq_unmark(mark, meta, i, j)
        return -1
    passed[0] = npass
    return one


# _robq_scan_burst in four compiled forms: without and with the prefetch,
# each with the PSN width check or without it (32-bit PSNs: none is too
# wide, and the look skips one operation per record).
ctypedef struct _nopf_t:
    char unused
ctypedef struct _dopf_t:
    char unused
ctypedef struct _nopf32_t:
    char unused
ctypedef struct _dopf32_t:
    char unused

ctypedef fused _pf_t:
    _nopf_t
    _dopf_t
    _nopf32_t
    _dopf32_t

cdef _nopf_t _NOPF
cdef _dopf_t _DOPF
cdef _nopf32_t _NOPF32
cdef _dopf32_t _DOPF32


cdef inline int _robq_scan_burst(_pf_t* pf, pfo_robq_t* q, const pfo_meta_t* meta,
                                 Py_ssize_t n, Py_ssize_t* passed) noexcept nogil:
    # _robq_scan(q, meta, 0, n, True, prefetch, passed) for its common case
    # (nothing touched, every record valid, no queue twice) in one tight
    # loop: then the same marks, *passed and result (1); otherwise -2 with
    # nothing marked (the caller runs _robq_scan).
    cdef pfo_rob_t** robs = q.robs
    cdef uint8_t* mark = q.is_touched
    cdef const pfo_meta_t* m = meta
    cdef const pfo_meta_t* mend = meta + n
    cdef _robq_geo_t g
    cdef Py_ssize_t npass = 0
    cdef uint32_t n_queues = q.n_queues, wide = 0, qid
    if _pf_t is _dopf_t or _pf_t is _dopf32_t:
        _robq_geo(q, &g)
    while m < mend:                         # (a pointer walk: no index kept)
        if m.flags & PFO_FLAG_PARA:
            qid = m.queue
            if qid >= n_queues or mark[qid]:
                _robq_unmark(mark, meta, 0, m - meta)
                return -2
            mark[qid] = 1
            if _pf_t is _nopf_t or _pf_t is _dopf_t:
                wide |= m.psn
            if _pf_t is _dopf_t or _pf_t is _dopf32_t:
                _robq_prefetch(&g, qid, m.psn)
        else:
            npass += 1
        m += 1
    if (wide & ~robs[0].psn_mask) != 0:
        _robq_unmark(mark, meta, 0, n)
        return -2
    passed[0] = npass
    return 1


# _robq_hold_run in two compiled forms (each for both _mode_t): PSNs of any
# width, or of 32 bits (no mask to apply: an operation and a register fewer
# per record, so that nothing of the loop waits on the stack).
ctypedef struct _wany_t:
    char unused
ctypedef struct _w32_t:
    char unused

ctypedef fused _w_t:
    _wany_t
    _w32_t

cdef _wany_t _WANY
cdef _w32_t _W32


cdef inline const pfo_meta_t* _robq_hold_run(_mode_t* mode, _w_t* width, pfo_rob_t** robs,
                                             uint8_t* is_touched, const pfo_ns_t* deadline,
                                             const pfo_meta_t* meta, const pfo_meta_t* m,
                                             const pfo_meta_t* mend, pfo_ns_t now,
                                             const _robq_par_t* p,
                                             uint8_t* status_out) noexcept nogil:
    # _robq_direct's common case, on records m[0:mend-m] (of meta) while it
    # holds: an untombstoned tagged record inside the window but not at the
    # head, into a free slot of a queue already active whose timeout is not
    # due: held, no visit (it would release nothing).  Decided on reads only;
    # the same stores and status as the general in-window insert, and the
    # scan's mark cleared.  Returns the first record it left (mend, or one
    # for _robq_direct's general step).  A loop of its own, with few values
    # live: the compiler keeps them in registers.
    cdef pfo_rob_t* r
    cdef pfo_rob_slot_t* s
    cdef uint32_t qid, mask = p.mask
    cdef pfo_psn_t psn
    while m < mend:
        if (m.flags & (PFO_FLAG_PARA | PFO_FLAG_DROP)) != PFO_FLAG_PARA:
            break
        qid = m.queue
        psn = m.psn
        r = robs[qid]
        # ((psn - head) & pmask) - 1 < window - 1 (= mask): inside, not the
        # head (one value for both: a register fewer in the loop)
        if _w_t is _w32_t:
            if psn - r.head - 1 >= mask:
                break
        elif (((psn - r.head) & p.pmask) - 1) >= mask:
            break
        s = &r.slots[psn & mask]
        # (an inactive queue's deadline is 0, never > now)
        if deadline[qid] <= now or s.ts != PFO_ROB_SLOT_EMPTY:
            break
        is_touched[qid] = 0                 # _robq_scan's mark
        r.last_ns = now
        r.st.inserted += 1
        s.handle = m.handle
        s.ts = now
        r.order[(r.order_head + r.order_n) & p.omask] = psn
        r.order_n += 1
        r.in_ring += 1
        if _mode_t is _flagged_t:
            if status_out is not NULL:
                status_out[m - meta] = PFO_ROB_BUFFERED
        m += 1
    return m


cdef inline Py_ssize_t _robq_direct(_mode_t* mode, pfo_robq_t* q, const pfo_meta_t* meta,
                                    Py_ssize_t i,
                                    Py_ssize_t j, pfo_ns_t now, pfo_handle_t* out,
                                    int32_t* out_queue, Py_ssize_t cap,
                                    uint8_t* status_out, Py_ssize_t k, Py_ssize_t passed,
                                    const _robq_par_t* p) noexcept nogil:
    # pfo_robq_process's insert step and drain step 1 on records meta[i:j]
    # in one pass (_robq_scan said yes; cap: where this chunk's drain output
    # must end).  As there: pass-throughs to out[k:k+passed] in record order,
    # then each queue's releases in the order of its insert (which is the
    # touched order).  A queue whose insert cannot release anything (in the
    # window but not at the head, no timeout due) needs no visit: it would
    # release nothing and change nothing observable (its deadline, cached at
    # its last visit, is unchanged; peak_held is reported as max(held,
    # peak_held)); while the output has room, _robq_hold_run takes such
    # records in a loop of its own.  Once the output is full the queues are
    # left touched, as step 1 leaves them (the general in-window insert below
    # then takes those records too, touching them).  No insert is FULL:
    # nothing touched means no queue has handles passed by its head waiting
    # (ready FIFO empty).  Returns the new k.
    cdef pfo_rob_t** robs = q.robs
    cdef uint8_t* is_touched = q.is_touched
    cdef const uint8_t* is_active = q.is_active
    cdef const pfo_ns_t* deadline = q.deadline
    cdef pfo_handle_t* o = out + k + passed       # releases
    cdef pfo_handle_t* oend = out + cap
    cdef pfo_rob_t* r
    cdef pfo_rob_slot_t* s
    cdef uint32_t qid
    cdef pfo_psn_t psn
    cdef pfo_ns_t dl
    cdef uint32_t retired = 0
    # the queues emptied, in visit order (_robq_deferred, as _robq_retire)
    cdef uint32_t* rlist = _robq_deferred(q)
    cdef uint16_t flags
    cdef bint direct = True, visit
    cdef int st
    cdef const pfo_meta_t* m = meta + i
    cdef const pfo_meta_t* mend = meta + j
    while m < mend:
        if direct:
            # the common records from here on (_robq_hold_run), then this
            # loop's general step for the one that stopped the run
            if p.pmask == 0xFFFFFFFFu:
                m = _robq_hold_run(mode, &_W32, robs, is_touched, deadline, meta, m, mend, now,
                                   p, status_out)
            else:
                m = _robq_hold_run(mode, &_WANY, robs, is_touched, deadline, meta, m, mend, now,
                                   p, status_out)
            if m == mend:
                break
        flags = m.flags
        if not (flags & PFO_FLAG_PARA):
            out[k] = m.handle
            if _mode_t is _flagged_t:
                if out_queue is not NULL:
                    out_queue[k] = -1
            k += 1
            st = PFO_ROB_PASSED
        else:
            qid = m.queue
            psn = m.psn
            r = robs[qid]
            is_touched[qid] = 0                 # _robq_scan's mark
            if (psn == r.head and not is_active[qid] and o < oend
                    and (r.order_n | r.n_tomb | r.ready_n | (flags & PFO_FLAG_DROP)) == 0):
                # in order into a queue holding nothing (no tombstone past
                # the head either): the insert and the visit in one, straight
                # to the output without the slot and the order FIFO.  The
                # same outputs, statistics (peak_held: the visit saw 1 held),
                # head and activation (activated, then retired in visit order)
                # as the general insert and _robq_visit below.
                _robq_activate(q, qid)
                r.last_ns = now
                r.st.inserted += 1
                r.st.released += 1
                if r.st.peak_held == 0:
                    r.st.peak_held = 1
                r.head = (psn + 1) & p.pmask
                o[0] = m.handle
                if _mode_t is _flagged_t:
                    if out_queue is not NULL:
                        out_queue[o - out] = <int32_t>qid
                    if status_out is not NULL:
                        status_out[m - meta] = PFO_ROB_BUFFERED
                o += 1
                rlist[-<Py_ssize_t>retired] = qid
                retired += 1
                if o == oend:
                    direct = False              # the output is full
                m += 1
                continue
            if (flags & PFO_FLAG_DROP) or ((psn - r.head) & p.pmask) >= p.window:
                # tombstone, window advance or late: the general insert, and
                # a visit if it changed the queue (as pfo_robq_insert touches)
                st = pfo_rob_insert(r, psn, m.handle, now, (flags & PFO_FLAG_DROP) != 0)
                visit = st == PFO_ROB_BUFFERED or st == PFO_ROB_DROPPED
                if visit and not is_active[qid] and pfo_rob_held(r):
                    _robq_activate(q, qid)
            else:
                r.last_ns = now
                r.st.inserted += 1
                s = &r.slots[psn & p.mask]
                if s.ts != PFO_ROB_SLOT_EMPTY:
                    r.st.duplicates += 1
                    st = PFO_ROB_DUPLICATE
                    visit = False
                else:
                    s.handle = m.handle
                    s.ts = now
                    r.order[(r.order_head + r.order_n) & p.omask] = psn
                    r.order_n += 1
                    r.in_ring += 1
                    st = PFO_ROB_BUFFERED
                    if is_active[qid]:
                        visit = psn == r.head or deadline[qid] <= now
                    else:
                        # it held nothing: activated here, as the insert step
                        # does (a visit that empties it takes it out after the
                        # chunk's inserts, as in the two-pass order)
                        _robq_activate(q, qid)
                        if psn == r.head:
                            visit = True
                        else:
                            # this packet is the earliest inserted: its deadline
                            dl = PFO_NS_NEVER if now > p.latest else now + p.tmo
                            q.deadline[qid] = dl
                            if dl < q.min_deadline:
                                q.min_deadline = dl
                            visit = dl <= now
            if visit:
                if not direct:
                    pfo_robq_touch(q, qid)
                elif o == oend:
                    direct = False
                    pfo_robq_touch(q, qid)
                else:
                    if _mode_t is _flagged_t:
                        o = _robq_visit(q, qid, r, now, o, oend,
                                        NULL if out_queue is NULL else out_queue + (o - out),
                                        p, &retired)
                    else:
                        o = _robq_visit(q, qid, r, now, o, oend, NULL, p, &retired)
                    if o == oend:
                        direct = False          # the output is full
                        if pfo_rob_next_deadline(r) <= now:
                            pfo_robq_touch(q, qid)
            elif not direct and st == PFO_ROB_BUFFERED:
                pfo_robq_touch(q, qid)
        if _mode_t is _flagged_t:
            if status_out is not NULL:
                status_out[m - meta] = <uint8_t>st
        m += 1
    # the queues emptied, out of the active set in the order of their visits:
    # after every insert, as in the two-pass order (the same active order)
    _robq_deactivate_each(q, rlist, retired)
    return o - out


cdef Py_ssize_t pfo_robq_process(pfo_robq_t* q, const pfo_meta_t* meta, Py_ssize_t n,
                                 pfo_ns_t now, pfo_handle_t* out, int32_t* out_queue,
                                 Py_ssize_t cap, uint8_t* status_out,
                                 Py_ssize_t drain_every) noexcept nogil:
    cdef Py_ssize_t i, j, end, passed = 0
    cdef Py_ssize_t k = 0
    cdef int one
    cdef bint pf = q.n_queues > _ROBQ_PREFETCH_QUEUES
    cdef _robq_par_t p
    if now < q.last_ns:
        return -1
    if drain_every <= 0 or drain_every > n:
        drain_every = n
    # check the whole burst first (-1 changes nothing); with one chunk, in
    # the same look that decides its path
    one = -2
    if drain_every == n and q.n_touched == 0:
        if q.robs[0].psn_mask == 0xFFFFFFFFu:        # the same width for every queue
            if pf:
                one = _robq_scan_burst(&_DOPF32, q, meta, n, &passed)
            else:
                one = _robq_scan_burst(&_NOPF32, q, meta, n, &passed)
        elif pf:
            one = _robq_scan_burst(&_DOPF, q, meta, n, &passed)
        else:
            one = _robq_scan_burst(&_NOPF, q, meta, n, &passed)
    if one == -2:
        one = _robq_scan(q, meta, 0, n, True, pf and drain_every == n, &passed)
    if one < 0:
        return -1
    if drain_every < n and one:
        _robq_unmark(q.is_touched, meta, 0, n)
    _robq_par(q, now, &p)
    q.last_ns = now
    i = 0
    while True:
        j = n if n - i <= drain_every else i + drain_every
        # this chunk's drain leaves room for the pass-throughs still to come
        end = cap - (n - j)
        if drain_every < n:
            one = _robq_scan(q, meta, i, j, False, pf, &passed)
        if one:
            if out_queue is NULL and status_out is NULL:     # the common case, specialised
                k = _robq_direct(&_PLAIN, q, meta, i, j, now, out, NULL, end, NULL, k,
                                 passed, &p)
            else:
                k = _robq_direct(&_FLAGGED, q, meta, i, j, now, out, out_queue, end, status_out,
                                 k, passed, &p)
            k = _robq_timeouts(q, now, out, out_queue, end, k)
        else:
            k = _robq_insert_chunk(q, meta, i, j, n, now, out, out_queue, cap, status_out, k)
            k += pfo_robq_drain(q, now, out + k, NULL if out_queue is NULL else out_queue + k,
                                end - k)
        i = j
        if i >= n:
            return k
