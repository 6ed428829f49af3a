"""``paraflowo simulate``: reproduce Figure 7 and compare policies on the same traffic."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from paraflowo.cli import STDOUT, UsageError
from paraflowo.cli import _common as c
from paraflowo.cli._progress import Progress, Warnings

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
    c.add_json_argument(parser, "the metrics")
    parser.add_argument("--plot", default=None, metavar="FILE.png",
                        help="draw per-core utilization over time, one panel per policy "
                             "('-': PNG to stdout instead of the table)")
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
    parser.add_argument("--quiet", action="store_true",
                        help="no progress line (drawn only when stderr is a terminal)")
    parser.add_argument("--workers", type=int, default=None,
                        help="threads running the policies side by side (default: one per "
                             "policy, at most the CPU count; results do not depend on it)")


def _with_cores(scenario, cores: str | None, service_mpps: str | None):
    """The scenario with the cores of ``--cores`` and ``--service-mpps``, checked."""
    if cores is None and service_mpps is None:
        return scenario
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
    # every output is checked before the (possibly long) run
    stdout_taken = c.check_outputs(("--json", args.json, False), ("--plot", args.plot, True))
    c.check_plot_output(args.plot)
    warn = Warnings()
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
    trace = None
    if args.pcap is not None:
        if not args.time_scale > 0:
            raise UsageError(f"--time-scale must be > 0, got {args.time_scale}")
        from paraflowo.sim.pcap import read_pcap
        reading = Progress("reading capture", "MB", 1e-6, enabled=not args.quiet)
        try:
            trace = read_pcap(args.pcap, time_scale=args.time_scale, progress=reading)
        except OSError as exc:
            raise UsageError(f"--pcap: cannot read {args.pcap!r}: "
                             f"{exc.strerror or exc}") from None
        finally:
            reading.close()
        if args.duration is None:
            scenario = dataclasses.replace(scenario, duration_s=trace.duration_ns / 1e9)
        for text in trace.notes:
            warn(text)
    elif args.time_scale != 1.0:
        raise UsageError("--time-scale applies to --pcap input only")
    if note:
        print(note, file=sys.stderr)
    progress = Progress("simulating", "simulated s", 1e-9, enabled=not args.quiet)
    args.progress_summary = progress.summary     # for the Ctrl-C line
    try:
        if args.workers is not None and args.workers < 1:
            raise UsageError(f"--workers must be >= 1, got {args.workers}")
        result = simulate(scenario, policies, trace=trace, progress=progress,
                          workers=args.workers, trace_path=args.pcap,
                          command=args.command_line)
    finally:
        progress.close()
    # each note said once: as a warning above, or in the table
    shown = dataclasses.replace(result, notes=[n for n in result.notes if n not in warn])
    if args.scenario is None and any("[paraflowo]" in n for n in shown.notes):
        # the hints name [paraflowo] knobs: say where they go when no file was given
        shown.notes.append("[paraflowo] settings go in a scenario file: --scenario "
                           "FILE.toml with a [paraflowo] table (and [cores]); with --pcap "
                           "it needs no [[flows]]")
    if not stdout_taken:
        print(shown.table())
    if args.json is not None:
        c.write_json(args.json, result.to_json())
        if args.json != STDOUT:
            c.say(f"wrote {args.json}", stdout_taken)
    if args.plot is not None:
        from paraflowo.sim.plot import plot_utilization
        if args.plot == STDOUT:
            plot_utilization(result, sys.stdout.buffer)
            sys.stdout.buffer.flush()
        else:
            plot_utilization(result, args.plot)
            c.say(f"wrote {args.plot}", stdout_taken)
    return 0
