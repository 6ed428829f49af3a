"""Device profiles: a device (SmartNIC, x86 VM, DPU) as data.

A :class:`DeviceProfile` gives a device's core count, its per-core packet rate
(Mpps) for each operation in :data:`OPERATIONS`, its SRAM and line rate; the
built-in profiles (:data:`BUILTIN_PROFILES`) carry the paper's figures.  Units
and the meaning of each field: :mod:`paraflowo.planning`.
"""

from __future__ import annotations

import types
from dataclasses import dataclass, field, fields
from typing import Any, Mapping

from paraflowo._checks import require_int, require_positive

__all__ = ["DeviceProfile", "OPERATIONS", "BUILTIN_PROFILES", "get_profile"]


#: The operations a profile may give a per-core rate for, in Mpps.
#: ``forward``: RSS hash + indirection table lookup (plain forwarding);
#: ``reorder``: reorder buffer insert + release; ``nf``: a network function's
#: own processing (firewall, NAT); ``detector``: elephant detector update.
OPERATIONS = ("forward", "reorder", "nf", "detector")

_KIB = 1024


# --------------------------------------------------------------------------- profile


def _optional_rate(name: str, value: Any) -> float | None:
    return None if value is None else require_positive(name, value)


def _text(name: str, value: Any, allow_empty: bool = True) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string, got {value!r}")
    if not allow_empty and not value.strip():
        raise ValueError(f"{name} must be a non-empty string, got {value!r}")
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
    "cores": lambda v: require_int("cores", v, 1, 1 << 40),
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
        Cores available for the operations (an integer in [1, 2**40]); the default core count of
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
    >>> from paraflowo.planning import DeviceProfile, get_profile
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
    >>> from paraflowo.planning import get_profile
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


