# cython: language_level=3
"""Flowlet scheduler (paper 4.1.3, Eq. 1-2): the cimport API.

Usage from Cython (all of it runs without the GIL)::

    from paraflowo._core.scheduler cimport FlowletScheduler, pfo_flowlet_t

    cdef FlowletScheduler s = FlowletScheduler(4, n_para=2)
    cdef pfo_flowlet_t f
    with nogil:
        core = s.c_start(&f, flow_hash, now_ns)     # first flowlet: RSS core
        core = s.c_steer(&f, later_ns)             # same core, or the next one
        s.c_observe(core, delay_ns)                 # an egress delay sample

Eq. 2, exactly as computed (all integers, ns)::

    t_avg        = floor(sum of T_cpu,i over sampled cores / their number)
    t_switch(i)  = floor(A * t_avg**2 / (2**32 * T_cpu,i * (n_para - 1)))
                   clamped to [t_switch_min_ns, t_switch_max_ns]
    A            = round(alpha * 2**32)   (alpha in 32-bit fixed point)

Worked example: T_cpu = 1000, 2000, 3000, 6000 ns, alpha = 0.5 (A = 2**31),
n_para = 3: t_avg = 3000; t_switch = 0.5 * 9e6 / (T_cpu * 2) = 2250, 1125,
750, 375 ns.  With equal delays D and alpha = 1 this is Eq. 1, D / (n_para - 1)
(floored).  The products use 128-bit integers (GCC/Clang `unsigned __int128`),
so no step rounds except the final floor.

Degenerate values: a core with no sample yet gets t_switch_init_ns; t_avg = 0
gives t_switch_min_ns; T_cpu,i = 0 (with t_avg > 0) gives t_switch_max_ns;
n_para = 1 never switches (c_t_switch returns PFO_SCHED_NEVER).

Preconditions of every ``c_`` method: ``core < n_cores``; ``now_ns`` never
decreases from one call to the next.  Delays are clamped to
[0, PFO_SCHED_MAX_DELAY] by c_observe itself.
"""

from cpython.buffer cimport Py_buffer
from libc.stdint cimport int64_t, uint8_t, uint16_t, uint32_t, uint64_t
from paraflowo._core._types cimport pfo_hash_t, pfo_ns_t
from paraflowo._core.hashing cimport pfo_reta_lookup

cdef enum:
    PFO_SCHED_ALPHA_SHIFT = 32          # alpha is held as round(alpha * 2**32)

cdef extern from *:
    int __builtin_clz(unsigned int) nogil

cdef extern from *:
    """
    #define PFO_SCHED_MAX_DELAY ((int64_t)1 << 40)
    #define PFO_SCHED_NEVER INT64_MAX
    """
    # Largest delay sample, ns (2**40 ns, about 18 minutes); larger ones clamp.
    const pfo_ns_t PFO_SCHED_MAX_DELAY
    # t_switch when n_para == 1: never switch (2**63 - 1).
    const pfo_ns_t PFO_SCHED_NEVER

# Per-flow flowlet state, 16 bytes; paraflowo.FLOWLET_DTYPE is its numpy twin.
ctypedef struct pfo_flowlet_t:
    pfo_ns_t since_ns    # when the flow's current flowlet started (its core)
    uint32_t rx_id       # RX id: starts at the flow hash, +1 per switch (mod 2**32)
    uint16_t core        # current core: reta[rx_id & (reta.size - 1)]
    uint16_t user        # free for the caller (Breakup keeps the flow's reorder
                         # queue here); the scheduler never reads or writes it


cdef class FlowletScheduler:
    cdef readonly uint32_t n_cores
    cdef readonly uint32_t n_para
    cdef uint64_t alpha_fp        # round(alpha * 2**32), in [1, 2**32]
    cdef readonly double smoothing
    cdef int smooth_shift         # k when smoothing == 2**-k (0 <= k <= 62), else -1:
                                  # the EWMA step is then exact in integers
    cdef readonly pfo_ns_t t_switch_min_ns
    cdef readonly pfo_ns_t t_switch_max_ns
    cdef readonly pfo_ns_t t_switch_init_ns
    cdef readonly object reta     # the IndirectionTable (kept alive here)
    cdef const uint16_t* entries  # reta.entries
    cdef uint32_t reta_mask       # reta.size - 1
    cdef int64_t* cpu_ns          # owned, n_cores: smoothed delay T_cpu,i, ns
    cdef int64_t* t_sw            # owned, n_cores: cached t_switch per core (Eq. 2
                                  # or t_switch_init_ns)
    cdef uint64_t* t_sw_ver       # owned, n_cores: `ver` when t_sw was computed
    cdef uint8_t* sampled         # owned, n_cores: 1 once the core has a sample
    cdef int64_t sum_cpu          # sum of cpu_ns over sampled cores
    cdef uint32_t n_sampled       # number of sampled cores
    cdef int64_t avg_cpu          # sum_cpu // n_sampled (t_avg; 0 before any
                                  # sample), kept by pfo_sched_observe
    cdef uint64_t ver             # bumped by every observation
    cdef pfo_ns_t last_ns         # latest now_ns of start/steer
    cdef readonly uint64_t switches    # flowlet switches made
    cdef readonly uint64_t samples     # delay samples observed
    cdef int busy                 # a Python burst call is running without the GIL
                                  # (observe_burst, steer_burst, or a Breakup burst
                                  # that owns this scheduler): other threads'
                                  # writes are refused

    cdef void c_observe(self, uint16_t core, pfo_ns_t delay_ns) noexcept nogil
        # Fold one processing-delay sample of `core` into T_cpu,core:
        # the first sample is taken as is; later ones by the EWMA
        # T <- T + llround(smoothing * (delay - T)) (double, rounded half away
        # from zero; smoothing 1.0 keeps exactly the last sample).
        # Clamps delay_ns to [0, PFO_SCHED_MAX_DELAY].  Cannot fail.

    cdef pfo_ns_t c_t_avg(self) noexcept nogil
        # floor(mean of T_cpu,i over sampled cores), 0 if none has a sample.

    cdef pfo_ns_t c_t_switch(self, uint16_t core) noexcept nogil
        # Eq. 2 for `core` (see the module comment), cached until the next
        # observation.  PFO_SCHED_NEVER if n_para == 1.

    cdef uint16_t c_start(self, pfo_flowlet_t* f, pfo_hash_t flow_hash,
                          pfo_ns_t now_ns) noexcept nogil
        # Start a flow: rx_id = flow_hash, core = reta[flow_hash & mask] (its
        # RSS core, so the first flowlet goes where the flow went before),
        # since_ns = now_ns.  Returns the core.

    cdef uint16_t c_steer(self, pfo_flowlet_t* f, pfo_ns_t now_ns) noexcept nogil
        # Core for a packet of flow `f` at now_ns.  If the flow has stayed
        # c_t_switch(f.core) on its core (now_ns - f.since_ns >= t_switch), it
        # switches once: rx_id += 1, core = reta[rx_id & mask], since_ns =
        # now_ns.  A constant-rate flow with packets every g ns therefore
        # dwells ceil(t_switch / g) * g on each core.  Returns the core.

    cdef void c_steer_burst(self, pfo_flowlet_t* flows, const int64_t* index,
                            const pfo_ns_t* now_ns, Py_ssize_t n,
                            uint16_t* cores) noexcept nogil
        # cores[i] = c_steer(&flows[index[i]], now_ns[i]) in order.
        # Precondition: every index[i] is a valid position in `flows`.


cdef inline void pfo_sched_observe(FlowletScheduler s, uint16_t core,
                                   pfo_ns_t delay_ns) noexcept nogil:
    # One delay sample of `core` into the EWMA (what s.c_observe does: it
    # calls this), inlined into the caller (no call through the vtable per
    # sample).  Clamped to [0, PFO_SCHED_MAX_DELAY]; the first sample of a
    # core is taken as is; then new = old + round(smoothing * (d - old)),
    # rounded half away from zero (as llround: 2.5 -> 3, -2.5 -> -3,
    # 2.4999 -> 2); |d - old| <= 2**40, so the cast to int64 is exact.
    cdef int64_t d = delay_ns, old, new, r
    cdef double x, fr
    if d < 0:
        d = 0
    elif d > PFO_SCHED_MAX_DELAY:
        d = PFO_SCHED_MAX_DELAY
    if not s.sampled[core]:
        s.sampled[core] = 1
        s.n_sampled += 1
        s.cpu_ns[core] = d
        s.sum_cpu += d
    else:
        old = s.cpu_ns[core]
        if s.smooth_shift >= 0:
            # smoothing = 2**-k: x = (d - old) / 2**k is exact in a double,
            # so its rounding half away from zero is, in integers,
            # sign(d - old) * ((|d - old| + 2**(k-1)) >> k) (2**(k-1) is 0
            # for k = 0).  Example: k = 3, d - old = -12: x = -1.5 -> -2;
            # (12 + 4) >> 3 = 2, negated.  (No int/double conversions: the
            # delay chain of a core is a few cycles instead of about 30.)
            r = d - old
            if r >= 0:
                r = (r + ((<int64_t>1 << s.smooth_shift) >> 1)) >> s.smooth_shift
            else:
                r = -((-r + ((<int64_t>1 << s.smooth_shift) >> 1)) >> s.smooth_shift)
            new = old + r
        else:
            x = s.smoothing * <double>(d - old)
            r = <int64_t>x
            fr = x - <double>r
            new = old + r + (fr >= 0.5) - (fr <= -0.5)
        s.cpu_ns[core] = new
        s.sum_cpu += new - old
    # t_avg, divided here once per sample (off the path of the "switch
    # due?" test that reads it); sum_cpu >= 0, so a power-of-two count is a
    # shift
    if s.n_sampled & (s.n_sampled - 1) == 0:
        s.avg_cpu = s.sum_cpu >> (31 - __builtin_clz(s.n_sampled))
    else:
        s.avg_cpu = s.sum_cpu // s.n_sampled
    s.samples += 1
    s.ver += 1


cdef inline bint pfo_sched_due(FlowletScheduler s, const pfo_flowlet_t* f,
                               pfo_ns_t now_ns) noexcept nogil:
    # Whether flow `f` has stayed t_switch(f.core) on its core at now_ns, i.e.
    # c_steer would switch it now (never when n_para == 1).  The usual case
    # (the core sampled, 0 < t_avg < 2**16, T_cpu > 0) is decided here
    # without dividing: with e = now_ns - since_ns, lo <= hi the bounds and
    # q = floor(N / D) (Eq. 2 before the clamp: N = (A * t_avg**2) >> 32,
    # D = T_cpu * (n_para - 1); A * t_avg**2 < 2**64, and floor(x / (d *
    # 2**32)) = floor((x >> 32) / d)),
    #     e >= clamp(q, lo, hi)  <=>  e >= hi  or  (e >= lo  and  e >= q),
    # and for e >= 0, e >= q  <=>  (e + 1) * D > N, true at once when
    # D > N or e + 1 >= 2**32 (N < 2**32), else a product under 2**64.
    # Example: A = 2**32 (alpha 1), t_avg = 1,500, T_cpu = 1,200, n_para 4:
    # N = 2,250,000, D = 3,600, q = 625; e = 624: 625 * 3,600 = 2,250,000 is
    # not > N, not due; e = 625: due.  Anything else asks c_t_switch (the
    # cached or 128-bit Eq. 2).
    # A core that is not one of this scheduler's (a record written by someone
    # else, or a field at its type's maximum) is due at once: the switch moves
    # the flow to reta[rx_id + 1], a real core, and nothing indexes with it.
    cdef uint16_t c = f.core
    cdef int64_t e, avg, cpu
    cdef uint64_t n, d
    if c >= s.n_cores:
        return True
    if s.n_para <= 1:
        return False
    e = now_ns - f.since_ns
    avg = s.avg_cpu
    cpu = s.cpu_ns[c]
    if s.sampled[c] and 0 < avg < 65536 and cpu > 0:
        if e >= s.t_switch_max_ns:
            return True
        if e < s.t_switch_min_ns:          # lo >= 0, so from here e >= 0
            return False
        n = (s.alpha_fp * <uint64_t>(avg * avg)) >> 32
        d = <uint64_t>cpu * (s.n_para - 1)
        if d > n or e >= <int64_t>0xFFFFFFFF:
            return True
        return <uint64_t>(e + 1) * d > n
    return e >= s.c_t_switch(c)


cdef inline uint16_t pfo_sched_switch(FlowletScheduler s, pfo_flowlet_t* f,
                                      pfo_ns_t now_ns) noexcept nogil:
    # Start the next flowlet of `f` at now_ns: rx_id += 1, core =
    # reta[rx_id & mask], since_ns = now_ns.  Returns the new core.  A caller
    # may delay a due switch (Breakup does, to keep a new elephant on its RSS
    # core until that core has finished the flow's earlier packets).
    f.rx_id += 1
    f.core = pfo_reta_lookup(s.entries, s.reta_mask, f.rx_id)
    f.since_ns = now_ns
    s.switches += 1
    return f.core


cdef inline uint16_t pfo_sched_steer(FlowletScheduler s, pfo_flowlet_t* f,
                                     pfo_ns_t now_ns) noexcept nogil:
    # s.c_steer(f, now_ns), inlined into the caller: the same result.
    if pfo_sched_due(s, f, now_ns):
        return pfo_sched_switch(s, f, now_ns)
    return f.core
