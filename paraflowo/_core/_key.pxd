# cython: language_level=3
"""Flow keys at the Python boundary: 64-bit integers, half of them >= 2**63.

``pfo_key(name, v)`` is ``pfo_uint(name, v, 0, 2**64 - 1)`` (see
``_boundary.pxd``: same errors, same messages) with a fast test that also
covers ``[2**63, 2**64)``, where the boundary's fast test (int64) stops and a
hashed key would otherwise take the slow path half the time.  Used by the
per-packet calls that take a flow key (detectors, ``PSNAllocator.tag``,
``Breakup.ingress``).  Needs the GIL.
"""

from libc.stdint cimport uint64_t

from paraflowo._core._boundary cimport PFO_UINT64_MAX, pfo_uint

cdef extern from "_key.h":
    bint pfo_as_bits(object o, unsigned bits, uint64_t* out) noexcept


cdef inline uint64_t pfo_key(str name, object v) except? 0:
    # v as a uint64 key; TypeError / ValueError naming `name` otherwise.
    cdef uint64_t x
    if type(v) is int and pfo_as_bits(v, 64, &x):
        return x
    return pfo_uint(name, v, 0, PFO_UINT64_MAX)
