# cython: language_level=3
"""The live dataplane's runtime (one vSwitch thread, N worker threads): the
cimport API.  Most users drive it from Python (:mod:`paraflowo.dataplane`);
the declarations here let a Cython host read its counters without the GIL.

Threads and rings::

    source --> vSwitch --rx ring w--> worker w (NF) --tx ring w--> vSwitch --> sink
              (ingress: parse, hash,                              (egress: policy
               policy.c_steer)                                     c_complete, emit)

Every ring is single-producer / single-consumer (``spsc_ring.h``): the
vSwitch produces into each rx ring and consumes each tx ring; worker w
consumes rx ring w and produces tx ring w.  Packet bytes stay in the packet
store; rings carry 32-byte ``pfo_meta_t`` records whose ``handle`` is the
store slot.
"""

from libc.stdint cimport int32_t, int64_t, uint8_t, uint16_t, uint32_t, uint64_t
from paraflowo._core._types cimport pfo_handle_t, pfo_meta_t, pfo_ns_t

# Counters of one run; written by the vSwitch thread (relaxed stores), read
# by any thread.  packets_in == packets_out + dropped_flag + tx_errors +
# held, where held is 0 once a run has ended.
ctypedef struct pfo_dp_counters_t:
    uint64_t packets_in       # packets taken into the store (ingress)
    uint64_t bytes_in
    uint64_t packets_out      # packets that left egress
    uint64_t bytes_out
    uint64_t dropped_flag     # packets the NF marked PFO_FLAG_DROP
    uint64_t dropped_room     # frames lost for lack of room: kernel socket drops,
                              # truncated frames (live only; offline waits instead)
    uint64_t tx_errors        # packets the kernel refused to send (live)
    uint64_t out_of_order     # RFC 4737 Type-P-Reordered packets at egress
    uint64_t untracked        # packets of flows the flow table had no room for
    uint64_t not_offered      # trace packets never offered (stopped early)
    uint64_t outgoing_skipped # own outgoing frames seen and skipped (live)
    uint64_t backpressure     # times ingress waited for ring or store room
    uint64_t window_waits     # times ingress waited for a reorder window (c_ready)
    uint64_t inflight         # records in rings or at workers (snapshot)
    uint64_t max_delay_ns     # longest dispatch-to-egress delay of a record
    uint64_t vswitch_cpu_ns   # CPU time of the vSwitch thread over the run

# Per-flow state of the RFC 4737 count.
ctypedef struct pfo_dp_flow_t:
    uint64_t key              # flow key (0: free slot)
    uint64_t seq_in           # next ingress sequence stamp (= packets in)
    uint64_t next_exp         # RFC 4737 NextExp: 1 + highest stamp seen at egress
    uint64_t packets_out
    uint64_t reordered        # Type-P-Reordered packets
    uint32_t flow_hash
    uint32_t rss_len
    uint8_t rss[36]           # the flow's RSS input (addresses, ports)
    uint32_t pad
