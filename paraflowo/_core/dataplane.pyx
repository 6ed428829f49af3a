"""The live dataplane runtime: one vSwitch thread and N worker threads joined by
SPSC rings of metadata records (see ``dataplane.pxd`` and ``spsc_ring.h``).

Python threads run the loops without the GIL: the worker and vSwitch bodies
are in ``dataplane_threads.pxi``, the egress sinks (capture, AF_PACKET send)
in ``dataplane_io.pxi``, both included at module level.  The Python face,
pcap I/O and the CLI are in :mod:`paraflowo.dataplane`.
"""

from cpython.buffer cimport Py_buffer
from cpython.bytes cimport PyBytes_FromStringAndSize
from libc.stdint cimport int32_t, int64_t, uint8_t, uint16_t, uint32_t, uint64_t
from libc.stdlib cimport calloc, free
from libc.string cimport memcpy, memmove, memset

import threading

import numpy as np

from paraflowo._checks import require_int, require_number, require_pow2
from paraflowo._core._boundary cimport (
    PFO_OPTIONAL, pfo_bind, pfo_int, pfo_len, pfo_raise_uninit, pfo_release,
)
from paraflowo._core._types cimport (
    PFO_FLAG_DROP, pfo_handle_t, pfo_meta_t, pfo_ns_t, pfo_fmix64)
from paraflowo._core.hashing cimport ToeplitzHasher, pfo_rss_hash
from paraflowo._core.metacache cimport PacketStore, pfo_store_free, pfo_store_next, pfo_store_put, pfo_store_t
from paraflowo._core.nf cimport NF, PFO_NF_MAX_WORKERS, pfo_nf_fn
from paraflowo._core.policies cimport Policy
from paraflowo._core.reorder cimport PFO_NS_NEVER

from paraflowo._core._spsc cimport (
    PFO_SPSC_REC_BYTES, pfo_backoff_idle, pfo_backoff_next, pfo_backoff_reset,
    pfo_backoff_t, pfo_flag_get, pfo_flag_set, pfo_ld64,
    pfo_now_ns, pfo_spsc_aligned, pfo_spsc_count, pfo_spsc_footprint,
    pfo_spsc_init, pfo_spsc_pop_burst, pfo_spsc_push_burst, pfo_spsc_t,
    pfo_nap_ns, pfo_st64, pfo_thread_cpu_ns, pfo_thread_timer_slack,
)

cdef extern from "dp_io.h" nogil:
    ctypedef struct pfo_tuple_t:
        uint8_t rss[36]
        uint32_t rss_len
        uint64_t key
    void pfo_parse_tuple(const uint8_t* f, uint32_t length, pfo_tuple_t* t)
    void pfo_prefetch_w(const void* p, uint32_t n)
    int pfo_afp_open(const char* ifname, int rcvbuf, int* ignoring)
    void pfo_afp_close(int fd)
    int pfo_afp_recv(int fd, uint8_t** bufs, uint32_t cap, uint32_t* lens, int n)
    int pfo_afp_send(int fd, uint8_t** bufs, const uint32_t* lens, int n)
    uint64_t pfo_afp_drops(int fd)
    void pfo_afp_wait(int fd_a, int fd_b, int64_t timeout_ns)
    const int PFO_AFP_BATCH
    const uint32_t PFO_AFP_OUTGOING

assert sizeof(pfo_meta_t) == 32    # PFO_SPSC_REC_BYTES: the ring's record size

cdef enum:
    MAX_BATCH = 64          # records per ring burst (the `batch` knob's ceiling)
    OUT_CAP = 512           # handles per policy call
    NAP_MIN_NS = 20_000     # the vSwitch naps only when it can sleep this long (_dp_nap)

cdef enum:
    MODE_TRACE = 0
    MODE_BRIDGE = 1

# One worker's rings and counters, 128 bytes: workers never share a cache line.
ctypedef struct pfo_dp_worker_t:
    pfo_spsc_t* rx          # vSwitch -> worker
    pfo_spsc_t* tx          # worker -> vSwitch
    uint64_t busy_ns        # time spent running the NF (relaxed stores)
    uint64_t packets        # records processed
    uint64_t nf_errors      # NF calls that returned nonzero
    uint64_t cpu_ns         # CPU time of the worker thread over the run
    uint64_t starved_ns     # wall time from finding rx empty to its next record
    uint64_t pad[9]


cdef inline void _inc(uint64_t* p, uint64_t v) noexcept nogil:
    # single-writer counter, readable by other threads (relaxed store)
    pfo_st64(p, p[0] + v)


cdef class Dataplane:
    """A policy, an NF and N workers on real threads, fed by a trace or two
    interfaces.  See :func:`paraflowo.dataplane.run_trace` and
    :func:`paraflowo.dataplane.run_bridge` for the usual entry points.

    Parameters
    ----------
    policy : Policy
        From :func:`paraflowo._core.policies.make_policy`; its ``n_cores`` is
        the number of workers.
    nf : NF
        The network function every worker runs.
    ring : int, default 1024
        Records per ring (a power of two in [2, 65536]).
    batch : int, default 32
        Records per ring burst, in [1, 64].
    store_slots : int, default 16384
        Packet store slots; ingress waits when all are in use.
    slot_bytes : int, default 2048
        Largest packet (bytes) the store holds.
    flow_capacity : int, default 65536
        Flows the RFC 4737 count tracks (a power of two).
    max_sleep_ns : int, default 200_000
        Longest idle sleep of a thread.
    max_nap_ns : int, default 0
        Longest nap of the vSwitch thread while ingress waits for ring room
        and every busy worker has queued work (0, the default: never nap; see the docs'
        "Live dataplane" page).

    Notes
    -----
    Thread contract: :meth:`_run` (through ``run_trace``/``run_bridge``) may
    run once at a time; while it runs the policy (and its components) belong
    to the vSwitch thread and the NF's ``fn`` is called by all workers at
    once.  :meth:`request_stop` and :meth:`counters` may be called from any
    thread (and from a signal handler).
    """
    cdef readonly Policy policy
    cdef readonly NF nf
    cdef readonly PacketStore store
    cdef readonly ToeplitzHasher hasher
    cdef readonly uint32_t n_workers
    cdef readonly uint32_t ring
    cdef readonly uint32_t batch
    cdef readonly int64_t max_sleep_ns
    cdef readonly int64_t max_nap_ns
    cdef pfo_dp_worker_t* workers
    cdef void** ring_mem
    cdef pfo_dp_counters_t cnt
    # the vSwitch's naps (see _dp_nap) and its loop turns that did work, per
    # run (relaxed stores by the vSwitch; kept out of the public counters)
    cdef uint64_t naps, nap_ns, busy_turns
    cdef pfo_dp_flow_t* flows
    cdef uint64_t flow_mask
    cdef readonly uint64_t n_flows
    cdef uint64_t* slot_seq
    cdef int32_t* slot_flow
    cdef uint8_t* slot_port
    cdef int stop_req
    cdef int workers_stop
    cdef bint running
    cdef bint inited             # __init__ finished: every buffer allocated
    # source: trace
    cdef int mode
    cdef const uint8_t* src_data
    cdef const int64_t* src_off
    cdef const uint32_t* src_len
    cdef const int64_t* src_due    # NULL: as fast as possible
    cdef int64_t src_n, src_loops, src_span
    # sink: capture
    cdef uint8_t* out_data
    cdef int64_t* out_off
    cdef uint32_t* out_len
    cdef int64_t* out_ts
    cdef int64_t out_cap_pkts, out_cap_bytes, out_n, out_bytes
    # source and sink: bridge
    cdef int fd[2]
    cdef int64_t end_ns
    cdef uint64_t kdrops0[2]
    cdef uint8_t* stage           # PFO_AFP_BATCH * slot_bytes receive buffers
    cdef int64_t t_start, t_end
    cdef uint64_t _plain_n

    def __cinit__(self):
        self.fd[0] = -1
        self.fd[1] = -1

    def __init__(self, Policy policy not None, NF nf not None, ring=1024, batch=32,
                 store_slots=16384, slot_bytes=2048, flow_capacity=65536,
                 max_sleep_ns=200_000, max_nap_ns=0):
        cdef uint32_t w
        cdef size_t fp
        if self.running:
            raise RuntimeError("this Dataplane is already running")
        # every argument is checked before anything changes
        if policy.n_cores == 0:
            pfo_raise_uninit(policy)
        if nf.fn == NULL:
            pfo_raise_uninit(nf)
        if policy.n_cores > PFO_NF_MAX_WORKERS:
            raise ValueError(f"policy must have at most {PFO_NF_MAX_WORKERS} cores, "
                             f"got {policy.n_cores}")
        ring_ = require_pow2("ring", ring, 2, 65536)
        batch_ = require_int("batch", batch, 1, MAX_BATCH)
        sleep_ = require_int("max_sleep_ns", max_sleep_ns, 1000, 100_000_000)
        nap_ = require_int("max_nap_ns", max_nap_ns, 0, 100_000_000)
        fcap = require_pow2("flow_capacity", flow_capacity, 2, 1 << 24)
        store = PacketStore(store_slots, slot_bytes)
        # a second __init__ starts from nothing
        self.inited = False
        self._free()
        self.policy = policy
        self.nf = nf
        self.n_workers = policy.n_cores
        self.ring = ring_
        self.batch = batch_
        self.max_sleep_ns = sleep_
        self.max_nap_ns = nap_
        self.store = store
        self.hasher = ToeplitzHasher()
        n = self.store.st.n_slots
        self.workers = <pfo_dp_worker_t*>pfo_spsc_aligned(self.n_workers * sizeof(pfo_dp_worker_t))
        self.ring_mem = <void**>calloc(2 * self.n_workers, sizeof(void*))
        self.flows = <pfo_dp_flow_t*>calloc(fcap, sizeof(pfo_dp_flow_t))
        self.slot_seq = <uint64_t*>calloc(n, sizeof(uint64_t))
        self.slot_flow = <int32_t*>calloc(n, sizeof(int32_t))
        self.slot_port = <uint8_t*>calloc(n, 1)
        self.stage = <uint8_t*>calloc(PFO_AFP_BATCH, self.store.st.slot_bytes)
        if not (self.workers and self.ring_mem and self.flows and self.slot_seq
                and self.slot_flow and self.slot_port and self.stage):
            raise MemoryError()
        memset(self.workers, 0, self.n_workers * sizeof(pfo_dp_worker_t))
        self.flow_mask = fcap - 1
        fp = pfo_spsc_footprint(self.ring)
        for w in range(2 * self.n_workers):
            self.ring_mem[w] = pfo_spsc_aligned(fp)
            if self.ring_mem[w] == NULL:
                raise MemoryError()
        for w in range(self.n_workers):
            self.workers[w].rx = pfo_spsc_init(self.ring_mem[2 * w], self.ring)
            self.workers[w].tx = pfo_spsc_init(self.ring_mem[2 * w + 1], self.ring)
        self.n_flows = 0
        self.inited = True

    cdef void _free(self) noexcept:
        cdef uint32_t w
        if self.ring_mem != NULL:
            for w in range(2 * self.n_workers):
                free(self.ring_mem[w])
        free(self.ring_mem)
        free(self.workers)
        free(self.flows)
        free(self.slot_seq)
        free(self.slot_flow)
        free(self.slot_port)
        free(self.stage)
        self.ring_mem = NULL
        self.workers = NULL
        self.flows = NULL
        self.slot_seq = NULL
        self.slot_flow = NULL
        self.slot_port = NULL
        self.stage = NULL

    def __dealloc__(self):
        self._free()
        pfo_afp_close(self.fd[0])
        pfo_afp_close(self.fd[1])

    cdef int _live(self) except -1:
        # every method but request_stop: __init__ has run to its end
        if not self.inited:
            pfo_raise_uninit(self)
        return 0

    # ---- any thread ------------------------------------------------------

    def request_stop(self):
        """Ask a running dataplane to stop: ingress stops taking packets,
        everything in flight is finished, released and counted.  Safe from
        any thread and from a signal handler; a no-op when not running."""
        pfo_flag_set(&self.stop_req, 1)

    def counters(self):
        """A snapshot of the run's counters (dict), safe while it runs."""
        cdef uint32_t w
        self._live()
        cdef pfo_dp_counters_t* c = &self.cnt
        d = {"packets_in": pfo_ld64(&c.packets_in), "bytes_in": pfo_ld64(&c.bytes_in),
             "packets_out": pfo_ld64(&c.packets_out), "bytes_out": pfo_ld64(&c.bytes_out),
             "dropped_flag": pfo_ld64(&c.dropped_flag),
             "dropped_room": pfo_ld64(&c.dropped_room),
             "tx_errors": pfo_ld64(&c.tx_errors), "out_of_order": pfo_ld64(&c.out_of_order),
             "untracked": pfo_ld64(&c.untracked), "not_offered": pfo_ld64(&c.not_offered),
             "outgoing_skipped": pfo_ld64(&c.outgoing_skipped),
             "backpressure": pfo_ld64(&c.backpressure),
             "window_waits": pfo_ld64(&c.window_waits), "inflight": pfo_ld64(&c.inflight),
             "max_delay_ns": pfo_ld64(&c.max_delay_ns),
             "vswitch_cpu_ns": pfo_ld64(&c.vswitch_cpu_ns),
             "naps": pfo_ld64(&self.naps), "nap_ns": pfo_ld64(&self.nap_ns),
             "busy_turns": pfo_ld64(&self.busy_turns),
             "flows": pfo_ld64(&self.n_flows)}
        d["worker_busy_ns"] = [pfo_ld64(&self.workers[w].busy_ns) for w in range(self.n_workers)]
        d["worker_packets"] = [pfo_ld64(&self.workers[w].packets) for w in range(self.n_workers)]
        d["worker_cpu_ns"] = [pfo_ld64(&self.workers[w].cpu_ns) for w in range(self.n_workers)]
        d["worker_starved_ns"] = [pfo_ld64(&self.workers[w].starved_ns)
                                  for w in range(self.n_workers)]
        d["nf_errors"] = sum([pfo_ld64(&self.workers[w].nf_errors) for w in range(self.n_workers)])
        return d

    def flow_stats(self):
        """Per flow: ``(rss_input bytes, packets_in, packets_out, reordered)``,
        for every flow the RFC 4737 count tracked (after or during a run)."""
        cdef uint64_t i
        cdef pfo_dp_flow_t* f
        self._live()
        out = []
        for i in range(self.flow_mask + 1):
            f = &self.flows[i]
            if f.key:
                # during a run the vSwitch may be filling this entry: a racy
                # but bounded read (rss_len clamped to the array)
                out.append((PyBytes_FromStringAndSize(<char*>f.rss,
                                                      min(f.rss_len, <uint32_t>sizeof(f.rss))),
                            int(f.seq_in), int(f.packets_out), int(f.reordered)))
        return out

    # ---- the threads (their bodies: dataplane_threads.pxi) ---------------

    def _worker_main(self, uint32_t w, done):
        try:
            with nogil:
                _dp_worker(self, w)
        finally:
            done.set()

    def _vswitch_main(self, done):
        try:
            with nogil:
                _dp_vswitch(self)
        finally:
            done.set()

    def _plain_main(self, uint64_t n_packets, done):
        try:
            with nogil:
                _dp_plain(self, n_packets)
        finally:
            done.set()

    # ---- the baseline: the same rings and workers, no vSwitch work --------

    def ring_baseline(self, n_packets):
        """Move `n_packets` records through the same rings and workers (the
        NF runs on each, with a valid store slot) with nothing else on the
        vSwitch side: the floor under :meth:`run_trace_arrays`' cost.
        Returns ``{"seconds", "packets_out", "vswitch_cpu_ns", ...}``."""
        self._live()
        n = pfo_int("n_packets", n_packets, 1, 1 << 40)
        self._claim()
        try:
            self._plain_n = n
            seconds, stopped = self._run(None, 1.0, plain=True)
        finally:
            self._release()
        d = self.counters()
        d["seconds"] = seconds
        return d

    # ---- Python driver ---------------------------------------------------

    def _run(self, progress=None, double interval=1.0, plain=False):
        # Start the workers and the vSwitch, wait for the vSwitch to end (a
        # KeyboardInterrupt becomes a stop request), then stop the workers.
        # The caller has claimed the object (_claim) and set up the source.
        # Completion is signalled by Events set by the threads themselves:
        # Thread.join/is_alive are not trusted after a KeyboardInterrupt
        # (CPython < 3.12 may then report a live thread as stopped).  The
        # threads are not daemons: the interpreter cannot exit under them.
        memset(&self.cnt, 0, sizeof(self.cnt))
        self.naps = self.nap_ns = self.busy_turns = 0
        cdef uint32_t w
        for w in range(self.n_workers):
            self.workers[w].busy_ns = 0
            self.workers[w].packets = 0
            self.workers[w].nf_errors = 0
            self.workers[w].cpu_ns = 0
            self.workers[w].starved_ns = 0
        pfo_flag_set(&self.workers_stop, 0)
        interrupted = False
        w_done = [threading.Event() for _ in range(self.n_workers)]
        vs_done = threading.Event()
        workers = [threading.Thread(target=self._worker_main, args=(w, w_done[w]),
                                    name=f"paraflowo-worker-{w}") for w in range(self.n_workers)]
        if plain:
            vs = threading.Thread(target=self._plain_main, args=(self._plain_n, vs_done),
                                  name="paraflowo-plain")
        else:
            vs = threading.Thread(target=self._vswitch_main, args=(vs_done,),
                                  name="paraflowo-vswitch")
        started = []
        try:
            for t in workers:
                t.start()
                started.append(t)
            vs.start()
            started.append(vs)
            while not vs_done.is_set():
                try:
                    if not vs_done.wait(interval) and progress is not None:
                        progress(self.counters())
                except KeyboardInterrupt:
                    interrupted = True
                    self.request_stop()
                except BaseException:
                    self.request_stop()
                    raise
        finally:
            if vs in started:
                while not vs_done.is_set():
                    try:
                        vs_done.wait(1.0)
                    except KeyboardInterrupt:
                        interrupted = True
                        self.request_stop()
            else:
                vs_done.set()
            pfo_flag_set(&self.workers_stop, 1)
            for w in range(len(workers)):
                if workers[w] in started:
                    while not w_done[w].is_set():
                        try:
                            w_done[w].wait(1.0)
                        except KeyboardInterrupt:
                            interrupted = True
        if self.stop_req == 2:
            raise MemoryError("the vSwitch thread could not allocate its buffers")
        stopped = bool(self.stop_req) or interrupted
        pfo_flag_set(&self.stop_req, 0)
        return (self.t_end - self.t_start) / 1e9, stopped

    cdef _claim(self):
        # One run at a time: checked and set under the GIL, before the caller
        # touches any state the threads of a running run use.
        if self.running:
            raise RuntimeError("this Dataplane is already running")
        self.policy.c_claim(True)
        self.running = True

    cdef _release(self):
        self.policy.c_claim(False)
        self.running = False

    def _reset_flows(self):
        memset(self.flows, 0, (self.flow_mask + 1) * sizeof(pfo_dp_flow_t))
        self.n_flows = 0

    def run_trace_arrays(self, data, offsets, lengths, due_ns, loops, span_ns,
                         capture=False, progress=None, interval=1.0):
        """Replay packets ``data[offsets[i]:offsets[i] + lengths[i]]`` in order,
        `loops` times.  `due_ns` (``int64``, nondecreasing, or None for as
        fast as possible) is each packet's offer time after the start of its
        loop; loop k starts ``k * span_ns`` after the first.  Returns a dict
        (counters, seconds, and with `capture` the egress packets in order:
        ``out_data``, ``out_offsets``, ``out_lengths``, ``out_ns``).

        The arrays must be 1-D, C-contiguous, of exactly those dtypes
        (``data`` ``uint8``); every argument is checked before any thread
        starts.
        """
        self._live()
        _check_arrays(data, offsets, lengths, due_ns)
        loops = pfo_int("loops", loops, 1, 1 << 40)
        span_ns = pfo_int("span_ns", span_ns, 0, (1 << 62))
        interval = _check_interval(progress, interval)
        n = offsets.shape[0]
        if lengths.shape[0] != n:
            raise ValueError(f"lengths must have {n} entries (as offsets), got {lengths.shape[0]}")
        if n == 0:
            raise ValueError("the trace must hold at least one packet, got 0")
        if (offsets < 0).any() or (offsets + lengths.astype(np.int64) > data.shape[0]).any():
            raise ValueError("offsets and lengths must lie inside data")
        if lengths.max() > self.store.st.slot_bytes:
            raise ValueError(f"packets must be at most slot_bytes={self.store.st.slot_bytes} "
                             f"bytes, got {int(lengths.max())}")
        if data.shape[0] == 0:
            data = np.zeros(1, np.uint8)
        if due_ns is not None:
            due_ns = np.ascontiguousarray(due_ns, dtype=np.int64)
            if due_ns.shape[0] != n:
                raise ValueError(f"due_ns must have {n} entries, got {due_ns.shape[0]}")
            if (due_ns < 0).any() or (np.diff(due_ns) < 0).any():
                raise ValueError("due_ns must be >= 0 and nondecreasing")
        self._claim()
        try:
            return self._trace(data, offsets, lengths, due_ns, loops, span_ns, capture,
                               progress, interval)
        finally:
            self._release()

    def _trace(self, data, offsets, lengths, due_ns, int64_t loops, int64_t span_ns,
               capture, progress, double interval):
        cdef const uint8_t[::1] dv
        cdef const int64_t[::1] ov
        cdef const uint32_t[::1] lv
        cdef const int64_t[::1] uv
        cdef uint8_t[::1] odv
        cdef int64_t[::1] oov, otv
        cdef uint32_t[::1] olv
        n = offsets.shape[0]
        dv = data
        ov = offsets
        lv = lengths
        self.src_data = &dv[0]
        self.src_off = &ov[0]
        self.src_len = &lv[0]
        self.src_due = NULL
        if due_ns is not None:
            uv = due_ns
            self.src_due = &uv[0]
        self.src_n = n
        self.src_loops = loops
        self.src_span = span_ns
        self.mode = MODE_TRACE
        result = {}
        self.out_data = NULL
        if capture:
            npk = n * loops
            nby = int(lengths.sum()) * loops
            o_data = np.empty(max(nby, 1), np.uint8)
            o_off = np.empty(npk, np.int64)
            o_len = np.empty(npk, np.uint32)
            o_ts = np.empty(npk, np.int64)
            odv = o_data
            oov = o_off
            olv = o_len
            otv = o_ts
            self.out_data = &odv[0]
            self.out_off = &oov[0]
            self.out_len = &olv[0]
            self.out_ts = &otv[0]
            self.out_cap_pkts = npk
            self.out_cap_bytes = nby
        self.out_n = 0
        self.out_bytes = 0
        self._reset_flows()
        try:
            seconds, stopped = self._run(progress, interval)
        finally:
            self.src_data = NULL
            self.out_data = NULL
        result.update(self.counters())
        result["seconds"] = seconds
        result["stopped"] = stopped
        if capture:
            m = self.out_n
            result.update(out_data=o_data[:self.out_bytes], out_offsets=o_off[:m],
                          out_lengths=o_len[:m], out_ns=o_ts[:m])
        return result

    def run_bridge(self, if_a, if_b, duration=0.0, progress=None, interval=1.0,
                   rcvbuf=4 << 20):
        """Forward both directions between interfaces `if_a` and `if_b` through
        the pipeline (AF_PACKET), for `duration` seconds (0: until
        :meth:`request_stop`, SIGINT or SIGTERM).  Returns the counters dict
        with ``seconds`` and ``ignore_outgoing`` (whether the kernel filters
        our own sends; otherwise the receive path does).  Every argument is
        checked before a socket is opened or a thread starts."""
        self._live()
        for name, ifn in (("if_a", if_a), ("if_b", if_b)):
            if not isinstance(ifn, str):
                raise TypeError(f"{name} must be a str (an interface name), got {ifn!r}")
        duration = require_number("duration", duration)
        if not 0 <= duration <= 1e9:
            raise ValueError(f"duration must be in [0, 1e9] seconds, got {duration!r}")
        interval = _check_interval(progress, interval)
        rcvbuf = pfo_int("rcvbuf", rcvbuf, 0, 1 << 30)
        if if_a == if_b:
            raise ValueError(f"if_b must differ from if_a, got {if_b!r} twice")
        for name, ifn in (("if_a", if_a), ("if_b", if_b)):
            if not ifn or len(ifn) >= 16 or "/" in ifn or "\0" in ifn:
                raise ValueError(f"{name} must be an interface name, got {ifn!r}")
        self._claim()
        try:
            return self._bridge(if_a, if_b, duration, progress, interval, rcvbuf)
        finally:
            self._release()

    def _bridge(self, str if_a, str if_b, double duration, progress, double interval,
                int rcvbuf):
        cdef int ign_a = 0, ign_b = 0
        self.fd[0] = pfo_afp_open(if_a.encode(), rcvbuf, &ign_a)
        if self.fd[0] < 0:
            raise OSError(f"cannot open an AF_PACKET socket on {if_a!r} "
                          f"(needs root or CAP_NET_RAW and an existing interface)")
        self.fd[1] = pfo_afp_open(if_b.encode(), rcvbuf, &ign_b)
        if self.fd[1] < 0:
            pfo_afp_close(self.fd[0])
            self.fd[0] = -1
            raise OSError(f"cannot open an AF_PACKET socket on {if_b!r} "
                          f"(needs root or CAP_NET_RAW and an existing interface)")
        self.kdrops0[0] = pfo_afp_drops(self.fd[0])    # reading resets the kernel's count
        self.kdrops0[1] = pfo_afp_drops(self.fd[1])
        self.mode = MODE_BRIDGE
        # the vSwitch adds its start time: the run lasts `duration` from there
        self.end_ns = <int64_t>(duration * 1e9) if duration > 0 else (<int64_t>1 << 62)
        self._reset_flows()
        try:
            seconds, stopped = self._run(progress, interval)
            _inc(&self.cnt.dropped_room, pfo_afp_drops(self.fd[0]) + pfo_afp_drops(self.fd[1]))
        finally:
            pfo_afp_close(self.fd[0])
            pfo_afp_close(self.fd[1])
            self.fd[0] = -1
            self.fd[1] = -1
        result = self.counters()
        result.update(seconds=seconds, stopped=stopped,
                      ignore_outgoing=bool(ign_a and ign_b))
        return result


# The thread bodies and the sinks, at module level (nogil functions that take
# the Dataplane as their first argument).
include "dataplane_threads.pxi"
include "dataplane_io.pxi"


_U8 = np.dtype(np.uint8)
_I64 = np.dtype(np.int64)
_U32 = np.dtype(np.uint32)


cdef int _check_arrays(data, offsets, lengths, due_ns) except -1:
    # run_trace_arrays' arrays, through the boundary module's binder (held
    # only while checked: _trace takes its own views).
    cdef Py_buffer b
    b.shape = NULL
    for name, arr, dt, flags in (("data", data, _U8, 0), ("offsets", offsets, _I64, 0),
                                 ("lengths", lengths, _U32, 0),
                                 ("due_ns", due_ns, _I64, PFO_OPTIONAL)):
        pfo_bind(&b, arr, name, dt, flags)
        pfo_release(&b)
    return 0


cdef double _check_interval(progress, interval) except? -1:
    # The progress callback and its period (seconds, finite, > 0).
    if progress is not None and not callable(progress):
        raise TypeError(f"progress must be callable or None, got {progress!r}")
    cdef double v = require_number("interval", interval)
    if not 0 < v <= 86400:
        raise ValueError(f"interval must be in (0, 86400] seconds, got {interval!r}")
    return v
