# cython: language_level=3
"""Fixed-width types shared by every ParaFlowO component.

Naming rules (written once, for every ``.pxd`` in this package):

* C-level types end in ``_t`` and start with ``pfo_`` (``pfo_meta_t``).
* C-level functions carry a short prefix per component: ``pfo_rss_`` (hashing),
  ``pfo_reta_`` (indirection table), ``pfo_rob_`` (reorder buffer), ``pfo_cm_``
  (Count-Min), ... and are ``noexcept nogil`` when they cannot fail, or
  ``except -1 nogil`` when they can.
* Constants are upper case with the ``PFO_`` prefix.

Threading contract: every ``nogil`` function may run without the GIL, but an
object is not safe to use from two threads at once; give each thread its own,
or serialise the calls.
"""

from libc.stdint cimport int64_t, uint8_t, uint16_t, uint32_t, uint64_t

# Packet sequence number.  Its width is configurable (8..32 bits) per reorder
# queue; comparisons use serial-number arithmetic modulo 2**psn_bits.
ctypedef uint32_t pfo_psn_t
# Opaque packet handle chosen by the caller: a packet id, an index into a
# packet store, a pointer.
ctypedef uint64_t pfo_handle_t
# 32-bit flow hash (Toeplitz RSS output).
ctypedef uint32_t pfo_hash_t
# Time in integer nanoseconds, always passed explicitly (there is no clock).
ctypedef int64_t pfo_ns_t

# Return codes of the placement functions (pfo_rob_init, pfo_robq_init,
# pfo_store_init, ...).  Negative: nothing was written to the memory.
cdef enum:
    PFO_OK = 0          # initialised: the memory now holds the component
    PFO_EINVAL = -1     # a parameter out of range, mem NULL or not 8-byte aligned
    PFO_ENOSPC = -2     # size < the footprint for these parameters: give more memory

# Alignment every placement function requires of `mem` (bytes).  malloc's
# alignment is enough; a host carving one block into several components
# rounds each offset up to PFO_ALIGN (every footprint is a multiple of it).
cdef enum:
    PFO_ALIGN = 64

# Flag bits of pfo_meta_t.flags.
cdef enum:
    PFO_FLAG_PARA = 0x0001   # the flow is a para_flow: queue and psn are valid
    PFO_FLAG_DROP = 0x0002   # the VNF dropped the packet: egress skips its slot

# Per-packet metadata record, attached at ingress and read at egress.  32 bytes,
# naturally aligned, no padding: this is the M of the paper's Eq. 3 (the paper
# assumes M = 64 B).  Field order and types match paraflowo.META_DTYPE exactly.
ctypedef struct pfo_meta_t:
    uint64_t handle       # packet handle (see pfo_handle_t)
    int64_t  ingress_ns   # ingress timestamp, ns
    uint32_t psn          # packet sequence number in its reorder queue
    uint32_t flow_hash    # RSS hash of the flow (Toeplitz)
    uint16_t queue        # reorder queue id (valid when PFO_FLAG_PARA is set)
    uint16_t core         # RX queue / core the packet was steered to
    uint16_t length       # packet length in bytes
    uint16_t flags        # PFO_FLAG_* bits


cdef inline Py_ssize_t pfo_ns_first_backwards(const pfo_ns_t* t, Py_ssize_t n,
                                              pfo_ns_t last) noexcept nogil:
    # Index of the first time in t[0:n] below its predecessor (t[0] is compared
    # with `last`; pass last >= 0 to reject negative times too), or -1 if the
    # times never go backwards.  The burst paths' time check.
    cdef Py_ssize_t i
    for i in range(n):
        if t[i] < last:
            return i
        last = t[i]
    return -1


cdef inline uint64_t pfo_fmix64(uint64_t k) noexcept nogil:
    # Murmur3 64-bit finalizer: the slot hash of the key tables (the detectors'
    # tag table, Breakup's para_flow table).  Spreads keys; not a security hash.
    k ^= k >> 33
    k *= <uint64_t>0xff51afd7ed558ccdULL
    k ^= k >> 33
    k *= <uint64_t>0xc4ceb9fe1a85ec53ULL
    k ^= k >> 33
    return k
