"""The dataplane's SPSC ring (``spsc_ring.h``) on its own: a Python wrapper for
tests and study, and a two-thread stress run (see ``ring.pyi``)."""

from libc.stdint cimport int64_t, uint32_t, uint64_t
from libc.stdlib cimport free

import threading

import numpy as np

from paraflowo._checks import require_int, require_pow2
from paraflowo._core._boundary cimport pfo_raise_uninit

from paraflowo._core._spsc cimport (
    pfo_backoff_idle, pfo_backoff_reset, pfo_backoff_t, pfo_spsc_aligned,
    pfo_spsc_count, pfo_spsc_footprint, pfo_spsc_init, pfo_spsc_pop_burst,
    pfo_spsc_push_burst, pfo_spsc_t,
)


cdef class SPSCRing:
    """The dataplane's ring (``spsc_ring.h``) on its own, for tests and study.

    ``push(records)`` and ``pop(n)`` move rows of a ``uint64[n, 4]`` array (one
    32-byte record per row) from one thread; :func:`spsc_stress` drives one
    ring from two threads at once.
    """
    cdef void* mem
    cdef pfo_spsc_t* r
    cdef readonly uint32_t capacity

    def __init__(self, capacity):
        cap = require_pow2("capacity", capacity, 2, 1 << 24)
        free(self.mem)          # a second __init__ starts from nothing
        self.r = NULL
        self.mem = pfo_spsc_aligned(pfo_spsc_footprint(cap))
        if self.mem == NULL:
            raise MemoryError()
        self.capacity = cap
        self.r = pfo_spsc_init(self.mem, self.capacity)

    def __dealloc__(self):
        free(self.mem)

    def __len__(self):
        if self.r == NULL:
            pfo_raise_uninit(self)
        return pfo_spsc_count(self.r)

    def push(self, records):
        """Push the rows of `records` (``uint64[n, 4]``); returns how many fit."""
        cdef const uint64_t[:, ::1] v
        if self.r == NULL:
            pfo_raise_uninit(self)
        if not isinstance(records, np.ndarray) or records.dtype != np.uint64:
            raise TypeError(f"records must be a numpy.ndarray of dtype uint64, got "
                            f"{getattr(records, 'dtype', type(records).__name__)}")
        recs = np.ascontiguousarray(records)
        if recs.ndim != 2 or recs.shape[1] != 4:
            raise ValueError(f"records must have shape (n, 4), got {recs.shape}")
        if recs.shape[0] == 0:
            return 0
        v = recs
        return pfo_spsc_push_burst(self.r, &v[0, 0], <uint32_t>min(recs.shape[0], 1 << 24))

    def pop(self, n):
        """Pop up to `n` records; returns a ``uint64[k, 4]`` array, k <= n."""
        if self.r == NULL:
            pfo_raise_uninit(self)
        n = require_int("n", n, 0, 1 << 24)
        out = np.empty((max(n, 1), 4), np.uint64)
        cdef uint64_t[:, ::1] v = out
        k = pfo_spsc_pop_burst(self.r, &v[0, 0], <uint32_t>n) if n else 0
        return out[:k]


cdef void _stress_produce(pfo_spsc_t* r, uint64_t n, uint32_t batch) noexcept nogil:
    cdef uint64_t buf[64 * 4]
    cdef uint64_t sent = 0, i, k, m
    cdef pfo_backoff_t bo
    bo.max_sleep_ns = 50_000
    pfo_backoff_reset(&bo)
    while sent < n:
        k = n - sent if n - sent < batch else batch
        for i in range(k):
            buf[4 * i] = sent + i
            buf[4 * i + 1] = ~(sent + i)
            buf[4 * i + 2] = (sent + i) * 0x9e3779b97f4a7c15ULL
            buf[4 * i + 3] = sent + i + 1
        m = pfo_spsc_push_burst(r, buf, <uint32_t>k)
        sent += m
        if m == 0:
            pfo_backoff_idle(&bo)
        else:
            pfo_backoff_reset(&bo)


cdef uint64_t _stress_consume(pfo_spsc_t* r, uint64_t n, uint32_t batch) noexcept nogil:
    # Returns the number of records that were not the next expected one
    # (out of order, torn or lost): 0 when the ring is correct.
    cdef uint64_t buf[64 * 4]
    cdef uint64_t got = 0, bad = 0, i, k, x
    cdef pfo_backoff_t bo
    bo.max_sleep_ns = 50_000
    pfo_backoff_reset(&bo)
    while got < n:
        k = pfo_spsc_pop_burst(r, buf, batch)
        if k == 0:
            pfo_backoff_idle(&bo)
            continue
        pfo_backoff_reset(&bo)
        for i in range(k):
            x = got + i
            if (buf[4 * i] != x or buf[4 * i + 1] != ~x
                    or buf[4 * i + 2] != x * 0x9e3779b97f4a7c15ULL or buf[4 * i + 3] != x + 1):
                bad += 1
        got += k
    return bad


def spsc_stress(n_records, capacity=64, batch=7):
    """Push `n_records` numbered records through one ring from a producer
    thread to a consumer thread (both without the GIL); returns the number of
    records that arrived out of order or torn (0 for a correct ring)."""
    cdef uint64_t n = require_int("n_records", n_records, 1, 1 << 40)
    cdef uint32_t b = require_int("batch", batch, 1, 64)
    ring = SPSCRing(capacity)
    cdef pfo_spsc_t* r = (<SPSCRing>ring).r
    result = []

    def consume():
        cdef uint64_t bad
        with nogil:
            bad = _stress_consume(r, n, b)
        result.append(bad)

    t = threading.Thread(target=consume)
    t.start()
    with nogil:
        _stress_produce(r, n, b)
    t.join()
    return result[0]
