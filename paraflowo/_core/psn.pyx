"""Reorder-queue and PSN allocation for para_flow flows (paper 4.1.2)."""

from cpython.mem cimport PyMem_Calloc, PyMem_Free
from libc.stdint cimport int32_t, int64_t, uint16_t, uint32_t, uint64_t

import numpy as np

from paraflowo._checks import in_use_error, require_array, require_int, require_pow2, require_same_length

_U64_MAX = 0xFFFFFFFFFFFFFFFF


def _check_burst_times(name, times, pfo_ns_t last):
    """Raise ValueError if a burst's times go backwards (or below ``last``)."""
    cdef const int64_t[::1] t = times
    cdef Py_ssize_t n = t.shape[0], i = -1
    if n:
        with nogil:
            i = pfo_ns_first_backwards(&t[0], n, last)
    if i >= 0:
        if t[i] < 0:
            raise ValueError(f"{name} must be >= 0, got {name}[{i}] = {t[i]}")
        raise ValueError(
            f"{name} must not go backwards, got {name}[{i}] = {t[i]} after {last if i == 0 else t[i - 1]}")


cdef int _psn_not_busy(PSNAllocator a) except -1:
    # Bursts release the GIL; another thread must not change the same
    # allocator meanwhile.  No locks on the hot path: one allocator per thread.
    if a.busy:
        raise in_use_error("PSNAllocator", "PSNAllocator")
    return 0


def _check_now(name, now_ns, pfo_ns_t last):
    """Validate one time argument: an int64 >= 0 and >= ``last``."""
    now = require_int(name, now_ns, 0, (1 << 63) - 1)
    if now < last:
        raise ValueError(f"{name} must not go backwards, got {now} after {last}")
    return now


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
        if self.busy:
            _psn_not_busy(self)
        if not (type(key) is int and 0 <= key <= _U64_MAX):
            require_int("key", key, 0, _U64_MAX)
        if not (type(port) is int and 0 <= port <= 0xFFFF):
            require_int("port", port, 0, 0xFFFF)
        if not (type(flow_hash) is int and 0 <= flow_hash <= 0xFFFFFFFF):
            require_int("flow_hash", flow_hash, 0, 0xFFFFFFFF)
        if not (type(now_ns) is int and self.last_ns <= now_ns < (1 << 63)):
            _check_now("now_ns", now_ns, self.last_ns)
        cdef pfo_psn_t psn
        cdef int32_t q = self.c_tag(key, port, flow_hash, now_ns, &psn)
        self.last_ns = now_ns
        return q, psn

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
        Runs without the GIL; meanwhile, calls that change this allocator
        from other threads raise :class:`RuntimeError` (give each thread its
        own).
        """
        _psn_not_busy(self)
        require_array("keys", keys, np.uint64)
        require_array("ports", ports, np.uint16)
        require_array("flow_hashes", flow_hashes, np.uint32)
        require_array("now_ns", now_ns, np.int64)
        cdef Py_ssize_t n = require_same_length(
            keys=keys, ports=ports, flow_hashes=flow_hashes, now_ns=now_ns)
        if queues is None:
            queues = np.empty(n, dtype=np.int32)
        else:
            require_array("queues", queues, np.int32)
        if psns is None:
            psns = np.empty(n, dtype=np.uint32)
        else:
            require_array("psns", psns, np.uint32)
        require_same_length(keys=keys, queues=queues, psns=psns)
        _check_burst_times("now_ns", now_ns, self.last_ns)
        if n == 0:
            return queues, psns
        cdef const uint64_t[::1] k = keys
        cdef const uint16_t[::1] p = ports
        cdef const uint32_t[::1] h = flow_hashes
        cdef const int64_t[::1] t = now_ns
        cdef int32_t[::1] oq = queues
        cdef uint32_t[::1] op = psns
        _psn_not_busy(self)     # again: the time check above released the GIL
        self.busy = True
        try:
            with nogil:
                self.c_tag_burst(&k[0], &p[0], &h[0], &t[0], n, &oq[0], &op[0])
        finally:
            self.busy = False
        self.last_ns = t[n - 1]
        return queues, psns

    def _queue_arg(self, queue):
        return require_int("queue", queue, 0, self.n_queues - 1)

    def owner(self, queue, now_ns):
        """Key of the live owner of ``queue`` at ``now_ns``, or None if it is free.

        A query: it changes nothing.  ``now_ns`` must not be before the last
        tagged packet's time.
        """
        cdef uint32_t q = self._queue_arg(queue)
        cdef pfo_ns_t now = _check_now("now_ns", now_ns, self.last_ns)
        cdef pfo_psn_queue_t* e = &self.queues[q]
        if e.owned and now - e.last_ns < self.idle_ns:
            return e.owner
        return None

    def next_psn(self, queue):
        """The PSN the next packet tagged on ``queue`` will get (a query)."""
        return self.queues[<uint32_t>self._queue_arg(queue)].next_psn

    def n_live(self, now_ns):
        """Number of queues with a live owner at ``now_ns`` (a query)."""
        cdef pfo_ns_t now = _check_now("now_ns", now_ns, self.last_ns)
        cdef uint32_t q, n = 0
        for q in range(self.n_queues):
            if self.queues[q].owned and now - self.queues[q].last_ns < self.idle_ns:
                n += 1
        return n
