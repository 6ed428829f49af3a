"""The Breakup ingress pipeline: detection, para_flow table, PSNs, flowlets."""

cimport cython

from cpython.buffer cimport Py_buffer
from cpython.mem cimport PyMem_Free, PyMem_Malloc
from libc.string cimport memset
from libc.stdint cimport int32_t, int64_t, uint8_t, uint16_t, uint32_t, uint64_t

import numpy as np

from paraflowo._checks import require_int, require_pow2
from paraflowo._core._boundary cimport (
    PFO_INT64_MAX, PFO_NOGIL_MIN, PFO_OPTIONAL, PFO_UINT64_MAX, PFO_WRITABLE, pfo_bind, pfo_bind_n, pfo_bound, pfo_check_len,
    pfo_int, pfo_len, pfo_not_backwards, pfo_raise_backwards, pfo_raise_busy, pfo_raise_uninit,
    pfo_release, pfo_time, pfo_uint)
from paraflowo._core._key cimport pfo_key
from paraflowo._core._types cimport pfo_fmix64, pfo_ns_first_backwards
from paraflowo._core.detectors import ElephantDetector as _ElephantDetector
from paraflowo._core.psn import PSNAllocator as _PSNAllocator
from paraflowo._core.scheduler import FlowletScheduler as _FlowletScheduler
from paraflowo._core.scheduler import MAX_DELAY_NS
from paraflowo.metadata import META_DTYPE

cdef object _u16 = np.dtype(np.uint16)
cdef object _u32 = np.dtype(np.uint32)
cdef object _u64 = np.dtype(np.uint64)
cdef object _i64 = np.dtype(np.int64)
cdef object _meta = META_DTYPE


cdef inline pfo_ns_t _time(Breakup b, object now_ns) except? -1:
    cdef pfo_ns_t t = pfo_time("now_ns", now_ns)
    pfo_not_backwards("now_ns", t, b.last_ns)
    return t


cdef int _check_times(const pfo_ns_t* t, Py_ssize_t n, pfo_ns_t last) except -1:
    # A burst's arrival times: >= 0, nondecreasing, the first not below `last`.
    cdef Py_ssize_t i
    if n < PFO_NOGIL_MIN:                  # a short burst keeps the GIL
        i = pfo_ns_first_backwards(t, n, last)
    else:
        with nogil:
            i = pfo_ns_first_backwards(t, n, last)
    if i < 0:
        return 0
    if t[i] < 0:
        raise ValueError(f"now_ns must be >= 0, got now_ns[{i}] = {t[i]}")
    return pfo_raise_backwards("now_ns", t[i], last if i == 0 else t[i - 1], i)


cdef extern from *:
    """
    #if defined(__GNUC__) || defined(__clang__)
    #define PFO_PREFETCH(p) __builtin_prefetch((p), 1, 3)
    #else
    #define PFO_PREFETCH(p) ((void)(p))
    #endif
    """
    void PFO_PREFETCH(const void* p) noexcept nogil

# Prefetch distance of the burst loop, packets: the table slot of packet
# i + PFO_BRK_AHEAD is fetched while packet i is handled.
cdef enum:
    PFO_BRK_AHEAD = 8


cdef Py_ssize_t _first_bad_feedback(const char* cores, Py_ssize_t core_step,
                                    const char* ingress, Py_ssize_t ingress_step,
                                    const int64_t* egress, Py_ssize_t n,
                                    uint32_t n_cores, pfo_ns_t last) noexcept nogil:
    # First i whose sample (the uint16 core at cores + i * core_step, the
    # int64 ingress time at ingress + i * ingress_step, egress[i]) is bad, or
    # -1.  Steps in bytes: plain arrays, or the fields of metadata records.
    cdef Py_ssize_t i
    cdef uint16_t c
    cdef int64_t t
    for i in range(n):
        c = (<const uint16_t*>(cores + i * core_step))[0]
        t = (<const int64_t*>(ingress + i * ingress_step))[0]
        if (c >= n_cores or t < 0 or t > last or egress[i] < t
                or egress[i] - t > (<int64_t>1 << 40)):
            return i
    return -1


cdef inline int _brk_guard(Breakup b, bint ingress) except -1:
    # RuntimeError naming the part in use (_brk_busy_part), else 0: a call on
    # the pipeline must not start while another thread's burst (or a running
    # Dataplane or SimCore) holds it.  No locks on the hot path: one per thread.
    cdef object part = _brk_busy_part(b, ingress)
    if part is not None:
        return pfo_raise_busy(part)
    return 0


cdef inline void _sync_time(Breakup b, pfo_ns_t now):
    # keep the components' own (Python-level) time checks in step with ours
    b.last_ns = now
    if b.allocator.last_ns < now:
        b.allocator.last_ns = now
    if b.scheduler.last_ns < now:
        b.scheduler.last_ns = now


cdef Py_ssize_t _feedback_all(Breakup self, const char* cores, Py_ssize_t core_step,
                              const char* ingress, Py_ssize_t ingress_step,
                              const int64_t* egress, Py_ssize_t n) noexcept nogil:
    # -1 after feeding all n samples, else the index of the first bad one
    # (nothing fed).
    cdef Py_ssize_t j = _first_bad_feedback(cores, core_step, ingress, ingress_step, egress, n,
                                            self.scheduler.n_cores, self.last_ns)
    if j >= 0:
        return j
    for j in range(n):
        self.c_feedback((<const uint16_t*>(cores + j * core_step))[0],
                        (<const int64_t*>(ingress + j * ingress_step))[0], egress[j])
    return -1


cdef _feedback_columns(Breakup self, const char* cores, Py_ssize_t core_step,
                       const char* ingress, Py_ssize_t ingress_step, const int64_t* egress,
                       Py_ssize_t n, str core_name, str ingress_name, str core_at, str ingress_at):
    # feedback_burst / feedback_meta once their arrays are checked: check
    # every sample (the messages name the column and the element), then
    # feed them all, or none.
    cdef uint32_t n_cores = self.scheduler.n_cores
    cdef Py_ssize_t j
    cdef int64_t c, t, e
    _brk_guard(self, False)
    _brk_mark(self, False, True)
    try:
        if n < PFO_NOGIL_MIN:                  # a short burst keeps the GIL
            j = _feedback_all(self, cores, core_step, ingress, ingress_step, egress, n)
        else:
            with nogil:
                j = _feedback_all(self, cores, core_step, ingress, ingress_step, egress, n)
    finally:
        _brk_mark(self, False, False)
    if j >= 0:
        c = (<const uint16_t*>(cores + j * core_step))[0]
        t = (<const int64_t*>(ingress + j * ingress_step))[0]
        e = egress[j]
        if c >= n_cores:
            raise ValueError(f"{core_name} must be in [0, {n_cores - 1}], "
                             f"got {core_at.format(j)} = {c}")
        if t < 0:
            raise ValueError(f"{ingress_name} must be >= 0, got {ingress_at.format(j)} = {t}")
        if t > self.last_ns:
            raise ValueError(
                f"{ingress_name} must be at most the latest ingress time ({self.last_ns}), "
                f"got {ingress_at.format(j)} = {t}")
        if e < t:
            raise ValueError(
                f"egress_ns must be >= {ingress_name}, got egress_ns[{j}] = {e} < {t}")
        raise ValueError(
            f"egress_ns - {ingress_name} must be at most 2**40, got {e - t} at [{j}]")


cdef class Breakup:
    """Ingress pipeline: detect elephants, tag them, rotate them in flowlets.

    Parameters
    ----------
    detector : ElephantDetector or None
        Decides which flows are elephants: a :class:`CountMinDetector`, a
        :class:`ThresholdDetector`, or a plain :class:`ElephantDetector`
        (manual tags only).  None: a new tags-only ``ElephantDetector()``;
        force flows on with ``breakup.detector.force(key, True)``.
    allocator : PSNAllocator
        Reorder queues and PSNs.  Its ``idle_ns`` is also how long a flow must
        be idle before it leaves para_flow.
    scheduler : FlowletScheduler
        Flowlet rotation; its ``reta`` also steers mice (plain RSS).
    capacity : int, default 1024
        Slots of the para_flow table, a power of two in [1, 2**24] (32 bytes
        each): at most this many flows are para_flows at once.
    probes : int, default 8
        Slots tried per flow key, in [1, 64].
    count : {"packets", "bytes"}, default "packets"
        What the detector counts per packet: 1, or the packet's length.

    Raises
    ------
    TypeError
        If a component has the wrong type or an integer argument is not one.
    ValueError
        If ``capacity``, ``probes`` or ``count`` is out of range.

    Notes
    -----
    Per packet (:meth:`ingress`), with ``idle_ns`` the allocator's:

    1. A flow with a *live* para_flow entry (its last packet less than
       ``idle_ns`` ago) gets its reorder queue, that queue's next PSN and the
       scheduler's core (which switches flowlet after ``t_switch(core)``);
       ``flags = FLAG_PARA``.
    2. Otherwise, if the detector (or a forced tag) says elephant, the flow
       takes a table slot and a reorder queue, its RX id starts at its flow
       hash (so its first flowlet stays on its RSS core, where its earlier
       packets went) and the packet is tagged as in 1.  No free slot
       (:attr:`table_full`) or no free reorder queue (the allocator's
       ``fallbacks``): the packet goes on as a mouse, never an error.
    3. Mice go to their RSS core ``reta[flow_hash & (size - 1)]``, untagged
       (``queue = psn = flags = 0``).

    Every packet is counted in the detector.  A new elephant's first flowlet
    ends only once :meth:`feedback` shows that its RSS core has completed a
    packet that ingressed after the flowlet started (so, cores being FIFO,
    every untagged packet the flow sent there has left); until then a due
    switch waits (:attr:`holds`), and without feedback the flow stays on its
    RSS core.  A flow leaves para_flow only after it has been idle
    ``idle_ns``, whatever the detector or a tag says meanwhile.  So neither
    entering nor leaving reorders a flow.  Feedback also gives the scheduler
    its delay samples (Eq. 2).

    Read-only counters: ``packets`` (through ingress), ``para_packets`` (of
    which tagged), ``para_flows`` (para_flow entries started),
    ``table_full`` (elephant packets left untagged for want of a table
    slot), ``holds`` (packets kept on a new elephant's RSS core while a
    switch was due).  Also read-only: ``detector``, ``allocator``,
    ``scheduler``, ``capacity``, ``probes``, ``count_bytes``, ``idle_ns``.

    The components belong to this Breakup once passed in: do not drive them
    directly at the same time.  Time must not go backwards.  No allocation
    per packet; :meth:`ingress_burst` runs without the GIL and gives exactly
    the per-packet results.  One thread at a time: while a burst runs, calls
    from another thread that would change this Breakup or its detector,
    allocator or scheduler raise :class:`RuntimeError`, and so do this
    Breakup's calls while another thread runs a burst directly on one of its
    components.

    Examples
    --------
    >>> import numpy as np
    >>> from paraflowo import Breakup, FlowletScheduler, PSNAllocator, FLAG_PARA
    >>> b = Breakup(None, PSNAllocator(16, idle_ns=10_000),
    ...             FlowletScheduler(4, n_para=2, t_switch_init_ns=1000))
    >>> b.ingress(key=1, flow_hash=6, port=0, length=64, now_ns=0)   # a mouse
    2
    >>> b.detector.force(1, True)                                    # an elephant
    >>> meta = np.zeros(3, b.meta_dtype)
    >>> [b.ingress(1, 6, 0, 64, t, out=meta, index=i) for i, t in enumerate([10, 500, 1010])]
    [2, 2, 2]
    >>> b.holds                 # a switch was due at 1010, but core 2 may still hold packet 0
    1
    >>> b.feedback(2, ingress_ns=500, egress_ns=900)                 # it got past 10 ns
    >>> b.ingress(1, 6, 0, 64, 1100)                                 # the flow moves on
    3
    >>> meta["psn"].tolist(), bool(meta["flags"][0] & FLAG_PARA)
    ([0, 1, 2], True)
    """

    def __cinit__(self, detector, allocator, scheduler, capacity=1024, probes=8,
                  count="packets"):
        if detector is None:
            detector = _ElephantDetector()
        elif not isinstance(detector, _ElephantDetector):
            raise TypeError(
                f"detector must be an ElephantDetector (or None), got {type(detector).__name__}")
        if not isinstance(allocator, _PSNAllocator):
            raise TypeError(f"allocator must be a PSNAllocator, got {type(allocator).__name__}")
        if not isinstance(scheduler, _FlowletScheduler):
            raise TypeError(f"scheduler must be a FlowletScheduler, got {type(scheduler).__name__}")
        if (<ElephantDetector>detector).busy < 0:
            pfo_raise_uninit(detector)      # its __init__ never ran: no tables to use
        capacity = require_pow2("capacity", capacity, 1, 1 << 24)
        probes = require_int("probes", probes, 1, PFO_BRK_MAX_PROBES)
        if count not in ("packets", "bytes"):
            raise ValueError(f"count must be 'packets' or 'bytes', got {count!r}")
        self.table_mem = PyMem_Malloc(capacity * sizeof(pfo_para_entry_t) + 64)
        if self.table_mem is NULL:
            raise MemoryError("cannot allocate the para_flow table")
        self.table = <pfo_para_entry_t*>((<size_t>self.table_mem + 63) & ~(<size_t>63))
        cdef uint32_t i
        for i in range(capacity):
            self.table[i].key = 0
            self.table[i].last_ns = PFO_BRK_EMPTY
            memset(&self.table[i].flow, 0, sizeof(pfo_flowlet_t))
        self.detector = detector
        self.allocator = allocator
        self.scheduler = scheduler
        self.capacity = capacity
        self.mask = capacity - 1
        self.probes = probes
        self.count_bytes = count == "bytes"
        self.idle_ns = self.allocator.idle_ns
        self.last_ns = 0
        self.done_ns = <pfo_ns_t*>PyMem_Malloc(scheduler.n_cores * sizeof(pfo_ns_t))
        if self.done_ns is NULL:
            raise MemoryError("cannot allocate the per-core completion times")
        for i in range(scheduler.n_cores):
            self.done_ns[i] = -1

    def __dealloc__(self):
        PyMem_Free(self.table_mem)
        PyMem_Free(self.done_ns)

    def __repr__(self):
        return (f"Breakup({self.detector!r}, {self.allocator!r}, {self.scheduler!r}, "
                f"capacity={self.capacity}, probes={self.probes}, "
                f"count={'bytes' if self.count_bytes else 'packets'!r})")

    @property
    def meta_dtype(self):
        """:data:`META_DTYPE`, the dtype of the records this pipeline fills."""
        return META_DTYPE

    # -- the core -------------------------------------------------------------

    cdef pfo_para_entry_t* c_find(self, uint64_t key, pfo_ns_t now_ns) noexcept nogil:
        cdef uint32_t home = <uint32_t>pfo_fmix64(key), i
        cdef pfo_para_entry_t* e
        for i in range(self.probes):
            e = &self.table[(home + i) & self.mask]
            if e.last_ns == PFO_BRK_EMPTY:
                return NULL           # slots are never emptied: the key is not further on
            if e.key == key:
                return e if now_ns - e.last_ns < self.idle_ns else NULL
        return NULL

    cdef void c_ingress(self, uint64_t key, pfo_hash_t flow_hash, uint16_t port,
                        uint16_t length, pfo_ns_t now_ns, pfo_handle_t handle,
                        pfo_meta_t* out) noexcept nogil:
        pfo_brk_step(self, key, <uint32_t>pfo_fmix64(key), flow_hash, port, length, now_ns, handle,
                     -1, out)

    cdef void c_ingress_detected(self, uint64_t key, pfo_hash_t flow_hash, uint16_t port,
                                 uint16_t length, pfo_ns_t now_ns, pfo_handle_t handle,
                                 bint elephant, pfo_meta_t* out) noexcept nogil:
        pfo_brk_step(self, key, <uint32_t>pfo_fmix64(key), flow_hash, port, length, now_ns, handle,
                     elephant, out)

    cdef void c_ingress_burst(self, const uint64_t* keys, const pfo_hash_t* hashes,
                              const uint16_t* ports, const uint16_t* lengths,
                              const pfo_ns_t* now_ns, const pfo_handle_t* handles,
                              Py_ssize_t n, pfo_meta_t* out) noexcept nogil:
        # The detector sees every packet in order whatever Breakup decides, so
        # its verdicts for a chunk can be taken first, with its own (faster)
        # burst update, then used packet by packet: the same results as
        # c_ingress per packet.
        cdef uint8_t eleph[PFO_BRK_CHUNK]
        cdef uint64_t amounts[PFO_BRK_CHUNK]
        cdef Py_ssize_t s = 0, i, m
        while s < n:
            m = n - s if n - s < PFO_BRK_CHUNK else PFO_BRK_CHUNK
            if self.count_bytes:
                for i in range(m):
                    amounts[i] = lengths[s + i]
                self.detector.c_update_burst(keys + s, now_ns + s, 1, amounts, eleph, m)
            else:
                self.detector.c_update_burst(keys + s, now_ns + s, 1, NULL, eleph, m)
            for i in range(s, s + m):
                if i + PFO_BRK_AHEAD < n:
                    PFO_PREFETCH(&self.table[<uint32_t>pfo_fmix64(keys[i + PFO_BRK_AHEAD]) & self.mask])
                pfo_brk_step(self, keys[i], <uint32_t>pfo_fmix64(keys[i]), hashes[i], ports[i],
                             lengths[i], now_ns[i],
                             self.packets if handles is NULL else handles[i], eleph[i - s],
                             &out[i])
            s += m

    cdef void c_feedback(self, uint16_t core, pfo_ns_t ingress_ns,
                         pfo_ns_t egress_ns) noexcept nogil:
        self.scheduler.c_observe(core, egress_ns - ingress_ns)
        if ingress_ns > self.done_ns[core]:
            self.done_ns[core] = ingress_ns

    # -- Python API -------------------------------------------------------------

    def ingress(self, key, flow_hash, port, length, now_ns, handle=None, out=None, index=0):
        """Steer one packet; return its core (RX queue).

        Parameters
        ----------
        key : int
            The flow key, in ``[0, 2**64)`` (e.g. a 64-bit hash of the 5-tuple
            or a flow id): what the detector, the tags and the tables key on.
        flow_hash : int
            The flow's 32-bit RSS hash (:func:`rss_hash`).
        port : int
            Ingress port id, 16 bits.
        length : int
            Packet length in bytes, 16 bits.
        now_ns : int
            Arrival time, ns, ``>= 0`` and not before the previous packet's.
        handle : int, optional
            The packet's handle for the metadata record, 64 bits.  Default:
            the running packet count (:attr:`packets` before this packet).
        out : numpy.ndarray, optional
            A :data:`META_DTYPE` array; the packet's record is written to
            ``out[index]``.
        index : int, default 0
            Position in ``out``.

        Returns
        -------
        int
            The core.  The record (if ``out`` is given) also holds the queue,
            PSN and ``FLAG_PARA`` of a tagged packet.

        Raises
        ------
        TypeError
            An argument of the wrong type, or ``out`` not a ``META_DTYPE``
            array.
        ValueError
            A value out of range (``index`` outside ``out`` included) or time
            going backwards (nothing changes).
        """
        _brk_guard(self, True)
        cdef uint64_t k = pfo_key("key", key)
        cdef pfo_hash_t h = <pfo_hash_t>pfo_uint("flow_hash", flow_hash, 0, 0xFFFFFFFF)
        cdef uint16_t p = <uint16_t>pfo_uint("port", port, 0, 0xFFFF)
        cdef uint16_t ln = <uint16_t>pfo_uint("length", length, 0, 0xFFFF)
        cdef pfo_ns_t t = _time(self, now_ns)
        cdef pfo_handle_t hd = (self.packets if handle is None
                                else pfo_uint("handle", handle, 0, PFO_UINT64_MAX))
        cdef pfo_meta_t m
        cdef pfo_meta_t* rec = &m
        cdef Py_buffer view
        pfo_bind(&view, out, "out", _meta, PFO_WRITABLE | PFO_OPTIONAL)
        try:
            if pfo_bound(&view):
                rec = <pfo_meta_t*>view.buf + <Py_ssize_t>pfo_int("index", index, 0,
                                                                 pfo_len(&view) - 1)
            self.c_ingress(k, h, p, ln, t, hd, rec)
            _sync_time(self, t)
            return rec.core
        finally:
            pfo_release(&view)

    @cython.binding(False)
    @cython.embedsignature.format("clinic")
    def ingress_burst(self, keys, flow_hashes, ports, lengths, now_ns, handles=None, out=None):
        """Steer a burst of packets in order; fill one metadata record each.

        Parameters
        ----------
        keys : numpy.ndarray
            ``uint64`` flow keys.
        flow_hashes : numpy.ndarray
            ``uint32`` RSS hashes.
        ports : numpy.ndarray
            ``uint16`` port ids.
        lengths : numpy.ndarray
            ``uint16`` packet lengths.
        now_ns : numpy.ndarray
            ``int64`` arrival times, non-decreasing, not before the previous
            call's.
        handles : numpy.ndarray, optional
            ``uint64`` packet handles.  Default: the running packet count
            (``packets + i`` for packet ``i`` of the burst).
        out : numpy.ndarray, optional
            :data:`META_DTYPE` output; allocated if not given.

        Returns
        -------
        numpy.ndarray
            The :data:`META_DTYPE` records; ``out["core"]`` are the cores.
            Identical to calling :meth:`ingress` per packet.

        Raises
        ------
        TypeError
            An array that is not a numpy array of its dtype.
        ValueError
            Arrays not 1-D C-contiguous, of different lengths, or times that
            are negative or go backwards (nothing changes).
        """
        _brk_guard(self, True)
        cdef Py_buffer bk, bh, bp, bl, bt, bd, bo
        cdef Py_ssize_t n
        cdef const pfo_ns_t* tp
        bh.shape = bp.shape = bl.shape = bt.shape = bd.shape = bo.shape = NULL
        pfo_bind(&bk, keys, "keys", _u64, 0)
        try:
            n = pfo_len(&bk)
            pfo_bind_n(&bh, flow_hashes, "flow_hashes", _u32, 0, n)
            pfo_bind_n(&bp, ports, "ports", _u16, 0, n)
            pfo_bind_n(&bl, lengths, "lengths", _u16, 0, n)
            pfo_bind_n(&bt, now_ns, "now_ns", _i64, 0, n)
            pfo_bind(&bd, handles, "handles", _u64, PFO_OPTIONAL)
            if pfo_bound(&bd):
                pfo_check_len("handles", pfo_len(&bd), n, n)
            if out is None:
                out = np.empty(n, dtype=META_DTYPE)
            pfo_bind_n(&bo, out, "out", _meta, PFO_WRITABLE, n)
            tp = <const pfo_ns_t*>bt.buf
            _brk_mark(self, True, True)
            try:
                _check_times(tp, n, self.last_ns)
                if 0 < n < PFO_NOGIL_MIN:        # a short burst keeps the GIL
                    self.c_ingress_burst(<const uint64_t*>bk.buf, <const pfo_hash_t*>bh.buf,
                                         <const uint16_t*>bp.buf, <const uint16_t*>bl.buf,
                                         tp, <const pfo_handle_t*>bd.buf, n,
                                         <pfo_meta_t*>bo.buf)
                elif n:
                    with nogil:
                        self.c_ingress_burst(<const uint64_t*>bk.buf, <const pfo_hash_t*>bh.buf,
                                             <const uint16_t*>bp.buf, <const uint16_t*>bl.buf,
                                             tp, <const pfo_handle_t*>bd.buf, n,
                                             <pfo_meta_t*>bo.buf)
                if n:
                    _sync_time(self, tp[n - 1])
            finally:
                _brk_mark(self, True, False)
        finally:
            pfo_release(&bk)
            pfo_release(&bh)
            pfo_release(&bp)
            pfo_release(&bl)
            pfo_release(&bt)
            pfo_release(&bd)
            pfo_release(&bo)
        return out

    def feedback(self, core, ingress_ns, egress_ns):
        """A packet left its core: a delay sample, and the core's progress.

        ``egress_ns - ingress_ns`` is a processing-delay sample of ``core``
        for the scheduler (Eq. 2); and since cores are FIFO, ``core`` has
        finished every packet that ingressed before ``ingress_ns``, which
        ends the first flowlet's wait of the elephants that started there
        earlier (see the class notes).  Feed every tagged packet (feeding
        mice too is allowed and only shortens those waits).

        Parameters
        ----------
        core : int
            The core that processed the packet (its record's ``core``).
        ingress_ns, egress_ns : int
            The packet's ingress time (its record's ``ingress_ns``, so at most
            the latest ingress time) and the time it left the core;
            ``0 <= ingress_ns <= egress_ns`` and the delay at most ``2**40``.

        Raises
        ------
        TypeError, ValueError
            Non-integers, ``core`` outside ``[0, n_cores)``, a negative time,
            an ingress time later than the latest ingress, egress before
            ingress or a delay above ``2**40`` (nothing changes).
        """
        _brk_guard(self, False)
        cdef uint16_t c = <uint16_t>pfo_uint("core", core, 0, self.scheduler.n_cores - 1)
        cdef pfo_ns_t i = pfo_time("ingress_ns", ingress_ns)
        cdef pfo_ns_t e = pfo_time("egress_ns", egress_ns)
        if i > self.last_ns:
            raise ValueError(
                f"ingress_ns must be at most the latest ingress time ({self.last_ns}), got {i}")
        if e < i:
            raise ValueError(f"egress_ns must be >= ingress_ns = {i}, got {e}")
        if e - i > MAX_DELAY_NS:
            raise ValueError(f"egress_ns - ingress_ns must be at most 2**40, got {e - i}")
        self.c_feedback(c, i, e)

    @cython.binding(False)
    @cython.embedsignature.format("clinic")
    def feedback_burst(self, cores, ingress_ns, egress_ns):
        """:meth:`feedback` for arrays of samples, in order.

        Parameters
        ----------
        cores : numpy.ndarray
            ``uint16`` cores.
        ingress_ns, egress_ns : numpy.ndarray
            ``int64`` times (e.g. ``meta["ingress_ns"]`` copied contiguous).

        Raises
        ------
        TypeError, ValueError
            As :meth:`feedback`, and for mismatched dtypes or lengths.
        """
        _brk_guard(self, False)
        cdef Py_buffer bc, bi, be
        cdef Py_ssize_t n
        bi.shape = be.shape = NULL
        pfo_bind(&bc, cores, "cores", _u16, 0)
        try:
            n = pfo_len(&bc)
            pfo_bind_n(&bi, ingress_ns, "ingress_ns", _i64, 0, n)
            pfo_bind_n(&be, egress_ns, "egress_ns", _i64, 0, n)
            _feedback_columns(self, <const char*>bc.buf, sizeof(uint16_t), <const char*>bi.buf,
                              sizeof(int64_t), <const int64_t*>be.buf, n, "cores", "ingress_ns",
                              "cores[{}]", "ingress_ns[{}]")
        finally:
            pfo_release(&bc)
            pfo_release(&bi)
            pfo_release(&be)

    @cython.binding(False)
    @cython.embedsignature.format("clinic")
    def feedback_meta(self, meta, egress_ns):
        """:meth:`feedback` for released packets given by their metadata records.

        The egress side's natural form: each record's ``core`` and
        ``ingress_ns`` with the time the packet left its core.

        Parameters
        ----------
        meta : numpy.ndarray
            :data:`META_DTYPE` records (as filled by :meth:`ingress_burst`).
        egress_ns : numpy.ndarray
            ``int64`` egress times, one per record.

        Raises
        ------
        TypeError, ValueError
            As :meth:`feedback_burst` (the messages name ``meta[i]``).
        """
        _brk_guard(self, False)
        cdef Py_buffer bm, be
        cdef Py_ssize_t n
        cdef const pfo_meta_t* m
        be.shape = NULL
        pfo_bind(&bm, meta, "meta", _meta, 0)
        try:
            n = pfo_len(&bm)
            pfo_bind_n(&be, egress_ns, "egress_ns", _i64, 0, n)
            m = <const pfo_meta_t*>bm.buf
            _feedback_columns(self, <const char*>&m[0].core, sizeof(pfo_meta_t),
                              <const char*>&m[0].ingress_ns, sizeof(pfo_meta_t),
                              <const int64_t*>be.buf, n, "meta['core']", "meta['ingress_ns']",
                              "meta[{}]['core']", "meta[{}]['ingress_ns']")
        finally:
            pfo_release(&bm)
            pfo_release(&be)

    def is_para(self, key, now_ns):
        """True if flow ``key`` is a para_flow (a live entry) at ``now_ns`` (a query)."""
        cdef uint64_t k = pfo_key("key", key)
        return self.c_find(k, _time(self, now_ns)) is not NULL

    def n_para(self, now_ns):
        """Number of live para_flow entries at ``now_ns`` (a query)."""
        cdef pfo_ns_t now = _time(self, now_ns)
        cdef uint32_t i, n = 0
        for i in range(self.capacity):
            if (self.table[i].last_ns != PFO_BRK_EMPTY
                    and now - self.table[i].last_ns < self.idle_ns):
                n += 1
        return n
