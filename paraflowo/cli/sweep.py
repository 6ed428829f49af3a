"""``paraflowo sweep``: run a grid of simulations, write one tidy row per point and policy."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from paraflowo.cli import EXIT_INTERRUPTED, UsageError
from paraflowo.cli import _common as c
from paraflowo.cli._progress import Progress, Warnings

HELP = ("sweep a grid of scenario parameters x traces x seeds over the policies, on local "
        "processes, Dask or Ray; one row per point, seed and policy (Parquet or CSV)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", metavar="SPEC.toml", help="the sweep spec (see docs: Sweeps)")
    parser.add_argument("--out", default=None, metavar="FILE",
                        help="the table: FILE.parquet or FILE.csv; points already in it are "
                             "skipped (resume)")
    parser.add_argument("--export-points", default=None, metavar="DIR",
                        help="instead of running, write each point's scenario (with its "
                             "seed) as DIR/point-NNNN.toml for `paraflowo simulate --scenario`")
    parser.add_argument("--backend", default="loky", choices=("loky", "dask", "ray"),
                        help="engine: local processes (loky, default), a Dask cluster, Ray")
    parser.add_argument("--scheduler", default=None, metavar="ADDR",
                        help="Dask scheduler address (default with --backend dask: a local "
                             "cluster of --jobs processes)")
    parser.add_argument("--jobs", default=None, metavar="N",
                        help="worker processes (default: one per CPU); 1 runs in this process")
    parser.add_argument("--plot", default=None, metavar="FILE.png",
                        help="draw --metric over the grid, per policy")
    parser.add_argument("--metric", default="util_spread",
                        help="the column --plot draws (default util_spread)")
    c.add_json_argument(parser, "the summary (rows, points computed and skipped, failed "
                                "points, notes, provenance)")
    parser.add_argument("--quiet", action="store_true",
                        help="no progress line (drawn only when stderr is a terminal)")


def _export(args: argparse.Namespace) -> int:
    from paraflowo.sim.sweep import load_sweep_spec, scenario_toml

    try:
        spec = load_sweep_spec(args.spec)
    except FileNotFoundError:
        raise UsageError(f"sweep spec {args.spec} not found") from None
    folder = Path(args.export_points)
    folder.mkdir(parents=True, exist_ok=True)
    base = spec.base()
    points = spec.points()
    width = max(4, len(str(len(points) - 1)))
    for p in points:
        sc = spec.scenario_of(p, base)
        head = "".join(f"# {k} = {v!r}\n" for k, v in p.values)
        if p.trace is not None:
            head += f"# trace: paraflowo simulate --pcap {p.trace} --duration {sc.duration_s!r}"
            head += f" --time-scale {spec.time_scale!r}\n" if spec.time_scale != 1.0 else "\n"
        (folder / f"point-{p.index:0{width}d}.toml").write_text(
            f"# point {p.index} of sweep {args.spec}, seed {p.seed}\n" + head
            + scenario_toml(sc), encoding="utf-8")
    print(f"wrote {len(points)} scenarios to {folder}")
    return 0


class _PointProgress:
    """:func:`paraflowo.sim.sweep`'s ``progress(done, total, eta_s)`` drawn by
    :class:`Progress` (a terminal only; rate and ETA over the points computed
    now, the points found in ``--out`` left out of both)."""

    def __init__(self, enabled: bool) -> None:
        self.bar = Progress("sweeping", "points", enabled=enabled)
        self.before = None            # points already in --out, known at the first call

    def __call__(self, done: int, total: int, eta_s: float) -> None:
        if self.before is None:
            self.before = done - 1
        self.bar(done - self.before, total - self.before)

    def summary(self) -> str | None:
        return self.bar.summary()


def run(args: argparse.Namespace) -> int:
    from paraflowo.sim.sweep import load_sweep_spec, sweep

    jobs = c.integer("--jobs", args.jobs, "process count") if args.jobs is not None else None
    if args.export_points is not None:
        return _export(args)
    if args.out is None:
        raise UsageError("--out FILE.parquet or FILE.csv is required (or --export-points DIR)")
    if args.scheduler is not None and args.backend != "dask":
        raise UsageError("--scheduler applies to --backend dask only")
    if args.out == c.STDOUT:
        raise UsageError("--out must be a file (FILE.parquet or FILE.csv), got '-': the table "
                         "is read back to resume an interrupted sweep")
    out = Path(args.out)
    if out.suffix not in (".parquet", ".csv"):
        raise UsageError(f"--out must end in .parquet or .csv, got {args.out}")
    # outputs are checked now, not after the whole sweep
    taken = c.check_outputs(("--out", args.out, True), ("--json", args.json, False),
                            ("--plot", args.plot, True))
    c.check_plot_output(args.plot)
    say = sys.stderr if taken else sys.stdout
    try:
        spec = load_sweep_spec(args.spec)
    except FileNotFoundError:
        raise UsageError(f"sweep spec {args.spec} not found") from None
    if args.plot is not None:
        from paraflowo.sim.runner import RECORD_METRICS
        if args.metric not in RECORD_METRICS:
            raise UsageError(f"--metric must be one of {', '.join(RECORD_METRICS)}, "
                             f"got {args.metric!r}")
    progress = _PointProgress(not args.quiet)
    try:
        res = sweep(spec, out, backend=args.backend, scheduler=args.scheduler, jobs=jobs,
                    progress=progress, command=args.command_line)
    except KeyboardInterrupt:
        progress.bar.close()
        how_far = progress.summary()
        print("paraflowo sweep: interrupted" + (f" {how_far}" if how_far else "")
              + f"; the points done so far are in {out}: run the same command again to "
              "resume", file=sys.stderr)
        return EXIT_INTERRUPTED
    progress.bar.close()
    warn = Warnings()
    for text in res.notes:
        warn(text)
    n_points = len(spec.points())
    if args.json != c.STDOUT:
        print(f"{len(res.rows)} rows ({n_points} points x {len(spec.policies)} policies): "
              f"{res.computed} points computed, {res.skipped} already in {out}; wrote {out}",
              file=say)
    for f in res.failed:
        params = ", ".join(f"{k}={v!r}" for k, v in f.items() if k != "error")
        print(f"failed point ({params}): {f['error']}", file=sys.stderr)
    if args.json is not None:
        c.write_json(args.json, {
            "out": str(out), "rows": len(res.rows), "points": n_points,
            "policies": list(spec.policies), "computed": res.computed,
            "skipped": res.skipped, "failed": res.failed, "notes": res.notes,
            "provenance": res.metadata["provenance"], "spec": res.metadata["spec"],
            "earlier_runs": res.metadata["earlier_runs"]})
        if args.json != c.STDOUT:
            print(f"wrote {args.json}", file=say)
    if args.plot is not None and res.rows:
        from paraflowo.sim.sweep_plot import plot_sweep
        fig = plot_sweep(res.rows, list(spec.grid), args.metric, spec.policies)
        if args.plot == c.STDOUT:
            fig.savefig(sys.stdout.buffer, format="png", dpi=110)
        else:
            fig.savefig(args.plot, dpi=110)
            print(f"wrote {args.plot}", file=say)
    return 1 if res.failed else 0
