"""A custom NF written in Cython against the installed ``nf.pxd`` runs on the workers."""

from collections import Counter

from paraflowo.dataplane import Dataplane, make_policy, run_trace

from cybuild import build_cython_module
from dptrace import egress_packets, elephant_and_mice

SOURCE = """
from libc.stdint cimport uint8_t, uint32_t
from paraflowo._core._types cimport pfo_meta_t, PFO_FLAG_DROP
from paraflowo._core.nf cimport NF
from paraflowo._core.policies cimport Policy

cdef int ttl_guard(void* state, pfo_meta_t* meta, uint8_t* data,
                   uint32_t length, uint32_t worker) noexcept nogil:
    # drop IPv4 packets whose TTL is 1 or less; decrement the others
    if length > 22 and data[12] == 0x08 and data[13] == 0x00:
        if data[22] <= 1:
            meta.flags |= PFO_FLAG_DROP
        else:
            data[22] -= 1
    return 0

cdef class TTLGuard(NF):
    def __cinit__(self):
        self.fn = ttl_guard
        self.state = NULL
        self.name = "ttl-guard"

def cores(Policy p):
    return p.n_cores

from paraflowo._core._types cimport pfo_handle_t, pfo_hash_t, pfo_ns_t
from libc.stdint cimport uint16_t, uint64_t

cdef class SizePolicy(Policy):
    # a third-party policy: small packets to core 0, large ones to core 1
    def __init__(self):
        self.n_cores = 2
        self.name = "by-size"

    cdef void c_steer(self, uint64_t key, pfo_hash_t flow_hash, uint16_t port,
                      uint16_t length, pfo_ns_t now, pfo_handle_t handle,
                      pfo_meta_t* out) noexcept nogil:
        self.steered += 1
        out.handle = handle
        out.ingress_ns = now
        out.psn = 0
        out.flow_hash = flow_hash
        out.queue = 0
        out.core = 0 if length < 500 else 1
        out.length = length
        out.flags = 0
"""


def test_custom_nf_from_cython(tmp_path):
    mod = build_cython_module(tmp_path, "use_dataplane", SOURCE)
    cap, pkts = elephant_and_mice(n_elephant=500, n_mice=100)
    # every 10th packet gets TTL 1 (dropped), the others TTL 64 (decremented)
    pkts = [p[:22] + (b"\x01" if i % 10 == 0 else p[22:23]) + p[23:]
            for i, p in enumerate(pkts)]
    from paraflowo.dataplane import Capture
    cap = Capture.from_packets(pkts)
    pol = make_policy("paraflowo", 2)
    assert mod.cores(pol) == 2
    dp = Dataplane(pol, mod.TTLGuard())
    r, eg = run_trace(cap, capture_out=True, dataplane=dp)
    assert r["nf"] == "ttl-guard" and r["dropped_flag"] == 60
    expect = [p[:22] + bytes([p[22] - 1]) + p[23:] for i, p in enumerate(pkts) if i % 10]
    assert Counter(egress_packets(eg)) == Counter(expect)
    assert r["out_of_order"] == 0


def test_custom_policy_from_cython(tmp_path):
    mod = build_cython_module(tmp_path, "use_policy", SOURCE)
    cap, pkts = elephant_and_mice(n_elephant=500, n_mice=100)
    pol = mod.SizePolicy()
    dp = Dataplane(pol, mod.TTLGuard())
    r, eg = run_trace(cap, capture_out=True, dataplane=dp)
    # the elephant's 1000-byte packets all went to worker 1, the mice to worker 0
    assert r["worker_packets"] == [100, 500] and r["policy"] == "by-size"
    assert pol.steered == pol.completed == pol.emitted == 600
