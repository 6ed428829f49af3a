"""The utilization bins: each core's busy time per bin against a plain model.

The loop adds a packet's service [start, finish) to its core's current bin
in one step (``_account_busy``) and splits it over the bins it spans only
past the bin's end (``_account_busy_bins``), counting nothing past the last
bin.  The model: every accepted packet's service interval cut at the bin
edges ``k * bin_ns``, for ``k < n_bins``.  Past the last bin the loop
counts into a scratch cell per core, which must never show.
"""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import paraflowo as pfo
from paraflowo import IndirectionTable, SimCore

from simparts import para_simcore


def _model(tc, tf, svc, n_bins, bin_ns, n_cores):
    busy = np.zeros((n_bins, n_cores), np.int64)
    for c, f in zip(tc.tolist(), tf.tolist()):
        if c < 0:
            continue
        s = f - svc[c]
        for k in range(s // bin_ns, min((f - 1) // bin_ns, n_bins - 1) + 1):
            busy[k, c] += min(f, (k + 1) * bin_ns) - max(s, k * bin_ns)
    return busy


@settings(max_examples=80, deadline=None)
@given(gaps=st.lists(st.integers(0, 900), min_size=1, max_size=120),
       svc=st.lists(st.integers(1, 2500), min_size=3, max_size=3),
       n_bins=st.integers(1, 6), bin_ns=st.integers(1, 3000), rx_queue=st.integers(1, 8),
       policy=st.sampled_from(["rss", "spray"]))
def test_busy_time_per_bin_equals_the_model(gaps, svc, n_bins, bin_ns, rx_queue, policy):
    times = np.cumsum(gaps).astype(np.int64)
    core = SimCore(policy, np.array(svc, np.int64), rx_queue,
                   np.array([1, 2, 3, 4, 5], np.uint32), n_bins, bin_ns, IndirectionTable(3, 4))
    _check(core, times, svc, n_bins, bin_ns)


def _check(core, times, svc, n_bins, bin_ns):
    n = len(times)
    flows = (np.arange(n) % 5).astype(np.int32)
    tc, tf = np.empty(n, np.int16), np.empty(n, np.int64)
    h = n // 2
    core.run(times[:h], flows[:h], None, tc[:h], tf[:h])
    core.run(times[h:], flows[h:], None, tc[h:], tf[h:])
    core.flush()
    busy = core.stats()["busy_ns"].reshape(n_bins, 3)
    assert busy.tolist() == _model(tc, tf, svc, n_bins, bin_ns, 3).tolist()
    return busy


def _para(svc, n_bins, bin_ns):
    return para_simcore(svc, [1, 2, 3, 4, 5], n_bins, bin_ns,
                        pfo.CountMinDetector(16, 4, 3, 10_000, True, seed=1),
                        np.arange(1, 6, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15))


@pytest.mark.parametrize("policy", ["rss", "spray", "paraflowo"])
@pytest.mark.parametrize("start", [0, (1 << 62) - (1 << 22)])
def test_busy_time_past_the_last_bin(policy, start):
    # two bins, then most of the run past them (the scratch cells take it,
    # and nothing of it reaches the bins), up to near the 2**62 time limit
    svc = [700, 1100, 1300]
    rng = np.random.default_rng(5)
    times = start + np.cumsum(rng.integers(0, 900, 3000)).astype(np.int64)
    # the bins end 600 us after the first arrival, the arrivals about 1.35 ms
    n_bins, bin_ns = 2, (start + 600_000) // 2
    core = (_para(svc, n_bins, bin_ns) if policy == "paraflowo" else
            SimCore(policy, np.array(svc, np.int64), 8, np.array([1, 2, 3, 4, 5], np.uint32),
                    n_bins, bin_ns, IndirectionTable(3, 4)))
    assert times[-1] > n_bins * bin_ns
    assert _check(core, times, svc, n_bins, bin_ns).sum() > 0
