"""``pfo_cm_update_runs``: the Count-Min burst update the simulator uses.

The ParaFlowO simulator counts its arrivals, in which a key often repeats the
one before it (an elephant's packets back to back), with
``pfo_cm_update_runs`` (``detectors.pxd``): with depth 4, the fused hash and
unit amounts, a run of one key is hashed and loaded once, and once a packet
of the run is an elephant the rest are counted in one update.  It must give
what ``CountMinDetector.c_update_burst`` gives: the same verdicts (forced tags
included), counters and time, for every shape of the sketch.
"""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import paraflowo as pfo
from paraflowo._core.detectors import _simd_loops

from cybuild import build_cython_module
from simparts import para_simcore

SOURCE = """
# cython: boundscheck=False, wraparound=False
from libc.stdint cimport int64_t, uint8_t, uint64_t
from paraflowo._core.detectors cimport CountMinDetector, pfo_cm_update_runs

def burst(CountMinDetector det, const uint64_t[::1] keys, const int64_t[::1] times,
          Py_ssize_t step, const uint64_t[::1] amounts, uint8_t[::1] out, bint runs):
    cdef const uint64_t* am = &amounts[0] if amounts is not None else NULL
    with nogil:
        if runs:
            pfo_cm_update_runs(det, &keys[0], &times[0], step, am, &out[0], keys.shape[0])
        else:
            det.c_update_burst(&keys[0], &times[0], step, am, &out[0], keys.shape[0])

def cells(CountMinDetector det):
    # the raw counters: (row, column, window slot) pairs, 2 * width * depth
    return [det.cm.cells[i] for i in range(2 * (<Py_ssize_t>det.cm.depth << det.cm.log2_width))]
"""


@pytest.fixture(scope="module")
def mod(tmp_path_factory):
    return build_cython_module(tmp_path_factory.mktemp("cmruns"), "cm_runs", SOURCE)


# runs of keys: (key, run length) pairs over a few keys, so that runs of one
# key meet again and a run's key is sometimes the previous run's
_runs = st.lists(st.tuples(st.integers(0, 5), st.integers(1, 40)), min_size=1, max_size=40)


@settings(max_examples=120, deadline=None)
@given(runs=_runs,
       shape=st.sampled_from([(1024, 4, "fused"), (1 << 17, 4, "fused"), (64, 4, "independent"),
                              (256, 3, "fused"), (16, 2, "fused")]),
       threshold=st.integers(1, 60), conservative=st.booleans(),
       window_ns=st.integers(50, 5_000), step=st.sampled_from([0, 1]),
       with_amounts=st.booleans(), forced=st.sampled_from([None, (2, True), (3, False)]),
       simd=st.booleans(), data=st.data())
def test_runs_update_equals_the_burst_update(mod, runs, shape, threshold, conservative,
                                             window_ns, step, with_amounts, forced, simd, data):
    width, depth, rows = shape
    keys = np.array([k * 0x9E3779B97F4A7C15 % (1 << 64) for k, n in runs for _ in range(n)],
                    np.uint64)
    n = len(keys)
    gaps = data.draw(st.lists(st.integers(0, 300), min_size=n, max_size=n))
    times = np.cumsum(gaps).astype(np.int64)
    amounts = (np.array(data.draw(st.lists(st.integers(1, 1500), min_size=n, max_size=n)),
                        np.uint64) if with_amounts else None)
    dets = [pfo.CountMinDetector(width, depth, threshold, window_ns, conservative, seed=7,
                                 row_hashes=rows) for _ in range(2)]
    if forced is not None:
        for d in dets:
            d.force(int(keys[0]) if forced[0] == 2 else 0x9E3779B97F4A7C15 * 3 % (1 << 64),
                    forced[1])
    outs = [np.empty(n, np.uint8) for _ in range(2)]
    before = _simd_loops(simd)
    try:
        # two bursts: the second starts inside a run of the first's last key
        cut = n // 2
        for d, out, r in zip(dets, outs, (False, True)):
            for lo, hi in ((0, cut), (cut, n)):
                if hi > lo:
                    mod.burst(d, keys[lo:hi], times[lo:hi] if step else times[lo:lo + 1],
                              step, None if amounts is None else amounts[lo:hi],
                              out[lo:hi], r)
    finally:
        _simd_loops(before)
    a, b = dets
    assert outs[0].tolist() == outs[1].tolist()
    assert a.window_totals == b.window_totals
    assert a.last_ns == b.last_ns
    every = np.unique(keys)
    assert a.estimate_burst(every).tolist() == b.estimate_burst(every).tolist()


class _NotExactlyCountMin(pfo.CountMinDetector):
    # the simulator takes pfo_cm_update_runs only for an exact CountMinDetector;
    # a subclass goes through the virtual c_update_burst
    pass


# 40 flows on a 16-wide sketch: their cells collide, so a wrong counter in
# the runs update reaches other flows' verdicts
_FLOWS = 40
_HASHES = np.arange(_FLOWS, dtype=np.uint32) * np.uint32(2654435761)
_KEYS = (_HASHES.astype(np.uint64) << np.uint64(32)) | np.arange(_FLOWS, dtype=np.uint64)


def _para_core(det_cls, threshold, count):
    det = det_cls(16, 4, threshold, 200_000, True, seed=3)
    core = para_simcore([900, 1000, 1100, 1200], _HASHES, 4, 250_000, det, _KEYS, rx_queue=64,
                        reta_size=16, count=count)
    return core, det


@settings(max_examples=25, deadline=None)
@given(runs=st.lists(st.tuples(st.integers(0, _FLOWS - 1), st.integers(1, 30)), min_size=1,
                     max_size=80),
       threshold=st.integers(2, 40), count=st.sampled_from(["packets", "bytes"]),
       data=st.data())
def test_simulator_same_results_with_the_runs_update(runs, threshold, count, data):
    flows = np.array([f for f, n in runs for _ in range(n)], np.int32)
    gaps = data.draw(st.lists(st.integers(0, 700), min_size=len(flows), max_size=len(flows)))
    times = np.cumsum(gaps).astype(np.int64)
    results = []
    for cls in (pfo.CountMinDetector, _NotExactlyCountMin):
        core, det = _para_core(cls, threshold * (800 if count == "bytes" else 1), count)
        core.run(times, flows)
        core.flush()
        results.append([{k: np.asarray(v).tolist() for k, v in d.items()}
                        for d in (core.stats(), core.flow_stats(), core.paraflowo_stats())]
                       + [det.window_totals, det.estimate_burst(_KEYS).tolist()])
    assert results[0] == results[1]


@pytest.mark.skipif(not _simd_loops(), reason="the SIMD loops (SSE4.1) are unavailable here: "
                    "pfo_cm_update_runs then is pfo_cm_kernel, tested above")
@pytest.mark.parametrize("conservative", [True, False])
@pytest.mark.parametrize("width", [16, 64])
@pytest.mark.parametrize("step", [0, 1])
def test_runs_kernel_counters_equal_the_burst_update(mod, width, conservative, step):
    # Pinned to the SIMD runs loop (pfo_cm_loop4_sse41_runs: depth 4, fused,
    # unit amounts).  A slip in a run's counting that leaves the verdicts of
    # the run alone (a wrong amount, or plain adds in the bulk update of a
    # conservative sketch: its minimum row is right either way) changes
    # only the other rows' counters, and those show only where cells
    # collide: narrow rows, tens of keys, long runs, and the raw cells.
    # Seeded numpy sequences, not hypothesis: its shrinking goes to few
    # distinct keys, which hides the collisions.
    rng = np.random.default_rng(width * 4 + conservative * 2 + step)
    for trial in range(12):
        ks = np.repeat(rng.integers(0, 40, 60), rng.integers(1, 40, 60))
        keys = (ks.astype(np.uint64) + np.uint64(1)) * np.uint64(0x9E3779B97F4A7C15)
        n = len(keys)
        # per-packet times cross several windows; one time per burst does not
        times = np.cumsum(rng.integers(0, 20, n)).astype(np.int64)
        window_ns = int(rng.integers(n // 4, 4 * n))
        threshold = int(rng.integers(1, 60))
        dets = [pfo.CountMinDetector(width, 4, threshold, window_ns, conservative, seed=7)
                for _ in range(2)]
        assert dets[0].row_hashes == "fused"
        outs = [np.empty(n, np.uint8) for _ in range(2)]
        # three bursts, cut inside runs
        cuts = [0, *sorted(rng.integers(1, n, 2).tolist()), n]
        for d, out, r in zip(dets, outs, (False, True)):
            for lo, hi in zip(cuts, cuts[1:]):
                if hi > lo:
                    mod.burst(d, keys[lo:hi], times[lo:hi] if step else times[lo:lo + 1],
                              step, None, out[lo:hi], r)
        a, b = dets
        assert outs[0].tolist() == outs[1].tolist(), trial
        assert mod.cells(a) == mod.cells(b), trial
        assert a.window_totals == b.window_totals
        assert a.last_ns == b.last_ns
