"""Figure 7-style plot: per-core utilization over time, one panel per policy."""

from __future__ import annotations

from paraflowo.errors import MissingDependency

__all__ = ["plot_utilization", "require_matplotlib"]

INSTALL_HINT = "plotting needs matplotlib: pip install 'paraflowo[plot]' (or pip install matplotlib)"


def require_matplotlib():
    """Import matplotlib (Agg backend) or raise MissingDependency with the install hint."""
    try:
        import matplotlib
    except ImportError:
        raise MissingDependency("plotting", "matplotlib", "plot") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def plot_utilization(result, path) -> None:
    """Draw ``result`` (a :class:`~paraflowo.sim.SimulationResult`) to ``path`` (PNG)."""
    plt = require_matplotlib()
    sc = result.scenario
    names = list(result.policies)
    fig, axes = plt.subplots(1, len(names), figsize=(4.2 * len(names), 3.4), squeeze=False,
                             sharey=True)
    bin_s = sc["bin_s"]
    for ax, name in zip(axes[0], names):
        bins = result.policies[name]["utilization_bins"]
        t = [bin_s * (i + 1) for i in range(len(bins))]
        n_cores = len(bins[0]) if bins else 0
        for c in range(n_cores):
            ax.plot(t, [100 * row[c] for row in bins], label=f"core {c}", lw=1.2)
        ax.axhline(100 * sc["alert_threshold"], color="grey", ls="--", lw=0.8)
        ax.set_title(name)
        ax.set_xlabel("time (s)")
        ax.set_ylim(0, 105)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("CPU utilization (%)")
    if len(bins[0]) <= 8:
        axes[0][-1].legend(fontsize=7, loc="center right")
    fig.suptitle(f"{sc['name']}: per-core utilization")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
