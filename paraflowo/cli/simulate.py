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
    parser.add_argument("--scenario", default=None,
                        help="built-in scenario name or a .toml file (default paper-fig7; "
                             "with --pcap: cores from --cores/--service-mpps, the default "
                             "[paraflowo] settings)")
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
    parser.add_argument("--cores", default=None, metavar="N",
                        help="number of cores (overrides the scenario's cores.count; "
                             "default with --pcap and no scenario: 4)")
    parser.add_argument("--service-mpps", default=None, metavar="X[,Y...]",
                        help="service rate of each core, Mpps: one number for every core, or "
                             "one per core (default with --pcap and no scenario: 1.0)")
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


class _ReadProgress:
    """``reading FILE: 42 % (rate MB/s)`` on stderr while a capture loads (a terminal only)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.t0 = time.perf_counter()
        self.shown = False

    def __call__(self, done: int, total: int) -> None:
        now = time.perf_counter() - self.t0
        if not self.enabled or now < 1.0:
            return
        rate = done / now / 1e6
        eta = (total - done) / (done / now) if done else 0.0
        sys.stderr.write(f"\rreading capture: {100 * done / max(total, 1):5.1f}% "
                         f"({rate:.0f} MB/s, {eta:.0f} s left)")
        sys.stderr.flush()
        self.shown = True

    def close(self) -> None:
        if self.shown:
            sys.stderr.write("\n")
            sys.stderr.flush()


def _with_cores(scenario, cores: str | None, service_mpps: str | None):
    """The scenario with the cores of ``--cores`` and ``--service-mpps``, checked."""
    if cores is None and service_mpps is None:
        return scenario
    import dataclasses
    count = scenario.cores.count
    if cores is not None:
        try:
            count = int(cores)
        except ValueError:
            raise UsageError(f"--cores must be an integer in [1, 4096], got {cores!r}") from None
        if not 1 <= count <= 4096:
            raise UsageError(f"--cores must be an integer in [1, 4096], got {cores}")
    if service_mpps is not None:
        rates = []
        for part in service_mpps.split(","):
            try:
                v = float(part)
            except ValueError:
                v = float("nan")
            if not 0 < v <= 1e4:
                raise UsageError(f"--service-mpps must be rates in (0, 10000] Mpps, got "
                                 f"{part.strip()!r}")
            rates.append(v)
        if len(rates) == 1:
            rates *= count
        elif len(rates) != count:
            raise UsageError(f"--service-mpps must give one rate or one per core ({count}), "
                             f"got {len(rates)}")
    else:
        old = scenario.cores.service_mpps
        if len(set(old)) != 1:
            raise UsageError(f"--cores {count}: the scenario's cores have different rates "
                             f"({'/'.join(f'{m:g}' for m in old)} Mpps); give --service-mpps "
                             f"too")
        rates = [old[0]] * count
    return dataclasses.replace(scenario, cores=dataclasses.replace(
        scenario.cores, count=count, service_mpps=tuple(rates)))


def run(args: argparse.Namespace) -> int:
    from paraflowo.sim import (
        POLICY_NAMES,
        builtin_scenarios,
        load_scenario,
        parse_scenario,
        simulate,
    )
    from paraflowo.sim.runner import paraflowo_available

    if args.list:
        for name in builtin_scenarios():
            print(f"{name:<14} {load_scenario(name).description}")
        return 0
    if args.scenario is None and args.pcap is not None:
        # replay without ceremony: a scenario named after the capture, its cores
        # from --cores/--service-mpps, the default [paraflowo] settings
        scenario = parse_scenario({"name": Path(args.pcap).name, "duration_s": 1.0,
                                   "cores": {"count": 4, "service_mpps": 1.0}})
    else:
        try:
            scenario = load_scenario(args.scenario or "paper-fig7")
        except FileNotFoundError:
            raise UsageError(f"scenario file {args.scenario} not found") from None
    scenario = _with_cores(scenario, args.cores, args.service_mpps)
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
        try:
            require_matplotlib()
        except ImportError as exc:
            raise UsageError(str(exc)) from None
    trace = None
    if args.pcap is not None:
        if not args.time_scale > 0:
            raise UsageError(f"--time-scale must be > 0, got {args.time_scale}")
        from paraflowo.sim.pcap import read_pcap
        reading = _ReadProgress(not args.quiet and sys.stderr.isatty())
        try:
            trace = read_pcap(args.pcap, time_scale=args.time_scale, progress=reading)
        finally:
            reading.close()
        if args.duration is None:
            import dataclasses
            scenario = dataclasses.replace(scenario, duration_s=trace.duration_ns / 1e9)
        for warning in trace.notes:
            print(f"warning: {warning}", file=sys.stderr)
    elif args.time_scale != 1.0:
        raise UsageError("--time-scale applies to --pcap input only")
    if note:
        print(note, file=sys.stderr)
    progress = _Progress(not args.quiet)
    try:
        if args.workers is not None and args.workers < 1:
            raise UsageError(f"--workers must be >= 1, got {args.workers}")
        result = simulate(scenario, policies, trace=trace, progress=progress,
                          workers=args.workers)
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
