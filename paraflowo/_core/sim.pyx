"""The simulator's event loop: FIFO cores, drop-tail RX queues, egress in time order.

See ``sim.pxd`` for the model.  :class:`SimCore` is driven by
:func:`paraflowo.sim.simulate`; it is public for Cython users who want to feed
their own arrivals.
"""

from libc.math cimport floor, llround
from libc.stdint cimport int16_t, int32_t, int64_t, uint8_t, uint16_t, uint32_t, uint64_t

import numpy as np

from paraflowo._checks import require_array, require_int
from paraflowo._core._boundary cimport pfo_raise_uninit
from paraflowo._core._types cimport pfo_handle_t, pfo_ns_t, PFO_FLAG_PARA
from paraflowo._core.hashing cimport IndirectionTable, pfo_reta_lookup
from paraflowo._core._types cimport pfo_meta_t
from paraflowo._core.breakup cimport Breakup
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
    """

    def __init__(self, policy, service_ns, rx_queue, flow_hash, n_bins, bin_ns,
                 IndirectionTable reta not None, exponential=False, service_mean=None,
                 period_ns=100_000_000, paraflowo=None, target_load=0.0, imbalance=0.0):
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
        self.head_finish = _ptr64(k, np.full(nc, PFO_NS_NEVER, np.int64))
        self.busy = _ptr64(k, np.zeros(self.n_bins * nc, np.int64))
        self.cur_bin = _ptr64(k, np.zeros(nc, np.int64))
        self.cur_end = _ptr64(k, np.full(nc, self.bin_ns, np.int64))
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
        self.flow_arrived = _ptr64(k, np.zeros(nf, np.int64))
        self.flow_dropped = _ptr64(k, np.zeros(nf, np.int64))
        self.flow_lat_sum = _ptr64(k, np.zeros(nf, np.int64))
        self.flow_lat_max = _ptr64(k, np.zeros(nf, np.int64))
        # per-flow latency histograms while they fit twice that budget (32 MiB:
        # up to 8594 flows); beyond, flow_stats reports None
        self.flow_hist = (_ptr64(k, np.zeros(nf * PFO_SIM_FHIST_LEN, np.int64))
                          if nf * PFO_SIM_FHIST_LEN <= 2 * PFO_SIM_HIST_BUDGET else NULL)
        self.arrived = _ptr64(k, np.zeros(nc, np.int64))
        self.completed = _ptr64(k, np.zeros(nc, np.int64))
        self.dropped = _ptr64(k, np.zeros(nc, np.int64))
        self.hist = _ptr64(k, np.zeros(PFO_SIM_HIST_LEN, np.int64))
        self.next_core = -1
        self.next_t = 0
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

    # ------------------------------------------------------------------ egress
    cdef inline void _refresh_next(self) noexcept nogil:
        # earliest pending completion over the cores (ties: lower core)
        cdef int c, best = -1
        cdef pfo_ns_t bt = PFO_NS_NEVER
        for c in range(self.n_cores):
            if self.head_finish[c] < bt:
                best = c
                bt = self.head_finish[c]
        self.next_core = best
        self.next_t = bt

    cdef inline void _release(self, const pfo_sim_pkt_t* p, pfo_ns_t t) noexcept nogil:
        # the packet leaves egress at t: latency and per-flow order.  A packet
        # below the highest sequence number its flow released is RFC 4737's
        # Type-P-Reordered (out_of_order); the receive history then gives its
        # extent and n-reordering degree.
        cdef int64_t lat = t - p.ingress_ns
        cdef int32_t f = p.flow
        cdef int64_t slot
        self.hist[pfo_sim_hist_index(lat)] += 1
        self.released += 1
        self.flow_lat_sum[f] += lat
        if lat > self.flow_lat_max[f]:
            self.flow_lat_max[f] = lat
        if self.flow_hist != NULL:
            self.flow_hist[f * PFO_SIM_FHIST_LEN + pfo_sim_fhist_index(lat)] += 1
        if p.seq < self.flow_maxrel[f]:
            self.ooo += 1
            self.flow_ooo[f] += 1
            self._reordered(f, p.seq)
        else:
            self.flow_maxrel[f] = p.seq
        slot = 2 * (f * self.history + (self.flow_rcv[f] & (self.history - 1)))
        self.hist_ring[slot] = <uint32_t>p.seq        # low 32 bits, the pair in one line
        self.hist_ring[slot + 1] = <uint32_t>self.flow_maxrel[f]
        self.flow_rcv[f] += 1

    cdef void _reordered(self, int32_t f, int64_t s) noexcept nogil:
        # RFC 4737 for a reordered packet of flow f with sequence number s,
        # about to get receive index i = flow_rcv[f] (the history holds indexes
        # [lo, i) with their seq and running max, as pairs indexed by i & mask).
        # Both are kept modulo 2**32 and compared by serial-number arithmetic
        # (a > s  <=>  (int32)(a - s) > 0), exact while the history spans less
        # than 2**31 sequence numbers: e.g. s = 4294967295 stored as 0xFFFFFFFF
        # and a = 4294967297 stored as 1: (int32)(1 - 0xFFFFFFFF) = 2 > 0.
        #  * extent (sec. 4.2.2): i - j, j the earliest receive index whose seq
        #    is > s, i.e. the first index whose running max is > s.  The running
        #    max never decreases: a binary search.
        #  * n-reordering degree (sec. 5): how many packets received just
        #    before it all have seq > s; degree >= 3 is what makes a TCP
        #    receiver send 3 duplicate ACKs (a fast retransmit).
        # Example: seqs received 0 1 4 5 2 -> for s = 2, i = 4: running max
        # 0 1 4 5, first > 2 at j = 2, extent 2; before it 5, 4 (> 2), 1 (< 2):
        # degree 2.
        cdef int64_t i = self.flow_rcv[f], h = self.history, m = h - 1
        cdef uint32_t* ring = self.hist_ring + 2 * f * h     # (seq, running max) pairs
        cdef uint32_t s32 = <uint32_t>s
        cdef int64_t lo = i - h if i > h else 0
        cdef int64_t a, b, mid, ext, deg = 0, k
        cdef bint capped = False
        if <int32_t>(ring[2 * (lo & m) + 1] - s32) > 0:
            a = lo               # j is lo, or earlier than the history reaches
            capped = lo > 0
        else:
            a = lo               # invariant: running max at a <= s < running max at b
            b = i - 1
            while b - a > 1:
                mid = a + (b - a) // 2
                if <int32_t>(ring[2 * (mid & m) + 1] - s32) > 0:
                    b = mid
                else:
                    a = mid
            a = b
        ext = i - a
        k = i - 1
        while k >= lo and <int32_t>(ring[2 * (k & m)] - s32) > 0:
            deg += 1
            k -= 1
        if k < lo and lo > 0:
            capped = True
        if capped:
            self.ext_capped += 1
        self.flow_ext_sum[f] += ext
        if ext > self.flow_ext_max[f]:
            self.flow_ext_max[f] = ext
        if deg >= 3:
            self.flow_n3[f] += 1
        self.nreo[deg if deg < PFO_SIM_NREO else PFO_SIM_NREO] += 1

    cdef void _complete_until(self, pfo_ns_t t) noexcept nogil:
        # every egress event up to t, in time order: completions (a core
        # finishes a packet) and, for paraflowo, reorder-queue timeouts; a
        # completion goes first on a tie
        cdef int c
        cdef pfo_sim_pkt_t* p
        cdef pfo_ns_t dl, skip = -1
        cdef int64_t before
        while True:
            dl = self.rob_dl if self.held > 0 else PFO_NS_NEVER
            if dl < self.egress_now:
                dl = self.egress_now
            if dl == skip:
                dl = PFO_NS_NEVER
            if self.next_core >= 0 and self.next_t <= t and self.next_t <= dl:
                c = self.next_core
                p = &self.rings[(c * (self.ring_mask + 1)) + (self.head[c] & self.ring_mask)]
                self.head[c] += 1
                self.head_finish[c] = (
                    self.rings[(c * (self.ring_mask + 1)) + (self.head[c] & self.ring_mask)].finish_ns
                    if self.head[c] != self.tail[c] else PFO_NS_NEVER)
                self.completed[c] += 1
                if self.policy == PFO_SIM_PARAFLOWO:
                    self._egress_para(p, p.finish_ns)
                else:
                    self._release(p, p.finish_ns)
                self._refresh_next()
            elif dl != PFO_NS_NEVER and dl <= t:
                before = self.held
                self._rob_drain(dl)
                if self.held == before:
                    skip = dl       # nothing due after all: do not spin on it
            else:
                break

    # -------------------------------------------------------------- paraflowo
    cdef inline int _steer_para(self, int32_t f, pfo_ns_t t, bint elephant,
                                pfo_sim_pkt_t* p) noexcept nogil:
        # Ingress: the library's Breakup pipeline (para_flow table, PSN
        # allocation, flowlet scheduling), given the detector's verdict for
        # this packet (c_run counts arrivals in the detector a chunk ahead:
        # the detector sees every packet in order whatever happens, exactly
        # as in Breakup.c_ingress_burst).  Fills p.flags/queue/psn; returns
        # the core.
        cdef pfo_meta_t m
        if self.flow_first[f] < 0:
            self.flow_first[f] = t
        self.brk.c_ingress_detected(self.flow_key[f], self.flow_hash[f], 0, self.flow_len[f], t,
                                    0, elephant, &m)
        p.flags = m.flags
        p.queue = m.queue
        p.psn = m.psn
        if m.flags & PFO_FLAG_PARA:
            self.para_packets += 1
            if self.flow_detect[f] < 0:
                self.flow_detect[f] = t
        return m.core

    cdef void _rob_drain(self, pfo_ns_t t) noexcept nogil:
        # release, at t, everything the reorder queues let go (in order, or
        # past a timeout)
        cdef Py_ssize_t n, i
        cdef pfo_sim_pkt_t* s
        if t > self.egress_now:
            self.egress_now = t
        t = self.egress_now
        while True:
            n = pfo_robq_drain(self.robq, t, self.drain_out, NULL, self.drain_cap)
            if n <= 0:
                break
            self._release_drained(n, t)
            if n < self.drain_cap:
                break
        self.rob_dl = self.rq.c_next_deadline()

    cdef inline void _release_drained(self, Py_ssize_t n, pfo_ns_t t) noexcept nogil:
        # release, at t, the n handles a drain just wrote to drain_out, and free
        # the packet-store slots of those that waited
        cdef Py_ssize_t i
        cdef pfo_sim_pkt_t* s
        for i in range(n):
            s = self._held_rec(self.drain_out[i])
            self._release(s, t)
            self.held -= 1
            self.held_bytes -= s.length
            if self.drain_out[i] != PFO_SIM_NO_SLOT:
                pfo_store_free(self.pst, <uint32_t>self.drain_out[i])

    cdef inline pfo_sim_pkt_t* _held_rec(self, pfo_handle_t h) noexcept nogil:
        # the record of a handle a reorder queue released
        cdef pfo_sim_pkt_t* r
        if h == PFO_SIM_NO_SLOT:
            r = self.fast_rec
            self.fast_rec = NULL
            return r
        return <pfo_sim_pkt_t*>(self.pst.data + h * self.pst.slot_bytes)

    cdef void _drain_queue(self, uint32_t q, pfo_ns_t t) noexcept nogil:
        # release, at t, what reorder queue q lets go (the common case: the
        # packet just inserted completed the head run)
        cdef Py_ssize_t n, i
        cdef pfo_sim_pkt_t* s
        while True:
            n = pfo_rob_drain(self.robq.robs[q], t, self.drain_out, self.drain_cap)
            if n <= 0:
                break
            self._release_drained(n, t)
            if n < self.drain_cap:
                break
        self.rob_dl = self.rq.c_next_deadline() if self.held > 0 else PFO_NS_NEVER

    cdef void _egress_para(self, pfo_sim_pkt_t* p, pfo_ns_t t) noexcept nogil:
        # Egress: the delay sample goes to the scheduler (Eq. 2 feedback);
        # a tagged packet enters its reorder queue, then the queues drain.
        cdef pfo_handle_t h
        cdef int64_t hh
        cdef int st, tries
        cdef pfo_ns_t d
        if t > self.egress_now:
            self.egress_now = t
        if not (p.flags & PFO_FLAG_PARA):
            self._release(p, t)
            return
        # the delay sample, from the timestamps in the tagged packet's metadata
        self.brk.c_feedback(p.core, p.ingress_ns, t)
        if not self.reorder:
            # the A/B without reordering: it leaves as it completes
            self._release(p, t)
            return
        if pfo_rob_pass(self.robq.robs[p.queue], p.psn, t):
            # in order and nothing waiting on its queue: it leaves at once
            self._release(p, t)
            return
        if self.robq.robs[p.queue].head == p.psn:
            # the packet the queue waits for: the drain below releases it at
            # once, so it skips the packet store (in-order traffic never
            # touches it; only packets that must wait are cached)
            h = PFO_SIM_NO_SLOT
            self.fast_rec = p
        else:
            hh = pfo_store_put(self.pst, <const uint8_t*>p, sizeof(pfo_sim_pkt_t))
            if hh < 0:                  # cannot happen (store sized for full queues)
                self.store_overflow += 1
                self._release(p, t)
                return
            h = <pfo_handle_t>hh
        st = PFO_ROB_FULL
        for tries in range(4):
            st = pfo_robq_insert(self.robq, p.queue, p.psn, h, t, False)
            if st != PFO_ROB_FULL:
                break
            self._rob_drain(t)
        if st == PFO_ROB_BUFFERED:
            self.held += 1
            self.held_bytes += p.length
            if self.held > self.peak_held:
                self.peak_held = self.held
            if self.held_bytes > self.peak_bytes_full:
                self.peak_bytes_full = self.held_bytes
        else:
            # LATE (its PSN was already skipped by a timeout) or a refusal:
            # forwarded at once, never lost
            self.forwarded_late += 1
            self._release(p, t)
            if h != PFO_SIM_NO_SLOT:
                pfo_store_free(self.pst, <uint32_t>h)
        d = pfo_rob_next_deadline(self.robq.robs[p.queue])
        if d <= t:
            self._drain_queue(p.queue, t)
        elif d < self.rob_dl:
            self.rob_dl = d
        if self.fast_rec != NULL:       # never: a packet at the head drains at once
            self.fast_unreleased += 1
            self.fast_rec = NULL

    # ------------------------------------------------------------- accounting
    cdef inline void _account_busy(self, int c, pfo_ns_t s, pfo_ns_t e) noexcept nogil:
        # busy time [s, e) of core c into the utilization bins (starts per core
        # are non-decreasing, so the current bin only moves forward)
        cdef pfo_ns_t end
        while s >= self.cur_end[c] and self.cur_bin[c] < self.n_bins:   # past the bins: stop
            self.cur_bin[c] += 1
            self.cur_end[c] += self.bin_ns
        while s < e and self.cur_bin[c] < self.n_bins:
            end = self.cur_end[c]
            if e <= end:
                self.busy[self.cur_bin[c] * self.n_cores + c] += e - s
                return
            self.busy[self.cur_bin[c] * self.n_cores + c] += end - s
            s = end
            self.cur_bin[c] += 1
            self.cur_end[c] += self.bin_ns

    # ------------------------------------------------------------------ rsspp
    cdef void _rebalance(self) noexcept nogil:
        # RSS++-style: cores above the mean load give their heaviest buckets to
        # the least loaded core while that core stays at or below the mean.
        cdef int c, src, dst, it
        cdef uint32_t b, best, nb = self.reta_mask + 1
        cdef double target = 0.0, lb_dst, lb_src, per = <double>self.period_ns
        cdef double lmax = 0.0, lmin = 0.0
        for c in range(self.n_cores):
            self.load[c] = 0.0
        for b in range(nb):
            c = self.reta_entries[b]
            self.load[c] += self.bucket_cnt[b] * self.svc_mean[c] / per
            self.seen[b] = 0
        for c in range(self.n_cores):
            target += self.load[c]
            if c == 0 or self.load[c] > lmax:
                lmax = self.load[c]
            if c == 0 or self.load[c] < lmin:
                lmin = self.load[c]
        target /= self.n_cores
        if target < self.target_load:
            target = self.target_load
        for c in range(self.n_cores):
            self.core_done[c] = 0
        if self.imbalance > 0.0 and lmax - lmin <= self.imbalance:
            # balanced enough: RSS++ leaves the table alone this period
            for b in range(nb):
                self.bucket_cnt[b] = 0
            self.rebalances += 1
            self.balanced_periods += 1
            return
        for it in range(self.n_cores):
            # the most loaded core above target not yet handled
            src = -1
            for c in range(self.n_cores):
                if (not self.core_done[c] and self.load[c] > target
                        and (src < 0 or self.load[c] > self.load[src])):
                    src = c
            if src < 0:
                break
            self.core_done[src] = 1
            while self.load[src] > target:
                # its heaviest bucket not yet tried
                best = nb
                for b in range(nb):
                    if (self.reta_entries[b] == src and not self.seen[b]
                            and self.bucket_cnt[b] > 0
                            and (best == nb or self.bucket_cnt[b] > self.bucket_cnt[best])):
                        best = b
                if best == nb:
                    break
                self.seen[best] = 1
                dst = 0
                for c in range(1, self.n_cores):
                    if self.load[c] < self.load[dst]:
                        dst = c
                lb_dst = self.bucket_cnt[best] * self.svc_mean[dst] / per
                lb_src = self.bucket_cnt[best] * self.svc_mean[src] / per
                if dst != src and self.load[dst] + lb_dst <= target:
                    self.reta_entries[best] = <uint16_t>dst
                    self.load[dst] += lb_dst
                    self.load[src] -= lb_src
                    self.migrations += 1
        for b in range(nb):
            self.bucket_cnt[b] = 0
        self.rebalances += 1

    # ------------------------------------------------------------------- loop
    cdef int c_run(self, const int64_t* times, const int32_t* flows, const double* expd,
                   Py_ssize_t n, int16_t* tr_core, int64_t* tr_finish) noexcept nogil:
        cdef Py_ssize_t i
        cdef pfo_ns_t t, start, finish, svc
        cdef int32_t f
        cdef int c
        cdef uint32_t b = 0
        cdef int64_t rs = self.ring_mask + 1
        cdef pfo_sim_pkt_t* p
        cdef pfo_sim_pkt_t tmp
        cdef int policy = self.policy
        # the detector's verdicts, a chunk of arrivals ahead (ParaFlowO)
        cdef uint64_t ck[PFO_SIM_CHUNK]
        cdef uint64_t ca[PFO_SIM_CHUNK]
        cdef uint8_t cv[PFO_SIM_CHUNK]
        cdef Py_ssize_t c0 = 0, c1 = 0, j
        cdef bint by_bytes = policy == PFO_SIM_PARAFLOWO and self.brk.count_bytes
        cdef int64_t slice_n = self.auto_slice
        cdef int64_t next_auto = slice_n if slice_n > 0 else n + 1
        tmp.flags = 0
        for i in range(n):
            if i == next_auto:
                # the derived reorder timeout follows the delays, every slice
                self._auto_update()
                next_auto += slice_n
            t = times[i]
            f = flows[i]
            if policy == PFO_SIM_PARAFLOWO and i >= c1:
                c0 = i
                c1 = i + PFO_SIM_CHUNK if n - i > PFO_SIM_CHUNK else n
                for j in range(c0, c1):
                    ck[j - c0] = self.flow_key[flows[j]]
                    if by_bytes:
                        ca[j - c0] = self.flow_len[flows[j]]
                self.brk.detector.c_update_burst(ck, times + c0, 1, ca if by_bytes else NULL, cv, c1 - c0)
            if policy == PFO_SIM_RSSPP:
                while t >= self.next_period:
                    self._complete_until(self.next_period)
                    self._rebalance()
                    self.next_period += self.period_ns
            if ((self.next_core >= 0 and self.next_t <= t)
                    or (self.held > 0 and self.rob_dl <= t)):
                self._complete_until(t)
            self.now = t
            # steering
            if policy == PFO_SIM_PARAFLOWO:
                c = self._steer_para(f, t, cv[i - c0], &tmp)
            elif policy == PFO_SIM_SPRAY:
                c = self.rr
                self.rr += 1
                if self.rr == <uint32_t>self.n_cores:
                    self.rr = 0
            else:
                b = self.flow_hash[f] & self.reta_mask
                c = pfo_reta_lookup(self.reta_entries, self.reta_mask, self.flow_hash[f])
            self.arrived[c] += 1
            self.flow_arrived[f] += 1
            if self.tail[c] - self.head[c] > self.rx_queue:
                self.dropped[c] += 1
                self.flow_seq[f] += 1      # the flow's order still counts it
                self.flow_dropped[f] += 1
                if (policy == PFO_SIM_PARAFLOWO and (tmp.flags & PFO_FLAG_PARA)
                        and self.notify_drops and self.reorder):
                    # the vSwitch saw the enqueue fail: it tombstones the PSN
                    if t > self.egress_now:
                        self.egress_now = t
                    pfo_robq_insert(self.robq, tmp.queue, tmp.psn, 0, self.egress_now, True)
                    self._rob_drain(self.egress_now)     # also refreshes rob_dl
                if tr_core != NULL:
                    tr_core[i] = -1
                    tr_finish[i] = -1
                continue
            if self.exponential:
                svc = llround(expd[i] * self.svc_mean[c])
                if svc < 1:
                    svc = 1
            else:
                svc = self.svc_ns[c]
            start = t if t > self.core_free[c] else self.core_free[c]
            if policy == PFO_SIM_RSSPP:
                # a migrated bucket waits for its packets on the old core
                if self.bucket_last[b] > start:
                    start = self.bucket_last[b]
                self.bucket_cnt[b] += 1
            finish = start + svc
            if policy == PFO_SIM_RSSPP:
                self.bucket_last[b] = finish
            self.core_free[c] = finish
            self._account_busy(c, start, finish)
            p = &self.rings[c * rs + (self.tail[c] & self.ring_mask)]
            p.finish_ns = finish
            p.ingress_ns = t
            p.seq = self.flow_seq[f]
            p.flow = f
            p.bucket = b
            p.core = <uint16_t>c
            if policy == PFO_SIM_PARAFLOWO:
                p.flags = tmp.flags
                p.queue = tmp.queue
                p.psn = tmp.psn
                p.length = self.flow_len[f]
            else:
                p.flags = 0
            self.flow_seq[f] += 1
            if self.tail[c] == self.head[c]:
                self.head_finish[c] = finish
                if (self.next_core < 0 or finish < self.next_t
                        or (finish == self.next_t and c < self.next_core)):
                    self.next_core = c
                    self.next_t = finish
            self.tail[c] += 1
            if tr_core != NULL:
                tr_core[i] = <int16_t>c
                tr_finish[i] = finish
        if slice_n > 0 and n > 0:
            self._auto_update()          # after the last (possibly short) slice
        return 0

    cdef void _auto_update(self) noexcept nogil:
        # paraflowo.sim.timeout.AdaptiveTimeout.update, in the loop: timeout =
        # clamp(gain * max_i T_cpu,i, floor, cap) over the sampled cores, applied
        # (as ReorderQueues.set_timeout does) when it moved by more than 1/8.
        # Example: T_cpu = 2,100 / 3,000 ns, gain 16, floor 100 us, cap 4.2 ms
        # -> 48,000 ns, clamped up to 100,000 ns.
        cdef uint32_t c, q
        cdef bint seen = False
        cdef int64_t m = 0, t, d
        for c in range(self.sched.n_cores):
            if self.sched.sampled[c] and (not seen or self.sched.cpu_ns[c] > m):
                m = self.sched.cpu_ns[c]
                seen = True
        if not seen:
            return
        # min(cap, gain * m) without overflow, then the floor (floor <= cap)
        t = self.auto_cap if m > self.auto_cap // self.auto_gain else self.auto_gain * m
        if t < self.auto_floor:
            t = self.auto_floor
        d = t - self.auto_value
        if d < 0:
            d = -d
        if d * 8 <= self.auto_value:
            return
        for q in range(self.robq.n_queues):
            self.robq.robs[q].timeout_ns = t
        for q in range(self.robq.n_active):
            pfo_robq_touch(self.robq, self.robq.active[q])
        self.auto_value = t
        if t < self.auto_low:
            self.auto_low = t
        if t > self.auto_high:
            self.auto_high = t
        self.auto_changes += 1

    cdef void c_flush(self) noexcept nogil:
        cdef pfo_ns_t inf = 0x7FFFFFFFFFFFFFFF - 1
        cdef uint32_t q
        cdef Py_ssize_t n, i
        cdef pfo_sim_pkt_t* s
        self._complete_until(inf)
        if self.policy != PFO_SIM_PARAFLOWO:
            return
        # end of the run: whatever a queue still holds (waiting for a PSN that
        # never came, with no timeout configured) is released in PSN order
        for q in range(self.robq.n_queues):
            while True:
                n = pfo_rob_flush(self.robq.robs[q], self.drain_out, self.drain_cap)
                for i in range(n):
                    s = self._held_rec(self.drain_out[i])
                    self._release(s, self.egress_now)
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
        """
        if not self.ready:
            pfo_raise_uninit(self)
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
        cdef int32_t nf = <int32_t>self.n_flows
        cdef int64_t prev = self.now
        with nogil:
            for i in range(n):
                if tv[i] < prev or tv[i] > _MAX_TIME_NS or fv[i] < 0 or fv[i] >= nf:
                    bad = i
                    break
                prev = tv[i]
        if bad >= 0:
            if not 0 <= flows[bad] < self.n_flows:
                raise ValueError(f"flows must be in [0, {self.n_flows}), got {flows[bad]}")
            if times[bad] > _MAX_TIME_NS:
                raise ValueError(f"times must be at most 2**62, got {times[bad]} at index {bad}")
            raise ValueError(
                f"times must be non-decreasing and >= {self.now}, got {times[bad]} at index {bad}")
        if expd is not None and self.exponential:
            ev = expd
            ep = &ev[0]
            with nogil:
                for i in range(n):
                    if not (0.0 <= ep[i] <= _MAX_EXPD):     # NaN fails too
                        bad = i
                        break
            if bad >= 0:
                raise ValueError(f"expd must be in [0, 64], got {expd[bad]} at index {bad}")
        if trace_core is not None:
            tc = trace_core
            tf = trace_finish
            tcp = &tc[0]
            tfp = &tf[0]
        with nogil:
            self.c_run(&tv[0], &fv[0], ep, n, tcp, tfp)
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
        if not self.ready:
            pfo_raise_uninit(self)
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
        if self.auto_slice == 0:
            return None
        return (self.auto_value, self.auto_low, self.auto_high, self.auto_changes)

    def flush(self):
        """Deliver every queued packet to egress (call once, after the last chunk)."""
        if not self.ready:
            pfo_raise_uninit(self)
        with nogil:
            self.c_flush()

    def stats(self):
        """Counters as a dict of numpy arrays and ints (copies)."""
        if not self.ready:
            pfo_raise_uninit(self)
        nc = self.n_cores
        return {
            "busy_ns": np.asarray(<int64_t[:self.n_bins * nc]>self.busy).reshape(
                self.n_bins, nc).copy(),
            "arrived": np.asarray(<int64_t[:nc]>self.arrived).copy(),
            "completed": np.asarray(<int64_t[:nc]>self.completed).copy(),
            "dropped": np.asarray(<int64_t[:nc]>self.dropped).copy(),
            "latency_hist": np.asarray(<int64_t[:PFO_SIM_HIST_LEN]>self.hist).copy(),
            "released": self.released,
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
        nf = self.n_flows
        return {
            "arrived": np.asarray(<int64_t[:nf]>self.flow_arrived).copy(),
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
        if not self.ready:
            pfo_raise_uninit(self)
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


# --------------------------------------------------------------- traffic
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
    cdef double dspan = <double>sp
    cdef int64_t off
    cdef int key_bits = bits
    if n == 0:
        return times, flows
    with nogil:
        k = 0
        for j in range(nc):
            for i in range(cv[j]):
                off = <int64_t>floor(u[k] * dspan)
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
