"""Metrics from a policy's counters: utilization, alerts, latency percentiles, order.

Order follows RFC 4737 (packet reordering metrics), per flow, in the order
packets leave egress:

* ``out_of_order`` counts Type-P-Reordered packets (sec. 3): a packet whose
  sequence number is below the highest one its flow already released (the
  "next expected" of the RFC; a dropped packet keeps its number, so a loss
  alone reorders nothing).  ``reordered_ratio`` is their share of the released
  packets (sec. 4.1).
* ``reorder_extent_max`` / ``reorder_extent_mean``: the reordering extent
  (sec. 4.2.2) of those packets, ``i - j`` with ``i`` the packet's receive
  index in its flow and ``j`` the earliest receive index holding a larger
  sequence number: how many packets overtook it.
* ``n_reordering[n - 1]``: packets n-reordered (sec. 5), i.e. the n packets
  received just before each carried larger sequence numbers, for n = 1..16;
  ``n3_reordered`` is n = 3, the degree at which a TCP receiver's duplicate
  ACKs trigger a fast retransmit (RFC 5681's three duplicate ACKs).
* ``extent_capped``: reordered packets whose extent or degree reached past the
  receive history the simulator keeps per flow (``SimCore.history`` entries,
  1024 for up to 2048 flows); their values are lower bounds.
"""

from __future__ import annotations

import numpy as np

from paraflowo._core.sim import flow_hist_lower_bounds, hist_lower_bounds

__all__ = ["latency_percentiles", "utilization", "policy_metrics", "flow_metrics",
           "FLOW_COLUMNS"]

_LOWER = None


def latency_percentiles(hist: np.ndarray, qs=(0.5, 0.99, 0.999)) -> list[int]:
    """Latency quantiles (ns) from the log-linear histogram.

    Exact below 2048 ns; above, the lower bound of the bucket holding the
    quantile (relative error under 1/1024).  0 for an empty histogram.
    """
    global _LOWER
    if _LOWER is None:
        _LOWER = hist_lower_bounds()
    total = int(hist.sum())
    if total == 0:
        return [0 for _ in qs]
    cum = np.cumsum(hist)
    out = []
    for q in qs:
        rank = max(1, int(np.ceil(q * total)))
        out.append(int(_LOWER[int(np.searchsorted(cum, rank))]))
    return out


def utilization(busy_ns: np.ndarray, duration_ns: int, bin_ns: int) -> tuple[np.ndarray,
                                                                           np.ndarray]:
    """(mean per core, per bin per core) utilization from busy ns per bin.

    The last bin may be shorter than ``bin_ns`` (when the duration is not a
    multiple of it); its utilization is over its real width.
    """
    n_bins = busy_ns.shape[0]
    widths = np.full(n_bins, float(bin_ns))
    widths[-1] = duration_ns - (n_bins - 1) * bin_ns
    per_bin = busy_ns / widths[:, None]
    mean = busy_ns.sum(axis=0) / float(duration_ns)
    return mean, per_bin


def policy_metrics(stats: dict, duration_ns: int, bin_ns: int, threshold: float,
                   flow_stats: dict | None = None) -> dict:
    """The JSON metrics of one policy from :meth:`SimCore.stats` (and
    :meth:`SimCore.flow_stats`, for the reordering extent)."""
    mean, per_bin = utilization(stats["busy_ns"], duration_ns, bin_ns)
    p50, p99, p999 = latency_percentiles(stats["latency_hist"])
    arrived = int(stats["arrived"].sum())
    dropped = int(stats["dropped"].sum())
    completed = int(stats["completed"].sum())
    return {
        "core_utilization": [round(float(u), 6) for u in mean],
        "utilization_bins": [[round(float(u), 6) for u in row] for row in per_bin],
        "alert_bins": int((per_bin.max(axis=1) > threshold).sum()),
        "packets": arrived,
        "completed": completed,
        "released": int(stats["released"]),
        "drops": dropped,
        "drops_per_core": [int(x) for x in stats["dropped"]],
        "latency_ns": {"p50": p50, "p99": p99, "p999": p999},
        "out_of_order": int(stats["out_of_order"]),
        "flows_out_of_order": int((stats["flow_out_of_order"] > 0).sum()),
        **reordering_metrics(stats, flow_stats),
    }


def reordering_metrics(stats: dict, flow_stats: dict | None) -> dict:
    """The RFC 4737 metrics (see the module's docstring) of one policy."""
    ooo = int(stats["out_of_order"])
    released = int(stats["released"])
    by_degree = np.asarray(stats["n_reordering"])      # [0..16]: degree, 16 = 16 or more
    at_least = np.cumsum(by_degree[::-1])[::-1]        # at_least[n]: degree >= n
    out = {
        "reordered_ratio": round(ooo / released, 9) if released else 0.0,
        "reorder_extent_max": 0,
        "reorder_extent_mean": 0.0,
        "n3_reordered": int(at_least[3]),
        "n_reordering": [int(x) for x in at_least[1:]],
        "extent_capped": int(stats["extent_capped"]),
    }
    if flow_stats is not None:
        out["reorder_extent_max"] = int(flow_stats["extent_max"].max())
        if ooo:
            out["reorder_extent_mean"] = round(int(flow_stats["extent_sum"].sum()) / ooo, 6)
    return out


#: Columns of the per-flow table (:func:`flow_metrics`), in order.
FLOW_COLUMNS = ("flow", "group", "packets", "drops", "released", "out_of_order",
                "reorder_extent_max", "reorder_extent_mean", "n3_reordered",
                "latency_ns_mean", "latency_ns_max", "latency_ns_p50", "latency_ns_p99",
                "latency_ns_p999")


def flow_metrics(flow_stats: dict, groups: np.ndarray, labels: list[str],
                 qs=(0.5, 0.99, 0.999)) -> dict[str, list]:
    """The per-flow table (as FlowMonitor gives) from :meth:`SimCore.flow_stats`.

    Returns a dict of equal-length lists keyed by :data:`FLOW_COLUMNS`.
    Latency percentiles come from each flow's coarse histogram (the lower
    bound of the bucket holding the quantile: exact below 16 ns, then within
    1/8); -1 when the flow released nothing, or when the flows were too many
    for per-flow histograms.
    """
    fs = flow_stats
    n = len(fs["arrived"])
    rel = fs["released"]
    ooo = fs["out_of_order"]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(rel > 0, fs["latency_sum_ns"] / np.maximum(rel, 1), 0.0)
        ext_mean = np.where(ooo > 0, fs["extent_sum"] / np.maximum(ooo, 1), 0.0)
    pct = np.full((len(qs), n), -1, dtype=np.int64)
    hist = fs["latency_hist"]
    if hist is not None:
        lower = flow_hist_lower_bounds()
        cum = np.cumsum(hist, axis=1)
        total = cum[:, -1]
        for k, q in enumerate(qs):
            rank = np.maximum(1, np.ceil(q * total).astype(np.int64))
            idx = (cum < rank[:, None]).sum(axis=1)
            pct[k] = np.where(total > 0, lower[np.minimum(idx, len(lower) - 1)], -1)
    return {
        "flow": list(range(n)),
        "group": [labels[int(g)] for g in groups],
        "packets": [int(x) for x in fs["arrived"]],
        "drops": [int(x) for x in fs["dropped"]],
        "released": [int(x) for x in rel],
        "out_of_order": [int(x) for x in ooo],
        "reorder_extent_max": [int(x) for x in fs["extent_max"]],
        "reorder_extent_mean": [round(float(x), 6) for x in ext_mean],
        "n3_reordered": [int(x) for x in fs["n3_reordered"]],
        "latency_ns_mean": [round(float(x), 3) for x in mean],
        "latency_ns_max": [int(x) for x in fs["latency_max_ns"]],
        "latency_ns_p50": [int(x) for x in pct[0]],
        "latency_ns_p99": [int(x) for x in pct[1]],
        "latency_ns_p999": [int(x) for x in pct[2]],
    }
