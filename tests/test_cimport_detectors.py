"""The detectors cimport API, driven without the GIL through an ElephantDetector reference."""

import numpy as np

from paraflowo import CountMinDetector, ElephantDetector, ThresholdDetector

from cybuild import build_cython_module

SOURCE = """
# cython: boundscheck=False, wraparound=False
from libc.stdint cimport int64_t, uint8_t, uint64_t
from paraflowo._core._types cimport pfo_ns_t
from paraflowo._core.detectors cimport (
    ElephantDetector, CountMinDetector, SpaceSavingDetector, PFO_CM_MAX_DEPTH,
    PFO_TAG_NONE, PFO_TAG_OFF, PFO_TAG_ON)

def drive(ElephantDetector det, const uint64_t[::1] keys, const int64_t[::1] times,
          const uint64_t[::1] amounts):
    # per packet through the virtual c_update, then the estimates, all nogil
    cdef Py_ssize_t i, n = keys.shape[0]
    flags = bytearray(n)
    ests = bytearray(8 * n)
    cdef uint8_t* f = <uint8_t*><char*>flags
    cdef uint64_t* e = <uint64_t*><char*>ests
    with nogil:
        for i in range(n):
            f[i] = det.c_update(keys[i], times[i], amounts[i])
        for i in range(n):
            e[i] = det.c_estimate(keys[i])
    return bytes(flags), bytes(ests)

def drive_burst(ElephantDetector det, const uint64_t[::1] keys, const int64_t[::1] times):
    cdef Py_ssize_t n = keys.shape[0]
    flags = bytearray(n)
    cdef uint8_t* f = <uint8_t*><char*>flags
    with nogil:
        det.c_update_burst(&keys[0], &times[0], 1, NULL, f, n)
        det.c_advance(times[n - 1])
    return bytes(flags)

def forced(ElephantDetector det, uint64_t key):
    cdef int v
    with nogil:
        v = det.c_forced(key)
    return v, PFO_TAG_NONE, PFO_TAG_OFF, PFO_TAG_ON

def fields(CountMinDetector cm, SpaceSavingDetector ss):
    return (cm.width, cm.depth, cm.threshold, cm.window_ns, cm.max_tags,
            ss.capacity, ss.threshold, PFO_CM_MAX_DEPTH)
"""


def _stream(n=3000, seed=3):
    rng = np.random.default_rng(seed)
    keys = (rng.zipf(1.3, n) % 200).astype(np.uint64)
    times = np.cumsum(rng.integers(0, 50, n)).astype(np.int64)
    amounts = rng.integers(1, 1500, n).astype(np.uint64)
    return keys, times, amounts


def test_cimport_detectors_nogil(tmp_path):
    mod = build_cython_module(tmp_path, "use_detectors", SOURCE)
    keys, times, amounts = _stream()
    makers = [
        lambda: CountMinDetector(256, 4, 20_000, 10_000, seed=5),
        lambda: CountMinDetector(256, 3, 20_000, 10_000, conservative=False, seed=5),
        lambda: ThresholdDetector(32, 20_000, 10_000),
        lambda: ElephantDetector(max_tags=8),
    ]
    for make in makers:
        a, b = make(), make()
        for d in (a, b):
            d.force(int(keys[0]), False)
            d.force(12345, True)
        flags, ests = mod.drive(a, keys, times, amounts)
        want = [b.update(int(k), int(t), int(m)) for k, t, m in zip(keys, times, amounts)]
        assert list(np.frombuffer(flags, np.uint8).astype(bool)) == want
        assert any(want) or isinstance(a, ElephantDetector) and type(a) is ElephantDetector
        assert list(np.frombuffer(ests, np.uint64)) == [b.estimate(int(k)) for k in keys]

        c, d = make(), make()
        got = np.frombuffer(mod.drive_burst(c, keys, times), np.uint8).astype(bool)
        np.testing.assert_array_equal(got, d.update_burst(keys, times))
        assert c.last_ns == int(times[-1])

    cm, ss = CountMinDetector(64, 2, 7, 99, max_tags=3), ThresholdDetector(5, 8, 100)
    assert mod.forced(cm, 1) == (-1, -1, 0, 1)
    cm.force(1, True)
    ss.force(1, False)
    assert mod.forced(cm, 1)[0] == 1 and mod.forced(ss, 1)[0] == 0 and mod.forced(ss, 2)[0] == -1
    assert mod.fields(cm, ss) == (64, 2, 7, 99, 3, 5, 8, 16)
