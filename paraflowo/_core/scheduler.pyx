"""Flowlet scheduler: per-core switching intervals (paper Eq. 1-2) and rotation."""

cimport cython

import numbers

from cpython.buffer cimport Py_buffer
from cpython.mem cimport PyMem_Calloc, PyMem_Free
from libc.stdint cimport int64_t, uint8_t, uint16_t, uint32_t, uint64_t

import numpy as np

from paraflowo._checks import require_int
from paraflowo._core._boundary cimport (
    PFO_INT64_MAX, PFO_NOGIL_MIN, PFO_WRITABLE, pfo_bind, pfo_bind_n, pfo_check_len, pfo_enter, pfo_guard, pfo_int,
    pfo_leave, pfo_len, pfo_not_backwards, pfo_raise_backwards, pfo_release, pfo_time, pfo_uint)
from paraflowo._core._types cimport pfo_ns_first_backwards
from paraflowo._core.hashing cimport IndirectionTable
from paraflowo._core.hashing import IndirectionTable as _IndirectionTable

cdef extern from "sched_eq2.h" nogil:
    int64_t pfo_sched_eq2(uint64_t a, int64_t t_avg, int64_t t_cpu, uint32_t n1,
                          int64_t lo, int64_t hi) noexcept nogil

#: numpy twin of ``pfo_flowlet_t``: one flow's flowlet state, 16 bytes.
FLOWLET_DTYPE = np.dtype(
    [("since_ns", np.int64), ("rx_id", np.uint32), ("core", np.uint16),
     ("user", np.uint16)],
    align=True,
)

#: Largest accepted delay sample, ns (2**40).
MAX_DELAY_NS = 1 << 40


def _require_unit(name, value):
    """``value`` as a float in (0, 1]."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number in (0, 1], got {value!r}")
    v = float(value)
    if not 0.0 < v <= 1.0:
        raise ValueError(f"{name} must be in (0, 1], got {value!r}")
    return v


cdef object _u16 = np.dtype(np.uint16)
cdef object _i64 = np.dtype(np.int64)


cdef inline Py_ssize_t _index_arg(object index, Py_ssize_t n) except? -1:
    return <Py_ssize_t>pfo_int("index", index, 0, n - 1)


cdef inline uint16_t _core(FlowletScheduler s, object core) except? 0:
    return <uint16_t>pfo_uint("core", core, 0, s.n_cores - 1)


cdef inline pfo_ns_t _time(FlowletScheduler s, object now_ns) except? -1:
    cdef pfo_ns_t t = pfo_time("now_ns", now_ns)
    pfo_not_backwards("now_ns", t, s.last_ns)
    return t


cdef Py_ssize_t _first_bad_index(const int64_t* idx, Py_ssize_t n, int64_t size) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(n):
        if idx[i] < 0 or idx[i] >= size:
            return i
    return -1


cdef Py_ssize_t _first_bad_sample(const uint16_t* cores, const int64_t* delays, Py_ssize_t n,
                                  uint32_t n_cores) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(n):
        if cores[i] >= n_cores or delays[i] < 0 or delays[i] > PFO_SCHED_MAX_DELAY:
            return i
    return -1


cdef Py_ssize_t _observe_burst(FlowletScheduler s, const uint16_t* c, const int64_t* d,
                               Py_ssize_t n) noexcept nogil:
    # observe_burst once its arrays are bound: -1 after folding all n samples,
    # else the index of the first bad one (nothing folded).
    cdef Py_ssize_t i = _first_bad_sample(c, d, n, s.n_cores)
    if i >= 0:
        return i
    for i in range(n):
        s.c_observe(c[i], d[i])
    return -1


cdef Py_ssize_t _steer_burst(FlowletScheduler s, pfo_flowlet_t* flows, Py_ssize_t n_flows,
                             const int64_t* ix, const pfo_ns_t* t, Py_ssize_t n,
                             uint16_t* out, Py_ssize_t* bad_time) noexcept nogil:
    # steer_burst once its arrays are bound: -1 after steering all n packets
    # (bad_time[0] = -1), else the first bad index (its position), or -1 with
    # bad_time[0] the first backwards time; nothing steered then.
    cdef Py_ssize_t j = _first_bad_index(ix, n, n_flows)
    bad_time[0] = -1 if j >= 0 else pfo_ns_first_backwards(t, n, s.last_ns)
    if j < 0 and bad_time[0] < 0 and n:
        s.c_steer_burst(flows, ix, t, n, out)
        s.last_ns = t[n - 1]
    return j


cdef class FlowletScheduler:
    """Rotates para_flow flows over cores in flowlets sized by Eq. 1-2.

    Parameters
    ----------
    n_cores : int
        Number of cores (RX queues), in [1, 65535].
    n_para : int, default 2
        ``N_para``: how many cores a flow may keep busy at once, in
        [1, 65535].  1 means never switch (pure flow affinity).
    alpha : float, default 1.0
        Damping factor of Eq. 2, in (0, 1].  Held in 32-bit fixed point,
        ``round(alpha * 2**32) / 2**32`` (exact for 1, 0.5, 0.25, ...); see
        :attr:`alpha`.
    reta : IndirectionTable, optional
        The table that maps RX ids to cores (its entries must be below
        ``n_cores``).  Default: ``IndirectionTable(n_cores)``, 128 entries
        round-robin.  The scheduler reads it live, so later ``reta[i] = q``
        changes take effect at the next switch.
    smoothing : float, default 0.125
        EWMA weight of a new delay sample, in (0, 1]; 1.0 keeps only the last
        sample (then Eq. 1-2 can be checked exactly).
    t_switch_min_ns, t_switch_max_ns : int, default 1_000 and 10_000_000
        Bounds of the switching interval, ``0 <= min <= max <= 2**62``.
    t_switch_init_ns : int, default 50_000
        Switching interval of a core with no delay sample yet, in
        ``[t_switch_min_ns, t_switch_max_ns]``.

    Raises
    ------
    TypeError
        If an argument has the wrong type (``reta`` not an IndirectionTable).
    ValueError
        If an argument is out of range.

    Notes
    -----
    Delays: :meth:`observe` feeds a core's processing delay ``T_cpu,i``
    (egress time minus ingress time, ns).  The first sample is taken as is,
    later ones by ``T <- T + round(smoothing * (delay - T))``.
    ``t_avg = floor(mean of T_cpu,i over the cores with samples)``.

    Eq. 2, in integers: ``t_switch(i) = floor(A * t_avg**2 / (2**32 *
    T_cpu,i * (n_para - 1)))`` with ``A = round(alpha * 2**32)``, clamped to
    ``[t_switch_min_ns, t_switch_max_ns]``; 128-bit products, so the final
    floor is the only rounding.  Equal delays ``D`` and ``alpha = 1`` give
    Eq. 1, ``D // (n_para - 1)``.  Degenerate cases: a core without samples
    gets ``t_switch_init_ns``, ``t_avg = 0`` gives the minimum, ``T_cpu,i =
    0`` the maximum, and ``n_para = 1`` gives ``2**63 - 1`` (never).

    Flows: a flow's state (:data:`FLOWLET_DTYPE`, in an array the caller
    owns) holds its RX id, core and the start of its current flowlet.
    :meth:`start` sets the RX id to the flow hash, so the first flowlet goes
    to the flow's RSS core ``reta[hash & (size - 1)]``.  :meth:`steer` keeps
    the flow on its core until it has stayed ``t_switch(core)`` there, then
    moves it once: ``rx_id += 1``, ``core = reta[rx_id & (size - 1)]``, and
    the new flowlet starts at that packet.  Slower cores (larger
    ``T_cpu,i``) get shorter flowlets.

    Cost: a steer is a compare and, at a switch, one table read; Eq. 2 is
    recomputed for a core at most once per observation.  Time must not go
    backwards for start/steer calls.  One thread at a time: while
    :meth:`observe_burst` or :meth:`steer_burst` runs without the GIL (or a
    :class:`Breakup` burst that owns this scheduler), :meth:`observe`,
    :meth:`observe_burst`, :meth:`start`, :meth:`steer` and
    :meth:`steer_burst` from another thread raise :class:`RuntimeError`; the
    queries (:attr:`t_avg`, :meth:`t_cpu`, :meth:`t_switch`) still answer.

    Examples
    --------
    >>> import numpy as np
    >>> from paraflowo import FlowletScheduler, FLOWLET_DTYPE
    >>> s = FlowletScheduler(4, n_para=3, alpha=0.5, smoothing=1.0,
    ...                      t_switch_min_ns=0, t_switch_max_ns=10**6)
    >>> for core, delay in enumerate([1000, 2000, 3000, 6000]):
    ...     s.observe(core, delay)
    >>> s.t_avg, [s.t_switch(c) for c in range(4)]
    (3000, [2250, 1125, 750, 375])
    >>> flows = np.zeros(1, FLOWLET_DTYPE)
    >>> s.start(flows, 0, flow_hash=0, now_ns=0)      # RSS core: reta[0]
    0
    >>> s.steer(flows, 0, 2249), s.steer(flows, 0, 2250)
    (0, 1)
    """

    def __cinit__(self, n_cores, n_para=2, alpha=1.0, reta=None, smoothing=0.125,
                  t_switch_min_ns=1_000, t_switch_max_ns=10_000_000,
                  t_switch_init_ns=50_000):
        n_cores = require_int("n_cores", n_cores, 1, 0xFFFF)
        n_para = require_int("n_para", n_para, 1, 0xFFFF)
        a = _require_unit("alpha", alpha)
        s = _require_unit("smoothing", smoothing)
        lo = require_int("t_switch_min_ns", t_switch_min_ns, 0, 1 << 62)
        hi = require_int("t_switch_max_ns", t_switch_max_ns, 0, 1 << 62)
        if hi < lo:
            raise ValueError(
                f"t_switch_max_ns must be >= t_switch_min_ns = {lo}, got {hi}")
        init = require_int("t_switch_init_ns", t_switch_init_ns, 0, 1 << 62)
        if not lo <= init <= hi:
            raise ValueError(
                f"t_switch_init_ns must be in [t_switch_min_ns, t_switch_max_ns] = "
                f"[{lo}, {hi}], got {init}")
        if reta is None:
            reta = _IndirectionTable(n_cores)
        elif not isinstance(reta, _IndirectionTable):
            raise TypeError(f"reta must be an IndirectionTable, got {type(reta).__name__}")
        elif reta.n_queues > n_cores:
            raise ValueError(
                f"reta must map to cores below n_cores = {n_cores}, got an "
                f"IndirectionTable with n_queues = {reta.n_queues}")
        cdef size_t n = n_cores
        self.cpu_ns = <int64_t*>PyMem_Calloc(n, sizeof(int64_t))
        self.t_sw = <int64_t*>PyMem_Calloc(n, sizeof(int64_t))
        self.t_sw_ver = <uint64_t*>PyMem_Calloc(n, sizeof(uint64_t))
        self.sampled = <uint8_t*>PyMem_Calloc(n, sizeof(uint8_t))
        if not (self.cpu_ns and self.t_sw and self.t_sw_ver and self.sampled):
            raise MemoryError("cannot allocate the scheduler's per-core state")
        self.n_cores = n_cores
        self.n_para = n_para
        self.alpha_fp = max(1, min(1 << 32, round(a * 4294967296.0)))
        self.smoothing = s
        self.smooth_shift = -1
        for k in range(63):
            if s == 2.0 ** -k:
                self.smooth_shift = k
                break
        self.t_switch_min_ns = lo
        self.t_switch_max_ns = hi
        self.t_switch_init_ns = init
        self.reta = reta
        self.entries = (<IndirectionTable>reta).entries
        self.reta_mask = (<IndirectionTable>reta).mask
        self.ver = 1          # every t_sw_ver starts at 0: nothing cached
        self.last_ns = 0

    def __dealloc__(self):
        PyMem_Free(self.cpu_ns)
        PyMem_Free(self.t_sw)
        PyMem_Free(self.t_sw_ver)
        PyMem_Free(self.sampled)

    def __repr__(self):
        return (f"FlowletScheduler(n_cores={self.n_cores}, n_para={self.n_para}, "
                f"alpha={self.alpha!r}, smoothing={self.smoothing!r}, "
                f"t_switch_min_ns={self.t_switch_min_ns}, "
                f"t_switch_max_ns={self.t_switch_max_ns}, "
                f"t_switch_init_ns={self.t_switch_init_ns})")

    @property
    def alpha(self):
        """The damping factor as used: ``round(alpha * 2**32) / 2**32``."""
        return self.alpha_fp / 4294967296.0

    # -- the core -----------------------------------------------------------

    cdef void c_observe(self, uint16_t core, pfo_ns_t delay_ns) noexcept nogil:
        # written once, in scheduler.pxd, so that callers in other modules
        # (the simulator, through pfo_brk_feedback) inline the same arithmetic
        pfo_sched_observe(self, core, delay_ns)

    cdef pfo_ns_t c_t_avg(self) noexcept nogil:
        return self.avg_cpu         # kept by pfo_sched_observe (0 before any sample)

    cdef pfo_ns_t c_t_switch(self, uint16_t core) noexcept nogil:
        if self.n_para == 1:
            return PFO_SCHED_NEVER
        if self.t_sw_ver[core] != self.ver:
            if self.sampled[core]:
                self.t_sw[core] = pfo_sched_eq2(
                    self.alpha_fp, self.c_t_avg(), self.cpu_ns[core], self.n_para - 1,
                    self.t_switch_min_ns, self.t_switch_max_ns)
            else:
                self.t_sw[core] = self.t_switch_init_ns
            self.t_sw_ver[core] = self.ver
        return self.t_sw[core]

    cdef uint16_t c_start(self, pfo_flowlet_t* f, pfo_hash_t flow_hash,
                          pfo_ns_t now_ns) noexcept nogil:
        f.rx_id = flow_hash
        f.core = pfo_reta_lookup(self.entries, self.reta_mask, flow_hash)
        f.since_ns = now_ns
        return f.core

    cdef uint16_t c_steer(self, pfo_flowlet_t* f, pfo_ns_t now_ns) noexcept nogil:
        return pfo_sched_steer(self, f, now_ns)

    cdef void c_steer_burst(self, pfo_flowlet_t* flows, const int64_t* index,
                            const pfo_ns_t* now_ns, Py_ssize_t n,
                            uint16_t* cores) noexcept nogil:
        cdef Py_ssize_t i
        for i in range(n):
            cores[i] = pfo_sched_steer(self, &flows[index[i]], now_ns[i])

    # -- Python API: delays and intervals ------------------------------------

    def observe(self, core, delay_ns):
        """Fold one processing-delay sample of ``core`` into ``T_cpu,core``.

        Parameters
        ----------
        core : int
            Core id, in ``[0, n_cores)``.
        delay_ns : int
            Egress time minus ingress time of one packet on that core, ns, in
            ``[0, 2**40]``.

        Raises
        ------
        TypeError
            If an argument is not an integer.
        ValueError
            If ``core`` or ``delay_ns`` is out of range (the state is
            unchanged).
        RuntimeError
            If another thread is running a burst on this scheduler (the state
            is unchanged).
        """
        pfo_guard(self.busy, self)
        cdef uint16_t c = _core(self, core)
        cdef int64_t d = pfo_int("delay_ns", delay_ns, 0, PFO_SCHED_MAX_DELAY)
        self.c_observe(c, d)

    @cython.binding(False)
    @cython.embedsignature.format("clinic")
    def observe_burst(self, cores, delays_ns):
        """:meth:`observe` for each (core, delay) pair, in order.

        Parameters
        ----------
        cores : numpy.ndarray
            ``uint16`` core ids, each in ``[0, n_cores)``.
        delays_ns : numpy.ndarray
            ``int64`` delays, each in ``[0, 2**40]``.

        Raises
        ------
        TypeError, ValueError
            Wrong dtypes, lengths or values; the state is unchanged.
        RuntimeError
            If another thread is running a burst on this scheduler (the state
            is unchanged).

        Notes
        -----
        Runs without the GIL from 256 records on (a shorter burst keeps
        it); meanwhile, calls that change this scheduler
        from other threads raise :class:`RuntimeError` (give each thread its
        own).
        """
        cdef Py_buffer bc, bd
        cdef Py_ssize_t i, n
        cdef const uint16_t* c
        cdef const int64_t* d
        bd.shape = NULL
        pfo_guard(self.busy, self)
        pfo_bind(&bc, cores, "cores", _u16, 0)
        try:
            n = pfo_len(&bc)
            pfo_bind_n(&bd, delays_ns, "delays_ns", _i64, 0, n)
            c = <const uint16_t*>bc.buf
            d = <const int64_t*>bd.buf
            pfo_enter(&self.busy, self)
            try:
                if n < PFO_NOGIL_MIN:            # a short burst keeps the GIL
                    i = _observe_burst(self, c, d, n)
                else:
                    with nogil:
                        i = _observe_burst(self, c, d, n)
            finally:
                pfo_leave(&self.busy)
            if i >= 0:
                if c[i] >= self.n_cores:
                    raise ValueError(f"cores must be in [0, {self.n_cores - 1}], "
                                     f"got cores[{i}] = {c[i]}")
                raise ValueError(f"delays_ns must be in [0, 2**40], got delays_ns[{i}] = {d[i]}")
        finally:
            pfo_release(&bc)
            pfo_release(&bd)

    @property
    def t_avg(self):
        """``floor(mean T_cpu,i)`` over cores with samples, ns; None before any."""
        return self.c_t_avg() if self.n_sampled else None

    def t_cpu(self, core):
        """Smoothed processing delay ``T_cpu,core``, ns; None before its first sample."""
        cdef uint16_t c = _core(self, core)
        return self.cpu_ns[c] if self.sampled[c] else None

    def t_switch(self, core):
        """Switching interval of ``core``, ns (Eq. 2, clamped; see Notes).

        A query.  While another thread runs a burst on this scheduler, the
        interval is computed from the current delays without touching the
        per-core cache (the burst owns it).
        """
        cdef uint16_t c = _core(self, core)
        if not self.busy:
            return self.c_t_switch(c)
        if self.n_para == 1:
            return PFO_SCHED_NEVER
        if not self.sampled[c]:
            return self.t_switch_init_ns
        return pfo_sched_eq2(self.alpha_fp, self.c_t_avg(), self.cpu_ns[c], self.n_para - 1,
                             self.t_switch_min_ns, self.t_switch_max_ns)

    # -- Python API: flows ----------------------------------------------------

    def start(self, flows, index, flow_hash, now_ns):
        """Start flow ``flows[index]`` on its RSS core; return that core.

        Parameters
        ----------
        flows : numpy.ndarray
            C-contiguous :data:`FLOWLET_DTYPE` array that holds the flow states.
        index : int
            Position of the flow in ``flows``.
        flow_hash : int
            The flow's 32-bit RSS hash: its first RX id.
        now_ns : int
            Time of the flow's first packet, ns, not before the previous call's.

        Raises
        ------
        TypeError, ValueError
            Wrong dtype, a value out of range, time going backwards, or an
            index outside ``flows``; nothing is changed.
        RuntimeError
            If another thread is running a burst on this scheduler (nothing
            is changed).
        """
        cdef Py_buffer view
        cdef Py_ssize_t i
        cdef pfo_hash_t h
        cdef pfo_ns_t t
        pfo_guard(self.busy, self)
        pfo_bind(&view, flows, "flows", FLOWLET_DTYPE, PFO_WRITABLE)
        try:
            i = _index_arg(index, pfo_len(&view))
            h = <pfo_hash_t>pfo_uint("flow_hash", flow_hash, 0, 0xFFFFFFFF)
            t = _time(self, now_ns)
            self.last_ns = t
            return self.c_start(<pfo_flowlet_t*>view.buf + i, h, t)
        finally:
            pfo_release(&view)

    def steer(self, flows, index, now_ns):
        """Core for one packet of flow ``flows[index]`` at ``now_ns`` (may switch).

        Raises
        ------
        TypeError, ValueError, RuntimeError
            As for :meth:`start`.
        """
        cdef Py_buffer view
        cdef Py_ssize_t i
        cdef pfo_ns_t t
        pfo_guard(self.busy, self)
        pfo_bind(&view, flows, "flows", FLOWLET_DTYPE, PFO_WRITABLE)
        try:
            i = _index_arg(index, pfo_len(&view))
            t = _time(self, now_ns)
            self.last_ns = t
            return pfo_sched_steer(self, <pfo_flowlet_t*>view.buf + i, t)
        finally:
            pfo_release(&view)

    @cython.binding(False)
    @cython.embedsignature.format("clinic")
    def steer_burst(self, flows, index, now_ns, out=None):
        """:meth:`steer` for packets of flows ``flows[index[k]]`` at ``now_ns[k]``.

        Parameters
        ----------
        flows : numpy.ndarray
            :data:`FLOWLET_DTYPE` flow states.
        index : numpy.ndarray
            ``int64`` positions in ``flows``, one per packet.
        now_ns : numpy.ndarray
            ``int64`` times, non-decreasing.
        out : numpy.ndarray, optional
            ``uint16`` output.

        Returns
        -------
        numpy.ndarray
            ``uint16`` cores.

        Raises
        ------
        TypeError, ValueError
            As for :meth:`start` (nothing is changed).
        RuntimeError
            If another thread is running a burst on this scheduler (nothing
            is changed).

        Notes
        -----
        Runs without the GIL from 256 records on (a shorter burst keeps
        it); meanwhile, calls that change this scheduler
        from other threads raise :class:`RuntimeError` (give each thread its
        own).
        """
        cdef Py_buffer bf, bi, bt, bo
        cdef Py_ssize_t j, k, n
        cdef const int64_t* ix
        cdef const pfo_ns_t* t
        bi.shape = bt.shape = bo.shape = NULL
        pfo_guard(self.busy, self)
        pfo_bind(&bf, flows, "flows", FLOWLET_DTYPE, PFO_WRITABLE)
        try:
            pfo_bind(&bi, index, "index", _i64, 0)
            n = pfo_len(&bi)
            pfo_bind_n(&bt, now_ns, "now_ns", _i64, 0, n)
            if out is None:
                out = np.empty(n, dtype=np.uint16)
            pfo_bind_n(&bo, out, "out", _u16, PFO_WRITABLE, n)
            ix = <const int64_t*>bi.buf
            t = <const pfo_ns_t*>bt.buf
            pfo_enter(&self.busy, self)
            try:
                if n < PFO_NOGIL_MIN:            # a short burst keeps the GIL
                    j = _steer_burst(self, <pfo_flowlet_t*>bf.buf, pfo_len(&bf), ix, t, n,
                                     <uint16_t*>bo.buf, &k)
                else:
                    with nogil:
                        j = _steer_burst(self, <pfo_flowlet_t*>bf.buf, pfo_len(&bf), ix, t, n,
                                         <uint16_t*>bo.buf, &k)
            finally:
                pfo_leave(&self.busy)
            if j >= 0:
                raise ValueError(f"index must be in [0, {pfo_len(&bf) - 1}], got index[{j}] = {ix[j]}")
            if k >= 0:
                if t[k] < 0:
                    raise ValueError(f"now_ns must be >= 0, got now_ns[{k}] = {t[k]}")
                pfo_raise_backwards("now_ns", t[k], self.last_ns if k == 0 else t[k - 1], k)
        finally:
            pfo_release(&bf)
            pfo_release(&bi)
            pfo_release(&bt)
            pfo_release(&bo)
        return out
