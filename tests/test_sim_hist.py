"""The latency histograms' buckets: the loop's index against the lower bounds.

``pfo_sim_hist_index`` and ``pfo_sim_fhist_index`` (``sim.pxd``) compute a
latency's bucket with one bit scan; ``hist_lower_bounds`` and
``flow_hist_lower_bounds`` give each bucket's lower bound.  A packet whose
latency is v must land in the bucket b with ``lower[b] <= v < lower[b + 1]``,
in both histograms, at every power of two and between.
"""

import numpy as np
from hypothesis import given, settings, strategies as st

from paraflowo import IndirectionTable, SimCore
from paraflowo._core.sim import flow_hist_lower_bounds, hist_lower_bounds

_latencies = st.one_of(st.integers(1, 5000),
                       st.integers(1, 36).flatmap(lambda k: st.integers((1 << k) - 2,
                                                                        (1 << k) + 2)),
                       st.integers(1, 1 << 36))


@settings(max_examples=200, deadline=None)
@given(v=_latencies.filter(lambda v: 1 <= v <= 1 << 36))
def test_a_latency_lands_in_its_bucket(v):
    # one packet on an idle core of service v: its latency is exactly v
    core = SimCore("rss", np.array([v], np.int64), 4, np.array([7], np.uint32), 1,
                   1 << 40, IndirectionTable(1, 4))
    core.run(np.array([0], np.int64), np.array([0], np.int32))
    core.flush()
    for hist, lower in ((core.stats()["latency_hist"], hist_lower_bounds()),
                        (core.flow_stats()["latency_hist"][0], flow_hist_lower_bounds())):
        (b,) = np.flatnonzero(hist)
        assert hist[b] == 1
        assert lower[b] <= v
        assert b + 1 == len(lower) or v < lower[b + 1]
