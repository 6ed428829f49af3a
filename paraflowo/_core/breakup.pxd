# cython: language_level=3
"""The Breakup ingress pipeline (paper 4.1): the cimport API.

Usage from Cython, e.g. a simulator's per-packet loop (runs without the GIL)::

    from paraflowo._core._types cimport pfo_meta_t, PFO_FLAG_PARA
    from paraflowo._core.breakup cimport Breakup

    cdef Breakup b = Breakup(CountMinDetector(4096, 4, 1000, 1_000_000),
                             PSNAllocator(256), FlowletScheduler(4, n_para=2))
    cdef pfo_meta_t m
    with nogil:
        for i in range(n):
            b.c_ingress(key[i], hash[i], port[i], length[i], now[i], i, &m)
            enqueue(m.core, &m)                 # m.flags & PFO_FLAG_PARA: tagged
        ...
        b.c_feedback(m.core, m.ingress_ns, egress_ns)    # at egress

Per packet, c_ingress:

1. looks the flow key up in the para_flow table (bounded open addressing);
   an entry is live while its flow's last packet is less than idle_ns old
   (idle_ns = the allocator's);
2. counts the packet in the detector (packets or bytes, see `count_bytes`);
3. live entry: the packet gets the entry's reorder queue, the queue's next
   PSN and the scheduler's core (which may switch flowlet); flags PARA;
4. no live entry and the detector (or a forced tag) says elephant: a table
   slot and a reorder queue are taken, the flow's RX id starts at its hash
   (its first flowlet stays on its RSS core) and the packet is tagged as in 3;
   if the table has no free slot in the probe window (`table_full`) or no
   reorder queue is free (the allocator's `fallbacks`), the packet goes on
   as a mouse;
5. otherwise (a mouse): core = reta[flow_hash & mask], queue = psn = 0,
   flags 0.

The first flowlet of a new para_flow ends (a due switch happens) only once
feedback shows that its RSS core has completed a packet that ingressed after
the flowlet started: the core is FIFO, so by then it has finished every
packet the flow sent there untagged, and no tagged packet of the flow can be
released before them.  Until then the switch waits (`holds` counts the
packets that waited).  Without feedback the flow never leaves its RSS core.
A flow leaves para_flow only once it has been idle for idle_ns, whatever the
detector or a tag says in between, so leaving never reorders it either.

Preconditions (checked by the Python methods, trusted here): now_ns >= 0 and
never decreasing from call to call; for c_feedback, core < n_cores,
0 <= ingress_ns <= egress_ns, and ingress_ns a time this Breakup has seen
(at most its latest ingress time); cores process their packets in FIFO order
and the RETA does not change while flows are para_flows.  The
detector, allocator and scheduler belong to this Breakup: do not drive them
from elsewhere at the same time.
"""

from libc.stdint cimport int32_t, int64_t, uint8_t, uint16_t, uint32_t, uint64_t
from paraflowo._core._types cimport (PFO_FLAG_PARA, pfo_fmix64, pfo_handle_t, pfo_hash_t,
                                    pfo_meta_t, pfo_ns_t, pfo_psn_t)
from paraflowo._core.detectors cimport ElephantDetector
from paraflowo._core.psn cimport PSNAllocator, pfo_psn_next
from paraflowo._core.hashing cimport pfo_reta_lookup
from paraflowo._core.scheduler cimport (FlowletScheduler, pfo_flowlet_t, pfo_sched_due,
                                        pfo_sched_observe, pfo_sched_steer, pfo_sched_switch)

cdef enum:
    PFO_BRK_MAX_PROBES = 64      # largest accepted `probes`
    PFO_BRK_CHUNK = 256          # c_ingress_burst asks the detector per chunk of this many

cdef extern from *:
    """
    #define PFO_BRK_EMPTY INT64_MIN
    """
    # pfo_para_entry_t.last_ns of a slot that never held a flow.
    const pfo_ns_t PFO_BRK_EMPTY

# One para_flow table slot, 32 bytes; the table is 64-byte aligned, so a slot
# never straddles two cache lines.
ctypedef struct pfo_para_entry_t:
    uint64_t key          # flow key (valid unless last_ns == PFO_BRK_EMPTY)
    pfo_ns_t last_ns      # time of the flow's last packet, PFO_BRK_EMPTY if the
                          # slot never held a flow.  Slots are never emptied
                          # again: one whose flow is idle >= idle_ns is free.
    pfo_flowlet_t flow    # the scheduler's per-flow state (RX id, core, since);
                          # flow.user holds the flow's reorder queue


cdef class Breakup:
    cdef readonly ElephantDetector detector
    cdef readonly PSNAllocator allocator
    cdef readonly FlowletScheduler scheduler
    cdef pfo_para_entry_t* table  # `capacity` slots, 64-byte aligned inside table_mem
    cdef void* table_mem          # owned allocation
    cdef uint32_t mask            # capacity - 1
    cdef readonly uint32_t capacity
    cdef readonly uint32_t probes
    cdef readonly bint count_bytes     # detector amount: length (True) or 1
    cdef readonly pfo_ns_t idle_ns   # allocator.idle_ns: idle time to leave para_flow
    cdef pfo_ns_t last_ns         # latest ingress now_ns
    cdef int busy                 # a Python burst call is running (GIL released)
    cdef readonly uint64_t packets      # packets through c_ingress
    cdef readonly uint64_t para_packets # of which tagged (FLAG_PARA)
    cdef readonly uint64_t para_flows   # para_flow entries started
    cdef readonly uint64_t table_full   # elephant packets left untagged: no free slot
    cdef readonly uint64_t holds        # packets kept on a new elephant's RSS core
                                        # past t_switch (the core had not finished
                                        # the flow's earlier packets)
    cdef pfo_ns_t* done_ns        # owned, n_cores: latest ingress time of a packet
                                  # feedback reported completed on each core (-1: none)

    cdef void c_ingress(self, uint64_t key, pfo_hash_t flow_hash, uint16_t port,
                        uint16_t length, pfo_ns_t now_ns, pfo_handle_t handle,
                        pfo_meta_t* out) noexcept nogil
        # Steer one packet and fill its metadata record *out (every field:
        # handle, ingress_ns = now_ns, psn, flow_hash, queue, core, length,
        # flags).  The RX queue is out.core.  Cannot fail: a full table or no
        # free reorder queue leaves the packet untagged on its RSS core.

    cdef void c_ingress_detected(self, uint64_t key, pfo_hash_t flow_hash, uint16_t port,
                                 uint16_t length, pfo_ns_t now_ns, pfo_handle_t handle,
                                 bint elephant, pfo_meta_t* out) noexcept nogil
        # c_ingress when the caller has already counted this packet in the
        # detector (e.g. a burst of verdicts from detector.c_update_burst, in
        # packet order, with the same amounts: 1, or lengths if count_bytes):
        # `elephant` is the detector's verdict for this packet.  The detector
        # is not touched.  Same records as c_ingress; c_ingress_burst is made
        # of this.

    cdef void c_ingress_burst(self, const uint64_t* keys, const pfo_hash_t* hashes,
                              const uint16_t* ports, const uint16_t* lengths,
                              const pfo_ns_t* now_ns, const pfo_handle_t* handles,
                              Py_ssize_t n, pfo_meta_t* out) noexcept nogil
        # c_ingress for packets 0..n-1 in order.  handles NULL: packet i gets
        # handle `packets` (the running count) as it was before it.

    cdef void c_feedback(self, uint16_t core, pfo_ns_t ingress_ns,
                         pfo_ns_t egress_ns) noexcept nogil
        # A packet that ingressed at ingress_ns left `core` at egress_ns: one
        # delay sample (egress_ns - ingress_ns) for the scheduler
        # (FlowletScheduler.c_observe, which clamps it to [0, 2**40]), and
        # `core` has completed everything that ingressed before it (releases
        # the first-flowlet hold of flows that started before ingress_ns).

    cdef pfo_para_entry_t* c_find(self, uint64_t key, pfo_ns_t now_ns) noexcept nogil
        # The live para_flow entry of `key` at now_ns, or NULL.  Read-only.


cdef inline void pfo_brk_feedback(Breakup b, uint16_t core, pfo_ns_t ingress_ns,
                                  pfo_ns_t egress_ns) noexcept nogil:
    # b.c_feedback(core, ingress_ns, egress_ns), inlined into the caller (two
    # calls fewer per tagged packet at egress): the same effect.
    pfo_sched_observe(b.scheduler, core, egress_ns - ingress_ns)
    if ingress_ns > b.done_ns[core]:
        b.done_ns[core] = ingress_ns


cdef inline object _brk_busy_part(Breakup b, bint ingress):
    # The first of b, its detector (for an ingress call: it counts packets
    # there), its allocator and its scheduler marked in use (a burst running
    # without the GIL, or a host's claim), else None.  Under the GIL.
    if b.busy:
        return b
    if ingress and b.detector.busy:
        return b.detector
    if b.allocator.busy:
        return b.allocator
    if b.scheduler.busy:
        return b.scheduler
    return None


cdef inline void _brk_mark(Breakup b, bint ingress, int on) noexcept:
    # Mark b, its allocator and scheduler and, for an ingress call, its
    # detector in use (on = 1) or free (0): a burst of b's, or a host that
    # drives the whole pipeline without the GIL for a while (a running
    # Dataplane's policy, a SimCore's run: ingress).  Under the GIL.
    b.busy = on
    b.allocator.busy = on
    b.scheduler.busy = on
    if ingress:
        b.detector.busy = on


cdef inline void pfo_brk_write(pfo_meta_t* out, pfo_handle_t handle, pfo_ns_t now_ns,
                               pfo_psn_t psn, pfo_hash_t flow_hash, uint16_t queue,
                               uint16_t core, uint16_t length, uint16_t flags) noexcept nogil:
    # fill every field of the metadata record *out (pfo_brk_step's last step)
    out.handle = handle
    out.ingress_ns = now_ns
    out.psn = psn
    out.flow_hash = flow_hash
    out.queue = queue
    out.core = core
    out.length = length
    out.flags = flags


cdef inline void pfo_brk_step(Breakup self, uint64_t key, uint32_t home, pfo_hash_t flow_hash,
                              uint16_t port, uint16_t length, pfo_ns_t now_ns,
                              pfo_handle_t handle, int elephant, pfo_meta_t* out) noexcept nogil:
    # One packet of c_ingress (what c_ingress, c_ingress_detected and
    # c_ingress_burst are made of), inlined into the caller: a simulator's
    # per-packet loop calls it directly (no call through the vtable, and the
    # record's fields stay in registers).  elephant: the detector's verdict
    # for this packet if already taken (0/1, as c_ingress_detected), or -1:
    # ask it here (as c_ingress).  home: <uint32_t>pfo_fmix64(key), where
    # the key's probe starts in the para_flow table (a caller that sees the
    # same keys again, like a simulator's flows, can keep it per key).  The
    # record is written once, at the end, so the compiler need not reload this
    # object's fields after stores through `out` (which could alias them).
    cdef uint32_t i, probes = self.probes, mask = self.mask
    cdef pfo_ns_t idle = self.idle_ns
    cdef pfo_para_entry_t* table = self.table
    cdef pfo_para_entry_t* e
    cdef pfo_para_entry_t* free_e = NULL
    cdef int32_t q
    cdef uint64_t amount = length if self.count_bytes else 1
    cdef uint16_t core, queue = 0, flags = 0
    cdef pfo_psn_t psn = 0
    self.packets += 1
    self.last_ns = now_ns
    # 1. the para_flow table: the key's own slot, else the first free one
    for i in range(probes):
        e = &table[(home + i) & mask]
        if e.last_ns == PFO_BRK_EMPTY:
            if free_e is NULL:
                free_e = e
            break                 # slots are never emptied: the key is not further on
        if e.key == key:
            if now_ns - e.last_ns < idle:
                # a live para_flow: count it, tag it, steer it
                if elephant < 0:
                    self.detector.c_update(key, now_ns, amount)
                e.last_ns = now_ns
                queue = e.flow.user
                psn = pfo_psn_next(self.allocator, queue, now_ns)
                core = e.flow.core
                if pfo_sched_due(self.scheduler, &e.flow, now_ns):
                    if e.flow.rx_id == flow_hash and self.done_ns[core] <= e.flow.since_ns:
                        # the first flowlet waits until its RSS core has
                        # finished the flow's untagged packets (see c_feedback)
                        self.holds += 1
                    else:
                        core = pfo_sched_switch(self.scheduler, &e.flow, now_ns)
                flags = PFO_FLAG_PARA
                self.para_packets += 1
                pfo_brk_write(out, handle, now_ns, psn, flow_hash, queue, core, length, flags)
                return
            free_e = e            # its own idle slot: reuse it first
            break
        if free_e is NULL and now_ns - e.last_ns >= idle:
            free_e = e
    # 2. not a para_flow (any more): ask the detector
    if elephant < 0:
        elephant = self.detector.c_update(key, now_ns, amount)
    if elephant:
        if free_e is NULL:
            self.table_full += 1
        else:
            q = self.allocator.c_acquire(key, port, flow_hash, now_ns)
            if q >= 0:
                free_e.key = key
                free_e.last_ns = now_ns
                free_e.flow.user = <uint16_t>q
                queue = <uint16_t>q
                psn = pfo_psn_next(self.allocator, <uint32_t>q, now_ns)
                core = self.scheduler.c_start(&free_e.flow, flow_hash, now_ns)
                flags = PFO_FLAG_PARA
                self.para_flows += 1
                self.para_packets += 1
                pfo_brk_write(out, handle, now_ns, psn, flow_hash, queue, core, length, flags)
                return
    # 3. a mouse (or an elephant without a slot or queue): plain RSS, untagged
    core = pfo_reta_lookup(self.scheduler.entries, self.scheduler.reta_mask, flow_hash)
    pfo_brk_write(out, handle, now_ns, 0, flow_hash, 0, core, length, 0)
