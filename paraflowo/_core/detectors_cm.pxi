# Included by detectors.pyx: the windowed Count-Min detector.

# ---------------------------------------------------------------------------
# Count-Min: pfo_cm_t and its pfo_cm_* calls (contracts in detectors.pxd)
# ---------------------------------------------------------------------------

cdef extern from "cm_simd.h" nogil:
    void pfo_cm_clear_slot(uint32_t* cells, uint64_t n, unsigned slot) noexcept nogil


cdef inline bint _cm_params_ok(uint32_t width, uint32_t depth) noexcept nogil:
    return (2 <= width <= _MAX_WIDTH and (width & (width - 1)) == 0
            and 1 <= depth <= PFO_CM_MAX_DEPTH)


cdef size_t pfo_cm_footprint(uint32_t width, uint32_t depth) noexcept nogil:
    # the counters, rounded up to PFO_ALIGN (only sketches of under 8 * 64
    # counters have a tail: width 2, depth 1 -> 16 bytes of counters, 64)
    cdef size_t n
    if not _cm_params_ok(width, depth):
        return 0
    n = <size_t>width * depth * 2 * sizeof(uint32_t)
    return (n + (PFO_ALIGN - 1)) & ~(<size_t>PFO_ALIGN - 1)


cdef int pfo_cm_init(pfo_cm_t* cm, void* mem, size_t size, uint32_t width, uint32_t depth,
                     uint64_t threshold, pfo_ns_t window_ns, bint conservative,
                     uint64_t seed, bint fused) noexcept nogil:
    cdef size_t need = pfo_cm_footprint(width, depth)
    cdef uint64_t state = seed
    cdef uint32_t r, lw = 0
    if (need == 0 or cm is NULL or mem is NULL or (<size_t>mem & 7) != 0 or threshold == 0
            or window_ns < 1 or window_ns > _MAX_WINDOW_C):
        return PFO_EINVAL
    if size < need:
        return PFO_ENOSPC
    while (<uint32_t>1 << lw) < width:
        lw += 1
    memset(cm, 0, sizeof(pfo_cm_t))
    memset(mem, 0, need)
    cm.cells = <uint32_t*>mem
    cm.width = width
    cm.depth = depth
    cm.log2_width = lw
    cm.shift = 64 - lw
    # fused hash when asked for and every row's field fits in the 64 output
    # bits; per-row hashes otherwise (the parameters are drawn the same way
    # either way, so "independent" equals "fused" wherever "fused" falls back
    # to per-row hashes)
    cm.field_bits = 64 // depth if fused and depth * lw <= 64 else 0
    cm.conservative = 1 if conservative else 0
    cm.threshold = threshold
    cm.seed = seed
    cm.window_ns = window_ns
    cm.last_ns = -1
    for r in range(PFO_CM_MAX_DEPTH):
        cm.hashes[r].a0 = pfo_splitmix64(&state)
        cm.hashes[r].a1 = pfo_splitmix64(&state)
        cm.hashes[r].b = pfo_splitmix64(&state)
    return PFO_OK


cdef void pfo_cm_fini(pfo_cm_t* cm) noexcept nogil:
    if cm is not NULL:
        memset(cm, 0, sizeof(pfo_cm_t))


cdef void pfo_cm_reset(pfo_cm_t* cm) noexcept nogil:
    memset(cm.cells, 0, <size_t>cm.width * cm.depth * 2 * sizeof(uint32_t))
    cm.cur = 0
    cm.win_end = 0
    cm.totals[0] = cm.totals[1] = 0
    cm.last_ns = -1


cdef void _cm_advance(pfo_cm_t* d, pfo_ns_t now_ns) noexcept nogil:
    # Rotate to the window holding now_ns (the ageing rule: _window_advance).
    cdef uint64_t ncells
    cdef int step = _window_advance(&d.last_ns, &d.win_end, d.window_ns, now_ns)
    if step == _SAME_WINDOW:
        return
    ncells = <uint64_t>d.width * d.depth
    if step == _NEXT_WINDOW:
        d.cur ^= 1
        pfo_cm_clear_slot(d.cells, ncells, d.cur)
    else:
        memset(d.cells, 0, ncells * 2 * sizeof(uint32_t))
        d.totals[d.cur ^ 1] = 0
    d.totals[d.cur] = 0


cdef inline uint64_t _cm_count(pfo_cm_t* d, uint64_t key, uint64_t amount) noexcept nogil:
    # Count amount for key in the current window (per packet); return the
    # estimate over both windows, min over rows of (current + previous).
    d.totals[d.cur] = _sat_add64(d.totals[d.cur], amount)
    return pfo_cm_one(d.cells, <const uint64_t*>d.hashes, d.depth, d.field_bits,
                      d.conservative, d.log2_width, d.shift, d.cur, key, amount)


cdef inline uint64_t _cm_kernel(pfo_cm_t* d, const uint64_t* keys,
                                const uint64_t* amounts, Py_ssize_t n, uint8_t* out,
                                uint64_t* last_est, bint runs) noexcept nogil:
    # Count keys[i] (amounts[i], or 1 if amounts is NULL) for i < n in the
    # current window; out[i] = estimate >= threshold (if out is not NULL);
    # *last_est = estimate of the last key (if last_est is not NULL).
    # Returns the amount counted (saturating).  The time is the caller's.
    # runs: the keys often repeat the one before (pfo_cm_kernel's runs).
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
                         out, last_est, runs)


cdef inline bint _cm_update(_site_t* site, pfo_cm_t* d, uint64_t key, pfo_ns_t now_ns,
                            uint64_t amount) noexcept nogil:
    # pfo_cm_update; one compiled copy per caller (see _site_t), so
    # CountMinDetector.c_update has it in place, without a call.
    cdef uint64_t est
    if <uint64_t>now_ns >= d.win_end:
        _cm_advance(d, now_ns)
    d.last_ns = now_ns if now_ns > d.last_ns else d.last_ns
    if d.depth == 4 and d.field_bits == 16:
        # _cm_count, with the depth-4 kernel inlined here (no call)
        d.totals[d.cur] = _sat_add64(d.totals[d.cur], amount)
        est = pfo_cm_one4_any(d.cells, <const uint64_t*>d.hashes, 16,
                              d.conservative, d.log2_width, d.shift, d.cur,
                              key, amount, d.totals[0], d.totals[1])
    elif d.depth == 4 and d.field_bits == 0:
        # the same with per-row hashes
        d.totals[d.cur] = _sat_add64(d.totals[d.cur], amount)
        est = pfo_cm_one4_any(d.cells, <const uint64_t*>d.hashes, 0,
                              d.conservative, d.log2_width, d.shift, d.cur,
                              key, amount, d.totals[0], d.totals[1])
    else:
        est = _cm_count(d, key, amount)
    return est >= d.threshold


cdef bint pfo_cm_update(pfo_cm_t* cm, uint64_t key, pfo_ns_t now_ns,
                        uint64_t amount) noexcept nogil:
    return _cm_update(&_BY_HOST, cm, key, now_ns, amount)


cdef uint64_t pfo_cm_estimate(const pfo_cm_t* cm, uint64_t key) noexcept nogil:
    return pfo_cm_est(cm.cells, <const uint64_t*>cm.hashes, cm.depth,
                      cm.field_bits, cm.log2_width, cm.shift, key)


cdef void pfo_cm_advance(pfo_cm_t* cm, pfo_ns_t now_ns) noexcept nogil:
    _cm_advance(cm, now_ns)


cdef void pfo_cm_update_burst(pfo_cm_t* d, const uint64_t* keys, const pfo_ns_t* now_ns,
                              Py_ssize_t now_step, const uint64_t* amounts,
                              uint8_t* out, Py_ssize_t n) noexcept nogil:
    _cm_update_burst(d, keys, now_ns, now_step, amounts, out, n, False)


cdef inline void _cm_update_burst(pfo_cm_t* d, const uint64_t* keys, const pfo_ns_t* now_ns,
                                  Py_ssize_t now_step, const uint64_t* amounts,
                                  uint8_t* out, Py_ssize_t n, bint runs) noexcept nogil:
    # pfo_cm_update_burst; runs: pfo_cm_kernel's runs (see _cm_kernel)
    cdef Py_ssize_t i, j, lo, mid
    cdef pfo_ns_t t
    cdef uint64_t total
    if now_step == 0:
        # one time for the burst: rotate once, then one tight loop
        _cm_advance(d, now_ns[0])
        total = _cm_kernel(d, keys, amounts, n, out, NULL, runs)
        d.totals[d.cur] = _sat_add64(d.totals[d.cur], total)
        return
    # per-packet times: cut the burst at window boundaries
    i = 0
    while i < n:
        t = now_ns[i]
        if <uint64_t>t >= d.win_end:
            _cm_advance(d, t)
        # first j > i with now_ns[j] >= win_end (n if none): times are
        # nondecreasing, so check the last one, then bisect.  (Times
        # that go backwards, against the contract, still give some j
        # in (i, n]: no crash, no hang.)
        if <uint64_t>now_ns[n - 1] < d.win_end:
            j = n
        else:
            lo = i + 1
            j = n - 1
            while lo < j:
                mid = lo + (j - lo) // 2
                if <uint64_t>now_ns[mid] >= d.win_end:
                    j = mid
                else:
                    lo = mid + 1
        total = _cm_kernel(d, keys + i, NULL if amounts is NULL else amounts + i,
                           j - i, out + i, NULL, runs)
        d.totals[d.cur] = _sat_add64(d.totals[d.cur], total)
        i = j
    if n and now_ns[n - 1] > d.last_ns:
        d.last_ns = now_ns[n - 1]


cdef void pfo_cm_update_runs(CountMinDetector det, const uint64_t* keys,
                             const pfo_ns_t* now_ns, Py_ssize_t now_step,
                             const uint64_t* amounts, uint8_t* out,
                             Py_ssize_t n) noexcept nogil:
    _cm_detect_burst(det, keys, now_ns, now_step, amounts, out, n, True)


cdef inline void _cm_detect_burst(CountMinDetector det, const uint64_t* keys,
                                  const pfo_ns_t* now_ns, Py_ssize_t now_step,
                                  const uint64_t* amounts, uint8_t* out, Py_ssize_t n,
                                  bint runs) noexcept nogil:
    # CountMinDetector.c_update_burst (runs: for keys that often repeat the
    # one before, see _cm_kernel): count, then the forced tags
    cdef Py_ssize_t i
    _cm_update_burst(&det.cm, keys, now_ns, now_step, amounts, out, n, runs)
    det.last_ns = det.cm.last_ns
    if det.tags.count:
        for i in range(n):
            out[i] = _tag_override(det, keys[i], out[i])


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

    **Cost.**  ``8 * width * depth`` bytes of counters (:meth:`footprint`,
    :attr:`nbytes`; a host can place them in its own memory from Cython:
    ``pfo_cm_footprint`` / ``pfo_cm_init``, see the Cython API page); per
    packet, one hash (or ``depth``) and one cache line per row.  Window
    rotation clears one sketch.

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
        cdef size_t size = pfo_cm_footprint(w, d)
        cdef void* mem = malloc(size)
        if mem is NULL:
            raise MemoryError(f"cannot allocate {size} bytes of counters")
        self.busy = -1
        try:
            self._init_tags(m)
        except MemoryError:
            free(mem)
            raise
        pfo_cm_fini(&self.cm)
        free(self._mem)
        self._mem = mem
        # validated above: PFO_OK
        pfo_cm_init(&self.cm, mem, size, w, d, th, win, bool(conservative), s,
                    row_hashes == "fused")
        self.row_hashes = _ROW_HASHES[row_hashes]    # the interned name
        self.busy = 0

    def __dealloc__(self):
        pfo_cm_fini(&self.cm)
        free(self._mem)

    def __repr__(self):
        return (f"CountMinDetector(width={self.width}, depth={self.depth}, "
                f"threshold={self.threshold}, window_ns={self.window_ns}, "
                f"conservative={self.conservative}, seed={self.seed}, "
                f"row_hashes={self.row_hashes!r})")

    @staticmethod
    def footprint(width, depth):
        """Bytes the counters of a ``width`` x ``depth`` sketch occupy (``pfo_cm_footprint``).

        ``8 * width * depth`` (two windows of 32-bit counters) rounded up to a
        multiple of 64; the same figure
        :attr:`nbytes` gives for a built detector and ``pfo_cm_footprint``
        gives a host that places the sketch in its own memory.  The tag table
        (:class:`ElephantDetector`) is not counted.

        Raises
        ------
        TypeError, ValueError
            As the constructor, for ``width`` and ``depth``.

        Examples
        --------
        >>> CountMinDetector.footprint(4096, 4)
        131072
        """
        w = require_pow2("width", width, 2, _MAX_WIDTH)
        d = require_int("depth", depth, 1, PFO_CM_MAX_DEPTH)
        return pfo_cm_footprint(w, d)

    # the parameters, read back from the sketch
    @property
    def width(self):
        """Counters per row."""
        return self.cm.width

    @property
    def depth(self):
        """Rows."""
        return self.cm.depth

    @property
    def threshold(self):
        """Elephant threshold (packets or bytes)."""
        return self.cm.threshold

    @property
    def window_ns(self):
        """Window length in ns."""
        return self.cm.window_ns

    @property
    def conservative(self):
        """Whether the update is conservative."""
        return self.cm.conservative != 0

    @property
    def seed(self):
        """Seed of the row hashes."""
        return self.cm.seed

    cdef bint c_update(self, uint64_t key, pfo_ns_t now_ns, uint64_t amount) noexcept nogil:
        cdef bint hot = _cm_update(&_BY_CLASS, &self.cm, key, now_ns, amount)
        self.last_ns = self.cm.last_ns
        return _tag_override(self, key, hot)

    cdef uint64_t c_estimate(self, uint64_t key) noexcept nogil:
        return pfo_cm_estimate(&self.cm, key)

    cdef void c_advance(self, pfo_ns_t now_ns) noexcept nogil:
        _cm_advance(&self.cm, now_ns)
        self.last_ns = self.cm.last_ns

    cdef void c_update_burst(self, const uint64_t* keys, const pfo_ns_t* now_ns,
                             Py_ssize_t now_step, const uint64_t* amounts,
                             uint8_t* out, Py_ssize_t n) noexcept nogil:
        _cm_detect_burst(self, keys, now_ns, now_step, amounts, out, n, False)

    # -- Python-level extras ------------------------------------------------

    @property
    def epsilon(self):
        """Relative error bound ``e / width`` (times the two windows' total)."""
        if self.busy < 0:
            pfo_raise_uninit(self)
        return math.e / self.cm.width

    @property
    def delta(self):
        """Probability ``e**-depth`` that an estimate exceeds its bound."""
        return math.exp(-<double>self.cm.depth)

    @property
    def window_totals(self):
        """Amount counted in the (current, previous) window."""
        return (self.cm.totals[self.cm.cur], self.cm.totals[self.cm.cur ^ 1])

    @property
    def error_bound(self):
        """``epsilon * N``: the additive error bound of :meth:`estimate` now."""
        return self.epsilon * (self.cm.totals[0] + self.cm.totals[1])

    @property
    def nbytes(self):
        """Memory held by the counters, in bytes (:meth:`footprint`)."""
        return pfo_cm_footprint(self.cm.width, self.cm.depth)

    def reset(self):
        """Clear every counter and the time (tags are kept)."""
        _ready(self)
        pfo_cm_reset(&self.cm)
        self.last_ns = -1
