"""Captures written by hand (struct only): frames, pcap/pcapng writers, a synthetic trace.

Shared by the trace-reading tests and ``benchmarks/bench_pcap.py``.  Nothing
is downloaded: every capture a test reads is written here, in a tmp dir.
"""

from __future__ import annotations

import struct

import numpy as np

ETH_IP4, ETH_IP6, ETH_ARP, ETH_VLAN, ETH_QINQ = 0x0800, 0x86DD, 0x0806, 0x8100, 0x88A8


def ip4(a: str) -> bytes:
    return bytes(int(x) for x in a.split("."))


def ip6(i: int) -> bytes:
    return bytes.fromhex("20010db8000000000000000000000000")[:12] + struct.pack("!I", i)


def l4(proto: int, sport: int, dport: int, payload: int) -> bytes:
    if proto == 6:                                            # TCP, 20 bytes, ACK
        return struct.pack("!HHIIBBHHH", sport, dport, 1, 1, 5 << 4, 0x10, 65535, 0, 0) \
            + b"\0" * payload
    return struct.pack("!HHHH", sport, dport, 8 + payload, 0) + b"\0" * payload


def ipv4(src: bytes, dst: bytes, proto: int, body: bytes, frag: int = 0) -> bytes:
    return struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(body), 7, frag, 64, proto, 0,
                       src, dst) + body


def ipv6(src: bytes, dst: bytes, nxt: int, body: bytes) -> bytes:
    return struct.pack("!IHBB16s16s", 6 << 28, len(body), nxt, 64, src, dst) + body


def ether(ethertype: int, payload: bytes, vlans: tuple = ()) -> bytes:
    out = b"\x02\0\0\0\0\x01" + b"\x02\0\0\0\0\x02"
    for tpid, vid in vlans:
        out += struct.pack("!HH", tpid, vid)
    return out + struct.pack("!H", ethertype) + payload


def arp() -> bytes:
    return ether(ETH_ARP, struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1) + b"\0" * 20)


def tcp4(src, dst, sport, dport, payload=0, vlans=()) -> bytes:
    return ether(ETH_IP4, ipv4(ip4(src), ip4(dst), 6, l4(6, sport, dport, payload)), vlans)


def udp6(src: int, dst: int, sport, dport, payload=0) -> bytes:
    return ether(ETH_IP6, ipv6(ip6(src), ip6(dst), 17, l4(17, sport, dport, payload)))


def write_pcap(path, records, *, nano=True, big=False, linktype=1, snaplen=65535) -> None:
    """``records``: (time ns, frame bytes[, original length]) in file order."""
    e = ">" if big else "<"
    magic = 0xA1B23C4D if nano else 0xA1B2C3D4
    out = [struct.pack(e + "IHHiIII", magic, 2, 4, 0, 0, snaplen, linktype)]
    for rec in records:
        ns, frame = rec[0], rec[1]
        orig = rec[2] if len(rec) > 2 else len(frame)
        frame = frame[:snaplen]
        frac = ns % 10**9 if nano else ns % 10**9 // 1000
        out.append(struct.pack(e + "IIII", ns // 10**9, frac, len(frame), orig) + frame)
    with open(path, "wb") as fh:
        fh.write(b"".join(out))


def _block(e: str, btype: int, body: bytes) -> bytes:
    body += b"\0" * (-len(body) % 4)
    n = len(body) + 12
    return struct.pack(e + "II", btype, n) + body + struct.pack(e + "I", n)


def write_pcapng(path, records, *, interfaces=((1, 9),), big=False, simple=False,
                 sections=1, tsoffsets=None) -> None:
    """``records``: (interface, time ns, frame); ``interfaces``: (linktype, if_tsresol).

    ``if_tsresol`` as in the format: 6 = microseconds, 9 = nanoseconds, 0x80 | k
    = 2**-k seconds.  ``simple``: Simple Packet Blocks (no timestamp), one
    interface only.  ``sections``: the records spread over that many sections,
    each repeating the interface descriptions.  ``tsoffsets``: per interface,
    an ``if_tsoffset`` in seconds (added to its timestamps by readers).
    """
    e = ">" if big else "<"
    out = []
    per = -(-len(records) // sections)
    for s in range(sections):
        out.append(_block(e, 0x0A0D0D0A, struct.pack(e + "IHHq", 0x1A2B3C4D, 1, 0, -1)))
        for k, (link, res) in enumerate(interfaces):
            opts = struct.pack(e + "HHB3x", 9, 1, res)
            if tsoffsets is not None:
                opts += struct.pack(e + "HHq", 14, 8, tsoffsets[k])
            opts += struct.pack(e + "HH", 0, 0)
            out.append(_block(e, 1, struct.pack(e + "HHI", link, 0, 0) + opts))
        for iface, ns, frame in records[s * per:(s + 1) * per]:
            if simple:
                out.append(_block(e, 3, struct.pack(e + "I", len(frame)) + frame))
                continue
            res = interfaces[iface][1]
            if tsoffsets is not None:
                ns -= tsoffsets[iface] * 10**9
            if res & 0x80:
                ticks = (ns << (res & 0x7F)) // 10**9
            else:
                ticks = ns // 10 ** (9 - res) if res <= 9 else ns * 10 ** (res - 9)
            out.append(_block(e, 6, struct.pack(e + "IIIII", iface, ticks >> 32,
                                                ticks & 0xFFFFFFFF, len(frame), len(frame))
                              + frame))
    with open(path, "wb") as fh:
        fh.write(b"".join(out))


def elephant_and_mice(duration_s=0.5, elephant_pps=60_000, n_mice=20, mice_pps=400,
                      seed=3, extras=True) -> list[tuple[int, bytes]]:
    """A TCP elephant (iperf-like, 1448-byte segments) plus Poisson TCP mice, sorted.

    ``extras`` adds ARP, a VLAN- and a QinQ-tagged flow, an IPv6 UDP flow and
    a non-first IPv4 fragment, so every decoding path is exercised.
    """
    rng = np.random.default_rng(seed)
    dur = int(duration_s * 1e9)
    recs = []
    gap = 1e9 / elephant_pps
    t = rng.random() * gap
    big = tcp4("10.0.0.1", "10.0.1.1", 40000, 5201, 1448)
    while t < dur:
        recs.append((int(t), big))
        t += gap * rng.uniform(0.5, 1.5)
    for m in range(n_mice):
        frame = tcp4(f"10.0.2.{m + 1}", "10.0.1.1", 30000 + m, 443, 100)
        k = rng.poisson(mice_pps * duration_s)
        recs += [(int(x), frame) for x in rng.random(k) * dur]
    if extras:
        extra = [arp(),
                 tcp4("10.0.3.1", "10.0.3.2", 1111, 80, 10, vlans=((ETH_VLAN, 5),)),
                 tcp4("10.0.3.3", "10.0.3.4", 2222, 80, 10,
                      vlans=((ETH_QINQ, 7), (ETH_VLAN, 9))),
                 udp6(1, 2, 5353, 53, 30),
                 ether(ETH_IP4, ipv4(ip4("10.0.4.1"), ip4("10.0.4.2"), 17, b"\0" * 40,
                                     frag=100))]
        for i, frame in enumerate(extra * 20):
            recs.append((int(rng.random() * dur), frame))
    recs.sort(key=lambda r: r[0])
    return recs


def bursty_elephant(duration_s=1.0, elephant_pps=35_000, burst=250, pause_p=0.1, n_mice=4,
                    mice_pps=250, seed=2) -> list[tuple[int, bytes]]:
    """A TCP elephant sending in line-rate bursts (1.2 us apart), plus mice, sorted.

    Bursts of ``burst/2 .. 3*burst/2`` packets average ``elephant_pps``; after
    a burst, with probability ``pause_p``, a pause of 12 to 30 ms (an
    iperf3-like sender waiting on its window).  Mice: TCP and IPv6 UDP flows.
    """
    rng = np.random.default_rng(seed)
    dur = int(duration_s * 1e9)
    recs = []
    big = tcp4("10.0.0.1", "10.0.1.1", 40000, 5201, 1448)
    period = 1e9 * burst / elephant_pps
    t = rng.random() * period
    while t < dur:
        k = int(rng.integers(burst // 2, 3 * burst // 2 + 1))
        recs += [(int(t + i * 1200), big) for i in range(k)]
        t += period * k / burst * rng.uniform(0.7, 1.3)
        if rng.random() < pause_p:
            t += rng.uniform(0.012e9, 0.03e9)
    for m in range(n_mice):
        frame = (udp6(m + 1, 2, 5000 + m, 5001, 100) if m % 2
                 else tcp4(f"10.0.2.{m + 1}", "10.0.1.1", 30000 + m, 443, 100))
        recs += [(int(x), frame) for x in rng.random(rng.poisson(mice_pps * duration_s)) * dur]
    recs = [r for r in recs if r[0] < dur]
    recs.sort(key=lambda r: r[0])
    return recs
