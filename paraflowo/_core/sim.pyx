"""The simulator's event loop: FIFO cores, drop-tail RX queues, egress in time order.

See ``sim.pxd`` for the model.  :class:`SimCore` is driven by
:func:`paraflowo.sim.simulate`; it is public for Cython users who want to feed
their own arrivals.
"""

from libc.math cimport floor, llround
from libc.stdint cimport (INT64_MAX, int16_t, int32_t, int64_t, uint8_t, uint16_t, uint32_t,
                          uint64_t, uintptr_t)

import numpy as np

from paraflowo._checks import require_array, require_int
from paraflowo._core._boundary cimport pfo_guard, pfo_raise_busy, pfo_raise_uninit
from paraflowo._core._types cimport pfo_handle_t, pfo_ns_t, PFO_FLAG_PARA
from paraflowo._core.hashing cimport IndirectionTable, pfo_reta_lookup
from paraflowo._core._types cimport pfo_fmix64, pfo_meta_t
from paraflowo._core.breakup cimport (
    Breakup, _brk_busy_part, _brk_mark, pfo_brk_feedback, pfo_brk_step)
from paraflowo._core.detectors cimport CountMinDetector, pfo_cm_update_runs
from paraflowo._core.metacache cimport PacketStore, pfo_store_free, pfo_store_put
from paraflowo._core.scheduler cimport FlowletScheduler
from paraflowo._core.reorder cimport (
    PFO_NS_NEVER, PFO_ROB_BUFFERED, PFO_ROB_DROPPED, PFO_ROB_FULL, PFO_ROB_LATE,
    ReorderQueues, pfo_rob_drain, pfo_rob_flush, pfo_rob_next_deadline, pfo_rob_pass,
    pfo_robq_drain, pfo_robq_insert, pfo_robq_touch)

POLICIES = {"rss": PFO_SIM_RSS, "spray": PFO_SIM_SPRAY, "rsspp": PFO_SIM_RSSPP,
            "paraflowo": PFO_SIM_PARAFLOWO}
#: Length of the latency histogram returned by :meth:`SimCore.stats`.
HIST_LEN = PFO_SIM_HIST_LEN

# Bounds that keep the event loop's arithmetic inside int64 (checked once, at
# the Python entry points): a core's backlog is at most rx_queue (<= 2**24)
# services of <= 2**36 ns, so core_free <= 2**62 + 2**60 < 2**63; the bins
# span n_bins * bin_ns <= 2**62.
cdef int64_t _MAX_SERVICE_NS = (<int64_t>1) << 36
cdef int64_t _MAX_TIME_NS = (<int64_t>1) << 62
cdef double _MAX_EXPD = 64.0   # a unit-exponential draw above 64 has probability e**-64


cdef bint _arrivals_ok(const int64_t* t, const int32_t* f, Py_ssize_t n, int64_t prev,
                       uint32_t n_flows) noexcept nogil:
    # SimCore.run's check of a chunk, without a branch per arrival: the terms
    # below are or-ed (loops the compiler vectorises) and only the top bits of
    # the results are looked at, once.  True means prev <= t[0] <= ... <=
    # t[n-1] < 2**62 and every f[i] is in [0, n_flows); False means "look
    # one by one" (a time of exactly 2**62, which is allowed, also gives
    # False: the caller's exact loop then finds nothing wrong).
    # (n >= 1, 0 <= prev <= 2**62, 1 <= n_flows <= 2**31.)
    #  * times: each t and each step t[i] - t[i-1] (t[0] - prev for the
    #    first).  With every t in [0, 2**62) the steps are in (-2**62, 2**62),
    #    so a step back sets bits 62 and 63 and nothing wraps; a t outside
    #    sets one of them itself.  Example: prev 0, t = 5, 3: 3 - 5 = -2 =
    #    0xFFFF...FE.
    #  * flows, unsigned 32-bit: f (negative: top bit) and (n_flows - 1) - f,
    #    which wraps to at least 2**31 for f in [n_flows, 2**31).  Example:
    #    n_flows 10, f = 12: 9 - 12 = 2**32 - 3, top bit set.
    cdef uint64_t a = <uint64_t>t[0] | (<uint64_t>t[0] - <uint64_t>prev)
    cdef uint32_t b = 0, last = n_flows - 1
    cdef Py_ssize_t i
    for i in range(1, n):
        a |= <uint64_t>t[i] | (<uint64_t>t[i] - <uint64_t>t[i - 1])
    for i in range(n):
        b |= <uint32_t>f[i] | (last - <uint32_t>f[i])
    return (a >> 62) == 0 and (b >> 31) == 0


cdef inline int _sim_live(SimCore self) except -1:
    # Every method that reads or drives the SimCore, first: made by
    # __init__, and not in another thread's run or flush (_sim_enter)
    if not self.ready:
        pfo_raise_uninit(self)
    pfo_guard(self.in_use, self)
    return 0


cdef int _sim_enter(SimCore self) except -1:
    # The thread contract (docs: conventions): while run or flush drives the
    # loop without the GIL, every other call on this SimCore raises
    # RuntimeError, and so does every call on the Breakup (its detector,
    # allocator and scheduler) and ReorderQueues a paraflowo SimCore drives;
    # a part already in use elsewhere refuses the run.  Under the GIL.
    cdef Breakup b = self.brk
    pfo_guard(self.in_use, self)
    if b is not None:
        part = _brk_busy_part(b, True)
        if part is not None:
            pfo_raise_busy(part)
        pfo_guard(self.rq.busy, self.rq)
        _brk_mark(b, True, 1)
        self.rq.busy = 1       # and its buffers (they check their owner's flag)
    self.in_use = 1
    return 0


cdef void _sim_leave(SimCore self):
    # _sim_enter undone (in a finally, under the GIL)
    self.in_use = 0
    if self.brk is not None:
        _brk_mark(self.brk, True, 0)
        self.rq.busy = 0


#: Length of each flow's latency histogram in :meth:`SimCore.flow_stats`.
FLOW_HIST_LEN = PFO_SIM_FHIST_LEN


def flow_hist_lower_bounds():
    """Lower bound (ns) of each per-flow latency bucket, ``int64[FLOW_HIST_LEN]``.

    Exact below 16 ns, then 8 buckets per power of two (relative width 1/8).
    """
    idx = np.arange(PFO_SIM_FHIST_LEN, dtype=np.int64)
    out = idx.copy()
    hi = idx >= 16
    shift = (idx[hi] - 16) // 8 + 1
    top = (idx[hi] - 16) % 8 + 8
    out[hi] = top << shift
    return out


def hist_lower_bounds():
    """Lower bound (ns) of each latency histogram bucket, ``int64[HIST_LEN]``."""
    idx = np.arange(PFO_SIM_HIST_LEN, dtype=np.int64)
    out = idx.copy()
    hi = idx >= 2048
    shift = (idx[hi] - 2048) // 1024 + 1
    top = (idx[hi] - 2048) % 1024 + 1024
    out[hi] = top << shift
    return out


cdef int64_t* _ptr64(list keep, object arr):
    keep.append(arr)
    cdef int64_t[::1] v = arr
    return &v[0]


# The event loop's steps, by job (module-level functions of a SimCore: Cython
# cannot include a file inside a class body).
include "sim_egress.pxi"
include "sim_paraflowo.pxi"
include "sim_rsspp.pxi"
include "sim_loop.pxi"


cdef class SimCore:
    """One policy's dataplane: cores, RX queues, steering and egress.

    Parameters
    ----------
    policy : {"rss", "spray", "rsspp", "paraflowo"}
        Steering policy.
    service_ns : numpy.ndarray
        ``int64`` service time per core, ns (>= 1); the core count is its length.
    rx_queue : int
        Waiting packets each RX queue holds (the one in service is extra).
    flow_hash : numpy.ndarray
        ``uint32`` Toeplitz hash of each flow's 5-tuple.
    n_bins, bin_ns : int
        Utilization is accumulated in ``n_bins`` bins of ``bin_ns`` ns.
    reta : IndirectionTable
        The RSS indirection table (copied; ``rsspp`` migrates the copy).
    exponential : bool, default False
        Exponential service times: each arrival's unit-exponential draw times
        the core's mean.  Otherwise deterministic.
    service_mean : numpy.ndarray, optional
        ``float64`` mean service time per core (exponential service).
    period_ns : int, default 100_000_000
        ``rsspp`` rebalance period.
    target_load : float, default 0.0
        ``rsspp``: a core gives away buckets only when its load (busy
        fraction over the period) is above ``max(target_load, mean load)``;
        0 balances to the mean.
    imbalance : float, default 0.0
        ``rsspp``: a period rebalances only when the busiest and the idlest
        core's loads differ by more than this.
    paraflowo : dict, optional
        Required for (and only for) ``"paraflowo"``: ``{"breakup": Breakup,
        "reorder": ReorderQueues, "flow_key": uint64[n_flows], "flow_len":
        uint16[n_flows], "notify_drops": bool, "reorder_enabled": bool}`` (``reorder_enabled``
        False forwards tagged packets at egress as they complete, unordered).  The components are driven
        through their ``cimport`` API; :func:`paraflowo.simulate` builds them
        from a scenario's ``[paraflowo]`` table.

    Notes
    -----
    Cost per packet: a RETA lookup, a scan of the cores' ring heads per
    completion (fast for 4..64 cores), a histogram increment, the per-flow
    counters (:meth:`flow_stats`) and one entry of the flow's receive history;
    a reordered packet adds a binary search of that history (RFC 4737 extent)
    and a backward scan as long as its n-reordering degree.  No allocation
    and no Python object per packet; :meth:`run` releases the GIL.

    Memory per flow: ``history`` (1024 for up to 2048 flows, halved as the
    flows double, at least 8) receive-history entries of 8 bytes, and a
    488-bucket latency histogram of 8-byte counters while the flows number
    at most 8594 (beyond, none: per-flow percentiles are unavailable).

    Thread safety: one SimCore, one thread at a time.  While :meth:`run` or
    :meth:`flush` is in its loop without the GIL, every other method call on
    it (``__init__`` included) raises :class:`RuntimeError`, and so does
    every call on the ``Breakup`` (detector, allocator, scheduler) and
    ``ReorderQueues`` a ``paraflowo`` SimCore drives; a run over such a part
    in use elsewhere is refused the same way.  Different SimCores run in
    parallel threads (the runner gives each policy its own).
    """

    def __init__(self, policy, service_ns, rx_queue, flow_hash, n_bins, bin_ns,
                 IndirectionTable reta not None, exponential=False, service_mean=None,
                 period_ns=100_000_000, paraflowo=None, target_load=0.0, imbalance=0.0):
        pfo_guard(self.in_use, self)    # its arrays are in use by a running loop
        self.ready = False
        if not isinstance(policy, str):
            raise TypeError(f"policy must be a str, got {policy!r}")
        if policy not in POLICIES:
            raise ValueError(
                f"policy must be one of rss, spray, rsspp, paraflowo, got {policy!r}")
        if (policy == "paraflowo") != (paraflowo is not None):
            raise ValueError("paraflowo components must be given for policy 'paraflowo' "
                             "(and only for it)")
        self.policy = POLICIES[policy]
        require_array("service_ns", service_ns, np.int64)
        if service_ns.shape[0] < 1 or service_ns.shape[0] > 4096:
            raise ValueError(f"service_ns must have 1 to 4096 cores, got {service_ns.shape[0]}")
        if (service_ns < 1).any() or (service_ns > _MAX_SERVICE_NS).any():
            bad = service_ns[(service_ns < 1) | (service_ns > _MAX_SERVICE_NS)][0]
            raise ValueError(f"service_ns must be in [1, 2**36] ns, got {bad}")
        self.n_cores = service_ns.shape[0]
        if reta.n_queues != self.n_cores:
            raise ValueError(f"reta must have {self.n_cores} queues, got {reta.n_queues}")
        self.rx_queue = require_int("rx_queue", rx_queue, 1, 1 << 24)
        require_array("flow_hash", flow_hash, np.uint32)
        self.n_flows = flow_hash.shape[0]
        if self.n_flows < 1:
            raise ValueError("flow_hash must hold at least one flow, got 0")
        self.n_bins = require_int("n_bins", n_bins, 1, 1 << 24)
        self.bin_ns = require_int("bin_ns", bin_ns, 1, _MAX_TIME_NS // self.n_bins)
        self.period_ns = require_int("period_ns", period_ns, 1, _MAX_TIME_NS)
        self.exponential = bool(exponential)
        for name, v in (("target_load", target_load), ("imbalance", imbalance)):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0.0 <= v <= 1.0:
                raise ValueError(f"{name} must be a number in [0, 1], got {v!r}")
        self.target_load = target_load
        self.imbalance = imbalance
        self._keep = []
        cdef list k = self._keep
        cdef int nc = self.n_cores
        self.svc_ns = _ptr64(k, np.ascontiguousarray(service_ns, dtype=np.int64).copy())
        mean = (service_ns.astype(np.float64) if service_mean is None
                else np.ascontiguousarray(service_mean, dtype=np.float64).copy())
        if mean.shape != (nc,) or not ((mean > 0) & (mean <= _MAX_SERVICE_NS)).all():
            raise ValueError(f"service_mean must be {nc} floats in (0, 2**36], got {service_mean!r}")
        k.append(mean)
        cdef double[::1] mv = mean
        self.svc_mean = &mv[0]
        cdef int64_t ring = 1
        while ring < self.rx_queue + 1:
            ring <<= 1
        self.ring_mask = ring - 1
        rings = np.zeros(nc * ring * sizeof(pfo_sim_pkt_t), dtype=np.uint8)
        k.append(rings)
        cdef unsigned char[::1] rv = rings
        self.rings = <pfo_sim_pkt_t*>&rv[0]
        self.head = _ptr64(k, np.zeros(nc, np.int64))
        self.tail = _ptr64(k, np.zeros(nc, np.int64))
        self.core_free = _ptr64(k, np.zeros(nc, np.int64))
        # at least 4 entries: _refresh_next's tournament reads 4 (the extra
        # ones stay PFO_NS_NEVER)
        self.head_finish = _ptr64(k, np.full(max(nc, 4), PFO_NS_NEVER, np.int64))
        # one more row than the bins: each core's scratch cell past the last
        # bin (_account_busy_bins), never reported
        self.busy = _ptr64(k, np.zeros((self.n_bins + 1) * nc, np.int64))
        self.cur_bin = _ptr64(k, np.zeros(nc, np.int64))
        self.cur_end = _ptr64(k, np.full(nc, self.bin_ns, np.int64))
        cells = np.zeros(nc, np.uintp)
        k.append(cells)
        cdef uintptr_t[::1] cellv = cells
        cdef Py_ssize_t ci
        self.cur_cell = <int64_t**>&cellv[0]
        for ci in range(nc):
            self.cur_cell[ci] = &self.busy[ci]      # bin 0 (n_bins >= 1)
        fh = flow_hash.copy()
        k.append(fh)
        cdef uint32_t[::1] fv = fh
        self.flow_hash = &fv[0]
        self.flow_seq = _ptr64(k, np.zeros(self.n_flows, np.int64))
        self.flow_maxrel = _ptr64(k, np.full(self.n_flows, -1, np.int64))
        self.flow_ooo = _ptr64(k, np.zeros(self.n_flows, np.int64))
        cdef Py_ssize_t nf = self.n_flows
        # receive history for RFC 4737: as many entries per flow as the budget
        # allows (a power of two in [8, 1024]); an extent beyond it is a lower bound
        h = 1024
        while h > 8 and h * nf > PFO_SIM_HIST_BUDGET:
            h >>= 1
        self.history = h
        self.flow_rcv = _ptr64(k, np.zeros(nf, np.int64))
        hring = np.zeros(2 * nf * h, np.uint32)
        k.append(hring)
        cdef uint32_t[::1] ringv = hring
        self.hist_ring = &ringv[0]
        self.flow_ext_max = _ptr64(k, np.zeros(nf, np.int64))
        self.flow_ext_sum = _ptr64(k, np.zeros(nf, np.int64))
        self.flow_n3 = _ptr64(k, np.zeros(nf, np.int64))
        self.nreo = _ptr64(k, np.zeros(PFO_SIM_NREO + 1, np.int64))
        self.flow_dropped = _ptr64(k, np.zeros(nf, np.int64))
        self.flow_lat_sum = _ptr64(k, np.zeros(nf, np.int64))
        self.flow_lat_max = _ptr64(k, np.zeros(nf, np.int64))
        # per-flow latency histograms while they fit twice that budget (32 MiB:
        # up to 8594 flows); beyond, flow_stats reports None
        self.flow_hist = (_ptr64(k, np.zeros(nf * PFO_SIM_FHIST_LEN, np.int64))
                          if nf * PFO_SIM_FHIST_LEN <= 2 * PFO_SIM_HIST_BUDGET else NULL)
        self.dropped = _ptr64(k, np.zeros(nc, np.int64))
        self.hist = _ptr64(k, np.zeros(PFO_SIM_HIST_LEN, np.int64))
        self.next_core = -1
        self.next_t = PFO_NS_NEVER
        self.now = 0
        self.reta = IndirectionTable(nc, reta.size)
        self.reta.set_entries(reta.entries_array())
        self.reta_entries = self.reta.entries
        self.reta_mask = self.reta.mask
        self.next_period = self.period_ns
        self.bucket_cnt = _ptr64(k, np.zeros(reta.size, np.int64))
        self.bucket_last = _ptr64(k, np.zeros(reta.size, np.int64))
        ld = np.zeros(nc, np.float64)
        k.append(ld)
        cdef double[::1] lv = ld
        self.load = &lv[0]
        sn = np.zeros(reta.size, np.uint8)
        k.append(sn)
        cdef unsigned char[::1] sv = sn
        self.seen = <char*>&sv[0]
        cd = np.zeros(nc, np.uint8)
        k.append(cd)
        cdef unsigned char[::1] cdv = cd
        self.core_done = <char*>&cdv[0]
        if paraflowo is not None:
            self._init_paraflowo(paraflowo)
        self.ready = True

    def _init_paraflowo(self, cfg):
        # part of __init__ only: a flow's first arrival is taken as
        # flow_seq[f] == 0 (sim.pxd), so flow_first must not be made again
        # for flows that already arrived
        pfo_guard(self.in_use, self)
        if self.ready:
            raise RuntimeError("SimCore._init_paraflowo is part of __init__: it cannot be "
                               "called on a SimCore already made (call __init__ instead)")
        if not isinstance(cfg, dict):
            raise TypeError(f"paraflowo must be a dict, got {type(cfg).__name__}")
        for key, cls in (("breakup", Breakup), ("reorder", ReorderQueues)):
            if not isinstance(cfg.get(key), cls):
                raise TypeError(f"paraflowo[{key!r}] must be a {cls.__name__}, "
                                f"got {type(cfg.get(key)).__name__}")
        for key in ("flow_key", "flow_len"):
            if key not in cfg:
                raise ValueError(f"paraflowo must have the key {key!r}, got keys {sorted(cfg)}")
        cdef list k = self._keep
        cdef Py_ssize_t nf = self.n_flows
        self.brk = cfg["breakup"]
        det = self.brk.detector
        self.cm_det = det if type(det) is CountMinDetector else None
        self.sched = self.brk.scheduler
        self.rq = cfg["reorder"]
        if self.sched.n_cores != self.n_cores:
            raise ValueError(f"scheduler must have {self.n_cores} cores, "
                             f"got {self.sched.n_cores}")
        if self.rq.n_queues < self.brk.allocator.n_queues:
            raise ValueError(f"reorder must have at least the allocator's "
                             f"{self.brk.allocator.n_queues} queues, got {self.rq.n_queues}")
        if self.rq.buffers[0].psn_bits != self.brk.allocator.psn_bits:
            raise ValueError("reorder and allocator must use the same psn_bits")
        self.robq = &self.rq.q
        self.notify_drops = bool(cfg.get("notify_drops", True))
        self.reorder = bool(cfg.get("reorder_enabled", True))
        key = np.ascontiguousarray(cfg["flow_key"], dtype=np.uint64).copy()
        ln = np.ascontiguousarray(cfg["flow_len"], dtype=np.uint16).copy()
        if key.shape != (nf,) or ln.shape != (nf,):
            raise ValueError(f"flow_key and flow_len must have {nf} entries")
        k.extend([key, ln])
        cdef uint64_t[::1] kv = key
        cdef uint16_t[::1] lv = ln
        self.flow_key = &kv[0]
        self.flow_len = &lv[0]
        home = np.empty(nf, np.uint32)
        k.append(home)
        cdef uint32_t[::1] hv = home
        for j in range(nf):
            hv[j] = <uint32_t>pfo_fmix64(kv[j])
        self.flow_home = &hv[0]
        self.flow_first = _ptr64(k, np.full(nf, -1, np.int64))
        self.flow_detect = _ptr64(k, np.full(nf, -1, np.int64))
        window = self.rq.buffers[0].window
        # a queue holds at most `window` packets in its ring plus `window`
        # passed by the head and not yet drained
        self.store_cap = 2 * window * self.rq.n_queues + 16
        # the packet store (the library's PacketStore): a held packet's record
        # stays in a slot, its reorder queue holds only the slot's handle
        self.pstore = PacketStore(self.store_cap, sizeof(pfo_sim_pkt_t))
        self.pst = &self.pstore.st
        self.drain_cap = 2 * window + 16
        do = np.zeros(self.drain_cap, np.uint64)
        k.append(do)
        cdef uint64_t[::1] dov = do
        self.drain_out = <pfo_handle_t*>&dov[0]
        self.egress_now = 0
        self.rob_dl = PFO_NS_NEVER

    # ------------------------------------------------------------------- loop
    cdef int c_run(self, const int64_t* times, const int32_t* flows, const double* expd,
                   Py_ssize_t n, int16_t* tr_core, int64_t* tr_finish) noexcept nogil:
        # one copy of the loop per policy (sim_loop.pxi: fused on a tag type)
        cdef _pol_rss rss
        cdef _pol_spray spray
        cdef _pol_rsspp rsspp
        cdef _pol_para para
        if self.policy == PFO_SIM_PARAFLOWO:
            return _run_loop(self, times, flows, expd, n, tr_core, tr_finish, &para)
        if self.policy == PFO_SIM_SPRAY:
            return _run_loop(self, times, flows, expd, n, tr_core, tr_finish, &spray)
        if self.policy == PFO_SIM_RSSPP:
            return _run_loop(self, times, flows, expd, n, tr_core, tr_finish, &rsspp)
        return _run_loop(self, times, flows, expd, n, tr_core, tr_finish, &rss)

    cdef void c_flush(self) noexcept nogil:
        cdef pfo_ns_t inf = 0x7FFFFFFFFFFFFFFF - 1
        cdef uint32_t q
        cdef Py_ssize_t n, i
        cdef pfo_sim_pkt_t* s
        _complete_until(self, inf)
        if self.policy != PFO_SIM_PARAFLOWO:
            return
        # end of the run: whatever a queue still holds (waiting for a PSN that
        # never came, with no timeout configured) is released in PSN order
        for q in range(self.robq.n_queues):
            while True:
                n = pfo_rob_flush(self.robq.robs[q], self.drain_out, self.drain_cap)
                for i in range(n):
                    s = _held_rec(self, self.drain_out[i])
                    _release(self, s, self.egress_now)
                    self.held -= 1
                    self.held_bytes -= s.length
                    self.flushed_at_end += 1
                    if self.drain_out[i] != PFO_SIM_NO_SLOT:
                        pfo_store_free(self.pst, <uint32_t>self.drain_out[i])
                if n < self.drain_cap:
                    break

    # ----------------------------------------------------------------- Python
    def run(self, times, flows, expd=None, trace_core=None, trace_finish=None):
        """Process one chunk of arrivals, sorted by time.

        Parameters
        ----------
        times : numpy.ndarray
            ``int64`` arrival times, ns, non-decreasing, not before the last
            time of the previous chunk.
        flows : numpy.ndarray
            ``int32`` flow id of each arrival, in ``[0, n_flows)``.
        expd : numpy.ndarray, optional
            ``float64`` unit-exponential draw per arrival (exponential service).
        trace_core, trace_finish : numpy.ndarray, optional
            ``int16`` / ``int64`` outputs: each arrival's core and finish time
            (``-1`` when dropped).

        Returns
        -------
        int
            Arrivals processed.

        Raises
        ------
        TypeError, ValueError
            Wrong dtypes or lengths, unsorted times, flow ids out of range.
        RuntimeError
            Another thread is in this SimCore's ``run`` or ``flush`` (or
            drives the Breakup or ReorderQueues it runs): one SimCore, one
            thread at a time (docs: conventions, the thread contract).
        """
        _sim_live(self)
        require_array("times", times, np.int64)
        require_array("flows", flows, np.int32)
        cdef Py_ssize_t n = times.shape[0], i
        if flows.shape[0] != n:
            raise ValueError(f"flows must have length {n}, got {flows.shape[0]}")
        if self.exponential:
            if expd is None:
                raise ValueError("expd is required with exponential service")
            require_array("expd", expd, np.float64)
            if expd.shape[0] != n:
                raise ValueError(f"expd must have length {n}, got {expd.shape[0]}")
        if (trace_core is None) != (trace_finish is None):
            raise ValueError("trace_core and trace_finish must be given together")
        if trace_core is not None:
            require_array("trace_core", trace_core, np.int16)
            require_array("trace_finish", trace_finish, np.int64)
            for name, arr in (("trace_core", trace_core), ("trace_finish", trace_finish)):
                if arr.shape[0] != n:
                    raise ValueError(f"{name} must have length {n}, got {arr.shape[0]}")
                if not arr.flags.writeable:       # the loop writes into both
                    raise ValueError(f"{name} must be writable, got a read-only array")
        if n == 0:
            return 0
        cdef const int64_t[::1] tv = times
        cdef const int32_t[::1] fv = flows
        cdef const double[::1] ev
        cdef int16_t[::1] tc
        cdef int64_t[::1] tf
        cdef const double* ep = NULL
        cdef int16_t* tcp = NULL
        cdef int64_t* tfp = NULL
        cdef Py_ssize_t bad = -1
        cdef int64_t prev
        cdef uint32_t unf = <uint32_t>min(self.n_flows, <Py_ssize_t>1 << 31)
        cdef int64_t x
        if trace_core is not None:
            tc = trace_core
            tf = trace_finish
            tcp = &tc[0]
            tfp = &tf[0]
        if expd is not None and self.exponential:
            ev = expd
            ep = &ev[0]
        # claimed before the chunk is checked against self.now: no other
        # thread's run can move it between the check and the loop
        _sim_enter(self)
        try:
            prev = self.now
            with nogil:
                if not _arrivals_ok(&tv[0], &fv[0], n, prev, unf):
                    # the first arrival that breaks the contract, for the
                    # message (a negative flow id is a large unsigned one)
                    for i in range(n):
                        x = tv[i]
                        if (x < prev) | (x > _MAX_TIME_NS) | (<uint32_t>fv[i] >= unf):
                            bad = i
                            break
                        prev = x
            if bad >= 0:
                if not 0 <= flows[bad] < self.n_flows:
                    raise ValueError(f"flows must be in [0, {self.n_flows}), got {flows[bad]}")
                if times[bad] > _MAX_TIME_NS:
                    raise ValueError(
                        f"times must be at most 2**62, got {times[bad]} at index {bad}")
                raise ValueError(f"times must be non-decreasing and >= {self.now}, "
                                 f"got {times[bad]} at index {bad}")
            if ep != NULL:
                with nogil:
                    for i in range(n):
                        if not (0.0 <= ep[i] <= _MAX_EXPD):     # NaN fails too
                            bad = i
                            break
                if bad >= 0:
                    raise ValueError(f"expd must be in [0, 64], got {expd[bad]} at index {bad}")
            with nogil:
                self.c_run(&tv[0], &fv[0], ep, n, tcp, tfp)
        finally:
            _sim_leave(self)
        return n

    def derive_timeout(self, cap_ns, floor_ns, gain, slice_arrivals):
        """Derive the reorder timeout from the core delays inside the loop (paraflowo).

        From now on, after every ``slice_arrivals`` arrivals of a :meth:`run`
        call and after its last arrival, the reorder queues' timeout becomes
        ``clamp(gain * max_i T_cpu,i, floor_ns, cap_ns)`` (the scheduler's
        smoothed delays of the sampled cores; nothing before the first
        sample) whenever that moved by more than 1/8 of the current value:
        exactly :meth:`paraflowo.sim.timeout.AdaptiveTimeout.update` called
        between runs of ``slice_arrivals`` arrivals, without leaving the
        loop.  The queues' timeout is set to ``cap_ns`` now.

        Parameters
        ----------
        cap_ns, floor_ns : int
            Clamp, ns, ``1 <= floor_ns <= cap_ns <= 2**62``.
        gain : int
            Multiplier of the largest smoothed delay, in ``[1, 2**20]``.
        slice_arrivals : int
            Arrivals between two updates, in ``[1, 2**30]``.

        Raises
        ------
        TypeError, ValueError
            A parameter out of range, or the policy is not ``"paraflowo"``.

        See Also
        --------
        derived_timeout : the current value, its range and the number of changes.
        """
        _sim_live(self)
        cdef int64_t cap = require_int("cap_ns", cap_ns, 1, (<int64_t>1) << 62)
        cdef int64_t floor_v = require_int("floor_ns", floor_ns, 1, cap)
        cdef int64_t g = require_int("gain", gain, 1, (<int64_t>1) << 20)
        cdef int64_t sl = require_int("slice_arrivals", slice_arrivals, 1, (<int64_t>1) << 30)
        if self.policy != PFO_SIM_PARAFLOWO:
            raise ValueError(f"derive_timeout needs a SimCore of policy 'paraflowo', got "
                             f"policy {next(k for k, v in POLICIES.items() if v == self.policy)!r}")
        self.auto_gain = g
        self.auto_slice = sl
        self.auto_cap = cap
        self.auto_floor = floor_v
        self.rq.set_timeout(cap)
        self.auto_value = self.auto_low = self.auto_high = cap
        self.auto_changes = 0

    def derived_timeout(self):
        """``(value_ns, low_ns, high_ns, changes)`` of the derived timeout; None if off."""
        pfo_guard(self.in_use, self)
        if self.auto_slice == 0:
            return None
        return (self.auto_value, self.auto_low, self.auto_high, self.auto_changes)

    def flush(self):
        """Deliver every queued packet to egress (call once, after the last chunk)."""
        if not self.ready:
            pfo_raise_uninit(self)
        _sim_enter(self)
        try:
            with nogil:
                self.c_flush()
        finally:
            _sim_leave(self)

    def stats(self):
        """Counters as a dict of numpy arrays and ints (copies)."""
        _sim_live(self)
        nc = self.n_cores
        return {
            "busy_ns": np.asarray(<int64_t[:self.n_bins * nc]>self.busy).reshape(
                self.n_bins, nc).copy(),
            # (counted once, by the ring indexes and the drops, not per packet)
            "arrived": (np.asarray(<int64_t[:nc]>self.tail)
                        + np.asarray(<int64_t[:nc]>self.dropped)),
            "completed": np.asarray(<int64_t[:nc]>self.head).copy(),
            "dropped": np.asarray(<int64_t[:nc]>self.dropped).copy(),
            "latency_hist": np.asarray(<int64_t[:PFO_SIM_HIST_LEN]>self.hist).copy(),
            "released": int(np.asarray(<int64_t[:self.n_flows]>self.flow_rcv).sum()),
            "out_of_order": self.ooo,
            "flow_out_of_order": np.asarray(<int64_t[:self.n_flows]>self.flow_ooo).copy(),
            "migrations": self.migrations,
            "rebalances": self.rebalances,
            "balanced_periods": self.balanced_periods,
            "n_reordering": np.asarray(<int64_t[:PFO_SIM_NREO + 1]>self.nreo).copy(),
            "extent_capped": self.ext_capped,
            "history": self.history,
            "reta": self.reta.entries_array(),
        }

    def flow_stats(self):
        """Per-flow counters (copies), the FlowMonitor-style table's columns.

        ``arrived``, ``dropped``, ``released``, ``out_of_order`` (RFC 4737
        Type-P-Reordered packets), ``extent_max`` / ``extent_sum`` (RFC 4737
        reordering extent of those packets), ``n3_reordered`` (packets whose
        n-reordering degree is >= 3), ``latency_sum_ns``, ``latency_max_ns``
        and ``latency_hist`` (``int64[n_flows, FLOW_HIST_LEN]``, see
        :func:`flow_hist_lower_bounds`; ``None`` when the flows are too many
        for the memory budget).
        """
        _sim_live(self)
        nf = self.n_flows
        return {
            "arrived": np.asarray(<int64_t[:nf]>self.flow_seq).copy(),
            "dropped": np.asarray(<int64_t[:nf]>self.flow_dropped).copy(),
            "released": np.asarray(<int64_t[:nf]>self.flow_rcv).copy(),
            "out_of_order": np.asarray(<int64_t[:nf]>self.flow_ooo).copy(),
            "extent_max": np.asarray(<int64_t[:nf]>self.flow_ext_max).copy(),
            "extent_sum": np.asarray(<int64_t[:nf]>self.flow_ext_sum).copy(),
            "n3_reordered": np.asarray(<int64_t[:nf]>self.flow_n3).copy(),
            "latency_sum_ns": np.asarray(<int64_t[:nf]>self.flow_lat_sum).copy(),
            "latency_max_ns": np.asarray(<int64_t[:nf]>self.flow_lat_max).copy(),
            "latency_hist": None if self.flow_hist == NULL else np.asarray(
                <int64_t[:nf * PFO_SIM_FHIST_LEN]>self.flow_hist).reshape(
                    nf, PFO_SIM_FHIST_LEN).copy(),
        }

    def paraflowo_stats(self):
        """ParaFlowO counters: reorder queues, ingress components, detection times."""
        _sim_live(self)
        if self.policy != PFO_SIM_PARAFLOWO:
            raise ValueError("paraflowo_stats needs policy 'paraflowo'")
        nf = self.n_flows
        return {
            "reorder": self.rq.stats,
            "held": self.held,
            "peak_held": self.peak_held,
            "peak_bytes_full": self.peak_bytes_full,
            "para_packets": self.para_packets,
            "fallbacks": self.brk.allocator.fallbacks + self.brk.table_full,
            "para_flows": self.brk.para_flows,
            "forwarded_late": self.forwarded_late,
            "store_overflow": self.store_overflow,
            "store_peak_used": self.pst.peak_used,
            "flushed_at_end": self.flushed_at_end,
            "fast_unreleased": self.fast_unreleased,
            "switches": self.sched.switches,
            "holds": self.brk.holds,
            "flow_first_ns": np.asarray(<int64_t[:nf]>self.flow_first).copy(),
            "flow_detect_ns": np.asarray(<int64_t[:nf]>self.flow_detect).copy(),
        }


include "sim_traffic.pxi"
