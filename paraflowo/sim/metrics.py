"""Metrics from a policy's counters: utilization, alerts, latency percentiles, order."""

from __future__ import annotations

import numpy as np

from paraflowo._core.sim import hist_lower_bounds

__all__ = ["latency_percentiles", "utilization", "policy_metrics"]

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


def policy_metrics(stats: dict, duration_ns: int, bin_ns: int, threshold: float) -> dict:
    """The JSON metrics of one policy from :meth:`SimCore.stats`."""
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
    }
