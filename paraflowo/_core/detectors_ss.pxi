# Included by detectors.pyx: the windowed Space-Saving detector.

# ---------------------------------------------------------------------------
# Space-Saving
# ---------------------------------------------------------------------------

cdef inline uint32_t _ss_slots(uint32_t capacity) noexcept nogil:
    # Slots of a window's key index: as _ktab_alloc sizes a table for
    # `capacity` keys (a power of two >= 2 * capacity, load <= 1/2).
    cdef uint32_t size = 2
    while size < 2 * <uint64_t>capacity:
        size <<= 1
    return size


cdef inline size_t _ss_window_bytes(uint32_t capacity) noexcept nogil:
    # One window: slot_key, count, err (8 bytes each), index keys (8 per
    # slot), heap, pos (4 each), index values (4 per slot); rounded up so
    # the next window starts aligned.
    cdef size_t n = 32 * <size_t>capacity + 12 * <size_t>_ss_slots(capacity)
    return (n + (PFO_ALIGN - 1)) & ~(<size_t>PFO_ALIGN - 1)


cdef size_t pfo_ss_footprint(uint32_t capacity) noexcept nogil:
    if capacity < 1 or capacity > _MAX_CAPACITY:
        return 0
    return 2 * _ss_window_bytes(capacity)


cdef void _ss_place(pfo_ss_sum_t* s, char* p, uint32_t capacity) noexcept nogil:
    # Lay one window's arrays out in p (_ss_window_bytes(capacity) bytes, 8-byte
    # aligned), 64-bit arrays first, and clear it.
    cdef uint32_t size = _ss_slots(capacity)
    s.slot_key = <uint64_t*>p
    p += 8 * <size_t>capacity
    s.count = <uint64_t*>p
    p += 8 * <size_t>capacity
    s.err = <uint64_t*>p
    p += 8 * <size_t>capacity
    s.index.keys = <uint64_t*>p
    p += 8 * <size_t>size
    s.heap = <uint32_t*>p
    p += 4 * <size_t>capacity
    s.pos = <uint32_t*>p
    p += 4 * <size_t>capacity
    s.index.vals = <int32_t*>p
    s.index.mask = size - 1
    s.capacity = capacity
    _ss_clear(s)


cdef int pfo_ss_init(pfo_ss_t* ss, void* mem, size_t size, uint32_t capacity,
                     uint64_t threshold, pfo_ns_t window_ns) noexcept nogil:
    cdef size_t need = pfo_ss_footprint(capacity)
    if (need == 0 or ss is NULL or mem is NULL or (<size_t>mem & 7) != 0 or threshold == 0
            or window_ns < 1 or window_ns > _MAX_WINDOW_C):
        return PFO_EINVAL
    if size < need:
        return PFO_ENOSPC
    memset(ss, 0, sizeof(pfo_ss_t))
    _ss_place(&ss.win[0], <char*>mem, capacity)
    _ss_place(&ss.win[1], <char*>mem + _ss_window_bytes(capacity), capacity)
    ss.capacity = capacity
    ss.threshold = threshold
    ss.window_ns = window_ns
    ss.last_ns = -1
    return PFO_OK


cdef void pfo_ss_fini(pfo_ss_t* ss) noexcept nogil:
    if ss is not NULL:
        memset(ss, 0, sizeof(pfo_ss_t))


cdef void _ss_clear(pfo_ss_sum_t* s) noexcept nogil:
    _ktab_clear(&s.index)
    s.n = 0
    s.total = 0


cdef inline void _ss_sift_down(pfo_ss_sum_t* s, uint32_t i) noexcept nogil:
    # The count of heap[i] grew: move it down until both children are larger.
    cdef uint32_t n = s.n, c, slot = s.heap[i]
    cdef uint64_t v = s.count[slot]
    while True:
        c = 2 * i + 1
        if c >= n:
            break
        if c + 1 < n and s.count[s.heap[c + 1]] < s.count[s.heap[c]]:
            c += 1
        if s.count[s.heap[c]] >= v:
            break
        s.heap[i] = s.heap[c]
        s.pos[s.heap[i]] = i
        i = c
    s.heap[i] = slot
    s.pos[slot] = i


cdef inline void _ss_sift_up(pfo_ss_sum_t* s, uint32_t i) noexcept nogil:
    cdef uint32_t p, slot = s.heap[i]
    cdef uint64_t v = s.count[slot]
    while i > 0:
        p = (i - 1) >> 1
        if s.count[s.heap[p]] <= v:
            break
        s.heap[i] = s.heap[p]
        s.pos[s.heap[i]] = i
        i = p
    s.heap[i] = slot
    s.pos[slot] = i


cdef uint64_t _ss_add(pfo_ss_sum_t* s, uint64_t key, uint64_t amount) noexcept nogil:
    # Space-Saving (Metwally, Agrawal, El Abbadi 2005), weighted: a tracked key
    # adds amount; a new key takes a free slot, or, when full, the slot with
    # the smallest count m, starting from m + amount (error m).  Invariants:
    # count >= true amount of the slot's key since it was taken; m <= total /
    # capacity; so every key with true amount > total / capacity is tracked.
    cdef int32_t slot = _ktab_get(&s.index, key)
    cdef uint64_t m
    s.total = _sat_add64(s.total, amount)
    if slot >= 0:
        s.count[slot] = _sat_add64(s.count[slot], amount)
        _ss_sift_down(s, s.pos[slot])
        return s.count[slot]
    if s.n < s.capacity:
        slot = <int32_t>s.n
        s.slot_key[slot] = key
        s.count[slot] = amount
        s.err[slot] = 0
        s.heap[s.n] = <uint32_t>slot
        s.pos[slot] = s.n
        s.n += 1
        _ktab_put(&s.index, key, slot)
        _ss_sift_up(s, s.n - 1)
        return amount
    slot = <int32_t>s.heap[0]
    m = s.count[slot]
    _ktab_del(&s.index, s.slot_key[slot])
    _ktab_put(&s.index, key, slot)
    s.slot_key[slot] = key
    s.err[slot] = m
    s.count[slot] = _sat_add64(m, amount)
    _ss_sift_down(s, 0)
    return s.count[slot]


cdef inline uint64_t _ss_get(const pfo_ss_sum_t* s, uint64_t key) noexcept nogil:
    cdef int32_t slot = _ktab_get(&s.index, key)
    return 0 if slot < 0 else s.count[slot]


cdef inline void _ss_advance(pfo_ss_t* d, pfo_ns_t now_ns) noexcept nogil:
    # Rotate to the window holding now_ns (the ageing rule: _window_advance).
    cdef int step = _window_advance(&d.last_ns, &d.win_end, d.window_ns, now_ns)
    if step == _NEXT_WINDOW:
        d.cur ^= 1
        _ss_clear(&d.win[d.cur])
    elif step == _LATER_WINDOW:
        _ss_clear(&d.win[0])
        _ss_clear(&d.win[1])


cdef inline bint _ss_update(_site_t* site, pfo_ss_t* d, uint64_t key, pfo_ns_t now_ns,
                            uint64_t amount) noexcept nogil:
    # pfo_ss_update; one compiled copy per caller (see _site_t), so
    # SpaceSavingDetector.c_update has it in place, without a call.
    cdef uint64_t est
    if <uint64_t>now_ns >= d.win_end:
        _ss_advance(d, now_ns)
    d.last_ns = now_ns if now_ns > d.last_ns else d.last_ns
    est = _sat_add64(_ss_add(&d.win[d.cur], key, amount),
                     _ss_get(&d.win[d.cur ^ 1], key))
    return est >= d.threshold


cdef bint pfo_ss_update(pfo_ss_t* ss, uint64_t key, pfo_ns_t now_ns,
                        uint64_t amount) noexcept nogil:
    return _ss_update(&_BY_HOST, ss, key, now_ns, amount)


cdef void pfo_ss_update_burst(pfo_ss_t* ss, const uint64_t* keys, const pfo_ns_t* now_ns,
                              Py_ssize_t now_step, const uint64_t* amounts,
                              uint8_t* out, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(n):
        out[i] = _ss_update(&_BY_BURST, ss, keys[i], now_ns[i * now_step],
                            1 if amounts is NULL else amounts[i])


cdef uint64_t pfo_ss_estimate(const pfo_ss_t* ss, uint64_t key) noexcept nogil:
    return _sat_add64(_ss_get(&ss.win[0], key), _ss_get(&ss.win[1], key))


cdef void pfo_ss_advance(pfo_ss_t* ss, pfo_ns_t now_ns) noexcept nogil:
    _ss_advance(ss, now_ns)


cdef void pfo_ss_reset(pfo_ss_t* ss) noexcept nogil:
    _ss_clear(&ss.win[0])
    _ss_clear(&ss.win[1])
    ss.cur = 0
    ss.win_end = 0
    ss.last_ns = -1


cdef class SpaceSavingDetector(ElephantDetector):
    """Exact per-flow counters with Space-Saving replacement, windowed.

    Also named :class:`ThresholdDetector` (its first name; an alias, the same
    class object).

    Parameters
    ----------
    capacity : int
        Flows tracked per window, 1 to 2**24.  Up to ``capacity`` distinct
        flows per window are counted exactly; beyond that, a new flow replaces
        the flow with the smallest count (Space-Saving), so every flow whose
        amount in the window exceeds ``total / capacity`` is always tracked.
    threshold : int
        A flow is an elephant while its count over the current and previous
        window is at least this, 1 to 2**64 - 1.
    window_ns : int
        Window length in ns, 1 to 2**62 (aligned windows, as
        :class:`CountMinDetector`).
    max_tags : int, default 1024
        Most keys that can be forced at once (see :class:`ElephantDetector`).

    Raises
    ------
    TypeError
        If an argument is not an integer.
    ValueError
        If an argument is out of range.

    Notes
    -----
    **What is counted.**  One Space-Saving summary per window (current and
    previous).  :meth:`estimate` is the sum of the key's counts in the two
    summaries (0 where untracked).  In each window: while at most
    ``capacity`` flows have been seen, counts are exact; after that, a tracked
    count overestimates by at most its slot's ``error`` (the count it took
    over), and that is at most ``total / capacity``.

    **Cost.**  56 to 80 bytes per ``capacity`` slot per window
    (:meth:`footprint`, :attr:`nbytes`; a host can place them in its own
    memory from Cython: ``pfo_ss_footprint`` / ``pfo_ss_init``).  Per packet one hash
    probe per window and a heap sift (``O(log capacity)`` when counts reorder,
    usually one comparison).

    Examples
    --------
    >>> from paraflowo import SpaceSavingDetector
    >>> det = SpaceSavingDetector(capacity=2, threshold=3, window_ns=1000)
    >>> [det.update(k, now_ns=0) for k in (1, 1, 2, 3, 1)]
    [False, False, False, False, True]
    >>> det.estimate(1), det.estimate(2), det.estimate(3)   # 3 replaced 2
    (3, 0, 2)
    """

    def __init__(self, capacity, threshold, window_ns, *, max_tags=1024):
        _reinit(self)
        cap = require_int("capacity", capacity, 1, _MAX_CAPACITY)
        th = require_int("threshold", threshold, 1, _U64_MAX)
        win = require_int("window_ns", window_ns, 1, _MAX_WINDOW_NS)
        m = require_int("max_tags", max_tags, 0, _MAX_TAGS)
        cdef size_t size = pfo_ss_footprint(cap)
        cdef void* mem = malloc(size)
        if mem is NULL:
            raise MemoryError(f"cannot allocate a Space-Saving summary of {cap} flows")
        self.busy = -1
        try:
            self._init_tags(m)
        except MemoryError:
            free(mem)
            raise
        pfo_ss_fini(&self.ss)
        free(self._mem)
        self._mem = mem
        pfo_ss_init(&self.ss, mem, size, cap, th, win)     # validated above: PFO_OK
        self.busy = 0

    def __dealloc__(self):
        pfo_ss_fini(&self.ss)
        free(self._mem)

    def __repr__(self):
        return (f"SpaceSavingDetector(capacity={self.capacity}, threshold={self.threshold}, "
                f"window_ns={self.window_ns})")

    @staticmethod
    def footprint(capacity):
        """Bytes the two windows' summaries of ``capacity`` flows occupy (``pfo_ss_footprint``).

        Per window ``32 * capacity + 12 * slots`` rounded up to 64, with
        ``slots`` the smallest power of two ``>= 2 * capacity`` (56 to 80
        bytes per flow); the same figure :attr:`nbytes` gives for a built
        detector.  The tag table (:class:`ElephantDetector`) is not counted.

        Raises
        ------
        TypeError, ValueError
            As the constructor, for ``capacity``.

        Examples
        --------
        >>> SpaceSavingDetector.footprint(1000)
        113152
        """
        return pfo_ss_footprint(require_int("capacity", capacity, 1, _MAX_CAPACITY))

    @property
    def nbytes(self):
        """Memory held by the two windows' summaries, in bytes (:meth:`footprint`)."""
        return pfo_ss_footprint(self.ss.capacity)

    @property
    def capacity(self):
        """Flows tracked per window."""
        return self.ss.capacity

    @property
    def threshold(self):
        """Elephant threshold (packets or bytes)."""
        return self.ss.threshold

    @property
    def window_ns(self):
        """Window length in ns."""
        return self.ss.window_ns

    cdef bint c_update(self, uint64_t key, pfo_ns_t now_ns, uint64_t amount) noexcept nogil:
        cdef bint hot = _ss_update(&_BY_CLASS, &self.ss, key, now_ns, amount)
        self.last_ns = self.ss.last_ns
        return _tag_override(self, key, hot)

    cdef uint64_t c_estimate(self, uint64_t key) noexcept nogil:
        return pfo_ss_estimate(&self.ss, key)

    cdef void c_advance(self, pfo_ns_t now_ns) noexcept nogil:
        _ss_advance(&self.ss, now_ns)
        self.last_ns = self.ss.last_ns

    cdef void c_update_burst(self, const uint64_t* keys, const pfo_ns_t* now_ns,
                             Py_ssize_t now_step, const uint64_t* amounts,
                             uint8_t* out, Py_ssize_t n) noexcept nogil:
        cdef Py_ssize_t i
        pfo_ss_update_burst(&self.ss, keys, now_ns, now_step, amounts, out, n)
        self.last_ns = self.ss.last_ns
        if self.tags.count:
            for i in range(n):
                out[i] = _tag_override(self, keys[i], out[i])

    @property
    def window_totals(self):
        """Amount counted in the (current, previous) window."""
        return (self.ss.win[self.ss.cur].total, self.ss.win[self.ss.cur ^ 1].total)

    def tracked(self, key):
        """Whether ``key`` holds a slot in the current window's summary.

        Raises
        ------
        TypeError, ValueError
            If ``key`` is not an integer in ``[0, 2**64 - 1]``.
        """
        _ready(self)
        return _ktab_get(&self.ss.win[self.ss.cur].index, _key(key)) >= 0

    def items(self):
        """The current window's summary: ``(keys, counts, errors)`` arrays.

        ``counts - errors <= true amount <= counts`` for each tracked key.
        """
        _ready(self)
        cdef const pfo_ss_sum_t* s = &self.ss.win[self.ss.cur]
        keys = np.empty(s.n, dtype=np.uint64)
        counts = np.empty(s.n, dtype=np.uint64)
        errors = np.empty(s.n, dtype=np.uint64)
        cdef uint64_t[::1] kv = keys, cv = counts, ev = errors
        cdef uint32_t i
        for i in range(s.n):
            kv[i] = s.slot_key[i]
            cv[i] = s.count[i]
            ev[i] = s.err[i]
        return keys, counts, errors

    def reset(self):
        """Clear both windows and the time (tags are kept)."""
        _ready(self)
        pfo_ss_reset(&self.ss)
        self.last_ns = -1


#: The first name of :class:`SpaceSavingDetector` (the same class object).
ThresholdDetector = SpaceSavingDetector
