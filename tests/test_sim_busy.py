"""The utilization bins: each core's busy time per bin against a plain model.

The loop adds a packet's service [start, finish) to its core's current bin
in one step (``_account_busy``) and splits it over the bins it spans only
past the bin's end (``_account_busy_bins``), counting nothing past the last
bin.  The model: every accepted packet's service interval cut at the bin
edges ``k * bin_ns``, for ``k < n_bins``.
"""

import numpy as np
from hypothesis import given, settings, strategies as st

from paraflowo import IndirectionTable, SimCore


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
    n = len(times)
    flows = (np.arange(n) % 5).astype(np.int32)
    core = SimCore(policy, np.array(svc, np.int64), rx_queue,
                   np.array([1, 2, 3, 4, 5], np.uint32), n_bins, bin_ns, IndirectionTable(3, 4))
    tc, tf = np.empty(n, np.int16), np.empty(n, np.int64)
    h = n // 2
    core.run(times[:h], flows[:h], None, tc[:h], tf[:h])
    core.run(times[h:], flows[h:], None, tc[h:], tf[h:])
    core.flush()
    busy = core.stats()["busy_ns"].reshape(n_bins, 3)
    assert busy.tolist() == _model(tc, tf, svc, n_bins, bin_ns, 3).tolist()
