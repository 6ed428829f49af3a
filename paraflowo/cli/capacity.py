"""``paraflowo capacity``: per-core rates and aggregate throughput (Figure 6).

Prints, for each ``--profile``, the aggregate Mpps and Gbps of 2, 4, 8 and 16
cores (``--cores``) doing one operation (``--operation``, default ``reorder``)
over packet sizes (``--sizes``), how many NF cores of ``--nf-profile`` that
rate matches, and the cores needed to reach ``--line-rate`` Gbps at each size.

``Gbps = Mpps * bytes * 8 / 1000``; Ethernet framing (24 B per packet) is not
included unless ``--framing`` is given.

JSON shape (``--json [FILE]``, schema ``paraflowo.capacity/2``)::

    {"schema": "paraflowo.capacity/2", "operation": str, "framing_bytes": int,
     "line_rate_gbps": float, "packet_bytes": [float, ...],
     "nf_reference": {"profile": str, "nf_mpps": float},
     "profiles": [DeviceProfile.to_dict(), ...],
     "rows": [{"profile": str, "cores": int, "packet_bytes": float, "mpps": float,
               "gbps": float, "reaches_line_rate": bool, "nf_cores": float}, ...],
     "cores_needed": [{"profile": str, "packet_bytes": float, "cores": int}, ...],
     "min_packet_bytes": [{"profile": str, "cores": int, "packet_bytes": int}, ...],
     "plot": str or null,
     "provenance": {...}}       # what produced it (/2: added; see paraflowo.sim.provenance)
"""

from __future__ import annotations

import argparse

from paraflowo.cli import UsageError
from paraflowo.cli import _common as c
from paraflowo.planning import (
    ETHERNET_FRAMING_BYTES,
    OPERATIONS,
    cores_needed,
    min_packet_bytes,
    project_throughput,
)

HELP = "per-core rates and aggregate Mpps/Gbps over cores and packet sizes (paper Figure 6)"

DEFAULT_PROFILE = "riscv-smartnic-256k"
DEFAULT_CORES = "2,4,8,16"
DEFAULT_SIZES = "32,64,128,256,512,800,1024"
DEFAULT_LINE_RATE = "400"
DEFAULT_NF_PROFILE = "production-nf"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--profile", action="append", metavar="NAME|FILE.toml",
                        help=f"device profile, repeatable (default {DEFAULT_PROFILE})")
    parser.add_argument("--operation", default="reorder", metavar="OP",
                        help=f"one of {', '.join(OPERATIONS)} (default reorder)")
    parser.add_argument("--cores", default=DEFAULT_CORES, metavar="N,N,...",
                        help=f"core counts (default {DEFAULT_CORES}, as Figure 6(b))")
    parser.add_argument("--sizes", default=DEFAULT_SIZES, metavar="BYTES,...",
                        help=f"packet sizes in bytes, framing excluded (default {DEFAULT_SIZES})")
    parser.add_argument("--line-rate", default=DEFAULT_LINE_RATE, metavar="GBPS",
                        help="target line rate in Gbps (default 400, the dpu-400g profile)")
    parser.add_argument("--framing", action="store_true",
                        help=f"count {ETHERNET_FRAMING_BYTES} B of Ethernet framing per packet "
                             "(preamble+SFD 8, FCS 4, IFG 12); not included by default")
    parser.add_argument("--nf-profile", default=DEFAULT_NF_PROFILE, metavar="NAME|FILE.toml",
                        help="profile whose nf rate converts Mpps into 'NF cores' "
                             f"(default {DEFAULT_NF_PROFILE}, 1 Mpps per core)")
    c.add_output_arguments(parser, "Figure 6(b)")


def compute(args: argparse.Namespace) -> dict:
    """Validate the options and compute everything the command prints."""
    profiles = c.profiles(args.profile, [DEFAULT_PROFILE])
    op = args.operation
    if op not in OPERATIONS:
        raise UsageError(f"--operation must be one of {', '.join(OPERATIONS)}, got {op!r}")
    cores = c.int_list("--cores", args.cores, "core count")
    sizes = c.float_list("--sizes", args.sizes, "packet size")
    line_rate = c.number("--line-rate", args.line_rate, "line rate")
    framing = ETHERNET_FRAMING_BYTES if args.framing else 0
    (nf_ref,) = c.profiles([args.nf_profile], [])
    if nf_ref.nf_mpps is None:
        raise UsageError(f"--nf-profile: profile {nf_ref.name!r} has no nf rate (nf_mpps is unknown)")
    for p in profiles:
        if getattr(p, f"{op}_mpps") is None:
            raise UsageError(f"--profile: profile {p.name!r} has no {op} rate ({op}_mpps is unknown); "
                             "choose another --operation or profile")
    rows, needed, smallest = [], [], []
    for p in profiles:
        for n in cores:
            for size in sizes:
                t = project_throughput(p, op, size, cores=n, framing_bytes=framing)
                rows.append({"profile": p.name, "cores": n, "packet_bytes": size, "mpps": t.mpps,
                             "gbps": t.gbps, "reaches_line_rate": t.gbps >= line_rate,
                             "nf_cores": t.mpps / nf_ref.nf_mpps})
            smallest.append({"profile": p.name, "cores": n,
                             "packet_bytes": min_packet_bytes(p, op, line_rate, n, framing)})
        for size in sizes:
            needed.append({"profile": p.name, "packet_bytes": size,
                           "cores": cores_needed(p, op, line_rate, size, framing)})
    return {
        "schema": "paraflowo.capacity/2",
        "operation": op,
        "framing_bytes": framing,
        "line_rate_gbps": line_rate,
        "packet_bytes": sizes,
        "nf_reference": {"profile": nf_ref.name, "nf_mpps": nf_ref.nf_mpps},
        "profiles": [p.to_dict() for p in profiles],
        "rows": rows,
        "cores_needed": needed,
        "min_packet_bytes": smallest,
        "plot": args.plot,
    }


def _rate(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}"


def render(data: dict) -> str:
    """The tables, as text."""
    op, sizes, line_rate = data["operation"], data["packet_bytes"], data["line_rate_gbps"]
    nf = data["nf_reference"]
    out = ["Per-core Mpps by operation (paper Figure 6(a) style)",
           f"{'profile':<24}{'cores':>6}" + "".join(f"{o:>10}" for o in ("forward", "reorder", "nf", "detector"))]
    for p in data["profiles"]:
        out.append(f"{p['name']:<24}{p['cores']:>6}" + "".join(
            f"{_rate(p[o + '_mpps']):>10}" for o in ("forward", "reorder", "nf", "detector")))
    framing = (f"{data['framing_bytes']} B Ethernet framing per packet included" if data["framing_bytes"]
               else "Ethernet framing not included (--framing adds 24 B per packet)")
    for p in data["profiles"]:
        rows = [r for r in data["rows"] if r["profile"] == p["name"]]
        out += ["", f"Aggregate {op} throughput of {p['name']} ({p[op + '_mpps']:g} Mpps per core), "
                    "Gbps by packet size (paper Figure 6(b) style)",
                f"Gbps = Mpps x bytes x 8 / 1000; {framing}; "
                f"NF cores = Mpps / {nf['nf_mpps']:g} ({nf['profile']})",
                f"{'cores':>5}{'Mpps':>9}{'NF cores':>10}" + "".join(f"{s:>9g} B" for s in sizes)]
        for n in dict.fromkeys(r["cores"] for r in rows):
            cells = [r for r in rows if r["cores"] == n]
            out.append(f"{n:>5}{cells[0]['mpps']:>9.2f}{cells[0]['nf_cores']:>10.1f}" + "".join(
                f"{r['gbps']:>10.1f}{'*' if r['reaches_line_rate'] else ' '}" for r in cells))
        out.append(f"* reaches {line_rate:g} Gbps")
        need = [r for r in data["cores_needed"] if r["profile"] == p["name"]]
        out.append(f"cores needed for {line_rate:g} Gbps: " + ", ".join(
            f"{r['packet_bytes']:g} B: {r['cores']}" for r in need))
        small = [r for r in data["min_packet_bytes"] if r["profile"] == p["name"]]
        out.append(f"smallest packet reaching {line_rate:g} Gbps: " + ", ".join(
            f"{r['packet_bytes']} B with {r['cores']} cores" for r in small))
    return "\n".join(out)


def figure(data: dict, fig=None):
    """Figure 6(b): Gbps against packet size, one line per core count, per profile.

    Draws into ``fig`` (a ``matplotlib.figure.Figure``; a new one when None)
    with matplotlib's object API and returns it: no pyplot, the user's backend
    is left alone.
    """
    profiles = data["profiles"]
    if fig is None:
        fig = c.figure_class()(figsize=(5.5 * len(profiles), 4), layout="constrained")
    axes = fig.subplots(1, len(profiles), squeeze=False)[0]
    for ax, p in zip(axes, profiles):
        rows = [r for r in data["rows"] if r["profile"] == p["name"]]
        for n in dict.fromkeys(r["cores"] for r in rows):
            cells = [r for r in rows if r["cores"] == n]
            ax.plot([r["packet_bytes"] for r in cells], [r["gbps"] for r in cells],
                    marker="o", label=f"{n} cores")
        ax.axhline(data["line_rate_gbps"], color="k", linestyle="--", linewidth=1,
                   label=f"{data['line_rate_gbps']:g} Gbps")
        ax.set_xlabel("packet size (bytes)")
        ax.set_ylabel(f"{data['operation']} throughput (Gbps)")
        ax.set_title(f"{p['name']}: {p[data['operation'] + '_mpps']:g} Mpps/core")
        ax.grid(True, alpha=0.3)
        ax.legend()
    return fig


def run(args: argparse.Namespace) -> int:
    return c.report(args, compute, render, figure)
