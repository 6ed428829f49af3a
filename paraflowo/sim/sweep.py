"""Parameter sweeps: one simulation per (grid point, trace, seed), tidy rows out.

A sweep spec (TOML, or the same as a dict) names a base scenario, the policies,
the seeds, overrides applied to every point and a grid whose cross product
gives the points::

    scenario = "paper-fig7"          # a built-in name or a .toml path
    policies = ["rss", "paraflowo"]  # default: all
    seeds = 2                        # K seeds spawned from `seed`, or a list of ints
    seed = 1                         # root of the spawned seeds (default: the scenario's)
    traces = ["a.pcap"]              # optional: captures, each a grid dimension
    time_scale = 1.0                 # optional: --time-scale of the captures
    [overrides]                      # applied to every point
    duration_s = 2.0
    [grid]                           # the cross product of these lists
    "paraflowo.n_para" = [2, 3, 4]
    "paraflowo.alpha" = [0.5, 1.0]

Each point is validated by :meth:`Scenario.with_overrides` (the checks of
:func:`load_scenario`), then :func:`paraflowo.sim.simulate` runs the policies on
it with one thread; the rows are exactly :meth:`SimulationResult.to_records`
of that run, so ``paraflowo simulate --seed <row seed>`` with the same
overrides reproduces any row.  Points run on a joblib loky process pool
(default), a Dask cluster or Ray; the table does not depend on the engine.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import os
import sys
import time
import tomllib
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import numpy as np

from paraflowo.sim.provenance import provenance as _provenance
from paraflowo.sim.runner import POLICY_NAMES, RECORD_METRICS, SimulationResult, simulate
from paraflowo.sim.scenario import Scenario, load_scenario

__all__ = ["SweepSpec", "SweepPoint", "SweepResult", "load_sweep_spec", "parse_sweep_spec",
           "sweep", "spawn_seeds", "scenario_toml", "read_table", "BACKENDS"]

#: Engines that run the points.
BACKENDS = ("loky", "dask", "ray")

SWEEP_HINT = "sweeps need pandas, pyarrow, joblib and dask: pip install 'paraflowo[sweep]'"

_SPEC_KEYS = {"scenario", "policies", "seeds", "seed", "traces", "time_scale", "overrides",
              "grid"}
_FLOAT_METRICS = {"util_max", "util_min", "util_spread", "reordered_ratio",
                  "reorder_extent_mean"}


# ----------------------------------------------------------------------- spec
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
    """
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
        raise TypeError(f"spec must be a dict, got {type(data).__name__}")
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
    """Read and validate a sweep spec TOML file (paths in it are relative to it)."""
    text = Path(path).read_text(encoding="utf-8")
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


# --------------------------------------------------------------------- table
def _grid_type(values: list) -> str:
    if all(isinstance(v, bool) for v in values):
        return "bool"
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return "int"
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return "float"
    if all(isinstance(v, str) for v in values):
        return "str"
    return "json"


def _columns(spec: SweepSpec) -> dict[str, str]:
    """Column name -> type (int, float, str, bool, json), in table order."""
    cols = {k: _grid_type(v) for k, v in spec.grid.items()}
    if spec.traces:
        cols["trace"] = "str"
    cols["policy"] = "str"
    cols["seed"] = "int"
    for m in RECORD_METRICS:
        cols[m] = "float" if m in _FLOAT_METRICS else "int"
    return cols


def _cell(kind: str, v: Any) -> Any:
    if kind == "json":
        return json.dumps(v, sort_keys=True)
    if kind == "float":
        return float(v)
    return v


def _point_key(values: Iterable[tuple[str, Any]], trace, seed) -> str:
    def norm(v):
        if isinstance(v, bool) or isinstance(v, str):
            return v
        if isinstance(v, (int, float)):
            return float(v)
        return json.dumps(v, sort_keys=True)
    return json.dumps([[k, norm(v)] for k, v in values] + [trace, int(seed)])


def _row_key(row: dict, spec: SweepSpec, cols: dict) -> str:
    values = []
    for k in spec.grid:
        v = row[k]
        if cols[k] == "json" and isinstance(v, str):
            v = json.loads(v)
        values.append((k, v))
    return _point_key(values, row.get("trace"), row["seed"])


def _arrow_schema(cols: dict, meta: dict):
    import pyarrow as pa
    types = {"int": pa.int64(), "float": pa.float64(), "str": pa.string(),
             "bool": pa.bool_(), "json": pa.string()}
    return pa.schema([pa.field(c, types[t], nullable=False) for c, t in cols.items()],
                     metadata={"paraflowo": json.dumps(meta)})


def _write_table(path: Path, rows: list[dict], cols: dict, meta: dict) -> None:
    """Write (atomically) the whole table, Parquet or CSV by extension."""
    tmp = path.with_name(path.name + ".partial")
    if path.suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq
        table = pa.Table.from_pylist(rows, schema=_arrow_schema(cols, meta))
        pq.write_table(table, tmp)
    else:
        import csv
        with open(tmp, "w", newline="", encoding="utf-8") as fh:
            w = csv.DictWriter(fh, fieldnames=list(cols))
            w.writeheader()
            for r in rows:
                w.writerow({c: (repr(r[c]) if cols[c] == "float" else r[c]) for c in cols})
        side = _sidecar(path)
        side.write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".provenance.json")


def read_table(path: str | Path) -> tuple[list[dict], dict]:
    """Read a sweep table back: ``(rows, metadata)``.

    Typed as written (the CSV's column types come from its provenance
    sidecar).  For analysis, ``pandas.read_parquet`` / ``pandas.read_csv``
    load the same tables with typed columns.
    """
    path = Path(path)
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq
        table = pq.read_table(path)
        raw = (table.schema.metadata or {}).get(b"paraflowo")
        meta = json.loads(raw) if raw else {}
        return table.to_pylist(), meta
    import csv
    side = _sidecar(path)
    meta = json.loads(side.read_text(encoding="utf-8")) if side.exists() else {}
    types = meta.get("columns", {})
    conv = {"int": int, "float": float, "str": str, "json": str,
            "bool": lambda s: s == "True"}
    with open(path, newline="", encoding="utf-8") as fh:
        rows = [{k: conv[types.get(k, "str")](v) for k, v in r.items()}
                for r in csv.DictReader(fh)]
    return rows, meta


# ------------------------------------------------------------------- engines
def _require(backend: str, path: Path | None) -> None:
    """Import what the engine and the output need, before anything runs."""
    need = {"loky": ["joblib"], "dask": ["dask.distributed"],
            "ray": ["joblib", "ray.util.joblib"]}[backend]
    if path is not None and path.suffix == ".parquet":
        need.append("pyarrow.parquet")
    for mod in need:
        try:
            __import__(mod)
        except ImportError:
            if mod.startswith("ray"):
                raise ImportError("--backend ray needs ray: pip install 'ray[default]'") from None
            raise ImportError(f"{SWEEP_HINT} ({mod} is missing)") from None


def _run_point(scenario: Scenario, policies: tuple[str, ...], trace: str | None,
               time_scale: float, command: str) -> tuple[list[dict], str | None]:
    """One point, in a worker: its rows, or an error message (never raises)."""
    try:
        tr = None
        if trace is not None:
            from paraflowo.sim.pcap import read_pcap
            tr = read_pcap(trace, time_scale=time_scale)
        # the table's provenance hashes the traces once, in the caller
        res = simulate(scenario, policies, trace=tr, workers=1, command=command)
        return res.to_records(), None
    except Exception as exc:                    # reported with the point's parameters
        return [], f"{type(exc).__name__}: {exc}"


def _iter_loky(tasks: list, jobs: int | None) -> Iterator[tuple[int, Any]]:
    try:
        import joblib
    except ImportError:
        raise ImportError(SWEEP_HINT) from None
    n_jobs = jobs if jobs is not None else -1
    par = joblib.Parallel(n_jobs=n_jobs, backend="loky", return_as="generator_unordered")
    yield from par(joblib.delayed(_indexed)(i, args) for i, args in tasks)


def _indexed(i: int, args: tuple) -> tuple[int, Any]:
    return i, _run_point(*args)


def _iter_ray(tasks: list, jobs: int | None) -> Iterator[tuple[int, Any]]:
    try:
        import joblib
        from ray.util.joblib import register_ray
    except ImportError:
        raise ImportError("--backend ray needs ray: pip install 'ray[default]'") from None
    register_ray()
    with joblib.parallel_config(backend="ray"):
        par = joblib.Parallel(n_jobs=jobs if jobs is not None else -1,
                              return_as="generator_unordered")
        yield from par(joblib.delayed(_indexed)(i, args) for i, args in tasks)


def _iter_dask(tasks: list, jobs: int | None, scheduler) -> Iterator[tuple[int, Any]]:
    try:
        from dask.distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise ImportError(SWEEP_HINT) from None
    cluster = None
    if scheduler is None:
        cluster = LocalCluster(n_workers=jobs or os.cpu_count() or 1, threads_per_worker=1,
                               processes=True)
        client = Client(cluster)
    elif isinstance(scheduler, Client):
        client = scheduler
    else:
        client = Client(scheduler)
    try:
        futs = [client.submit(_indexed, i, args, pure=False) for i, args in tasks]
        for fut in as_completed(futs):
            yield fut.result()
    finally:
        if client is not scheduler:
            client.close()
        if cluster is not None:
            cluster.close()


# ---------------------------------------------------------------------- sweep
@dataclasses.dataclass
class SweepResult:
    """What :func:`sweep` returns."""

    rows: list[dict]
    columns: dict[str, str]
    failed: list[dict]
    computed: int
    skipped: int
    metadata: dict

    def to_frame(self):
        """The rows as a pandas DataFrame with typed columns."""
        try:
            import pandas as pd
        except ImportError:
            raise ImportError(SWEEP_HINT) from None
        df = pd.DataFrame.from_records(self.rows, columns=list(self.columns))
        types = {"int": "int64", "float": "float64", "bool": "bool", "str": "object",
                 "json": "object"}
        return df.astype({c: types[t] for c, t in self.columns.items()})


def sweep(spec: SweepSpec | dict | str | Path, out: str | Path | None = None, *,
          backend: str = "loky", scheduler=None, jobs: int | None = None,
          progress: Callable[[int, int, float], None] | None = None,
          command=None) -> SweepResult:
    """Run every point of a sweep and collect one row per (point, seed, policy).

    Parameters
    ----------
    spec : SweepSpec, dict or path
        A parsed spec, a dict (parsed TOML), or a spec file.
    out : path, optional
        ``.parquet`` or ``.csv``: the table is written there, as points
        complete, and a sweep started again with the same ``out`` skips the
        points already in it (resume).
    backend : {"loky", "dask", "ray"}
        joblib's loky processes (default); a Dask cluster (``scheduler``: its
        address or a ``dask.distributed.Client``; none: a LocalCluster of
        ``jobs`` processes); Ray through joblib's Ray backend.
    jobs : int, optional
        Processes (loky, the Dask LocalCluster, Ray); default: one per CPU.
        ``jobs=1`` with loky runs in this process.
    progress : callable, optional
        Called as ``progress(done, total, eta_s)`` after each point computed
        (``done`` counts the points found in ``out`` too; ``eta_s`` extrapolates
        the mean time per point computed so far).
    command : str or sequence of str, optional
        The command line recorded in the provenance (default ``sys.argv``).

    Returns
    -------
    SweepResult
        ``rows`` in point order (grid product, trace, seed), then policy;
        ``failed``: per failed point, its parameters and error; ``computed`` /
        ``skipped``: points run now / found in ``out``.

    Raises
    ------
    ValueError
        An invalid spec or grid value (the key is named), an unknown backend
        or output extension, or an ``out`` table that belongs to another
        sweep.
    ImportError
        The ``sweep`` extra is missing.
    """
    if isinstance(spec, (str, Path)):
        spec = load_sweep_spec(spec)
    elif isinstance(spec, dict):
        spec = parse_sweep_spec(spec)
    elif not isinstance(spec, SweepSpec):
        raise TypeError(f"spec must be a SweepSpec, a dict or a path, got {type(spec).__name__}")
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if jobs is not None and (isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1):
        raise ValueError(f"jobs must be an integer >= 1, got {jobs!r}")
    if scheduler is not None and backend != "dask":
        raise ValueError(f"scheduler applies to backend 'dask' only, got backend {backend!r}")
    path = Path(out) if out is not None else None
    if path is not None and path.suffix not in (".parquet", ".csv"):
        raise ValueError(f"out must end in .parquet or .csv, got {str(out)!r}")
    _require(backend, path)
    if command is None:
        command = sys.argv
    prov = _provenance(command, spec.traces)
    command = prov["command"]
    cols = _columns(spec)
    base = spec.base()
    points = spec.points()
    scenarios = [spec.scenario_of(p, base) for p in points]      # all validated first
    keys = [_point_key(p.values, p.trace, p.seed) for p in points]
    by_key = {k: i for i, k in enumerate(keys)}
    meta = {"provenance": prov, "spec": spec.to_dict(), "columns": cols, "earlier_runs": []}

    rows_of: dict[int, list[dict]] = {}
    if path is not None and path.exists():
        old_rows, old_meta = read_table(path)
        if old_rows and list(old_rows[0]) != list(cols):
            raise ValueError(f"{path} has columns {', '.join(old_rows[0])}, not this "
                             f"sweep's; write to another --out")
        grouped: dict[int, list[dict]] = {}
        for r in old_rows:
            i = by_key.get(_row_key(r, spec, cols))
            if i is None:
                raise ValueError(f"{path} holds a row of another sweep ({r['policy']}, seed "
                                 f"{r['seed']}, not a point of this spec); "
                                 f"write to another --out")
            grouped.setdefault(i, []).append(r)
        for i, rs in grouped.items():
            if sorted(r["policy"] for r in rs) == sorted(spec.policies):
                rows_of[i] = rs
        if old_meta:
            meta["earlier_runs"] = (old_meta.get("earlier_runs", [])
                                    + [old_meta.get("provenance", {})])
    skipped = len(rows_of)
    todo = [i for i in range(len(points)) if i not in rows_of]
    tasks = [(i, (scenarios[i], spec.policies, points[i].trace, spec.time_scale, command))
             for i in todo]
    failed: list[dict] = []

    def ordered() -> list[dict]:
        out_rows = []
        for i in sorted(rows_of):
            by_pol = {r["policy"]: r for r in rows_of[i]}
            out_rows.extend(by_pol[p] for p in spec.policies)
        return out_rows

    def save() -> None:
        if path is not None:
            _write_table(path, ordered(), cols, meta)

    if backend == "loky":
        it = _iter_loky(tasks, jobs)
    elif backend == "dask":
        it = _iter_dask(tasks, jobs, scheduler)
    else:
        it = _iter_ray(tasks, jobs)
    t0 = time.perf_counter()
    last_save = t0
    done = 0
    try:
        if tasks:
            for i, (recs, err) in it:
                done += 1
                pt = points[i]
                if err is not None:
                    failed.append({**dict(pt.values), "trace": pt.trace, "seed": pt.seed,
                                   "error": err})
                else:
                    rows_of[i] = [_row(r, pt, cols) for r in recs]
                now = time.perf_counter()
                if progress is not None:
                    eta = (now - t0) / done * (len(tasks) - done)
                    progress(skipped + done, len(points), eta)
                if path is not None and now - last_save > 5.0:
                    save()
                    last_save = now
    finally:
        if hasattr(it, "close"):
            it.close()
        save()
    return SweepResult(ordered(), cols, failed, done - len(failed), skipped, meta)


def _row(rec: dict, point: SweepPoint, cols: dict) -> dict:
    row = {k: _cell(cols[k], v) for k, v in point.values}
    if "trace" in cols:
        row["trace"] = point.trace
    row["policy"] = rec["policy"]
    row["seed"] = rec["seed"]
    for m in RECORD_METRICS:
        row[m] = _cell(cols[m], rec[m])
    return row


def rows_of_result(result: SimulationResult) -> list[dict]:
    """:meth:`SimulationResult.to_records` without the ``scenario`` column:
    what a sweep row holds after its grid values (for comparisons)."""
    return [{k: v for k, v in r.items() if k != "scenario"} for r in result.to_records()]
