# cython: language_level=3
"""Reorder-queue and PSN allocation (paper 4.1.2): the cimport API.

Usage from Cython (all of it runs without the GIL)::

    from paraflowo._core._types cimport pfo_psn_t
    from paraflowo._core.psn cimport PSNAllocator

    cdef PSNAllocator alloc = PSNAllocator(256, psn_bits=16, idle_ns=1_000_000)
    cdef pfo_psn_t psn
    cdef int32_t q
    with nogil:
        q = alloc.c_tag(key, port, flow_hash, now_ns, &psn)
        if q < 0:
            pass    # no free queue: steer the packet by plain RSS, untagged

A queue belongs to one flow (its 64-bit key) from the packet that acquires it
until that flow has been idle for ``idle_ns``; only then may another flow take
it.  Its PSN sequence never restarts: a reused queue continues where the last
owner stopped, so the egress reorder buffer of that queue needs no reset.

Preconditions of every ``c_`` method: ``now_ns`` never decreases from one call
to the next on the same object (the Python methods check this; the C methods
trust it), and ``queue < n_queues`` where a queue is passed in.
"""

from libc.stdint cimport int32_t, uint16_t, uint32_t, uint64_t
from paraflowo._core._types cimport pfo_hash_t, pfo_ns_first_backwards, pfo_ns_t, pfo_psn_t

cdef enum:
    PFO_PSN_MAX_PROBES = 64     # largest accepted `probes`
    PFO_PSN_NO_QUEUE = -1       # c_acquire / c_tag: no free queue (fallback)

# One reorder queue's allocation state, 24 bytes.
ctypedef struct pfo_psn_queue_t:
    uint64_t owner       # flow key of the owner (valid when owned != 0)
    pfo_ns_t last_ns     # time of the owner's last packet (acquire or PSN)
    pfo_psn_t next_psn   # PSN the next tagged packet gets, in [0, 2**psn_bits)
    uint32_t owned       # 1 once acquired; the owner is live while
                         # now_ns - last_ns < idle_ns


cdef inline uint32_t pfo_psn_home(uint16_t port, pfo_hash_t h) noexcept nogil:
    # First queue probed for (port, flow hash), before the mask: the murmur3
    # finaliser of h ^ (port * 0x9e3779b1).  Mixing keeps the queue choice
    # independent of the low hash bits that also index the RSS table.
    # Example: port 0, h = 0 -> 0; queue = home & (n_queues - 1).
    cdef uint32_t x = h ^ (<uint32_t>port * <uint32_t>0x9e3779b1u)
    x ^= x >> 16
    x *= <uint32_t>0x85ebca6bu
    x ^= x >> 13
    x *= <uint32_t>0xc2b2ae35u
    x ^= x >> 16
    return x


cdef class PSNAllocator:
    cdef pfo_psn_queue_t* queues  # owned, n_queues entries
    cdef uint32_t mask            # n_queues - 1
    cdef pfo_psn_t psn_mask       # 2**psn_bits - 1
    cdef readonly uint32_t n_queues
    cdef readonly uint32_t psn_bits
    cdef readonly uint32_t probes
    cdef readonly pfo_ns_t idle_ns
    cdef pfo_ns_t last_ns         # latest now_ns seen (time must not go back)
    cdef readonly uint64_t acquired    # queues taken by a flow (new or reused)
    cdef readonly uint64_t fallbacks   # acquire attempts that found no queue
    cdef readonly uint64_t tagged      # PSNs handed out
    cdef int busy                 # a Python burst call is running without the GIL
                                  # (tag_burst, or a Breakup burst that owns this
                                  # allocator): other threads' writes are refused

    cdef int32_t c_acquire(self, uint64_t key, uint16_t port, pfo_hash_t h,
                           pfo_ns_t now_ns) noexcept nogil
        # The queue owned by flow `key`, acquiring one if it has none.
        # Probes queues (home + i) & mask, i in [0, probes), home =
        # pfo_psn_home(port, h).  A queue already owned by `key` wins (even if
        # idle: the flow simply continues it); else the first queue that is
        # unowned or whose owner has been idle >= idle_ns is taken.  Marks the
        # owner as seen at now_ns.
        # Returns: the queue id in [0, n_queues), or PFO_PSN_NO_QUEUE (-1) when
        # every probed queue has a live owner: the caller sends the packet by
        # plain flow affinity, untagged (counted in `fallbacks`), and may try
        # again on the flow's next packet.

    cdef pfo_psn_t c_next_psn(self, uint32_t queue, pfo_ns_t now_ns) noexcept nogil
        # The PSN of the next packet on `queue`, then advances it modulo
        # 2**psn_bits and marks the owner as seen at now_ns.
        # Example (psn_bits 8): ..., 254, 255, 0, 1, ...
        # Precondition: queue < n_queues, acquired by the caller's flow.

    cdef int32_t c_tag(self, uint64_t key, uint16_t port, pfo_hash_t h,
                       pfo_ns_t now_ns, pfo_psn_t* psn) noexcept nogil
        # c_acquire then, on success, *psn = c_next_psn(queue).
        # Returns: the queue, or PFO_PSN_NO_QUEUE (-1) with *psn = 0 and no
        # PSN consumed: send the packet untagged by plain flow affinity.

    cdef void c_tag_burst(self, const uint64_t* keys, const uint16_t* ports,
                          const pfo_hash_t* hashes, const pfo_ns_t* now_ns,
                          Py_ssize_t n, int32_t* queues, pfo_psn_t* psns) noexcept nogil
        # c_tag for each of n packets in order.  Cannot fail.


cdef inline pfo_psn_t pfo_psn_next(PSNAllocator a, uint32_t queue, pfo_ns_t now_ns) noexcept nogil:
    # a.c_next_psn(queue, now_ns), inlined into the caller (the same result).
    cdef pfo_psn_queue_t* e = &a.queues[queue]
    cdef pfo_psn_t psn = e.next_psn
    e.next_psn = (psn + 1) & a.psn_mask
    e.last_ns = now_ns
    a.tagged += 1
    return psn
