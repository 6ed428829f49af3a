"""Reorder buffer with timeout, drop flag and wrap-around; multi-queue egress.

One extension module, its source split by job: this file (module state and
the Python boundary helpers) includes reorder_rob.pxi (one buffer's C core),
reorder_robq.pxi (the queues' C core), reorder_buffer.pxi (ReorderBuffer)
and reorder_queues.pxi (ReorderQueues).
"""

cimport cython
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t, int32_t, int64_t
from cpython.buffer cimport Py_buffer
from libc.stdlib cimport malloc, calloc, free, realloc
from libc.string cimport memcpy, memmove, memset

from collections import namedtuple
from enum import IntEnum

import numpy as np

from paraflowo._checks import require_int, require_pow2
from paraflowo.metadata import META_DTYPE
from paraflowo._core._types cimport PFO_FLAG_PARA, PFO_FLAG_DROP

cdef extern from "reorder_hint.h" nogil:
    void pfo_prefetch(const void* p) noexcept
    void* pfo_block_alloc(size_t size) noexcept
from paraflowo._core._boundary cimport (
    PFO_INT64_MAX, PFO_NOGIL_MIN, PFO_OPTIONAL, PFO_UINT64_MAX, PFO_WRITABLE, pfo_bind, pfo_bind_n, pfo_bound, pfo_check_len,
    pfo_enter, pfo_guard, pfo_leave, pfo_len, pfo_not_backwards, pfo_raise_backwards,
    pfo_int, pfo_small_int, pfo_raise_len, pfo_raise_part, pfo_release, pfo_time, pfo_uint)


class ReorderStatus(IntEnum):
    """Outcome of inserting one packet into a reorder buffer.

    ``BUFFERED``
        Held; a later drain releases it in PSN order.
    ``LATE``
        Its PSN is behind the head (already released or skipped).  Not kept:
        the caller owns the packet and either forwards it out of order (the
        flow sees one reordered packet) or drops it (the flow sees a loss that
        its transport repairs); ParaFlowO only reports it.
    ``DUPLICATE``
        Its PSN is already held (or tombstoned).  Not kept: the caller frees it.
    ``DROPPED``
        ``dropped=True`` was accepted: a tombstone holds the slot and the head
        passes over it without emitting anything.  The caller frees the packet.
    ``FULL``
        Not accepted and nothing changed: the window had to advance over more
        held packets than its ready queue can take (two large jumps without a
        drain between them).  Drain, then insert again.
    ``PASSED``
        (:class:`ReorderQueues` only) the record is not tagged for reordering
        (no ``FLAG_PARA``) and went straight to the output.
    """

    BUFFERED = PFO_ROB_BUFFERED
    LATE = PFO_ROB_LATE
    DUPLICATE = PFO_ROB_DUPLICATE
    DROPPED = PFO_ROB_DROPPED
    FULL = PFO_ROB_FULL
    PASSED = PFO_ROB_PASSED


ReorderStats = namedtuple(
    "ReorderStats",
    ["inserted", "released", "dropped", "late", "duplicates", "skipped", "timeouts",
     "full", "held", "peak_held"],
)
ReorderStats.__doc__ = """Counters of a reorder buffer (or the sum over reorder queues).

``inserted == released + dropped + late + duplicates + held`` at every instant.
``skipped`` counts PSNs the head passed without a packet or tombstone;
``timeouts`` the times the timeout rule fired; ``full`` the refused inserts
(not in ``inserted``); ``held`` the packets held now, ``peak_held`` the most
ever held at once (for :class:`ReorderQueues`: the sum of the per-queue peaks).
"""

cdef tuple _STATUS = tuple(ReorderStatus)
cdef object _empty = np.empty
cdef object _u64 = np.dtype(np.uint64)
cdef object _EMPTY_U64 = np.empty(0, np.uint64)
_EMPTY_U64.flags.writeable = False
cdef int64_t _NS_MAX = 0x7FFFFFFFFFFFFFFF
cdef uint64_t _U64_MAX = 0xFFFFFFFFFFFFFFFF

# Scratch space for the per-call drain/flush methods, which run under the GIL
# (the GIL is what makes sharing it safe); grows to the largest held count seen.
# While it is in use (_scratch_busy), a re-entrant call (from a finalizer run
# by the allocation of the result array) drains straight into a new array.
cdef pfo_handle_t* _scratch = NULL
cdef Py_ssize_t _scratch_cap = 0
cdef bint _scratch_busy = False


cdef pfo_handle_t* _scratch_for(Py_ssize_t n) except NULL:
    global _scratch, _scratch_cap
    cdef pfo_handle_t* p
    if n > _scratch_cap or _scratch is NULL:
        if n < 1024:
            n = 1024
        p = <pfo_handle_t*>realloc(_scratch, n * sizeof(pfo_handle_t))
        if p is NULL:
            raise MemoryError(f"cannot allocate {n} handles")
        _scratch = p
        _scratch_cap = n
    return _scratch


cdef object _array_from(const pfo_handle_t* src, Py_ssize_t k):
    # a new uint64 array holding src[0:k] (a shared read-only empty one for k = 0)
    if k == 0:
        return _EMPTY_U64
    arr = _empty(k, _u64)
    cdef Py_buffer b
    pfo_bind(&b, arr, "out", _u64, PFO_WRITABLE)
    memcpy(b.buf, src, k * sizeof(pfo_handle_t))
    pfo_release(&b)
    return arr


cdef object _u32 = np.dtype(np.uint32)
cdef object _u8 = np.dtype(np.uint8)
cdef object _i32 = np.dtype(np.int32)
cdef object _bool = np.dtype(np.bool_)
cdef object _ndarray = np.ndarray


cdef object _release_array(pfo_rob_t* r, pfo_ns_t now, bint flush):
    # drain (or flush) r into a new uint64 array of exactly the released handles
    global _scratch_busy
    cdef Py_ssize_t cap = pfo_rob_held(r), n
    cdef pfo_handle_t* buf
    cdef Py_buffer b
    if _scratch_busy:
        arr = _empty(cap + 1, _u64)
        pfo_bind(&b, arr, "out", _u64, PFO_WRITABLE)
        buf = <pfo_handle_t*>b.buf
        n = pfo_rob_flush(r, buf, cap) if flush else pfo_rob_drain(r, now, buf, cap)
        pfo_release(&b)
        return arr[:n]
    _scratch_busy = True
    try:
        buf = _scratch_for(cap)
        n = pfo_rob_flush(r, buf, cap) if flush else pfo_rob_drain(r, now, buf, cap)
        return _array_from(buf, n)
    finally:
        _scratch_busy = False


# ---------------------------------------------------------------------------
# C core, by job: one reorder buffer, then many reorder queues
# ---------------------------------------------------------------------------

include "reorder_rob.pxi"
include "reorder_robq.pxi"


# ---------------------------------------------------------------------------
# Python boundary helpers
# ---------------------------------------------------------------------------

cdef bint _as_flag(str name, object value) except -1:
    if value is True or value is False:
        return value is True
    if isinstance(value, np.bool_):
        return bool(value)
    raise TypeError(f"{name} must be a bool, got {value!r}")


cdef object _as_u8_flags(object dropped):
    # a bool array viewed as uint8 (what the core reads); anything else as is,
    # for pfo_bind to accept (uint8) or name the problem
    if isinstance(dropped, _ndarray) and dropped.dtype == _bool:
        return dropped.view(_u8)
    if dropped is not None and not isinstance(dropped, _ndarray):
        raise TypeError(f"dropped must be None or a numpy.ndarray of dtype bool or uint8, "
                        f"got {type(dropped).__name__}")
    return dropped


cdef Py_ssize_t _every(object drain_every) except -1:
    # drain_every: any integer >= 0; 0 and values beyond any burst (> 2**63 - 1
    # included) both mean "only at the end" (returned as 0)
    cdef long long x
    if type(drain_every) is int and pfo_small_int(drain_every, &x) and x >= 0:
        return x                        # the common case, without a Python compare
    v = require_int("drain_every", drain_every, 0)
    return v if v <= PFO_INT64_MAX else 0


cdef int _out_room(str name, Py_ssize_t cap, Py_ssize_t need, str what) except -1:
    # Without status_out a burst must not be able to refuse a packet (FULL)
    # unseen: its output must hold everything it could release.
    if cap < need:
        raise ValueError(f"{name} must have length >= {need} ({what}; or pass status_out "
                         f"to learn which packets a shorter {name} refuses), got {cap}")
    return 0


cdef _bad_psn(str name, object psns, uint32_t psn_mask, int psn_bits):
    bad = np.flatnonzero(psns > psn_mask)[0]
    raise ValueError(f"{name} must be in [0, 2**{psn_bits} - 1], "
                     f"got {int(psns[bad])} at index {bad}")


cdef object _make_stats(pfo_rob_stats_t st, uint64_t held):
    return ReorderStats(st.inserted, st.released, st.dropped, st.late, st.duplicates,
                        st.skipped, st.timeouts, st.full, held, max(held, st.peak_held))


# ---------------------------------------------------------------------------
# Python classes
# ---------------------------------------------------------------------------

include "reorder_buffer.pxi"
include "reorder_queues.pxi"
