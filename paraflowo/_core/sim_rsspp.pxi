# Included by sim.pyx at module level: the RSS++ policy's periodic RETA
# rebalancing, a module-level function of a SimCore.

cdef void _rebalance(SimCore self) noexcept nogil:
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
