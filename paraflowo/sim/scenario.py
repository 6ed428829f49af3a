"""Scenarios as data: TOML files, validated into a :class:`Scenario`.

Every key, its type, default and meaning is listed in :data:`KEYS` (and in the
simulator's documentation page).  A mistake raises ``ValueError`` whose message
names the key (``cores.service_mpps[2] must be > 0, got -1.0``).
"""

from __future__ import annotations

import dataclasses
import math
import re
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

__all__ = ["Scenario", "CoresSpec", "FlowGroup", "load_scenario", "builtin_scenarios",
           "parse_scenario", "KEYS", "PARAFLOWO_KEYS"]

#: key -> (default, meaning).  ``None`` default: required.
KEYS: dict[str, tuple[Any, str]] = {
    "name": (None, "scenario name"),
    "description": ("", "one line shown by the command"),
    "duration_s": (None, "simulated time, seconds (> 0)"),
    "seed": (1, "seed of every random choice (integer >= 0)"),
    "bin_s": (1.0, "utilization time bin, seconds (> 0)"),
    "alert_threshold": (0.40, "a bin raises an alert when any core is busier than this (0..1]"),
    "jitter_period_s": (1.0, "how often a jittered flow redraws its rate, seconds (> 0)"),
    "cores.count": (None, "number of cores (1..4096)"),
    "cores.service_mpps": (None, "service rate, Mpps: one number, or one per core (> 0)"),
    "cores.service": ("deterministic", "service time: 'deterministic' or 'exponential'"),
    "cores.rx_queue": (4096, "waiting packets per RX queue (drop-tail), 1..2**24"),
    "cores.reta_size": (128, "RSS indirection table entries, a power of two"),
    "cores.rss_fields": ("l3l4", "RSS hash input: 'l3l4' (addresses and ports) or 'l3' "
                                 "(addresses only)"),
    "flows[].count": (1, "flows in this group (>= 1)"),
    "flows[].rate_pps": (None, "packets/s per flow: a number, or [lo, hi] drawn per flow"),
    "flows[].jitter": (0.0, "rate varies by +-this fraction, redrawn every jitter_period_s"),
    "flows[].arrivals": ("poisson", "'poisson' or 'constant' (evenly spaced)"),
    "flows[].packet_bytes": (500, "packet length, bytes (64..9000)"),
    "flows[].name": ("", "label (e.g. 'elephant') shown in the output"),
    "rsspp.period_s": (0.1, "RSS++ rebalance period, seconds (> 0)"),
    "rsspp.target_load": (0.0, "RSS++ target load: a core sheds buckets only above "
                               "max(this, the mean load); 0 = the mean load, [0, 1]"),
    "rsspp.imbalance": (0.0, "RSS++ imbalance threshold: a period rebalances only when the "
                             "busiest and idlest cores' loads differ by more than this, [0, 1]"),
}

#: ``[paraflowo]`` key -> (default, meaning).  ``n_para = 0`` means every core.
PARAFLOWO_KEYS: dict[str, tuple[Any, str]] = {
    "detector": ("countmin", "'countmin' (Count-Min sketch) or 'threshold' (Space-Saving)"),
    "threshold_pps": (50000.0, "a flow is an elephant above this many packets/s"),
    "detector_window_s": (0.01, "detector window, s; counts age out after two windows"),
    "cm_width": (4096, "Count-Min width, a power of two"),
    "cm_depth": (4, "Count-Min depth (rows)"),
    "conservative": (True, "Count-Min conservative update"),
    "cm_row_hashes": ("fused", "Count-Min row hashes: 'fused' (one shared hash, fastest) or "
                               "'independent' (one per row: delta = e**-depth proven)"),
    "capacity": (256, "threshold detector: flows tracked per window"),
    "n_queues": (64, "reorder queues in the PSN pool, a power of two"),
    "table_size": (1024, "Breakup para_flow table slots, a power of two"),
    "window": (None, "reorder buffer slots per queue, a power of two; not given: derived "
                     "(the fastest flow's packets during the longest core delay)"),
    "timeout_us": (None, "reorder timeout, us; 0 means no timeout; not given: derived from "
                         "the measured per-core delays (4 x the largest, clamped)"),
    "psn_bits": (16, "PSN width, bits (8..32)"),
    "idle_ms": (None, "a flow idle this long leaves para_flow; its queue is freed; not "
                      "given: max(10 ms, the longest core delay) (see sim/timeout.py)"),
    "n_para": (0, "N_para of Eq. 1-2; 0 means the number of cores"),
    "alpha": (1.0, "damping factor alpha of Eq. 2, in (0, 1]"),
    "smoothing": (0.125, "EWMA weight of each egress delay sample, in (0, 1]"),
    "t_switch_min_us": (1.0, "lower clamp of T_switch, us"),
    "t_switch_max_us": (10000.0, "upper clamp of T_switch, us"),
    "t_switch_init_us": (50.0, "T_switch of a core before its first delay sample, us"),
    "notify_drops": (True, "an RX-queue drop of a tagged packet tombstones its PSN at egress"),
    "reorder": (True, "reorder at egress; false forwards flowlets as they complete (the "
                      "A/B of DPDK packet_ordering --disable-reorder)"),
}

_TOP = {"name", "description", "duration_s", "seed", "bin_s", "alert_threshold",
        "jitter_period_s", "cores", "flows", "rsspp", "paraflowo"}
_CORES = {"count", "service_mpps", "service", "rx_queue", "reta_size", "rss_fields"}
_FLOW = {"count", "rate_pps", "jitter", "arrivals", "packet_bytes", "name"}
_RSSPP = {"period_s", "target_load", "imbalance"}


@dataclasses.dataclass(frozen=True)
class CoresSpec:
    """The cores: count, service rate per core (Mpps), service law, RX queue."""

    count: int
    service_mpps: tuple[float, ...]
    service: str = "deterministic"
    rx_queue: int = 4096
    reta_size: int = 128
    rss_fields: str = "l3l4"


@dataclasses.dataclass(frozen=True)
class FlowGroup:
    """``count`` flows of rate ``rate_pps`` (a number, or a ``(lo, hi)`` range)."""

    count: int
    rate_pps: float | tuple[float, float]
    jitter: float = 0.0
    arrivals: str = "poisson"
    packet_bytes: int = 500
    name: str = ""


@dataclasses.dataclass(frozen=True)
class Scenario:
    """A validated simulation scenario (see :func:`load_scenario`)."""

    name: str
    duration_s: float
    cores: CoresSpec
    flows: tuple[FlowGroup, ...]
    seed: int = 1
    bin_s: float = 1.0
    alert_threshold: float = 0.40
    jitter_period_s: float = 1.0
    description: str = ""
    rsspp_period_s: float = 0.1
    rsspp_target_load: float = 0.0
    rsspp_imbalance: float = 0.0
    paraflowo: dict = dataclasses.field(default_factory=lambda: _paraflowo_table({}))

    def with_duration(self, duration_s: float) -> "Scenario":
        """A copy with another duration (the command's ``--duration``)."""
        d = _num("duration", duration_s, lo=0.0, open_lo=True)
        return dataclasses.replace(self, duration_s=d)

    def with_overrides(self, overrides: dict[str, Any] | None = None,
                       /, **keys: Any) -> "Scenario":
        """A copy with dotted keys replaced, validated as :func:`load_scenario` does.

        Parameters
        ----------
        overrides : dict, optional
            Dotted scenario key -> new value, as in the TOML file:
            ``"duration_s"``, ``"seed"``, ``"cores.count"``,
            ``"paraflowo.n_para"``, ``"rsspp.period_s"``,
            ``"flows[0].rate_pps"``...  Applied together, then validated.
        **keys
            More overrides for top-level keys (``duration_s=0.2``).

        Returns
        -------
        Scenario
            A new scenario; this one is unchanged.

        Raises
        ------
        TypeError
            ``overrides`` is not a dict.
        ValueError
            An unknown key, a flow group that does not exist, or a value the
            scenario checks refuse; the message names the key
            (``override paraflowo.alpha = 2.0: paraflowo.alpha must be in
            (0, 1], got 2.0``).

        Examples
        --------
        >>> from paraflowo.sim import load_scenario
        >>> s = load_scenario("paper-fig7")
        >>> t = s.with_overrides({"paraflowo.n_para": 2, "flows[0].rate_pps": 5e5})
        >>> t.paraflowo["n_para"], t.flows[0].rate_pps, s.paraflowo["n_para"]
        (2, 500000.0, 0)
        """
        if overrides is not None and not isinstance(overrides, dict):
            raise TypeError(f"overrides must be a dict, got {type(overrides).__name__}")
        items = list((overrides or {}).items()) + list(keys.items())
        data = self.to_toml_dict()
        for key, value in items:
            if not isinstance(key, str) or not key:
                raise ValueError(f"override keys must be dotted scenario keys, got {key!r}")
            _set_dotted(data, key, value)
        try:
            return parse_scenario(data)
        except ValueError as exc:
            # name the override that the checks refuse: the first one that
            # fails on its own, else all of them (a combination fails)
            for key, value in items:
                one = self.to_toml_dict()
                _set_dotted(one, key, value)
                try:
                    parse_scenario(one)
                except ValueError:
                    raise ValueError(f"override {key} = {value!r}: {exc}") from None
            shown = ", ".join(f"{k} = {v!r}" for k, v in items)
            raise ValueError(f"overrides {shown}: {exc}") from None

    def to_toml_dict(self) -> dict:
        """The scenario as the dict a TOML file would parse to (round-trips
        through :func:`parse_scenario`)."""
        c = self.cores
        svc = c.service_mpps
        flows = []
        for f in self.flows:
            flows.append({"count": f.count, "rate_pps": list(f.rate_pps)
                          if isinstance(f.rate_pps, tuple) else f.rate_pps,
                          "jitter": f.jitter, "arrivals": f.arrivals,
                          "packet_bytes": f.packet_bytes, "name": f.name})
        return {
            "name": self.name, "description": self.description,
            "duration_s": self.duration_s, "seed": self.seed, "bin_s": self.bin_s,
            "alert_threshold": self.alert_threshold, "jitter_period_s": self.jitter_period_s,
            "cores": {"count": c.count,
                      # one number when all cores are alike, so that cores.count
                      # can be overridden alone
                      "service_mpps": svc[0] if len(set(svc)) == 1 else list(svc),
                      "service": c.service, "rx_queue": c.rx_queue,
                      "reta_size": c.reta_size, "rss_fields": c.rss_fields},
            "flows": flows,
            "rsspp": {"period_s": self.rsspp_period_s, "target_load": self.rsspp_target_load,
                      "imbalance": self.rsspp_imbalance},
            # None is "not given" (derived, e.g. timeout_us and window): TOML has
            # no null, and leaving the key out parses back to None
            "paraflowo": {k: v for k, v in self.paraflowo.items() if v is not None},
        }

    def to_dict(self) -> dict:
        """Plain-data form (the ``scenario`` part of the JSON output)."""
        out = dataclasses.asdict(self)
        out["flows"] = [dict(f.__dict__, rate_pps=list(f.rate_pps)
                             if isinstance(f.rate_pps, tuple) else f.rate_pps)
                        for f in self.flows]
        out["cores"]["service_mpps"] = list(self.cores.service_mpps)
        return out


def _num(key: str, v: Any, lo: float | None = None, hi: float | None = None,
         open_lo: bool = False, integer: bool = False) -> Any:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        kind = "an integer" if integer else "a number"
        raise ValueError(f"{key} must be {kind}, got {v!r}")
    if integer and not isinstance(v, int):
        raise ValueError(f"{key} must be an integer, got {v!r}")
    if not math.isfinite(v):
        raise ValueError(f"{key} must be finite, got {v!r}")
    if lo is not None and (v <= lo if open_lo else v < lo):
        raise ValueError(f"{key} must be {'>' if open_lo else '>='} {lo:g}, got {v!r}")
    if hi is not None and v > hi:
        raise ValueError(f"{key} must be <= {hi:g}, got {v!r}")
    return v


def _str(key: str, v: Any, choices: tuple[str, ...] | None = None) -> str:
    if not isinstance(v, str):
        raise ValueError(f"{key} must be a string, got {v!r}")
    if choices is not None and v not in choices:
        raise ValueError(f"{key} must be one of {', '.join(choices)}, got {v!r}")
    return v


def _table(key: str, v: Any, allowed: set[str]) -> dict:
    if not isinstance(v, dict):
        raise ValueError(f"{key} must be a table, got {v!r}")
    unknown = sorted(set(v) - allowed)
    if unknown:
        prefix = f"{key}." if key else ""
        raise ValueError(f"unknown scenario key {prefix}{unknown[0]} "
                         f"(known: {', '.join(sorted(allowed))})")
    return v


def parse_scenario(data: dict) -> Scenario:
    """Validate a scenario given as a dict (parsed TOML) and return it.

    Raises
    ------
    ValueError
        A missing, unknown or impossible key; the message names it.
    """
    if not isinstance(data, dict):
        raise TypeError(f"data must be a dict (a parsed TOML table), got {type(data).__name__}")
    _table("", data, _TOP)
    for req in ("name", "duration_s", "cores"):
        if req not in data:
            raise ValueError(f"scenario key {req} is required")
    name = _str("name", data["name"])
    cores = _table("cores", data["cores"], _CORES)
    if "count" not in cores:
        raise ValueError("scenario key cores.count is required")
    count = _num("cores.count", cores["count"], 1, 4096, integer=True)
    if "service_mpps" not in cores:
        raise ValueError("scenario key cores.service_mpps is required")
    svc = cores["service_mpps"]
    if isinstance(svc, list):
        if len(svc) != count:
            raise ValueError(
                f"cores.service_mpps must have one rate per core ({count}), got {len(svc)}")
        svc = tuple(float(_num(f"cores.service_mpps[{i}]", x, 0.0, 1e4, open_lo=True))
                    for i, x in enumerate(svc))
    else:
        svc = (float(_num("cores.service_mpps", svc, 0.0, 1e4, open_lo=True)),) * count
    reta = _num("cores.reta_size", cores.get("reta_size", 128), 1, 1 << 16, integer=True)
    if reta & (reta - 1):
        raise ValueError(f"cores.reta_size must be a power of two, got {reta}")
    spec = CoresSpec(
        count=count, service_mpps=svc,
        service=_str("cores.service", cores.get("service", "deterministic"),
                     ("deterministic", "exponential")),
        rx_queue=_num("cores.rx_queue", cores.get("rx_queue", 4096), 1, 1 << 24, integer=True),
        reta_size=reta,
        rss_fields=_str("cores.rss_fields", cores.get("rss_fields", "l3l4"), ("l3", "l3l4")),
    )
    # [[flows]] may be left out when a capture replaces the traffic (--pcap)
    flows = data.get("flows", [])
    if not isinstance(flows, list):
        raise ValueError(f"flows must be an array of tables ([[flows]]), got {flows!r}")
    groups = []
    for i, f in enumerate(flows):
        key = f"flows[{i}]"
        _table(key, f, _FLOW)
        if "rate_pps" not in f:
            raise ValueError(f"scenario key {key}.rate_pps is required")
        rate = f["rate_pps"]
        if isinstance(rate, list):
            if len(rate) != 2:
                raise ValueError(f"{key}.rate_pps must be a number or [lo, hi], got {rate!r}")
            lo = float(_num(f"{key}.rate_pps[0]", rate[0], 0.0, 1e9, open_lo=True))
            hi = float(_num(f"{key}.rate_pps[1]", rate[1], 0.0, 1e9, open_lo=True))
            if hi < lo:
                raise ValueError(f"{key}.rate_pps must have lo <= hi, got {rate!r}")
            rate = (lo, hi)
        else:
            rate = float(_num(f"{key}.rate_pps", rate, 0.0, 1e9, open_lo=True))
        groups.append(FlowGroup(
            count=_num(f"{key}.count", f.get("count", 1), 1, 1 << 20, integer=True),
            rate_pps=rate,
            jitter=float(_num(f"{key}.jitter", f.get("jitter", 0.0), 0.0, 0.99)),
            arrivals=_str(f"{key}.arrivals", f.get("arrivals", "poisson"),
                          ("poisson", "constant")),
            packet_bytes=_num(f"{key}.packet_bytes", f.get("packet_bytes", 500), 64, 9000,
                              integer=True),
            name=_str(f"{key}.name", f.get("name", "")),
        ))
    rsspp = _table("rsspp", data.get("rsspp", {}), _RSSPP)
    para = _paraflowo_table(data.get("paraflowo", {}))
    return Scenario(
        name=name,
        description=_str("description", data.get("description", "")),
        duration_s=float(_num("duration_s", data["duration_s"], 0.0, 1e6, open_lo=True)),
        seed=_num("seed", data.get("seed", 1), 0, 2**63 - 1, integer=True),
        bin_s=float(_num("bin_s", data.get("bin_s", 1.0), 0.0, open_lo=True)),
        alert_threshold=float(_num("alert_threshold", data.get("alert_threshold", 0.40),
                                   0.0, 1.0, open_lo=True)),
        jitter_period_s=float(_num("jitter_period_s", data.get("jitter_period_s", 1.0),
                                   0.0, open_lo=True)),
        cores=spec,
        flows=tuple(groups),
        rsspp_period_s=float(_num("rsspp.period_s", rsspp.get("period_s", 0.1), 0.0,
                                  open_lo=True)),
        rsspp_target_load=float(_num("rsspp.target_load", rsspp.get("target_load", 0.0),
                                     0.0, 1.0)),
        rsspp_imbalance=float(_num("rsspp.imbalance", rsspp.get("imbalance", 0.0), 0.0, 1.0)),
        paraflowo=dict(para),
    )


def _paraflowo_table(para: Any) -> dict:
    _table("paraflowo", para, set(PARAFLOWO_KEYS))
    out = {k: v for k, (v, _) in PARAFLOWO_KEYS.items()}
    for k, v in para.items():
        key = f"paraflowo.{k}"
        default = PARAFLOWO_KEYS[k][0]
        if isinstance(default, bool):
            if not isinstance(v, bool):
                raise ValueError(f"{key} must be true or false, got {v!r}")
        elif isinstance(default, str):
            _str(key, v, ("fused", "independent") if k == "cm_row_hashes"
                 else ("countmin", "threshold"))
        elif isinstance(default, int) or k == "window":
            _num(key, v, 0 if k == "n_para" else 1, 1 << 30, integer=True)
        else:
            _num(key, v, 0.0, 1e9, open_lo=k not in ("timeout_us",))
        out[k] = v
    for k in ("cm_width", "n_queues", "window", "table_size"):
        if out[k] is not None and out[k] & (out[k] - 1):
            raise ValueError(f"paraflowo.{k} must be a power of two, got {out[k]}")
    if not 8 <= out["psn_bits"] <= 32:
        raise ValueError(f"paraflowo.psn_bits must be in [8, 32], got {out['psn_bits']}")
    if out["window"] is not None and out["window"] > 1 << (out["psn_bits"] - 1):
        raise ValueError(f"paraflowo.window must be <= 2**(psn_bits - 1) = "
                         f"{1 << (out['psn_bits'] - 1)}, got {out['window']}")
    for k in ("alpha", "smoothing"):
        if out[k] > 1:
            raise ValueError(f"paraflowo.{k} must be in (0, 1], got {out[k]}")
    if out["t_switch_max_us"] < out["t_switch_min_us"]:
        raise ValueError(f"paraflowo.t_switch_max_us must be >= t_switch_min_us, "
                         f"got {out['t_switch_max_us']}")
    return out


_DOTTED = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(?:\[(\d+)\])?$")


def _set_dotted(data: dict, key: str, value: Any) -> None:
    """``data[a][b]... = value`` for ``key = "a.b"`` or ``"flows[2].rate_pps"``."""
    parts = key.split(".")
    node: Any = data
    for depth, part in enumerate(parts):
        m = _DOTTED.match(part)
        if m is None:
            raise ValueError(f"override key {key!r}: {part!r} is not a key name "
                             "(letters, digits, _, optionally [index])")
        name, index = m.group(1), m.group(2)
        last = depth == len(parts) - 1
        if not isinstance(node, dict):
            raise ValueError(f"override key {key!r}: "
                             f"{'.'.join(parts[:depth])} is not a table")
        if index is not None:
            seq = node.get(name)
            if not isinstance(seq, list):
                raise ValueError(f"override key {key!r}: {name} is not an array")
            i = int(index)
            if i >= len(seq):
                raise ValueError(f"override key {key!r}: {name}[{i}] does not exist "
                                 f"(the scenario has {len(seq)})")
            if last:
                seq[i] = value
            else:
                node = seq[i]
            continue
        if last:
            node[name] = value
        else:
            node = node.setdefault(name, {})


def builtin_scenarios() -> list[str]:
    """Names of the scenarios shipped with the package, sorted."""
    root = resources.files("paraflowo.scenarios")
    return sorted(p.name[:-5] for p in root.iterdir() if p.name.endswith(".toml"))


def _toml_context(text: str, exc: Exception) -> str:
    """The parser's message, with the key (and table) of the offending line."""
    msg = str(exc)
    m = re.search(r"at line (\d+)", msg)
    if not m:
        return msg
    lineno = int(m.group(1))
    lines = text.splitlines()
    table = ""
    for ln in lines[:lineno - 1]:
        h = re.match(r"\s*\[\[?\s*([A-Za-z0-9_.\-]+)\s*\]\]?", ln)
        if h:
            table = h.group(1) + "."
    line = lines[lineno - 1] if 0 < lineno <= len(lines) else ""
    k = re.match(r"\s*([A-Za-z0-9_\-]+)\s*=", line)
    if k:
        return f"key {table}{k.group(1)}: {msg}"
    return f"{msg}: {line.strip()!r}"


def load_scenario(name_or_path: str | Path) -> Scenario:
    """Load a built-in scenario by name, or a TOML file by path.

    Parameters
    ----------
    name_or_path : str or pathlib.Path
        A built-in name (see :func:`builtin_scenarios`), or a path to a
        ``.toml`` file.

    Raises
    ------
    ValueError
        Unknown name (the message lists the known ones), malformed TOML, or
        an invalid key (the message names it).
    OSError
        The file cannot be read.

    Examples
    --------
    >>> from paraflowo.sim import load_scenario
    >>> s = load_scenario("paper-fig7")
    >>> s.cores.count, s.cores.service_mpps
    (4, (0.97, 0.99, 1.01, 1.03))
    """
    if not isinstance(name_or_path, (str, Path)):
        raise TypeError(f"name_or_path must be a str or pathlib.Path, got {name_or_path!r}")
    text = None
    where = str(name_or_path)
    if isinstance(name_or_path, Path) or where.endswith(".toml") or "/" in where:
        text = Path(name_or_path).read_text(encoding="utf-8")
    else:
        known = builtin_scenarios()
        if where not in known:
            raise ValueError(f"unknown scenario {where!r} (known: {', '.join(known)}; "
                             "or give a path to a .toml file)")
        text = (resources.files("paraflowo.scenarios") / f"{where}.toml").read_text("utf-8")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{where}: malformed TOML: {_toml_context(text, exc)}") from None
    try:
        return parse_scenario(data)
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None
