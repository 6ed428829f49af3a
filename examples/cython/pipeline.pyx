# cython: language_level=3, boundscheck=False, wraparound=False
"""ParaFlowO embedded in a Cython dataplane loop, through ``cimport paraflowo``.

Ingress: a :class:`Breakup` (elephant detector, PSN allocator, flowlet
scheduler) steers each burst of packets to cores.  The cores process their
packets in FIFO order, but one core after the other, so a flow spread over
several cores leaves them out of order.  Egress: reorder queues, placed in
memory this module allocates itself, put each para_flow back in order.  The
per-burst loop runs without the GIL.
"""

from libc.stdint cimport int32_t, int64_t, uint8_t, uint16_t, uint32_t, uint64_t, uintptr_t
from libc.stdlib cimport free, malloc

cimport paraflowo
from paraflowo cimport (
    PFO_ALIGN, PFO_FLAG_PARA, PFO_OK,
    Breakup, ElephantDetector,
    pfo_handle_t, pfo_meta_t, pfo_ns_t,
    pfo_robq_t, pfo_robq_footprint, pfo_robq_init, pfo_robq_fini,
    pfo_robq_process, pfo_robq_drain,
)

import numpy as np


def detect(ElephantDetector det, const uint64_t[::1] keys, pfo_ns_t now_ns):
    """Count one packet per key at ``now_ns``; the elephant verdict of each.

    ``det`` may be any detector: ``c_update_burst`` is virtual.
    """
    cdef Py_ssize_t n = keys.shape[0]
    out = np.zeros(n, np.uint8)
    cdef uint8_t[::1] o = out
    if n:
        with nogil:
            det.c_update_burst(&keys[0], &now_ns, 0, NULL, &o[0], n)
    return out.view(np.bool_)


def run(Breakup b, const uint64_t[::1] keys, const uint32_t[::1] hashes,
        const uint16_t[::1] lengths, const int64_t[::1] times,
        uint32_t window, pfo_ns_t timeout_ns, pfo_ns_t service_ns, Py_ssize_t burst):
    """Ingress ``keys`` in bursts, process them per core, reorder at egress.

    Packet i has handle i.  ``timeout_ns`` (finite) is the reorder queues'
    timeout: at the end the loop lets it pass, so nothing stays held.  Returns ``(meta, order)``: the metadata records
    Breakup wrote at ingress (``paraflowo.META_DTYPE``), and the handles in
    the order they left the reorder queues.
    """
    cdef Py_ssize_t n = keys.shape[0]
    cdef uint32_t n_queues = b.allocator.n_queues
    cdef int psn_bits = b.allocator.psn_bits
    cdef uint32_t n_cores = b.scheduler.n_cores
    meta = np.zeros(n, paraflowo_meta_dtype())
    order = np.zeros(n, np.uint64)
    cdef pfo_meta_t* m = <pfo_meta_t*><uintptr_t>meta.ctypes.data
    cdef pfo_handle_t* out = <pfo_handle_t*><uintptr_t>order.ctypes.data
    cdef Py_ssize_t done = 0

    # The reorder queues live in memory we own: footprint, then init on it.
    cdef pfo_robq_t q
    cdef size_t size = pfo_robq_footprint(n_queues, window, psn_bits)
    cdef void* raw = malloc(size + PFO_ALIGN)
    cdef void* mem = <void*>((<uintptr_t>raw + PFO_ALIGN - 1) & ~<uintptr_t>(PFO_ALIGN - 1))
    # Per-burst scratch: ports, handles, and the burst in egress order.
    cdef uint16_t* ports = <uint16_t*>malloc((burst + 1) * sizeof(uint16_t))
    cdef pfo_handle_t* handles = <pfo_handle_t*>malloc((burst + 1) * sizeof(pfo_handle_t))
    cdef pfo_meta_t* egress = <pfo_meta_t*>malloc((burst + 1) * sizeof(pfo_meta_t))
    cdef int rc = -1
    cdef Py_ssize_t s, k, i, j, got
    cdef uint32_t c
    cdef pfo_ns_t t = 0
    try:
        if raw == NULL or ports == NULL or handles == NULL or egress == NULL or size == 0:
            raise MemoryError()
        with nogil:
            rc = pfo_robq_init(&q, mem, size, n_queues, window, timeout_ns, psn_bits, 0)
            if rc == PFO_OK:
                s = 0
                while s < n:
                    k = burst if n - s > burst else n - s
                    for i in range(k):
                        ports[i] = 0
                        handles[i] = <pfo_handle_t>(s + i)
                    b.c_ingress_burst(&keys[s], <const uint32_t*>&hashes[s], ports,
                                      &lengths[s], &times[s], handles, k, m + s)
                    # The cores: core 0 finishes its packets of the burst,
                    # then core 1, ... each one service_ns after the last.
                    # One egress clock: it never goes back.
                    if times[s + k - 1] > t:
                        t = times[s + k - 1]
                    j = 0
                    for c in range(n_cores):
                        for i in range(k):
                            if m[s + i].core == c:
                                egress[j] = m[s + i]
                                j += 1
                                t += service_ns
                                b.c_feedback(<uint16_t>c, m[s + i].ingress_ns, t)
                    # Egress: untagged packets pass, para_flows wait for
                    # their PSN turn.
                    got = pfo_robq_process(&q, egress, j, t, out + done, NULL,
                                           n - done, NULL, 0)
                    if got < 0:         # a time before one already seen
                        break
                    done += got
                    s += k
                # Let every timeout expire: what is still held comes out.
                got = pfo_robq_drain(&q, t + timeout_ns + 1, out + done, NULL, n - done)
                if got > 0:
                    done += got
                pfo_robq_fini(&q)
        if rc != PFO_OK:
            raise ValueError(f"pfo_robq_init refused the parameters: {rc}")
    finally:
        free(raw)
        free(ports)
        free(handles)
        free(egress)
    return meta, order[:done]


def paraflowo_meta_dtype():
    import paraflowo as pfo
    return pfo.META_DTYPE
