# Included by sim.pyx at module level: the event loop of SimCore.c_run (one
# arrival at a time: the egress events due first, then steering, the RX
# queue and the core), a module-level function of a SimCore.

# One empty tag type per policy: _run_loop is a fused function of the tag, so
# Cython writes one copy of the loop per policy, in which `policy` is a
# constant and its tests (a dozen per arrival) fold away.
cdef struct _pol_rss:
    char unused
cdef struct _pol_spray:
    char unused
cdef struct _pol_rsspp:
    char unused
cdef struct _pol_para:
    char unused

ctypedef fused _pol_t:
    _pol_rss
    _pol_spray
    _pol_rsspp
    _pol_para


cdef int _run_loop(SimCore self, const int64_t* times, const int32_t* flows,
                   const double* expd, Py_ssize_t n, int16_t* tr_core,
                   int64_t* tr_finish, _pol_t* tag) noexcept nogil:
    # SimCore.c_run's loop, for the policy of the tag.
    # The fields used per arrival are read into locals once (a store
    # through an int64_t* may alias any int64_t field of self: without
    # locals the compiler reloads them after every counter update).
    cdef int policy = (PFO_SIM_PARAFLOWO if _pol_t is _pol_para else
                       PFO_SIM_SPRAY if _pol_t is _pol_spray else
                       PFO_SIM_RSSPP if _pol_t is _pol_rsspp else PFO_SIM_RSS)
    cdef Py_ssize_t i
    cdef pfo_ns_t t, start, finish, svc
    cdef int32_t f
    cdef int c
    cdef uint32_t b = 0
    cdef int64_t mask = self.ring_mask
    cdef int64_t rs = mask + 1
    cdef int64_t rxq = self.rx_queue
    cdef pfo_sim_pkt_t* rings = self.rings
    cdef int64_t* head = self.head
    cdef int64_t* tail = self.tail
    cdef int64_t* core_free = self.core_free
    cdef int64_t* flow_seq = self.flow_seq
    cdef const int64_t* svc_ns = self.svc_ns
    cdef const uint32_t* flow_hash = self.flow_hash
    cdef const uint16_t* reta = self.reta_entries
    cdef uint32_t reta_mask = self.reta_mask
    cdef const uint16_t* flow_len = self.flow_len
    cdef uint32_t n_cores = <uint32_t>self.n_cores
    cdef bint expo = self.exponential
    cdef pfo_sim_pkt_t* p
    cdef pfo_sim_pkt_t tmp
    cdef int64_t* head_finish = self.head_finish
    cdef int64_t hd, tl
    # the busy-time bins (_account_busy), in locals for the same reason
    cdef int64_t* cur_end = self.cur_end
    cdef int64_t** cur_cell = self.cur_cell
    # the detector's verdicts, a chunk of arrivals ahead (ParaFlowO)
    cdef uint64_t ck[PFO_SIM_CHUNK]
    cdef uint64_t ca[PFO_SIM_CHUNK]
    cdef uint8_t cv[PFO_SIM_CHUNK]
    cdef Py_ssize_t c0 = 0, c1 = 0, j, i0, stop
    cdef bint by_bytes = policy == PFO_SIM_PARAFLOWO and self.brk.count_bytes
    cdef int64_t slice_n = self.auto_slice
    cdef int64_t next_auto = slice_n if slice_n > 0 else n + 1
    tmp.flags = 0
    # ParaFlowO: the arrivals in stretches that end at a detector chunk or
    # a derived-timeout slice, whichever comes first, so the per-arrival
    # loop tests neither (the other policies: one stretch)
    i0 = 0
    while i0 < n:
        if policy == PFO_SIM_PARAFLOWO:
            if i0 == next_auto:
                # the derived reorder timeout follows the delays, every slice
                _auto_update(self)
                next_auto += slice_n
            if i0 >= c1:
                c0 = i0
                c1 = i0 + PFO_SIM_CHUNK if n - i0 > PFO_SIM_CHUNK else n
                for j in range(c0, c1):
                    ck[j - c0] = self.flow_key[flows[j]]
                    if by_bytes:
                        ca[j - c0] = flow_len[flows[j]]
                if self.cm_det is not None:
                    # the arrivals' keys repeat (the elephant's packets back
                    # to back): the Count-Min burst update that counts a run
                    # of one key in registers, the same verdicts
                    pfo_cm_update_runs(self.cm_det, ck, times + c0, 1,
                                       ca if by_bytes else NULL, cv, c1 - c0)
                else:
                    self.brk.detector.c_update_burst(ck, times + c0, 1,
                                                     ca if by_bytes else NULL, cv, c1 - c0)
            stop = c1 if c1 < next_auto else next_auto
        else:
            stop = n
        for i in range(i0, stop):
            t = times[i]
            f = flows[i]
            if policy == PFO_SIM_RSSPP:
                while t >= self.next_period:
                    _complete_until(self, self.next_period)
                    _rebalance(self)
                    self.next_period += self.period_ns
            if policy != PFO_SIM_PARAFLOWO:
                # Egress feeds nothing back to these policies' steering, so
                # their completions are released in batches, every
                # PFO_SIM_BATCH arrivals (in the same time order: a packet
                # arriving later finishes later than any released before).
                # The RX queue test below is then against a head that may
                # lag (an upper bound on the queue): only when that bound
                # says full are the completions due by t released first.
                # This drops a hard-to-predict branch per arrival.
                if (i & (PFO_SIM_BATCH - 1)) == 0 and self.next_t <= t:
                    _complete_plain(self, t)
            else:
                # ParaFlowO: the completions due by t go first (their delay
                # samples steer this packet).  While the reorder queues hold
                # nothing there is no timeout to interleave, so each is
                # _complete_until's completion step, done here without the
                # call; once something is held (or a deadline is due) the
                # general loop takes over with the rest.
                while self.held == 0 and self.next_t <= t:
                    c = self.next_core
                    hd = head[c]
                    p = &rings[c * rs + (hd & mask)]
                    hd += 1
                    head[c] = hd
                    head_finish[c] = (rings[c * rs + (hd & mask)].finish_ns if hd != tail[c]
                                      else PFO_NS_NEVER)
                    _egress_para(self, p, p.finish_ns)
                    _refresh_next(self)
                if ((self.next_t <= t)
                        or (self.held > 0 and self.rob_dl <= t)):
                    _complete_until(self, t)
            # steering
            if policy == PFO_SIM_PARAFLOWO:
                c = _steer_para(self, f, t, cv[i - c0], flow_seq[f] == 0, &tmp)
            elif policy == PFO_SIM_SPRAY:
                c = self.rr
                self.rr += 1
                if self.rr == n_cores:
                    self.rr = 0
            else:
                b = flow_hash[f] & reta_mask
                c = pfo_reta_lookup(reta, reta_mask, flow_hash[f])
            tl = tail[c]                     # only this arrival moves tail[c]
            hd = head[c]
            if (tl - hd > rxq and policy != PFO_SIM_PARAFLOWO
                    and self.next_t <= t):
                _complete_plain(self, t)     # the exact queue at t (see above)
                hd = head[c]
            if tl - hd > rxq:
                self.dropped[c] += 1
                flow_seq[f] += 1           # the flow's order still counts it
                self.flow_dropped[f] += 1
                if (policy == PFO_SIM_PARAFLOWO and (tmp.flags & PFO_FLAG_PARA)
                        and self.notify_drops and self.reorder):
                    # the vSwitch saw the enqueue fail: it tombstones the PSN
                    if t > self.egress_now:
                        self.egress_now = t
                    pfo_robq_insert(self.robq, tmp.queue, tmp.psn, 0, self.egress_now, True)
                    _rob_drain(self, self.egress_now)     # also refreshes rob_dl
                if tr_core != NULL:
                    tr_core[i] = -1
                    tr_finish[i] = -1
                continue
            if expo:
                svc = llround(expd[i] * self.svc_mean[c])
                if svc < 1:
                    svc = 1
            else:
                svc = svc_ns[c]
            start = t if t > core_free[c] else core_free[c]
            if policy == PFO_SIM_RSSPP:
                # a migrated bucket waits for its packets on the old core
                if self.bucket_last[b] > start:
                    start = self.bucket_last[b]
                self.bucket_cnt[b] += 1
            finish = start + svc
            if policy == PFO_SIM_RSSPP:
                self.bucket_last[b] = finish
            core_free[c] = finish
            _account_busy(self, cur_end, cur_cell, c, start, finish)
            p = &rings[c * rs + (tl & mask)]
            p.finish_ns = finish
            p.ingress_ns = t
            p.seq = flow_seq[f]
            p.flow = f
            p.bucket = b
            p.core = <uint16_t>c
            if policy == PFO_SIM_PARAFLOWO:
                p.flags = tmp.flags
                p.queue = tmp.queue
                p.psn = tmp.psn
                p.length = flow_len[f]
            else:
                p.flags = 0
            flow_seq[f] += 1
            if tl == hd:
                head_finish[c] = finish
                if (finish < self.next_t      # (always, when nothing was pending)
                        or (finish == self.next_t and c < self.next_core)):
                    self.next_core = c
                    self.next_t = finish
            tail[c] = tl + 1
            if tr_core != NULL:
                tr_core[i] = <int16_t>c
                tr_finish[i] = finish
        i0 = stop
    if n > 0:
        self.now = times[n - 1]      # the time of the last arrival processed
        if policy != PFO_SIM_PARAFLOWO and self.next_t <= self.now:
            _complete_plain(self, self.now)   # as if released arrival by arrival
    if slice_n > 0 and n > 0:
        _auto_update(self)          # after the last (possibly short) slice
    return 0
