# The reorder buffer's C core: placement, insert, drain, flush.
# Part of paraflowo/_core/reorder.pyx, which includes it (one extension module).

cdef inline size_t _round_up(size_t n) noexcept nogil:
    return (n + (PFO_ALIGN - 1)) & ~(<size_t>PFO_ALIGN - 1)


cdef inline bint _rob_params_ok(uint32_t window, int psn_bits) noexcept nogil:
    if psn_bits < 8 or psn_bits > 32:
        return False
    if window < 2 or (window & (window - 1)) != 0 or window > PFO_ROB_MAX_WINDOW:
        return False
    return <uint64_t>window <= (<uint64_t>1 << (psn_bits - 1))


cdef size_t pfo_rob_footprint(uint32_t window, int psn_bits) noexcept nogil:
    if not _rob_params_ok(window, psn_bits):
        return 0
    return <size_t>window * (sizeof(pfo_rob_slot_t) + 2 * sizeof(pfo_psn_t)
                             + sizeof(pfo_handle_t))


cdef int pfo_rob_init(pfo_rob_t* r, void* mem, size_t size, uint32_t window,
                      pfo_ns_t timeout_ns, int psn_bits, pfo_psn_t first_psn) noexcept nogil:
    cdef size_t need = pfo_rob_footprint(window, psn_bits)
    cdef uint32_t i
    cdef char* p = <char*>mem
    if (need == 0 or r is NULL or mem is NULL or (<size_t>mem & 7) != 0 or timeout_ns < 0
            or <uint64_t>first_psn >= (<uint64_t>1 << psn_bits)):
        return PFO_EINVAL
    if size < need:
        return PFO_ENOSPC
    memset(r, 0, sizeof(pfo_rob_t))
    r.slots = <pfo_rob_slot_t*>p
    p += window * sizeof(pfo_rob_slot_t)
    r.order = <pfo_psn_t*>p
    p += 2 * <size_t>window * sizeof(pfo_psn_t)
    r.ready = <pfo_handle_t*>p
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
    return PFO_OK


cdef void pfo_rob_fini(pfo_rob_t* r) noexcept nogil:
    if r is not NULL:
        memset(r, 0, sizeof(pfo_rob_t))


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


cdef inline bint _psns_fit(const pfo_rob_t* r, const pfo_psn_t* psns, Py_ssize_t n) noexcept nogil:
    cdef pfo_psn_t wide = 0
    cdef Py_ssize_t i
    if r.psn_mask == <uint32_t>0xFFFFFFFFu:
        return True
    for i in range(n):
        wide |= psns[i]
    return (wide & ~r.psn_mask) == 0


# The burst insert exists once, in two compiled forms chosen at compile time
# (a fused type): _plain_t for no drop flags and no statuses (the hot path:
# their tests are not even compiled in) and _flagged_t for the general case.
ctypedef struct _plain_t:
    char unused
ctypedef struct _flagged_t:
    char unused

ctypedef fused _mode_t:
    _plain_t
    _flagged_t


cdef inline Py_ssize_t _insert_fast(_mode_t* mode, pfo_rob_slot_t* slots, pfo_psn_t* order,
                                    uint32_t mask, uint32_t pmask, uint32_t window,
                                    uint32_t omask, pfo_psn_t head, uint32_t* otail,
                                    const pfo_psn_t* psns, const pfo_handle_t* handles,
                                    const uint8_t* dropped, uint8_t* status_out,
                                    Py_ssize_t i, Py_ssize_t n, pfo_ns_t now,
                                    Py_ssize_t* dups) noexcept nogil:
    # THE in-window insert loop of the burst paths (pfo_rob_insert is the
    # per-packet form of the same step).  Insert psns[i:] while they fall
    # inside the window and are not dropped, without a call or a store to the
    # ring's header (everything stays in registers); status_out (may be NULL)
    # gets each status.  Returns the index of the first packet not handled (n,
    # or one for the general path: outside the window, or dropped).
    cdef pfo_rob_slot_t* s
    cdef pfo_psn_t p
    cdef uint32_t t = otail[0]
    cdef int st
    while i < n:
        p = psns[i]
        if ((p - head) & pmask) >= window:
            break
        if _mode_t is _flagged_t:
            if dropped is not NULL and dropped[i]:
                break
        s = &slots[p & mask]
        if s.ts == PFO_ROB_SLOT_EMPTY:
            s.handle = handles[i]
            s.ts = now
            order[t & omask] = p
            t += 1
            st = PFO_ROB_BUFFERED
        else:
            dups[0] += 1
            st = PFO_ROB_DUPLICATE
        if _mode_t is _flagged_t:
            if status_out is not NULL:
                status_out[i] = <uint8_t>st
        i += 1
    otail[0] = t
    return i


cdef Py_ssize_t _insert_run(_mode_t* mode, pfo_rob_t* r, const pfo_psn_t* psns,
                            const pfo_handle_t* handles, Py_ssize_t n, pfo_ns_t now,
                            const uint8_t* dropped, uint8_t* status_out,
                            pfo_handle_t* out, Py_ssize_t cap, Py_ssize_t* k) noexcept nogil:
    # pfo_rob_insert on n packets: runs of in-window packets by _insert_fast,
    # the others (outside the window, dropped) one by one by the general path.
    # dropped / status_out may be NULL (and are ignored in the _plain_t form).
    # With out (not NULL), a FULL insert drains into out[k:cap] first.
    # Returns the number BUFFERED.
    # Preconditions: now >= r.last_ns, every PSN < 2**psn_bits.
    cdef uint32_t otail, added
    cdef Py_ssize_t i = 0, dups = 0, buffered = 0
    cdef int st
    cdef bint drop = False
    r.last_ns = now
    while True:
        otail = r.order_head + r.order_n
        dups = 0
        i = _insert_fast(mode, r.slots, r.order, r.mask, r.psn_mask, r.window, r.order_mask,
                         r.head, &otail, psns, handles, dropped, status_out, i, n, now,
                         &dups)
        added = otail - (r.order_head + r.order_n)
        r.order_n += added
        r.in_ring += added
        r.st.inserted += added + dups
        r.st.duplicates += dups
        buffered += added
        if i >= n:
            return buffered
        if _mode_t is _flagged_t:
            drop = dropped is not NULL and dropped[i]
        st = _insert_or_drain(r, psns[i], handles[i], now, drop, out, cap, k)
        buffered += st == PFO_ROB_BUFFERED
        if _mode_t is _flagged_t:
            if status_out is not NULL:
                status_out[i] = <uint8_t>st
        i += 1


cdef _plain_t _PLAIN
cdef _flagged_t _FLAGGED


cdef Py_ssize_t pfo_rob_insert_burst(pfo_rob_t* r, const pfo_psn_t* psns,
                                     const pfo_handle_t* handles, Py_ssize_t n,
                                     pfo_ns_t now, const uint8_t* dropped,
                                     uint8_t* status_out) noexcept nogil:
    cdef Py_ssize_t k = 0
    if now < r.last_ns or not _psns_fit(r, psns, n):
        return -1
    if dropped is NULL and status_out is NULL:     # the common case, specialised
        return _insert_run(&_PLAIN, r, psns, handles, n, now, NULL, NULL, NULL, 0, &k)
    return _insert_run(&_FLAGGED, r, psns, handles, n, now, dropped, status_out, NULL, 0, &k)


cdef Py_ssize_t pfo_rob_process(pfo_rob_t* r, const pfo_psn_t* psns,
                                const pfo_handle_t* handles, Py_ssize_t n, pfo_ns_t now,
                                const uint8_t* dropped, uint8_t* status_out,
                                Py_ssize_t drain_every, pfo_handle_t* out,
                                Py_ssize_t cap) noexcept nogil:
    cdef Py_ssize_t i = 0, j, k = 0
    cdef const uint8_t* d
    cdef uint8_t* so
    if now < r.last_ns or not _psns_fit(r, psns, n):
        return -1
    if drain_every <= 0 or drain_every > n:
        drain_every = n
    while True:
        j = n - i if n - i < drain_every else drain_every
        if dropped is NULL and status_out is NULL:
            _insert_run(&_PLAIN, r, psns + i, handles + i, j, now, NULL, NULL, out, cap, &k)
        else:
            d = dropped
            so = status_out
            if d is not NULL:
                d += i
            if so is not NULL:
                so += i
            _insert_run(&_FLAGGED, r, psns + i, handles + i, j, now, d, so, out, cap, &k)
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
    n = 0
    if r.ready_n:
        n = _release_ready(r, out, cap)
        if r.ready_n:
            return n
    limit = now - r.timeout_ns       # no overflow: 0 <= now, timeout <= INT64_MAX
    # fast exit: nothing at the head and no timeout due (the order FIFO's
    # front is the earliest-inserted packet held: see _order_clean)
    if (slots[r.head & mask].ts == PFO_ROB_SLOT_EMPTY
            and (r.order_n == 0 or slots[r.order[r.order_head] & mask].ts > limit)):
        return n
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
