"""A progress line with rate and ETA, drawn only on a terminal; warnings printed once.

No dependency: one line on stderr, redrawn in place with a carriage return, at
most twice a second and only once the work has taken ``delay_s`` (2 s).  When
stderr is not a terminal (a log file, a pipe, a CI job) nothing is drawn, so
redirected output never holds carriage returns; the object still tracks how
far the work got, for the one-line summary after Ctrl-C.
"""

from __future__ import annotations

import sys
import time
from typing import Callable, TextIO

__all__ = ["Progress", "Warnings", "format_duration"]


def format_duration(seconds: float) -> str:
    """``42s``, ``3m07s``, ``2h05m``: short, for an ETA."""
    s = max(0, int(round(seconds)))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


def _num(x: float) -> str:
    """``1000``, ``42.5``, ``0.0123``: no exponent for the amounts shown."""
    return f"{x:.0f}" if abs(x) >= 100 else f"{x:.3g}"


def _isatty(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


class Progress:
    """``progress(done, total)`` callback: a bar, the rate and the ETA on a terminal.

    Parameters
    ----------
    what : str
        The verb shown first ("simulating").
    unit : str
        What ``done``/``total`` count once multiplied by ``scale`` ("simulated s").
    scale : float
        Multiplies ``done`` and ``total`` for display (1e-9: nanoseconds to seconds).
    enabled : bool
        False (``--quiet``) draws nothing; the summary still works.
    stream : text stream, default sys.stderr
        Drawn on only when ``stream.isatty()``.
    delay_s, interval_s : float
        Draw nothing before ``delay_s`` seconds of work, then at most every
        ``interval_s`` seconds (and at 100 %).
    clock : callable
        Seconds, monotonic (``time.monotonic``); a test passes its own.
    """

    WIDTH = 24

    def __init__(self, what: str, unit: str, scale: float = 1.0, *, enabled: bool = True,
                 stream: TextIO | None = None, delay_s: float = 2.0, interval_s: float = 0.5,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.what, self.unit, self.scale = what, unit, scale
        self.stream = sys.stderr if stream is None else stream
        self.enabled = enabled and _isatty(self.stream)
        self.delay_s, self.interval_s, self.clock = delay_s, interval_s, clock
        self.t0 = clock()
        self.last_draw = None
        self.drawn_width = 0
        self.done = 0
        self.total = 0

    def __call__(self, done: int, total: int) -> None:
        self.done, self.total = done, total
        if not self.enabled:
            return
        now = self.clock()
        if now - self.t0 < self.delay_s:
            return
        if (self.last_draw is not None and now - self.last_draw < self.interval_s
                and done < total):
            return
        self.last_draw = now
        text = self.line(now)
        pad = max(0, self.drawn_width - len(text))
        # recorded before writing: a Ctrl-C landing during the write still lets
        # close() end the line
        self.drawn_width = len(text)
        self.stream.write("\r" + text + " " * pad)
        self.stream.flush()

    def line(self, now: float | None = None) -> str:
        """The progress line: bar, percentage, amount, rate and ETA."""
        now = self.clock() if now is None else now
        elapsed = max(now - self.t0, 1e-9)
        frac = min(1.0, self.done / self.total) if self.total else 0.0
        bar = "#" * int(self.WIDTH * frac)
        done, total = self.done * self.scale, self.total * self.scale
        rate = done / elapsed
        eta = f"ETA {format_duration((total - done) / rate)}" if rate > 0 else "ETA ?"
        return (f"{self.what} [{bar:<{self.WIDTH}}] {100 * frac:5.1f}% "
                f"{_num(done)}/{_num(total)} {self.unit}, {_num(rate)} {self.unit}/s, {eta}")

    def summary(self) -> str | None:
        """How far the work got ("at 42.0% (4.2 of 10 simulated s)"), or None."""
        if not self.total:
            return None
        return (f"at {100 * self.done / self.total:.1f}% ({_num(self.done * self.scale)} of "
                f"{_num(self.total * self.scale)} {self.unit})")

    def close(self) -> None:
        """End the line (when one was drawn), so what follows starts on its own line."""
        if self.drawn_width:
            self.stream.write("\n")
            self.stream.flush()
            self.drawn_width = 0


class Warnings:
    """Print each distinct warning once, as ``warning: TEXT`` on ``stream`` (stderr)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream
        self.seen: dict[str, None] = {}

    def __call__(self, text: str) -> None:
        if text in self.seen:
            return
        self.seen[text] = None
        print(f"warning: {text}", file=sys.stderr if self.stream is None else self.stream)

    def __contains__(self, text: str) -> bool:
        return text in self.seen
