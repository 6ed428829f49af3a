"""``cimport paraflowo`` also gives the runtime: the simulator core, capture
reading and the live dataplane's C surface (metadata, flags, NF, policies).

One module, compiled against the installed package, uses only names that
``paraflowo/__init__.pxd`` exports: it drives a SimCore and walks a pcap image
without the GIL, writes a network function (an ``NF`` subclass with a
``pfo_nf_fn``) and a steering policy (a ``Policy`` subclass) that the
dataplane then runs, and reads a policy's counters through its C methods.
"""

import struct
from collections import Counter

import numpy as np
import pytest

from paraflowo import IndirectionTable, SimCore
from paraflowo.dataplane import Capture, Dataplane, make_policy, run_trace

from cybuild import build_cython_module
from dptrace import egress_packets, elephant_and_mice

SOURCE = """
# cython: boundscheck=False, wraparound=False
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t, int16_t, int32_t, int64_t
cimport paraflowo
from paraflowo cimport (
    pfo_meta_t, pfo_handle_t, pfo_hash_t, pfo_ns_t, PFO_FLAG_DROP, PFO_FLAG_PARA,
    pfo_nf_fn, pfo_nf_forward, PFO_NF_MAX_WORKERS, NF,
    Policy, ParaFlowOPolicy, pfo_dp_counters_t,
    SimCore, pfo_sim_hist_index, PFO_SIM_RSS, PFO_SIM_PARAFLOWO, PFO_SIM_HIST_LEN,
    pfo_pcap_walk, pfo_pcap_keys, PFO_PCAP_KEY_LEN)

# -- simulator ---------------------------------------------------------------

def sim(SimCore core, const int64_t[::1] times, const int32_t[::1] flows,
        int16_t[::1] tr_core, int64_t[::1] tr_finish):
    cdef Py_ssize_t n = times.shape[0], h = n // 2
    with nogil:
        core.c_run(&times[0], &flows[0], NULL, h, &tr_core[0], &tr_finish[0])
        core.c_run(&times[h], &flows[h], NULL, n - h, &tr_core[h], &tr_finish[h])
        core.c_flush()
    return core.policy == PFO_SIM_RSS, pfo_sim_hist_index(5000), PFO_SIM_HIST_LEN

# -- capture reading ---------------------------------------------------------

def pcap(const uint8_t[::1] buf, int64_t[::1] off, uint8_t[:, ::1] keys):
    cdef Py_ssize_t pos = 24, n, rest_n
    cdef int64_t cap[8]
    cdef int64_t link[8]
    cdef int64_t rest[8]
    cdef Py_ssize_t i
    with nogil:
        n = pfo_pcap_walk(&buf[0], buf.shape[0], &pos, False, &off[0], off.shape[0])
        for i in range(n):
            cap[i] = (<const uint32_t*>&buf[off[i] - 8])[0]
            link[i] = 1
        rest_n = pfo_pcap_keys(&buf[0], &off[0], cap, link, n, &keys[0, 0], rest)
    return n, pos, rest_n, PFO_PCAP_KEY_LEN

# -- a network function ------------------------------------------------------

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

def call_nf(NF nf, bytearray frame):
    # an NF's function, called as a worker calls it
    cdef pfo_meta_t m
    cdef uint8_t* p = frame
    cdef uint32_t n = <uint32_t>len(frame)
    cdef int rc
    m.flags = 0
    with nogil:
        rc = nf.fn(nf.state, &m, p, n, 0)
    return rc, m.flags & PFO_FLAG_DROP != 0

def forward(bytearray frame):
    cdef pfo_meta_t m
    cdef pfo_nf_fn fn = pfo_nf_forward
    m.flags = 0
    return fn(NULL, &m, frame, <uint32_t>len(frame), 0), PFO_NF_MAX_WORKERS

# -- a steering policy -------------------------------------------------------

cdef class SizePolicy(Policy):
    # small packets to core 0, large ones to core 1
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

def steer_one(Policy p, uint64_t key, uint16_t length, pfo_ns_t now):
    # a policy's C interface from a host loop: steer, complete, flush
    cdef pfo_meta_t m
    cdef pfo_handle_t out[4]
    cdef Py_ssize_t n = 0, k
    cdef int again
    with nogil:
        p.c_steer(key, <pfo_hash_t>key, 0, length, now, 7, &m)
        again = p.c_complete(&m, now + 10, out, 4, &n)
        k = p.c_flush(&out[n], 4 - n)
    return m.core, (m.flags & PFO_FLAG_PARA) != 0, again, [out[i] for i in range(n + k)]

def counters_size():
    return sizeof(pfo_dp_counters_t) // 8
"""


@pytest.fixture(scope="module")
def mod(tmp_path_factory):
    return build_cython_module(tmp_path_factory.mktemp("cy_runtime"), "use_runtime", SOURCE)


def test_simcore_through_cimport_paraflowo(mod):
    core = SimCore("rss", np.array([1000], np.int64), 2, np.array([7], np.uint32), 1,
                   10**9, IndirectionTable(1))
    times = np.array([0, 0, 0, 0, 2500, 5000], np.int64)
    tc, tf = np.empty(6, np.int16), np.empty(6, np.int64)
    assert mod.sim(core, times, np.zeros(6, np.int32), tc, tf) == (True, 2048 + 1024 + 226,
                                                                   2048 + 53 * 1024)
    # rx_queue 2: one in service + 2 waiting; the 4th simultaneous arrival drops
    assert tf.tolist() == [1000, 2000, 3000, -1, 4000, 6000]
    assert core.stats()["completed"].sum() == 5


def test_pcap_reading_through_cimport_paraflowo(mod):
    cap, pkts = elephant_and_mice(n_elephant=3, n_mice=2)
    buf = bytearray(24)
    for p in pkts:
        buf += struct.pack("<IIII", 0, 0, len(p), len(p)) + p
    off = np.zeros(8, np.int64)
    keys = np.zeros((8, 38), np.uint8)
    n, pos, rest, key_len = mod.pcap(np.frombuffer(bytes(buf), np.uint8), off, keys)
    assert (n, pos, rest, key_len) == (5, len(buf), 0, 38)
    for i, p in enumerate(pkts):
        assert keys[i, 0] == 4 and bytes(keys[i, 1:5]) == p[26:30]        # IPv4 source


def test_nf_and_policy_through_cimport_paraflowo(mod):
    _, pkts = elephant_and_mice(n_elephant=300, n_mice=100)
    pkts = [p[:22] + (b"\x01" if i % 10 == 0 else p[22:23]) + p[23:]
            for i, p in enumerate(pkts)]
    ttl1 = bytearray(pkts[0])
    assert mod.call_nf(mod.TTLGuard(), ttl1) == (0, True)
    assert mod.forward(bytearray(pkts[1])) == (0, 64)
    pol = mod.SizePolicy()
    r, eg = run_trace(Capture.from_packets(pkts), capture_out=True,
                      dataplane=Dataplane(pol, mod.TTLGuard()))
    assert r["nf"] == "ttl-guard" and r["policy"] == "by-size" and r["dropped_flag"] == 40
    expect = [p[:22] + bytes([p[22] - 1]) + p[23:] for i, p in enumerate(pkts) if i % 10]
    assert Counter(egress_packets(eg)) == Counter(expect)
    assert pol.steered == pol.completed == 400
    assert mod.counters_size() == 16


def test_policy_c_interface_through_cimport_paraflowo(mod):
    p = make_policy("rss", 2)
    core, para, again, out = mod.steer_one(p, 12345, 100, 1000)
    assert core in (0, 1) and not para and again == 0 and out == [7]
    assert (p.steered, p.completed, p.emitted) == (1, 1, 1)
