# Included by detectors.pyx: the windowed Count-Min detector.

# ---------------------------------------------------------------------------
# Count-Min
# ---------------------------------------------------------------------------

cdef void _cm_advance(CountMinDetector d, pfo_ns_t now_ns) noexcept nogil:
    # Rotate to the window holding now_ns (the ageing rule: _window_advance).
    cdef uint64_t i, ncells
    cdef uint32_t* c
    cdef int step = _window_advance(&d.last_ns, &d.win_end, d.window_ns, now_ns)
    if step == _SAME_WINDOW:
        return
    ncells = <uint64_t>d.width * d.depth
    if step == _NEXT_WINDOW:
        d.cur ^= 1
        c = d.cells + d.cur
        for i in range(ncells):
            c[2 * i] = 0
    else:
        memset(d.cells, 0, ncells * 2 * sizeof(uint32_t))
        d.totals[d.cur ^ 1] = 0
    d.totals[d.cur] = 0


cdef inline uint64_t _cm_count(CountMinDetector d, uint64_t key, uint64_t amount) noexcept nogil:
    # Count amount for key in the current window (per packet); return the
    # estimate over both windows, min over rows of (current + previous).
    d.totals[d.cur] = _sat_add64(d.totals[d.cur], amount)
    return pfo_cm_one(d.cells, <const uint64_t*>d.hashes, d.depth, d.field_bits,
                      d.conservative, d.log2_width, d.shift, d.cur, key, amount)


cdef inline uint64_t _cm_kernel(CountMinDetector d, const uint64_t* keys,
                                const uint64_t* amounts, Py_ssize_t n, uint8_t* out,
                                uint64_t* last_est) noexcept nogil:
    # Count keys[i] (amounts[i], or 1 if amounts is NULL) for i < n in the
    # current window; out[i] = estimate >= threshold (if out is not NULL);
    # *last_est = estimate of the last key (if last_est is not NULL).
    # Returns the amount counted (saturating).  The time is the caller's.
    # Unit amounts cannot overflow a counter while the window total stays
    # below 2**32 - 1 (no counter exceeds its window's total).
    # Narrow: no estimate (current + previous counter, each at most its
    # window's total) can reach 2**32 - 1 in this call, so the depth-4 SIMD
    # loop may sum and compare in 32 bits.
    cdef int sat = amounts is not NULL or d.totals[d.cur] + <uint64_t>n >= UINT32_MAX
    cdef int narrow = (amounts is NULL and d.totals[0] < UINT32_MAX and d.totals[1] < UINT32_MAX
                       and d.totals[0] + d.totals[1] + <uint64_t>n < UINT32_MAX)
    return pfo_cm_kernel(d.cells, <const uint64_t*>d.hashes, d.depth, d.field_bits,
                         d.conservative, sat, narrow,
                         d.log2_width, d.shift, d.cur, d.threshold, keys, amounts, n,
                         out, last_est)


cdef class CountMinDetector(ElephantDetector):
    """Windowed Count-Min sketch over 64-bit flow keys: is this flow an elephant?

    Parameters
    ----------
    width : int
        Counters per row, a power of two in [2, 2**24].  The error per estimate
        is at most ``epsilon * N`` with ``epsilon = e / width``.
    depth : int
        Rows, 1 to 16.  The bound fails with probability at most
        ``delta = e**-depth`` (proven for independent row hashes; see
        ``row_hashes``).
    threshold : int
        A flow is an elephant while its estimate is at least this, 1 to 2**64 - 1
        (packets, or bytes if you pass lengths as ``amount``).
    window_ns : int
        Window length in ns, 1 to 2**62.  Windows are aligned:
        ``[k * window_ns, (k + 1) * window_ns)``.
    conservative : bool, default True
        Conservative update: raise only the counters that are at the minimum.
        Never less accurate than the plain update, usually much more.
    seed : int, default 0
        Seed of the row hashes, 0 to 2**64 - 1.  Same seed, same results.
    max_tags : int, default 1024
        Most keys that can be forced at once (see :class:`ElephantDetector`).
    row_hashes : {"fused", "independent"}, default "fused"
        ``"fused"``: one shared hash for all rows while
        ``depth * log2(width) <= 64`` (fastest), per-row hashes for larger
        sketches.  ``"independent"``: an independently drawn hash per row at
        every size, for which ``delta = e**-depth`` is proven.  See
        **Hashes**.  Read back as the :attr:`row_hashes` attribute.

    Raises
    ------
    TypeError
        If an argument is not an integer (``conservative``: not a bool;
        ``row_hashes``: not a str).
    ValueError
        If ``width`` is not a power of two in range, another argument is out
        of range, or ``row_hashes`` is neither ``"fused"`` nor
        ``"independent"``.

    Notes
    -----
    **What is counted.**  Two sketches of ``depth x width`` 32-bit counters
    (saturating), one for the current window and one for the previous.
    :meth:`estimate` is ``min`` over rows of (current + previous counter), i.e.
    the Count-Min estimate of the key's amount over the two windows.  With
    ``N`` the amount counted in the two windows (:attr:`window_totals`) and
    ``f`` the key's true amount in them, ``f <= estimate`` always, and
    ``estimate <= f + epsilon * N`` with probability at least ``1 - delta``,
    ``epsilon = e / width``, ``delta = e**-depth`` (see **Hashes** for which
    part is proven for which ``row_hashes``).  Example: width 4096,
    depth 4, 1,000,000 packets in the two windows: epsilon * N = 664 packets,
    failing with probability e**-4 = 1.8 %.

    **Ageing.**  A flow that stops sending stops being an elephant within two
    windows: once time reaches the window after next, both sketches have been
    cleared of its packets.  A steady flow of rate ``R`` has an estimate
    between ``R * window_ns`` and ``2 * R * window_ns``.

    **Hashes.**  Two schemes, chosen with ``row_hashes``; both draw their
    parameters from a SplitMix64 stream seeded with ``seed``.

    *Per-row* (``"independent"``, and ``"fused"`` when
    ``depth * log2(width) > 64``): each row has its own pair-multiply-shift
    hash with independently drawn ``a0, a1, b``; row ``r`` maps the key's
    32-bit halves ``(x_hi, x_lo)`` to the top ``log2(width)`` bits of
    ``((a0 + x_hi) * (a1 + x_lo) + b) mod 2**64`` (strongly universal for
    widths up to ``2**33``).  The rows are independent draws, so the whole
    textbook bound is proven: ``epsilon = e / width`` with
    ``delta = e**-depth``.  One multiplication per row.

    *Fused* (``"fused"``, the default, when ``depth * log2(width) <= 64``:
    depth 4 up to width ``2**16``): one strongly universal hash serves all
    rows, ``H = ((A * x + B) mod 2**128) >> 64`` (multiply-add-shift) with
    ``A, B`` 128-bit, and row ``r`` takes the ``log2(width)``-bit field of
    ``H`` at bit ``r * (64 // depth)``.  Proven: each row on its own is
    strongly universal (two keys collide in it with probability exactly
    ``1 / width``, so each row exceeds ``f + epsilon * N`` with probability
    at most ``1/e``), and for every pair of keys the collisions in different
    rows are independent (``width**-depth`` in all rows) -- unlike one linear
    hash (a CRC) with different seeds, whose collisions repeat in every row.
    Not proven: the rows are fields of one draw, so the step that multiplies
    the rows' failure probabilities into ``delta = e**-depth`` is not covered;
    it is measured (failure rates stay below ``delta``; see the component
    docs).  Two multiplications per key for all rows.

    Speed, depth 4, width 4096, unit bursts (1 Mi packets, shared 2-core
    Xeon, mean / fastest round): fused about 240 / 250 Mpps conservative
    and 260 / 280 plain; independent about 190 / 205 and 215 / 220.  Per
    packet from Python both run at about 29 / 30 Mpps.  Where
    ``"fused"`` already uses per-row hashes, ``"independent"`` gives the
    same results.

    **Cost.**  ``8 * width * depth`` bytes of counters; per packet, one hash
    (or ``depth``) and one cache line per row.  Window rotation clears one
    sketch.

    Examples
    --------
    >>> import numpy as np
    >>> from paraflowo import CountMinDetector
    >>> det = CountMinDetector(width=1024, depth=4, threshold=3, window_ns=1000)
    >>> [det.update(42, now_ns=t) for t in (0, 10, 20)]
    [False, False, True]
    >>> det.estimate(42)
    3
    >>> det.advance(2000)            # two windows later: aged out
    >>> det.estimate(42)
    0
    >>> det.update_burst(np.array([5, 5, 5, 6], dtype=np.uint64), now_ns=2100)
    array([False, False,  True, False])
    """

    def __init__(self, width, depth, threshold, window_ns, conservative=True, seed=0,
                 *, max_tags=1024, row_hashes="fused"):
        _reinit(self)
        w = require_pow2("width", width, 2, _MAX_WIDTH)
        d = require_int("depth", depth, 1, PFO_CM_MAX_DEPTH)
        th = require_int("threshold", threshold, 1, _U64_MAX)
        win = require_int("window_ns", window_ns, 1, _MAX_WINDOW_NS)
        if not isinstance(conservative, (bool, np.bool_)):
            raise TypeError(f"conservative must be a bool, got {conservative!r}")
        s = require_int("seed", seed, 0, _U64_MAX)
        m = require_int("max_tags", max_tags, 0, _MAX_TAGS)
        if not isinstance(row_hashes, str):
            raise TypeError(f"row_hashes must be a str, got {row_hashes!r}")
        if row_hashes not in _ROW_HASHES:
            raise ValueError(
                f"row_hashes must be 'fused' or 'independent', got {row_hashes!r}")
        cells = <uint32_t*>calloc(<size_t>w * d * 2, sizeof(uint32_t))
        if cells is NULL:
            raise MemoryError(f"cannot allocate {8 * w * d} bytes of counters")
        self.busy = -1
        try:
            self._init_tags(m)
        except MemoryError:
            free(cells)
            raise
        free(self.cells)
        self.cells = cells
        self.width = w
        self.depth = d
        self.threshold = th
        self.window_ns = win
        self.conservative = bool(conservative)
        self.seed = s
        self.row_hashes = _ROW_HASHES[row_hashes]    # the interned name
        self.log2_width = w.bit_length() - 1
        self.shift = 64 - self.log2_width
        # fused hash when asked for and every row's field fits in the 64
        # output bits; per-row hashes otherwise (the parameters are drawn
        # the same way either way, so "independent" equals "fused" wherever
        # "fused" falls back to per-row hashes)
        self.field_bits = (64 // d if row_hashes == "fused" and d * self.log2_width <= 64
                           else 0)
        cdef uint64_t state = s
        cdef uint32_t r
        for r in range(PFO_CM_MAX_DEPTH):
            self.hashes[r].a0 = pfo_splitmix64(&state)
            self.hashes[r].a1 = pfo_splitmix64(&state)
            self.hashes[r].b = pfo_splitmix64(&state)
        self.cur = 0
        self.win_end = 0
        self.totals[0] = self.totals[1] = 0
        self.busy = 0

    def __dealloc__(self):
        free(self.cells)

    def __repr__(self):
        return (f"CountMinDetector(width={self.width}, depth={self.depth}, "
                f"threshold={self.threshold}, window_ns={self.window_ns}, "
                f"conservative={bool(self.conservative)}, seed={self.seed}, "
                f"row_hashes={self.row_hashes!r})")

    cdef bint c_update(self, uint64_t key, pfo_ns_t now_ns, uint64_t amount) noexcept nogil:
        cdef uint64_t est
        if <uint64_t>now_ns >= self.win_end:
            _cm_advance(self, now_ns)
        self.last_ns = now_ns if now_ns > self.last_ns else self.last_ns
        if self.depth == 4 and self.field_bits == 16:
            # _cm_count, with the depth-4 kernel inlined here (no call)
            self.totals[self.cur] = _sat_add64(self.totals[self.cur], amount)
            est = pfo_cm_one4_any(self.cells, <const uint64_t*>self.hashes, 16,
                                  self.conservative, self.log2_width, self.shift, self.cur,
                                  key, amount, self.totals[0], self.totals[1])
        elif self.depth == 4 and self.field_bits == 0:
            # the same with per-row hashes
            self.totals[self.cur] = _sat_add64(self.totals[self.cur], amount)
            est = pfo_cm_one4_any(self.cells, <const uint64_t*>self.hashes, 0,
                                  self.conservative, self.log2_width, self.shift, self.cur,
                                  key, amount, self.totals[0], self.totals[1])
        else:
            est = _cm_count(self, key, amount)
        return _tag_override(self, key, est >= self.threshold)

    cdef uint64_t c_estimate(self, uint64_t key) noexcept nogil:
        return pfo_cm_est(self.cells, <const uint64_t*>self.hashes, self.depth,
                          self.field_bits, self.log2_width, self.shift, key)

    cdef void c_advance(self, pfo_ns_t now_ns) noexcept nogil:
        _cm_advance(self, now_ns)

    cdef void c_update_burst(self, const uint64_t* keys, const pfo_ns_t* now_ns,
                             Py_ssize_t now_step, const uint64_t* amounts,
                             uint8_t* out, Py_ssize_t n) noexcept nogil:
        cdef Py_ssize_t i, j, lo, mid
        cdef pfo_ns_t t
        cdef uint64_t total
        if now_step == 0:
            # one time for the burst: rotate once, then one tight loop
            _cm_advance(self, now_ns[0])
            total = _cm_kernel(self, keys, amounts, n, out, NULL)
            self.totals[self.cur] = _sat_add64(self.totals[self.cur], total)
        else:
            # per-packet times: cut the burst at window boundaries
            i = 0
            while i < n:
                t = now_ns[i]
                if <uint64_t>t >= self.win_end:
                    _cm_advance(self, t)
                # first j > i with now_ns[j] >= win_end (n if none): times are
                # nondecreasing, so check the last one, then bisect.  (Times
                # that go backwards, against the contract, still give some j
                # in (i, n]: no crash, no hang.)
                if <uint64_t>now_ns[n - 1] < self.win_end:
                    j = n
                else:
                    lo = i + 1
                    j = n - 1
                    while lo < j:
                        mid = lo + (j - lo) // 2
                        if <uint64_t>now_ns[mid] >= self.win_end:
                            j = mid
                        else:
                            lo = mid + 1
                total = _cm_kernel(self, keys + i, NULL if amounts is NULL else amounts + i,
                                   j - i, out + i, NULL)
                self.totals[self.cur] = _sat_add64(self.totals[self.cur], total)
                i = j
            if n and now_ns[n - 1] > self.last_ns:
                self.last_ns = now_ns[n - 1]
        if self.tags.count:
            for i in range(n):
                out[i] = _tag_override(self, keys[i], out[i])

    # -- Python-level extras ------------------------------------------------

    @property
    def epsilon(self):
        """Relative error bound ``e / width`` (times the two windows' total)."""
        if self.busy < 0:
            pfo_raise_uninit(self)
        return math.e / self.width

    @property
    def delta(self):
        """Probability ``e**-depth`` that an estimate exceeds its bound."""
        return math.exp(-<double>self.depth)

    @property
    def window_totals(self):
        """Amount counted in the (current, previous) window."""
        return (self.totals[self.cur], self.totals[self.cur ^ 1])

    @property
    def error_bound(self):
        """``epsilon * N``: the additive error bound of :meth:`estimate` now."""
        return self.epsilon * (self.totals[0] + self.totals[1])

    @property
    def nbytes(self):
        """Memory held by the counters, in bytes."""
        return 8 * self.width * self.depth

    def reset(self):
        """Clear every counter and the time (tags are kept)."""
        _ready(self)
        memset(self.cells, 0, <size_t>self.width * self.depth * 2 * sizeof(uint32_t))
        self.cur = 0
        self.win_end = 0
        self.totals[0] = self.totals[1] = 0
        self.last_ns = -1
