"""Helpers shared by the commands: option values, and outputs (``--json``, ``--plot``, ``-``).

Options are taken as strings and checked here, so a bad value is reported as one
line (``--sizes: packet size must be > 0, got -5``) with exit status 2, like
every other user mistake, rather than as argparse's usage dump.
"""

from __future__ import annotations

import json
import math
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from paraflowo.cli import STDOUT, UsageError
from paraflowo.errors import MissingDependency
from paraflowo.planning import DeviceProfile, find_profile

PLOT_INSTALL_HINT = "pip install 'paraflowo[plot]'"


def number(option: str, text: str, what: str, lo: float | None = 0.0, lo_open: bool = True,
           hi: float | None = None) -> float:
    """``text`` as a finite float, checked against ``lo``/``hi``."""
    try:
        v = float(text)
    except (TypeError, ValueError):
        raise UsageError(f"{option}: {what} must be a number, got {text!r}") from None
    if not math.isfinite(v):
        raise UsageError(f"{option}: {what} must be finite, got {text!r}")
    if (lo is not None and (v <= lo if lo_open else v < lo)) or (hi is not None and v > hi):
        if lo is None:
            raise UsageError(f"{option}: {what} must be <= {hi:g}, got {text}")
        if hi is None:
            raise UsageError(f"{option}: {what} must be {'>' if lo_open else '>='} {lo:g}, got {text}")
        raise UsageError(f"{option}: {what} must be in {'(' if lo_open else '['}{lo:g}, {hi:g}], got {text}")
    return v


def integer(option: str, text: str, what: str, lo: int = 1) -> int:
    """``text`` as an int >= ``lo``."""
    try:
        v = int(str(text).strip(), 10)
    except ValueError:
        raise UsageError(f"{option}: {what} must be an integer, got {text!r}") from None
    if v < lo:
        raise UsageError(f"{option}: {what} must be >= {lo}, got {v}")
    return v


def int_list(option: str, text: str, what: str, lo: int = 1) -> list[int]:
    """A comma-separated list of ints >= ``lo`` (at least one)."""
    items = [t for t in str(text).split(",") if t.strip()]
    if not items:
        raise UsageError(f"{option}: expected a comma-separated list of {what}s, got {text!r}")
    return [integer(option, t, what, lo) for t in items]


def float_list(option: str, text: str, what: str, lo: float = 0.0, lo_open: bool = True,
               hi: float | None = None) -> list[float]:
    """A comma-separated list of finite floats (at least one)."""
    items = [t for t in str(text).split(",") if t.strip()]
    if not items:
        raise UsageError(f"{option}: expected a comma-separated list of {what}s, got {text!r}")
    return [number(option, t.strip(), what, lo, lo_open, hi) for t in items]


def profiles(specs: list[str] | None, default: list[str]) -> list[DeviceProfile]:
    """The profiles named by ``--profile`` (built-in names or TOML files)."""
    out = []
    for spec in specs or default:
        try:
            out.append(find_profile(spec))
        except (TypeError, ValueError) as exc:
            raise UsageError(f"--profile: {exc}") from None
    return out


def add_json_argument(parser: Any, what: str = "the results") -> None:
    """``--json [FILE]``: the same meaning in every command (see :mod:`paraflowo.cli`)."""
    parser.add_argument("--json", nargs="?", const=STDOUT, default=None, metavar="FILE",
                        help=f"write {what} as JSON to FILE; with no FILE or '-', to stdout "
                             "instead of the table")


def add_output_arguments(parser: Any, figure: str) -> None:
    add_json_argument(parser)
    parser.add_argument("--plot", metavar="FILE.png",
                        help=f"also draw a {figure}-style chart into FILE.png ('-': PNG to "
                             f"stdout instead of the table; needs matplotlib: {PLOT_INSTALL_HINT})")


def check_output(option: str, path: str | None, binary: bool = False) -> str | None:
    """Fail now, before any work, when ``path`` cannot be written.

    ``None`` (option not given) and ``-`` (stdout) pass; ``-`` with ``binary``
    fails when stdout is a terminal.  Otherwise an existing file is opened for
    appending (nothing is written), and for a new file a scratch file is
    created and removed beside it, so a missing or read-only directory, a
    directory given as the file or a denied permission fail here, as one line
    naming the option, not after a long run.  Nothing is left behind.
    """
    if path is None:
        return None
    if path == STDOUT:
        if binary and sys.stdout.isatty():
            raise UsageError(f"{option}: refusing to write binary data to a terminal; "
                             "redirect stdout or give a file name")
        return path
    if not path:
        raise UsageError(f"{option}: expected a file name or '-', got {path!r}")
    p = Path(path)
    if p.is_dir():
        raise UsageError(f"{option}: cannot write {path!r}: it is a directory")
    try:
        if p.exists():
            with open(p, "ab"):          # appends nothing: the file is unchanged
                pass
            return path
        # a new file (or a dangling link's target): try a scratch file beside it
        parent = Path(os.path.realpath(p)).parent if p.is_symlink() else p.parent
        if not parent.is_dir():
            what = "does not exist" if not parent.exists() else "is not a directory"
            raise UsageError(f"{option}: cannot write {path!r}: directory {str(parent)!r} {what}")
        fd, scratch = tempfile.mkstemp(prefix=".paraflowo-check-", dir=parent)
        os.close(fd)
        os.unlink(scratch)
    except OSError as exc:
        raise UsageError(f"{option}: cannot write {path!r}: {exc.strerror or exc}") from None
    return path


def check_outputs(*outputs: tuple[str, str | None, bool]) -> bool:
    """Check each ``(option, path, binary)``; True when one of them is stdout.

    At most one output may be ``-``: two would interleave on stdout.
    """
    to_stdout = [opt for opt, path, _ in outputs if path == STDOUT]
    if len(to_stdout) > 1:
        raise UsageError(f"{' and '.join(to_stdout)} cannot both write to stdout ('-')")
    for option, path, binary in outputs:
        check_output(option, path, binary)
    return bool(to_stdout)


def check_plot_output(path: str | None) -> None:
    """``--plot``: matplotlib is installed and knows the file's format, before the run."""
    if path is None:
        return
    figure_class()
    suffix = Path(path).suffix.lower().lstrip(".") if path != STDOUT else "png"
    if suffix:
        from matplotlib.backend_bases import FigureCanvasBase
        known = FigureCanvasBase.get_supported_filetypes()
        if suffix not in known:
            raise UsageError(f"--plot: unknown image format {suffix!r} of {path!r} "
                             f"(known: {', '.join(sorted(known))})")


def figure_class() -> Any:
    """matplotlib's ``Figure``, or :class:`MissingDependency` saying how to install it."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise MissingDependency("--plot", "matplotlib", "plot") from None
    return Figure


def write_text(option: str, path: str, text: str) -> None:
    """``text`` to ``path`` (``-``: stdout), or a UsageError naming the file."""
    if path == STDOUT:
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    try:
        Path(path).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"{option}: cannot write {path!r}: {exc.strerror or exc}") from None


def write_json(path: str, data: Any) -> None:
    """``--json``: ``data`` (a dict, or JSON text already) to ``path`` or stdout."""
    text = data if isinstance(data, str) else json.dumps(data, indent=2, sort_keys=False)
    write_text("--json", path, text + "\n")


def kib(nbytes: float) -> str:
    return f"{nbytes / 1024:.2f}"


def save_figure(fig: Any, path: str, option: str = "--plot") -> None:
    """Write ``fig`` to ``path`` (``-``: PNG to stdout), or a UsageError naming the file."""
    try:
        if path == STDOUT:
            fig.savefig(sys.stdout.buffer, format="png", dpi=100)
            sys.stdout.buffer.flush()
        else:
            fig.savefig(path, dpi=100)
    except OSError as exc:
        raise UsageError(f"{option}: cannot write {path!r}: {exc.strerror or exc}") from None


def say(text: str, stdout_taken: bool) -> None:
    """A line for the reader: on stdout, or on stderr when stdout carries data."""
    print(text, file=sys.stderr if stdout_taken else sys.stdout)


def report(args: Any, compute: Any, render: Any, figure: Any) -> int:
    """Run a table command: ``compute(args)``, then the table or ``--json``, and ``--plot``.

    Every output is checked before the work; the table goes to stdout unless
    ``--json`` or ``--plot`` writes there (``-``).  ``figure(data)`` returns a
    matplotlib ``Figure``.  The JSON is ``data`` plus ``provenance``
    (:func:`paraflowo.sim.provenance.provenance`).
    """
    taken = check_outputs(("--json", args.json, False), ("--plot", args.plot, True))
    check_plot_output(args.plot)
    data = compute(args)
    if args.plot:
        save_figure(figure(data), args.plot)
    if args.json:
        from paraflowo.sim.provenance import provenance
        # what produced it, as in `simulate --json` and the sweep tables
        write_json(args.json, {**data, "provenance": provenance(
            getattr(args, "command_line", None))})
    if not taken:
        print(render(data))
    gap = "" if taken else "\n"          # a blank line after the table
    if args.json and args.json != STDOUT:
        say(f"{gap}JSON written to {args.json}", taken)
    if args.plot and args.plot != STDOUT:
        say(f"{gap}plot written to {args.plot}", taken)
    return 0
