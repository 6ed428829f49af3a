# cython: language_level=3
"""Packet store (fixed slots, free list) for the metadata cache: the cimport API.

Usage from Cython::

    from paraflowo._core.metacache cimport PacketStore, pfo_store_put, pfo_store_free

    cdef PacketStore store = PacketStore(4096, 2048)   # built from Python
    cdef int64_t h
    with nogil:
        h = pfo_store_put(&store.st, data, length)     # -1: full, free some first
        ...
        pfo_store_free(&store.st, <uint32_t>h)

The reorder buffers then hold only the handle (the slot index) while the
packet bytes stay in the store, as the VM holds the packet in the paper.
"""

from libc.stdint cimport uint8_t, uint32_t, uint64_t, int64_t


ctypedef struct pfo_store_t:
    uint8_t* data             # n_slots * slot_bytes
    uint32_t* lengths         # bytes used in each slot
    uint32_t* free_list       # stack of free slot indices, n_free of them on top
    uint8_t* used             # 1 if the slot holds a packet
    uint32_t n_slots
    uint32_t slot_bytes
    uint32_t n_free
    uint32_t peak_used
    uint64_t bytes_used       # sum of lengths of the packets stored


cdef inline int64_t pfo_store_next(const pfo_store_t* st) noexcept nogil:
    # The handle the next pfo_store_put will return, or -1 if the store is full.
    if st.n_free == 0:
        return -1
    return st.free_list[st.n_free - 1]

cdef int64_t pfo_store_put(pfo_store_t* st, const uint8_t* data, uint32_t length) noexcept nogil
    # Copy data[0:length] into a free slot; returns its handle (slot index), or
    # -1 if no slot is free (backpressure: free some, then put again).
    # Precondition: length <= st.slot_bytes.

cdef int pfo_store_free(pfo_store_t* st, uint32_t handle) noexcept nogil
    # Return the slot to the free list.  Returns 0, or -1 (nothing changed) if
    # handle >= n_slots or the slot is already free.


cdef class PacketStore:
    cdef pfo_store_t st
    cdef str _part_of           # "MetadataCache" for a read-only part, else None
    cdef uint32_t _check(self, object handle) except? 0xFFFFFFFF
    cdef int _mutable(self, str use) except -1
