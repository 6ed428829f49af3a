"""Helpers shared by the ``capacity``, ``memory`` and ``calibrate`` commands.

Options are taken as strings and checked here, so a bad value is reported as one
line (``--sizes: packet size must be > 0, got -5``) with exit status 2, like
every other user mistake, rather than as argparse's usage dump.
"""

from __future__ import annotations

import json
import math
from typing import Any

from paraflowo.cli import UsageError
from paraflowo.devices import DeviceProfile, find_profile

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


def add_output_arguments(parser: Any, figure: str) -> None:
    parser.add_argument("--json", action="store_true",
                        help="print the results as JSON (documented shape) instead of tables")
    parser.add_argument("--plot", metavar="FILE.png",
                        help=f"also draw a {figure}-style chart into FILE.png "
                             f"(needs matplotlib: {PLOT_INSTALL_HINT})")


def figure_class() -> Any:
    """matplotlib's ``Figure``, or a UsageError saying how to install it."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise UsageError(f"--plot needs matplotlib, which is not installed: {PLOT_INSTALL_HINT}") from None
    return Figure


def print_json(data: dict[str, Any]) -> None:
    print(json.dumps(data, indent=2, sort_keys=False))


def kib(nbytes: float) -> str:
    return f"{nbytes / 1024:.2f}"


def save_figure(fig: Any, path: str) -> None:
    """Write ``fig`` to ``path`` (PNG), or a UsageError naming the file."""
    try:
        fig.savefig(path, dpi=100)
    except OSError as exc:
        raise UsageError(f"--plot: cannot write {path!r}: {exc.strerror or exc}") from None


def report(args: Any, compute: Any, render: Any, plot: Any) -> int:
    """Run a table command: ``compute(args)``, then the table or ``--json``, and ``--plot``."""
    if args.plot:
        figure_class()  # fail before printing anything when matplotlib is missing
    data = compute(args)
    if args.plot:
        plot(data, args.plot)
    if args.json:
        print_json(data)
    else:
        print(render(data))
        if args.plot:
            print(f"\nplot written to {args.plot}")
    return 0
