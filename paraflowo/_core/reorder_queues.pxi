# ReorderQueues: the Python boundary of many reorder queues.
# Part of paraflowo/_core/reorder.pyx, which includes it (one extension module).

@cython.final
@cython.no_gc
cdef class _Memory:
    # One block (pfo_block_alloc: aligned, huge pages where it pays), freed
    # with the last object holding it.
    cdef void* p

    def __cinit__(self, size_t size):
        self.p = pfo_block_alloc(size)
        if self.p is NULL:
            raise MemoryError(f"cannot allocate {size} bytes for reorder queues")

    def __dealloc__(self):
        free(self.p)


cdef ReorderBuffer _part(_Memory block, pfo_rob_t* r, int bits, pfo_psn_t first,
                         int* owner_busy):
    # A read-only ReorderBuffer over queue r, which lives in block: it keeps
    # block alive and sees its container's busy flag.
    cdef ReorderBuffer b = ReorderBuffer(2, None, bits)
    pfo_rob_fini(&b._own)
    free(b._mem)
    b._mem = NULL
    b.rob = r
    b.first_psn = first
    b._owner = block
    b._part_of = "ReorderQueues"
    b._owner_busy = owner_busy
    return b


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
        proto = ReorderBuffer(window, timeout_ns, psn_bits, first_psn)   # checks the rest
        cdef int bits = proto.psn_bits
        cdef uint32_t w = proto.rob.window
        cdef size_t size = pfo_robq_footprint(n, w, bits)
        cdef _Memory block = _Memory(size)
        pfo_robq_init(&self.q, block.p, size, n, w, proto.rob.timeout_ns, bits,
                      proto.first_psn)              # validated above: PFO_OK
        self._block = block
        cdef Py_ssize_t i
        parts = []
        for i in range(n):
            parts.append(_part(block, self.q.robs[i], bits, proto.first_psn, &self.busy))
        self.buffers = tuple(parts)
        self.n_queues = n

    def __dealloc__(self):
        # The parts may outlive us (rq.buffers[0] kept): they hold the memory
        # block, not us (no reference cycle), so the block is freed with the
        # last of them.  Unlink our guard from them.
        if self.buffers is not None:
            for b in self.buffers:
                (<ReorderBuffer>b)._owner_busy = NULL

    @staticmethod
    def footprint(n_queues, window, psn_bits=32):
        """Bytes ``n_queues`` reorder queues of ``window`` slots occupy (``pfo_robq_footprint``).

        One block: the queues' bookkeeping (30 bytes per queue, rounded up to
        64), their ``n_queues`` headers (``pfo_rob_t``, 160 bytes, each at a
        192-byte stride so that each starts a cache line) and
        ``n_queues`` times :meth:`ReorderBuffer.footprint`.  (The
        ``pfo_robq_t`` header itself is not counted: it lives in the object.)  This is
        the figure the SRAM planner uses (:func:`paraflowo.planning.sram_fit`).

        >>> from paraflowo import ReorderBuffer, ReorderQueues
        >>> ReorderQueues.footprint(16, 256) - 16 * ReorderBuffer.footprint(256)
        3584
        """
        n = require_int("n_queues", n_queues, 1, 0xFFFF)
        bits = require_int("psn_bits", psn_bits, 8, 32)
        w = require_pow2("window", window, 2, min(1 << 24, 1 << (bits - 1)))
        return pfo_robq_footprint(n, w, bits)

    @property
    def nbytes(self):
        """Bytes of memory these queues occupy (:meth:`footprint`)."""
        return pfo_robq_footprint(self.q.n_queues, self.q.robs[0].window,
                                  (<ReorderBuffer>self.buffers[0]).psn_bits)

    def __repr__(self):
        b = <ReorderBuffer>self.buffers[0]
        return (f"ReorderQueues(n_queues={self.n_queues}, window={b.window}, "
                f"timeout_ns={b.timeout_ns}, psn_bits={b.psn_bits}, first_psn={b.first_psn})")

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
        _rq_mutable(self, "MetadataCache.receive")
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

    @cython.binding(False)
    @cython.embedsignature.format("clinic")
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
        _rq_mutable(self, "MetadataCache.drain")
        return _rq_drain_into(self, now_ns, out, out_queue)

    def drain(self, now_ns):
        """Drain at ``now_ns``; returns ``(handles uint64, queues int32)`` arrays.

        Raises as :meth:`drain_into`.
        """
        _rq_mutable(self, "MetadataCache.drain")
        return self._drain(now_ns)

    cdef tuple _drain(self, now_ns):
        pfo_guard(self.busy, self)
        pfo_time("now_ns", now_ns)          # a bad time before the allocation
        cap = self.held
        out = _empty(cap, _u64)
        oq = _empty(cap, _i32)
        n = _rq_drain_into(self, now_ns, out, oq)
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
        _rq_mutable(self, "MetadataCache.flush")
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
            self.q.deadline[i] = 0          # an inactive queue's (see _robq_deactivate)
            self.q.is_touched[i] = 0
        self.q.n_active = 0
        self.q.n_touched = 0
        self.q.min_deadline = PFO_NS_NEVER
        return np.concatenate(hs), np.concatenate(qs)

    @cython.binding(False)
    @cython.embedsignature.format("clinic")
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
        _rq_mutable(self, "MetadataCache.receive")
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
            if n < PFO_NOGIL_MIN:       # a short burst keeps the GIL
                k = pfo_robq_process(&self.q, <const pfo_meta_t*>bm.buf, n, t,
                                     <pfo_handle_t*>bo.buf, <int32_t*>bq.buf, cap,
                                     <uint8_t*>bs.buf, every)
            else:
                with nogil:
                    k = pfo_robq_process(&self.q, <const pfo_meta_t*>bm.buf, n, t,
                                         <pfo_handle_t*>bo.buf, <int32_t*>bq.buf, cap,
                                         <uint8_t*>bs.buf, every)
            pfo_leave(&self.busy)
            if k < 0:
                _rq_explain(self, meta)
            return k
        finally:
            pfo_release(&bs)
            pfo_release(&bq)
            pfo_release(&bo)
            pfo_release(&bm)

    # -- added for the simulator's adaptive timeout (issue 16) ---------------
    def set_timeout(self, timeout_ns):
        """Give every queue a new timeout while packets are held.

        Parameters
        ----------
        timeout_ns : int or None
            The timeout in ns, in ``[0, 2**63 - 1]``; ``None`` for no timeout.

        Raises
        ------
        TypeError, ValueError
            ``timeout_ns`` is not an integer in range (nothing changed).

        Notes
        -----
        The deadline of a held packet becomes its insert time plus the new
        timeout.  Every queue holding packets is marked touched, so the next
        drain recomputes its cached deadline (a shorter timeout takes effect
        at that drain, never later).  O(n_queues).  Like every call, it raises
        ``RuntimeError`` while another thread runs a burst on these queues.

        Examples
        --------
        >>> rq = ReorderQueues(n_queues=2, window=8, timeout_ns=1000)
        >>> rq.insert(0, 1, 11, 0)                     # PSN 0 missing: held
        <ReorderStatus.BUFFERED: 0>
        >>> rq.set_timeout(50_000)
        >>> rq.next_deadline, rq.drain(1000)[0].tolist()
        (50000, [])
        """
        pfo_guard(self.busy, self)
        cdef pfo_ns_t t = _NS_MAX if timeout_ns is None else pfo_time("timeout_ns", timeout_ns)
        cdef uint32_t i
        for i in range(self.q.n_queues):
            self.q.robs[i].timeout_ns = t
        for i in range(self.q.n_active):
            pfo_robq_touch(&self.q, self.q.active[i])


# -- private helpers (module functions, not in the .pxd) ---------------------

cdef int _rq_mutable(ReorderQueues self, str use) except -1:
    # RuntimeError while a burst runs; ValueError for a part of a MetadataCache
    if self._part_of is not None:
        pfo_raise_part(self, self._part_of, use)
    pfo_guard(self.busy, self)
    return 0


cdef Py_ssize_t _rq_drain_into(ReorderQueues self, now_ns, out, out_queue) except -1:
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
        # a short drain keeps the GIL: fewer than PFO_NOGIL_MIN queues to
        # visit and handles to write
        if pfo_len(&bo) < PFO_NOGIL_MIN and self.q.n_active < PFO_NOGIL_MIN:
            n = pfo_robq_drain(&self.q, t, <pfo_handle_t*>bo.buf, <int32_t*>bq.buf,
                               pfo_len(&bo))
        else:
            with nogil:
                n = pfo_robq_drain(&self.q, t, <pfo_handle_t*>bo.buf, <int32_t*>bq.buf,
                                   pfo_len(&bo))
        pfo_leave(&self.busy)
    finally:
        pfo_release(&bq)
        pfo_release(&bo)
    return n


cdef int _rq_explain(ReorderQueues self, meta) except -1:
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
