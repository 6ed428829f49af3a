# cython: language_level=3
"""The simulator's event loop: the cimport API.

One :class:`SimCore` is one policy running on one set of cores.  The host (the
Python runner in :mod:`paraflowo.sim`) feeds it chunks of arrivals sorted by
time, the same chunks to every policy, and reads its counters at the end::

    from paraflowo._core.sim cimport SimCore

    cdef SimCore core = SimCore(...)          # validated in Python
    with nogil:
        core.c_run(times, flows, expd, n, NULL, NULL)   # trusts: sorted, ids in range
        core.c_flush()                        # drain every queue to egress

Model (exact, integer nanoseconds): each core is a FIFO server with its own
service time; packet i of core c starts at ``max(arrival, finish of the
previous packet on c)`` (the Lindley recursion) and finishes ``service`` ns
later.  An RX queue holds at most ``rx_queue`` waiting packets plus the one in
service; an arrival that finds it full is dropped (drop-tail).  Completions
reach egress in time order (ties: lower core first).  For paraflowo they are
interleaved with the arrivals, so every feedback it receives at time t comes
from packets that finished by t; rss, spray and rsspp, which take no feedback,
release them every PFO_SIM_BATCH arrivals and at the end of each c_run, in the
same order (and test a full RX queue exactly).
"""

cimport cython
from libc.stdint cimport int16_t, int32_t, int64_t, uint8_t, uint16_t, uint32_t, uint64_t
from paraflowo._core._types cimport pfo_handle_t, pfo_ns_t
from paraflowo._core.hashing cimport IndirectionTable
from paraflowo._core.breakup cimport Breakup
from paraflowo._core.detectors cimport CountMinDetector
from paraflowo._core.metacache cimport PacketStore, pfo_store_t
from paraflowo._core.scheduler cimport FlowletScheduler
from paraflowo._core.reorder cimport ReorderQueues, pfo_robq_t

cdef enum:
    PFO_SIM_RSS = 0          # static RETA: flow affinity
    PFO_SIM_SPRAY = 1        # per-packet round robin, no reordering
    PFO_SIM_RSSPP = 2        # RSS++-style RETA bucket migration
    PFO_SIM_PARAFLOWO = 3    # Breakup at ingress, reorder queues at egress
    PFO_SIM_CHUNK = 256      # ParaFlowO: arrivals counted in the detector per burst
    PFO_SIM_BATCH = 512      # rss/spray/rsspp: arrivals between two egress batches (2**k)
    PFO_SIM_HIST_SUB = 1024  # latency histogram: sub-buckets per power of two
    PFO_SIM_HIST_LEN = 2048 + 53 * 1024
    PFO_SIM_FHIST_LEN = 16 + 59 * 8    # per-flow latency histogram (coarse)
    PFO_SIM_NREO = 16        # n-reordering degrees counted one by one (>= 16: the last)
    PFO_SIM_HIST_BUDGET = 1 << 21      # per-flow history entries, all flows together

cdef extern from *:
    """
    #define PFO_SIM_NO_SLOT ((unsigned long long)0xFFFFFFFFFFFFFFFFULL)
    """
    # Handle of a tagged packet that its reorder queue releases as it arrives
    # (it never enters the packet store).
    const unsigned long long PFO_SIM_NO_SLOT

# One packet in a core's RX ring (waiting or in service), or held at egress.  48 bytes.
ctypedef struct pfo_sim_pkt_t:
    pfo_ns_t finish_ns       # when the core finishes it
    pfo_ns_t ingress_ns      # arrival time at ingress
    int64_t seq              # its index in its flow's original order
    int32_t flow             # flow id
    uint32_t psn             # paraflowo: PSN in its reorder queue
    uint16_t queue           # paraflowo: reorder queue id
    uint16_t flags           # PFO_FLAG_* bits (paraflowo)
    uint32_t bucket          # RETA bucket (rsspp)
    uint16_t core            # the core that served it
    uint16_t length          # packet length, bytes
    uint32_t reserved


cdef extern from *:
    int __builtin_clzll(unsigned long long) nogil


cdef inline Py_ssize_t pfo_sim_hist_index(int64_t v) noexcept nogil:
    # Log-linear histogram bucket of a latency v >= 0 (ns): exact below 2048,
    # then 1024 buckets per power of two (relative width 1/1024).
    # Example: v = 5000 -> msb 12, shift 2, top = 1250 -> 2048 + 1024 + 226.
    cdef int msb, shift
    if v < 2048:
        return <Py_ssize_t>(v if v > 0 else 0)
    msb = 63 - __builtin_clzll(<unsigned long long>v)
    shift = msb - 10
    return 2048 + (shift - 1) * 1024 + <Py_ssize_t>((v >> shift) - 1024)


cdef inline Py_ssize_t pfo_sim_fhist_index(int64_t v) noexcept nogil:
    # Per-flow latency bucket of v >= 0 (ns): exact below 16, then 8 buckets per
    # power of two (relative width 1/8).
    # Example: v = 5000 -> msb 12, shift 9, top = 9 -> 16 + 8 * 8 + 1 = 81,
    # whose lower bound is 9 << 9 = 4608.
    cdef int msb, shift
    if v < 16:
        return <Py_ssize_t>(v if v > 0 else 0)
    msb = 63 - __builtin_clzll(<unsigned long long>v)
    shift = msb - 3
    return 16 + (shift - 1) * 8 + <Py_ssize_t>((v >> shift) - 8)


@cython.final
cdef class SimCore:
    # configuration (read-only after __init__)
    cdef readonly int policy
    cdef readonly int n_cores
    cdef readonly int64_t rx_queue
    cdef readonly int64_t bin_ns
    cdef readonly Py_ssize_t n_bins
    cdef readonly Py_ssize_t n_flows
    cdef readonly bint exponential
    cdef bint ready                  # __init__ completed (else every method refuses)
    cdef int in_use                  # run / flush is in its loop without the GIL (the
                                     # thread contract: every other call is refused)
    cdef int64_t ring_mask           # ring size - 1 (ring size >= rx_queue + 1, power of 2)
    cdef int64_t* svc_ns             # deterministic service time per core
    cdef double* svc_mean            # mean service time per core (exponential)
    cdef pfo_sim_pkt_t* rings        # n_cores rings of ring_mask + 1 slots
    # head[c] / tail[c]: packets core c completed / queued so far (ring slot
    # i & ring_mask): stats() reports completed = head, arrived = tail + dropped
    cdef int64_t* head
    cdef int64_t* tail
    cdef int64_t* core_free          # finish of the last packet queued on each core
    cdef int64_t* head_finish        # finish of each core's ring head (PFO_NS_NEVER: empty)
    cdef int64_t* busy               # [n_bins][n_cores] busy ns, then a scratch row
                                     # (past the bins: counted there, not reported)
    cdef int64_t* cur_bin            # per core: bin of its last start
    cdef int64_t* cur_end            # per core: end of that bin, ns (INT64_MAX: past the bins)
    cdef int64_t** cur_cell          # per core: &busy[cur_bin * n_cores + core] (past the
                                     # bins: its scratch cell, cur_bin == n_bins)
    cdef uint32_t* flow_hash
    cdef int64_t* flow_seq           # next sequence number per flow (= its arrivals,
                                     # drops included: flow_stats' arrived)
    cdef int64_t* flow_maxrel        # highest sequence number released per flow
    cdef int64_t* flow_ooo           # out-of-order packets per flow
    # RFC 4737 (reordering extent, n-reordering) and the per-flow table
    cdef readonly int64_t history    # receive-history entries kept per flow (power of 2)
    cdef int64_t* flow_rcv           # packets released per flow (the receive index;
                                     # their sum is stats' released)
    cdef uint32_t* hist_ring         # [n_flows][history][2]: seq of the last released
                                     # packets, and the highest seq released up to each
                                     # (both modulo 2**32)
    cdef int64_t* flow_ext_max       # largest reordering extent per flow
    cdef int64_t* flow_ext_sum       # sum of the extents of its reordered packets
    cdef int64_t* flow_n3            # its packets n-reordered with n >= 3
    cdef int64_t* nreo               # [PFO_SIM_NREO + 1] packets by n-reordering degree
    cdef readonly int64_t ext_capped  # extents (or degrees) beyond the history: lower bounds
    cdef int64_t* flow_dropped
    cdef int64_t* flow_lat_sum
    cdef int64_t* flow_lat_max
    cdef int64_t* flow_hist          # [n_flows][PFO_SIM_FHIST_LEN], or NULL (too many flows)
    cdef int64_t* dropped
    cdef int64_t* hist
    cdef int64_t ooo
    cdef pfo_ns_t now                # time of the last arrival processed
    cdef int next_core               # core of the earliest pending completion (meaningful
                                     # only while next_t < PFO_NS_NEVER)
    cdef pfo_ns_t next_t             # its finish time; PFO_NS_NEVER exactly when no
                                     # completion is pending (so "one due by t" is next_t <= t)
    # RSS / RSS++
    cdef IndirectionTable reta       # the RETA (copied per policy, mutated by rsspp)
    cdef uint16_t* reta_entries
    cdef uint32_t reta_mask
    cdef uint32_t rr                 # spray: next core
    cdef int64_t period_ns           # rsspp: rebalance period
    cdef pfo_ns_t next_period
    cdef int64_t* bucket_cnt         # rsspp: packets per bucket in this period
    cdef int64_t* bucket_last        # rsspp: finish of the bucket's last packet
    cdef double* load                # rsspp: scratch, per core
    cdef char* seen                  # rsspp: scratch, per bucket
    cdef char* core_done             # rsspp: scratch, per core
    cdef double target_load          # rsspp: shed only above max(this, mean load)
    cdef double imbalance            # rsspp: rebalance only when max - min load > this
    cdef readonly int64_t migrations
    cdef readonly int64_t rebalances
    cdef readonly int64_t balanced_periods  # rsspp: periods left alone (within imbalance)
    # ParaFlowO: the library's own components, driven through their cimport API
    cdef Breakup brk                 # ingress: detector + PSN allocator + flowlet scheduler
    cdef CountMinDetector cm_det     # brk.detector if exactly a CountMinDetector (counted
                                     # by pfo_cm_update_runs), else None
    cdef FlowletScheduler sched      # brk.scheduler (Eq. 2), fed egress delays
    cdef ReorderQueues rq            # egress: one reorder buffer per queue
    cdef pfo_robq_t* robq            # &rq.q
    cdef uint64_t* flow_key          # detector / allocator key per flow
    cdef uint32_t* flow_home         # <uint32_t>pfo_fmix64(flow_key): its para_flow probe start
    cdef uint16_t* flow_len          # packet length per flow
    cdef int64_t* flow_first         # first arrival per flow, -1; set when flow_seq[f] == 0,
                                     # so made only with flow_seq (__init__)
    cdef int64_t* flow_detect        # first tagged packet per flow, -1
    cdef PacketStore pstore          # egress: packets held while their queue reorders
    cdef pfo_store_t* pst            # &pstore.st
    cdef pfo_sim_pkt_t* fast_rec     # the packet under PFO_SIM_NO_SLOT (egress in progress)
    cdef int64_t store_cap
    cdef pfo_handle_t* drain_out     # drain output buffer
    cdef Py_ssize_t drain_cap
    cdef bint notify_drops
    cdef bint reorder                # False: tagged packets leave egress as they complete
    cdef pfo_ns_t egress_now         # latest egress event time
    cdef pfo_ns_t rob_dl             # cached earliest reorder-queue deadline
    cdef readonly int64_t held       # packets held in reorder queues now
    cdef readonly int64_t peak_held
    cdef readonly int64_t held_bytes  # their full-packet bytes
    cdef readonly int64_t peak_bytes_full
    cdef readonly int64_t para_packets
    cdef readonly int64_t forwarded_late
    cdef readonly int64_t store_overflow
    cdef readonly int64_t flushed_at_end
    cdef readonly int64_t fast_unreleased
    # ParaFlowO's derived reorder timeout (derive_timeout), applied inside the
    # loop every `auto_slice` arrivals of a run() call (0: off)
    cdef int64_t auto_slice
    cdef int64_t auto_gain
    cdef int64_t auto_floor
    cdef int64_t auto_cap
    cdef int64_t auto_value
    cdef int64_t auto_low
    cdef int64_t auto_high
    cdef int64_t auto_changes

    cdef list _keep                  # numpy arrays that own the memory above

    cdef int c_run(self, const int64_t* times, const int32_t* flows, const double* expd,
                   Py_ssize_t n, int16_t* tr_core, int64_t* tr_finish) noexcept nogil
        # Process n arrivals (times non-decreasing, >= the last time seen; flows
        # in [0, n_flows); expd: unit-exponential draws when `exponential`, else
        # NULL).  tr_core/tr_finish (or NULL): per arrival, its core and finish
        # time, -1 for a dropped packet.  Returns 0.  Preconditions are checked
        # by SimCore.run; the core trusts them.

    cdef void c_flush(self) noexcept nogil
        # Deliver every pending completion to egress, in time order.
