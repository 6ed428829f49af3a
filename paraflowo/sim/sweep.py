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
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator

from paraflowo.sim.provenance import provenance as _provenance
from paraflowo.sim.runner import RECORD_METRICS, simulate
from paraflowo.sim.scenario import Scenario
from paraflowo.sim.sweep_spec import (SweepPoint, SweepSpec, load_sweep_spec,
                                      parse_sweep_spec, scenario_toml, spawn_seeds)
from paraflowo.errors import MissingDependency
from paraflowo.sim.tables import (_cell, _columns, _point_key, _row_key, _write_table,
                                  read_table)

__all__ = ["SweepSpec", "SweepPoint", "SweepResult", "load_sweep_spec", "parse_sweep_spec",
           "sweep", "spawn_seeds", "scenario_toml", "read_table", "BACKENDS"]

#: Engines that run the points.
BACKENDS = ("loky", "dask", "ray")


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
                raise MissingDependency("--backend ray", "ray", "ray") from None
            raise MissingDependency("sweeps", mod.split(".")[0], "sweep") from None


def _run_point(scenario: Scenario, policies: tuple[str, ...], trace: str | None,
               time_scale: float, command: str) -> tuple[list[dict], str | None, list[str]]:
    """One point, in a worker: its rows, or an error message (never raises), and
    what reading its trace said (a truncated capture, flowless packets)."""
    notes: list[str] = []
    try:
        tr = None
        if trace is not None:
            from paraflowo.sim.pcap import read_pcap
            tr = read_pcap(trace, time_scale=time_scale)
            notes = [f"{trace}: {n}" for n in tr.notes]
        # the table's provenance hashes the traces once, in the caller
        res = simulate(scenario, policies, trace=tr, workers=1, command=command)
        return res.to_records(), None, notes
    except Exception as exc:                    # reported with the point's parameters
        return [], f"{type(exc).__name__}: {exc}", notes


def _iter_loky(tasks: list, jobs: int | None) -> Iterator[tuple[int, Any]]:
    try:
        import joblib
    except ImportError:
        raise MissingDependency("sweeps", "joblib", "sweep") from None
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
        raise MissingDependency("--backend ray", "ray", "ray") from None
    register_ray()
    with joblib.parallel_config(backend="ray"):
        par = joblib.Parallel(n_jobs=jobs if jobs is not None else -1,
                              return_as="generator_unordered")
        yield from par(joblib.delayed(_indexed)(i, args) for i, args in tasks)


def _quiet_start(start: Callable[[], Any]) -> Any:
    """``start()`` with SIGINT ignored (in the main thread), so the processes it
    spawns ignore a terminal's Ctrl-C; the handler is restored afterwards."""
    if threading.current_thread() is not threading.main_thread():
        return start()
    old = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        return start()
    finally:
        signal.signal(signal.SIGINT, old)


def _iter_dask(tasks: list, jobs: int | None, scheduler) -> Iterator[tuple[int, Any]]:
    try:
        from dask.distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise MissingDependency("sweeps", "dask.distributed", "sweep") from None
    cluster = None
    if scheduler is None:
        # A terminal's Ctrl-C reaches every process of its group: the workers
        # start with SIGINT ignored (an ignored signal stays ignored in the
        # processes they spawn), so only this process stops, with its one-line
        # summary, and closes the cluster; and they log nothing below critical
        # (not the cancelled tasks, nor the heartbeats cut while it closes: a
        # failed point is reported by the sweep, a lost worker raises here).
        cluster = _quiet_start(lambda: LocalCluster(
            n_workers=jobs or os.cpu_count() or 1, threads_per_worker=1, processes=True,
            dashboard_address=None, silence_logs=logging.CRITICAL))
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
    #: what reading the traces said, each distinct line once ("a.pcap: capture
    #: truncated ..."), in the order first met
    notes: list[str] = dataclasses.field(default_factory=list)

    def to_frame(self):
        """The rows as a pandas DataFrame with typed columns."""
        try:
            import pandas as pd
        except ImportError:
            raise MissingDependency("tables as DataFrames", "pandas", "sweep") from None
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
        ``skipped``: points run now / found in ``out``; ``notes``: what
        reading the traces said, each distinct line once (every point reads
        its trace again, in its worker).

    Raises
    ------
    ValueError
        An invalid spec or grid value (the key is named), an unknown backend
        or output extension, or an ``out`` table that belongs to another
        sweep.
    paraflowo.errors.MissingDependency
        The ``sweep`` extra (or, for ``backend="ray"``, the ``ray`` extra) is
        missing; an :class:`ImportError` whose message names the extra.
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
    notes: dict[str, None] = {}

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
            for i, (recs, err, said) in it:
                done += 1
                pt = points[i]
                notes.update(dict.fromkeys(said))
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
    return SweepResult(ordered(), cols, failed, done - len(failed), skipped, meta, list(notes))


def _row(rec: dict, point: SweepPoint, cols: dict) -> dict:
    row = {k: _cell(cols[k], v) for k, v in point.values}
    if "trace" in cols:
        row["trace"] = point.trace
    row["policy"] = rec["policy"]
    row["seed"] = rec["seed"]
    for m in RECORD_METRICS:
        row[m] = _cell(cols[m], rec[m])
    return row
