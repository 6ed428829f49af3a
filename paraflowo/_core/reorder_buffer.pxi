# ReorderBuffer: the Python boundary of one reorder buffer.
# Part of paraflowo/_core/reorder.pyx, which includes it (one extension module).

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
        cdef size_t size = pfo_rob_footprint(w, bits)
        self._mem = malloc(size)
        if self._mem is NULL:
            raise MemoryError(f"cannot allocate a reorder buffer of window {w}")
        self.rob = &self._own
        pfo_rob_init(self.rob, self._mem, size, w, t, bits, first)   # validated above: PFO_OK
        self.psn_bits = bits
        self.first_psn = first

    def __dealloc__(self):
        # a part of a ReorderQueues (_mem NULL) lives in its owner's block
        if self._mem is not NULL:
            pfo_rob_fini(&self._own)
            free(self._mem)

    @staticmethod
    def footprint(window, psn_bits=32):
        """Bytes a reorder buffer of ``window`` slots occupies (``pfo_rob_footprint``).

        The memory :class:`ReorderBuffer` allocates, and what a host passes
        to ``pfo_rob_init`` to place one in memory it owns.  Arguments are
        checked as for the constructor.

        >>> from paraflowo import ReorderBuffer
        >>> ReorderBuffer.footprint(1024) == ReorderBuffer(1024, None).nbytes
        True
        """
        bits = require_int("psn_bits", psn_bits, 8, 32)
        w = require_pow2("window", window, 2, min(1 << 24, 1 << (bits - 1)))
        return pfo_rob_footprint(w, bits)

    def __repr__(self):
        t = None if self.rob.timeout_ns == _NS_MAX else self.rob.timeout_ns
        return (f"ReorderBuffer(window={self.rob.window}, timeout_ns={t}, "
                f"psn_bits={self.psn_bits}, first_psn={self.first_psn})")

    # -- C-level API (see reorder.pxd) -------------------------------------

    cdef int c_insert(self, pfo_psn_t psn, pfo_handle_t handle, pfo_ns_t now_ns,
                      bint dropped) noexcept nogil:
        return pfo_rob_insert(self.rob, psn, handle, now_ns, dropped)

    cdef Py_ssize_t c_drain(self, pfo_ns_t now_ns, pfo_handle_t* out,
                            Py_ssize_t cap) noexcept nogil:
        return pfo_rob_drain(self.rob, now_ns, out, cap)

    cdef Py_ssize_t c_flush(self, pfo_handle_t* out, Py_ssize_t cap) noexcept nogil:
        return pfo_rob_flush(self.rob, out, cap)

    cdef pfo_ns_t c_next_deadline(self) noexcept nogil:
        return pfo_rob_next_deadline(self.rob)

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
        _rb_readable(self)
        return self.rob.head

    @property
    def held(self):
        """Packets held now (not yet released)."""
        _rb_readable(self)
        return pfo_rob_held(self.rob)

    @property
    def last_ns(self):
        """The latest time seen; earlier times are refused."""
        _rb_readable(self)
        return self.rob.last_ns

    @property
    def next_deadline(self):
        """Earliest time at which :meth:`drain` has something to do.

        :attr:`last_ns` if packets can be released now, the timeout deadline
        of the earliest-inserted packet held otherwise, ``None`` if nothing is
        held (or there is no timeout and the head is missing).
        """
        _rb_readable(self)
        cdef pfo_ns_t d = pfo_rob_next_deadline(self.rob)
        return None if d == PFO_NS_NEVER else d

    @property
    def stats(self):
        """A :class:`ReorderStats` snapshot of the counters."""
        _rb_readable(self)
        return _make_stats(self.rob.st, pfo_rob_held(self.rob))

    @property
    def nbytes(self):
        """Bytes of memory this buffer occupies (:meth:`footprint`)."""
        return pfo_rob_footprint(self.rob.window, self.psn_bits)

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
        _rb_mutable(self, "ReorderQueues.insert")
        cdef bint d = False if dropped is False else _as_flag("dropped", dropped)
        cdef pfo_psn_t p = <pfo_psn_t>pfo_uint("psn", psn, 0, self.rob.psn_mask)
        cdef pfo_handle_t h = pfo_uint("handle", handle, 0, PFO_UINT64_MAX)
        cdef pfo_ns_t t = pfo_time("now_ns", now_ns)
        pfo_not_backwards("now_ns", t, self.rob.last_ns)
        return _STATUS[pfo_rob_insert(self.rob, p, h, t, d)]

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
        _rb_mutable(self, "ReorderQueues.drain")
        cdef pfo_ns_t t = pfo_time("now_ns", now_ns)
        pfo_not_backwards("now_ns", t, self.rob.last_ns)
        return _release_array(self.rob, t, False)

    @cython.binding(False)
    @cython.embedsignature.format("clinic")
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
        _rb_mutable(self, "ReorderQueues.drain_into")
        cdef pfo_ns_t t = pfo_time("now_ns", now_ns)
        cdef Py_buffer bo
        cdef Py_ssize_t n
        pfo_bind(&bo, out, "out", _u64, PFO_WRITABLE)
        try:
            pfo_not_backwards("now_ns", t, self.rob.last_ns)
            pfo_enter(&self.busy, self)
            # a short drain keeps the GIL (it writes at most min(held, len(out)))
            if <Py_ssize_t>pfo_rob_held(self.rob) < PFO_NOGIL_MIN or pfo_len(&bo) < PFO_NOGIL_MIN:
                n = pfo_rob_drain(self.rob, t, <pfo_handle_t*>bo.buf, pfo_len(&bo))
            else:
                with nogil:
                    n = pfo_rob_drain(self.rob, t, <pfo_handle_t*>bo.buf, pfo_len(&bo))
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
        _rb_mutable(self, "ReorderQueues.flush")
        return _release_array(self.rob, 0, True)

    # -- bursts ---------------------------------------------------------------
    # The burst methods (and drain_into) are plain method descriptors
    # (binding=False): called with less overhead than a cyfunction; the
    # clinic-style signature keeps inspect.signature.

    @cython.binding(False)
    @cython.embedsignature.format("clinic")
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
        _rb_burst(&_INSERT, self, psns, handles, now_ns, dropped, status_out, None, 0)
        return status_out

    @cython.binding(False)
    @cython.embedsignature.format("clinic")
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
        taken whenever ``out`` has room.  From 256 packets on it runs
        without the GIL (a shorter burst keeps it) and, with preallocated
        arrays, creates no Python object per packet.

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
        return _rb_burst(&_PROCESS, self, psns, handles, now_ns, dropped, status_out, out,
                         drain_every)


# -- guards and the burst path (module functions: private, not in the .pxd) ---

cdef int _rb_readable(ReorderBuffer self) except -1:
    # RuntimeError while a GIL-free burst runs on this buffer or its owner
    pfo_guard(self.busy, self)
    if self._owner_busy != NULL:
        pfo_guard(self._owner_busy[0], self._part_of)
    return 0


cdef inline int _rb_mutable(ReorderBuffer self, str use) except -1:
    # as _readable, and ValueError for a part of a ReorderQueues
    if self._part_of is not None:
        pfo_raise_part(self, self._part_of, use)
    pfo_guard(self.busy, self)
    return 0


cdef inline Py_ssize_t _rb_run(pfo_rob_t* rob, const Py_buffer* bp, const Py_buffer* bh,
                               const Py_buffer* bd, const Py_buffer* bs, Py_ssize_t n,
                               pfo_ns_t t, Py_ssize_t ev, pfo_handle_t* op, Py_ssize_t cap,
                               bint process) noexcept nogil:
    # _rb_burst's work over its bound arrays (dropped and status_out optional)
    cdef const uint8_t* dp = <const uint8_t*>bd.buf if pfo_bound(bd) else NULL
    cdef uint8_t* sp = <uint8_t*>bs.buf if pfo_bound(bs) else NULL
    if process:
        return pfo_rob_process(rob, <const pfo_psn_t*>bp.buf, <const pfo_handle_t*>bh.buf,
                               n, t, dp, sp, ev, op, cap)
    return pfo_rob_insert_burst(rob, <const pfo_psn_t*>bp.buf, <const pfo_handle_t*>bh.buf,
                                n, t, dp, sp)


# _rb_burst exists once, in two compiled forms chosen at compile time (a
# fused type, as _insert_run's _mode_t): _insert_op_t for insert_burst, whose
# form has none of process_burst's code (out, drain_every) compiled in, and
# _process_op_t.  Each form has one caller, which the C compiler inlines it
# into: 38 instructions fewer per 32-record insert_burst than one shared
# function taking a flag (callgrind).
ctypedef struct _insert_op_t:
    char unused
ctypedef struct _process_op_t:
    char unused

ctypedef fused _op_t:
    _insert_op_t
    _process_op_t

cdef _insert_op_t _INSERT
cdef _process_op_t _PROCESS


cdef inline Py_ssize_t _rb_burst(_op_t* kind, ReorderBuffer self, psns, handles, now_ns, dropped,
                                 status_out, out, drain_every) except -2:
    # The one path of insert_burst (_insert_op_t: returns the number
    # BUFFERED) and process_burst (returns the number written to out).
    # Every check runs before anything changes.
    cdef Py_buffer bp, bh, bd, bs, bo
    cdef Py_ssize_t n, r, ev = 0, cap = 0
    cdef pfo_handle_t* op = NULL
    cdef pfo_ns_t t = pfo_time("now_ns", now_ns)
    cdef bint process = _op_t is _process_op_t
    if _op_t is _process_op_t:
        ev = _every(drain_every)
    _rb_mutable(self, "ReorderQueues.process_burst")
    bh.shape = bd.shape = bs.shape = bo.shape = NULL
    pfo_bind(&bp, psns, "psns", _u32, 0)
    try:
        pfo_bind(&bh, handles, "handles", _u64, 0)
        n = pfo_len(&bp)
        if pfo_len(&bh) != n:
            raise ValueError(f"psns and handles must have the same length, "
                             f"got {n} and {pfo_len(&bh)}")
        if dropped is not None:
            pfo_bind_n(&bd, _as_u8_flags(dropped), "dropped", _u8, 0, n)
        pfo_bind(&bs, status_out, "status_out", _u8, PFO_WRITABLE | PFO_OPTIONAL)
        if pfo_bound(&bs):
            pfo_check_len("status_out", pfo_len(&bs), n, n)
        if _op_t is _process_op_t:
            pfo_bind(&bo, out, "out", _u64, PFO_WRITABLE)
            cap = pfo_len(&bo)
            op = <pfo_handle_t*>bo.buf
            if not pfo_bound(&bs):
                _out_room("out", cap, n + <Py_ssize_t>pfo_rob_held(self.rob),
                          "len(psns) + held")
        pfo_enter(&self.busy, self)
        if n < PFO_NOGIL_MIN:        # a short burst keeps the GIL
            r = _rb_run(self.rob, &bp, &bh, &bd, &bs, n, t, ev, op, cap, process)
        else:
            with nogil:
                r = _rb_run(self.rob, &bp, &bh, &bd, &bs, n, t, ev, op, cap, process)
        pfo_leave(&self.busy)
        if r < 0:
            # The C entry refused the burst, nothing changed: now_ns went
            # backwards (its first test, so this error comes first, as when
            # both are wrong), or a PSN is too wide (name the first).  The
            # time is tested there only, not here as well.
            pfo_not_backwards("now_ns", t, self.rob.last_ns)
            _bad_psn("psns", psns, self.rob.psn_mask, self.psn_bits)
        return r
    finally:
        pfo_release(&bo)
        pfo_release(&bs)
        pfo_release(&bd)
        pfo_release(&bh)
        pfo_release(&bp)
