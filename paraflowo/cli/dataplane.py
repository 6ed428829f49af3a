"""``paraflowo dataplane``: run the live dataplane on a capture or between two interfaces."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time

from paraflowo.cli import UsageError

HELP = ("run ParaFlowO on real threads: replay a pcap (or bridge two interfaces) through "
        "a vSwitch thread and N workers running an NF")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--policy", default="paraflowo",
                        choices=["rss", "spray", "paraflowo", "rsspp"],
                        help="steering policy (default paraflowo)")
    parser.add_argument("--workers", type=int, default=2, metavar="N",
                        help="worker threads running the NF (default 2)")
    parser.add_argument("--nf", default="forward", metavar="NAME[:ARG]",
                        help="forward, spin:NS, spin-bytes:NS, sleep:NS, counter, drop:P "
                             "(default forward)")
    parser.add_argument("--pcap-in", default=None, metavar="FILE",
                        help="replay this pcap/pcapng capture (Ethernet)")
    parser.add_argument("--pcap-out", default=None, metavar="FILE",
                        help="write what leaves egress, in egress order, to this pcap")
    parser.add_argument("--speed", default="max", metavar="F|max",
                        help="replay at the recorded pace times F, or as fast as possible "
                             "(max, the default)")
    parser.add_argument("--loop", type=int, default=1, metavar="K",
                        help="replay the capture K times back to back (default 1)")
    parser.add_argument("--bridge", nargs=2, default=None, metavar=("IF_A", "IF_B"),
                        help="forward both directions between two interfaces (AF_PACKET, root)")
    parser.add_argument("--duration", type=float, default=0.0, metavar="S",
                        help="with --bridge: stop after S seconds (default: at SIGINT/SIGTERM)")
    parser.add_argument("--json", default=None, metavar="FILE", help="write the report as JSON")
    parser.add_argument("--interval", type=float, default=1.0, metavar="S",
                        help="seconds between live status lines (default 1)")
    parser.add_argument("--quiet", action="store_true", help="no live status lines")
    g = parser.add_argument_group("ParaFlowO parameters")
    g.add_argument("--n-para", type=int, default=None, metavar="N",
                   help="cores one elephant may use (default: all workers)")
    g.add_argument("--alpha", type=float, default=1.0, help="Eq. 2 alpha (default 1.0)")
    g.add_argument("--threshold", type=int, default=64, metavar="PKTS",
                   help="elephant threshold, packets per detector window (default 64)")
    g.add_argument("--detector-window-us", type=float, default=1000.0, metavar="US",
                   help="detector window (default 1000 us)")
    g.add_argument("--timeout-us", type=float, default=0.0, metavar="US",
                   help="reorder timeout; 0: none, the default (the dataplane loses no "
                        "packet, so holes always fill)")
    g.add_argument("--idle-ms", type=float, default=500.0, metavar="MS",
                   help="idle time after which a flow leaves para_flow; must exceed the "
                        "longest dispatch-to-egress delay (default 500 ms)")
    g.add_argument("--window", type=int, default=4096,
                   help="reorder window, packets per queue (power of two, default 4096)")
    g.add_argument("--queues", type=int, default=64,
                   help="reorder queues (power of two, default 64)")
    g.add_argument("--ring", type=int, default=1024, help="records per ring (default 1024)")
    g.add_argument("--seed", type=int, default=0, help="seed of every random choice")


def _knobs(args) -> dict:
    if not args.detector_window_us > 0:
        raise UsageError(f"--detector-window-us must be > 0, got {args.detector_window_us}")
    if args.timeout_us < 0:
        raise UsageError(f"--timeout-us must be >= 0, got {args.timeout_us}")
    if not args.idle_ms > 0:
        raise UsageError(f"--idle-ms must be > 0, got {args.idle_ms}")
    return {"n_para": args.n_para, "alpha": args.alpha, "threshold": args.threshold,
            "detector_window_ns": int(args.detector_window_us * 1e3),
            "timeout_ns": int(args.timeout_us * 1e3) or None, "window": args.window,
            "idle_ns": max(1, int(args.idle_ms * 1e6)),
            "n_queues": args.queues, "seed": args.seed}


def _status(t0: float, last: list, flows=None):
    def show(c: dict) -> None:
        now = time.perf_counter()
        dt = max(now - last[0], 1e-9)
        rate = (c["packets_out"] - last[1]) / dt / 1e6
        last[0], last[1] = now, c["packets_out"]
        util = " ".join(f"{min(1.0, (b - last[2].get(i, 0)) / 1e9 / dt):.2f}"
                        for i, b in enumerate(c["worker_busy_ns"]))
        last[2] = dict(enumerate(c["worker_busy_ns"]))
        worst = ""
        if c["out_of_order"] and flows is not None:
            from paraflowo.dataplane import flow_label
            bad = sorted((f for f in flows() if f[3]), key=lambda f: -f[3])
            if bad:
                worst = (f" in {len(bad)} flows (most: {flow_label(bad[0][0])} "
                         f"{bad[0][3]})")
        sys.stderr.write(
            f"[{now - t0:6.1f} s] in {c['packets_in']} out {c['packets_out']} "
            f"drop(flag) {c['dropped_flag']} drop(room) {c['dropped_room']} "
            f"{rate:.3f} Mpps  util {util}  out-of-order {c['out_of_order']}{worst}\n")
        sys.stderr.flush()
    return show


def print_report(r: dict, file=None) -> None:
    p = lambda *a: print(*a, file=file or sys.stdout)              # noqa: E731
    p(f"policy {r['policy']}, nf {r['nf']}, {r['workers']} workers, {r['seconds']:.3f} s")
    p(f"packets in {r['packets_in']}  out {r['packets_out']}  dropped by flag "
      f"{r['dropped_flag']}  dropped for room {r['dropped_room']}"
      + (f"  tx errors {r['tx_errors']}" if r["tx_errors"] else "")
      + (f"  not offered {r['not_offered']}" if r["not_offered"] else ""))
    p(f"throughput {r['mpps']:.4f} Mpps; worker utilization "
      + " ".join(f"{u:.2f}" for u in r["worker_utilization"]))
    p(f"out-of-order (RFC 4737 Type-P-Reordered) at egress: {r['out_of_order']} "
      f"in {sum(1 for f in r['flows'] if f['out_of_order'])} of {len(r['flows'])} flows")
    flows = r["flows"][:10]
    if flows:
        p(f"  {'flow':<48} {'packets':>10} {'out-of-order':>12}")
        for f in flows:
            p(f"  {f['flow']:<48} {f['packets_out']:>10} {f['out_of_order']:>12}")


def run(args: argparse.Namespace) -> int:
    from paraflowo.dataplane import Dataplane, make_nf, make_policy, read_capture, run_bridge
    from paraflowo.dataplane import run_trace, store_slots_for, write_pcap

    if (args.pcap_in is None) == (args.bridge is None):
        raise UsageError("give exactly one of --pcap-in FILE or --bridge IF_A IF_B")
    if args.bridge is not None and args.pcap_out:
        raise UsageError("--pcap-out works with --pcap-in only")
    if not 1 <= args.workers <= 64:
        raise UsageError(f"--workers must be in [1, 64], got {args.workers}")
    if args.loop < 1:
        raise UsageError(f"--loop must be >= 1, got {args.loop}")
    if args.duration < 0:
        raise UsageError(f"--duration must be >= 0, got {args.duration}")
    if not args.interval > 0:
        raise UsageError(f"--interval must be > 0, got {args.interval}")
    speed = None
    if args.speed != "max":
        try:
            speed = float(args.speed)
        except ValueError:
            raise UsageError(f"--speed must be a number > 0 or max, got {args.speed!r}") from None
        if not speed > 0:
            raise UsageError(f"--speed must be a number > 0 or max, got {args.speed!r}")
    policy = make_policy(args.policy, args.workers, **_knobs(args))
    nf = make_nf(args.nf, seed=args.seed)
    if args.pcap_in is not None:
        try:
            cap = read_capture(args.pcap_in)
        except FileNotFoundError:
            raise UsageError(f"capture {args.pcap_in} not found") from None
        slot = max(2048, (int(cap.lengths.max()) + 63) // 64 * 64) if len(cap) else 2048
        slot = min(slot, 0xFFFF)
        dp = Dataplane(policy, nf, ring=args.ring, slot_bytes=slot,
                       store_slots=store_slots_for(slot))
    else:
        dp = Dataplane(policy, nf, ring=args.ring)
    t0 = time.perf_counter()
    progress = None if args.quiet else _status(t0, [t0, 0, {}], dp.flow_stats)
    old = signal.signal(signal.SIGTERM, lambda *_: dp.request_stop())
    try:
        if args.pcap_in is not None:
            report, egress = run_trace(cap, speed=speed, loops=args.loop,
                                       capture_out=bool(args.pcap_out), progress=progress,
                                       interval=args.interval, dataplane=dp)
            if args.pcap_out:
                write_pcap(args.pcap_out, egress.data, egress.offsets, egress.lengths,
                           egress.ts_ns)
        else:
            report = run_bridge(args.bridge[0], args.bridge[1], duration=args.duration,
                                progress=progress, interval=args.interval, dataplane=dp)
    finally:
        signal.signal(signal.SIGTERM, old)
    print_report(report)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)
    return 0
