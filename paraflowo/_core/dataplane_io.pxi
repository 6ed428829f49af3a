# Included by dataplane.pyx (module level): the sinks of the vSwitch thread.
# A packet leaving egress is counted against its flow (RFC 4737) and either
# copied into the capture arrays (trace) or batched for AF_PACKET send (bridge).
# The sources (trace arrays, AF_PACKET receive) are read in _dp_vswitch's
# ingress step (dataplane_threads.pxi); the socket calls are in dp_io.h.


cdef inline void _dp_emit(Dataplane dp, pfo_handle_t h, pfo_ns_t now, pfo_handle_t* tx,
                          int* tx_n) noexcept nogil:
    # One packet leaves egress: RFC 4737 check against its flow, then the
    # sink (capture copy or the bridge's send batch).  The slot is freed
    # here (trace) or after the send (bridge).
    cdef int32_t fi = dp.slot_flow[h]
    cdef pfo_dp_flow_t* f
    cdef uint64_t seq
    cdef uint32_t ln = dp.store.st.lengths[h]
    cdef int p
    if fi >= 0:
        f = &dp.flows[fi]
        seq = dp.slot_seq[h]
        if seq < f.next_exp:
            f.reordered += 1
            _inc(&dp.cnt.out_of_order, 1)
        else:
            f.next_exp = seq + 1
        f.packets_out += 1
    _inc(&dp.cnt.packets_out, 1)
    _inc(&dp.cnt.bytes_out, ln)
    if dp.mode == MODE_TRACE:
        if dp.out_data != NULL and dp.out_n < dp.out_cap_pkts \
                and dp.out_bytes + ln <= dp.out_cap_bytes:
            memcpy(dp.out_data + dp.out_bytes,
                   dp.store.st.data + h * dp.store.st.slot_bytes, ln)
            dp.out_off[dp.out_n] = dp.out_bytes
            dp.out_len[dp.out_n] = ln
            dp.out_ts[dp.out_n] = now - dp.t_start
            dp.out_n += 1
            dp.out_bytes += ln
        pfo_store_free(&dp.store.st, <uint32_t>h)
    else:
        p = 1 - dp.slot_port[h]           # out the other interface
        tx[p * PFO_AFP_BATCH + tx_n[p]] = h
        tx_n[p] += 1
        if tx_n[p] == PFO_AFP_BATCH:
            _dp_send(dp, p, tx, tx_n)


cdef void _dp_send(Dataplane dp, int p, pfo_handle_t* tx, int* tx_n) noexcept nogil:
    cdef uint8_t* bufs[PFO_AFP_BATCH]
    cdef uint32_t lens[PFO_AFP_BATCH]
    cdef int i, n = tx_n[p], sent
    cdef pfo_handle_t h
    for i in range(n):
        h = tx[p * PFO_AFP_BATCH + i]
        bufs[i] = dp.store.st.data + h * dp.store.st.slot_bytes
        lens[i] = dp.store.st.lengths[h]
    sent = pfo_afp_send(dp.fd[p], bufs, lens, n) if n else 0
    if sent < n:
        _inc(&dp.cnt.tx_errors, n - sent)
        pfo_st64(&dp.cnt.packets_out, dp.cnt.packets_out - <uint64_t>(n - sent))
    for i in range(n):
        pfo_store_free(&dp.store.st, <uint32_t>tx[p * PFO_AFP_BATCH + i])
    tx_n[p] = 0
