"""Real traces: arrival times and 5-tuples from a pcap or pcapng capture.

The container (classic pcap in either byte order, micro- or nanosecond
timestamps; pcapng with per-interface ``if_tsresol``) is read here, so
timestamps stay exact integers of nanoseconds; each frame is decoded with
``dpkt`` (optional dependency: ``pip install 'paraflowo[pcap]'``).  Link types:
Ethernet (1), raw IP (12, 14, 101), IPv4 (228), IPv6 (229), Linux cooked (113).

A capture cut short (a partial record at the end) is read up to the damage and
the :class:`Trace` says so in ``notes``; non-IP frames are skipped and counted.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np

from paraflowo.errors import MissingDependency
from paraflowo.hashing import rss_input, toeplitz
from paraflowo.sim.traffic import CHUNK_PACKETS, Chunk, FlowTable

__all__ = ["Trace", "read_pcap", "PCAP_HINT"]

PCAP_HINT = "pcap input needs dpkt: pip install 'paraflowo[pcap]' (or pip install dpkt)"

_PCAP_MAGIC = {
    b"\xd4\xc3\xb2\xa1": ("<", 1000),   # little-endian, microseconds
    b"\xa1\xb2\xc3\xd4": (">", 1000),
    b"\x4d\x3c\xb2\xa1": ("<", 1),      # nanoseconds
    b"\xa1\xb2\x3c\x4d": (">", 1),
}
_PCAPNG_SHB = b"\x0a\x0d\x0d\x0a"


@dataclass
class Trace:
    """Arrivals read from a capture (times relative to the first packet, ns)."""

    times: np.ndarray            # int64, sorted
    flows: np.ndarray            # int32 flow id per packet
    lengths: np.ndarray          # uint32 original length per packet
    keys: list[tuple]            # per flow: (src, dst, sport, dport, proto)
    hashes: np.ndarray           # uint32 Toeplitz hash per flow
    notes: list[str] = field(default_factory=list)

    @property
    def duration_ns(self) -> int:
        return int(self.times[-1]) + 1 if len(self.times) else 1

    def flow_table(self) -> FlowTable:
        n = len(self.keys)
        counts = np.bincount(self.flows, minlength=n)
        size = np.zeros(n, dtype=np.uint16)
        np.maximum.at(size, self.flows, np.minimum(self.lengths, 9000).astype(np.uint16))
        return FlowTable(None, self.hashes, counts / (self.duration_ns / 1e9), np.zeros(n),
                         np.zeros(n, dtype=bool), size, np.zeros(n, dtype=np.int32), ["pcap"])

    def chunks(self, duration_ns: int) -> Iterator[Chunk]:
        end = int(np.searchsorted(self.times, duration_ns))
        for a in range(0, max(end, 1), CHUNK_PACKETS):
            b = min(end, a + CHUNK_PACKETS)
            last = duration_ns if b == end else int(self.times[b - 1]) + 1
            yield Chunk(self.times[a:b], self.flows[a:b], last)


def _records_pcap(data: bytes, notes: list[str]) -> Iterator[tuple[int, int, int, bytes]]:
    order, mult = _PCAP_MAGIC[data[:4]]
    if len(data) < 24:
        raise ValueError("truncated pcap global header")
    linktype = struct.unpack(order + "I", data[20:24])[0] & 0x0FFFFFFF
    hdr = struct.Struct(order + "IIII")
    off, n = 24, 0
    while off < len(data):
        if off + 16 > len(data):
            notes.append(f"truncated capture: read {n} packets, partial record header "
                         f"at byte {off}")
            return
        sec, frac, caplen, origlen = hdr.unpack_from(data, off)
        if off + 16 + caplen > len(data):
            notes.append(f"truncated capture: read {n} packets, record at byte {off} "
                         f"needs {caplen} bytes, {len(data) - off - 16} left")
            return
        yield linktype, sec * 1_000_000_000 + frac * mult, origlen, data[off + 16:off + 16 + caplen]
        off += 16 + caplen
        n += 1


def _records_pcapng(data: bytes, notes: list[str]) -> Iterator[tuple[int, int, int, bytes]]:
    off, n = 0, 0
    order = "<"
    ifaces: list[tuple[int, int, int]] = []   # (linktype, units per second numerator, ...)
    while off < len(data):
        if off + 12 > len(data):
            notes.append(f"truncated capture: read {n} packets, partial block at byte {off}")
            return
        btype_raw = data[off:off + 4]
        if btype_raw == _PCAPNG_SHB:
            bom = data[off + 8:off + 12]
            order = "<" if bom == b"\x4d\x3c\x2b\x1a" else ">"
            ifaces = []
        btype, blen = struct.unpack_from(order + "II", data, off)
        if blen < 12 or blen % 4 or off + blen > len(data):
            notes.append(f"truncated capture: read {n} packets, damaged block at byte {off}")
            return
        body = data[off + 8:off + blen - 4]
        if btype == 1:                                  # interface description
            linktype = struct.unpack_from(order + "H", body, 0)[0]
            tsresol = 6
            o = 8
            while o + 4 <= len(body):
                code, olen = struct.unpack_from(order + "HH", body, o)
                if code == 0:
                    break
                if code == 9 and olen >= 1:
                    tsresol = body[o + 4]
                o += 4 + olen + (-olen % 4)
            ifaces.append((linktype, tsresol))
        elif btype in (6, 2):                           # enhanced / obsolete packet
            if btype == 6:
                iface, hi, lo, caplen, origlen = struct.unpack_from(order + "IIIII", body, 0)
            else:
                iface, _drops, hi, lo, caplen, origlen = struct.unpack_from(
                    order + "HHIIII", body, 0)
            if iface >= len(ifaces):
                raise ValueError(f"pcapng packet at byte {off} names interface {iface}, "
                                 f"but only {len(ifaces)} are described")
            linktype, res = ifaces[iface]
            ts = (hi << 32) | lo
            if res & 0x80:
                ns = ts * 1_000_000_000 >> (res & 0x7F)
            else:
                ns = ts * 10 ** (9 - res) if res <= 9 else ts // 10 ** (res - 9)
            frame = body[20:20 + caplen] if btype == 6 else body[20:20 + caplen]
            yield linktype, ns, origlen, frame
            n += 1
        off += blen


def _decode(dpkt, linktype: int, frame: bytes):
    """The (src, dst, sport, dport, proto) of a frame, or None if not IP."""
    try:
        if linktype == 1:
            ip = dpkt.ethernet.Ethernet(frame).data
        elif linktype == 113:
            ip = dpkt.sll.SLL(frame).data
        elif linktype in (12, 14, 101, 228, 229):
            if not frame:
                return None
            ip = (dpkt.ip.IP(frame) if frame[0] >> 4 == 4 else dpkt.ip6.IP6(frame))
        else:
            return None
    except (dpkt.UnpackError, IndexError, struct.error):
        return None
    if isinstance(ip, dpkt.ip.IP):
        proto = ip.p
    elif isinstance(ip, dpkt.ip6.IP6):
        proto = ip.nxt
    else:
        return None
    l4 = ip.data
    sport = dport = 0
    if isinstance(l4, (dpkt.tcp.TCP, dpkt.udp.UDP)):
        sport, dport = l4.sport, l4.dport
    return (bytes(ip.src), bytes(ip.dst), sport, dport, proto)


def read_pcap(path: str | Path, time_scale: float = 1.0) -> Trace:
    """Read a pcap/pcapng capture into a :class:`Trace`.

    Parameters
    ----------
    path : str or pathlib.Path
    time_scale : float, default 1.0
        Multiply inter-arrival times by this (``0.01`` replays a slow capture
        100 times faster, so it can load the cores).

    Raises
    ------
    ValueError
        Not a pcap/pcapng file, no IP packet in it, or a bad ``time_scale``.
    OSError
        The file cannot be read.
    paraflowo.errors.MissingDependency
        ``dpkt`` is not installed.
    """
    if isinstance(time_scale, bool) or not isinstance(time_scale, (int, float)) \
            or not time_scale > 0 or time_scale != time_scale or time_scale == float("inf"):
        raise ValueError(f"time_scale must be a positive number, got {time_scale!r}")
    try:
        import dpkt
    except ImportError:
        raise MissingDependency("pcap input", "dpkt", "pcap") from None
    data = Path(path).read_bytes()
    notes: list[str] = []
    if data[:4] in _PCAP_MAGIC:
        records = _records_pcap(data, notes)
    elif data[:4] == _PCAPNG_SHB:
        records = _records_pcapng(data, notes)
    else:
        raise ValueError(f"{path}: not a pcap or pcapng capture (magic {data[:4].hex() or 'empty'})")
    flow_ids: dict[tuple, int] = {}
    times: list[int] = []
    fids: list[int] = []
    lengths: list[int] = []
    skipped = 0
    for linktype, ns, origlen, frame in records:
        key = _decode(dpkt, linktype, frame)
        if key is None:
            skipped += 1
            continue
        fid = flow_ids.setdefault(key, len(flow_ids))
        times.append(ns)
        fids.append(fid)
        lengths.append(origlen)
    if skipped:
        notes.append(f"skipped {skipped} non-IP frames")
    if not times:
        raise ValueError(f"{path}: no IP packets in the capture"
                         + (f" ({notes[0]})" if notes else ""))
    t = np.array(times, dtype=np.int64)
    order = np.argsort(t, kind="stable")
    if (order != np.arange(len(t))).any():
        notes.append("capture timestamps were not in order; sorted them")
    t = t[order] - t[order[0]]
    if time_scale != 1.0:
        t = np.floor(t * float(time_scale)).astype(np.int64)
    keys = list(flow_ids)
    hashes = np.array([toeplitz(rss_input(s, d, sp, dp)) for s, d, sp, dp, _ in keys],
                      dtype=np.uint32)
    return Trace(t, np.array(fids, dtype=np.int32)[order],
                 np.array(lengths, dtype=np.uint32)[order], keys, hashes, notes)
