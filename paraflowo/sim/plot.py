"""Figure 7-style plot: per-core utilization over time, one panel per policy.

Object API only (``matplotlib.figure.Figure``, never ``pyplot``): the user's
backend and pyplot state are left alone, so it works in notebooks, scripts and
headless runs alike.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from paraflowo.errors import MissingDependency

__all__ = ["plot_utilization", "require_matplotlib"]


def require_matplotlib():
    """Import ``matplotlib.figure`` or raise MissingDependency with the install hint.

    Never selects a backend.
    """
    try:
        import matplotlib.figure
    except ImportError:
        raise MissingDependency("plotting", "matplotlib", "plot") from None
    return matplotlib.figure


def _panel_title(name: str, m: dict) -> str:
    return (f"{name}\n{m['out_of_order']:,} out of order, {m['drops']:,} drops")


def plot_utilization(result, path: str | Path | None = None, *, axes: Sequence | None = None):
    """Draw each policy's per-core utilization over time, one panel per policy.

    Parameters
    ----------
    result : SimulationResult
        What :func:`~paraflowo.sim.simulate` returned.
    path : str or pathlib.Path, optional
        Also save the figure there (format from the suffix, e.g. ``.png``).
    axes : sequence of matplotlib.axes.Axes, optional
        One Axes per policy to draw into (e.g. from your own figure);
        default: a new :class:`matplotlib.figure.Figure` with one row of
        panels.

    Returns
    -------
    matplotlib.figure.Figure
        The figure drawn on (the one holding ``axes`` when given).

    Raises
    ------
    ValueError
        ``axes`` does not hold one Axes per policy.
    paraflowo.errors.MissingDependency
        matplotlib is not installed (an :class:`ImportError` whose message
        says how to install it).

    Notes
    -----
    Each panel's title gives the policy's out-of-order and drop totals (a
    policy can look balanced and still reorder packets: spraying), the dashed
    line is the labelled alert threshold, and the legend sits below the
    panels, clear of the data.  Uses the object API only: the matplotlib
    backend and pyplot's state are never changed.

    Examples
    --------
    >>> from paraflowo.sim import load_scenario, simulate
    >>> from paraflowo.sim.plot import plot_utilization
    >>> r = simulate(load_scenario("paper-fig7").with_duration(0.05), ["rss", "spray"])
    >>> fig = plot_utilization(r)
    >>> [ax.get_title().splitlines()[0] for ax in fig.axes]
    ['rss', 'spray']
    """
    mfig = require_matplotlib()
    sc = result.scenario
    names = list(result.policies)
    if axes is None:
        fig = mfig.Figure(figsize=(4.2 * len(names), 3.9), layout="constrained")
        axs = list(fig.subplots(1, len(names), squeeze=False, sharey=True)[0])
    else:
        axs = list(axes)
        if len(axs) != len(names):
            raise ValueError(f"axes must hold one Axes per policy ({len(names)}), "
                             f"got {len(axs)}")
        fig = axs[0].figure
    bin_s = sc["bin_s"]
    handles = labels = None
    for ax, name in zip(axs, names):
        m = result.policies[name]
        bins = m["utilization_bins"]
        t = [bin_s * (i + 1) for i in range(len(bins))]
        n_cores = len(bins[0]) if bins else 0
        for c in range(n_cores):
            ax.plot(t, [100 * row[c] for row in bins], label=f"core {c}", lw=1.2)
        ax.axhline(100 * sc["alert_threshold"], color="grey", ls="--", lw=0.8,
                   label=f"alert threshold ({100 * sc['alert_threshold']:g} %)")
        ax.set_title(_panel_title(name, m), fontsize=9)
        ax.set_xlabel("time (s)")
        ax.set_ylim(0, 105)
        ax.grid(alpha=0.3)
        if handles is None:
            handles, labels = ax.get_legend_handles_labels()
    axs[0].set_ylabel("CPU utilization (%)")
    if handles and axes is None:
        if len(handles) > 9:      # many cores: name the alert line only
            handles, labels = handles[-1:], labels[-1:]
        fig.legend(handles, labels, loc="outside lower center", ncols=min(len(handles), 5),
                   fontsize=7, frameon=False)
        fig.suptitle(f"{sc['name']}: per-core utilization")
    elif handles:
        axs[-1].legend(handles, labels, fontsize=7, loc="upper left",
                       bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0, frameon=False)
    if path is not None:
        fig.savefig(path, dpi=110)
    return fig
