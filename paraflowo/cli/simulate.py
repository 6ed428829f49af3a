"""``paraflowo simulate``: reproduce Figure 7 and compare policies on the same traffic."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from paraflowo.cli import UsageError

HELP = ("simulate cores under RSS, ParaFlowO, spraying and RSS++ on identical traffic "
        "(the paper's Figure 7 and beyond)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--scenario", default="paper-fig7",
                        help="built-in scenario name or a .toml file (default paper-fig7)")
    parser.add_argument("--policies", default=None,
                        help="comma-separated: rss,paraflowo,spray,rsspp (default: all)")
    parser.add_argument("--duration", type=float, default=None, metavar="S",
                        help="simulated seconds (overrides the scenario's duration_s)")
    parser.add_argument("--seed", type=int, default=None, help="override the scenario's seed")
    parser.add_argument("--json", default=None, metavar="FILE", help="write the metrics as JSON")
    parser.add_argument("--plot", default=None, metavar="FILE.png",
                        help="draw per-core utilization over time, one panel per policy")
    parser.add_argument("--pcap", default=None, metavar="FILE",
                        help="take arrivals and 5-tuples from a pcap/pcapng capture")
    parser.add_argument("--time-scale", type=float, default=1.0, metavar="X",
                        help="multiply capture timestamps by X (< 1 replays faster)")
    parser.add_argument("--list", action="store_true", help="list the built-in scenarios")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--workers", type=int, default=None,
                        help="threads running the policies side by side (default: one per "
                             "policy, at most the CPU count; results do not depend on it)")


class _Progress:
    """A progress bar on stderr, shown once a run has taken more than 2 s."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.t0 = time.perf_counter()
        self.last = 0.0
        self.shown = False

    def __call__(self, done_ns: int, total_ns: int) -> None:
        now = time.perf_counter()
        if not self.enabled or now - self.t0 < 2.0:
            return
        if now - self.last < 0.5 and done_ns < total_ns:
            return
        self.last = now
        frac = done_ns / total_ns if total_ns else 1.0
        bar = "#" * int(30 * frac)
        sys.stderr.write(f"\rsimulating [{bar:<30}] {100 * frac:5.1f}% "
                         f"({done_ns / 1e9:.1f}/{total_ns / 1e9:.1f} s)")
        sys.stderr.flush()
        self.shown = True

    def close(self) -> None:
        if self.shown:
            sys.stderr.write("\n")
            sys.stderr.flush()


def run(args: argparse.Namespace) -> int:
    from paraflowo.sim import POLICY_NAMES, builtin_scenarios, load_scenario, simulate
    from paraflowo.sim.runner import paraflowo_available

    if args.list:
        for name in builtin_scenarios():
            print(f"{name:<14} {load_scenario(name).description}")
        return 0
    try:
        scenario = load_scenario(args.scenario)
    except FileNotFoundError:
        raise UsageError(f"scenario file {args.scenario} not found") from None
    if args.duration is not None:
        if not args.duration > 0:
            raise UsageError(f"--duration must be > 0 seconds, got {args.duration}")
        scenario = scenario.with_duration(args.duration)
    if args.seed is not None:
        if args.seed < 0:
            raise UsageError(f"--seed must be >= 0, got {args.seed}")
        import dataclasses
        scenario = dataclasses.replace(scenario, seed=args.seed)
    note = None
    if args.policies is None:
        policies = list(POLICY_NAMES)
        why = paraflowo_available()
        if why:
            policies.remove("paraflowo")
            note = f"note: {why}; running {', '.join(policies)}"
    else:
        policies = [p.strip() for p in args.policies.split(",") if p.strip()]
        for p in policies:
            if p not in POLICY_NAMES:
                raise UsageError(f"--policies: unknown policy {p!r} "
                                 f"(known: {', '.join(POLICY_NAMES)})")
    if args.plot is not None:
        from paraflowo.sim.plot import require_matplotlib
        require_matplotlib()
    trace = None
    if args.pcap is not None:
        if not args.time_scale > 0:
            raise UsageError(f"--time-scale must be > 0, got {args.time_scale}")
        from paraflowo.sim.pcap import read_pcap
        trace = read_pcap(args.pcap, time_scale=args.time_scale)
        if args.duration is None:
            import dataclasses
            scenario = dataclasses.replace(scenario, duration_s=trace.duration_ns / 1e9)
        for note in trace.notes:
            print(f"warning: {note}", file=sys.stderr)
    elif args.time_scale != 1.0:
        raise UsageError("--time-scale applies to --pcap input only")
    if note:
        print(note, file=sys.stderr)
    progress = _Progress(not args.quiet)
    try:
        if args.workers is not None and args.workers < 1:
            raise UsageError(f"--workers must be >= 1, got {args.workers}")
        result = simulate(scenario, policies, trace=trace, progress=progress,
                          workers=args.workers, trace_path=args.pcap)
    finally:
        progress.close()
    print(result.table())
    if args.json is not None:
        Path(args.json).write_text(result.to_json() + "\n", encoding="utf-8")
        print(f"wrote {args.json}")
    if args.plot is not None:
        from paraflowo.sim.plot import plot_utilization
        plot_utilization(result, args.plot)
        print(f"wrote {args.plot}")
    return 0
