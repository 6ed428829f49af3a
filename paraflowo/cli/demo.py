"""``paraflowo demo``: hash a few 5-tuples with the Toeplitz RSS hash, print their queues."""

from __future__ import annotations

import argparse

import numpy as np

from paraflowo.hashing import IndirectionTable, make_tuples, rss_hash_batch

HELP = "hash a few 5-tuples with the Toeplitz RSS hash and print their RX queues"

# The Microsoft RSS verification flows (source -> destination), IPv4 and IPv6.
FLOWS_V4 = [
    ("66.9.149.187", 2794, "161.142.100.80", 1766),
    ("199.92.111.2", 14230, "65.69.140.83", 4739),
    ("24.19.198.95", 12898, "12.22.207.184", 38024),
    ("38.27.205.30", 48228, "209.142.163.6", 2217),
    ("153.39.163.191", 44251, "202.188.127.2", 1303),
]
FLOWS_V6 = [
    ("3ffe:2501:200:1fff::7", 2794, "3ffe:2501:200:3::1", 1766),
    ("3ffe:501:8::260:97ff:fe40:efab", 14230, "ff02::1", 4739),
    ("3ffe:1900:4545:3:200:f8ff:fe21:67cf", 44251, "fe80::200:f8ff:fe21:67cf", 38024),
]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--queues", type=int, default=4, help="RX queues (default 4)")
    parser.add_argument("--reta-size", type=int, default=128,
                        help="indirection table entries, a power of two (default 128)")


def table(n_queues: int = 4, reta_size: int = 128) -> str:
    """Return the demo table: each flow, its Toeplitz hash and its RX queue."""
    reta = IndirectionTable(n_queues, reta_size)
    lines = [f"Toeplitz RSS (default key) over {n_queues} queues, "
             f"{reta_size}-entry indirection table",
             f"{'source':>42} {'destination':>32}  {'hash':>10}  queue"]
    for flows in (FLOWS_V4, FLOWS_V6):
        src, sport, dst, dport = (list(col) for col in zip(*flows))
        hashes = rss_hash_batch(make_tuples(src, dst, sport, dport))
        queues = reta.queue_batch(hashes)
        for (s, sp, d, dp), h, q in zip(flows, hashes, queues):
            lines.append(f"{s + ':' + str(sp):>42} {d + ':' + str(dp):>32}  "
                         f"0x{int(h):08x}  {int(q)}")
    counts = np.bincount(reta.entries_array(), minlength=n_queues)
    lines.append(f"indirection table entries per queue: {counts.tolist()}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    print(table(args.queues, args.reta_size))
    return 0
