# cython: language_level=3
"""Network functions run by the live dataplane's workers: the cimport API.

A network function (NF) is the VNF's per-packet work.  It is a C function of
type ``pfo_nf_fn`` plus an opaque state pointer, held by an :class:`NF`
object.  A custom NF in Cython::

    from libc.stdint cimport uint8_t, uint32_t
    from paraflowo._core._types cimport pfo_meta_t, PFO_FLAG_DROP
    from paraflowo._core.nf cimport NF

    cdef int ttl_guard(void* state, pfo_meta_t* meta, uint8_t* data,
                       uint32_t length, uint32_t worker) noexcept nogil:
        if length > 22 and data[22] <= 1:      # IPv4 TTL (untagged frame)
            meta.flags |= PFO_FLAG_DROP
        return 0

    cdef class TTLGuard(NF):
        def __cinit__(self):
            self.fn = ttl_guard
            self.state = NULL
            self.name = "ttl-guard"

Thread contract: the dataplane calls ``fn`` from its N worker threads at once,
without the GIL, each with its own ``worker`` id in [0, N).  ``fn`` may read
and rewrite ``data[0:length]`` (the packet, in the packet store) and may set
``PFO_FLAG_DROP`` in ``meta.flags``; it must not change any other metadata
field, keep ``data`` after it returns, or free the packet (the dataplane owns
it: a tagged packet's slot in the reorder buffer depends on it coming back).
State shared by workers must be updated atomically (see ``CounterNF``) or
kept per worker (indexed by ``worker``).  Return 0; any other value is
counted in the dataplane's ``nf_errors`` and the packet goes on unchanged.
"""

from libc.stdint cimport uint8_t, uint32_t, uint64_t
from paraflowo._core._types cimport pfo_meta_t

ctypedef int (*pfo_nf_fn)(void* state, pfo_meta_t* meta, uint8_t* data,
                          uint32_t length, uint32_t worker) noexcept nogil

cdef enum:
    PFO_NF_MAX_WORKERS = 64     # largest worker count an NF serves


cdef class NF:
    # Base class: fn and state are set by the subclass's __cinit__ and never
    # change afterwards.  The base class itself forwards (fn = pfo_nf_forward).
    cdef pfo_nf_fn fn
    cdef void* state
    cdef public str name


cdef int pfo_nf_forward(void* state, pfo_meta_t* meta, uint8_t* data,
                        uint32_t length, uint32_t worker) noexcept nogil
    # Does nothing: the packet goes on unchanged.  Returns 0.

cdef void pfo_spin(uint64_t iterations) noexcept nogil
    # Busy work: `iterations` steps of a dependent multiply-add chain the
    # compiler cannot remove.  SpinNF calibrates steps per ns.
