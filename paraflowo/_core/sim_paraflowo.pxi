# Included by sim.pyx at module level: the ParaFlowO policy's steps (Breakup
# at ingress; the reorder queues and the packet store at egress; the derived
# reorder timeout), module-level functions of a SimCore.

cdef inline int _steer_para(SimCore self, int32_t f, pfo_ns_t t, bint elephant, bint first,
                            pfo_sim_pkt_t* p) noexcept nogil:
    # Ingress: the library's Breakup pipeline (para_flow table, PSN
    # allocation, flowlet scheduling), given the detector's verdict for
    # this packet (c_run counts arrivals in the detector a chunk ahead:
    # the detector sees every packet in order whatever happens, exactly
    # as in Breakup.c_ingress_burst).  first: the flow's first arrival
    # (flow_seq[f] == 0: every arrival is steered, then counted there).
    # Fills p.flags/queue/psn; returns the core.
    cdef pfo_meta_t m
    if first:
        self.flow_first[f] = t
    # (pfo_brk_step is c_ingress_detected's body, inlined here: no call
    # through the vtable, and m stays in registers)
    pfo_brk_step(self.brk, self.flow_key[f], self.flow_home[f], self.flow_hash[f], 0,
                 self.flow_len[f], t, 0, elephant, &m)
    p.flags = m.flags
    p.queue = m.queue
    p.psn = m.psn
    if m.flags & PFO_FLAG_PARA:
        self.para_packets += 1
        if self.flow_detect[f] < 0:
            self.flow_detect[f] = t
    return m.core


cdef void _rob_drain(SimCore self, pfo_ns_t t) noexcept nogil:
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
        _release_drained(self, n, t)
        if n < self.drain_cap:
            break
    self.rob_dl = self.rq.c_next_deadline()


cdef inline void _release_drained(SimCore self, Py_ssize_t n, pfo_ns_t t) noexcept nogil:
    # release, at t, the n handles a drain just wrote to drain_out, and free
    # the packet-store slots of those that waited
    cdef Py_ssize_t i
    cdef pfo_sim_pkt_t* s
    for i in range(n):
        s = _held_rec(self, self.drain_out[i])
        _release(self, s, t)
        self.held -= 1
        self.held_bytes -= s.length
        if self.drain_out[i] != PFO_SIM_NO_SLOT:
            pfo_store_free(self.pst, <uint32_t>self.drain_out[i])


cdef inline pfo_sim_pkt_t* _held_rec(SimCore self, pfo_handle_t h) noexcept nogil:
    # the record of a handle a reorder queue released
    cdef pfo_sim_pkt_t* r
    if h == PFO_SIM_NO_SLOT:
        r = self.fast_rec
        self.fast_rec = NULL
        return r
    return <pfo_sim_pkt_t*>(self.pst.data + h * self.pst.slot_bytes)


cdef void _drain_queue(SimCore self, uint32_t q, pfo_ns_t t) noexcept nogil:
    # release, at t, what reorder queue q lets go (the common case: the
    # packet just inserted completed the head run)
    cdef Py_ssize_t n, i
    cdef pfo_sim_pkt_t* s
    while True:
        n = pfo_rob_drain(self.robq.robs[q], t, self.drain_out, self.drain_cap)
        if n <= 0:
            break
        _release_drained(self, n, t)
        if n < self.drain_cap:
            break
    self.rob_dl = self.rq.c_next_deadline() if self.held > 0 else PFO_NS_NEVER


cdef inline void _egress_para(SimCore self, pfo_sim_pkt_t* p, pfo_ns_t t) noexcept nogil:
    # Egress: the delay sample goes to the scheduler (Eq. 2 feedback);
    # a tagged packet that is next in its reorder queue with nothing
    # waiting there leaves at once, as does an untagged one (and a tagged
    # one in the A/B without reordering); the rest: _egress_hold.  (Inline:
    # the common cases take no call.)
    if t > self.egress_now:
        self.egress_now = t
    if p.flags & PFO_FLAG_PARA:
        # the delay sample, from the timestamps in the tagged packet's metadata
        pfo_brk_feedback(self.brk, p.core, p.ingress_ns, t)
        if self.reorder and not pfo_rob_pass(self.robq.robs[p.queue], p.psn, t):
            _egress_hold(self, p, t)
            return
    _release(self, p, t)


cdef void _egress_hold(SimCore self, pfo_sim_pkt_t* p, pfo_ns_t t) noexcept nogil:
    # _egress_para's tagged packet that cannot leave at once: it enters
    # its reorder queue (LATE or refused: it leaves), then the queue drains
    cdef pfo_handle_t h
    cdef int64_t hh
    cdef int st, tries
    cdef pfo_ns_t d
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
            _release(self, p, t)
            return
        h = <pfo_handle_t>hh
    st = PFO_ROB_FULL
    for tries in range(4):
        st = pfo_robq_insert(self.robq, p.queue, p.psn, h, t, False)
        if st != PFO_ROB_FULL:
            break
        _rob_drain(self, t)
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
        _release(self, p, t)
        if h != PFO_SIM_NO_SLOT:
            pfo_store_free(self.pst, <uint32_t>h)
    d = pfo_rob_next_deadline(self.robq.robs[p.queue])
    if d <= t:
        _drain_queue(self, p.queue, t)
    elif d < self.rob_dl:
        self.rob_dl = d
    if self.fast_rec != NULL:       # never: a packet at the head drains at once
        self.fast_unreleased += 1
        self.fast_rec = NULL


cdef void _auto_update(SimCore self) noexcept nogil:
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
