"""Metadata-only caching at egress: a bounded packet store and the reorder side's accounting."""

cimport cython
from cpython.buffer cimport Py_buffer
from cpython.bytes cimport PyBytes_FromStringAndSize
from libc.stdint cimport uint8_t, uint32_t, uint64_t, int64_t
from libc.stdlib cimport malloc, free
from libc.string cimport memcpy, memset

from paraflowo._checks import require_int
from paraflowo._core.reorder import ReorderStatus
from paraflowo._core.reorder cimport ReorderQueues
from paraflowo._core._boundary cimport (
    pfo_bind_bytes, pfo_enter, pfo_guard, pfo_leave, pfo_raise_part, pfo_release, pfo_uint)
from paraflowo.metadata import META_SIZE


cdef inline size_t _round_up(size_t n) noexcept nogil:
    return (n + (PFO_ALIGN - 1)) & ~(<size_t>PFO_ALIGN - 1)


cdef inline size_t _store_books(uint32_t n) noexcept nogil:
    # lengths and free list (4n each), used flags (n), rounded up; the packet
    # bytes follow (so placing a store touches only this part)
    return _round_up(<size_t>n * (2 * sizeof(uint32_t) + 1))


cdef size_t pfo_store_footprint(uint32_t n_slots, uint32_t slot_bytes) noexcept nogil:
    if n_slots < 1 or n_slots > PFO_STORE_MAX_SLOTS or slot_bytes < 1 or slot_bytes > 0xFFFF:
        return 0
    return _store_books(n_slots) + _round_up(<size_t>n_slots * slot_bytes)


cdef int pfo_store_init(pfo_store_t* st, void* mem, size_t size, uint32_t n_slots,
                        uint32_t slot_bytes) noexcept nogil:
    cdef size_t need = pfo_store_footprint(n_slots, slot_bytes)
    cdef char* p = <char*>mem
    cdef uint32_t i
    if need == 0 or st is NULL or mem is NULL or (<size_t>mem & 7) != 0:
        return PFO_EINVAL
    if size < need:
        return PFO_ENOSPC
    memset(st, 0, sizeof(pfo_store_t))
    memset(mem, 0, _store_books(n_slots))
    st.lengths = <uint32_t*>p
    p += n_slots * sizeof(uint32_t)
    st.free_list = <uint32_t*>p
    p += n_slots * sizeof(uint32_t)
    st.used = <uint8_t*>p
    st.data = <uint8_t*>mem + _store_books(n_slots)
    for i in range(n_slots):
        st.free_list[i] = n_slots - 1 - i     # slot 0 is handed out first
    st.n_slots = n_slots
    st.slot_bytes = slot_bytes
    st.n_free = n_slots
    return PFO_OK


cdef void pfo_store_fini(pfo_store_t* st) noexcept nogil:
    if st is not NULL:
        memset(st, 0, sizeof(pfo_store_t))


cdef int64_t pfo_store_put(pfo_store_t* st, const uint8_t* data, uint32_t length) noexcept nogil:
    cdef uint32_t h
    if st.n_free == 0:
        return -1
    st.n_free -= 1
    h = st.free_list[st.n_free]
    memcpy(st.data + <size_t>h * st.slot_bytes, data, length)
    st.lengths[h] = length
    st.used[h] = 1
    st.bytes_used += length
    if st.n_slots - st.n_free > st.peak_used:
        st.peak_used = st.n_slots - st.n_free
    return h


cdef int pfo_store_free(pfo_store_t* st, uint32_t handle) noexcept nogil:
    if handle >= st.n_slots or not st.used[handle]:
        return -1
    st.used[handle] = 0
    st.bytes_used -= st.lengths[handle]
    st.lengths[handle] = 0
    st.free_list[st.n_free] = handle
    st.n_free += 1
    return 0


class PacketStoreFull(RuntimeError):
    """The packet store has no free slot: release (drain) packets, then retry."""


@cython.final
cdef class PacketStore:
    """A bounded packet store: ``n_slots`` fixed slots of ``slot_bytes`` and a free list.

    Parameters
    ----------
    n_slots : int
        Number of slots, 1 to 2**24.
    slot_bytes : int
        Bytes per slot (the largest packet), 1 to 65535.

    Raises
    ------
    TypeError, ValueError
        A non-integer or out-of-range argument.

    Notes
    -----
    A handle is a slot index.  :meth:`put` and :meth:`free` are O(1) (a stack
    of free slots).  Memory: :meth:`footprint` bytes (about ``n_slots * (slot_bytes +
    9)``), allocated once.  A full store raises :class:`PacketStoreFull` from :meth:`put` and
    changes nothing: free slots (by draining the reorder side), then retry.

    Examples
    --------
    >>> from paraflowo import PacketStore
    >>> s = PacketStore(2, 1500)
    >>> h = s.put(b"hello")
    >>> s.get(h), s.n_used, s.bytes_used
    (b'hello', 1, 5)
    >>> s.take(h), s.n_used
    (b'hello', 0)
    """

    def __cinit__(self, n_slots, slot_bytes):
        n = require_int("n_slots", n_slots, 1, 1 << 24)
        b = require_int("slot_bytes", slot_bytes, 1, 0xFFFF)
        cdef size_t size = pfo_store_footprint(n, b)
        self._mem = malloc(size)
        if self._mem is NULL:
            raise MemoryError(f"cannot allocate a packet store of {n} x {b} bytes")
        pfo_store_init(&self.st, self._mem, size, n, b)     # validated above: PFO_OK

    def __dealloc__(self):
        if self._mem is not NULL:
            pfo_store_fini(&self.st)
            free(self._mem)

    @staticmethod
    def footprint(n_slots, slot_bytes):
        """Bytes a store of ``n_slots`` slots of ``slot_bytes`` occupies (``pfo_store_footprint``).

        The memory :class:`PacketStore` allocates, and what a host passes to
        ``pfo_store_init``.  Arguments are checked as for the constructor.

        >>> from paraflowo import PacketStore
        >>> PacketStore.footprint(4096, 2048)
        8425472
        """
        n = require_int("n_slots", n_slots, 1, 1 << 24)
        b = require_int("slot_bytes", slot_bytes, 1, 0xFFFF)
        return pfo_store_footprint(n, b)

    @property
    def nbytes(self):
        """Bytes of memory this store occupies (:meth:`footprint`)."""
        return pfo_store_footprint(self.st.n_slots, self.st.slot_bytes)

    def __repr__(self):
        return f"PacketStore(n_slots={self.st.n_slots}, slot_bytes={self.st.slot_bytes})"

    @property
    def n_slots(self):
        """Number of slots."""
        return self.st.n_slots

    @property
    def slot_bytes(self):
        """Bytes per slot."""
        return self.st.slot_bytes

    @property
    def n_used(self):
        """Slots holding a packet."""
        return self.st.n_slots - self.st.n_free

    @property
    def n_free(self):
        """Free slots."""
        return self.st.n_free

    @property
    def peak_used(self):
        """Most slots ever used at once."""
        return self.st.peak_used

    @property
    def bytes_used(self):
        """Bytes of the packets stored now (sum of their lengths)."""
        return self.st.bytes_used

    @property
    def next_handle(self):
        """The handle the next :meth:`put` returns, or ``None`` if the store is full."""
        cdef int64_t h = pfo_store_next(&self.st)
        return None if h < 0 else h

    def put(self, data):
        """Store one packet; returns its handle.

        Parameters
        ----------
        data : bytes-like
            The packet, at most :attr:`slot_bytes` long.

        Returns
        -------
        int
            The handle (slot index).

        Raises
        ------
        PacketStoreFull
            No slot is free (nothing changed): free some, then retry.
        TypeError
            ``data`` is not bytes-like.
        ValueError
            ``data`` is longer than :attr:`slot_bytes`, or this store is a
            part of a :class:`MetadataCache` (it puts and frees its packets
            itself).
        """
        _ps_mutable(self, "MetadataCache.receive")
        cdef Py_buffer b
        cdef int64_t h
        pfo_bind_bytes(&b, data, "data")
        try:
            if b.len > self.st.slot_bytes:
                raise ValueError(f"data must be at most slot_bytes={self.st.slot_bytes} "
                                 f"bytes long, got {b.len}")
            h = pfo_store_put(&self.st, <const uint8_t*>b.buf, <uint32_t>b.len)
        finally:
            pfo_release(&b)
        if h < 0:
            raise PacketStoreFull(f"packet store is full ({self.st.n_slots} slots in use): "
                                  f"release packets, then retry")
        return h

    def length(self, handle):
        """Length in bytes of the packet at ``handle``."""
        return self.st.lengths[_ps_check(self, handle)]

    def get(self, handle):
        """The packet at ``handle`` (a copy, as bytes); the slot stays in use.

        Raises
        ------
        TypeError, ValueError
            ``handle`` is not an integer slot index in use.
        """
        cdef uint32_t h = _ps_check(self, handle)
        return PyBytes_FromStringAndSize(<char*>self.st.data + <size_t>h * self.st.slot_bytes,
                                         self.st.lengths[h])

    def free(self, handle):
        """Free the slot at ``handle``.

        Raises
        ------
        TypeError, ValueError
            ``handle`` is not an integer slot index in use (a double free, a
            handle never issued), or this store is a part of a
            :class:`MetadataCache`.
        """
        _ps_mutable(self, "MetadataCache.drain")
        pfo_store_free(&self.st, _ps_check(self, handle))

    def take(self, handle):
        """The packet at ``handle`` (bytes), freeing its slot: :meth:`get` then :meth:`free`.

        Raises as :meth:`free`.
        """
        _ps_mutable(self, "MetadataCache.drain")
        cdef uint32_t h = _ps_check(self, handle)
        out = PyBytes_FromStringAndSize(<char*>self.st.data + <size_t>h * self.st.slot_bytes,
                                        self.st.lengths[h])
        pfo_store_free(&self.st, h)
        return out


cdef int _ps_mutable(PacketStore self, str use) except -1:
    if self._part_of is not None:
        pfo_raise_part(self, self._part_of, use)
    return 0

cdef uint32_t _ps_check(PacketStore self, object handle) except? 0xFFFFFFFF:
    # a handle this store issued and has not freed: ValueError otherwise
    cdef uint32_t h = <uint32_t>pfo_uint("handle", handle, 0, self.st.n_slots - 1)
    if not self.st.used[h]:
        raise ValueError(f"handle must be a slot in use, got {h} (free)")
    return h


@cython.final
cdef class MetadataCache:
    """Egress reordering that holds only metadata, with the packets in a :class:`PacketStore`.

    The paper's packet caching (4.2.2): the reorder queues hold a small
    metadata record per packet (here its store handle), the packet bytes stay
    in a bounded store (the VM's memory), and a released packet is fetched by
    handle and its slot freed.  The cache accounts the bytes the reorder side
    holds in metadata-only mode and, for the same traffic, what full-packet
    buffering would have held (now and at peak), so Eq. 3
    (:func:`~paraflowo.reorder_memory`) can be checked against what was held.

    Parameters
    ----------
    n_queues, window, timeout_ns
        As for :class:`ReorderQueues` (and :class:`ReorderBuffer`).
    n_slots, slot_bytes
        As for :class:`PacketStore`.
    meta_bytes : int, default META_SIZE (32)
        ``M`` of Eq. 3: bytes of one metadata record on the reorder side.
    psn_bits : int, default 32
        As for :class:`ReorderQueues`.

    Notes
    -----
    Held bytes count every packet not yet released (``held * meta_bytes``
    and the sum of their lengths).  The peaks are sampled after each
    :meth:`drain` (and before :meth:`flush`): they count the packets the
    reorder side keeps waiting for a missing PSN, which is what Eq. 3 models,
    not a packet that arrives in order and leaves in the same poll.  A full
    store is backpressure: :meth:`receive` returns ``ReorderStatus.FULL`` and
    changes nothing; drain, then retry.

    :attr:`queues` and :attr:`store` are read-only parts, for inspection:
    their mutating methods raise ``ValueError`` (a packet put or inserted
    behind the cache's back would be stranded or fetched wrongly).  One
    thread at a time: a call while another thread's drain runs without the
    GIL raises ``RuntimeError``.

    Examples
    --------
    >>> from paraflowo import MetadataCache, ReorderStatus
    >>> c = MetadataCache(n_queues=1, window=8, timeout_ns=1000, n_slots=16, slot_bytes=1500)
    >>> c.receive(b"B" * 500, queue=0, psn=1, now_ns=0).name
    'BUFFERED'
    >>> c.meta_bytes_held, c.full_bytes_held
    (32, 500)
    >>> c.receive(b"A" * 100, queue=0, psn=0, now_ns=5).name
    'BUFFERED'
    >>> [len(p) for p in c.drain(now_ns=5)]
    [100, 500]
    >>> c.receive(b"D" * 700, queue=0, psn=3, now_ns=6).name    # 2 is missing
    'BUFFERED'
    >>> c.drain(now_ns=6), c.peak_meta_bytes, c.peak_full_bytes, c.store.n_used
    ([], 32, 700, 1)
    """

    cdef readonly ReorderQueues queues
    cdef readonly PacketStore store
    cdef readonly uint32_t meta_size
    cdef uint64_t _meta_held, _full_held, _peak_meta, _peak_full
    cdef uint64_t _held
    cdef int busy

    def __cinit__(self, n_queues, window, timeout_ns, n_slots, slot_bytes, psn_bits=32,
                  meta_bytes=META_SIZE):
        m = require_int("meta_bytes", meta_bytes, 1, 0xFFFF)
        self.queues = ReorderQueues(n_queues, window, timeout_ns, psn_bits)
        self.store = PacketStore(n_slots, slot_bytes)
        self.queues._part_of = "MetadataCache"     # read-only parts from now on
        self.store._part_of = "MetadataCache"
        self.meta_size = m

    def __repr__(self):
        q = self.queues
        b = q.buffers[0]
        return (f"MetadataCache(n_queues={q.n_queues}, window={b.window}, "
                f"timeout_ns={b.timeout_ns}, n_slots={self.store.n_slots}, "
                f"slot_bytes={self.store.slot_bytes}, psn_bits={b.psn_bits}, "
                f"meta_bytes={self.meta_size})")

    @property
    def meta_bytes_held(self):
        """Bytes of metadata the reorder side holds now (``held * meta_bytes``)."""
        pfo_guard(self.busy, self)
        return self._meta_held

    @property
    def full_bytes_held(self):
        """Bytes full-packet buffering would hold now (the lengths of the held packets)."""
        pfo_guard(self.busy, self)
        return self._full_held

    @property
    def peak_meta_bytes(self):
        """The largest :attr:`meta_bytes_held` sampled."""
        pfo_guard(self.busy, self)
        return self._peak_meta

    @property
    def peak_full_bytes(self):
        """The largest :attr:`full_bytes_held` sampled."""
        pfo_guard(self.busy, self)
        return self._peak_full

    @property
    def saving(self):
        """``1 - peak_meta_bytes / peak_full_bytes`` (Eq. 3's saving, measured); 0 if nothing was held."""
        pfo_guard(self.busy, self)
        if self._peak_full == 0:
            return 0.0
        return 1.0 - <double>self._peak_meta / <double>self._peak_full

    def receive(self, packet, queue, psn, now_ns, dropped=False):
        """A packet comes back from the VNF: store it and insert its metadata.

        Parameters
        ----------
        packet : bytes-like
            The packet, at most ``slot_bytes`` long.
        queue, psn, now_ns, dropped
            As for :meth:`ReorderQueues.insert` (one clock for every queue).

        Returns
        -------
        ReorderStatus
            ``BUFFERED`` (stored and held), ``FULL`` (the store or the reorder
            queue is full: nothing changed; drain, then retry), or ``LATE``,
            ``DUPLICATE``, ``DROPPED`` (nothing stored: the caller still owns
            the packet and forwards or frees it).

        Raises
        ------
        TypeError, ValueError
            As :meth:`ReorderQueues.insert`, or a packet that is not bytes-like
            or longer than ``slot_bytes``.  Nothing changes.
        RuntimeError
            A drain of this cache is running in another thread.
        """
        cdef Py_buffer b
        cdef int64_t h
        b.shape = NULL
        pfo_enter(&self.busy, self)
        try:
            pfo_bind_bytes(&b, packet, "packet")
            if b.len > self.store.st.slot_bytes:
                raise ValueError(f"packet must be at most slot_bytes={self.store.st.slot_bytes} "
                                 f"bytes long, got {b.len}")
            h = pfo_store_next(&self.store.st)
            if h < 0:
                # still validate the arguments, so a bad call is an error even when full
                self.queues._insert(queue, psn, 0, now_ns, dropped, False)
                return ReorderStatus.FULL
            st = self.queues._insert(queue, psn, h, now_ns, dropped)
            if st == ReorderStatus.BUFFERED:
                if pfo_store_put(&self.store.st, <const uint8_t*>b.buf, <uint32_t>b.len) != h:
                    raise AssertionError("packet store handed out an unexpected slot")
                self._held += 1
                self._meta_held += self.meta_size
                self._full_held += <uint64_t>b.len
            return st
        finally:
            pfo_release(&b)
            pfo_leave(&self.busy)

    cdef void _sample(self):
        if self._meta_held > self._peak_meta:
            self._peak_meta = self._meta_held
        if self._full_held > self._peak_full:
            self._peak_full = self._full_held

    cdef list _fetch(self, handles):
        # the released packets, their slots freed (every handle came from receive)
        cdef list out = []
        cdef uint32_t h
        cdef pfo_store_t* st = &self.store.st
        for hh in handles.tolist():
            h = <uint32_t>hh
            out.append(PyBytes_FromStringAndSize(<char*>st.data + <size_t>h * st.slot_bytes,
                                                 st.lengths[h]))
            self._full_held -= st.lengths[h]
            self._meta_held -= self.meta_size
            self._held -= 1
            if pfo_store_free(st, h) < 0:
                raise AssertionError(f"reorder side released handle {h}, not in the store")
        return out

    def drain(self, now_ns):
        """Release what is ready at ``now_ns``: the packets, fetched from the store.

        Returns
        -------
        list of bytes
            In PSN order per queue (queue after queue); their slots are freed.

        Raises
        ------
        TypeError, ValueError
            A bad ``now_ns``, or one earlier than a time already seen.
        RuntimeError
            Another call on this cache is running in another thread.
        """
        pfo_enter(&self.busy, self)
        try:
            handles, _ = self.queues._drain(now_ns)
            out = self._fetch(handles)
            self._sample()
            return out
        finally:
            pfo_leave(&self.busy)

    def flush(self):
        """Release everything held (teardown), as :meth:`ReorderQueues.flush`."""
        pfo_enter(&self.busy, self)
        try:
            self._sample()
            handles, _ = self.queues._flush()
            return self._fetch(handles)
        finally:
            pfo_leave(&self.busy)
