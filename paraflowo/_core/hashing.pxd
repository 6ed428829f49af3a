# cython: language_level=3
"""Toeplitz RSS hashing and the RSS indirection table: the cimport API.

Usage from Cython (all of it runs without the GIL)::

    from paraflowo._core.hashing cimport (
        ToeplitzHasher, IndirectionTable, pfo_rss_hash, pfo_reta_lookup)

    cdef ToeplitzHasher h = ToeplitzHasher()          # default RSS key
    cdef IndirectionTable reta = IndirectionTable(4)  # 128 entries, 4 queues
    with nogil:
        hv = pfo_rss_hash(h.tbl, data_ptr, 12)
        core = pfo_reta_lookup(reta.entries, reta.mask, hv)

Both objects own their memory; keep a reference for as long as you use the
pointers.  Tables are read-only after construction, so one ToeplitzHasher may
be shared by threads; an IndirectionTable must not be written while others
read it.
"""

from libc.stdint cimport uint8_t, uint16_t, uint32_t
from paraflowo._core._types cimport pfo_hash_t

cdef enum:
    PFO_RSS_MAX_KEY = 64     # longest accepted Toeplitz key, bytes
    PFO_RSS_MIN_KEY = 8      # shortest accepted key, bytes
    PFO_RSS_MAX_INPUT = 60   # longest input any key can hash: key length - 4

# Per-key lookup tables: t[i][v] is the XOR contribution of byte value v at input
# position i, i.e. the XOR of the 32-bit key windows starting at the input bits
# set in v.  Hashing an n-byte input is then n table reads and n XORs.
ctypedef struct pfo_rss_tbl_t:
    uint32_t max_input                  # inputs up to this many bytes (key_len - 4)
    uint32_t t[PFO_RSS_MAX_INPUT][256]


cdef void pfo_rss_init(pfo_rss_tbl_t* tbl, const uint8_t* key, Py_ssize_t key_len) noexcept nogil
    # Fill tbl for key[0:key_len].
    # Precondition: PFO_RSS_MIN_KEY <= key_len <= PFO_RSS_MAX_KEY.  Cannot fail.


cdef inline pfo_hash_t pfo_rss_hash(const pfo_rss_tbl_t* tbl, const uint8_t* data,
                                    Py_ssize_t n) noexcept nogil:
    # Toeplitz hash of data[0:n] (network byte order, as the NIC sees it).
    # Precondition: 0 <= n <= tbl.max_input.  Cannot fail.
    cdef pfo_hash_t h = 0
    cdef Py_ssize_t i
    for i in range(n):
        h ^= tbl.t[i][data[i]]
    return h


cdef void pfo_rss_hash_burst(const pfo_rss_tbl_t* tbl, const uint8_t* data,
                             Py_ssize_t n_rows, Py_ssize_t stride, Py_ssize_t length,
                             pfo_hash_t* out) noexcept nogil
    # out[r] = hash of data[r*stride : r*stride + length] for r in [0, n_rows).
    # stride lets a structured array of tuples be hashed in place (the RSS input
    # is the leading `length` bytes of each record).
    # Preconditions: length <= tbl.max_input, length <= stride, out holds n_rows.


cdef inline uint16_t pfo_reta_lookup(const uint16_t* entries, uint32_t mask,
                                     pfo_hash_t h) noexcept nogil:
    # RX queue of hash h: entries[h & mask], mask = table size - 1.
    # Example: size 128, h = 0x51ccc178 -> index 0x78 = 120.
    return entries[h & mask]


cdef class ToeplitzHasher:
    cdef pfo_rss_tbl_t* tbl     # owned, read-only after __cinit__
    cdef readonly bytes key
    cdef object _hash_one(self, object data)
    cdef object _burst(self, object flat, Py_ssize_t n, Py_ssize_t stride,
                       Py_ssize_t length, object out)


cdef class IndirectionTable:
    cdef uint16_t* entries      # owned; `size` entries, each < n_queues
    cdef uint32_t mask          # size - 1
    cdef readonly uint32_t size
    cdef readonly uint32_t n_queues
    cdef int busy               # set while queue_batch runs without the GIL
    cdef uint32_t _index(self, object index) except? 0xFFFFFFFF
