"""``paraflowo memory``: reorder memory and SRAM fit (Figure 8, Eq. 3).

Three tables: memory of one reorder queue vs packet size and vs out-of-order
rate, full-packet against metadata-only buffering (Eq. 3, with this library's
``--meta-bytes`` (32) and the paper's M = 64), then whether ``--queues`` queues
of ``--window`` slots fit each profile's SRAM: first as this library's own
reorder queues occupy it (the planner's default ``"footprint"`` basis:
``ReorderQueues.footprint``, the bytes ``pfo_robq_init`` places), with the
largest window and queue count that fit; then on the paper's model, the
worst-case basis (every slot holds a record) and Eq. 3's expected basis, with
the largest window and queue count that fit in the worst case.

JSON shape (``--json [FILE]``, schema ``paraflowo.memory/2``)::

    {"schema": "paraflowo.memory/2", "window": int, "ooo_rate": float,
     "packet_bytes": float, "meta_bytes": int, "paper_meta_bytes": 64,
     "n_queues": int, "queue_overhead_bytes": int,
     "vs_packet_size": [{"packet_bytes": float, "full_bytes": float,
                         "metadata_bytes": float, "saving": float,
                         "paper_metadata_bytes": float, "paper_saving": float}, ...],
     "vs_ooo_rate": [{"ooo_rate": float, "full_bytes": float, "metadata_bytes": float,
                      "paper_metadata_bytes": float}, ...],
     "sram_fit": [{"profile": str, "sram_bytes": int, "worst_bytes": int,
                   "worst_fits": bool, "expected_bytes": float, "expected_fits": bool,
                   "max_window": int, "max_window_any": int, "max_queues": int,
                   "footprint_bytes": int, "footprint_fits": bool,
                   "footprint_max_window": int, "footprint_max_queues": int}, ...],
     # worst_*, expected_*, max_window, max_window_any, max_queues: the paper's
     # model (basis "worst" / "expected"); footprint_*: this library's queues
     "plot": str or null,
     "provenance": {...}}       # what produced it (see paraflowo.sim.provenance)

Per-queue values in the first two tables; profiles without an SRAM size are
left out of ``sram_fit``.
"""

from __future__ import annotations

import argparse

from paraflowo.cli import _common as c
from paraflowo.planning import (
    BUILTIN_PROFILES,
    PAPER_META_BYTES,
    QUEUE_OVERHEAD_BYTES,
    max_queues,
    max_window,
    reorder_memory,
    sram_fit,
)
from paraflowo.metadata import META_SIZE

HELP = "reorder memory (full packet vs metadata, Eq. 3) and SRAM fit (paper Figure 8)"

DEFAULT_PROFILES = [n for n in BUILTIN_PROFILES if n.startswith("riscv-smartnic-")]
DEFAULT_SIZES = "64,128,256,500,512,1024,1500"
DEFAULT_OOO_RATES = "0.01,0.02,0.05,0.1,0.2,0.5"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--profile", action="append", metavar="NAME|FILE.toml",
                        help="device profile for the SRAM fit, repeatable "
                             f"(default {', '.join(DEFAULT_PROFILES)})")
    parser.add_argument("--window", default="256", metavar="N",
                        help="slots per reorder queue, Eq. 3's N (default 256, the paper's)")
    parser.add_argument("--queues", default="16", metavar="Q",
                        help="reorder queues for the SRAM fit (default 16)")
    parser.add_argument("--ooo", default="0.1", metavar="P_OO",
                        help="out-of-order rate in [0, 1] (default 0.1, the paper's)")
    parser.add_argument("--packet-bytes", default="500", metavar="P",
                        help="packet size for the table vs out-of-order rate (default 500)")
    parser.add_argument("--sizes", default=DEFAULT_SIZES, metavar="BYTES,...",
                        help=f"packet sizes for the table vs packet size (default {DEFAULT_SIZES})")
    parser.add_argument("--ooo-rates", default=DEFAULT_OOO_RATES, metavar="P,...",
                        help=f"out-of-order rates in [0, 1] (default {DEFAULT_OOO_RATES})")
    parser.add_argument("--meta-bytes", default=str(META_SIZE), metavar="M",
                        help=f"metadata record size (default {META_SIZE}, this library's; "
                             f"the paper's M = {PAPER_META_BYTES} is always shown too)")
    parser.add_argument("--queue-overhead", default=str(QUEUE_OVERHEAD_BYTES), metavar="BYTES",
                        help=f"per-queue state counted in the SRAM fit (default {QUEUE_OVERHEAD_BYTES})")
    c.add_output_arguments(parser, "Figure 8")


def compute(args: argparse.Namespace) -> dict:
    """Validate the options and compute everything the command prints."""
    profiles = c.profiles(args.profile, DEFAULT_PROFILES)
    window = c.integer("--window", args.window, "window")
    queues = c.integer("--queues", args.queues, "queue count")
    ooo = c.number("--ooo", args.ooo, "ooo_rate", lo=0.0, lo_open=False, hi=1.0)
    packet = c.number("--packet-bytes", args.packet_bytes, "packet size")
    sizes = c.float_list("--sizes", args.sizes, "packet size")
    rates = c.float_list("--ooo-rates", args.ooo_rates, "ooo_rate", lo=0.0, lo_open=False, hi=1.0)
    meta = c.integer("--meta-bytes", args.meta_bytes, "meta_bytes")
    overhead = c.integer("--queue-overhead", args.queue_overhead, "queue overhead", lo=0)

    vs_size = []
    for size in sizes:
        ours = reorder_memory(window, ooo, size, meta_bytes=meta)
        paper = reorder_memory(window, ooo, size, meta_bytes=PAPER_META_BYTES)
        vs_size.append({"packet_bytes": size, "full_bytes": ours.full_bytes,
                        "metadata_bytes": ours.meta_bytes, "saving": ours.saving,
                        "paper_metadata_bytes": paper.meta_bytes, "paper_saving": paper.saving})
    vs_rate = []
    for rate in rates:
        ours = reorder_memory(window, rate, packet, meta_bytes=meta)
        paper = reorder_memory(window, rate, packet, meta_bytes=PAPER_META_BYTES)
        vs_rate.append({"ooo_rate": rate, "full_bytes": ours.full_bytes,
                        "metadata_bytes": ours.meta_bytes, "paper_metadata_bytes": paper.meta_bytes})
    fits = []
    for p in profiles:
        if p.sram_bytes is None:
            continue
        kw = dict(meta_bytes=meta, queue_overhead_bytes=overhead)
        worst = sram_fit(p, queues, window, "worst", **kw)
        expected = sram_fit(p, queues, window, "expected", ooo_rate=ooo, **kw)
        fits.append({"profile": p.name, "sram_bytes": p.sram_bytes,
                     "worst_bytes": worst.required_bytes, "worst_fits": worst.fits,
                     "expected_bytes": expected.required_bytes, "expected_fits": expected.fits,
                     "max_window": max_window(p, queues, "worst", **kw),
                     "max_window_any": max_window(p, queues, "worst", power_of_two=False, **kw),
                     "max_queues": max_queues(p, window, "worst", **kw)})
        ours = sram_fit(p, queues, window, "footprint")
        fits[-1].update({"footprint_bytes": ours.required_bytes, "footprint_fits": ours.fits,
                         "footprint_max_window": max_window(p, queues, "footprint"),
                         "footprint_max_queues": max_queues(p, window, "footprint")})
    return {
        "schema": "paraflowo.memory/2",
        "window": window, "ooo_rate": ooo, "packet_bytes": packet,
        "meta_bytes": meta, "paper_meta_bytes": PAPER_META_BYTES,
        "n_queues": queues, "queue_overhead_bytes": overhead,
        "vs_packet_size": vs_size, "vs_ooo_rate": vs_rate, "sram_fit": fits,
        "plot": args.plot,
    }


def render(data: dict) -> str:
    """The tables, as text."""
    m, pm, k = data["meta_bytes"], data["paper_meta_bytes"], c.kib
    out = [f"Reorder memory per queue vs packet size (Eq. 3: N = {data['window']} slots, "
           f"p_oo = {data['ooo_rate']:g}), KiB (paper Figure 8(a) style)",
           f"{'packet B':>9}{'full packet':>13}{f'meta M={m}':>12}{'saving':>9}"
           f"{f'meta M={pm}':>12}{'saving':>9}"]
    for r in data["vs_packet_size"]:
        out.append(f"{r['packet_bytes']:>9g}{k(r['full_bytes']):>13}{k(r['metadata_bytes']):>12}"
                   f"{100 * r['saving']:>8.1f}%{k(r['paper_metadata_bytes']):>12}"
                   f"{100 * r['paper_saving']:>8.1f}%")
    out += ["", f"Reorder memory per queue vs out-of-order rate (N = {data['window']}, "
                f"P = {data['packet_bytes']:g} B), KiB (paper Figure 8(b) style)",
            f"{'p_oo':>9}{'full packet':>13}{f'meta M={m}':>12}{f'meta M={pm}':>12}"]
    for r in data["vs_ooo_rate"]:
        out.append(f"{r['ooo_rate']:>9g}{k(r['full_bytes']):>13}{k(r['metadata_bytes']):>12}"
                   f"{k(r['paper_metadata_bytes']):>12}")
    q, w, o = data["n_queues"], data["window"], data["queue_overhead_bytes"]
    out += ["", f"SRAM fit of this library's reorder queues ({q} x ReorderQueues window "
                f"{w}: exact footprint, ReorderQueues.footprint; the planner's default)"]
    if not data["sram_fit"]:
        out.append("(no selected profile has an SRAM size)")
        return "\n".join(out)
    out.append(f"{'profile':<22}{'SRAM KiB':>10}{'needs KiB':>11}{'fits':>6}"
               f"{'max window':>12}{'max queues':>12}")
    for r in data["sram_fit"]:
        out.append(f"{r['profile']:<22}{k(r['sram_bytes']):>10}{k(r['footprint_bytes']):>11}"
                   f"{'yes' if r['footprint_fits'] else 'no':>6}"
                   f"{r['footprint_max_window']:>12}{r['footprint_max_queues']:>12}")
    out += ["", f"SRAM fit on the paper's model: {q} queues x {w} slots x {m} B records "
                f"+ {o} B state per queue",
            f"worst case = {q} x ({o} + {w} x {m}) B (every slot full); "
            f"expected = {q} x ({o} + {w} x {data['ooo_rate']:g} x {m}) B (Eq. 3); "
            "fits when required <= SRAM",
            f"{'profile':<22}{'SRAM KiB':>10}{'worst KiB':>11}{'fits':>6}"
            f"{'expected KiB':>14}{'fits':>6}{'max window':>12}{'(any)':>9}{'max queues':>12}"]
    for r in data["sram_fit"]:
        out.append(f"{r['profile']:<22}{k(r['sram_bytes']):>10}{k(r['worst_bytes']):>11}"
                   f"{'yes' if r['worst_fits'] else 'no':>6}{k(r['expected_bytes']):>14}"
                   f"{'yes' if r['expected_fits'] else 'no':>6}{r['max_window']:>12}"
                   f"{r['max_window_any']:>9}{r['max_queues']:>12}")
    out.append(f"max window: largest power of two (any: any size) for {q} queues, worst case; "
               f"max queues: of {w} slots, worst case")
    return "\n".join(out)


def figure(data: dict, fig=None):
    """Figure 8: (a) memory vs packet size, (b) memory vs out-of-order rate.

    Draws into ``fig`` (a ``matplotlib.figure.Figure``; a new one when None)
    with matplotlib's object API and returns it: no pyplot, the user's backend
    is left alone.
    """
    if fig is None:
        fig = c.figure_class()(figsize=(11, 4), layout="constrained")
    ax_a, ax_b = fig.subplots(1, 2)
    m, pm = data["meta_bytes"], data["paper_meta_bytes"]
    sz = data["vs_packet_size"]

    def curves(ax, rows, x):
        # full packets, our metadata record, the paper's M: KiB per queue
        for key, marker, label in (("full_bytes", "o", "full packet"),
                                   ("metadata_bytes", "s", f"metadata M={m} B"),
                                   ("paper_metadata_bytes", "^", f"metadata M={pm} B (paper)")):
            ax.plot(x, [r[key] / 1024 for r in rows], marker=marker, label=label)

    curves(ax_a, sz, [r["packet_bytes"] for r in sz])
    ax_a.set_xlabel("packet size (bytes)")
    ax_a.set_ylabel("memory per queue (KiB)")
    ax_a.set_title(f"(a) N = {data['window']}, p_oo = {data['ooo_rate']:g}")
    rt = data["vs_ooo_rate"]
    curves(ax_b, rt, [r["ooo_rate"] for r in rt])
    if all(r["full_bytes"] > 0 for r in rt):
        ax_b.set_yscale("log")
    ax_b.set_xlabel("out-of-order rate p_oo")
    ax_b.set_ylabel("memory per queue (KiB)")
    ax_b.set_title(f"(b) N = {data['window']}, P = {data['packet_bytes']:g} B")
    for ax in (ax_a, ax_b):
        ax.grid(True, alpha=0.3)
        ax.legend()
    return fig


def run(args: argparse.Namespace) -> int:
    return c.report(args, compute, render, figure)
