"""The shipped example ``examples/cython`` builds with its own setup.py and runs.

It embeds Breakup, a detector and reorder queues (placed in memory the
module allocates) through ``cimport paraflowo`` and runs its burst loop
without the GIL.  Its records must equal the Python API's on the same
packets and feedback, and egress must lose nothing and keep every flow in
order.
"""

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import paraflowo as pfo

from cybuild import build_example

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "cython"


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    return build_example(EXAMPLE, tmp_path_factory.mktemp("example"), "pipeline")


def _breakup(n_cores, n_queues, threshold):
    return pfo.Breakup(pfo.CountMinDetector(1024, 4, threshold, 100_000),
                       pfo.PSNAllocator(n_queues, psn_bits=16, idle_ns=50_000),
                       pfo.FlowletScheduler(n_cores, n_para=n_cores))


def _traffic(seed, n, share):
    rng = np.random.default_rng(seed)
    keys = np.where(rng.random(n) < share, rng.integers(1, 3, n),
                    rng.integers(3, 300, n)).astype(np.uint64)
    hashes = ((keys * np.uint64(0x9E3779B1)) % np.uint64(2**32)).astype(np.uint32)
    lengths = rng.integers(64, 1500, n).astype(np.uint16)
    times = np.cumsum(rng.integers(0, 200, n)).astype(np.int64)
    return keys, hashes, lengths, times


def _python_twin(b, keys, hashes, lengths, times, n_cores, service_ns, burst):
    # The example's loop, written with the Python API.
    n = len(keys)
    metas = []
    t = 0
    for s in range(0, n, burst):
        k = min(burst, n - s)
        m = b.ingress_burst(keys[s:s + k], hashes[s:s + k], np.zeros(k, np.uint16),
                            lengths[s:s + k], times[s:s + k],
                            np.arange(s, s + k, dtype=np.uint64))
        t = max(t, int(times[s + k - 1]))
        for c in range(n_cores):
            for i in range(k):
                if m["core"][i] == c:
                    t += service_ns
                    b.feedback(c, int(m["ingress_ns"][i]), t)
        metas.append(m)
    return np.concatenate(metas)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 600), share=st.sampled_from([0.3, 0.8]),
       n_cores=st.sampled_from([2, 4]), burst=st.sampled_from([1, 7, 32]),
       service_ns=st.sampled_from([0, 10, 300]))
def test_example_pipeline(pipeline, seed, n, share, n_cores, burst, service_ns):
    keys, hashes, lengths, times = _traffic(seed, n, share)
    b = _breakup(n_cores, 8, 20)
    meta, order = pipeline.run(b, keys, hashes, lengths, times, 512, 1_000_000, service_ns, burst)
    # same records as the Python API, packet for packet
    twin = _python_twin(_breakup(n_cores, 8, 20), keys, hashes, lengths, times, n_cores,
                        service_ns, burst)
    assert meta.tobytes() == twin.tobytes()
    # nothing lost, nothing twice, every flow in its ingress order
    assert sorted(order.tolist()) == list(range(n))
    for key in np.unique(keys):
        out = order[keys[order] == key]
        assert np.all(np.diff(out.astype(np.int64)) > 0), key


def test_example_spreads_and_reorders(pipeline):
    # The elephant is spread over cores (so egress really had to reorder).
    keys, hashes, lengths, times = _traffic(3, 3000, 0.8)
    b = _breakup(4, 8, 20)
    meta, order = pipeline.run(b, keys, hashes, lengths, times, 512, 1_000_000, 10, 32)
    para = (meta["flags"] & pfo.FLAG_PARA) != 0
    assert para.sum() > 1000
    assert len(np.unique(meta["core"][keys == 1])) > 1
    assert not np.all(np.diff(np.concatenate(
        [np.flatnonzero(meta["core"][:32] == c) for c in range(4)])) > 0)
    assert sorted(order.tolist()) == list(range(3000))


def test_example_detector(pipeline):
    keys = np.array([5, 5, 6, 7, 5, 7], np.uint64)
    for make in (lambda: pfo.CountMinDetector(64, 4, 2, 1000),
                 lambda: pfo.SpaceSavingDetector(2, 2, 1000),
                 lambda: pfo.ElephantDetector(max_tags=4)):
        a, b = make(), make()
        a.force(6, True)
        b.force(6, True)
        assert pipeline.detect(a, keys, 10).tolist() == b.update_burst(keys, 10).tolist()
        assert [a.estimate(k) for k in (5, 6, 7)] == [b.estimate(k) for k in (5, 6, 7)]
