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
