# The reorder queues' C core: placement, drain, process.
# Part of paraflowo/_core/reorder.pyx, which includes it (one extension module).

cdef inline size_t _robq_books(uint32_t n) noexcept nogil:
    # robs (8n), deadline (8n), active, pos, touched (4n each), is_active,
    # is_touched (n each): 30 bytes per queue, rounded up; then the n headers
    return (_round_up(<size_t>n * (sizeof(pfo_rob_t*) + sizeof(pfo_ns_t)
                                   + 3 * sizeof(uint32_t) + 2 * sizeof(uint8_t)))
            + _round_up(<size_t>n * sizeof(pfo_rob_t)))


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
    cdef pfo_rob_t* headers
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
    headers = <pfo_rob_t*>(<char*>mem + books - _round_up(<size_t>n_queues * sizeof(pfo_rob_t)))
    for i in range(n_queues):
        # cannot fail: the parameters and the size were checked above
        pfo_rob_init(&headers[i], <char*>mem + books + i * one, one, window, timeout_ns,
                     psn_bits, first_psn)
        q.robs[i] = &headers[i]
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


cdef inline void _robq_deactivate(pfo_robq_t* q, uint32_t qid) noexcept nogil:
    cdef uint32_t i = q.pos[qid], last
    q.is_active[qid] = 0
    q.n_active -= 1
    last = q.active[q.n_active]
    q.active[i] = last
    q.pos[last] = i


cdef inline void _robq_settle(pfo_robq_t* q, uint32_t qid, pfo_rob_t* r) noexcept nogil:
    # after a drain of queue qid: refresh its cached deadline, or take it out
    # of the active set when it holds nothing
    cdef pfo_ns_t dl
    if r.in_ring + r.ready_n == 0:
        if q.is_active[qid]:
            _robq_deactivate(q, qid)
    else:
        dl = pfo_rob_next_deadline(r)
        q.deadline[qid] = dl
        if dl < q.min_deadline:
            q.min_deadline = dl


cdef inline Py_ssize_t _robq_drain_one(pfo_robq_t* q, uint32_t qid, pfo_ns_t now,
                                       pfo_handle_t* out, int32_t* out_queue,
                                       Py_ssize_t cap) noexcept nogil:
    # pfo_rob_drain of queue qid into out[0:cap] (now >= its last_ns: the
    # caller checked q.last_ns), then _robq_settle.  The common cases inline
    # (the vSwitch egress: one or two records per queue per drain): nothing
    # passed by the head waiting (ready FIFO empty), the run at the head
    # released or nothing to release, no timeout due; the rest by
    # pfo_rob_drain.  Same releases, statistics and deadline.
    cdef pfo_rob_t* r = q.robs[qid]
    cdef pfo_rob_slot_t* slots = r.slots
    cdef pfo_rob_slot_t* s
    cdef pfo_handle_t* o = out
    cdef pfo_handle_t* oend = out + cap
    cdef uint32_t mask, pmask, window, omask, oh, on, moved, released
    cdef pfo_psn_t head, e
    cdef pfo_ns_t ts, tmo
    cdef Py_ssize_t c, j
    if r.ready_n:
        c = pfo_rob_drain(r, now, out, cap)
        _robq_settle(q, qid, r)
    else:
        mask = r.mask
        r.last_ns = now
        if r.in_ring > r.st.peak_held:
            r.st.peak_held = r.in_ring
        head = r.head
        s = &slots[head & mask]
        ts = s.ts
        if ts != PFO_ROB_SLOT_EMPTY:
            # the run at the head: packets out, tombstones passed over
            moved = 0
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
            released = <uint32_t>(o - out)
            pmask = r.psn_mask
            window = r.window
            omask = r.order_mask
            head = (head + moved) & pmask
            r.head = head
            r.in_ring -= released
            r.n_tomb -= moved - released
            r.st.released += released
            # pop the order FIFO's entries whose packet left (_order_clean)
            oh = r.order_head
            on = r.order_n
            while on:
                e = r.order[oh]
                if ((e - head) & pmask) < window and slots[e & mask].ts >= 0:
                    break
                oh = (oh + 1) & omask
                on -= 1
            r.order_head = oh
            r.order_n = on
        c = o - out
        if r.order_n == 0:
            # no packet left in the slots, none passed: it holds nothing
            if q.is_active[qid]:
                _robq_deactivate(q, qid)
        else:
            # the earliest-inserted packet held; its timeout
            ts = slots[r.order[r.order_head] & mask].ts
            tmo = r.timeout_ns
            if o == oend:
                _robq_settle(q, qid, r)       # the output is full: the rest waits
            elif ts <= now - tmo:
                # a timeout is due: the general drain skips the hole, goes on
                c += pfo_rob_drain(r, now, o, cap - c)
                _robq_settle(q, qid, r)
            else:
                # nothing at the head (the run stopped at a missing PSN):
                # the deadline is the earliest-inserted packet's timeout
                ts = PFO_NS_NEVER if ts > PFO_NS_NEVER - tmo else ts + tmo
                q.deadline[qid] = ts
                if ts < q.min_deadline:
                    q.min_deadline = ts
    if out_queue is not NULL:
        for j in range(c):
            out_queue[j] = <int32_t>qid
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


cdef inline Py_ssize_t _robq_insert_chunk(pfo_robq_t* q, const pfo_meta_t* meta,
                                          Py_ssize_t i, Py_ssize_t j, Py_ssize_t n,
                                          pfo_ns_t now, pfo_handle_t* out,
                                          int32_t* out_queue, Py_ssize_t cap,
                                          uint8_t* status_out, Py_ssize_t k) noexcept nogil:
    # The insert step of pfo_robq_process on records meta[i:j] (validated):
    # the in-window insert of a tagged, untombstoned record inline (the
    # touched list kept in a local), pass-throughs to out[k], the rest by
    # pfo_robq_insert.  Returns the new k.
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
                        q.is_active[qid] = 1
                        q.pos[qid] = q.n_active
                        q.active[q.n_active] = qid
                        q.n_active += 1
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
                                     cap - k - (n - i))
                st = pfo_robq_insert(q, m.queue, m.psn, m.handle, now,
                                     (flags & PFO_FLAG_DROP) != 0)
            nt = q.n_touched
        if status_out is not NULL:
            status_out[i] = <uint8_t>st
        i += 1
    q.n_touched = nt
    return k


cdef Py_ssize_t pfo_robq_process(pfo_robq_t* q, const pfo_meta_t* meta, Py_ssize_t n,
                                 pfo_ns_t now, pfo_handle_t* out, int32_t* out_queue,
                                 Py_ssize_t cap, uint8_t* status_out,
                                 Py_ssize_t drain_every) noexcept nogil:
    cdef Py_ssize_t i, j, k = 0
    cdef const pfo_meta_t* m
    cdef uint32_t n_queues = q.n_queues, wide = 0
    cdef uint32_t pmask = q.robs[0].psn_mask    # the same for every queue
    if now < q.last_ns:
        return -1
    # check the whole burst first: -1 changes nothing
    for i in range(n):
        m = &meta[i]
        if m.flags & PFO_FLAG_PARA:
            if m.queue >= n_queues:
                return -1
            wide |= m.psn
    if wide & ~pmask:
        return -1
    q.last_ns = now
    if drain_every <= 0 or drain_every > n:
        drain_every = n
    i = 0
    while True:
        j = n if n - i <= drain_every else i + drain_every
        k = _robq_insert_chunk(q, meta, i, j, n, now, out, out_queue, cap, status_out, k)
        i = j
        if i >= n:
            break
        # leave room for the pass-throughs of the records still to come
        k += pfo_robq_drain(q, now, out + k, NULL if out_queue is NULL else out_queue + k,
                            cap - k - (n - i))
    return k + pfo_robq_drain(q, now, out + k, NULL if out_queue is NULL else out_queue + k,
                              cap - k)
