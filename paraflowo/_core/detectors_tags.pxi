# Included by detectors.pyx: ElephantDetector, the base class of every
# detector, with the manual tags.

cdef class ElephantDetector:
    """Manual elephant tags, and the base class of every detector.

    On its own it is the tags-only detector: a key is an elephant exactly when
    an operator forced it on.  :class:`CountMinDetector` and
    :class:`SpaceSavingDetector` add a measured count; a forced setting overrides
    what they measure.

    Parameters
    ----------
    max_tags : int, default 1024
        Most keys that can be forced at once, 0 to 2**24.  The tag table has
        fixed memory (12 bytes per slot, ``2 * max_tags`` rounded up to a power
        of two slots).

    Raises
    ------
    TypeError
        If ``max_tags`` is not an integer.
    ValueError
        If ``max_tags`` is out of range.

    Notes
    -----
    A tag lookup costs nothing while no key is forced, and one hash probe
    otherwise.  Objects are not thread-safe; the ``nogil`` Cython API is
    documented in ``detectors.pxd``.

    Examples
    --------
    >>> from paraflowo import ElephantDetector
    >>> tags = ElephantDetector(max_tags=4)
    >>> tags.update(7, now_ns=0)
    False
    >>> tags.force(7, True)
    >>> tags.update(7, now_ns=10), tags.forced(7), tags.forced(8)
    (True, True, None)
    >>> tags.unforce(7)
    True
    """

    def __cinit__(self, *args, **kwargs):
        self.last_ns = -1
        self.busy = -1      # not initialised until an __init__ completes

    def __init__(self, *, max_tags=1024):
        _reinit(self)
        m = require_int("max_tags", max_tags, 0, _MAX_TAGS)
        self.busy = -1
        self._init_tags(m)
        self.busy = 0

    cdef int _init_tags(self, uint32_t max_tags) except -1:
        _ktab_free(&self.tags)
        _ktab_alloc(&self.tags, max_tags)
        self.max_tags = max_tags
        self.last_ns = -1
        return 0

    def __dealloc__(self):
        _ktab_free(&self.tags)

    def __repr__(self):
        return f"ElephantDetector(max_tags={self.max_tags})"

    # -- virtual core -------------------------------------------------------

    cdef bint c_update(self, uint64_t key, pfo_ns_t now_ns, uint64_t amount) noexcept nogil:
        if now_ns > self.last_ns:
            self.last_ns = now_ns
        return self.tags.count != 0 and _ktab_get(&self.tags, key) == PFO_TAG_ON

    cdef uint64_t c_estimate(self, uint64_t key) noexcept nogil:
        return 0

    cdef void c_advance(self, pfo_ns_t now_ns) noexcept nogil:
        if now_ns > self.last_ns:
            self.last_ns = now_ns

    cdef void c_update_burst(self, const uint64_t* keys, const pfo_ns_t* now_ns,
                             Py_ssize_t now_step, const uint64_t* amounts,
                             uint8_t* out, Py_ssize_t n) noexcept nogil:
        cdef Py_ssize_t i
        if amounts is NULL:
            for i in range(n):
                out[i] = self.c_update(keys[i], now_ns[i * now_step], 1)
        else:
            for i in range(n):
                out[i] = self.c_update(keys[i], now_ns[i * now_step], amounts[i])

    cdef int c_forced(self, uint64_t key) noexcept nogil:
        cdef int32_t v
        if self.tags.count == 0:
            return PFO_TAG_NONE
        v = _ktab_get(&self.tags, key)
        return PFO_TAG_NONE if v < 0 else v

    # -- tags ----------------------------------------------------------------

    def force(self, key, on):
        """Force ``key`` to be an elephant (``on=True``) or not (``on=False``).

        Overrides the detector for this key until :meth:`unforce`.  Forcing a
        key that is already forced changes its setting.

        Raises
        ------
        TypeError
            If ``key`` is not an integer or ``on`` is not a bool.
        ValueError
            If ``key`` is outside ``[0, 2**64 - 1]``, or the tag table already
            holds ``max_tags`` keys and ``key`` is not one of them (nothing is
            changed: unforce a key or build the detector with a larger
            ``max_tags``).
        """
        _ready(self)
        cdef uint64_t k = _key(key)
        if not isinstance(on, (bool, np.bool_)):
            raise TypeError(f"on must be a bool, got {on!r}")
        if _ktab_get(&self.tags, k) < 0 and self.tags.count >= self.max_tags:
            raise ValueError(
                f"tag table is full: max_tags={self.max_tags} keys are already forced; "
                f"unforce one or use a larger max_tags, got key {k}")
        _ktab_put(&self.tags, k, PFO_TAG_ON if on else PFO_TAG_OFF)

    def unforce(self, key):
        """Remove the forced setting of ``key``; return whether it had one.

        Raises
        ------
        TypeError, ValueError
            If ``key`` is not an integer in ``[0, 2**64 - 1]``.
        """
        _ready(self)
        return _ktab_del(&self.tags, _key(key))

    def forced(self, key):
        """The forced setting of ``key``: True, False, or None when not forced.

        Raises
        ------
        TypeError, ValueError
            If ``key`` is not an integer in ``[0, 2**64 - 1]``.
        """
        _ready(self)
        cdef int32_t v = _ktab_get(&self.tags, _key(key))
        return None if v < 0 else v == PFO_TAG_ON

    def clear_tags(self):
        """Remove every forced setting."""
        _ready(self)
        _ktab_clear(&self.tags)

    @property
    def n_forced(self):
        """Number of keys currently forced on or off."""
        return self.tags.count

    # -- Python API ------------------------------------------------------------

    # A plain method descriptor (binding=False) is called with less overhead
    # than a cyfunction; the clinic-style signature keeps inspect.signature.
    @cython.binding(False)
    @cython.embedsignature.format("clinic")
    def update(self, key, now_ns, amount=1):
        """Count ``amount`` for ``key`` at ``now_ns``; return whether it is an elephant.

        Parameters
        ----------
        key : int
            Flow key in ``[0, 2**64 - 1]`` (a hash of the 5-tuple, for example).
        now_ns : int
            Current time in ns, ``>= 0`` and never below the last time seen.
        amount : int, default 1
            What to count: 1 per packet, or the packet's length in bytes;
            ``[0, 2**64 - 1]``.

        Returns
        -------
        bool
            True if the flow is an elephant now: its estimate over the current
            and previous window is at least ``threshold``, unless a forced tag
            says otherwise.

        Raises
        ------
        TypeError
            If an argument is not an integer.
        ValueError
            If ``key`` or ``amount`` is outside ``[0, 2**64 - 1]``, ``now_ns``
            is negative or earlier than the last time seen.  Nothing is counted.
        """
        _ready(self)
        cdef uint64_t k = _key(key)
        cdef pfo_ns_t t = pfo_time("now_ns", now_ns)
        cdef uint64_t a = pfo_uint("amount", amount, 0, PFO_UINT64_MAX)
        pfo_not_backwards("now_ns", t, self.last_ns)
        return pfo_bool(self.c_update(k, t, a))

    def estimate(self, key):
        """Estimated amount of ``key`` over the current and previous window.

        The estimate is as of the last update or :meth:`advance`; call
        :meth:`advance` first to let time pass without counting.

        Raises
        ------
        TypeError, ValueError
            If ``key`` is not an integer in ``[0, 2**64 - 1]``.
        """
        _ready(self)
        return self.c_estimate(_key(key))

    @cython.binding(False)
    @cython.embedsignature.format("clinic")
    def estimate_burst(self, keys, out=None):
        """:meth:`estimate` of each key of a ``uint64`` array (no time passes).

        Parameters
        ----------
        keys : numpy.ndarray
            1-D C-contiguous ``uint64`` flow keys.
        out : numpy.ndarray, optional
            1-D C-contiguous ``uint64`` array of the same length to write into.

        Returns
        -------
        numpy.ndarray
            ``uint64`` estimates (``out`` if given).

        Raises
        ------
        TypeError, ValueError
            As :meth:`update_burst`, for ``keys`` and ``out``.
        """
        _ready(self)
        cdef Py_buffer kb, ob
        cdef Py_ssize_t i, n
        cdef const uint64_t* kp
        cdef uint64_t* op
        ob.shape = NULL
        pfo_bind(&kb, keys, "keys", _u64, 0)
        try:
            n = pfo_len(&kb)
            if out is None:
                out = np.empty(n, dtype=np.uint64)
            pfo_bind_n(&ob, out, "out", _u64, PFO_WRITABLE, n)
            kp = <const uint64_t*>kb.buf
            op = <uint64_t*>ob.buf
            pfo_enter(&self.busy, self)
            try:
                if n < PFO_NOGIL_MIN:            # a short burst keeps the GIL
                    for i in range(n):
                        op[i] = self.c_estimate(kp[i])
                else:
                    with nogil:
                        for i in range(n):
                            op[i] = self.c_estimate(kp[i])
            finally:
                pfo_leave(&self.busy)
        finally:
            pfo_release(&kb)
            pfo_release(&ob)
        return out

    def advance(self, now_ns):
        """Let time pass to ``now_ns`` without counting (ages out old windows).

        Raises
        ------
        TypeError, ValueError
            If ``now_ns`` is not an integer, is negative, or is earlier than
            the last time seen.
        """
        _ready(self)
        self.c_advance(_time(self, now_ns))

    @cython.binding(False)
    @cython.embedsignature.format("clinic")
    def update_burst(self, keys, now_ns, amounts=None, out=None):
        """Count a burst of packets; return the elephant flag of each.

        Identical, packet by packet, to calling :meth:`update` in order.

        Parameters
        ----------
        keys : numpy.ndarray
            1-D C-contiguous ``uint64`` flow keys.
        now_ns : int or numpy.ndarray
            One time for the whole burst, or a 1-D C-contiguous ``int64`` array
            of per-packet times (nondecreasing, the first not below the last
            time seen).
        amounts : numpy.ndarray, optional
            1-D C-contiguous ``uint64`` amounts; 1 per packet when omitted.
        out : numpy.ndarray, optional
            1-D C-contiguous ``bool`` array of the same length to write into.

        Returns
        -------
        numpy.ndarray
            ``bool`` elephant flags (``out`` if given).

        Raises
        ------
        TypeError
            If an array is not a numpy array of the stated dtype, or a scalar
            ``now_ns`` is not an integer.
        ValueError
            Arrays not 1-D and C-contiguous, of different lengths, or times that
            are negative, decrease, or start below the last time seen.  Nothing
            is counted.
        RuntimeError
            If another thread is running a burst on this detector.

        Notes
        -----
        Runs without the GIL from 256 records on (a shorter burst keeps
        it); meanwhile, calls that change this detector from
        other threads raise :class:`RuntimeError` (give each thread its own).  With one ``now_ns`` for the burst, windows
        rotate once per burst; with per-packet times, one comparison per packet.
        """
        _ready(self)
        cdef Py_buffer kb, tb, ab, ob
        cdef Py_ssize_t n, bad, step = 0
        cdef pfo_ns_t t0
        cdef const pfo_ns_t* tp = &t0
        tb.shape = ab.shape = ob.shape = NULL
        pfo_bind(&kb, keys, "keys", _u64, 0)
        try:
            n = pfo_len(&kb)
            if type(now_ns) is not int and isinstance(now_ns, _ndarray):
                pfo_bind_n(&tb, now_ns, "now_ns", _i64, 0, n)
                tp = <const pfo_ns_t*>tb.buf
                step = 1
                t0 = self.last_ns if self.last_ns > 0 else 0
                if n < PFO_NOGIL_MIN:
                    bad = pfo_ns_first_backwards(tp, n, t0)
                else:
                    with nogil:
                        bad = pfo_ns_first_backwards(tp, n, t0)
                if bad >= 0:
                    if tp[bad] < 0:
                        raise ValueError(f"now_ns must be >= 0, got now_ns[{bad}] = {tp[bad]}")
                    pfo_raise_backwards("now_ns", tp[bad],
                                        self.last_ns if bad == 0 else tp[bad - 1], bad)
            else:
                t0 = _time(self, now_ns)
            pfo_bind(&ab, amounts, "amounts", _u64, PFO_OPTIONAL)
            if pfo_bound(&ab):
                pfo_check_len("amounts", pfo_len(&ab), n, n)
            if out is None:
                out = np.empty(n, dtype=np.bool_)
            pfo_bind_n(&ob, out, "out", _bool, PFO_WRITABLE, n)
            if n == 0:
                if step == 0:
                    self.c_advance(t0)
                return out
            pfo_enter(&self.busy, self)
            try:
                if n < PFO_NOGIL_MIN:            # a short burst keeps the GIL
                    self.c_update_burst(<const uint64_t*>kb.buf, tp, step,
                                        <const uint64_t*>ab.buf, <uint8_t*>ob.buf, n)
                else:
                    with nogil:
                        self.c_update_burst(<const uint64_t*>kb.buf, tp, step,
                                            <const uint64_t*>ab.buf, <uint8_t*>ob.buf, n)
            finally:
                pfo_leave(&self.busy)
            return out
        finally:
            pfo_release(&kb)
            pfo_release(&tb)
            pfo_release(&ab)
            pfo_release(&ob)


cdef inline bint _tag_override(ElephantDetector d, uint64_t key, bint measured) noexcept nogil:
    cdef int32_t v
    if d.tags.count == 0:
        return measured
    v = _ktab_get(&d.tags, key)
    return measured if v < 0 else v == PFO_TAG_ON
