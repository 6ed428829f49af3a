"""Command line: ``paraflowo COMMAND`` (or ``python -m paraflowo COMMAND``).

Each command lives in its own module of this package and exposes ``HELP`` (one
line), ``add_arguments(parser)`` and ``run(args) -> int``.  A user mistake
(unknown name, bad value, unreadable or unwritable file) raises
:class:`UsageError`, or a ``TypeError``/``ValueError`` from the library's
validation, or :class:`paraflowo.errors.MissingDependency` (an optional
dependency is missing; the message says what to install): the command prints
one line on stderr and exits with status 2, never a traceback.

Exit statuses: 0 done; 1 stdout closed by its reader; 2 a user mistake; 130
interrupted (Ctrl-C: one line on stderr saying how far the run got).

Outputs, the same in every command: ``--json`` alone (or ``--json -``) prints
JSON on stdout instead of the table; ``--json FILE`` writes it to FILE and the
table is printed as usual.  ``-`` means stdout for every file option
(``--plot -`` writes PNG).  Every output path is checked before the work
starts, and at most one output may go to stdout.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import time

from paraflowo._version import __version__
from paraflowo.errors import MissingDependency

# command name -> module in paraflowo.cli (append new commands here)
COMMANDS = {
    "demo": "paraflowo.cli.demo",
    "simulate": "paraflowo.cli.simulate",
    "capacity": "paraflowo.cli.capacity",
    "memory": "paraflowo.cli.memory",
    "calibrate": "paraflowo.cli.calibrate",
    "sweep": "paraflowo.cli.sweep",
    "dataplane": "paraflowo.cli.dataplane",
}


#: The file name meaning stdout, for every output option.
STDOUT = "-"

#: Exit status after Ctrl-C (128 + SIGINT), as shells report it.
EXIT_INTERRUPTED = 130


class UsageError(Exception):
    """A user mistake on the command line: reported in one line, exit status 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="paraflowo",
        description="ParaFlowO: break elephant flows into flowlets, reorder at egress.",
    )
    parser.add_argument("--version", action="version", version=f"paraflowo {__version__}")
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
    # the command line recorded in the outputs' provenance: this one, also when
    # main() is called with its own argv (from Python, a test)
    args.command_line = list(sys.argv) if argv is None else ["paraflowo", *argv]
    t0 = time.perf_counter()
    try:
        return int(args._run(args) or 0)
    except KeyboardInterrupt:
        # Ctrl-C: one line, no traceback.  A command may set ``args.progress_summary``
        # (a callable returning how far it got) while it works.
        summary = getattr(args, "progress_summary", None)
        how_far = summary() if summary is not None else None
        print(f"paraflowo {args.command}: interrupted after {time.perf_counter() - t0:.1f} s"
              + (f", {how_far}" if how_far else ""), file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # the reader went away (``paraflowo demo | head``): not an error of ours;
        # point stdout at devnull so the interpreter's final flush stays quiet
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except (UsageError, MissingDependency, TypeError, ValueError, OSError) as exc:
        print(f"paraflowo {args.command}: error: {exc}", file=sys.stderr)
        return 2
