"""A small ``paraflowo`` SimCore for the simulator's tests (one place to build it)."""

import numpy as np

import paraflowo as pfo


def para_simcore(svc, hashes, n_bins, bin_ns, detector, flow_keys, *, rx_queue=8,
                 reta_size=4, count="packets"):
    """A ``paraflowo`` SimCore of ``len(svc)`` cores (deterministic service ``svc``).

    Its pipeline: ``detector``, a 16-bit PSN allocator for 4 elephants, a
    flowlet scheduler over every core; 4 reorder queues of 256 slots
    (timeout 50 us); every flow's packets 800 bytes.  ``hashes`` and
    ``flow_keys`` give the flows.
    """
    n = len(svc)
    reta = pfo.IndirectionTable(n, reta_size)
    brk = pfo.Breakup(detector, pfo.PSNAllocator(4, 16, 1_000_000),
                      pfo.FlowletScheduler(n, n, 1.0, reta), count=count)
    para = {"breakup": brk, "reorder": pfo.ReorderQueues(4, 256, 50_000, 16),
            "flow_key": np.asarray(flow_keys, np.uint64),
            "flow_len": np.full(len(hashes), 800, np.uint16)}
    return pfo.SimCore("paraflowo", np.asarray(svc, np.int64), rx_queue,
                       np.asarray(hashes, np.uint32), n_bins, bin_ns, reta, paraflowo=para)
