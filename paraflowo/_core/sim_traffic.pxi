# Included by sim.pyx at module level: the traffic generator's core (the
# arrivals of an interval packed as keys and radix sorted without the GIL).

cdef extern from *:
    """
    #define PFO_SIM_RADIX_MAX_BITS 12
    """
    const int PFO_SIM_RADIX_MAX_BITS


cdef uint64_t* _radix_sort(uint64_t* a, uint64_t* tmp, Py_ssize_t n,
                           int key_bits) noexcept nogil:
    # LSD radix sort of n keys below 2**key_bits, in passes of at most 12 bits
    # (a 4,096-counter histogram: 32 KiB, in L1).  Returns a or tmp, whichever
    # holds the sorted keys.  O(n) per pass; keys equal as integers are
    # indistinguishable, so the result equals any other sort's.
    # Example: 35-bit keys (28-bit offsets, 7-bit flow ids) -> 3 passes of 12.
    cdef Py_ssize_t cnt[1 << PFO_SIM_RADIX_MAX_BITS]
    cdef int passes = (key_bits + PFO_SIM_RADIX_MAX_BITS - 1) // PFO_SIM_RADIX_MAX_BITS
    cdef int width, p, shift
    cdef Py_ssize_t i, s, c, nb
    cdef uint64_t mask
    cdef uint64_t* src = a
    cdef uint64_t* dst = tmp
    cdef uint64_t* sw
    if passes < 1:
        return a
    width = (key_bits + passes - 1) // passes
    nb = (<Py_ssize_t>1) << width
    mask = (<uint64_t>1 << width) - 1
    for p in range(passes):
        shift = p * width
        for i in range(nb):
            cnt[i] = 0
        for i in range(n):
            cnt[(src[i] >> shift) & mask] += 1
        s = 0
        for i in range(nb):
            c = cnt[i]
            cnt[i] = s
            s += c
        for i in range(n):
            c = (src[i] >> shift) & mask
            dst[cnt[c]] = src[i]
            cnt[c] += 1
        sw = src
        src = dst
        dst = sw
    return src


def sort_arrivals(uniform, counts, ids, extra_off, extra_ids, span, start_ns, flow_bits):
    """One interval's arrivals, sorted by time then flow (the traffic generator's core).

    The k-th Poisson arrival lands at offset ``floor(uniform[k] * span)``
    (``float64`` arithmetic, as numpy computes it) and belongs to flow
    ``np.repeat(ids, counts)[k]``; ``extra_off`` / ``extra_ids`` add further
    arrivals at given offsets (the constant-rate flows).  Every arrival is
    packed as ``offset << flow_bits | flow`` and the keys are radix sorted,
    so ties in time go to the lower flow id: the same order as ``np.sort`` of
    the same keys, in O(n) instead of O(n log n).

    Parameters
    ----------
    uniform : numpy.ndarray
        ``float64`` draws in ``[0, 1)``, ``sum(counts)`` of them.
    counts, ids : numpy.ndarray
        ``int64``, equal lengths: arrivals per Poisson flow, and its flow id.
    extra_off, extra_ids : numpy.ndarray
        ``int64``, equal lengths: offsets in ``[0, span)`` and flow ids.
    span : int
        Interval length, ns, in ``[1, 2**(62 - flow_bits)]``.
    start_ns : int
        Time of offset 0, ns (>= 0).
    flow_bits : int
        Bits of a flow id, in ``[1, 30]``; every id is below ``2**flow_bits``.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        ``int64`` times (``start_ns + offset``, non-decreasing) and ``int32``
        flow ids.

    Raises
    ------
    TypeError, ValueError
        Wrong dtypes, lengths or values (the first bad index is named).

    Examples
    --------
    >>> import numpy as np
    >>> from paraflowo._core.sim import sort_arrivals
    >>> t, f = sort_arrivals(np.array([0.5, 0.25, 0.5]), np.array([2, 1]),
    ...                      np.array([3, 1]), np.array([0]), np.array([2]),
    ...                      span=100, start_ns=1000, flow_bits=2)
    >>> t.tolist(), f.tolist()
    ([1000, 1025, 1050, 1050], [2, 3, 1, 3])
    """
    require_array("uniform", uniform, np.float64)
    for name, a in (("counts", counts), ("ids", ids), ("extra_off", extra_off),
                    ("extra_ids", extra_ids)):
        require_array(name, a, np.int64)
    cdef int bits = require_int("flow_bits", flow_bits, 1, 30)
    cdef int64_t sp = require_int("span", span, 1, (<int64_t>1) << (62 - bits))
    cdef int64_t a0 = require_int("start_ns", start_ns, 0, <int64_t>0x7FFFFFFFFFFFFFFF - sp)
    if ids.shape[0] != counts.shape[0]:
        raise ValueError(f"ids must have length {counts.shape[0]}, got {ids.shape[0]}")
    if extra_ids.shape[0] != extra_off.shape[0]:
        raise ValueError(f"extra_ids must have length {extra_off.shape[0]}, "
                         f"got {extra_ids.shape[0]}")
    cdef const double[::1] u = uniform
    cdef const int64_t[::1] cv = counts
    cdef const int64_t[::1] iv = ids
    cdef const int64_t[::1] eo = extra_off
    cdef const int64_t[::1] ei = extra_ids
    cdef Py_ssize_t nu = u.shape[0], nc = cv.shape[0], ne = eo.shape[0]
    cdef Py_ssize_t i, j, k, bad = -1, total = 0
    cdef int64_t lim = (<int64_t>1) << bits
    with nogil:
        for j in range(nc):
            if cv[j] < 0 or iv[j] < 0 or iv[j] >= lim:
                bad = j
                break
            total += cv[j]
    if bad >= 0:
        if counts[bad] < 0:
            raise ValueError(f"counts must be >= 0, got {counts[bad]} at index {bad}")
        raise ValueError(f"ids must be in [0, {lim}), got {ids[bad]} at index {bad}")
    if total != nu:
        raise ValueError(f"uniform must have sum(counts) = {total} draws, got {nu}")
    with nogil:
        for j in range(ne):
            if eo[j] < 0 or eo[j] >= sp or ei[j] < 0 or ei[j] >= lim:
                bad = j
                break
    if bad >= 0:
        if not 0 <= extra_off[bad] < sp:
            raise ValueError(f"extra_off must be in [0, {sp}), got {extra_off[bad]} "
                             f"at index {bad}")
        raise ValueError(f"extra_ids must be in [0, {lim}), got {extra_ids[bad]} "
                         f"at index {bad}")
    cdef Py_ssize_t n = nu + ne
    keys = np.empty(n, np.uint64)
    tmp = np.empty(n, np.uint64)
    times = np.empty(n, np.int64)
    flows = np.empty(n, np.int32)
    cdef uint64_t[::1] kv = keys
    cdef uint64_t[::1] tv = tmp
    cdef int64_t[::1] to = times
    cdef int32_t[::1] fo = flows
    cdef uint64_t* srt
    cdef uint64_t fmask = <uint64_t>(lim - 1)
    cdef double dspan = <double>sp, x
    cdef int64_t off
    cdef int key_bits = bits
    if n == 0:
        return times, flows
    with nogil:
        k = 0
        for j in range(nc):
            for i in range(cv[j]):
                x = u[k] * dspan
                # floor, as numpy computes it (a truncation for x >= 0)
                off = <int64_t>x if x >= 0.0 else <int64_t>floor(x)
                kv[k] = (<uint64_t>off << bits) | <uint64_t>iv[j]
                k += 1
        for j in range(ne):
            kv[nu + j] = (<uint64_t>eo[j] << bits) | <uint64_t>ei[j]
        # the largest offset is at most span (floor(u * span) may round up to it)
        off = sp
        while off > 0:
            key_bits += 1
            off >>= 1
        srt = _radix_sort(&kv[0], &tv[0], n, key_bits)
        for i in range(n):
            to[i] = <int64_t>(srt[i] >> bits) + a0
            fo[i] = <int32_t>(srt[i] & fmask)
    return times, flows
