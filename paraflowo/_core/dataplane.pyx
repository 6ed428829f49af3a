"""The live dataplane runtime: one vSwitch thread and N worker threads joined by
SPSC rings of metadata records (see ``dataplane.pxd`` and ``spsc_ring.h``).

Python threads run the loops below without the GIL.  The Python face,
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
    pfo_st64, pfo_thread_cpu_ns, pfo_thread_timer_slack,
)

cdef extern from "dp_io.h" nogil:
    ctypedef struct pfo_tuple_t:
        uint8_t rss[36]
        uint32_t rss_len
        uint64_t key
    void pfo_parse_tuple(const uint8_t* f, uint32_t length, pfo_tuple_t* t)
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
    uint64_t pad[10]


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
    cdef pfo_dp_worker_t* workers
    cdef void** ring_mem
    cdef pfo_dp_counters_t cnt
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
                 max_sleep_ns=200_000):
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
             "flows": pfo_ld64(&self.n_flows)}
        d["worker_busy_ns"] = [pfo_ld64(&self.workers[w].busy_ns) for w in range(self.n_workers)]
        d["worker_packets"] = [pfo_ld64(&self.workers[w].packets) for w in range(self.n_workers)]
        d["worker_cpu_ns"] = [pfo_ld64(&self.workers[w].cpu_ns) for w in range(self.n_workers)]
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

    # ---- the worker loop -------------------------------------------------

    def _worker_main(self, uint32_t w, done):
        try:
            with nogil:
                self._c_worker(w)
        finally:
            done.set()

    cdef void _c_worker(self, uint32_t w) noexcept nogil:
        cdef pfo_dp_worker_t* me = &self.workers[w]
        cdef pfo_meta_t buf[MAX_BATCH]
        cdef uint32_t n, i, done
        cdef int64_t t0, t1
        cdef pfo_backoff_t bo
        cdef const pfo_store_t* st = &self.store.st
        cdef uint8_t* data = st.data
        cdef uint64_t sb = st.slot_bytes
        cdef pfo_nf_fn fn = self.nf.fn
        cdef void* state = self.nf.state
        bo.max_sleep_ns = self.max_sleep_ns
        pfo_backoff_reset(&bo)
        pfo_thread_timer_slack(1000)
        cdef int64_t cpu0 = pfo_thread_cpu_ns()
        while True:
            n = pfo_spsc_pop_burst(me.rx, buf, self.batch)
            if n == 0:
                if pfo_flag_get(&self.workers_stop) and pfo_spsc_count(me.rx) == 0:
                    break
                pfo_backoff_idle(&bo)
                continue
            pfo_backoff_reset(&bo)
            t0 = pfo_now_ns()
            for i in range(n):
                if fn(state, &buf[i], data + buf[i].handle * sb,
                         st.lengths[buf[i].handle], w) != 0:
                    _inc(&me.nf_errors, 1)
            t1 = pfo_now_ns()
            _inc(&me.busy_ns, <uint64_t>(t1 - t0))
            _inc(&me.packets, n)
            done = 0
            while done < n:     # the vSwitch always drains tx: this ends
                done += pfo_spsc_push_burst(me.tx, buf + done, n - done)
                if done < n:
                    pfo_backoff_idle(&bo)
            pfo_backoff_reset(&bo)
        pfo_st64(&me.cpu_ns, <uint64_t>(pfo_thread_cpu_ns() - cpu0))

    # ---- the vSwitch loop ------------------------------------------------

    def _vswitch_main(self, done):
        try:
            with nogil:
                self._c_vswitch()
        finally:
            done.set()

    cdef inline int32_t _flow(self, const pfo_tuple_t* t, uint32_t h) noexcept nogil:
        # the flow's slot in the RFC 4737 table, or -1 (table full near it)
        cdef uint64_t i = pfo_fmix64(t.key) & self.flow_mask
        cdef int probe
        cdef pfo_dp_flow_t* f
        for probe in range(64):
            f = &self.flows[i]
            if f.key == t.key:
                return <int32_t>i
            if f.key == 0:
                f.key = t.key
                f.flow_hash = h
                f.rss_len = t.rss_len
                memcpy(f.rss, t.rss, t.rss_len)
                pfo_st64(&self.n_flows, self.n_flows + 1)
                return <int32_t>i
            i = (i + 1) & self.flow_mask
        return -1

    cdef inline void _emit(self, pfo_handle_t h, pfo_ns_t now, pfo_handle_t* tx,
                           int* tx_n) noexcept nogil:
        # One packet leaves egress: RFC 4737 check against its flow, then the
        # sink (capture copy or the bridge's send batch).  The slot is freed
        # here (trace) or after the send (bridge).
        cdef int32_t fi = self.slot_flow[h]
        cdef pfo_dp_flow_t* f
        cdef uint64_t seq
        cdef uint32_t ln = self.store.st.lengths[h]
        cdef int p
        if fi >= 0:
            f = &self.flows[fi]
            seq = self.slot_seq[h]
            if seq < f.next_exp:
                f.reordered += 1
                _inc(&self.cnt.out_of_order, 1)
            else:
                f.next_exp = seq + 1
            f.packets_out += 1
        _inc(&self.cnt.packets_out, 1)
        _inc(&self.cnt.bytes_out, ln)
        if self.mode == MODE_TRACE:
            if self.out_data != NULL and self.out_n < self.out_cap_pkts \
                    and self.out_bytes + ln <= self.out_cap_bytes:
                memcpy(self.out_data + self.out_bytes,
                       self.store.st.data + h * self.store.st.slot_bytes, ln)
                self.out_off[self.out_n] = self.out_bytes
                self.out_len[self.out_n] = ln
                self.out_ts[self.out_n] = now - self.t_start
                self.out_n += 1
                self.out_bytes += ln
            pfo_store_free(&self.store.st, <uint32_t>h)
        else:
            p = 1 - self.slot_port[h]           # out the other interface
            tx[p * PFO_AFP_BATCH + tx_n[p]] = h
            tx_n[p] += 1
            if tx_n[p] == PFO_AFP_BATCH:
                self._send(p, tx, tx_n)

    cdef void _send(self, int p, pfo_handle_t* tx, int* tx_n) noexcept nogil:
        cdef uint8_t* bufs[PFO_AFP_BATCH]
        cdef uint32_t lens[PFO_AFP_BATCH]
        cdef int i, n = tx_n[p], sent
        cdef pfo_handle_t h
        for i in range(n):
            h = tx[p * PFO_AFP_BATCH + i]
            bufs[i] = self.store.st.data + h * self.store.st.slot_bytes
            lens[i] = self.store.st.lengths[h]
        sent = pfo_afp_send(self.fd[p], bufs, lens, n) if n else 0
        if sent < n:
            _inc(&self.cnt.tx_errors, n - sent)
            pfo_st64(&self.cnt.packets_out, self.cnt.packets_out - <uint64_t>(n - sent))
        for i in range(n):
            pfo_store_free(&self.store.st, <uint32_t>tx[p * PFO_AFP_BATCH + i])
        tx_n[p] = 0

    cdef inline void _complete(self, pfo_meta_t* m, pfo_ns_t now, pfo_handle_t* out,
                               pfo_handle_t* tx, int* tx_n) noexcept nogil:
        # Hand one completed record to the policy and emit what it releases;
        # a dropped record's slot is freed once the policy has consumed it.
        cdef Py_ssize_t n, j
        cdef int more = 1
        if <uint64_t>(now - m.ingress_ns) > self.cnt.max_delay_ns:
            pfo_st64(&self.cnt.max_delay_ns, <uint64_t>(now - m.ingress_ns))
        while more:
            more = self.policy.c_complete(m, now, out, OUT_CAP, &n)
            for j in range(n):
                self._emit(out[j], now, tx, tx_n)
        if m.flags & PFO_FLAG_DROP:
            _inc(&self.cnt.dropped_flag, 1)
            pfo_store_free(&self.store.st, <uint32_t>m.handle)

    cdef inline uint64_t _flush_wbuf(self, pfo_meta_t* wbuf, uint32_t* wbuf_n) noexcept nogil:
        # Push each worker's staged records into its rx ring; what does not
        # fit stays staged, in order.  Returns the number pushed.
        cdef uint32_t w, k
        cdef uint64_t pushed = 0
        for w in range(self.n_workers):
            if wbuf_n[w] == 0:
                continue
            k = pfo_spsc_push_burst(self.workers[w].rx, wbuf + w * MAX_BATCH, wbuf_n[w])
            if k:
                pushed += k
                wbuf_n[w] -= k
                if wbuf_n[w]:
                    memmove(wbuf + w * MAX_BATCH, wbuf + w * MAX_BATCH + k,
                            wbuf_n[w] * sizeof(pfo_meta_t))
        return pushed

    cdef void _c_vswitch(self) noexcept nogil:
        # One loop turn: (1) egress: pop every tx ring, complete, emit;
        # (2) timed releases (reorder timeouts); (3) ingress: up to `batch`
        # packets from the source, steered into per-worker staging, then
        # pushed; (4) the bridge's send batches; (5) if nothing happened, back
        # off.  Ingress waits (backpressure) while the store is full or a
        # packet's worker has no room: that packet stays pending.  Stopping:
        # no new packets are taken; the pending and staged ones are still
        # delivered, in-flight records are awaited, then the policy is flushed.
        cdef pfo_store_t* st = &self.store.st
        cdef uint32_t nw = self.n_workers, w, B = self.batch, k, i
        cdef pfo_meta_t* wbuf = <pfo_meta_t*>calloc(nw * MAX_BATCH, sizeof(pfo_meta_t))
        cdef uint32_t* wbuf_n = <uint32_t*>calloc(nw, sizeof(uint32_t))
        cdef pfo_meta_t ebuf[MAX_BATCH]
        cdef pfo_handle_t out[OUT_CAP]
        cdef pfo_handle_t tx[2 * PFO_AFP_BATCH]
        cdef int tx_n[2]
        cdef uint8_t* stage_ptr[PFO_AFP_BATCH]
        cdef uint32_t stage_len[PFO_AFP_BATCH]
        cdef int stage_n = 0, stage_i = 0, stage_port = 0, got, rr = 0, j
        cdef pfo_meta_t pend
        cdef bint has_pend = False, stopping = False, exhausted = False, did
        cdef Py_ssize_t n
        cdef int64_t now, due = 0, idx = 0, loop = 0, hh, next_dl
        cdef uint64_t inflight = 0, staged = 0
        cdef pfo_backoff_t bo
        cdef pfo_tuple_t tup
        cdef const uint8_t* pkt
        cdef uint32_t plen, h32
        cdef int32_t fi
        cdef uint16_t port = 0
        cdef int64_t cpu0
        if wbuf == NULL or wbuf_n == NULL:
            free(wbuf)
            free(wbuf_n)
            pfo_flag_set(&self.stop_req, 2)     # reported as a MemoryError
            return
        tx_n[0] = 0
        tx_n[1] = 0
        for j in range(PFO_AFP_BATCH):
            stage_ptr[j] = self.stage + j * st.slot_bytes
        bo.max_sleep_ns = self.max_sleep_ns
        pfo_backoff_reset(&bo)
        pfo_thread_timer_slack(1000)
        cpu0 = pfo_thread_cpu_ns()
        self.t_start = pfo_now_ns()
        if self.mode == MODE_BRIDGE:
            self.end_ns += self.t_start
        while True:
            did = False
            now = pfo_now_ns()
            if not stopping and (pfo_flag_get(&self.stop_req)
                                 or (self.mode == MODE_BRIDGE and now >= self.end_ns)):
                stopping = True
            # (1) egress
            for w in range(nw):
                k = pfo_spsc_pop_burst(self.workers[w].tx, ebuf, B)
                if k == 0:
                    continue
                did = True
                inflight -= k
                now = pfo_now_ns()
                for i in range(k):
                    self._complete(&ebuf[i], now, out, tx, tx_n)
            # (2) timed releases
            next_dl = self.policy.c_next_deadline()
            if next_dl != PFO_NS_NEVER and now >= next_dl:
                n = OUT_CAP
                while n == OUT_CAP:
                    n = self.policy.c_poll(now, out, OUT_CAP)
                    for j in range(n):
                        self._emit(out[j], now, tx, tx_n)
                    if n:
                        did = True
            # (3) ingress
            if has_pend and wbuf_n[pend.core] < MAX_BATCH and self.policy.c_ready(&pend):
                wbuf[pend.core * MAX_BATCH + wbuf_n[pend.core]] = pend
                wbuf_n[pend.core] += 1
                has_pend = False
            i = 0
            while i < B and not has_pend:
                # the next packet of the source, if there is one now
                if self.mode == MODE_TRACE:
                    if stopping or exhausted:
                        break
                    if idx == self.src_n:
                        idx = 0
                        loop += 1
                        if loop == self.src_loops:
                            exhausted = True
                            break
                    if self.src_due != NULL:
                        due = self.t_start + loop * self.src_span + self.src_due[idx]
                        if now < due:
                            now = pfo_now_ns()
                            if now < due:
                                break
                    pkt = self.src_data + self.src_off[idx]
                    plen = self.src_len[idx]
                    port = 0
                else:
                    if stage_i == stage_n:
                        if stopping:
                            break
                        stage_n = stage_i = 0
                        for j in range(2):          # alternate the two ports
                            got = pfo_afp_recv(self.fd[rr], stage_ptr, st.slot_bytes,
                                               stage_len, PFO_AFP_BATCH)
                            stage_port = rr
                            rr ^= 1
                            if got > 0:
                                stage_n = got
                                break
                        if stage_n == 0:
                            break
                        now = pfo_now_ns()
                    if stage_len[stage_i] == PFO_AFP_OUTGOING:   # our own send
                        _inc(&self.cnt.outgoing_skipped, 1)
                        stage_i += 1
                        continue
                    if stage_len[stage_i] == 0:      # truncated: too big for a slot
                        _inc(&self.cnt.dropped_room, 1)
                        stage_i += 1
                        continue
                    pkt = stage_ptr[stage_i]
                    plen = stage_len[stage_i]
                    port = <uint16_t>stage_port
                if pfo_store_next(st) < 0:
                    _inc(&self.cnt.backpressure, 1)
                    break                           # store full: wait
                hh = pfo_store_put(st, pkt, plen)
                h32 = <uint32_t>hh
                if self.mode == MODE_TRACE:
                    idx += 1
                else:
                    stage_i += 1
                pfo_parse_tuple(pkt, plen, &tup)
                fi = self._flow(&tup, 0)
                h32 = pfo_rss_hash(self.hasher.tbl, tup.rss, tup.rss_len)
                if fi >= 0:
                    self.flows[fi].flow_hash = h32
                    self.slot_seq[hh] = self.flows[fi].seq_in
                    self.flows[fi].seq_in += 1
                else:
                    _inc(&self.cnt.untracked, 1)
                self.slot_flow[hh] = fi
                self.slot_port[hh] = <uint8_t>port
                _inc(&self.cnt.packets_in, 1)
                _inc(&self.cnt.bytes_in, plen)
                self.policy.c_steer(tup.key, h32, port, <uint16_t>(plen if plen < 65535 else 65535),
                            now, <pfo_handle_t>hh, &pend)
                did = True
                i += 1
                if not self.policy.c_ready(&pend):
                    has_pend = True                 # its reorder window is full
                    _inc(&self.cnt.window_waits, 1)
                elif wbuf_n[pend.core] < MAX_BATCH:
                    wbuf[pend.core * MAX_BATCH + wbuf_n[pend.core]] = pend
                    wbuf_n[pend.core] += 1
                else:
                    has_pend = True
                    _inc(&self.cnt.backpressure, 1)
            k = <uint32_t>self._flush_wbuf(wbuf, wbuf_n)
            if k:
                inflight += k
                did = True
            staged = has_pend
            for w in range(nw):
                staged += wbuf_n[w]
            pfo_st64(&self.cnt.inflight, inflight + staged)
            # (4) the bridge's sends
            if self.mode == MODE_BRIDGE:
                for j in range(2):
                    if tx_n[j]:
                        self._send(j, tx, tx_n)
            # the end: nothing more to take, nothing in flight
            if (stopping or exhausted) and inflight == 0 and staged == 0 \
                    and (self.mode == MODE_TRACE or stage_i == stage_n):
                n = OUT_CAP
                while n == OUT_CAP:
                    n = self.policy.c_flush(out, OUT_CAP)
                    for j in range(n):
                        self._emit(out[j], now, tx, tx_n)
                    if self.mode == MODE_BRIDGE:
                        for j in range(2):
                            if tx_n[j]:
                                self._send(j, tx, tx_n)
                break
            # (5) idle
            if did:
                pfo_backoff_reset(&bo)
            elif self.mode == MODE_BRIDGE and pfo_backoff_next(&bo) > 0 and inflight == 0:
                # idle bridge: sleep in ppoll so a frame wakes us at once
                pfo_afp_wait(self.fd[0], self.fd[1], pfo_backoff_next(&bo))
                bo.sleep_ns = min(2 * bo.sleep_ns, bo.max_sleep_ns)
            elif self.mode == MODE_TRACE and self.src_due != NULL and not exhausted \
                    and not stopping and inflight == 0 and due > now \
                    and pfo_backoff_next(&bo) > due - now:
                bo.sleep_ns = due - now                  # sleep until the next packet is due
                pfo_backoff_idle(&bo)
            else:
                pfo_backoff_idle(&bo)
        if self.mode == MODE_TRACE and not exhausted:
            # stopped early: the rest of this loop and the loops not begun
            # (idx may equal src_n: the loop ended, the next has not begun)
            _inc(&self.cnt.not_offered, self.src_loops * self.src_n - (loop * self.src_n + idx))
        self.t_end = pfo_now_ns()
        pfo_st64(&self.cnt.vswitch_cpu_ns, <uint64_t>(pfo_thread_cpu_ns() - cpu0))
        free(wbuf)
        free(wbuf_n)

    # ---- the baseline: the same rings and workers, no vSwitch work --------

    cdef void _c_plain(self, uint64_t n_packets) noexcept nogil:
        # Round-robin records (handle = a store slot, untouched) into the rx
        # rings and pop them back from the tx rings: the rings' and workers'
        # own cost, without parsing, hashing, steering, the store or egress.
        cdef pfo_meta_t buf[MAX_BATCH]
        cdef uint64_t sent = 0, back = 0, i, k, n
        cdef uint32_t w = 0, B = self.batch
        cdef uint32_t mask = self.store.st.n_slots - 1
        cdef pfo_backoff_t bo
        cdef int64_t cpu0 = pfo_thread_cpu_ns()
        memset(buf, 0, sizeof(buf))
        bo.max_sleep_ns = self.max_sleep_ns
        pfo_backoff_reset(&bo)
        self.t_start = pfo_now_ns()
        while back < n_packets:
            n = 0
            if sent < n_packets:
                k = n_packets - sent if n_packets - sent < B else B
                for i in range(k):
                    buf[i].handle = (sent + i) % (mask + 1)
                    buf[i].core = <uint16_t>w
                n = pfo_spsc_push_burst(self.workers[w].rx, buf, <uint32_t>k)
                sent += n
                w = w + 1 if w + 1 < self.n_workers else 0
            for i in range(self.n_workers):
                k = pfo_spsc_pop_burst(self.workers[i].tx, buf, B)
                back += k
                n += k
            if n:
                pfo_backoff_reset(&bo)
            else:
                pfo_backoff_idle(&bo)
        self.t_end = pfo_now_ns()
        pfo_st64(&self.cnt.vswitch_cpu_ns, <uint64_t>(pfo_thread_cpu_ns() - cpu0))
        pfo_st64(&self.cnt.packets_out, back)

    def _plain_main(self, uint64_t n_packets, done):
        try:
            with nogil:
                self._c_plain(n_packets)
        finally:
            done.set()

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
        cdef uint32_t w
        for w in range(self.n_workers):
            self.workers[w].busy_ns = 0
            self.workers[w].packets = 0
            self.workers[w].nf_errors = 0
            self.workers[w].cpu_ns = 0
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
