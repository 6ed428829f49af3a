"""Host calibration: time this library's components here, return a profile."""

from __future__ import annotations

import importlib
import os
import platform
import statistics
import time
from typing import Any

import numpy as np

from paraflowo._checks import require_int, require_positive
from paraflowo._version import __version__
from paraflowo.planning.profiles import DeviceProfile, _text

__all__ = ["calibrate", "CALIBRATED_OPERATIONS", "CALIBRATION_BURST"]


# --------------------------------------------------------------------------- calibration


#: Packets per burst call in :func:`calibrate`: every operation is timed as a
#: loop of burst calls of this size, as a dataplane would make them.
CALIBRATION_BURST = 1024


# The components timed, looked up when a calibration runs (not at import), so a
# build without one still calibrates the others.  Never through the package face.
_REORDER = ("paraflowo.reorder", "ReorderBuffer")
_DETECTOR = ("paraflowo._core.detectors", "CountMinDetector")


def _component(module: str, name: str) -> Any:
    """The class ``name`` of ``module``, or None when this build lacks it."""
    try:
        return getattr(importlib.import_module(module), name, None)
    except ImportError:
        return None


def _forward_op(n: int, seed: int):
    from paraflowo.hashing import IndirectionTable, toeplitz_batch

    rng = np.random.default_rng(seed)
    data = rng.integers(0, 256, size=(n, 12), dtype=np.uint8)  # IPv4 with ports: 12 B
    hashes = np.empty(n, dtype=np.uint32)
    queues = np.empty(n, dtype=np.uint16)
    reta = IndirectionTable(16, 128)
    bursts = [(data[i:i + CALIBRATION_BURST], hashes[i:i + CALIBRATION_BURST],
               queues[i:i + CALIBRATION_BURST]) for i in range(0, n, CALIBRATION_BURST)]

    def run() -> int:
        for d, h, q in bursts:
            toeplitz_batch(d, out=h)
            reta.queue_batch(h, out=q)
        return n

    return run


def _reorder_op(n: int, seed: int):
    ReorderBuffer = _component(*_REORDER)

    b = CALIBRATION_BURST
    rng = np.random.default_rng(seed)
    # PSNs in order, then 10 % of the adjacent pairs (at even offsets) swapped:
    # about 10 % of the packets arrive out of order, all within one burst, so
    # every burst is released in full by its own drain (no timeouts).
    offsets = np.arange(n, dtype=np.uint32)
    pairs = np.flatnonzero(rng.random(n // 2) < 0.10) * 2
    offsets[pairs], offsets[pairs + 1] = offsets[pairs + 1].copy(), offsets[pairs].copy()
    psns = np.empty(n, dtype=np.uint32)
    handles = np.arange(n, dtype=np.uint64)
    out = np.empty(b, dtype=np.uint64)
    rb = ReorderBuffer(4 * b, timeout_ns=1_000_000)
    state = {"base": 0, "now": 0}
    bursts = [(psns[i:i + b], handles[i:i + b]) for i in range(0, n, b)]

    def run() -> int:
        np.add(offsets, np.uint32(state["base"]), out=psns)  # wraps modulo 2**32
        now = state["now"]
        released = 0
        for p, h in bursts:
            released += rb.process_burst(p, h, now, out)
            now += 1000
        if released != n:  # a measurement of work not done would be a false figure
            raise RuntimeError(f"reorder calibration released {released} of {n} packets")
        state["base"] = (state["base"] + n) & 0xFFFFFFFF
        state["now"] = now
        return n

    return run


def _detector_op(n: int, seed: int):
    CountMinDetector = _component(*_DETECTOR)

    b = CALIBRATION_BURST
    rng = np.random.default_rng(seed)
    # 10,000 flows with Zipf-distributed sizes: a few elephants, many mice
    flows = (rng.zipf(1.2, n) % 10_000).astype(np.uint64)
    keys = flows * np.uint64(0x9E3779B97F4A7C15)  # spread the ids over 64 bits (wraps)
    flags = np.empty(n, dtype=np.bool_)
    det = CountMinDetector(4096, 4, threshold=1000, window_ns=1_000_000, conservative=True, seed=seed)
    state = {"now": 0}
    bursts = [(keys[i:i + b], flags[i:i + b]) for i in range(0, n, b)]

    def run() -> int:
        now = state["now"]
        for k, f in bursts:
            det.update_burst(k, now, out=f)
            now += 1000
        state["now"] = now
        return n

    return run


def _available_ops() -> dict[str, Any]:
    """Operation -> factory(n, seed) -> run() for the components this build has."""
    ops = {"forward": _forward_op}
    if _component(*_REORDER) is not None:
        ops["reorder"] = _reorder_op
    if _component(*_DETECTOR) is not None:
        ops["detector"] = _detector_op
    return ops


#: Operations :func:`calibrate` measures when their component exists in this
#: build; the others are reported as missing in the profile's notes.
CALIBRATED_OPERATIONS = ("forward", "reorder", "detector")


def _time_op(factory, budget_s: float, repeats: int, seed: int) -> tuple[list[float], int, int]:
    """Per-repeat Mpps of one operation within ``budget_s`` (at least one repeat).

    Returns the Mpps of each repeat, the burst size and the bursts per repeat.
    """
    clock = time.perf_counter_ns
    deadline = clock() + int(budget_s * 1e9)
    probe = factory(4 * CALIBRATION_BURST, seed)
    probe()  # warm up: first calls build tables and touch pages
    t0 = clock()
    done = probe()
    per_packet_ns = max((clock() - t0) / done, 0.05)
    # fill ~80 % of what is left of the budget: `repeats` repeats of `k` bursts of `n`
    repeat_ns = 0.8 * max(deadline - clock(), 0) / repeats
    b = CALIBRATION_BURST
    n = min(max(int(repeat_ns / per_packet_ns) // b * b, b), 16 * b)
    run = factory(n, seed)
    run()
    k = max(1, int(repeat_ns / (n * per_packet_ns)))
    mpps = []
    for _ in range(repeats):
        t0 = clock()
        done = 0
        for _ in range(k):
            done += run()
            if clock() > deadline:  # a slow, loaded host: stop after this burst
                break
        mpps.append(done / max(clock() - t0, 1) * 1e3)  # packets per ns * 1e3 = Mpps
        if clock() > deadline:
            break
    return mpps, n, k


def calibrate(
    budget_s: float = 1.0,
    repeats: int = 5,
    seed: int = 0,
    name: str = "host",
) -> DeviceProfile:
    """Measure this host: time this library's components, return a profile.

    Each operation runs on one core (one thread) for about
    ``budget_s / operations`` seconds: a warm-up, then ``repeats`` timed
    repeats, stopping early if the budget is spent.  A repeat passes ``k``
    times over ``n`` packets (``n`` from 1024 to 16384 and ``k``, both sized to
    the budget), always in burst calls of :data:`CALIBRATION_BURST` (1024)
    packets, as a dataplane calls the library.  The profile's ``*_mpps`` are
    the medians; ``spread`` holds ``(min, median, max)`` per operation;
    ``notes`` say what ran, how, and which operations could not be measured.

    ``forward``
        :func:`paraflowo.toeplitz_batch` over 12-byte IPv4 RSS inputs (random,
        seeded), then :meth:`paraflowo.IndirectionTable.queue_batch` (16
        queues, 128 entries): hash and RETA lookup, as a vSwitch forwards.
    ``reorder``
        ``ReorderBuffer.process_burst`` (insert, then drain) on a 4096-slot
        buffer, PSNs in order except 10 % of adjacent pairs swapped; every
        packet is released (checked).
    ``detector``
        ``CountMinDetector.update_burst``, width 4096, depth 4, conservative
        update, over keys of 10,000 flows with Zipf(1.2) sizes.

    An operation whose component is not in this build is
    left ``None`` and named in ``notes`` (never estimated).

    Parameters
    ----------
    budget_s : float, default 1.0
        Total time budget in seconds (> 0, at most 600).  The call takes about
        this long, plus a few milliseconds of setup per operation.
    repeats : int, default 5
        Timed repeats per operation (1 to 1000), for the spread.
    seed : int, default 0
        Seed of the synthetic inputs.
    name : str, default "host"
        Name of the returned profile.

    Returns
    -------
    DeviceProfile
        ``cores`` is the number of CPUs this process may run on;
        ``sram_bytes`` is ``None``.

    Notes
    -----
    This is a measurement: figures vary between runs and with other load on
    the machine; compare the spread before comparing medians.

    Examples
    --------
    >>> from paraflowo.planning import calibrate
    >>> host = calibrate(budget_s=0.05, repeats=3)
    >>> host.forward_mpps > 0 and host.spread["forward"][0] <= host.forward_mpps
    True
    """
    budget = require_positive("budget_s", budget_s)
    if budget > 600:
        raise ValueError(f"budget_s must be in (0, 600], got {budget_s!r}")
    reps = require_int("repeats", repeats, 1, 1000)
    seed = require_int("seed", seed, 0)
    name = _text("name", name, allow_empty=False)

    ops = _available_ops()
    rates: dict[str, float] = {}
    spread: dict[str, tuple[float, float, float]] = {}
    sizes: dict[str, str] = {}
    for op, factory in ops.items():
        mpps, n, k = _time_op(factory, budget / len(ops), reps, seed)
        rates[op] = statistics.median(mpps)
        spread[op] = (min(mpps), rates[op], max(mpps))
        sizes[op] = f"{op}: {len(mpps)} repeats of {k} x {n} packets"
    missing = [op for op in CALIBRATED_OPERATIONS if op not in ops]
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        cores = os.cpu_count() or 1
    notes = (
        f"Measured by paraflowo.planning.calibrate() (paraflowo {__version__}, Python "
        f"{platform.python_version()}, numpy {np.__version__}, {platform.machine() or 'unknown'} "
        f"{platform.processor() or ''}".rstrip()
        + f"): one thread, budget {budget:g} s, bursts of {CALIBRATION_BURST} packets, median of "
        f"repeats ({'; '.join(sizes.values())}). forward = toeplitz_batch on 12-byte IPv4 "
        "inputs + IndirectionTable.queue_batch"
        + ("; reorder = ReorderBuffer.process_burst, window 4096, 10 % of adjacent pairs swapped"
           if "reorder" in ops else "")
        + ("; detector = CountMinDetector.update_burst, 4096 x 4, conservative, Zipf keys"
           if "detector" in ops else "")
        + "."
    )
    if missing:
        notes += f" Not measured (component not in this build): {', '.join(missing)}."
    return DeviceProfile(
        name=name,
        cores=cores,
        forward_mpps=rates.get("forward"),
        reorder_mpps=rates.get("reorder"),
        detector_mpps=rates.get("detector"),
        notes=notes,
        spread=spread,
    )
