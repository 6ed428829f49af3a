# Included by sim.pyx at module level: egress in time order for every policy
# (the cores' completions, a packet's release with its latency and RFC 4737
# order accounting) and the cores' busy-time bins.  Cython cannot include a
# file inside a class body, so these are module-level functions of a SimCore.

cdef inline void _refresh_next(SimCore self) noexcept nogil:
    # earliest pending completion over the cores (ties: lower core); next_t is
    # PFO_NS_NEVER when every ring is empty (next_core then means nothing).  Up to 4 cores: a tournament
    # (0 v 1, 2 v 3, then the winners; the left side wins a tie, so the
    # lower core does) over head_finish, which has at least 4 entries (those
    # past n_cores stay PFO_NS_NEVER): three compares the compiler turns into
    # conditional moves, no loop.  Example: finishes 7, 5, 5, NEVER -> 0 v 1
    # gives core 1 (5), 2 v 3 gives core 2 (5), 1 v 2 ties: core 1 at 5.
    cdef int c, best = -1, nc = self.n_cores
    cdef const int64_t* hf = self.head_finish
    cdef pfo_ns_t bt = PFO_NS_NEVER, x
    if nc <= 4:
        best = 1 if hf[1] < hf[0] else 0
        c = 3 if hf[3] < hf[2] else 2
        bt = hf[best]
        x = hf[c]
        if x < bt:
            best = c
            bt = x
        self.next_core = best
        self.next_t = bt
        return
    for c in range(nc):
        if hf[c] < bt:
            best = c
            bt = hf[c]
    self.next_core = best
    self.next_t = bt


cdef inline void _release(SimCore self, const pfo_sim_pkt_t* p, pfo_ns_t t) noexcept nogil:
    # the packet leaves egress at t: latency and per-flow order.  A packet
    # below the highest sequence number its flow released is RFC 4737's
    # Type-P-Reordered (out_of_order); the receive history then gives its
    # extent and n-reordering degree.  (Everything is read into locals
    # before the first store: an int64_t store may alias any int64_t field.)
    cdef int64_t lat = t - p.ingress_ns
    cdef int32_t f = p.flow
    cdef int64_t seq = p.seq
    cdef int64_t h = self.history
    cdef int64_t* maxrel = self.flow_maxrel
    cdef int64_t* rcv = self.flow_rcv
    cdef int64_t* lat_max = self.flow_lat_max
    cdef int64_t* fhist = self.flow_hist
    cdef uint32_t* ring = self.hist_ring
    cdef int64_t mr = maxrel[f], r
    self.hist[pfo_sim_hist_index(lat)] += 1
    self.flow_lat_sum[f] += lat
    if lat > lat_max[f]:
        lat_max[f] = lat
    if fhist != NULL:
        fhist[f * PFO_SIM_FHIST_LEN + pfo_sim_fhist_index(lat)] += 1
    if seq < mr:
        self.ooo += 1
        self.flow_ooo[f] += 1
        _reordered(self, f, seq)
    else:
        mr = seq
        maxrel[f] = seq
    r = rcv[f]
    ring += 2 * (f * h + (r & (h - 1)))
    ring[0] = <uint32_t>seq         # low 32 bits, the pair in one line
    ring[1] = <uint32_t>mr
    rcv[f] = r + 1


cdef void _reordered(SimCore self, int32_t f, int64_t s) noexcept nogil:
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


cdef inline void _complete_plain(SimCore self, pfo_ns_t t) noexcept nogil:
    # _complete_until for the policies without reorder queues (nothing is
    # ever held): the completions up to t, in time order (ties: lower core)
    cdef int c
    cdef pfo_sim_pkt_t* p
    cdef int64_t hd
    cdef int64_t mask = self.ring_mask, rs = mask + 1
    cdef pfo_sim_pkt_t* rings = self.rings
    cdef pfo_sim_pkt_t* ring
    cdef int64_t* head = self.head
    cdef const int64_t* tail = self.tail
    cdef int64_t* head_finish = self.head_finish
    while self.next_t <= t:
        c = self.next_core
        hd = head[c]
        ring = rings + c * rs
        p = &ring[hd & mask]
        hd += 1
        head[c] = hd
        head_finish[c] = ring[hd & mask].finish_ns if hd != tail[c] else PFO_NS_NEVER
        _release(self, p, p.finish_ns)
        _refresh_next(self)


cdef void _complete_until(SimCore self, pfo_ns_t t) noexcept nogil:
    # every egress event up to t, in time order: completions (a core
    # finishes a packet) and, for paraflowo, reorder-queue timeouts; a
    # completion goes first on a tie
    cdef int c
    cdef pfo_sim_pkt_t* p
    cdef pfo_ns_t dl, skip = -1
    cdef int64_t before, hd
    cdef int64_t mask = self.ring_mask, rs = mask + 1
    cdef pfo_sim_pkt_t* rings = self.rings
    cdef pfo_sim_pkt_t* ring
    cdef int64_t* head = self.head
    cdef const int64_t* tail = self.tail
    cdef int64_t* head_finish = self.head_finish
    if self.policy != PFO_SIM_PARAFLOWO:
        _complete_plain(self, t)
        return
    while True:
        dl = self.rob_dl if self.held > 0 else PFO_NS_NEVER
        if dl < self.egress_now:
            dl = self.egress_now
        if dl == skip:
            dl = PFO_NS_NEVER
        if self.next_t <= t and self.next_t <= dl:
            c = self.next_core
            hd = head[c]
            ring = rings + c * rs
            p = &ring[hd & mask]
            hd += 1
            head[c] = hd
            head_finish[c] = ring[hd & mask].finish_ns if hd != tail[c] else PFO_NS_NEVER
            _egress_para(self, p, p.finish_ns)
            _refresh_next(self)
        elif dl != PFO_NS_NEVER and dl <= t:
            before = self.held
            _rob_drain(self, dl)
            if self.held == before:
                skip = dl       # nothing due after all: do not spin on it
        else:
            break


# ------------------------------------------------------------- accounting
cdef inline void _account_busy(SimCore self, int64_t* cur_end, int64_t** cur_cell, int c,
                               pfo_ns_t s, pfo_ns_t e) noexcept nogil:
    # busy time [s, e) of core c into the utilization bins (starts per core
    # are non-decreasing, so the current bin only moves forward).  The usual
    # case, within the core's current bin, is one test and one add: cur_end
    # and cur_cell (the caller's locals of the SimCore's arrays) hold that
    # bin's end and its cell.  Past the last bin they are INT64_MAX and the
    # core's scratch cell, so the rest of the run takes this test too, with
    # no call.  The rest: _account_busy_bins.
    if e <= cur_end[c]:
        cur_cell[c][0] += e - s       # (s < e)
        return
    _account_busy_bins(self, c, s, e)


cdef void _account_busy_bins(SimCore self, int c, pfo_ns_t s, pfo_ns_t e) noexcept nogil:
    # _account_busy past the end of core c's current bin: [s, e) split over
    # the bins it spans, and the core's bin moved to the one holding e (or
    # past the last bin: the rest goes to the core's scratch cell, row
    # n_bins of busy, which is not reported; a core's busy intervals do not
    # overlap and end before 2**62 plus one service time, so it cannot
    # overflow).  Example: bin_ns 1000, current bin 0, [900, 2500): 100
    # into bin 0, 1000 into bin 1, 500 into bin 2, which becomes current
    # (its end 3000).
    cdef int64_t b = self.cur_bin[c], end = self.cur_end[c]
    cdef int64_t nb = self.n_bins, w = self.bin_ns, nc = self.n_cores
    cdef int64_t* busy = self.busy
    while s >= end and b < nb:
        b += 1
        end += w
    while s < e and b < nb:
        if e <= end:
            busy[b * nc + c] += e - s
            break
        busy[b * nc + c] += end - s
        s = end
        b += 1
        end += w
    self.cur_bin[c] = b
    self.cur_end[c] = end if b < nb else INT64_MAX
    self.cur_cell[c] = &busy[b * nc + c]
