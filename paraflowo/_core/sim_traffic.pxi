# Included by sim.pyx at module level: the traffic generator's core (the
# arrivals of an interval packed as keys and radix sorted without the GIL).

cdef extern from *:
    """
    #define PFO_SIM_RADIX_MAX_BITS 11
    #define PFO_SIM_MSD_MAX_BITS 12
    #define PFO_SIM_BUCKET_BITS 9
    #define PFO_SIM_INSERTION_MAX 32
    """
    const int PFO_SIM_RADIX_MAX_BITS
    const int PFO_SIM_MSD_MAX_BITS
    const int PFO_SIM_BUCKET_BITS
    const int PFO_SIM_INSERTION_MAX


cdef uint64_t* _radix_sort(uint64_t* a, uint64_t* tmp, Py_ssize_t n, int lo,
                           int key_bits, Py_ssize_t* cnt) noexcept nogil:
    # Stable LSD radix sort of n keys on their bits [lo, lo + key_bits), in
    # passes of at most 11 bits.  Returns a or tmp, whichever holds the
    # sorted keys.  cnt: a workspace of ceil(key_bits / 11) * 2**11 counters.
    # All the passes' histograms come from one read of the keys; a pass whose
    # digit is the same in every key is skipped (it would copy the keys in
    # the same order).  Precondition: the keys agree above bit lo + key_bits,
    # and the keys equal on [lo, lo + key_bits) are already in ascending
    # order (lo = 0 makes that trivial), so the result is sorted as integers.
    # Up to 32 keys: an insertion sort on the whole key, in place.
    # Example: a bucket of 930 keys with 20 bits to sort -> 2 passes of 10
    # bits (2 x 1,024 counters, 16 KiB), all in L1.
    cdef int passes, width, p
    cdef Py_ssize_t i, j, s, c, nb
    cdef uint64_t mask, x
    cdef uint64_t* src = a
    cdef uint64_t* dst = tmp
    cdef uint64_t* sw
    cdef Py_ssize_t* h
    if n < 2 or key_bits <= 0:
        return a
    if n <= PFO_SIM_INSERTION_MAX:
        for i in range(1, n):
            x = a[i]
            j = i
            while j > 0 and a[j - 1] > x:
                a[j] = a[j - 1]
                j -= 1
            a[j] = x
        return a
    passes = (key_bits + PFO_SIM_RADIX_MAX_BITS - 1) // PFO_SIM_RADIX_MAX_BITS
    width = (key_bits + passes - 1) // passes
    nb = (<Py_ssize_t>1) << width
    mask = (<uint64_t>1 << width) - 1
    for i in range(passes * nb):
        cnt[i] = 0
    if passes == 2:         # the usual case, unrolled
        for i in range(n):
            x = src[i] >> lo
            cnt[x & mask] += 1
            cnt[nb + ((x >> width) & mask)] += 1
    else:
        for i in range(n):
            x = src[i] >> lo
            for p in range(passes):
                cnt[p * nb + ((x >> (p * width)) & mask)] += 1
    if passes == 2:         # both prefix sums in one loop (two chains)
        s = 0
        j = 0
        for i in range(nb):
            c = cnt[i]
            cnt[i] = s
            s += c
            c = cnt[nb + i]
            cnt[nb + i] = j
            j += c
    for p in range(passes):
        h = cnt + p * nb
        if passes == 2:
            # the pass skipped when its digit is constant: one counter
            # starts at 0 and spans all n keys
            if h[(src[0] >> (lo + p * width)) & mask] == 0 and (
                    ((src[0] >> (lo + p * width)) & mask) == mask
                    or h[((src[0] >> (lo + p * width)) & mask) + 1] == n):
                continue
        else:
            if h[(src[0] >> (lo + p * width)) & mask] == n:
                continue    # a constant digit: the pass would change nothing
            s = 0
            for i in range(nb):
                c = h[i]
                h[i] = s
                s += c
        for i in range(n):
            x = src[i]
            c = (x >> (lo + p * width)) & mask
            dst[h[c]] = x
            h[c] += 1
        sw = src
        src = dst
        dst = sw
    return src


cdef inline uint64_t _arrival_key(int64_t off, uint64_t flow, int bits) noexcept nogil:
    # an arrival packed for the sort: offset << flow_bits | flow
    return (<uint64_t>off << bits) | flow


cdef inline int64_t _offset(double u, double span) noexcept nogil:
    # floor(u * span), as numpy computes it: a truncation, since the product
    # is in [0, span] (it may round up to span)
    return <int64_t>(u * span)


def sort_arrivals(uniform, counts, ids, extra_off, extra_ids, span, start_ns, flow_bits):
    """One interval's arrivals, sorted by time then flow (the traffic generator's core).

    The k-th Poisson arrival lands at offset ``floor(uniform[k] * span)``
    (``float64`` arithmetic, as numpy computes it) and belongs to flow
    ``np.repeat(ids, counts)[k]``; ``extra_off`` / ``extra_ids`` add further
    arrivals at given offsets (the constant-rate flows).  Every arrival is
    packed as ``offset << flow_bits | flow`` and the keys are radix sorted,
    so ties in time go to the lower flow id: the same order as ``np.sort`` of
    the same keys, in O(n) instead of O(n log n).

    Notes
    -----
    The sort buckets the keys by their top bits first (two reads of
    ``uniform``: a histogram, then the scatter), then sorts each bucket, of
    about a thousand keys, by a least-significant-digit radix sort that stays
    in the L1 cache, and unpacks it into the outputs.  Without the GIL.

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
        Wrong dtypes, lengths or values, a draw outside ``[0, 1)`` (NaN
        included) among them (the first bad index is named).

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
    cdef bint ascending = True
    with nogil:
        for j in range(nc):
            if cv[j] < 0 or iv[j] < 0 or iv[j] >= lim:
                bad = j
                break
            if j > 0 and iv[j] < iv[j - 1]:
                ascending = False
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
    times = np.empty(n, np.int64)
    flows = np.empty(n, np.int32)
    if n == 0:
        return times, flows
    # the largest offset is at most span (floor(u * span) may round up to it)
    cdef int key_bits = bits
    cdef int64_t off = sp
    while off > 0:
        key_bits += 1
        off >>= 1
    # MSD step: bucket the keys by their top msd bits (2**msd buckets of
    # 2**PFO_SIM_BUCKET_BITS to twice that many keys when the offsets are
    # uniform, as they are here), then sort each bucket on its low bits while
    # it sits in L1.  Example: 237 k keys of 35 bits (flow_bits 7) -> msd 8:
    # 256 buckets of about 930 keys (7 KiB), 27 bits left below the bucket's.
    cdef int msd = 0
    while (msd < PFO_SIM_MSD_MAX_BITS and msd < key_bits
           and (n >> (msd + PFO_SIM_BUCKET_BITS + 1)) > 0):
        msd += 1
    cdef int shift = key_bits - msd
    # Within a bucket the keys keep their input order (the scatter is
    # stable).  When that order is by flow (ids ascending, no extra arrivals:
    # the generator's Poisson flows), the flow bits need no sorting: a stable
    # sort on the offset bits below the bucket's, [flow_bits, shift), leaves
    # equal offsets in flow order.  Otherwise the whole of [0, shift).
    cdef int lo = bits if (ascending and ne == 0) else 0
    if lo > shift:
        lo = shift
    cdef int low_passes = (shift - lo + PFO_SIM_RADIX_MAX_BITS - 1) // PFO_SIM_RADIX_MAX_BITS
    work = np.empty(((<Py_ssize_t>1) << msd)
                    + max(low_passes, 1) * ((<Py_ssize_t>1) << PFO_SIM_RADIX_MAX_BITS),
                    np.intp)
    cdef Py_ssize_t[::1] wv = work
    cdef int64_t[::1] to = times
    cdef int32_t[::1] fo = flows
    cdef Py_ssize_t* pos = &wv[0]
    cdef Py_ssize_t* cnt = &wv[(<Py_ssize_t>1) << msd]
    cdef uint64_t* srt
    # the bucketed keys go straight into the times array, each bucket then
    # sorted through a scratch as large as the largest bucket and unpacked
    # in place: no n-sized work arrays (fresh memory costs page faults)
    cdef uint64_t* kp = <uint64_t*>&to[0]
    cdef uint64_t fmask = <uint64_t>(lim - 1)
    cdef uint64_t key
    cdef uint64_t idj
    cdef double dspan = <double>sp, x
    cdef Py_ssize_t nbk = (<Py_ssize_t>1) << msd, b, s, m, c, mmax = 0
    with nogil:
        # 1. the top digit's histogram, the keys computed from the draws
        for b in range(nbk):
            pos[b] = 0
        k = 0
        for j in range(nc):
            idj = <uint64_t>iv[j]
            for i in range(cv[j]):
                x = u[k]
                if not (x >= 0.0 and x < 1.0):      # NaN included
                    bad = k
                    break
                pos[_arrival_key(_offset(x, dspan), idj, bits) >> shift] += 1
                k += 1
            if bad >= 0:
                break
        for j in range(ne):
            pos[_arrival_key(eo[j], <uint64_t>ei[j], bits) >> shift] += 1
        s = 0
        for b in range(nbk):
            c = pos[b]
            if c > mmax:
                mmax = c
            pos[b] = s
            s += c
    if bad >= 0:
        raise ValueError(f"uniform must be in [0, 1), got {float(uniform[bad])} at index {bad}")
    scratch = np.empty(mmax, np.uint64)
    cdef uint64_t[::1] sv = scratch
    with nogil:
        # 2. the keys computed again and scattered into their buckets
        k = 0
        for j in range(nc):
            idj = <uint64_t>iv[j]
            for i in range(cv[j]):
                key = _arrival_key(_offset(u[k], dspan), idj, bits)
                b = <Py_ssize_t>(key >> shift)
                kp[pos[b]] = key
                pos[b] += 1
                k += 1
        for j in range(ne):
            key = _arrival_key(eo[j], <uint64_t>ei[j], bits)
            b = <Py_ssize_t>(key >> shift)
            kp[pos[b]] = key
            pos[b] += 1
        # pos[b] is now the end of bucket b (and the start of b + 1)
        # 3. each bucket sorted on its low bits, then unpacked in place into
        #    times (srt may be that very slice: each key is read before its
        #    time is written) and flows
        s = 0
        for b in range(nbk):
            m = pos[b] - s
            if m > 0:
                srt = _radix_sort(kp + s, &sv[0], m, lo, shift - lo, cnt)
                for i in range(m):
                    key = srt[i]
                    to[s + i] = <int64_t>(key >> bits) + a0
                    fo[s + i] = <int32_t>(key & fmask)
            s = pos[b]
    return times, flows
