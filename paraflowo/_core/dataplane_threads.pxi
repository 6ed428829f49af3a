# Included by dataplane.pyx (module level): the thread bodies, run without
# the GIL on Python threads started by Dataplane._run.  Worker w runs
# _dp_worker (rx ring w -> NF -> tx ring w); the vSwitch thread runs
# _dp_vswitch (ingress, egress, timed releases) or, for ring_baseline,
# _dp_plain.  They read the Dataplane's C fields directly: while a run lasts
# the object belongs to these threads (see the class's thread contract).


cdef void _dp_worker(Dataplane dp, uint32_t w) noexcept nogil:
    cdef pfo_dp_worker_t* me = &dp.workers[w]
    cdef pfo_meta_t buf[MAX_BATCH]
    cdef uint32_t n, i, done
    cdef int64_t t0, t1
    cdef pfo_backoff_t bo
    cdef const pfo_store_t* st = &dp.store.st
    cdef uint8_t* data = st.data
    cdef uint64_t sb = st.slot_bytes
    cdef pfo_nf_fn fn = dp.nf.fn
    cdef void* state = dp.nf.state
    bo.max_sleep_ns = dp.max_sleep_ns
    pfo_backoff_reset(&bo)
    pfo_thread_timer_slack(1000)
    cdef int64_t cpu0 = pfo_thread_cpu_ns()
    cdef int64_t empty_since = 0     # when rx was found empty (0: it was not)
    while True:
        n = pfo_spsc_pop_burst(me.rx, buf, dp.batch)
        if n == 0:
            if pfo_flag_get(&dp.workers_stop) and pfo_spsc_count(me.rx) == 0:
                break
            if empty_since == 0:
                empty_since = pfo_now_ns()
            pfo_backoff_idle(&bo)
            continue
        pfo_backoff_reset(&bo)
        t0 = pfo_now_ns()
        if empty_since:
            _inc(&me.starved_ns, <uint64_t>(t0 - empty_since))
            empty_since = 0
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


cdef inline int32_t _dp_flow(Dataplane dp, const pfo_tuple_t* t, uint32_t h) noexcept nogil:
    # the flow's slot in the RFC 4737 table, or -1 (table full near it)
    cdef uint64_t i = pfo_fmix64(t.key) & dp.flow_mask
    cdef int probe
    cdef pfo_dp_flow_t* f
    for probe in range(64):
        f = &dp.flows[i]
        if f.key == t.key:
            return <int32_t>i
        if f.key == 0:
            f.key = t.key
            f.flow_hash = h
            f.rss_len = t.rss_len
            memcpy(f.rss, t.rss, t.rss_len)
            pfo_st64(&dp.n_flows, dp.n_flows + 1)
            return <int32_t>i
        i = (i + 1) & dp.flow_mask
    return -1


cdef inline void _dp_complete(Dataplane dp, pfo_meta_t* m, pfo_ns_t now, pfo_handle_t* out,
                              pfo_handle_t* tx, int* tx_n) noexcept nogil:
    # Hand one completed record to the policy and emit what it releases;
    # a dropped record's slot is freed once the policy has consumed it.
    cdef Py_ssize_t n, j
    cdef int more = 1
    if <uint64_t>(now - m.ingress_ns) > dp.cnt.max_delay_ns:
        pfo_st64(&dp.cnt.max_delay_ns, <uint64_t>(now - m.ingress_ns))
    while more:
        more = dp.policy.c_complete(m, now, out, OUT_CAP, &n)
        for j in range(n):
            _dp_emit(dp, out[j], now, tx, tx_n)
    if m.flags & PFO_FLAG_DROP:
        _inc(&dp.cnt.dropped_flag, 1)
        pfo_store_free(&dp.store.st, <uint32_t>m.handle)


cdef inline uint64_t _dp_flush_wbuf(Dataplane dp, pfo_meta_t* wbuf,
                                    uint32_t* wbuf_n) noexcept nogil:
    # Push each worker's staged records into its rx ring; what does not
    # fit stays staged, in order.  Returns the number pushed.
    cdef uint32_t w, k
    cdef uint64_t pushed = 0
    for w in range(dp.n_workers):
        if wbuf_n[w] == 0:
            continue
        k = pfo_spsc_push_burst(dp.workers[w].rx, wbuf + w * MAX_BATCH, wbuf_n[w])
        if k:
            pushed += k
            wbuf_n[w] -= k
            if wbuf_n[w]:
                memmove(wbuf + w * MAX_BATCH, wbuf + w * MAX_BATCH + k,
                        wbuf_n[w] * sizeof(pfo_meta_t))
    return pushed


cdef int64_t _dp_nap(Dataplane dp, int64_t now, int64_t next_dl) noexcept nogil:
    # How long the vSwitch may sleep without starving a worker: half the time
    # the shallowest rx ring takes to drain at its worker's measured time per
    # record (busy_ns / packets), capped by max_nap_ns and the next timed
    # release.  0 (do not nap) when that is under NAP_MIN_NS, when any rx ring
    # is empty (that worker would wait for the nap), when a worker has no
    # estimate yet, or when a tx ring is half full.  The vSwitch shares the
    # CPU with the workers (3 threads on 2 cores, or one process's share of
    # a busy machine): polling the rings a few records at a time takes CPU
    # from the workers; the nap gives it back, and on a bridge lets frames
    # gather in the socket for one batched receive.
    cdef int64_t nap = dp.max_nap_ns
    cdef int64_t t
    cdef uint64_t o, pk
    cdef uint32_t w
    for w in range(dp.n_workers):
        if pfo_spsc_count(dp.workers[w].tx) > dp.ring // 2:
            return 0
        o = pfo_spsc_count(dp.workers[w].rx)
        pk = pfo_ld64(&dp.workers[w].packets)
        if o == 0 or pk < 64:
            return 0
        t = <int64_t>(o * (pfo_ld64(&dp.workers[w].busy_ns) / pk) / 2)
        if t < nap:
            nap = t
    if next_dl != PFO_NS_NEVER and next_dl - now < nap:
        nap = next_dl - now
    return nap if nap >= NAP_MIN_NS else 0


cdef void _dp_vswitch(Dataplane dp) noexcept nogil:
    # One loop turn: (1) egress: pop every tx ring, complete, emit;
    # (2) timed releases (reorder timeouts); (3) ingress: up to `batch`
    # packets from the source, steered into per-worker staging, then
    # pushed; (4) the bridge's send batches; (5) if nothing happened, back
    # off.  Ingress waits (backpressure) while the store is full or a
    # packet's worker has no room: that packet stays pending.  Stopping:
    # no new packets are taken; the pending and staged ones are still
    # delivered, in-flight records are awaited, then the policy is flushed.
    cdef pfo_store_t* st = &dp.store.st
    cdef uint32_t nw = dp.n_workers, w, B = dp.batch, k, i
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
    cdef bint has_pend = False, stopping = False, exhausted = False, did, room_wait
    cdef Py_ssize_t n
    cdef int64_t now, due = 0, idx = 0, loop = 0, hh, next_dl, nap
    cdef uint64_t inflight = 0, staged = 0, turns = 0
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
        pfo_flag_set(&dp.stop_req, 2)     # reported as a MemoryError
        return
    tx_n[0] = 0
    tx_n[1] = 0
    for j in range(PFO_AFP_BATCH):
        stage_ptr[j] = dp.stage + j * st.slot_bytes
    bo.max_sleep_ns = dp.max_sleep_ns
    pfo_backoff_reset(&bo)
    pfo_thread_timer_slack(1000)
    cpu0 = pfo_thread_cpu_ns()
    dp.t_start = pfo_now_ns()
    if dp.mode == MODE_BRIDGE:
        dp.end_ns += dp.t_start
    while True:
        did = False
        room_wait = False
        now = pfo_now_ns()
        if not stopping and (pfo_flag_get(&dp.stop_req)
                             or (dp.mode == MODE_BRIDGE and now >= dp.end_ns)):
            stopping = True
        # (1) egress
        for w in range(nw):
            k = pfo_spsc_pop_burst(dp.workers[w].tx, ebuf, B)
            if k == 0:
                continue
            did = True
            inflight -= k
            now = pfo_now_ns()
            for i in range(k):
                _dp_complete(dp, &ebuf[i], now, out, tx, tx_n)
        # (2) timed releases
        next_dl = dp.policy.c_next_deadline()
        if next_dl != PFO_NS_NEVER and now >= next_dl:
            n = OUT_CAP
            while n == OUT_CAP:
                n = dp.policy.c_poll(now, out, OUT_CAP)
                for j in range(n):
                    _dp_emit(dp, out[j], now, tx, tx_n)
                if n:
                    did = True
        # (3) ingress
        if has_pend and wbuf_n[pend.core] < MAX_BATCH and dp.policy.c_ready(&pend):
            wbuf[pend.core * MAX_BATCH + wbuf_n[pend.core]] = pend
            wbuf_n[pend.core] += 1
            has_pend = False
        i = 0
        while i < B and not has_pend:
            # the next packet of the source, if there is one now
            if dp.mode == MODE_TRACE:
                if stopping or exhausted:
                    break
                if idx == dp.src_n:
                    idx = 0
                    loop += 1
                    if loop == dp.src_loops:
                        exhausted = True
                        break
                if dp.src_due != NULL:
                    due = dp.t_start + loop * dp.src_span + dp.src_due[idx]
                    if now < due:
                        now = pfo_now_ns()
                        if now < due:
                            break
                pkt = dp.src_data + dp.src_off[idx]
                plen = dp.src_len[idx]
                port = 0
            else:
                if stage_i == stage_n:
                    if stopping:
                        break
                    stage_n = stage_i = 0
                    for j in range(2):          # alternate the two ports
                        got = pfo_afp_recv(dp.fd[rr], stage_ptr, st.slot_bytes,
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
                    _inc(&dp.cnt.outgoing_skipped, 1)
                    stage_i += 1
                    continue
                if stage_len[stage_i] == 0:      # truncated: too big for a slot
                    _inc(&dp.cnt.dropped_room, 1)
                    stage_i += 1
                    continue
                pkt = stage_ptr[stage_i]
                plen = stage_len[stage_i]
                port = <uint16_t>stage_port
            if pfo_store_next(st) < 0:
                room_wait = True
                _inc(&dp.cnt.backpressure, 1)
                break                           # store full: wait
            hh = pfo_store_put(st, pkt, plen)
            h32 = <uint32_t>hh
            if dp.mode == MODE_TRACE:
                idx += 1
                # the next put takes the slot on top of the free stack: start
                # fetching its lines now (with thousands of packets in
                # flight it is out of the cache; -7 % vSwitch CPU with spin)
                if st.n_free and idx < dp.src_n:
                    pfo_prefetch_w(st.data + <size_t>st.free_list[st.n_free - 1] * st.slot_bytes,
                                   dp.src_len[idx])
            else:
                stage_i += 1
            pfo_parse_tuple(pkt, plen, &tup)
            fi = _dp_flow(dp, &tup, 0)
            h32 = pfo_rss_hash(dp.hasher.tbl, tup.rss, tup.rss_len)
            if fi >= 0:
                dp.flows[fi].flow_hash = h32
                dp.slot_seq[hh] = dp.flows[fi].seq_in
                dp.flows[fi].seq_in += 1
            else:
                _inc(&dp.cnt.untracked, 1)
            dp.slot_flow[hh] = fi
            dp.slot_port[hh] = <uint8_t>port
            _inc(&dp.cnt.packets_in, 1)
            _inc(&dp.cnt.bytes_in, plen)
            dp.policy.c_steer(tup.key, h32, port, <uint16_t>(plen if plen < 65535 else 65535),
                        now, <pfo_handle_t>hh, &pend)
            did = True
            i += 1
            if not dp.policy.c_ready(&pend):
                has_pend = True                 # its reorder window is full
                _inc(&dp.cnt.window_waits, 1)
            elif wbuf_n[pend.core] < MAX_BATCH:
                wbuf[pend.core * MAX_BATCH + wbuf_n[pend.core]] = pend
                wbuf_n[pend.core] += 1
            else:
                has_pend = True
                _inc(&dp.cnt.backpressure, 1)
        k = <uint32_t>_dp_flush_wbuf(dp, wbuf, wbuf_n)
        if k:
            inflight += k
            did = True
        staged = has_pend
        for w in range(nw):
            staged += wbuf_n[w]
        pfo_st64(&dp.cnt.inflight, inflight + staged)
        # (4) the bridge's sends
        if dp.mode == MODE_BRIDGE:
            for j in range(2):
                if tx_n[j]:
                    _dp_send(dp, j, tx, tx_n)
        # the end: nothing more to take, nothing in flight
        if (stopping or exhausted) and inflight == 0 and staged == 0 \
                and (dp.mode == MODE_TRACE or stage_i == stage_n):
            n = OUT_CAP
            while n == OUT_CAP:
                n = dp.policy.c_flush(out, OUT_CAP)
                for j in range(n):
                    _dp_emit(dp, out[j], now, tx, tx_n)
                if dp.mode == MODE_BRIDGE:
                    for j in range(2):
                        if tx_n[j]:
                            _dp_send(dp, j, tx, tx_n)
            break
        # (5) a nap while every worker has queued work and ingress waits for
        # room (or, on a bridge, for frames): see _dp_nap; else idle back-off
        if did:
            turns += 1
        if has_pend or room_wait or (exhausted and inflight != 0) or dp.mode == MODE_BRIDGE:
            nap = _dp_nap(dp, now, dp.policy.c_next_deadline())
            if nap:
                _inc(&dp.naps, 1)
                _inc(&dp.nap_ns, <uint64_t>nap)
                pfo_nap_ns(nap)
                pfo_backoff_reset(&bo)
                continue
        if did:
            pfo_backoff_reset(&bo)
        elif dp.mode == MODE_BRIDGE and pfo_backoff_next(&bo) > 0 and inflight == 0:
            # idle bridge: sleep in ppoll so a frame wakes us at once
            pfo_afp_wait(dp.fd[0], dp.fd[1], pfo_backoff_next(&bo))
            bo.sleep_ns = min(2 * bo.sleep_ns, bo.max_sleep_ns)
        elif dp.mode == MODE_TRACE and dp.src_due != NULL and not exhausted \
                and not stopping and inflight == 0 and due > now \
                and pfo_backoff_next(&bo) > due - now:
            bo.sleep_ns = due - now                  # sleep until the next packet is due
            pfo_backoff_idle(&bo)
        else:
            pfo_backoff_idle(&bo)
    if dp.mode == MODE_TRACE and not exhausted:
        # stopped early: the rest of this loop and the loops not begun
        # (idx may equal src_n: the loop ended, the next has not begun)
        _inc(&dp.cnt.not_offered, dp.src_loops * dp.src_n - (loop * dp.src_n + idx))
    dp.t_end = pfo_now_ns()
    pfo_st64(&dp.cnt.vswitch_cpu_ns, <uint64_t>(pfo_thread_cpu_ns() - cpu0))
    pfo_st64(&dp.busy_turns, turns)
    free(wbuf)
    free(wbuf_n)


cdef void _dp_plain(Dataplane dp, uint64_t n_packets) noexcept nogil:
    # Round-robin records (handle = a store slot, untouched) into the rx
    # rings and pop them back from the tx rings: the rings' and workers'
    # own cost, without parsing, hashing, steering, the store or egress.
    cdef pfo_meta_t buf[MAX_BATCH]
    cdef uint64_t sent = 0, back = 0, i, k, n
    cdef uint32_t w = 0, B = dp.batch
    cdef uint32_t mask = dp.store.st.n_slots - 1
    cdef pfo_backoff_t bo
    cdef int64_t cpu0 = pfo_thread_cpu_ns()
    memset(buf, 0, sizeof(buf))
    bo.max_sleep_ns = dp.max_sleep_ns
    pfo_backoff_reset(&bo)
    dp.t_start = pfo_now_ns()
    while back < n_packets:
        n = 0
        if sent < n_packets:
            k = n_packets - sent if n_packets - sent < B else B
            for i in range(k):
                buf[i].handle = (sent + i) % (mask + 1)
                buf[i].core = <uint16_t>w
            n = pfo_spsc_push_burst(dp.workers[w].rx, buf, <uint32_t>k)
            sent += n
            w = w + 1 if w + 1 < dp.n_workers else 0
        for i in range(dp.n_workers):
            k = pfo_spsc_pop_burst(dp.workers[i].tx, buf, B)
            back += k
            n += k
        if n:
            pfo_backoff_reset(&bo)
        else:
            pfo_backoff_idle(&bo)
    dp.t_end = pfo_now_ns()
    pfo_st64(&dp.cnt.vswitch_cpu_ns, <uint64_t>(pfo_thread_cpu_ns() - cpu0))
    pfo_st64(&dp.cnt.packets_out, back)
