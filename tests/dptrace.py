"""Small synthetic captures for the dataplane tests, and an independent recount.

Every frame carries a unique id in its payload, so an output packet is
matched to its input by its bytes alone.
"""

from __future__ import annotations

import struct
from collections import Counter

import numpy as np

from paraflowo.dataplane import Capture


def frame(src: int, dst: int, sport: int, dport: int, uid: int, size: int = 100,
          proto: int = 17) -> bytes:
    """An Ethernet/IPv4/UDP (or TCP) frame of `size` bytes carrying `uid`."""
    payload = struct.pack("!Q", uid)
    if proto == 17:
        l4 = struct.pack("!HHHH", sport, dport, 8 + max(8, size - 42), 0)
        payload += bytes(max(0, size - 42 - 8))
    else:
        l4 = struct.pack("!HHIIHHHH", sport, dport, uid & 0xFFFFFFFF, 0, 0x5010, 65535, 0, 0)
        payload += bytes(max(0, size - 54 - 8))
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(l4) + len(payload), uid & 0xFFFF, 0,
                     64, proto, 0, src.to_bytes(4, "big"), dst.to_bytes(4, "big"))
    return b"\x02" * 6 + b"\x04" * 6 + b"\x08\x00" + ip + l4 + payload


def elephant_and_mice(n_elephant: int = 4000, n_mice: int = 400, n_mouse_flows: int = 50,
                      seed: int = 1, elephant_size: int = 1000) -> tuple[Capture, list[bytes]]:
    """One elephant UDP flow among mice, interleaved at random; 1 us apart."""
    rng = np.random.default_rng(seed)
    pkts = []
    is_eleph = rng.permutation(np.r_[np.ones(n_elephant, bool), np.zeros(n_mice, bool)])
    for uid, e in enumerate(is_eleph):
        if e:
            pkts.append(frame(0x0A000001, 0x0A000002, 5000, 80, uid, elephant_size))
        else:
            m = int(rng.integers(n_mouse_flows))
            pkts.append(frame(0x0A010000 + m, 0x0A020001, 1000 + m, 53, uid, 64 + m))
    return Capture.from_packets(pkts), pkts


def egress_packets(egress: Capture) -> list[bytes]:
    return [egress.packet(i) for i in range(len(egress))]


def reordered_per_flow(packets_in: list[bytes], packets_out: list[bytes]) -> Counter:
    """RFC 4737 Type-P-Reordered per flow, the flow being the IPv4 addresses and
    UDP/TCP ports (bytes 26..38 of these frames), from the packets alone."""
    rank, flow_of, seen = {}, {}, Counter()
    for p in packets_in:
        f = p[26:38]
        rank[p] = seen[f]
        seen[f] += 1
        flow_of[p] = f
    next_exp, out = {}, Counter()
    for p in packets_out:
        f = flow_of[p]
        if rank[p] < next_exp.get(f, 0):
            out[f] += 1
        else:
            next_exp[f] = rank[p] + 1
    return out
