"""Command line: ``paraflowo COMMAND`` (or ``python -m paraflowo COMMAND``).

Each command lives in its own module of this package and exposes ``HELP`` (one
line), ``add_arguments(parser)`` and ``run(args) -> int``.  A user mistake
(unknown name, bad value, unreadable file) raises :class:`UsageError`, or a
``TypeError``/``ValueError`` from the library's validation: the command prints
one line on stderr and exits with status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

# command name -> module in paraflowo.cli (append new commands here)
COMMANDS = {
    "demo": "paraflowo.cli.demo",
    "simulate": "paraflowo.cli.simulate",
    "capacity": "paraflowo.cli.capacity",
    "memory": "paraflowo.cli.memory",
    "calibrate": "paraflowo.cli.calibrate",
    "dataplane": "paraflowo.cli.dataplane",
}


class UsageError(Exception):
    """A user mistake on the command line: reported in one line, exit status 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="paraflowo",
        description="ParaFlowO: break elephant flows into flowlets, reorder at egress.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(module_name)
        p = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``paraflowo`` script and ``python -m paraflowo``."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args._run(args) or 0)
    except BrokenPipeError:
        # the reader went away (``paraflowo demo | head``): not an error of ours;
        # point stdout at devnull so the interpreter's final flush stays quiet
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except (UsageError, TypeError, ValueError, OSError) as exc:
        print(f"paraflowo {args.command}: error: {exc}", file=sys.stderr)
        return 2
