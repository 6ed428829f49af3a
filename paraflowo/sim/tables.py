"""Sweep tables: typed columns, Parquet (pyarrow) or CSV, provenance alongside.

Parquet keeps the provenance in the file's metadata (key ``paraflowo``); CSV
in a sidecar ``FILE.csv.provenance.json`` that also holds the column types, so
:func:`read_table` gives back exactly the rows that were written.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

from paraflowo._checks import require_path
from paraflowo.sim.runner import RECORD_METRICS

if TYPE_CHECKING:
    from paraflowo.sim.sweep_spec import SweepSpec

__all__ = ["read_table"]

_FLOAT_METRICS = {"util_max", "util_min", "util_spread", "reordered_ratio",
                  "reorder_extent_mean"}


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

    Raises :class:`TypeError` when ``path`` is not a path, :class:`ValueError`
    when it is empty, and :class:`OSError` when the file cannot be read.
    """
    path = Path(require_path("path", path))
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
