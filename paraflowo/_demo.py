"""The demo run by ``python -m paraflowo demo``: hash a few 5-tuples, show RSS queues."""

from __future__ import annotations

import numpy as np

from paraflowo.hashing import IndirectionTable, make_tuples, rss_hash_batch

# The Microsoft RSS verification flows (source -> destination), and one IPv6 flow.
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
]


def run(n_queues: int = 4, reta_size: int = 128) -> str:
    """Return the demo table: each flow, its Toeplitz hash and its RX queue."""
    reta = IndirectionTable(n_queues, reta_size)
    lines = [f"RSS over {n_queues} queues, {reta_size}-entry indirection table, default key",
             f"{'source':>32} {'destination':>26}  {'hash':>10}  queue"]
    for flows in (FLOWS_V4, FLOWS_V6):
        src, sport, dst, dport = (list(col) for col in zip(*flows))
        tuples = make_tuples(src, dst, sport, dport)
        hashes = rss_hash_batch(tuples)
        queues = reta.queue_batch(hashes)
        for (s, sp, d, dp), h, q in zip(flows, hashes, queues):
            lines.append(f"{s + ':' + str(sp):>32} {d + ':' + str(dp):>26}  "
                         f"0x{int(h):08x}  {int(q)}")
    counts = np.bincount(reta.entries_array(), minlength=n_queues)
    lines.append(f"indirection table entries per queue: {counts.tolist()}")
    return "\n".join(lines)
