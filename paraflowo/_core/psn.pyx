"""Reorder-queue and PSN allocation for para_flow flows (paper 4.1.2)."""

cimport cython

from cpython.buffer cimport Py_buffer
from cpython.mem cimport PyMem_Calloc, PyMem_Free
from libc.stdint cimport int32_t, int64_t, uint16_t, uint32_t, uint64_t

import numpy as np

from paraflowo._core._boundary cimport (
    PFO_NOGIL_MIN, PFO_UINT64_MAX, PFO_WRITABLE, pfo_bind, pfo_bind_n, pfo_check_len, pfo_enter, pfo_guard, pfo_leave,
    pfo_len, pfo_not_backwards, pfo_raise_backwards, pfo_release, pfo_time, pfo_uint)
from paraflowo._core._key cimport pfo_key
from paraflowo._checks import require_int, require_pow2

cdef object _u16 = np.dtype(np.uint16)
cdef object _u32 = np.dtype(np.uint32)
cdef object _u64 = np.dtype(np.uint64)
cdef object _i32 = np.dtype(np.int32)
cdef object _i64 = np.dtype(np.int64)


cdef inline uint32_t _queue(PSNAllocator a, object queue) except? 0:
    return <uint32_t>pfo_uint("queue", queue, 0, a.n_queues - 1)


cdef Py_ssize_t _tag_burst(PSNAllocator a, const Py_buffer* bk, const Py_buffer* bp,
                           const Py_buffer* bh, const pfo_ns_t* tp, Py_ssize_t n,
                           Py_buffer* bq, Py_buffer* bs) noexcept nogil:
    # tag_burst once its arrays are bound: -1 after tagging all n packets,
    # else the index of the first backwards time (nothing tagged).
    cdef Py_ssize_t i = pfo_ns_first_backwards(tp, n, a.last_ns)
    if i < 0:
        a.c_tag_burst(<const uint64_t*>bk.buf, <const uint16_t*>bp.buf,
                      <const pfo_hash_t*>bh.buf, tp, n, <int32_t*>bq.buf, <pfo_psn_t*>bs.buf)
        if n:
            a.last_ns = tp[n - 1]
    return i


cdef class PSNAllocator:
    """Reorder queues and packet sequence numbers for para_flow flows.

    An elephant flow gets exclusive use of one reorder queue, chosen from its
    port id and flow hash; each of its tagged packets then gets that queue's
    next PSN.  The egress reorder buffer of the queue puts the packets back in
    PSN order.

    Parameters
    ----------
    n_queues : int
        Number of reorder queues, a power of two in [1, 65536] (queue ids are
        16-bit in the metadata record).
    psn_bits : int, default 32
        Width of a PSN, 8 to 32 bits; PSNs wrap from ``2**psn_bits - 1`` to 0.
    idle_ns : int, default 1_000_000
        A queue returns to the pool once its flow has sent nothing for
        ``idle_ns`` nanoseconds, in [1, 2**62].  Choose it above the longest
        time a packet can spend between ingress and egress, so that no packet
        of the old owner is still in flight when another flow takes the queue.
    probes : int, default 4
        Queues tried per acquisition, in [1, 64] (at most ``n_queues`` are
        distinct).

    Raises
    ------
    TypeError
        If an argument is not an integer.
    ValueError
        If ``n_queues`` is not a power of two in range, or another argument is
        out of range.

    Notes
    -----
    Queue choice: ``home = mix(flow_hash ^ port * 0x9e3779b1)`` (the murmur3
    finaliser), then queues ``(home + i) & (n_queues - 1)`` for ``i`` in
    ``[0, probes)``.  A queue the flow already owns wins; else the first queue
    that is free (never owned, or its owner idle for ``idle_ns``) is taken.
    When every probed queue has a live owner the packet is *not* tagged: it
    stays in plain flow affinity, :attr:`fallbacks` counts it, and its flow
    tries again on its next packet.  Never an error on the packet path.

    Two live flows never share a queue, and a queue's PSN sequence continues
    across owners (the next owner starts where the last one stopped), so the
    egress side needs no reset.  PSNs are serial numbers modulo
    ``2**psn_bits`` (RFC 1982): with ``psn_bits=8`` a queue hands out
    ..., 254, 255, 0, 1, ...

    Memory: 24 bytes per queue, allocated once.  Cost per packet: at most
    ``probes`` queue records read, no allocation.  Time (``now_ns``) must not
    go backwards.  One thread at a time: while :meth:`tag_burst` runs
    without the GIL (or a :class:`Breakup` burst that owns this allocator),
    :meth:`tag` and :meth:`tag_burst` from another thread raise
    :class:`RuntimeError`; the queries still answer.

    Examples
    --------
    >>> from paraflowo import PSNAllocator
    >>> alloc = PSNAllocator(4, psn_bits=8, idle_ns=1000)
    >>> q, psn = alloc.tag(key=7, port=0, flow_hash=0x51ccc178, now_ns=0)
    >>> psn, alloc.tag(7, 0, 0x51ccc178, 10) == (q, 1)
    (0, True)
    >>> alloc.owner(q, now_ns=10), alloc.owner(q, now_ns=1010)   # idle 1000 ns
    (7, None)
    """

    def __cinit__(self, n_queues, psn_bits=32, idle_ns=1_000_000, probes=4):
        n_queues = require_pow2("n_queues", n_queues, 1, 1 << 16)
        psn_bits = require_int("psn_bits", psn_bits, 8, 32)
        idle_ns = require_int("idle_ns", idle_ns, 1, 1 << 62)
        probes = require_int("probes", probes, 1, PFO_PSN_MAX_PROBES)
        self.queues = <pfo_psn_queue_t*>PyMem_Calloc(n_queues, sizeof(pfo_psn_queue_t))
        if self.queues is NULL:
            raise MemoryError("cannot allocate the reorder queue table")
        self.n_queues = n_queues
        self.mask = n_queues - 1
        self.psn_bits = psn_bits
        self.psn_mask = <pfo_psn_t>((1 << psn_bits) - 1)
        self.idle_ns = idle_ns
        self.probes = probes
        self.last_ns = 0

    def __dealloc__(self):
        PyMem_Free(self.queues)

    def __repr__(self):
        return (f"PSNAllocator(n_queues={self.n_queues}, psn_bits={self.psn_bits}, "
                f"idle_ns={self.idle_ns}, probes={self.probes})")

    # -- the core -----------------------------------------------------------

    cdef int32_t c_acquire(self, uint64_t key, uint16_t port, pfo_hash_t h,
                           pfo_ns_t now_ns) noexcept nogil:
        cdef uint32_t home = pfo_psn_home(port, h), i, q
        cdef int32_t free_q = -1
        cdef pfo_psn_queue_t* e
        for i in range(self.probes):
            q = (home + i) & self.mask
            e = &self.queues[q]
            if e.owned and e.owner == key:
                e.last_ns = now_ns
                return <int32_t>q
            if free_q < 0 and (not e.owned or now_ns - e.last_ns >= self.idle_ns):
                free_q = <int32_t>q
        if free_q < 0:
            self.fallbacks += 1
            return PFO_PSN_NO_QUEUE
        e = &self.queues[free_q]
        e.owner = key
        e.owned = 1
        e.last_ns = now_ns
        self.acquired += 1
        return free_q

    cdef pfo_psn_t c_next_psn(self, uint32_t queue, pfo_ns_t now_ns) noexcept nogil:
        return pfo_psn_next(self, queue, now_ns)

    cdef int32_t c_tag(self, uint64_t key, uint16_t port, pfo_hash_t h,
                       pfo_ns_t now_ns, pfo_psn_t* psn) noexcept nogil:
        cdef int32_t q = self.c_acquire(key, port, h, now_ns)
        if q < 0:
            psn[0] = 0
        else:
            psn[0] = pfo_psn_next(self, <uint32_t>q, now_ns)
        return q

    cdef void c_tag_burst(self, const uint64_t* keys, const uint16_t* ports,
                          const pfo_hash_t* hashes, const pfo_ns_t* now_ns,
                          Py_ssize_t n, int32_t* queues, pfo_psn_t* psns) noexcept nogil:
        cdef Py_ssize_t i
        for i in range(n):
            queues[i] = self.c_tag(keys[i], ports[i], hashes[i], now_ns[i], &psns[i])

    # -- Python API ---------------------------------------------------------

    def tag(self, key, port, flow_hash, now_ns):
        """Tag one packet of a para_flow flow with (queue, PSN).

        Parameters
        ----------
        key : int
            The flow's 64-bit key, in ``[0, 2**64)``: what identifies the owner.
        port : int
            Ingress port id, in ``[0, 65535]``.
        flow_hash : int
            The flow's 32-bit RSS hash.
        now_ns : int
            Arrival time, ns, ``>= 0`` and not before the previous call's.

        Returns
        -------
        tuple of int
            ``(queue, psn)``; ``(-1, 0)`` when no probed queue is free: send
            the packet untagged by plain flow affinity (counted in
            :attr:`fallbacks`).

        Raises
        ------
        TypeError
            If an argument is not an integer.
        ValueError
            If an argument is out of range or ``now_ns`` goes backwards; the
            allocator is unchanged.
        RuntimeError
            If another thread is running a burst on this allocator (unchanged).
        """
        pfo_guard(self.busy, self)
        cdef uint64_t k = pfo_key("key", key)
        cdef uint16_t p = <uint16_t>pfo_uint("port", port, 0, 0xFFFF)
        cdef pfo_hash_t h = <pfo_hash_t>pfo_uint("flow_hash", flow_hash, 0, 0xFFFFFFFF)
        cdef pfo_ns_t t = pfo_time("now_ns", now_ns)
        pfo_not_backwards("now_ns", t, self.last_ns)
        cdef pfo_psn_t psn
        cdef int32_t q = self.c_tag(k, p, h, t, &psn)
        self.last_ns = t
        return q, psn

    @cython.binding(False)
    @cython.embedsignature.format("clinic")
    def tag_burst(self, keys, ports, flow_hashes, now_ns, queues=None, psns=None):
        """Tag a burst of packets, in order; same result as :meth:`tag` per packet.

        Parameters
        ----------
        keys : numpy.ndarray
            ``uint64`` flow keys.
        ports : numpy.ndarray
            ``uint16`` port ids.
        flow_hashes : numpy.ndarray
            ``uint32`` flow hashes.
        now_ns : numpy.ndarray
            ``int64`` arrival times, non-decreasing and not before the
            previous call's.
        queues : numpy.ndarray, optional
            ``int32`` output (queue, or -1 for an untagged packet).
        psns : numpy.ndarray, optional
            ``uint32`` output (0 for an untagged packet).

        Returns
        -------
        tuple of numpy.ndarray
            ``(queues, psns)``.

        Raises
        ------
        TypeError
            If an array is not a numpy array of its dtype.
        ValueError
            If arrays are not 1-D C-contiguous, lengths differ, or times are
            negative or go backwards; the allocator is unchanged.
        RuntimeError
            If another thread is running a burst on this allocator (unchanged).

        Notes
        -----
        Runs without the GIL from 256 records on (a shorter burst keeps
        it); meanwhile, calls that change this allocator
        from other threads raise :class:`RuntimeError` (give each thread its
        own).
        """
        cdef Py_buffer bk, bp, bh, bt, bq, bs
        cdef Py_ssize_t n, i
        cdef const pfo_ns_t* tp
        bp.shape = bh.shape = bt.shape = bq.shape = bs.shape = NULL
        pfo_guard(self.busy, self)
        pfo_bind(&bk, keys, "keys", _u64, 0)
        try:
            n = pfo_len(&bk)
            pfo_bind_n(&bp, ports, "ports", _u16, 0, n)
            pfo_bind_n(&bh, flow_hashes, "flow_hashes", _u32, 0, n)
            pfo_bind_n(&bt, now_ns, "now_ns", _i64, 0, n)
            if queues is None:
                queues = np.empty(n, dtype=np.int32)
            pfo_bind_n(&bq, queues, "queues", _i32, PFO_WRITABLE, n)
            if psns is None:
                psns = np.empty(n, dtype=np.uint32)
            pfo_bind_n(&bs, psns, "psns", _u32, PFO_WRITABLE, n)
            tp = <const pfo_ns_t*>bt.buf
            pfo_enter(&self.busy, self)
            try:
                if n < PFO_NOGIL_MIN:            # a short burst keeps the GIL
                    i = _tag_burst(self, &bk, &bp, &bh, tp, n, &bq, &bs)
                else:
                    with nogil:
                        i = _tag_burst(self, &bk, &bp, &bh, tp, n, &bq, &bs)
            finally:
                pfo_leave(&self.busy)
            if i >= 0:
                if tp[i] < 0:
                    raise ValueError(f"now_ns must be >= 0, got now_ns[{i}] = {tp[i]}")
                pfo_raise_backwards("now_ns", tp[i], self.last_ns if i == 0 else tp[i - 1], i)
        finally:
            pfo_release(&bk)
            pfo_release(&bp)
            pfo_release(&bh)
            pfo_release(&bt)
            pfo_release(&bq)
            pfo_release(&bs)
        return queues, psns

    def owner(self, queue, now_ns):
        """Key of the live owner of ``queue`` at ``now_ns``, or None if it is free.

        A query: it changes nothing.  ``now_ns`` must not be before the last
        tagged packet's time.
        """
        cdef uint32_t q = _queue(self, queue)
        cdef pfo_ns_t now = pfo_time("now_ns", now_ns)
        pfo_not_backwards("now_ns", now, self.last_ns)
        cdef pfo_psn_queue_t* e = &self.queues[q]
        if e.owned and now - e.last_ns < self.idle_ns:
            return e.owner
        return None

    def next_psn(self, queue):
        """The PSN the next packet tagged on ``queue`` will get (a query)."""
        return self.queues[_queue(self, queue)].next_psn

    def n_live(self, now_ns):
        """Number of queues with a live owner at ``now_ns`` (a query)."""
        cdef pfo_ns_t now = pfo_time("now_ns", now_ns)
        pfo_not_backwards("now_ns", now, self.last_ns)
        cdef uint32_t q, n = 0
        for q in range(self.n_queues):
            if self.queues[q].owned and now - self.queues[q].last_ns < self.idle_ns:
                n += 1
        return n
