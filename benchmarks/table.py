"""Turn pytest-benchmark JSON into the reStructuredText table of the docs.

Run the benchmarks, then write the table::

    pytest benchmarks --benchmark-enable --benchmark-only --benchmark-json bench.json
    python benchmarks/table.py bench.json -o docs/performance_table.rst \\
        --machine "2-core VM, shared" --date 2026-12-07

One row per benchmark that recorded ``extra_info["mpps"]`` (see
``benchutil.record_mpps``): component (the benchmark group), benchmark, shape
(its parameters and packets per call), Mpps (from the mean time of a call),
ns per packet, and the ratio to the group's anchor (:data:`ANCHORS`) when
that anchor ran in the same session (measured side by side, so the ratio is
what a shared machine can still tell).  Benchmarks without ``mpps`` (such as
ratio-only ones) are left out.  Modelled on python-rapidjson's
``benchmarks/tablize.py``.

``--bursts`` writes the small-bursts table instead (``bench_bursts.py``, the
group ``bursts``): one row per method, its Mpps at 32 records per call and at
65,536, and their ratio, each from the fastest round (``mpps_best``), the
figure a shared machine disturbs least.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

#: Per benchmark group: given a benchmark's ``name`` (as pytest-benchmark records
#: it), the name of the benchmark its Mpps is divided by, a third-party
#: implementation of the same job (installed by the ``anchors`` / ``pcap`` extras).
ANCHORS = {
    # Count-Min: Apache DataSketches' count_min_sketch, one Python call per packet
    "detectors": lambda name: "test_anchor_datasketches_count_min",
    # pcap / pcapng reading: dpkt on the same capture format
    "pcap": lambda name: name.replace("-fast]", "-dpkt]"),
}

HEADER = ("component", "benchmark", "shape", "Mpps", "ns/packet", "vs anchor")
BURST_HEADER = ("method", "Mpps at 32", "Mpps at 65,536", "ratio")


def _split(name: str) -> tuple[str, str]:
    """``test_countmin_burst[plain-zipf]`` -> (``countmin_burst``, ``plain-zipf``)."""
    base, _, params = name.partition("[")
    if base.startswith("test_"):
        base = base[len("test_"):]
    return base, params.rstrip("]")


def rows(data: dict) -> list[tuple[str, ...]]:
    """Table rows (strings, in :data:`HEADER` order) from pytest-benchmark's JSON."""
    benches = [b for b in data.get("benchmarks", [])
               if isinstance(b.get("extra_info", {}).get("mpps"), (int, float))
               and b["extra_info"]["mpps"] > 0]
    mpps_of = {(b.get("group") or "", b["name"]): float(b["extra_info"]["mpps"])
               for b in benches}
    out = []
    for b in sorted(benches, key=lambda b: (b.get("group") or "", b["name"])):
        group = b.get("group") or ""
        mpps = float(b["extra_info"]["mpps"])
        base, params = _split(b["name"])
        per_call = b["extra_info"].get("packets_per_call")
        shape = ", ".join(x for x in (params.replace("-", ", "),
                                      f"{per_call:,} per call" if per_call else "") if x)
        anchor = ANCHORS[group](b["name"]) if group in ANCHORS else None
        if anchor == b["name"]:
            ratio = "anchor"
        elif (group, anchor) in mpps_of:
            ratio = f"{mpps / mpps_of[group, anchor]:.2f}x"
        else:
            ratio = ""
        out.append((group, base, shape, f"{mpps:.3g}", f"{1e3 / mpps:.3g}", ratio))
    return out


def burst_rows(data: dict) -> list[tuple[str, ...]]:
    """Small-bursts rows (:data:`BURST_HEADER` order), in the benchmarks' order.

    ``test_burst[<method>-32]`` and ``test_burst[<method>-65536]`` of the group
    ``bursts`` pair up; a method missing either shape is left out.  The ratio
    is Mpps at 65,536 over Mpps at 32 (the goal: at most 2).
    """
    shapes: dict[str, dict[str, float]] = {}
    for b in data.get("benchmarks", []):
        info = b.get("extra_info", {})
        mpps = info.get("mpps_best", info.get("mpps"))
        base, params = _split(b["name"])
        method, _, size = params.rpartition("-")
        if b.get("group") != "bursts" or base != "burst" or not isinstance(mpps, (int, float)):
            continue
        if mpps > 0 and size in ("32", "65536"):
            shapes.setdefault(method, {})[size] = float(mpps)
    return [(m, f"{s['32']:.1f}", f"{s['65536']:.1f}", f"{s['65536'] / s['32']:.2f}x")
            for m, s in shapes.items() if len(s) == 2]


def _escape(s: str) -> str:
    return s.replace("\\", "\\\\").replace("*", "\\*").replace("`", "\\`").replace("|", "\\|")


def render(data: dict, machine: str | None = None, date: str | None = None,
           bursts: bool = False) -> str:
    """The rST: an optional "Measured on" line, then a ``list-table``.

    ``bursts``: the small-bursts table (:func:`burst_rows`) instead.
    """
    lines = []
    info = data.get("machine_info", {})
    when = date or (data.get("datetime") or "")[:10]
    cpu = info.get("cpu")
    cpu = cpu.get("brand_raw") if isinstance(cpu, dict) else cpu
    where = machine or ", ".join(str(x) for x in (info.get("node"), cpu) if x)
    py = info.get("python_version")
    said = [x for x in (f"on {where}" if where else "", f"on {when}" if when else "",
                        f"Python {py}" if py else "") if x]
    if said:
        lines += ["Measured " + ", ".join(said) + ".", ""]
    body = burst_rows(data) if bursts else rows(data)
    lines += [".. list-table::", "   :header-rows: 1", ""]
    for r in [BURST_HEADER if bursts else HEADER, *body]:
        lines.append(("   * - " + _escape(r[0])).rstrip())
        lines.extend(("     - " + _escape(c)).rstrip() for c in r[1:])
    if not body:
        lines += ["", "(no benchmark recorded ``mpps``)"]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("json", help="pytest-benchmark's --benchmark-json output")
    p.add_argument("-o", "--output", default="-", help="rST file to write (default stdout)")
    p.add_argument("--machine", default=None, help="what ran it (default: from the JSON)")
    p.add_argument("--date", default=None, help="when (default: from the JSON)")
    p.add_argument("--bursts", action="store_true",
                   help="the small-bursts table (bench_bursts.py) instead")
    args = p.parse_args(argv)
    data = json.loads(Path(args.json).read_text())
    text = render(data, args.machine, args.date, bursts=args.bursts)
    if args.output == "-":
        sys.stdout.write(text)
    else:
        Path(args.output).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
