"""``paraflowo calibrate``: measure this host, print its profile as TOML.

Runs :func:`paraflowo.planning.calibrate` for ``--budget`` seconds and prints
the profile as TOML (loadable with ``--profile FILE.toml`` by the ``capacity``
and ``memory`` commands), preceded by comment lines comparing the measured
per-core rates with the paper's x86 VM core.  ``--output FILE.toml`` (or
``--out``) also writes the profile to a file, checked before the measurement
starts; ``--output -`` is stdout, where the profile goes anyway.
"""

from __future__ import annotations

import argparse

from paraflowo.cli import _common as c
from paraflowo.planning import calibrate, dumps_profile, get_profile

HELP = "time this library's components on this host and print the host profile as TOML"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--budget", default="1.0", metavar="SECONDS",
                        help="total time budget in seconds, at most 600 (default 1.0)")
    parser.add_argument("--repeats", default="5", metavar="N",
                        help="timed repeats per operation, for the spread (default 5)")
    parser.add_argument("--seed", default="0", metavar="SEED", help="seed of the synthetic inputs")
    parser.add_argument("--name", default="host", help="profile name (default host)")
    parser.add_argument("--output", "--out", metavar="FILE.toml",
                        help="also write the profile to FILE.toml ('-': stdout, where it goes anyway)")


def comparison(profile, reference_name: str = "x86-vm") -> list[str]:
    """Comment lines: measured per-core Mpps against the paper's x86 VM core."""
    ref = get_profile(reference_name)
    lines = [f"# compared with the paper's x86 VM core ({reference_name}, sec. 5.1), per core:"]
    for op in ("forward", "reorder", "detector"):
        mine, theirs = getattr(profile, f"{op}_mpps"), getattr(ref, f"{op}_mpps")
        if mine is None:
            lines.append(f"#   {op}: not measured (component not in this build)")
        elif theirs is None:
            lines.append(f"#   {op}: {mine:.2f} Mpps here; no paper figure")
        else:
            lines.append(f"#   {op}: {mine:.2f} Mpps here vs {theirs:g} Mpps in the paper "
                         f"(x{mine / theirs:.2f})")
    lines.append("# (the paper's figures include packet I/O; these time this library's work on "
                 "bursts in memory)")
    return lines


def run(args: argparse.Namespace) -> int:
    budget = c.number("--budget", args.budget, "budget_s", hi=600.0)
    repeats = c.integer("--repeats", args.repeats, "repeats")
    seed = c.integer("--seed", args.seed, "seed", lo=0)
    c.check_output("--output", args.output)
    profile = calibrate(budget_s=budget, repeats=repeats, seed=seed, name=args.name)
    text = dumps_profile(profile)
    if args.output and args.output != c.STDOUT:
        c.write_text("--output", args.output, text)
    print("\n".join(comparison(profile)))
    print(text, end="")
    return 0
