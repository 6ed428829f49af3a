"""Device profiles and capacity planning: the paper's Figure 6 and Figure 8 as data.

A :class:`DeviceProfile` describes a device (a SmartNIC's cores, an x86 VM, a
DPU) by its core count, its per-core packet rate for each operation this library
cares about, and its SRAM.  From profiles this module projects:

* **throughput** (Figure 6): aggregate Mpps and Gbps of ``n`` cores doing one
  operation at one packet size, and the cores needed for a target line rate;
* **memory** (Figure 8, Eq. 3 via :func:`paraflowo.reorder_memory`): whether
  ``n_queues`` reorder queues of ``window`` slots fit a device's SRAM, and the
  largest window or queue count that does;
* **this host**: :func:`calibrate` times this library's own components and
  returns a profile of the machine it runs on.

Units, stated once
------------------
* Packet rates are **Mpps per core** (10**6 packets per second).
* ``Gbps = Mpps * bytes * 8 / 1000``, with ``bytes = packet_bytes +
  framing_bytes``.  ``packet_bytes`` is the frame as software sees it (L2 header
  to end of payload, no FCS).  Framing is **not included by default**
  (``framing_bytes=0``, as in the paper's projection); pass
  ``framing_bytes=ETHERNET_FRAMING_BYTES`` (24 B: preamble and SFD 8, FCS 4,
  inter-frame gap 12) for the rate the packets occupy on an Ethernet wire.
* Memory sizes are bytes; "KB" in the paper and in the built-in SRAM sizes is
  KiB (1024 bytes): the paper's 12.5 KB example is 12800 B.

What "fits" means
-----------------
Each reorder queue holds ``queue_overhead_bytes`` of state (head PSN,
occupancy, oldest arrival time, counters: :data:`QUEUE_OVERHEAD_BYTES` = 64, one
cache line, by default) plus metadata records of ``meta_bytes`` each
(:data:`paraflowo.META_SIZE` = 32 by default; the paper's ``M`` is 64).  Two
bases are offered, always named in results:

``"worst"`` (the default)
   every one of the ``window`` slots of every queue holds a record:
   ``required = n_queues * (queue_overhead_bytes + window * meta_bytes)``.  A
   ring sized for this never runs out of SRAM, whatever the traffic does.
``"expected"``
   Eq. 3's average occupancy, ``window * ooo_rate`` records per queue:
   ``required = n_queues * (queue_overhead_bytes + M_meta)`` with ``M_meta``
   from :func:`paraflowo.reorder_memory`.  Useful for comparing with the
   paper's Figure 8; a burst of reordering can exceed it.

A configuration fits when ``required <= sram_bytes``: exactly filling the SRAM
fits, one byte more does not.

Worked example: 16 queues of 256 slots, 32-byte records, 64 B overhead need
``16 * (64 + 256 * 32) = 132096`` bytes in the worst case, which does not fit
the 128 KiB (131072 B) RISC-V SmartNIC, but does fit the 256 KiB one; on 128
KiB the largest power-of-two window for 16 queues is 128 (``16 * (64 + 128 *
32) = 66560`` B) and the largest queue count with 256 slots is
``131072 // 8256 = 15``.
"""

from __future__ import annotations

import math
import os
import platform
import statistics
import time
import tomllib
import types
from dataclasses import dataclass, field, fields
from fractions import Fraction
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from paraflowo._checks import require_int, require_number, require_positive
from paraflowo.memory import PAPER_META_BYTES, reorder_memory
from paraflowo.metadata import META_SIZE

__all__ = [
    "DeviceProfile",
    "OPERATIONS",
    "BUILTIN_PROFILES",
    "ETHERNET_FRAMING_BYTES",
    "QUEUE_OVERHEAD_BYTES",
    "MAX_WINDOW",
    "MAX_QUEUES",
    "PAPER_META_BYTES",
    "get_profile",
    "find_profile",
    "load_profile",
    "loads_profile",
    "save_profile",
    "dumps_profile",
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
    "calibrate",
    "CALIBRATED_OPERATIONS",
    "CALIBRATION_BURST",
]

#: The operations a profile may give a per-core rate for, in Mpps.
#: ``forward``: RSS hash + indirection table lookup (plain forwarding);
#: ``reorder``: reorder buffer insert + release; ``nf``: a network function's
#: own processing (firewall, NAT); ``detector``: elephant detector update.
OPERATIONS = ("forward", "reorder", "nf", "detector")

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

_KIB = 1024
_FITS_BASES = ("worst", "expected")


# --------------------------------------------------------------------------- profile


def _optional_rate(name: str, value: Any) -> float | None:
    return None if value is None else require_positive(name, value)


def _text(name: str, value: Any, allow_empty: bool = True) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string, got {value!r}")
    if not allow_empty and not value.strip():
        raise ValueError(f"{name} must be a non-empty string, got {value!r}")
    return value


def _path(name: str, value: Any) -> str | os.PathLike:
    if not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"{name} must be a str or os.PathLike, got {value!r}")
    if isinstance(value, str) and (not value or "\x00" in value):
        raise ValueError(f"{name} must be a non-empty path without NUL, got {value!r}")
    return value


def _spread(value: Any) -> Mapping[str, tuple[float, float, float]]:
    if not isinstance(value, Mapping):
        raise TypeError(f"spread must be a mapping of operation -> (min, median, max), got {value!r}")
    out = {}
    for op, triple in value.items():
        if op not in OPERATIONS:
            raise ValueError(f"spread keys must be operations {OPERATIONS}, got {op!r}")
        if isinstance(triple, (str, bytes)) or not hasattr(triple, "__len__") or len(triple) != 3:
            raise ValueError(f"spread[{op!r}] must be [min, median, max], got {triple!r}")
        lo, mid, hi = (require_positive(f"spread[{op!r}]", x) for x in triple)
        if not lo <= mid <= hi:
            raise ValueError(f"spread[{op!r}] must be ordered min <= median <= max, got {list(triple)!r}")
        out[op] = (lo, mid, hi)
    return types.MappingProxyType(out)


_VALIDATORS = {
    "name": lambda v: _text("name", v, allow_empty=False),
    "cores": lambda v: require_int("cores", v, 1),
    "forward_mpps": lambda v: _optional_rate("forward_mpps", v),
    "reorder_mpps": lambda v: _optional_rate("reorder_mpps", v),
    "nf_mpps": lambda v: _optional_rate("nf_mpps", v),
    "detector_mpps": lambda v: _optional_rate("detector_mpps", v),
    "sram_bytes": lambda v: None if v is None else require_int("sram_bytes", v, 1),
    "line_rate_gbps": lambda v: _optional_rate("line_rate_gbps", v),
    "notes": lambda v: _text("notes", v),
    "spread": _spread,
}


@dataclass(frozen=True)
class DeviceProfile:
    """A device described as data: cores, per-core Mpps per operation, SRAM.

    Parameters
    ----------
    name : str
        A short identifier (``"riscv-smartnic-256k"``).
    cores : int
        Cores available for the operations (>= 1); the default core count of
        the projections.
    forward_mpps, reorder_mpps, nf_mpps, detector_mpps : float or None
        Per-core rate of each operation in :data:`OPERATIONS`, Mpps (> 0), or
        ``None`` when unknown.
    sram_bytes : int or None
        SRAM available for reorder queues, bytes (> 0), or ``None`` (host
        memory: not a constraint this module checks).
    line_rate_gbps : float or None
        The device's line rate, Gbps (> 0), when it has one.
    notes : str
        Provenance: where the figures come from (paper section, measurement).
    spread : mapping of str to (min, median, max), optional
        For measured profiles: the spread of the per-core Mpps over repeats,
        per operation.  The ``*_mpps`` field holds the median.

    Raises
    ------
    TypeError, ValueError
        A field of the wrong type or out of range, naming the field and value.

    Notes
    -----
    Profiles are immutable and compare by value; :func:`dumps_profile` and
    :func:`loads_profile` round-trip them exactly through TOML.

    Examples
    --------
    >>> from paraflowo.devices import DeviceProfile, get_profile
    >>> p = get_profile("riscv-smartnic-256k")
    >>> p.cores, p.reorder_mpps, p.sram_bytes
    (16, 4.07, 262144)
    >>> p.mpps("reorder")
    4.07
    >>> mine = DeviceProfile("my-nic", cores=8, forward_mpps=12.0, sram_bytes=1 << 20)
    >>> mine.reorder_mpps is None
    True
    """

    name: str
    cores: int
    forward_mpps: float | None = None
    reorder_mpps: float | None = None
    nf_mpps: float | None = None
    detector_mpps: float | None = None
    sram_bytes: int | None = None
    line_rate_gbps: float | None = None
    notes: str = ""
    spread: Mapping[str, tuple[float, float, float]] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        for f in fields(self):
            object.__setattr__(self, f.name, _VALIDATORS[f.name](getattr(self, f.name)))

    def mpps(self, operation: str) -> float:
        """Per-core Mpps of ``operation``.

        Raises
        ------
        ValueError
            ``operation`` is not one of :data:`OPERATIONS`, or this profile
            does not know its rate.
        """
        if operation not in OPERATIONS:
            raise ValueError(f"operation must be one of {', '.join(OPERATIONS)}, got {operation!r}")
        rate = getattr(self, f"{operation}_mpps")
        if rate is None:
            raise ValueError(f"profile {self.name!r} has no {operation} rate ({operation}_mpps is unknown)")
        return rate

    def to_dict(self) -> dict[str, Any]:
        """The profile as plain JSON/TOML-ready data (``None`` fields kept)."""
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d["spread"] = {op: list(v) for op, v in self.spread.items()}
        return d

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "profile") -> DeviceProfile:
        """Build a profile from :meth:`to_dict`-shaped data (e.g. parsed TOML).

        Every error names ``source``, the key and the reason, as a
        :class:`ValueError`.
        """
        if not isinstance(data, Mapping):
            raise ValueError(f"{source}: a profile must be a table of keys, got {type(data).__name__}")
        known = [f.name for f in fields(cls)]
        for key in data:
            if key not in known:
                raise ValueError(f"{source}: unknown key {key!r} (known keys: {', '.join(known)})")
        for key in ("name", "cores"):
            if key not in data:
                raise ValueError(f"{source}: missing key {key!r}")
        values = {}
        for key, value in data.items():
            if key == "spread" and value is not None and not isinstance(value, Mapping):
                raise ValueError(f"{source}: bad value for key 'spread': must be a table, got {value!r}")
            try:
                values[key] = _VALIDATORS[key](value)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"{source}: bad value for key {key!r}: {exc}") from None
        return cls(**values)


def _riscv(kib: int) -> DeviceProfile:
    return DeviceProfile(
        name=f"riscv-smartnic-{kib}k",
        cores=16,
        forward_mpps=10.0,
        reorder_mpps=4.07,
        sram_bytes=kib * _KIB,
        notes=(
            "RISC-V SmartNIC core. Per-core forward 10 Mpps and reorder 4.07 Mpps: paper "
            "sec. 5.1, Figure 6(a) (calibrated against x86 measurements). 16 cores: the "
            "largest configuration of Figure 6(b). SRAM 128 to 512 KB per sec. 5.3 "
            f"(KB = KiB); this variant {kib} KiB."
        ),
    )


#: The built-in profiles, by name, with the paper's figures.
BUILTIN_PROFILES: Mapping[str, DeviceProfile] = types.MappingProxyType({
    p.name: p
    for p in (
        _riscv(128),
        _riscv(256),
        _riscv(512),
        DeviceProfile(
            name="x86-vm",
            cores=64,
            forward_mpps=27.0,
            reorder_mpps=11.0,
            notes=(
                "x86 VM core. Per-core forward 27 Mpps and reorder 11 Mpps: paper sec. 5.1, "
                "Figure 6(a). 64 cores: the VM size of the sec. 5.1 comparison. SRAM: not "
                "a constraint (host memory)."
            ),
        ),
        DeviceProfile(
            name="production-nf",
            cores=64,
            nf_mpps=1.0,
            notes=(
                "Typical in-production NF (firewall, NAT gateway): about 1 Mpps per core on "
                "average, paper sec. 5.1, Figure 6(a); 64 cores: the '64-core VM running "
                "typical NFs' of sec. 5.1."
            ),
        ),
        DeviceProfile(
            name="dpu-400g",
            cores=16,
            line_rate_gbps=400.0,
            notes=(
                "400 Gbps DPU line rate (BlueField-3 class), paper sec. 5.1 and ref. [23]; "
                "16 Arm cores per the BlueField-3 datasheet [23]. Per-core rates are not "
                "given by the paper."
            ),
        ),
    )
})


def get_profile(name: str) -> DeviceProfile:
    """The built-in profile called ``name``.

    Raises
    ------
    TypeError
        ``name`` is not a string.
    ValueError
        Unknown name; the message lists the known ones.

    Examples
    --------
    >>> from paraflowo.devices import get_profile
    >>> get_profile("x86-vm").forward_mpps
    27.0
    """
    _text("name", name)
    try:
        return BUILTIN_PROFILES[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown profile {name!r}; known profiles: {', '.join(BUILTIN_PROFILES)} "
            "(or a path to a .toml file)") from None


def find_profile(spec: str | os.PathLike) -> DeviceProfile:
    """A built-in profile by name, or a profile loaded from a TOML file.

    ``spec`` is read as a file when it is a path object, ends in ``.toml`` or
    names an existing file; otherwise it must be a built-in name.
    """
    _path("spec", spec)
    if isinstance(spec, os.PathLike) or str(spec).endswith(".toml") or (
            isinstance(spec, str) and spec not in BUILTIN_PROFILES and Path(spec).is_file()):
        return load_profile(spec)
    return get_profile(spec)


# --------------------------------------------------------------------------- TOML


def _toml_string(s: str) -> str:
    out = []
    for ch in s:
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04X}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):  # pragma: no cover - profiles hold no booleans
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(v)  # shortest round-trip form; finite (validated), always has '.' or 'e'
    if isinstance(v, str):
        return _toml_string(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise TypeError(f"cannot write {v!r} as TOML")  # pragma: no cover


def dumps_profile(profile: DeviceProfile) -> str:
    """The profile as TOML text; :func:`loads_profile` reads it back equal.

    Top-level ``key = value`` lines in field order (unknown rates are omitted),
    then a ``[spread]`` table when the profile has one.

    Examples
    --------
    >>> from paraflowo.devices import dumps_profile, loads_profile, get_profile
    >>> text = dumps_profile(get_profile("x86-vm"))
    >>> print(text.splitlines()[1:5])
    ['name = "x86-vm"', 'cores = 64', 'forward_mpps = 27.0', 'reorder_mpps = 11.0']
    >>> loads_profile(text) == get_profile("x86-vm")
    True
    """
    if not isinstance(profile, DeviceProfile):
        raise TypeError(f"profile must be a DeviceProfile, got {type(profile).__name__}")
    lines = ["# ParaFlowO device profile: per-core rates in Mpps, SRAM in bytes"]
    for f in fields(profile):
        v = getattr(profile, f.name)
        if f.name == "spread" or v is None:
            continue
        lines.append(f"{f.name} = {_toml_value(v)}")
    if profile.spread:
        lines += ["", "# per-core Mpps over the calibration repeats: [min, median, max]", "[spread]"]
        lines += [f"{op} = {_toml_value(list(v))}" for op, v in profile.spread.items()]
    return "\n".join(lines) + "\n"


def loads_profile(text: str, source: str = "<string>") -> DeviceProfile:
    """Read a profile from TOML text.

    Raises
    ------
    ValueError
        Malformed TOML, an unknown or missing key, or a bad value: the message
        names ``source``, the key and why.
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{source}: malformed TOML: {exc}") from None
    return DeviceProfile.from_dict(data, source)


def load_profile(path: str | os.PathLike) -> DeviceProfile:
    """Read a profile from a TOML file (see :func:`loads_profile`).

    Raises
    ------
    ValueError
        The file cannot be read, or its content is not a valid profile.
    """
    p = Path(_path("path", path))
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read profile file {str(p)!r}: {getattr(exc, 'strerror', None) or exc}") from None
    return loads_profile(text, source=str(p))


def save_profile(profile: DeviceProfile, path: str | os.PathLike) -> None:
    """Write ``profile`` to ``path`` as TOML (UTF-8), replacing the file."""
    _check_profile(profile)
    Path(_path("path", path)).write_text(dumps_profile(profile), encoding="utf-8")


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
    >>> from paraflowo.devices import mpps_to_gbps, ETHERNET_FRAMING_BYTES
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
    >>> from paraflowo.devices import get_profile, project_throughput
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
    >>> from paraflowo.devices import get_profile, cores_needed
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
    >>> from paraflowo.devices import get_profile, min_packet_bytes
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
    """``"worst"`` (every slot full) or ``"expected"`` (Eq. 3 occupancy)."""
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
        raise ValueError(f"basis must be 'worst' or 'expected', got {basis!r}")
    if basis == "worst":
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
    basis: str = "worst",
    ooo_rate: float | None = None,
    meta_bytes: int = META_SIZE,
    queue_overhead_bytes: int = QUEUE_OVERHEAD_BYTES,
) -> float:
    """Bytes that ``n_queues`` reorder queues of ``window`` slots need.

    ``"worst"``: ``n_queues * (queue_overhead_bytes + window * meta_bytes)``;
    ``"expected"``: ``n_queues * (queue_overhead_bytes + window * ooo_rate *
    meta_bytes)``, the metadata term being Eq. 3's ``M_meta`` from
    :func:`paraflowo.reorder_memory`.  See the module notes for what "fits"
    means.

    Examples
    --------
    >>> from paraflowo.devices import sram_required
    >>> sram_required(16, 256)
    132096
    >>> sram_required(1, 256, "expected", ooo_rate=0.5, queue_overhead_bytes=0)
    4096.0
    """
    q = require_int("n_queues", n_queues, 1)
    w = require_int("window", window, 1)
    m = require_int("meta_bytes", meta_bytes, 1)
    o = require_int("queue_overhead_bytes", queue_overhead_bytes, 0)
    basis, rate = _basis(basis, ooo_rate)
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
    basis: str = "worst",
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
    basis : {"worst", "expected"}, default "worst"
        See the module notes; ``"expected"`` needs ``ooo_rate``.
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
    >>> from paraflowo.devices import get_profile, sram_fit
    >>> fit = sram_fit(get_profile("riscv-smartnic-128k"), 16, 256)
    >>> fit.required_bytes, fit.sram_bytes, fit.fits
    (132096, 131072, False)
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
    basis: str = "worst",
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
    >>> from paraflowo.devices import get_profile, max_window
    >>> riscv = get_profile("riscv-smartnic-128k")
    >>> max_window(riscv, 16), max_window(riscv, 16, power_of_two=False)
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
    basis: str = "worst",
    ooo_rate: float | None = None,
    meta_bytes: int = META_SIZE,
    queue_overhead_bytes: int = QUEUE_OVERHEAD_BYTES,
) -> int:
    """Largest number of reorder queues of ``window`` slots (at most :data:`MAX_QUEUES`) that fits.

    Returns 0 when not even one queue fits.

    Examples
    --------
    >>> from paraflowo.devices import get_profile, max_queues
    >>> max_queues(get_profile("riscv-smartnic-128k"), 256)
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


# --------------------------------------------------------------------------- calibration


#: Packets per burst call in :func:`calibrate`: every operation is timed as a
#: loop of burst calls of this size, as a dataplane would make them.
CALIBRATION_BURST = 1024


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
    from paraflowo import ReorderBuffer

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
    from paraflowo import CountMinDetector

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
    import paraflowo

    ops = {"forward": _forward_op}
    if hasattr(paraflowo, "ReorderBuffer"):
        ops["reorder"] = _reorder_op
    if hasattr(paraflowo, "CountMinDetector"):
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

    An operation whose component is not importable from :mod:`paraflowo` is
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
    >>> from paraflowo.devices import calibrate
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
    from paraflowo import __version__

    notes = (
        f"Measured by paraflowo.devices.calibrate() (paraflowo {__version__}, Python "
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
