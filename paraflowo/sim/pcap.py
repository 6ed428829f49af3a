"""Real traces: arrival times, lengths and 5-tuples from a pcap or pcapng capture.

Two readers give the same :class:`Trace` (the tests compare them on captures
they write):

* ``engine="fast"`` (the default, no dependency): the file is memory-mapped;
  the chain of pcap records or pcapng packet blocks is walked in C
  (``paraflowo._core.pcapread``); the record headers are gathered with numpy; the
  Ethernet (802.1Q / 802.1ad / QinQ tags), Linux cooked or raw IP, IPv4,
  IPv6, TCP and UDP headers are decoded by one C loop without the GIL
  (``pfo_pcap_keys``), in blocks of :data:`BLOCK` packets.  Frames it does
  not parse itself (802.3/LLC, MPLS, PPPoE, IPv6 extension headers, IP
  headers cut by the snap length, more than two VLAN tags) go to ``dpkt`` one
  by one, when it is installed (``pip install 'paraflowo[pcap]'``); without
  dpkt they count as flowless and a note says so.
* ``engine="dpkt"``: every frame through ``dpkt`` (the reference path).

Containers: classic pcap (either byte order, micro- or nanosecond magic) and
pcapng (any number of sections and interfaces, each interface's
``if_tsresol`` and ``if_tsoffset``; Enhanced, Simple and obsolete Packet
Blocks).  Timestamps stay exact integers of nanoseconds.  Link types:
Ethernet (1), Linux cooked (113), raw IP (12, 14, 101, 228, 229).

Flows.  A packet's flow is its (src, dst, sport, dport, proto); ports are
those of a TCP or UDP header whose first 4 bytes are in the capture, else 0.
Packets without a 5-tuple (ARP and other non-IP frames, IPv4 fragments past
the first, unknown link types) are kept as one *flowless* stream (key
:data:`FLOWLESS`, RSS hash 0: the queue a NIC gives unhashable traffic), so
they still load the cores.  Flow ids follow first appearance.

A capture cut short (a partial record at the end) is read up to the damage,
and :attr:`Trace.notes` says so once.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from paraflowo._checks import require_path
from paraflowo._core.pcapread import frame_keys, pcap_walk, pcapng_walk
from paraflowo.errors import MissingDependency
from paraflowo.hashing import IPV4_TUPLE_DTYPE, IPV6_TUPLE_DTYPE, rss_hash_batch
from paraflowo.sim.traffic import CHUNK_PACKETS, Chunk, FlowTable

__all__ = ["Trace", "read_pcap", "FLOWLESS"]

#: The key of the flowless stream (packets without a 5-tuple).
FLOWLESS = (b"", b"", 0, 0, 0)

_PCAP_MAGIC = {
    b"\xd4\xc3\xb2\xa1": ("<", 1000),   # little-endian, microseconds
    b"\xa1\xb2\xc3\xd4": (">", 1000),
    b"\x4d\x3c\xb2\xa1": ("<", 1),      # nanoseconds
    b"\xa1\xb2\x3c\x4d": (">", 1),
}
_PCAPNG_SHB = b"\x0a\x0d\x0d\x0a"
_RAW_IP = (12, 14, 101, 228, 229)
_FRAG_OFFSET = 0x1FFF

Progress = Callable[[int, int], None]


@dataclass
class Trace:
    """Arrivals read from a capture (times relative to the first packet, ns)."""

    times: np.ndarray            # int64, sorted
    flows: np.ndarray            # int32 flow id per packet
    lengths: np.ndarray          # uint32 original length per packet
    keys: list[tuple]            # per flow: (src, dst, sport, dport, proto); FLOWLESS
    hashes: np.ndarray           # uint32 Toeplitz hash per flow (0 for FLOWLESS)
    notes: list[str] = field(default_factory=list)

    @property
    def duration_ns(self) -> int:
        return int(self.times[-1]) + 1 if len(self.times) else 1

    def flow_table(self) -> FlowTable:
        n = len(self.keys)
        counts = np.bincount(self.flows, minlength=n)
        size = np.zeros(n, dtype=np.uint16)
        np.maximum.at(size, self.flows, np.minimum(self.lengths, 9000).astype(np.uint16))
        mean = counts / (self.duration_ns / 1e9)
        return FlowTable(None, self.hashes, mean, np.zeros(n), np.zeros(n, dtype=bool), size,
                         np.zeros(n, dtype=np.int32), ["pcap"],
                         np.maximum(mean, self.peak_pps(n)))

    def peak_pps(self, n_flows: int | None = None, bin_ns: int = 10_000_000) -> np.ndarray:
        """Each flow's rate in its busiest ``bin_ns`` (default 10 ms), packets/s."""
        n = len(self.keys) if n_flows is None else n_flows
        peak = np.zeros(n)
        if len(self.times):
            nb = int(self.times[-1] // bin_ns) + 1
            key = self.flows.astype(np.int64) * nb + self.times // bin_ns
            uniq, counts = np.unique(key, return_counts=True)
            np.maximum.at(peak, uniq // nb, counts * (1e9 / bin_ns))
        return peak

    def chunks(self, duration_ns: int) -> Iterator[Chunk]:
        end = int(np.searchsorted(self.times, duration_ns))
        for a in range(0, max(end, 1), CHUNK_PACKETS):
            b = min(end, a + CHUNK_PACKETS)
            last = duration_ns if b == end else int(self.times[b - 1]) + 1
            yield Chunk(self.times[a:b], self.flows[a:b], last)


# ---------------------------------------------------------------- containers
class _Records:
    """Per-packet columns of a container walk, int64 arrays: time (ns; pcapng
    only, pcap times are gathered later), frame offset, captured and original
    length, link type (one for a pcap file, one per packet for pcapng)."""

    def __init__(self) -> None:
        self.ts = self.off = self.cap = self.orig = None
        self.link = np.zeros(1, dtype=np.int64)
        self.link_per_packet = False


def _walk_pcap(data, notes: list[str], rec: _Records, progress: Progress | None) -> None:
    # the only sequential step: follow the chain of record lengths (in C,
    # without the GIL); the record headers are then gathered at once
    order, _ = _PCAP_MAGIC[bytes(data[:4])]
    size = len(data)
    if size < 24:
        raise ValueError("truncated pcap global header")
    rec.link = np.array([struct.unpack_from(order + "I", data, 20)[0] & 0x0FFFFFFF], np.int64)
    parts = []
    off, n = 24, 0
    while True:
        out = np.empty(min(BLOCK, max(1, (size - off) // 16)), dtype=np.int64)
        k, off = pcap_walk(data, off, order == ">", out)
        parts.append(out[:k])
        n += k
        if k < len(out) or off >= size:
            break
        if progress is not None:
            progress(off, size)
    rec.off = np.concatenate(parts)
    if off < size:
        if off + 16 > size:
            notes.append(f"truncated capture: read {n} packets, partial record header "
                         f"at byte {off}")
        else:
            caplen = struct.unpack_from(order + "I", data, off + 8)[0]
            notes.append(f"truncated capture: read {n} packets, record at byte {off} "
                         f"needs {caplen} bytes, {size - off - 16} left")


def _pcap_headers(buf: np.ndarray, off: np.ndarray) -> tuple[np.ndarray, ...]:
    """Times (ns), captured and original lengths of pcap records, gathered at once."""
    order, mult = _PCAP_MAGIC[bytes(buf[:4])]
    hdr = buf[(off - 16)[:, None] + np.arange(16)].view(np.dtype(order + "u4")).reshape(-1, 4)
    ts = hdr[:, 0].astype(np.int64) * 1_000_000_000 + hdr[:, 1].astype(np.int64) * mult
    return ts, hdr[:, 2].astype(np.int64), hdr[:, 3].astype(np.int64)


def _ns(ticks: int, res: int) -> int:
    """Timestamp units of an ``if_tsresol`` to nanoseconds (exact, Python ints)."""
    if res & 0x80:
        return ticks * 1_000_000_000 >> (res & 0x7F)
    e = res
    return ticks * 10 ** (9 - e) if e <= 9 else ticks // 10 ** (e - 9)


def _walk_pcapng(data, notes: list[str], rec: _Records, progress: Progress | None) -> None:
    # runs of packet blocks are walked in C (pcapng_walk); section headers,
    # interface descriptions and damaged blocks come back here, one at a time
    size = len(data)
    off = 0
    order = "<"
    section: list[tuple[int, int, int, int]] = []   # (linktype, tsresol, tsoff ns, snaplen)
    ifaces: list[tuple[int, int, int, int]] = []    # every section's, in file order
    base = 0                                        # index of the section's first in ifaces
    parts: list[dict] = []
    n = 0
    while off < size:
        if section:
            pk, off, why = pcapng_walk(data, off, order == ">", len(section), section[0][3])
            if len(pk["data"]):
                pk["iface"] = np.where(pk["iface"] >= 0, pk["iface"] + base, -1 - base)
                parts.append(pk)
                n += len(pk["data"])
                if progress is not None:
                    progress(off, size)
            if why != 2:
                continue
        # one block here: a section header, an interface, or damage
        if off + 12 > size:
            notes.append(f"truncated capture: read {n} packets, partial block at byte {off}")
            break
        if bytes(data[off:off + 4]) == _PCAPNG_SHB:
            bom = bytes(data[off + 8:off + 12])
            if bom == b"\x4d\x3c\x2b\x1a":
                order = "<"
            elif bom == b"\x1a\x2b\x3c\x4d":
                order = ">"
            else:
                raise ValueError(f"pcapng section at byte {off} has a bad byte-order "
                                 f"magic {bom.hex()}")
            section = []
            base = len(ifaces)
        btype, blen = struct.unpack_from(order + "II", data, off)
        if blen < 12 or blen % 4 or off + blen > size:
            notes.append(f"truncated capture: read {n} packets, damaged block at byte {off}")
            break
        body = off + 8                                   # body: [body, off + blen - 4)
        end = off + blen - 4
        if btype == 1:                                   # interface description
            linktype, _res, snap = struct.unpack_from(order + "HHI", data, body)
            tsresol, tsoff = 6, 0
            o = body + 8
            while o + 4 <= end:
                code, olen = struct.unpack_from(order + "HH", data, o)
                if code == 0:
                    break
                if code == 9 and olen >= 1:
                    tsresol = int(data[o + 4])
                elif code == 14 and olen >= 8:
                    tsoff = struct.unpack_from(order + "q", data, o + 4)[0] * 1_000_000_000
                o += 4 + olen + (-olen % 4)
            section.append((linktype, tsresol, tsoff, snap))
            ifaces.append(section[-1])
        elif btype in (6, 2, 3):                         # a packet block the walk refused
            iface = 0 if btype == 3 else struct.unpack_from(
                order + ("I" if btype == 6 else "H"), data, body)[0]
            if iface >= len(section):
                raise ValueError(f"pcapng packet at byte {off} names interface {iface}, "
                                 f"but only {len(section)} are described")
            frame = body + (4 if btype == 3 else 20)
            caplen = 0 if btype == 3 else struct.unpack_from(order + "I", data, body + 12)[0]
            if frame + caplen > end:
                notes.append(f"truncated capture: read {n} packets, packet block at byte "
                             f"{off} claims {caplen} bytes, {end - frame} in the block")
                break
            raise ValueError(f"pcapng packet block at byte {off} is malformed "
                             f"({blen} bytes)")
        off += blen
    _pcapng_columns(parts, ifaces, rec)


def _pcapng_columns(parts: list[dict], ifaces: list, rec: _Records) -> None:
    """Times (ns), lengths, offsets and link types of the walked packets."""
    cat = {k: (np.concatenate([p[k] for p in parts]) if parts
               else np.zeros(0, np.uint64 if k == "ticks" else np.int64))
           for k in ("iface", "ticks", "data", "caplen", "origlen")}
    gi = cat["iface"]
    has_ts = gi >= 0
    owner = np.where(has_ts, gi, -1 - gi)           # a Simple Packet Block: interface 0
    ns = np.zeros(len(gi), dtype=np.int64)
    for g in np.unique(owner[has_ts]).tolist():
        m = has_ts & (owner == g)
        ns[m] = _ticks_ns(cat["ticks"][m], ifaces[g][1], ifaces[g][2], cat["data"][m] - 28)
    # a Simple Packet Block takes the time of the packet before it (0 at first)
    last = np.maximum.accumulate(np.where(has_ts, np.arange(len(gi)), -1)) if len(gi) else gi
    ns = np.where(last >= 0, ns[np.maximum(last, 0)], 0)
    links = np.array([i[0] for i in ifaces] or [0], dtype=np.int64)
    rec.ts, rec.off, rec.cap, rec.orig = ns, cat["data"], cat["caplen"], cat["origlen"]
    rec.link = links[owner] if len(gi) else np.zeros(0, np.int64)
    rec.link_per_packet = True


def _ticks_ns(ticks: np.ndarray, res: int, tsoff: int, where: np.ndarray) -> np.ndarray:
    """Timestamps of one interface (``if_tsresol`` res, ``if_tsoffset`` ns) to ns, exact.

    Vectorised when no intermediate can overflow, else with Python integers.
    ``where`` (each packet's block offset) names the packet of an error.
    """
    top = (1 << 63) - 1
    if not len(ticks):
        return np.zeros(0, dtype=np.int64)
    hi = int(ticks.max())
    k = res & 0x7F
    ns = None
    if abs(tsoff) <= 1 << 62:
        if res & 0x80:
            if k <= 30 and (hi >> k) * 10**9 + 10**9 + abs(tsoff) <= top:
                frac = ((ticks & np.uint64((1 << k) - 1)) * np.uint64(10**9)) >> np.uint64(k)
                ns = ((ticks >> np.uint64(k)).astype(np.int64) * 10**9
                      + frac.astype(np.int64))
        elif res <= 9:
            if hi * 10 ** (9 - res) + abs(tsoff) <= top:
                ns = ticks.astype(np.int64) * 10 ** (9 - res)
        elif res <= 28:
            ns = (ticks // np.uint64(10 ** (res - 9))).astype(np.int64)
    if ns is None:                                   # exact, with Python integers
        vals = [_ns(int(t), res) + tsoff for t in ticks.tolist()]
        bad = next((i for i, v in enumerate(vals) if not 0 <= v <= top), None)
        if bad is not None:
            raise ValueError(f"pcapng packet at byte {int(where[bad])}: timestamp "
                             f"{vals[bad]} ns is out of range")
        return np.array(vals, dtype=np.int64)
    ns += tsoff
    bad = np.flatnonzero(ns < 0)
    if len(bad):
        raise ValueError(f"pcapng packet at byte {int(where[bad[0]])}: timestamp "
                         f"{int(ns[bad[0]])} ns is out of range")
    return ns


# ------------------------------------------------------------ the dpkt decoder
def _decode(dpkt, linktype: int, frame: bytes):
    """The (src, dst, sport, dport, proto) of a frame with dpkt, or None (flowless)."""
    try:
        if linktype == 1:
            ip = dpkt.ethernet.Ethernet(frame).data
        elif linktype == 113:
            ip = dpkt.sll.SLL(frame).data
        elif linktype in _RAW_IP:
            if not frame:
                return None
            ip = (dpkt.ip.IP(frame) if frame[0] >> 4 == 4 else dpkt.ip6.IP6(frame))
        else:
            return None
    except (dpkt.UnpackError, IndexError, struct.error):
        return None
    if isinstance(ip, dpkt.ip.IP):
        if (ip.offset if hasattr(ip, "offset") else ip.off & _FRAG_OFFSET):
            return None                      # a fragment past the first: no ports
        proto = ip.p
    elif isinstance(ip, dpkt.ip6.IP6):
        proto = getattr(ip, "p", ip.nxt)     # after the extension headers
    else:
        return None
    l4 = ip.data
    sport = dport = 0
    if isinstance(l4, (dpkt.tcp.TCP, dpkt.udp.UDP)):
        sport, dport = l4.sport, l4.dport
    elif proto in (6, 17) and isinstance(l4, bytes) and len(l4) >= 4:
        sport, dport = struct.unpack_from("!HH", l4)   # a header dpkt could not finish
    return (bytes(ip.src), bytes(ip.dst), sport, dport, proto)


def _import_dpkt():
    try:
        import dpkt
    except ImportError:
        return None
    return dpkt


# ------------------------------------------------------------ the fast decoder
# Key record (pcapread.pxd, PFO_PCAP_KEY_LEN): version (0 flowless, 4, 6), src,
# dst (16 bytes each, IPv4 in the first 4), sport, dport (big-endian), proto.
_KEY_LEN = 38


def _fast_decode(buf: np.ndarray, off: np.ndarray, cap: np.ndarray, link: np.ndarray,
                 keys: np.ndarray) -> np.ndarray:
    """Fill ``keys`` (n x 38 uint8, zeroed) for every packet; return the indices left to dpkt."""
    rest = np.empty(len(off), dtype=np.int64)
    k = frame_keys(buf, off, cap, link, keys, rest)
    return rest[:k]


def _key_bytes(key) -> bytes:
    """A tuple key as the fast path's 38-byte record."""
    src, dst, sp, dp, proto = key
    ver = 0 if key == FLOWLESS else (4 if len(src) == 4 else 6)
    return (bytes([ver]) + src.ljust(16, b"\0") + dst.ljust(16, b"\0")
            + struct.pack("!HHB", sp, dp, proto))


def _key_tuple(rec: bytes) -> tuple:
    ver = rec[0]
    if ver == 0:
        return FLOWLESS
    w = 4 if ver == 4 else 16
    sp, dp, proto = struct.unpack("!HHB", rec[33:38])
    return (rec[1:1 + w], rec[17:17 + w], sp, dp, proto)


def _flow_hashes(keys: list[tuple]) -> np.ndarray:
    """Toeplitz RSS hash per flow (4-tuple with ports), 0 for the flowless stream."""
    out = np.zeros(len(keys), dtype=np.uint32)
    for dtype, width in ((IPV4_TUPLE_DTYPE, 4), (IPV6_TUPLE_DTYPE, 16)):
        idx = [i for i, k in enumerate(keys) if k != FLOWLESS and len(k[0]) == width]
        if not idx:
            continue
        t = np.zeros(len(idx), dtype=dtype)
        src = np.frombuffer(b"".join(keys[i][0] for i in idx), np.uint8).reshape(-1, width)
        dst = np.frombuffer(b"".join(keys[i][1] for i in idx), np.uint8).reshape(-1, width)
        if width == 4:
            t["src_ip"] = src.astype(np.uint32) @ np.array([1 << 24, 1 << 16, 1 << 8, 1],
                                                           dtype=np.uint32)
            t["dst_ip"] = dst.astype(np.uint32) @ np.array([1 << 24, 1 << 16, 1 << 8, 1],
                                                           dtype=np.uint32)
        else:
            t["src_ip"] = src
            t["dst_ip"] = dst
        t["src_port"] = [keys[i][2] for i in idx]
        t["dst_port"] = [keys[i][3] for i in idx]
        t["proto"] = [keys[i][4] for i in idx]
        out[idx] = rss_hash_batch(t)
    return out


# ------------------------------------------------------------------- the reader
def _check_args(time_scale, engine, progress) -> None:
    if isinstance(time_scale, bool) or not isinstance(time_scale, (int, float)) \
            or not time_scale > 0 or time_scale != time_scale or time_scale == float("inf"):
        raise ValueError(f"time_scale must be a positive number, got {time_scale!r}")
    if engine not in ("fast", "dpkt"):
        raise ValueError(f"engine must be 'fast' or 'dpkt', got {engine!r}")
    if progress is not None and not callable(progress):
        raise TypeError(f"progress must be a callable or None, got {progress!r}")


def read_pcap(path: str | Path, time_scale: float = 1.0, *, engine: str = "fast",
              progress: Progress | None = None) -> Trace:
    """Read a pcap/pcapng capture into a :class:`Trace`.

    Parameters
    ----------
    path : str or pathlib.Path
    time_scale : float, default 1.0
        Multiply inter-arrival times by this (``0.01`` replays a slow capture
        100 times faster, so it can load the cores).
    engine : {"fast", "dpkt"}, default "fast"
        ``"fast"``: the memory-mapped file decoded in C and numpy, dpkt only
        for the frames it does not parse.  ``"dpkt"``: every frame
        through dpkt (the reference; same result, several times slower).
    progress : callable, optional
        Called as ``progress(bytes_done, bytes_total)`` while reading (after
        every :data:`BLOCK` packets, and once at the end).

    Returns
    -------
    Trace

    Raises
    ------
    ValueError
        Not a pcap/pcapng file, no IP packet in it, a bad ``time_scale`` or
        ``engine``.
    TypeError
        ``progress`` is not callable.
    OSError
        The file cannot be read.
    paraflowo.errors.MissingDependency
        ``engine="dpkt"`` and dpkt is not installed (an :class:`ImportError`
        whose message says how to install it).

    Notes
    -----
    Both engines return identical traces (times, flow ids, lengths, keys,
    hashes); the fast one reads several hundred thousand packets per second
    where dpkt reads a few tens of thousands (``benchmarks/bench_pcap.py``).

    Examples
    --------
    >>> import struct, tempfile, pathlib
    >>> from paraflowo.sim.pcap import read_pcap
    >>> hdr = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 101)   # raw IP
    >>> ip = bytes.fromhex("450000200000000040110000" "0a000001" "0a000002")
    >>> udp = struct.pack("!HHHH", 5000, 53, 12, 0) + b"abcd"
    >>> rec = lambda us: struct.pack("<IIII", 1, us, 32, 32) + ip + udp
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "t.pcap"
    >>> _ = p.write_bytes(hdr + rec(0) + rec(250))
    >>> tr = read_pcap(p)
    >>> tr.times.tolist(), tr.keys
    ([0, 250000], [(b'\\n\\x00\\x00\\x01', b'\\n\\x00\\x00\\x02', 5000, 53, 17)])
    """
    require_path("path", path)
    _check_args(time_scale, engine, progress)
    dpkt = _import_dpkt()
    if engine == "dpkt" and dpkt is None:
        raise MissingDependency("the dpkt reader", "dpkt", "pcap")
    path = Path(path)
    if path.stat().st_size == 0:
        raise ValueError(f"{path}: not a pcap or pcapng capture (magic empty)")
    # the map closes when the last view of it goes (every array returned is a copy)
    buf = np.memmap(path, dtype=np.uint8, mode="r").view(np.ndarray)
    return _read(path, buf, float(time_scale), engine, dpkt, progress)


#: Packets decoded per block: bounds the reader's temporaries (about 100 bytes
#: a packet) whatever the capture's size.
BLOCK = 1 << 18


def _read(path: Path, buf: np.ndarray, time_scale: float, engine: str, dpkt,
          progress: Progress | None) -> Trace:
    magic = bytes(buf[:4])
    notes: list[str] = []
    rec = _Records()
    pcap = magic in _PCAP_MAGIC
    if pcap:
        _walk_pcap(buf, notes, rec, progress)
    elif magic == _PCAPNG_SHB:
        _walk_pcapng(buf, notes, rec, progress)
    else:
        raise ValueError(f"{path}: not a pcap or pcapng capture (magic {magic.hex()})")
    off = np.asarray(rec.off)
    n = len(off)
    t = np.empty(n, dtype=np.int64)
    lengths = np.empty(n, dtype=np.uint32)
    fids = np.empty(n, dtype=np.int32)
    ids: dict[bytes, int] = {}                 # 38-byte key -> flow id (first appearance)
    flow_keys: list[tuple] = []
    n_flowless = undecoded = 0
    for a in range(0, n, BLOCK):
        b = min(n, a + BLOCK)
        o = off[a:b]
        if pcap:
            t[a:b], cap, orig = _pcap_headers(buf, o)
            link = np.full(b - a, rec.link[0], dtype=np.int64)
        else:
            t[a:b] = rec.ts[a:b]
            cap, orig, link = rec.cap[a:b], rec.orig[a:b], rec.link[a:b]
        lengths[a:b] = orig
        keys = np.zeros((b - a, _KEY_LEN), dtype=np.uint8)
        rest = (_fast_decode(buf, o, cap, link, keys) if engine == "fast"
                else np.arange(b - a))
        for i in rest.tolist():
            if dpkt is None:
                undecoded += 1
                continue
            key = _decode(dpkt, int(link[i]), bytes(buf[o[i]:o[i] + cap[i]]))
            keys[i] = np.frombuffer(_key_bytes(key if key is not None else FLOWLESS), np.uint8)
        n_flowless += int((keys[:, 0] == 0).sum())
        # flow ids by first appearance: per block, then across blocks
        uniq, first, inverse = np.unique(keys.view(f"V{_KEY_LEN}").ravel(),
                                         return_index=True, return_inverse=True)
        gid = np.empty(len(uniq), dtype=np.int32)
        for j in np.argsort(first, kind="stable").tolist():
            kb = uniq[j].tobytes()
            g = ids.get(kb)
            if g is None:
                g = ids[kb] = len(flow_keys)
                flow_keys.append(_key_tuple(kb))
            gid[j] = g
        fids[a:b] = gid[inverse.ravel()]
        if progress is not None:
            progress(int(o[-1]), len(buf))
    if undecoded:
        notes.append(f"{undecoded} packets need dpkt to decode (802.3/LLC, MPLS, PPPoE, "
                     f"IPv6 extension headers or cut IP headers); replayed as flowless: "
                     f"pip install 'paraflowo[pcap]' to decode them")
    if progress is not None:
        progress(len(buf), len(buf))
    if n == 0 or n_flowless == n:
        raise ValueError(f"{path}: no IP packets in the capture"
                         + (f" ({notes[0]})" if notes else ""))
    if n_flowless:
        notes.append(f"{n_flowless} packets without a 5-tuple (non-IP frames, IPv4 "
                     f"fragments past the first) replayed as one flowless stream")
    if (np.diff(t) < 0).any():
        order = np.argsort(t, kind="stable")
        notes.append("capture timestamps were not in order; sorted them")
        t, fids, lengths = t[order], fids[order], lengths[order]
    t -= t[0]
    if time_scale != 1.0:
        t = np.floor(t * time_scale).astype(np.int64)
    return Trace(t, fids, lengths, flow_keys, _flow_hashes(flow_keys), notes)
