"""Elephant detectors: windowed Count-Min and Space-Saving, with manual tags."""

cimport cython
from cpython.buffer cimport Py_buffer
from libc.stdlib cimport calloc, free, malloc
from libc.stdint cimport UINT32_MAX, UINT64_MAX, int32_t, int64_t, uint8_t, uint32_t, uint64_t
from libc.string cimport memset

from paraflowo._core._key cimport pfo_key
from paraflowo._core._types cimport pfo_fmix64
from paraflowo._core._boundary cimport (
    PFO_NOGIL_MIN, PFO_OPTIONAL, PFO_UINT64_MAX, PFO_WRITABLE, pfo_bind, pfo_bind_n, pfo_bound, pfo_check_len, pfo_enter,
    pfo_leave,
    pfo_len, pfo_not_backwards, pfo_raise_backwards, pfo_raise_busy, pfo_raise_uninit,
    pfo_bool, pfo_release, pfo_time, pfo_uint)

import math

import numpy as np

from paraflowo._checks import require_int, require_pow2

cdef extern from "cm_simd.h" nogil:
    int pfo_cm_simd
    int pfo_cm_have_sse41() noexcept nogil
    uint64_t pfo_splitmix64(uint64_t* state) noexcept nogil
    uint64_t pfo_cm_kernel(uint32_t* cells, const uint64_t* hp, unsigned depth, unsigned fb,
                           int cons, int sat, int narrow, unsigned lw, unsigned sh, unsigned cur,
                           uint64_t th, const uint64_t* keys, const uint64_t* amounts,
                           Py_ssize_t n, uint8_t* out, uint64_t* last_est,
                           int runs) noexcept nogil
    uint64_t pfo_cm_one(uint32_t* cells, const uint64_t* hp, unsigned depth, unsigned fb,
                        int cons, unsigned lw, unsigned sh, unsigned cur, uint64_t key,
                        uint64_t amount) noexcept nogil
    uint64_t pfo_cm_one4(uint32_t* cells, const uint64_t* hp, unsigned fb, int cons,
                         unsigned lw, unsigned sh, unsigned cur, uint64_t key,
                         uint64_t amount) noexcept nogil
    uint64_t pfo_cm_one4_any(uint32_t* cells, const uint64_t* hp, unsigned fb, int cons,
                             unsigned lw, unsigned sh, unsigned cur, uint64_t key,
                             uint64_t amount, uint64_t t0, uint64_t t1) noexcept nogil
    uint64_t pfo_cm_est(const uint32_t* cells, const uint64_t* hp, unsigned depth,
                        unsigned fb, unsigned lw, unsigned sh, uint64_t key) noexcept nogil

cdef enum:
    _MAX_TAGS = 1 << 24
    _MAX_CAPACITY = 1 << 24
    _MAX_WIDTH = 1 << 24

cdef extern from *:
    """
    #define PFO_DET_MAX_WINDOW_NS ((long long)1 << 62)
    """
    const pfo_ns_t _MAX_WINDOW_C "PFO_DET_MAX_WINDOW_NS"   # the largest window_ns, 2**62

_U64_MAX = (1 << 64) - 1
_ROW_HASHES = {"fused": "fused", "independent": "independent"}
_MAX_NS = (1 << 63) - 1
_MAX_WINDOW_NS = 1 << 62


include "detectors_ktab.pxi"
include "detectors_window.pxi"

# ---------------------------------------------------------------------------
# Input checks shared by the Python methods
# ---------------------------------------------------------------------------

def _simd_loops(enabled=None, *, bmi2=True):
    """Test hook: whether Count-Min may use its SIMD code (None: just ask).

    Covers the depth-4 burst loop and per-packet body.  Returns the previous
    setting.  ``False`` forces the portable code, so tests can compare both
    on one machine; ``True`` enables the SIMD code only if the CPU has it,
    and with ``bmi2=False`` only its SSE4.1 copies (not the per-row-hash
    loop built for BMI2).  Not thread-safe; not public API.
    """
    global pfo_cm_simd
    cdef int before = pfo_cm_have_sse41()
    if enabled is not None:
        pfo_cm_simd = -1
        if not enabled or not pfo_cm_have_sse41():
            pfo_cm_simd = 0
        elif not bmi2 and pfo_cm_simd > 1:
            pfo_cm_simd = 1
    return bool(before)


cdef inline uint64_t _key(object key) except? 0:
    return pfo_key("key", key)


cdef inline int _ready(ElephantDetector d) except -1:
    # The first check of every method that touches the detector's memory:
    # busy == 0 is the one compare of the success path.  Burst calls release
    # the GIL, and a second thread must not use the same detector meanwhile (no
    # locks on the hot path: one detector per thread); busy == -1 until an
    # __init__ has completed (Cls.__new__(Cls), a subclass that skips
    # super().__init__, or an __init__ that raised).
    if d.busy == 0:
        return 0
    if d.busy < 0:
        return pfo_raise_uninit(d)
    return pfo_raise_busy(d)


cdef inline int _reinit(ElephantDetector d) except -1:
    # __init__ may run again on a detector, but not during its burst.  An
    # __init__ checks every argument first (an error leaves the detector as it
    # was), then sets busy = -1 while it (re)allocates and 0 when done.
    if d.busy > 0:
        pfo_raise_busy(d)
    return 0


cdef inline pfo_ns_t _time(ElephantDetector d, object now_ns) except? -1:
    cdef pfo_ns_t t = pfo_time("now_ns", now_ns)
    pfo_not_backwards("now_ns", t, d.last_ns)
    return t


cdef object _u64 = np.dtype(np.uint64)
cdef object _i64 = np.dtype(np.int64)
cdef object _bool = np.dtype(np.bool_)
cdef object _ndarray = np.ndarray


cdef inline uint64_t _sat_add64(uint64_t a, uint64_t b) noexcept nogil:
    cdef uint64_t s = a + b
    return s if s >= a else UINT64_MAX


include "detectors_tags.pxi"
include "detectors_cm.pxi"
include "detectors_ss.pxi"
