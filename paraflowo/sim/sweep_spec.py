"""Sweep specs: the TOML (or dict) that names a base scenario, policies, seeds and a grid.

See :mod:`paraflowo.sim.sweep` for the format.  :func:`parse_sweep_spec`
validates it, and every grid value through :meth:`Scenario.with_overrides`, so a
bad value fails with its key named before anything runs.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import tomllib
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from paraflowo._checks import require_int, require_path
from paraflowo.sim.runner import POLICY_NAMES, RECORD_METRICS
from paraflowo.sim.scenario import Scenario, load_scenario

__all__ = ["SweepSpec", "SweepPoint", "parse_sweep_spec", "load_sweep_spec", "spawn_seeds",
           "scenario_toml"]

#: The most seeds a sweep spawns (``seeds = K``, :func:`spawn_seeds`).
MAX_SEEDS = 1 << 20

_SPEC_KEYS = {"scenario", "policies", "seeds", "seed", "traces", "time_scale", "overrides",
              "grid"}


@dataclasses.dataclass(frozen=True)
class SweepPoint:
    """One simulation of the sweep: grid values, trace (or None) and seed."""

    index: int
    values: tuple[tuple[str, Any], ...]
    trace: str | None
    seed: int


@dataclasses.dataclass(frozen=True)
class SweepSpec:
    """A validated sweep spec (see :func:`parse_sweep_spec`)."""

    scenario: str
    policies: tuple[str, ...]
    seeds: tuple[int, ...]
    overrides: dict
    grid: dict
    traces: tuple[str, ...] = ()
    time_scale: float = 1.0

    def base(self) -> Scenario:
        """The base scenario with the overrides applied."""
        return load_scenario(self.scenario).with_overrides(self.overrides)

    def points(self) -> list[SweepPoint]:
        """The points in table order: grid product (first key slowest), then
        trace, then seed."""
        keys = list(self.grid)
        combos = itertools.product(*(self.grid[k] for k in keys))
        traces: Iterable[str | None] = self.traces or (None,)
        out = []
        for combo in combos:
            for tr in traces:
                for seed in self.seeds:
                    out.append(SweepPoint(len(out), tuple(zip(keys, combo)), tr, seed))
        return out

    def scenario_of(self, point: SweepPoint, base: Scenario | None = None) -> Scenario:
        """The point's scenario: base, overrides, grid values and seed, validated."""
        base = base if base is not None else self.base()
        try:
            return base.with_overrides(dict(point.values) | {"seed": point.seed})
        except ValueError as exc:
            raise ValueError(f"grid point {_describe(point)}: {exc}") from None

    def to_dict(self) -> dict:
        return {"scenario": self.scenario, "policies": list(self.policies),
                "seeds": list(self.seeds), "overrides": self.overrides,
                "grid": self.grid, "traces": list(self.traces), "time_scale": self.time_scale}


def spawn_seeds(root: int, k: int) -> list[int]:
    """``k`` independent seeds spawned from ``root`` (numpy ``SeedSequence``),
    as plain integers in ``[0, 2**63)`` that ``paraflowo simulate --seed``
    takes.

    Examples
    --------
    >>> from paraflowo.sim.sweep import spawn_seeds
    >>> a = spawn_seeds(1, 3)
    >>> len(set(a)), a == spawn_seeds(1, 3), a[:2] == spawn_seeds(1, 2)
    (3, True, True)

    Raises
    ------
    TypeError
        ``root`` or ``k`` is not an integer.
    ValueError
        ``root`` outside ``[0, 2**64 - 1]`` or ``k`` outside ``[1, 2**20]``.
    """
    root = require_int("root", root, 0, (1 << 64) - 1)
    k = require_int("k", k, 1, MAX_SEEDS)
    children = np.random.SeedSequence(root).spawn(k)
    return [int(c.generate_state(1, np.uint64)[0] >> np.uint64(1)) for c in children]


def _int(key: str, v: Any, lo: int, hi: int) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise ValueError(f"{key} must be an integer, got {v!r}")
    if not lo <= v <= hi:
        raise ValueError(f"{key} must be in [{lo}, {hi}], got {v!r}")
    return v


def parse_sweep_spec(data: dict, base_dir: str | Path | None = None) -> SweepSpec:
    """Validate a sweep spec given as a dict (parsed TOML).

    Parameters
    ----------
    data : dict
        See the module's docstring for the keys.
    base_dir : path, optional
        Relative scenario and trace paths are taken from here (the spec
        file's folder).

    Raises
    ------
    ValueError
        An unknown or malformed key, an empty grid list, a grid or override
        value the scenario checks refuse (the message names the key).
    """
    if not isinstance(data, dict):
        raise TypeError(f"data must be a dict (a parsed sweep spec), got {type(data).__name__}")
    unknown = sorted(set(data) - _SPEC_KEYS)
    if unknown:
        raise ValueError(f"unknown sweep key {unknown[0]} (known: {', '.join(sorted(_SPEC_KEYS))})")
    base_dir = Path(base_dir) if base_dir is not None else None

    def path(p: str) -> str:
        q = Path(p)
        return str(base_dir / q) if base_dir is not None and not q.is_absolute() else p

    scenario = data.get("scenario", "paper-fig7")
    if not isinstance(scenario, str) or not scenario:
        raise ValueError(f"scenario must be a scenario name or a .toml path, got {scenario!r}")
    if scenario.endswith(".toml") or "/" in scenario:
        scenario = path(scenario)
    policies = data.get("policies", list(POLICY_NAMES))
    if (not isinstance(policies, list) or not policies
            or not all(isinstance(p, str) for p in policies)):
        raise ValueError(f"policies must be a non-empty list of policy names, got {policies!r}")
    for p in policies:
        if p not in POLICY_NAMES:
            raise ValueError(f"policies: unknown policy {p!r} (known: {', '.join(POLICY_NAMES)})")
    if len(set(policies)) != len(policies):
        raise ValueError(f"policies must not repeat, got {policies!r}")
    overrides = data.get("overrides", {})
    if not isinstance(overrides, dict):
        raise ValueError(f"overrides must be a table, got {overrides!r}")
    overrides = _flatten(overrides)
    grid = data.get("grid", {})
    if not isinstance(grid, dict):
        raise ValueError(f"grid must be a table, got {grid!r}")
    grid = _flatten(grid)
    for key, values in grid.items():
        if not isinstance(values, list) or not values:
            raise ValueError(f"grid.{key} must be a non-empty list of values, got {values!r}")
        if len({json.dumps(v, sort_keys=True) for v in values}) != len(values):
            raise ValueError(f"grid.{key} must not repeat a value, got {values!r}")
    for key in list(overrides) + list(grid):
        if key == "seed":
            raise ValueError("seed cannot be overridden or swept: use `seeds` "
                             "(and `seed`, their root)")
        if key in ("policy", "trace") or key in RECORD_METRICS:
            raise ValueError(f"grid key {key!r} would clash with the table column {key!r}")
    traces = data.get("traces", [])
    if not isinstance(traces, list) or not all(isinstance(t, str) and t for t in traces):
        raise ValueError(f"traces must be a list of capture paths, got {traces!r}")
    if len(set(traces)) != len(traces):
        raise ValueError(f"traces must not repeat, got {traces!r}")
    traces = [path(t) for t in traces]
    ts = data.get("time_scale", 1.0)
    if (isinstance(ts, bool) or not isinstance(ts, (int, float)) or not math.isfinite(ts)
            or ts <= 0):
        raise ValueError(f"time_scale must be a positive number, got {ts!r}")
    if "time_scale" in data and not traces:
        raise ValueError("time_scale applies to traces only, and there are none")
    base = load_scenario(scenario)
    try:
        base = base.with_overrides(overrides)
    except ValueError as exc:
        raise ValueError(f"[overrides]: {exc}") from None
    seeds = data.get("seeds", 1)
    if isinstance(seeds, list):
        if not seeds:
            raise ValueError("seeds must be a positive integer or a non-empty list, got []")
        seeds = [_int(f"seeds[{i}]", s, 0, 2**63 - 1) for i, s in enumerate(seeds)]
        if len(set(seeds)) != len(seeds):
            raise ValueError(f"seeds must not repeat, got {seeds!r}")
    else:
        k = _int("seeds", seeds, 1, 1 << 20)
        root = _int("seed", data.get("seed", base.seed), 0, 2**63 - 1)
        seeds = spawn_seeds(root, k)
    spec = SweepSpec(scenario, tuple(policies), tuple(seeds), overrides, grid, tuple(traces),
                     float(ts))
    # every grid value, alone, through the scenario checks: a bad one fails
    # here with its key named, before anything runs
    for key, values in grid.items():
        for v in values:
            try:
                base.with_overrides({key: v})
            except ValueError as exc:
                raise ValueError(f"grid.{key} = {v!r}: {exc}") from None
    return spec


def _flatten(table: dict, prefix: str = "") -> dict:
    """``{"paraflowo": {"alpha": [..]}}`` and ``{"paraflowo.alpha": [..]}`` alike."""
    out = {}
    for k, v in table.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flatten(v, key + "."))
        else:
            out[key] = v
    return out


def load_sweep_spec(path: str | Path) -> SweepSpec:
    """Read and validate a sweep spec TOML file (paths in it are relative to it).

    Raises :class:`TypeError` / :class:`ValueError` for a bad ``path`` or
    spec, :class:`OSError` when the file cannot be read.
    """
    text = Path(require_path("path", path)).read_text(encoding="utf-8")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path}: malformed TOML: {exc}") from None
    try:
        return parse_sweep_spec(data, Path(path).parent)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None


def _describe(point: SweepPoint) -> str:
    parts = [f"{k}={v!r}" for k, v in point.values]
    if point.trace is not None:
        parts.append(f"trace={point.trace}")
    parts.append(f"seed={point.seed}")
    return ", ".join(parts)


# ---------------------------------------------------------------------- TOML
def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise TypeError(f"cannot write {v!r} as TOML")


def scenario_toml(scenario: Scenario) -> str:
    """The scenario as a TOML file that :func:`load_scenario` reads back equal.

    Raises :class:`TypeError` when ``scenario`` is not a :class:`Scenario`.

    A sweep point's scenario written this way runs under ``paraflowo simulate
    --scenario FILE --seed SEED`` to reproduce the point's rows.

    Examples
    --------
    >>> import tomllib
    >>> from paraflowo.sim import load_scenario, parse_scenario
    >>> from paraflowo.sim.sweep import scenario_toml
    >>> s = load_scenario("paper-fig7").with_overrides({"paraflowo.alpha": 0.5})
    >>> parse_scenario(tomllib.loads(scenario_toml(s))) == s
    True
    """
    if not isinstance(scenario, Scenario):
        raise TypeError(f"scenario must be a Scenario, got {type(scenario).__name__}")
    data = scenario.to_toml_dict()
    lines = []
    tables = []
    for k, v in data.items():
        if isinstance(v, dict):
            tables.append((k, v))
        elif k != "flows":
            lines.append(f"{k} = {_toml_value(v)}")
    for k, v in tables:
        lines.append(f"\n[{k}]")
        lines.extend(f"{kk} = {_toml_value(vv)}" for kk, vv in v.items())
    for f in data["flows"]:
        lines.append("\n[[flows]]")
        lines.extend(f"{kk} = {_toml_value(vv)}" for kk, vv in f.items())
    return "\n".join(lines) + "\n"
