"""``cimport paraflowo``: the ingress blocks (detectors, PSN, scheduler, Breakup).

A module that uses only names ``paraflowo/__init__.pxd`` exports drives the
PSN allocator and the flowlet scheduler without the GIL and must agree with
the Python methods on twins.  (Breakup and the detectors: the shipped example,
tests/test_example_cython.py.)
"""

import numpy as np
import pytest

import paraflowo as pfo

from cybuild import build_cython_module

SOURCE = """
# cython: boundscheck=False, wraparound=False
from libc.stdint cimport int32_t, int64_t, uint16_t, uint32_t, uint64_t
cimport paraflowo
from paraflowo cimport (
    PFO_CM_MAX_DEPTH, PFO_TAG_NONE, PFO_TAG_OFF, PFO_TAG_ON,
    ElephantDetector, CountMinDetector, SpaceSavingDetector,
    PFO_PSN_MAX_PROBES, PFO_PSN_NO_QUEUE, pfo_psn_home, pfo_psn_next, PSNAllocator,
    PFO_SCHED_ALPHA_SHIFT, PFO_SCHED_MAX_DELAY, PFO_SCHED_NEVER,
    pfo_flowlet_t, pfo_sched_due, pfo_sched_switch, pfo_sched_steer, FlowletScheduler,
    PFO_BRK_MAX_PROBES, PFO_BRK_CHUNK, PFO_BRK_EMPTY, pfo_para_entry_t, Breakup,
    pfo_psn_t, pfo_ns_t)

def constants():
    return (PFO_CM_MAX_DEPTH, PFO_TAG_NONE, PFO_TAG_OFF, PFO_TAG_ON, PFO_PSN_MAX_PROBES,
            PFO_PSN_NO_QUEUE, PFO_SCHED_ALPHA_SHIFT, PFO_SCHED_MAX_DELAY, PFO_SCHED_NEVER,
            PFO_BRK_MAX_PROBES, PFO_BRK_CHUNK, PFO_BRK_EMPTY)

def tag(PSNAllocator a, const uint64_t[::1] keys, const uint32_t[::1] hashes,
        const int64_t[::1] times):
    cdef Py_ssize_t i, n = keys.shape[0]
    cdef pfo_psn_t psn
    cdef int32_t q
    cdef int32_t[:] qs = __import__("numpy").zeros(n, "i4")
    cdef uint32_t[:] ps = __import__("numpy").zeros(n, "u4")
    with nogil:
        for i in range(n):
            q = a.c_tag(keys[i], 0, hashes[i], times[i], &psn)
            qs[i] = q
            ps[i] = psn
    return list(zip(qs, ps))

def home(uint16_t port, uint32_t h):
    return pfo_psn_home(port, h)

def steer(FlowletScheduler s, uint32_t flow_hash, const int64_t[::1] times, int64_t delay):
    cdef pfo_flowlet_t f
    cdef Py_ssize_t i, n = times.shape[0]
    cdef uint16_t[:] cores = __import__("numpy").zeros(n, "u2")
    with nogil:
        s.c_start(&f, flow_hash, times[0])
        for i in range(n):
            s.c_observe(f.core, delay)
            cores[i] = pfo_sched_steer(s, &f, times[i])
    return list(cores)
"""


@pytest.fixture(scope="module")
def mod(tmp_path_factory):
    return build_cython_module(tmp_path_factory.mktemp("pubingress"), "pub_ingress", SOURCE)


def test_constants(mod):
    assert mod.constants() == (16, -1, 0, 1, 64, -1, 32, 2**40, 2**63 - 1, 64, 256, -2**63)


def test_psn_allocator_from_cython_equals_python(mod):
    rng = np.random.default_rng(5)
    keys = rng.integers(1, 40, 500).astype(np.uint64)
    hashes = rng.integers(0, 2**32, 500).astype(np.uint32)
    times = np.cumsum(rng.integers(0, 3000, 500)).astype(np.int64)
    a, b = pfo.PSNAllocator(8, psn_bits=8, idle_ns=20_000), pfo.PSNAllocator(8, psn_bits=8,
                                                                            idle_ns=20_000)
    got = mod.tag(a, keys, hashes, times)
    want = [b.tag(int(k), 0, int(h), int(t)) for k, h, t in zip(keys, hashes, times)]
    assert [(int(q), int(p) if q >= 0 else 0) for q, p in got] == [
        (q, p if q >= 0 else 0) for q, p in want]
    assert any(q < 0 for q, _ in want) and any(q >= 0 for q, _ in want)
    assert mod.home(0, 0) == 0


def test_scheduler_from_cython_equals_python(mod):
    times = np.arange(0, 40_000, 700, dtype=np.int64)
    a, b = pfo.FlowletScheduler(4, n_para=4), pfo.FlowletScheduler(4, n_para=4)
    got = mod.steer(a, 12345, times, 3000)
    flows = np.zeros(1, pfo.FLOWLET_DTYPE)
    b.start(flows, 0, 12345, int(times[0]))
    want = []
    for t in times:
        b.observe(int(flows["core"][0]), 3000)
        want.append(b.steer(flows, 0, int(t)))
    assert [int(c) for c in got] == want
    assert len(set(want)) > 1 and a.switches == b.switches > 0
