"""Projections from profiles: throughput (Figure 6) and SRAM fit (Figure 8, Eq. 3).

Units, and what "fits" means: :mod:`paraflowo.planning`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from paraflowo._checks import require_int, require_number, require_positive
from paraflowo._core.reorder import ReorderQueues
from paraflowo.metadata import META_SIZE
from paraflowo.planning.memory import reorder_memory
from paraflowo.planning.profiles import DeviceProfile

__all__ = [
    "ETHERNET_FRAMING_BYTES",
    "QUEUE_OVERHEAD_BYTES",
    "MAX_WINDOW",
    "MAX_QUEUES",
    "Throughput",
    "mpps_to_gbps",
    "project_throughput",
    "cores_needed",
    "min_packet_bytes",
    "SramFit",
    "sram_required",
    "sram_fit",
    "max_window",
    "max_queues",
]


#: Ethernet framing per packet not counted in ``packet_bytes``: preamble and SFD
#: (8 B), FCS (4 B) and the inter-frame gap (12 B).
ETHERNET_FRAMING_BYTES = 24

#: Default per-queue state of a reorder queue, bytes (one cache line: head PSN,
#: occupancy, oldest arrival time, counters).  An estimate; pass your own.
QUEUE_OVERHEAD_BYTES = 64

#: Largest reorder window considered by :func:`max_window` (slots).
MAX_WINDOW = 1 << 24
#: Largest reorder queue count considered by :func:`max_queues` (queue ids are
#: ``uint16`` in the metadata record; the reorder queues take 1 to 65535).
MAX_QUEUES = (1 << 16) - 1

_FITS_BASES = ("worst", "expected", "footprint")


# --------------------------------------------------------------------------- throughput


def _exact(x: float | int) -> Fraction:
    # the decimal the user wrote (4.07), not its binary approximation
    return Fraction(x) if isinstance(x, int) else Fraction(repr(float(x)))


def _framing(framing_bytes: Any) -> int:
    return require_int("framing_bytes", framing_bytes, 0)


def mpps_to_gbps(mpps: float, packet_bytes: float, framing_bytes: int = 0) -> float:
    """``Gbps = Mpps * (packet_bytes + framing_bytes) * 8 / 1000``.

    Examples
    --------
    >>> from paraflowo.planning import mpps_to_gbps, ETHERNET_FRAMING_BYTES
    >>> mpps_to_gbps(65.12, 800)
    416.768
    >>> round(mpps_to_gbps(1.0, 64, ETHERNET_FRAMING_BYTES), 3)   # 64 B frames on the wire
    0.704
    """
    m = require_number("mpps", mpps)
    if m < 0:
        raise ValueError(f"mpps must be >= 0, got {mpps!r}")
    size = require_positive("packet_bytes", packet_bytes)
    return m * (size + _framing(framing_bytes)) * 8 / 1000


@dataclass(frozen=True)
class Throughput:
    """Aggregate throughput of ``cores`` cores doing one operation (Figure 6(b))."""

    profile: str
    """Name of the profile projected."""
    operation: str
    """One of :data:`OPERATIONS`."""
    cores: int
    """Cores doing the operation."""
    packet_bytes: float
    """Packet size, bytes, framing excluded."""
    framing_bytes: int
    """Framing counted per packet on top of ``packet_bytes`` (0 or 24 usually)."""
    mpps: float
    """Aggregate rate: ``cores * per-core Mpps``."""
    gbps: float
    """``mpps * (packet_bytes + framing_bytes) * 8 / 1000``."""


def _cores(profile: DeviceProfile, cores: Any) -> int:
    return profile.cores if cores is None else require_int("cores", cores, 1)


def _check_profile(profile: Any) -> DeviceProfile:
    if not isinstance(profile, DeviceProfile):
        raise TypeError(f"profile must be a DeviceProfile, got {type(profile).__name__}")
    return profile


def project_throughput(
    profile: DeviceProfile,
    operation: str,
    packet_bytes: float,
    cores: int | None = None,
    framing_bytes: int = 0,
) -> Throughput:
    """Aggregate Mpps and Gbps of ``cores`` cores of ``profile`` doing ``operation``.

    Parameters
    ----------
    profile : DeviceProfile
    operation : str
        One of :data:`OPERATIONS`; the profile must know its rate.
    packet_bytes : float
        Packet size in bytes (> 0), framing excluded.
    cores : int, optional
        Cores (>= 1); default ``profile.cores``.
    framing_bytes : int, default 0
        Per-packet framing added to the size for Gbps (0: not included, as in
        the paper; :data:`ETHERNET_FRAMING_BYTES` for the wire rate).

    Returns
    -------
    Throughput

    Notes
    -----
    Linear scaling over cores is assumed, as in the paper's Figure 6(b).

    Examples
    --------
    >>> from paraflowo.planning import get_profile, project_throughput
    >>> t = project_throughput(get_profile("riscv-smartnic-256k"), "reorder", 800, cores=16)
    >>> round(t.mpps, 2), round(t.gbps, 1)
    (65.12, 416.8)
    """
    profile = _check_profile(profile)
    n = _cores(profile, cores)
    size = require_positive("packet_bytes", packet_bytes)
    fr = _framing(framing_bytes)
    mpps = float(_exact(profile.mpps(operation)) * n)
    return Throughput(profile.name, operation, n, size, fr, mpps, mpps_to_gbps(mpps, size, fr))


def cores_needed(
    profile: DeviceProfile,
    operation: str,
    line_rate_gbps: float,
    packet_bytes: float,
    framing_bytes: int = 0,
) -> int:
    """Fewest cores of ``profile`` whose ``operation`` reaches ``line_rate_gbps``.

    Computed exactly on the decimal values given (no float round-off at the
    boundary): ``ceil(line_rate * 1000 / (per_core_mpps * bytes * 8))``.

    Examples
    --------
    >>> from paraflowo.planning import get_profile, cores_needed
    >>> riscv = get_profile("riscv-smartnic-256k")
    >>> cores_needed(riscv, "reorder", 400, 800), cores_needed(riscv, "reorder", 400, 64)
    (16, 192)
    >>> cores_needed(riscv, "forward", 400, 1000)    # 10 Mpps * 1000 B = 80 Gbps a core
    5
    """
    profile = _check_profile(profile)
    rate = _exact(require_positive("line_rate_gbps", line_rate_gbps))
    size = _exact(require_positive("packet_bytes", packet_bytes)) + _framing(framing_bytes)
    per_core = _exact(profile.mpps(operation)) * size * 8 / 1000
    return max(1, math.ceil(rate / per_core))


def min_packet_bytes(
    profile: DeviceProfile,
    operation: str,
    line_rate_gbps: float,
    cores: int | None = None,
    framing_bytes: int = 0,
) -> int:
    """Smallest whole packet size at which ``cores`` cores reach ``line_rate_gbps``.

    Examples
    --------
    >>> from paraflowo.planning import get_profile, min_packet_bytes
    >>> min_packet_bytes(get_profile("riscv-smartnic-256k"), "reorder", 400, cores=16)
    768
    """
    profile = _check_profile(profile)
    n = _cores(profile, cores)
    rate = _exact(require_positive("line_rate_gbps", line_rate_gbps))
    total_bytes = rate * 1000 / (_exact(profile.mpps(operation)) * n * 8)
    return max(1, math.ceil(total_bytes - _framing(framing_bytes)))


# --------------------------------------------------------------------------- SRAM fit


@dataclass(frozen=True)
class SramFit:
    """Result of :func:`sram_fit`: what ``n_queues x window`` needs, and whether it fits."""

    basis: str
    """``"worst"`` (every slot full), ``"expected"`` (Eq. 3 occupancy) or
    ``"footprint"`` (this library's :class:`~paraflowo.ReorderQueues`)."""
    n_queues: int
    """Reorder queues."""
    window: int
    """Slots per queue."""
    meta_bytes: int
    """Bytes per metadata record (``M``)."""
    ooo_rate: float | None
    """Out-of-order rate for the ``"expected"`` basis, else ``None``."""
    queue_overhead_bytes: int
    """Per-queue state, bytes."""
    required_bytes: float
    """Bytes the configuration needs on this basis."""
    sram_bytes: int
    """Bytes available."""

    @property
    def fits(self) -> bool:
        """``required_bytes <= sram_bytes``."""
        return self.required_bytes <= self.sram_bytes

    @property
    def headroom_bytes(self) -> float:
        """``sram_bytes - required_bytes`` (negative when it does not fit)."""
        return self.sram_bytes - self.required_bytes


def _basis(basis: Any, ooo_rate: Any) -> tuple[str, float | None]:
    if basis not in _FITS_BASES:
        raise ValueError(f"basis must be 'worst', 'expected' or 'footprint', got {basis!r}")
    if basis != "expected":
        if ooo_rate is not None:       # unused, but a wrong kind is still an error
            require_number("ooo_rate", ooo_rate)
        return basis, None
    if ooo_rate is None:
        raise ValueError("ooo_rate is required when basis is 'expected'")
    rate = require_number("ooo_rate", ooo_rate)
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"ooo_rate must be in [0, 1], got {ooo_rate!r}")
    return basis, rate


def sram_required(
    n_queues: int,
    window: int,
    basis: str = "footprint",
    ooo_rate: float | None = None,
    meta_bytes: int = META_SIZE,
    queue_overhead_bytes: int = QUEUE_OVERHEAD_BYTES,
) -> float:
    """Bytes that ``n_queues`` reorder queues of ``window`` slots need.

    ``"footprint"`` (the default): the bytes this library's reorder queues
    occupy, asked of the component (:meth:`paraflowo.ReorderQueues.footprint`
    of ``n_queues`` queues, the window rounded up to a power of two from 2,
    as the buffers size it; ``meta_bytes`` and ``queue_overhead_bytes`` do
    not enter).  The paper's models: ``"worst"``: ``n_queues *
    (queue_overhead_bytes + window * meta_bytes)``; ``"expected"``:
    ``n_queues * (queue_overhead_bytes + window * ooo_rate * meta_bytes)``,
    the metadata term being Eq. 3's ``M_meta`` from
    :func:`paraflowo.reorder_memory`.  See the module notes for what "fits"
    means.

    Examples
    --------
    >>> from paraflowo import ReorderQueues
    >>> from paraflowo.planning import sram_required
    >>> sram_required(16, 256) == ReorderQueues.footprint(16, 256) == 134656
    True
    >>> sram_required(16, 256, "worst")
    132096
    >>> sram_required(1, 256, "expected", ooo_rate=0.5, queue_overhead_bytes=0)
    4096.0
    """
    q = require_int("n_queues", n_queues, 1)
    w = require_int("window", window, 1)
    m = require_int("meta_bytes", meta_bytes, 1)
    o = require_int("queue_overhead_bytes", queue_overhead_bytes, 0)
    basis, rate = _basis(basis, ooo_rate)
    if basis == "footprint":
        # one source of truth: the component's own footprint (the SRAM the
        # pfo_robq_init placement needs), for its power-of-two window
        if w > MAX_WINDOW or q > MAX_QUEUES:
            raise ValueError(f"window and n_queues must be at most {MAX_WINDOW} and "
                             f"{MAX_QUEUES} for the 'footprint' basis, got {w} and {q}")
        return ReorderQueues.footprint(q, 1 << max(1, (w - 1).bit_length()))
    if basis == "worst":
        return q * (o + w * m)
    # Eq. 3, reused: the packet size does not enter M_meta.
    return q * (o + reorder_memory(w, rate, 1, meta_bytes=m).meta_bytes)


def _sram(profile: Any) -> int:
    if isinstance(profile, DeviceProfile):
        if profile.sram_bytes is None:
            raise ValueError(f"profile {profile.name!r} has no SRAM size (sram_bytes is unknown)")
        return profile.sram_bytes
    if isinstance(profile, bool) or not hasattr(profile, "__index__"):
        raise TypeError(f"profile must be a DeviceProfile or an SRAM size in bytes (int), "
                        f"got {profile!r}")
    return require_int("profile", profile, 1)


def sram_fit(
    profile: DeviceProfile | int,
    n_queues: int,
    window: int,
    basis: str = "footprint",
    ooo_rate: float | None = None,
    meta_bytes: int = META_SIZE,
    queue_overhead_bytes: int = QUEUE_OVERHEAD_BYTES,
) -> SramFit:
    """Whether ``n_queues`` queues of ``window`` slots fit a device's SRAM.

    Parameters
    ----------
    profile : DeviceProfile or int
        A profile with ``sram_bytes``, or a byte count.
    n_queues, window : int
        Reorder queues (>= 1) and slots per queue (>= 1).
    basis : {"footprint", "worst", "expected"}, default "footprint"
        See the module notes: ``"footprint"`` is this library's reorder
        queues, exactly (:meth:`paraflowo.ReorderQueues.footprint`);
        ``"worst"`` and ``"expected"`` (needs ``ooo_rate``) are the paper's
        model of ``meta_bytes`` records plus ``queue_overhead_bytes``.
    ooo_rate : float, optional
        Out-of-order rate in [0, 1] for the ``"expected"`` basis.
    meta_bytes : int, default META_SIZE (32)
        Bytes per metadata record; the paper's ``M`` is 64.
    queue_overhead_bytes : int, default QUEUE_OVERHEAD_BYTES (64)
        Per-queue state.

    Returns
    -------
    SramFit

    Examples
    --------
    >>> from paraflowo.planning import get_profile, sram_fit
    >>> fit = sram_fit(get_profile("riscv-smartnic-128k"), 16, 256)
    >>> fit.basis, fit.required_bytes, fit.sram_bytes, fit.fits
    ('footprint', 134656, 131072, False)
    >>> sram_fit(get_profile("riscv-smartnic-128k"), 16, 256, "worst").required_bytes
    132096
    >>> sram_fit(get_profile("riscv-smartnic-128k"), 16, 256, "expected", ooo_rate=0.1).fits
    True
    """
    sram = _sram(profile)
    req = sram_required(n_queues, window, basis, ooo_rate, meta_bytes, queue_overhead_bytes)
    _, rate = _basis(basis, ooo_rate)
    return SramFit(basis, int(n_queues), int(window), int(meta_bytes), rate,
                   int(queue_overhead_bytes), req, sram)


def max_window(
    profile: DeviceProfile | int,
    n_queues: int,
    basis: str = "footprint",
    ooo_rate: float | None = None,
    meta_bytes: int = META_SIZE,
    queue_overhead_bytes: int = QUEUE_OVERHEAD_BYTES,
    power_of_two: bool = True,
) -> int:
    """Largest window (slots per queue, at most :data:`MAX_WINDOW`) that fits.

    With ``power_of_two`` (the default, as reorder buffer windows are
    sized) only powers of two from 2 are considered, and 0 means not even 2
    slots per queue fit; otherwise any window from 1, and 0 means not even one
    slot fits.

    Examples
    --------
    >>> from paraflowo.planning import get_profile, max_window
    >>> riscv = get_profile("riscv-smartnic-128k")
    >>> max_window(riscv, 16)
    128
    >>> max_window(riscv, 16, "worst"), max_window(riscv, 16, "worst", power_of_two=False)
    (128, 254)
    """
    sram = _sram(profile)
    q = require_int("n_queues", n_queues, 1)
    args = (basis, ooo_rate, meta_bytes, queue_overhead_bytes)
    sram_required(q, 1, *args)  # validates everything once

    def fits(w: int) -> bool:
        return sram_required(q, w, *args) <= sram

    if power_of_two:
        w = MAX_WINDOW
        while w >= 2 and not fits(w):
            w >>= 1
        return w if w >= 2 else 0
    lo, hi = 0, MAX_WINDOW  # invariant: fits(lo) or lo == 0; answer in [lo, hi]
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if fits(mid):
            lo = mid
        else:
            hi = mid - 1
    return lo


def max_queues(
    profile: DeviceProfile | int,
    window: int,
    basis: str = "footprint",
    ooo_rate: float | None = None,
    meta_bytes: int = META_SIZE,
    queue_overhead_bytes: int = QUEUE_OVERHEAD_BYTES,
) -> int:
    """Largest number of reorder queues of ``window`` slots (at most :data:`MAX_QUEUES`) that fits.

    Returns 0 when not even one queue fits.

    Examples
    --------
    >>> from paraflowo.planning import get_profile, max_queues
    >>> max_queues(get_profile("riscv-smartnic-128k"), 256)
    15
    >>> max_queues(get_profile("riscv-smartnic-128k"), 256, "worst")
    15
    """
    sram = _sram(profile)
    w = require_int("window", window, 1)
    args = (basis, ooo_rate, meta_bytes, queue_overhead_bytes)
    sram_required(1, w, *args)
    lo, hi = 0, MAX_QUEUES
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if sram_required(mid, w, *args) <= sram:
            lo = mid
        else:
            hi = mid - 1
    return lo


