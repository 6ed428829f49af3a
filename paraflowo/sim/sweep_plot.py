"""Plots of a sweep: a metric over the grid, per policy (matplotlib's object API).

:func:`plot_sweep` builds a :class:`matplotlib.figure.Figure` directly (never
``pyplot``, never ``matplotlib.use``), so the caller's backend and figures are
untouched.  Each value is the mean over the seeds (and traces) of a point.
"""

from __future__ import annotations

from typing import Sequence

from paraflowo.errors import MissingDependency

__all__ = ["plot_sweep"]


def _mean_by(rows: Sequence[dict], keys: Sequence[str], metric: str) -> dict:
    acc: dict = {}
    for r in rows:
        k = tuple(r[c] for c in keys)
        s, n = acc.get(k, (0.0, 0))
        acc[k] = (s + float(r[metric]), n + 1)
    return {k: s / n for k, (s, n) in acc.items()}


def plot_sweep(rows: Sequence[dict], grid_keys: Sequence[str], metric: str,
               policies: Sequence[str] | None = None):
    """A metric over the grid, one line (one grid key) or one heatmap panel
    (two or more keys: the first two) per policy.

    Parameters
    ----------
    rows : sequence of dict
        Sweep rows (:attr:`SweepResult.rows`, or ``read_table(path)[0]``).
    grid_keys : sequence of str
        The grid's keys, in order; with more than two, the plot averages over
        the others.  With none, one bar per policy.
    metric : str
        A numeric column (``util_spread``, ``out_of_order``, ...).
    policies : sequence of str, optional
        Which policies, in order (default: as they appear in the rows).

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        No rows, or ``metric`` is not a numeric column of them.
    paraflowo.errors.MissingDependency
        matplotlib is missing (an :class:`ImportError`).
    """
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise MissingDependency("sweep plots", "matplotlib", "plot") from None
    if not rows:
        raise ValueError("rows must hold at least one sweep row, got none")
    numeric = [c for c, v in rows[0].items()
               if isinstance(v, (int, float)) and not isinstance(v, bool)
               and c not in grid_keys and c != "seed"]
    if metric not in numeric:
        raise ValueError(f"metric must be one of {', '.join(numeric)}, got {metric!r}")
    if policies is None:
        policies = list(dict.fromkeys(r["policy"] for r in rows))
    keys = list(grid_keys)
    if not keys:
        fig = Figure(figsize=(5, 3.4), layout="constrained")
        ax = fig.subplots()
        means = _mean_by(rows, ["policy"], metric)
        ax.bar(list(policies), [means[(p,)] for p in policies])
        ax.set_ylabel(metric)
        return fig
    if len(keys) == 1:
        fig = Figure(figsize=(5.5, 3.6), layout="constrained")
        ax = fig.subplots()
        means = _mean_by(rows, ["policy", keys[0]], metric)
        xs = list(dict.fromkeys(r[keys[0]] for r in rows))
        numeric_x = all(isinstance(x, (int, float)) for x in xs)
        for p in policies:
            pts = [(x, means[(p, x)]) for x in xs if (p, x) in means]
            if numeric_x:
                pts.sort()
                ax.plot([x for x, _ in pts], [y for _, y in pts], marker="o", label=p)
            else:
                ax.plot([str(x) for x, _ in pts], [y for _, y in pts], marker="o", label=p)
        ax.set_xlabel(keys[0])
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        fig.suptitle(f"{metric} (mean over seeds)")
        return fig
    kx, ky = keys[0], keys[1]
    xs = sorted(dict.fromkeys(r[kx] for r in rows), key=_order)
    ys = sorted(dict.fromkeys(r[ky] for r in rows), key=_order)
    means = _mean_by(rows, ["policy", kx, ky], metric)
    vals = [means[k] for k in means]
    lo, hi = min(vals), max(vals)
    fig = Figure(figsize=(3.2 * len(policies) + 1.0, 3.4), layout="constrained")
    axes = fig.subplots(1, len(policies), squeeze=False)[0]
    im = None
    for ax, p in zip(axes, policies):
        grid = [[means.get((p, x, y), float("nan")) for x in xs] for y in ys]
        im = ax.imshow(grid, origin="lower", aspect="auto", vmin=lo, vmax=hi, cmap="viridis")
        ax.set_xticks(range(len(xs)), [str(x) for x in xs])
        ax.set_yticks(range(len(ys)), [str(y) for y in ys])
        ax.set_xlabel(kx)
        ax.set_title(p)
        for iy, row in enumerate(grid):
            for ix, v in enumerate(row):
                light = hi > lo and (v - lo) / (hi - lo) > 0.6
                ax.text(ix, iy, f"{v:.3g}", ha="center", va="center", fontsize=7,
                        color="k" if light else "w")
    axes[0].set_ylabel(ky)
    fig.colorbar(im, ax=list(axes), label=metric)
    rest = f", mean over {', '.join(keys[2:])}" if len(keys) > 2 else ""
    fig.suptitle(f"{metric} (mean over seeds{rest})")
    return fig


def _order(v):
    return (0, v, "") if isinstance(v, (int, float)) else (1, 0, str(v))
