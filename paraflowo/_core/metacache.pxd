# cython: language_level=3
"""Packet store (fixed slots, free list) for the metadata cache: the cimport API.

Usage from Cython::

    from paraflowo cimport PacketStore, pfo_store_put, pfo_store_free

    cdef PacketStore store = PacketStore(4096, 2048)   # built from Python
    cdef int64_t h
    with nogil:
        h = pfo_store_put(&store.st, data, length)     # -1: full, free some first
        ...
        pfo_store_free(&store.st, <uint32_t>h)

or in memory the host owns: pfo_store_footprint, pfo_store_init, pfo_store_fini.

The reorder buffers then hold only the handle (the slot index) while the
packet bytes stay in the store, as the VM holds the packet in the paper.
"""

from libc.stdint cimport uint8_t, uint32_t, uint64_t, int64_t
from paraflowo._core._types cimport PFO_OK, PFO_EINVAL, PFO_ENOSPC, PFO_ALIGN

# Most slots of one packet store.
cdef enum:
    PFO_STORE_MAX_SLOTS = 1 << 24


# Memory: this header and pfo_store_footprint(n_slots, slot_bytes) bytes, one
# block: lengths, free list and used flags, then the packet bytes.
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


cdef size_t pfo_store_footprint(uint32_t n_slots, uint32_t slot_bytes) noexcept nogil
    # Bytes of memory pfo_store_init needs: round_up(9 * n_slots, PFO_ALIGN) +
    # round_up(n_slots * slot_bytes, PFO_ALIGN), not counting the pfo_store_t
    # header.  Returns 0 if n_slots is outside [1, PFO_STORE_MAX_SLOTS] or
    # slot_bytes outside [1, 65535].

cdef int pfo_store_init(pfo_store_t* st, void* mem, size_t size, uint32_t n_slots,
                        uint32_t slot_bytes) noexcept nogil
    # Make st an empty store living in mem[0:size].  Returns PFO_OK,
    # PFO_EINVAL (st or mem NULL, mem not 8-byte aligned, a parameter out of
    # range) or PFO_ENOSPC (size < pfo_store_footprint); on an error nothing is
    # written.  Writes only the bookkeeping part, never the packet bytes.
    # Never allocates: the caller owns st and mem.

cdef void pfo_store_fini(pfo_store_t* st) noexcept nogil
    # End st's life (the packets it holds are forgotten).  Its memory is the
    # caller's to free.  pfo_store_fini(NULL) is a no-op.


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
    cdef pfo_store_t st         # the store
    cdef void* _mem             # private: the memory st's arrays live in (owned)
    cdef str _part_of           # private: "MetadataCache" for a read-only part, else None
