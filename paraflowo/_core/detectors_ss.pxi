# Included by detectors.pyx: the windowed Space-Saving detector.

# ---------------------------------------------------------------------------
# Space-Saving
# ---------------------------------------------------------------------------

cdef int _ss_alloc(pfo_ss_t* s, uint32_t capacity) except -1:
    _ktab_alloc(&s.index, capacity)
    s.slot_key = <uint64_t*>calloc(capacity, sizeof(uint64_t))
    s.count = <uint64_t*>calloc(capacity, sizeof(uint64_t))
    s.err = <uint64_t*>calloc(capacity, sizeof(uint64_t))
    s.heap = <uint32_t*>calloc(capacity, sizeof(uint32_t))
    s.pos = <uint32_t*>calloc(capacity, sizeof(uint32_t))
    s.capacity = capacity
    s.n = 0
    s.total = 0
    if (s.slot_key is NULL or s.count is NULL or s.err is NULL or s.heap is NULL
            or s.pos is NULL):
        _ss_free(s)
        raise MemoryError(f"cannot allocate a Space-Saving summary of {capacity} flows")
    return 0


cdef void _ss_free(pfo_ss_t* s) noexcept nogil:
    _ktab_free(&s.index)
    free(s.slot_key)
    free(s.count)
    free(s.err)
    free(s.heap)
    free(s.pos)
    s.slot_key = s.count = s.err = NULL
    s.heap = s.pos = NULL
    s.n = 0


cdef void _ss_clear(pfo_ss_t* s) noexcept nogil:
    _ktab_clear(&s.index)
    s.n = 0
    s.total = 0


cdef inline void _ss_sift_down(pfo_ss_t* s, uint32_t i) noexcept nogil:
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


cdef inline void _ss_sift_up(pfo_ss_t* s, uint32_t i) noexcept nogil:
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


cdef uint64_t _ss_add(pfo_ss_t* s, uint64_t key, uint64_t amount) noexcept nogil:
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


cdef inline uint64_t _ss_get(const pfo_ss_t* s, uint64_t key) noexcept nogil:
    cdef int32_t slot = _ktab_get(&s.index, key)
    return 0 if slot < 0 else s.count[slot]


cdef inline void _ss_advance(SpaceSavingDetector d, pfo_ns_t now_ns) noexcept nogil:
    # Rotate to the window holding now_ns (the ageing rule: _window_advance).
    cdef int step = _window_advance(&d.last_ns, &d.win_end, d.window_ns, now_ns)
    if step == _NEXT_WINDOW:
        d.cur ^= 1
        _ss_clear(&d.ss[d.cur])
    elif step == _LATER_WINDOW:
        _ss_clear(&d.ss[0])
        _ss_clear(&d.ss[1])


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

    **Cost.**  56 to 80 bytes per ``capacity`` slot per window.  Per packet one hash
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
        self.busy = -1
        _ss_free(&self.ss[0])
        _ss_free(&self.ss[1])
        _ss_alloc(&self.ss[0], cap)
        _ss_alloc(&self.ss[1], cap)
        self._init_tags(m)
        self.capacity = cap
        self.threshold = th
        self.window_ns = win
        self.cur = 0
        self.win_end = 0
        self.busy = 0

    def __dealloc__(self):
        _ss_free(&self.ss[0])
        _ss_free(&self.ss[1])

    def __repr__(self):
        return (f"SpaceSavingDetector(capacity={self.capacity}, threshold={self.threshold}, "
                f"window_ns={self.window_ns})")

    cdef bint c_update(self, uint64_t key, pfo_ns_t now_ns, uint64_t amount) noexcept nogil:
        cdef uint64_t est
        if <uint64_t>now_ns >= self.win_end:
            _ss_advance(self, now_ns)
        self.last_ns = now_ns if now_ns > self.last_ns else self.last_ns
        est = _sat_add64(_ss_add(&self.ss[self.cur], key, amount),
                         _ss_get(&self.ss[self.cur ^ 1], key))
        return _tag_override(self, key, est >= self.threshold)

    cdef uint64_t c_estimate(self, uint64_t key) noexcept nogil:
        return _sat_add64(_ss_get(&self.ss[0], key), _ss_get(&self.ss[1], key))

    cdef void c_advance(self, pfo_ns_t now_ns) noexcept nogil:
        _ss_advance(self, now_ns)

    @property
    def window_totals(self):
        """Amount counted in the (current, previous) window."""
        return (self.ss[self.cur].total, self.ss[self.cur ^ 1].total)

    def tracked(self, key):
        """Whether ``key`` holds a slot in the current window's summary.

        Raises
        ------
        TypeError, ValueError
            If ``key`` is not an integer in ``[0, 2**64 - 1]``.
        """
        _ready(self)
        return _ktab_get(&self.ss[self.cur].index, _key(key)) >= 0

    def items(self):
        """The current window's summary: ``(keys, counts, errors)`` arrays.

        ``counts - errors <= true amount <= counts`` for each tracked key.
        """
        _ready(self)
        cdef const pfo_ss_t* s = &self.ss[self.cur]
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
        _ss_clear(&self.ss[0])
        _ss_clear(&self.ss[1])
        self.cur = 0
        self.win_end = 0
        self.last_ns = -1


#: The first name of :class:`SpaceSavingDetector` (the same class object).
ThresholdDetector = SpaceSavingDetector
