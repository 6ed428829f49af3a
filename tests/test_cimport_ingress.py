"""The ingress cimport API (psn, scheduler, breakup), driven without the GIL."""

import numpy as np

from paraflowo import (
    FLOWLET_DTYPE,
    META_DTYPE,
    Breakup,
    CountMinDetector,
    FlowletScheduler,
    PSNAllocator,
)

from cybuild import build_cython_module

SOURCE = """
# cython: boundscheck=False, wraparound=False
from libc.stdint cimport int32_t, int64_t, uint8_t, uint16_t, uint32_t, uint64_t
from paraflowo._core._types cimport pfo_meta_t, pfo_psn_t, pfo_ns_t, PFO_FLAG_PARA
from paraflowo._core.psn cimport PSNAllocator, PFO_PSN_NO_QUEUE, pfo_psn_home, pfo_psn_next
from paraflowo._core.scheduler cimport (
    FlowletScheduler, pfo_flowlet_t, pfo_sched_steer, PFO_SCHED_NEVER, PFO_SCHED_MAX_DELAY)
from paraflowo._core.breakup cimport Breakup, pfo_para_entry_t

def tag_all(PSNAllocator a, const uint64_t[::1] keys, const uint16_t[::1] ports,
            const uint32_t[::1] hashes, const int64_t[::1] now):
    cdef Py_ssize_t i, n = keys.shape[0]
    q = bytearray(4 * n)
    p = bytearray(4 * n)
    cdef int32_t* qv = <int32_t*><char*>q
    cdef pfo_psn_t* pv = <pfo_psn_t*><char*>p
    cdef int fallbacks = 0
    with nogil:
        for i in range(n):
            qv[i] = a.c_tag(keys[i], ports[i], hashes[i], now[i], &pv[i])
            if qv[i] == PFO_PSN_NO_QUEUE:
                fallbacks += 1
    return bytes(q), bytes(p), fallbacks

def home(uint16_t port, uint32_t h):
    return pfo_psn_home(port, h)

def schedule(FlowletScheduler s, const uint16_t[::1] cores, const int64_t[::1] delays,
             uint32_t flow_hash, pfo_ns_t gap, int n_packets):
    cdef pfo_flowlet_t f
    cdef Py_ssize_t i
    out = bytearray(2 * n_packets)
    cdef uint16_t* ov = <uint16_t*><char*>out
    cdef pfo_ns_t t0, t1
    with nogil:
        for i in range(cores.shape[0]):
            s.c_observe(cores[i], delays[i])
        t0 = s.c_t_switch(0)
        ov[0] = s.c_start(&f, flow_hash, 0)
        for i in range(1, n_packets):
            ov[i] = s.c_steer(&f, i * gap)
    return bytes(out), t0, s.c_t_avg(), f.rx_id, PFO_SCHED_NEVER, PFO_SCHED_MAX_DELAY

def inline_vs_methods(PSNAllocator a1, PSNAllocator a2, FlowletScheduler s1,
                      FlowletScheduler s2, int n):
    # the inline fast paths give the methods' results, and never touch f.user
    cdef pfo_flowlet_t f1, f2
    cdef Py_ssize_t i
    cdef int same = 1
    cdef pfo_psn_t dummy
    with nogil:
        a1.c_tag(1, 0, 0, 0, &dummy)
        a2.c_tag(1, 0, 0, 0, &dummy)
        s1.c_start(&f1, 5, 0)
        s2.c_start(&f2, 5, 0)
        f1.user = 777
        f2.user = 777
        for i in range(1, n):
            if pfo_psn_next(a1, 0, i) != a2.c_next_psn(0, i):
                same = 0
            if i % 7 == 0:
                s1.c_observe(i % 4, 100 * (i % 5))
                s2.c_observe(i % 4, 100 * (i % 5))
            if pfo_sched_steer(s1, &f1, i * 10) != s2.c_steer(&f2, i * 10):
                same = 0
    return same == 1, f1.user, f2.user, f1.rx_id == f2.rx_id

def pipeline(Breakup b, const uint64_t[::1] keys, const uint32_t[::1] hashes,
             const int64_t[::1] now, pfo_ns_t service):
    # per-packet ingress into a meta array, and one feedback sample per packet
    cdef Py_ssize_t i, n = keys.shape[0]
    out = bytearray(sizeof(pfo_meta_t) * n)
    cdef pfo_meta_t* m = <pfo_meta_t*><char*>out
    cdef int para = 0
    with nogil:
        for i in range(n):
            b.c_ingress(keys[i], hashes[i], 0, 64, now[i], i, &m[i])
            if m[i].flags & PFO_FLAG_PARA:
                para += 1
            b.c_feedback(m[i].core, m[i].ingress_ns, m[i].ingress_ns + service * (1 + m[i].core))
    return bytes(out), para, b.c_find(keys[0], now[n - 1]) is not NULL

def pipeline_detected(Breakup b, const uint64_t[::1] keys, const uint32_t[::1] hashes,
                      const int64_t[::1] now, pfo_ns_t service, Py_ssize_t chunk):
    # as pipeline(), with the detector's verdicts taken a chunk ahead by its
    # own burst update and handed to c_ingress_detected
    cdef Py_ssize_t i, j, m, n = keys.shape[0]
    out = bytearray(sizeof(pfo_meta_t) * n)
    verdicts = bytearray(n)
    cdef pfo_meta_t* mt = <pfo_meta_t*><char*>out
    cdef uint8_t* v = <uint8_t*><char*>verdicts
    with nogil:
        for i in range(n):
            if i % chunk == 0:
                m = n - i if n - i < chunk else chunk
                b.detector.c_update_burst(&keys[i], &now[i], 1, NULL, &v[i], m)
            b.c_ingress_detected(keys[i], hashes[i], 0, 64, now[i], i, v[i], &mt[i])
            b.c_feedback(mt[i].core, mt[i].ingress_ns, mt[i].ingress_ns + service * (1 + mt[i].core))
    return bytes(out)

def pipeline_burst(Breakup b, const uint64_t[::1] keys, const uint32_t[::1] hashes,
                   const uint16_t[::1] ports, const uint16_t[::1] lengths,
                   const int64_t[::1] now):
    cdef Py_ssize_t n = keys.shape[0]
    out = bytearray(sizeof(pfo_meta_t) * n)
    cdef pfo_meta_t* m = <pfo_meta_t*><char*>out
    with nogil:
        b.c_ingress_burst(&keys[0], &hashes[0], &ports[0], &lengths[0], &now[0], NULL, n, m)
    return bytes(out), sizeof(pfo_para_entry_t), sizeof(pfo_flowlet_t)
"""


def _stream(n=2000, seed=0):
    rng = np.random.default_rng(seed)
    keys = rng.choice(np.array([1, 2, 3, 4, 5, 6], np.uint64), size=n, p=[.5, .3, .05, .05, .05, .05])
    hashes = (keys * np.uint64(2654435761) % np.uint64(2**32)).astype(np.uint32)
    times = np.cumsum(rng.integers(0, 50, n)).astype(np.int64)
    return keys, hashes, times


def _breakup():
    return Breakup(CountMinDetector(256, 3, 50, 10**6),
                   PSNAllocator(4, psn_bits=8, idle_ns=10**5),
                   FlowletScheduler(4, n_para=3, smoothing=0.5, t_switch_min_ns=100,
                                    t_switch_max_ns=5000, t_switch_init_ns=500))


def test_cimport_ingress_nogil(tmp_path):
    mod = build_cython_module(tmp_path, "use_ingress", SOURCE)

    # PSN allocator
    keys, hashes, times = _stream()
    ports = (keys % np.uint64(2)).astype(np.uint16)
    a, b = PSNAllocator(2, psn_bits=8, idle_ns=200, probes=1), PSNAllocator(2, psn_bits=8, idle_ns=200, probes=1)
    qb, pb, fallbacks = mod.tag_all(a, keys, ports, hashes, times)
    q, p = b.tag_burst(keys, ports, hashes, times)
    np.testing.assert_array_equal(np.frombuffer(qb, np.int32), q)
    np.testing.assert_array_equal(np.frombuffer(pb, np.uint32), p)
    assert fallbacks == a.fallbacks == b.fallbacks > 0
    assert mod.home(0, 0) == 0

    # flowlet scheduler
    s1 = FlowletScheduler(4, n_para=2, smoothing=1.0, t_switch_min_ns=0, t_switch_max_ns=10**6)
    s2 = FlowletScheduler(4, n_para=2, smoothing=1.0, t_switch_min_ns=0, t_switch_max_ns=10**6)
    cores = np.array([0, 1, 2, 3], np.uint16)
    delays = np.array([1000, 2000, 3000, 2000], np.int64)
    out, t0, t_avg, rx_id, never, max_delay = mod.schedule(s1, cores, delays, 7, 100, 200)
    s2.observe_burst(cores, delays)
    assert (t0, t_avg) == (s2.t_switch(0), s2.t_avg) == (4000, 2000)
    flows = np.zeros(1, FLOWLET_DTYPE)
    ref = [s2.start(flows, 0, 7, 0)] + [s2.steer(flows, 0, i * 100) for i in range(1, 200)]
    assert np.frombuffer(out, np.uint16).tolist() == ref
    assert rx_id == flows[0]["rx_id"] > 7
    assert (never, max_delay) == (2**63 - 1, 2**40)

    # inline fast paths == methods
    same, u1, u2, rx_same = mod.inline_vs_methods(
        PSNAllocator(1, psn_bits=8), PSNAllocator(1, psn_bits=8),
        FlowletScheduler(4, n_para=2, smoothing=0.5, t_switch_min_ns=10, t_switch_max_ns=400,
                         t_switch_init_ns=50),
        FlowletScheduler(4, n_para=2, smoothing=0.5, t_switch_min_ns=10, t_switch_max_ns=400,
                         t_switch_init_ns=50), 3000)
    assert same and rx_same and u1 == u2 == 777

    # Breakup per packet with feedback, against the Python API
    b1, b2 = _breakup(), _breakup()
    raw, para, live = mod.pipeline(b1, keys, hashes, times, 100)
    m1 = np.frombuffer(raw, META_DTYPE)
    m2 = np.zeros(len(keys), META_DTYPE)
    for i in range(len(keys)):
        b2.ingress(int(keys[i]), int(hashes[i]), 0, 64, int(times[i]), handle=i, out=m2, index=i)
        t_in = int(m2[i]["ingress_ns"])
        b2.feedback(int(m2[i]["core"]), t_in, t_in + 100 * (1 + int(m2[i]["core"])))
    assert m1.tobytes() == m2.tobytes()
    assert para == b1.para_packets == b2.para_packets > 0
    assert b1.holds > 0 and b1.scheduler.switches > 0
    # the same with the verdicts taken a chunk ahead (the simulator's way)
    for chunk in (1, 7, 256):
        b5 = _breakup()
        assert mod.pipeline_detected(b5, keys, hashes, times, 100, chunk) == m1.tobytes()
        assert (b5.holds, b5.scheduler.switches) == (b1.holds, b1.scheduler.switches)
    assert live and b2.is_para(int(keys[0]), int(times[-1]))

    # burst
    b3, b4 = _breakup(), _breakup()
    lengths = np.full(len(keys), 64, np.uint16)
    raw, entry_size, flowlet_size = mod.pipeline_burst(b3, keys, hashes, ports, lengths, times)
    ref = b4.ingress_burst(keys, hashes, ports, lengths, times)
    assert raw == ref.tobytes()
    assert (entry_size, flowlet_size) == (32, FLOWLET_DTYPE.itemsize) == (32, 16)
