"""The live dataplane: ParaFlowO on real threads, real packets and real TCP.

One vSwitch thread (ingress: parse, Toeplitz hash, the policy's steering;
egress: the policy's reorder and release, delay feedback) and N worker
threads running a network function, joined by single-producer /
single-consumer rings of 32-byte metadata records; packet bytes stay in a
packet store and travel by handle.  See the "Live dataplane" docs page.

Entry points: :func:`run_trace` (offline replay of a pcap/pcapng capture) and
:func:`run_bridge` (two interfaces, AF_PACKET, Linux and root only).  The
capture reader and writer here keep the packet bytes (the simulator's reader
keeps only arrivals and tuples).
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from paraflowo._checks import require_int, require_number
from paraflowo._core.dataplane import Dataplane
from paraflowo._core.nf import (
    NF, NF_NAMES, CounterNF, DropNF, SleepNF, SpinNF, calibrate_spin, make_nf)
from paraflowo._core.policies import (
    POLICY_NAMES, ParaFlowOPolicy, Policy, RSSPolicy, RSSPPPolicy, SprayPolicy, make_policy)

__all__ = [
    "Dataplane", "NF", "SpinNF", "SleepNF", "CounterNF", "DropNF", "NF_NAMES", "calibrate_spin",
    "make_nf", "Policy", "RSSPolicy", "SprayPolicy", "RSSPPPolicy", "ParaFlowOPolicy",
    "POLICY_NAMES", "make_policy", "Capture", "read_capture", "write_pcap", "run_trace",
    "run_bridge", "summarize", "recount_reordered", "flow_label", "rss_tuple",
]

LINKTYPE_ETHERNET = 1
_PCAP_MAGIC = {
    b"\xd4\xc3\xb2\xa1": ("<", 1000),   # little-endian, microseconds
    b"\xa1\xb2\xc3\xd4": (">", 1000),
    b"\x4d\x3c\xb2\xa1": ("<", 1),      # nanoseconds
    b"\xa1\xb2\x3c\x4d": (">", 1),
}
_PCAPNG_SHB = b"\x0a\x0d\x0d\x0a"


@dataclass
class Capture:
    """Ethernet frames with their bytes: ``data[offsets[i]:offsets[i]+lengths[i]]``
    is frame i, captured at ``ts_ns[i]`` (ns, as recorded)."""

    data: np.ndarray          # uint8, every frame back to back
    offsets: np.ndarray       # int64
    lengths: np.ndarray       # uint32 (captured bytes)
    ts_ns: np.ndarray         # int64
    notes: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.offsets)

    def packet(self, i: int) -> bytes:
        o = int(self.offsets[i])
        return self.data[o:o + int(self.lengths[i])].tobytes()

    @classmethod
    def from_packets(cls, packets: list[bytes], ts_ns=None) -> "Capture":
        """A capture of `packets` (bytes), at `ts_ns` (default 1 us apart)."""
        lengths = np.array([len(p) for p in packets], dtype=np.uint32)
        offsets = np.zeros(len(packets), dtype=np.int64)
        if len(packets):
            offsets[1:] = np.cumsum(lengths[:-1], dtype=np.int64)
        data = np.frombuffer(b"".join(packets), dtype=np.uint8).copy()
        ts = (np.arange(len(packets), dtype=np.int64) * 1000 if ts_ns is None
              else np.asarray(ts_ns, dtype=np.int64))
        return cls(data, offsets, lengths, ts)


def read_capture(path: str | Path) -> Capture:
    """Read a pcap (either byte order, us or ns) or pcapng capture of
    Ethernet frames, keeping the bytes.

    Raises
    ------
    ValueError
        Not a pcap/pcapng file, or a link type other than Ethernet (1).
    OSError
        The file cannot be read.
    TypeError
        `path` is not a str or path.
    """
    _check_path(path)
    buf = Path(path).read_bytes()
    if len(buf) >= 24 and buf[:4] in _PCAP_MAGIC:
        frames, ts, notes = _read_pcap(buf)
    elif buf[:4] == _PCAPNG_SHB:
        frames, ts, notes = _read_pcapng(buf)
    else:
        raise ValueError(f"path must be a pcap or pcapng capture, got {str(path)!r}")
    cap = Capture(np.frombuffer(b"".join(buf[a:b] for a, b in frames) or b"",
                                dtype=np.uint8).copy(),
                  np.zeros(len(frames), np.int64),
                  np.array([b - a for a, b in frames], dtype=np.uint32),
                  np.array(ts, dtype=np.int64), notes)
    if len(frames):
        cap.offsets[1:] = np.cumsum(cap.lengths[:-1], dtype=np.int64)
    return cap


def _check_path(path) -> None:
    import os
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    if "\0" in str(path):
        raise ValueError(f"path must not contain NUL bytes, got {str(path)!r}")


def _bytes_arg(name: str, v) -> bytes:
    if isinstance(v, (str, int)) or v is None:
        raise TypeError(f"{name} must be a bytes-like object, got {type(v).__name__}")
    try:
        return bytes(memoryview(v).cast("B"))
    except TypeError:
        raise TypeError(f"{name} must be a bytes-like object, got "
                        f"{type(v).__name__}") from None


def _linktype_check(lt: int) -> None:
    if lt != LINKTYPE_ETHERNET:
        raise ValueError(f"linktype must be 1 (Ethernet) for the dataplane, got {lt}")


def _read_pcap(buf: bytes):
    end, unit = _PCAP_MAGIC[buf[:4]]
    _linktype_check(struct.unpack_from(end + "I", buf, 20)[0] & 0x0FFFFFFF)
    frames, ts, notes = [], [], []
    off = 24
    rec = struct.Struct(end + "IIII")
    while off + 16 <= len(buf):
        sec, frac, incl, _orig = rec.unpack_from(buf, off)
        if off + 16 + incl > len(buf):
            notes.append(f"capture cut short after {len(frames)} packets")
            break
        frames.append((off + 16, off + 16 + incl))
        ts.append(sec * 1_000_000_000 + frac * unit)
        off += 16 + incl
    return frames, ts, notes


def _read_pcapng(buf: bytes):
    frames, ts, notes = [], [], []
    off, end = 0, "<"
    ifaces: list[int] = []          # ns per timestamp unit, per interface
    last_ts = 0
    while off + 12 <= len(buf):
        if buf[off:off + 4] == _PCAPNG_SHB:
            end = "<" if buf[off + 8:off + 12] == b"\x4d\x3c\x2b\x1a" else ">"
            ifaces = []
        btype, blen = struct.unpack_from(end + "II", buf, off)
        if blen < 12 or off + blen > len(buf):
            notes.append(f"capture cut short after {len(frames)} packets")
            break
        body = off + 8
        if btype == 1:                                       # interface description
            _linktype_check(struct.unpack_from(end + "H", buf, body)[0])
            unit = 1000                                      # default: microseconds
            o = body + 8
            while o + 4 <= off + blen - 4:
                code, olen = struct.unpack_from(end + "HH", buf, o)
                if code == 0:
                    break
                if code == 9 and olen >= 1:
                    r = buf[o + 4]
                    per_s = 2 ** (r & 0x7F) if r & 0x80 else 10 ** r
                    unit = 1_000_000_000 / per_s
                o += 4 + (olen + 3) // 4 * 4
            ifaces.append(unit)
        elif btype == 6:                                     # enhanced packet
            iface, hi, lo, caplen = struct.unpack_from(end + "IIII", buf, body)
            unit = ifaces[iface] if iface < len(ifaces) else 1000
            last_ts = int(((hi << 32) | lo) * unit)
            frames.append((body + 20, body + 20 + caplen))
            ts.append(last_ts)
        elif btype == 3:                                     # simple packet
            (orig,) = struct.unpack_from(end + "I", buf, body)
            caplen = min(orig, blen - 16)
            frames.append((body + 4, body + 4 + caplen))
            ts.append(last_ts)
        off += blen
    return frames, ts, notes


def write_pcap(path: str | Path, data, offsets, lengths, ts_ns) -> int:
    """Write frames to a nanosecond pcap (Ethernet); returns the count.

    `data` is ``uint8``, `offsets` and `ts_ns` ``int64`` (>= 0), `lengths`
    ``uint32`` (at most 65535), all 1-D numpy arrays (as in a :class:`Capture`);
    every frame must lie inside `data`.  Checked before the file is opened.
    """
    _check_path(path)
    for name, a, dt in (("data", data, np.uint8), ("offsets", offsets, np.int64),
                        ("lengths", lengths, np.uint32), ("ts_ns", ts_ns, np.int64)):
        if not isinstance(a, np.ndarray):
            raise TypeError(f"{name} must be a numpy.ndarray of dtype "
                            f"{np.dtype(dt).name}, got {type(a).__name__}")
        if a.dtype != dt:
            raise TypeError(f"{name} must have dtype {np.dtype(dt).name}, got {a.dtype}")
        if a.ndim != 1:
            raise ValueError(f"{name} must be 1-dimensional, got shape {a.shape}")
    n = len(offsets)
    if len(lengths) != n or len(ts_ns) != n:
        raise ValueError(f"lengths and ts_ns must have {n} entries (as offsets), got "
                         f"{len(lengths)} and {len(ts_ns)}")
    if n and ((offsets < 0).any() or (offsets + lengths.astype(np.int64) > len(data)).any()):
        raise ValueError("offsets and lengths must lie inside data")
    if n and (lengths > 0xFFFF).any():
        raise ValueError(f"lengths must be at most 65535, got {int(lengths.max())}")
    if n and (ts_ns < 0).any():
        raise ValueError(f"ts_ns must be >= 0, got {int(ts_ns.min())}")
    mv = memoryview(np.ascontiguousarray(data))
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B23C4D, 2, 4, 0, 0, 65535, LINKTYPE_ETHERNET))
        hdr = struct.Struct("<IIII")
        for i in range(n):
            o, ln, t = int(offsets[i]), int(lengths[i]), int(ts_ns[i])
            f.write(hdr.pack(t // 1_000_000_000, t % 1_000_000_000, ln, ln))
            f.write(mv[o:o + ln])
    return n


def rss_tuple(frame: bytes) -> bytes:
    """The RSS input the dataplane hashes for an Ethernet frame (pure Python,
    the same rule as ``dp_io.h``): IPv4/IPv6 addresses, then the TCP/UDP ports
    unless the packet is a non-first fragment; ``b""`` for non-IP frames."""
    frame = _bytes_arg("frame", frame)
    off, n = 14, len(frame)
    if n < 14:
        return b""
    et = int.from_bytes(frame[12:14], "big")
    while et in (0x8100, 0x88A8) and n >= off + 4:
        et = int.from_bytes(frame[off + 2:off + 4], "big")
        off += 4
    if et == 0x0800 and n >= off + 20 and frame[off] >> 4 == 4:
        ihl = (frame[off] & 15) * 4
        proto, rss, l4 = frame[off + 9], frame[off + 12:off + 20], off + ihl
        ports = ihl >= 20 and int.from_bytes(frame[off + 6:off + 8], "big") & 0x1FFF == 0
    elif et == 0x86DD and n >= off + 40:
        proto, rss, l4, ports = frame[off + 6], frame[off + 8:off + 40], off + 40, True
    else:
        return b""
    if ports and proto in (6, 17) and n >= l4 + 4:
        rss += frame[l4:l4 + 4]
    return bytes(rss)


def flow_label(rss: bytes) -> str:
    """A readable flow name from the dataplane's RSS input bytes."""
    rss = _bytes_arg("rss", rss)
    if len(rss) in (8, 12):
        a, b = ipaddress.IPv4Address(rss[:4]), ipaddress.IPv4Address(rss[4:8])
    elif len(rss) in (32, 36):
        a, b = ipaddress.IPv6Address(rss[:16]), ipaddress.IPv6Address(rss[16:32])
    else:
        return "non-IP"
    if len(rss) in (12, 36):
        sp, dp = struct.unpack("!HH", rss[-4:])
        return f"{a}:{sp} > {b}:{dp}"
    return f"{a} > {b}"


_RAW_KEYS = ("seconds", "packets_in", "packets_out", "dropped_flag", "dropped_room",
             "tx_errors", "out_of_order", "worker_busy_ns", "worker_packets",
             "worker_cpu_ns", "vswitch_cpu_ns", "bytes_in", "bytes_out", "not_offered",
             "untracked", "nf_errors", "max_delay_ns", "window_waits", "backpressure",
             "stopped", "worker_starved_ns", "naps")


def summarize(dp: Dataplane, raw: dict[str, Any]) -> dict[str, Any]:
    """The run's report: the JSON keys of ``paraflowo dataplane --json``.

    `raw` is the dict ``Dataplane.run_trace_arrays`` / ``run_bridge`` returned."""
    if not isinstance(dp, Dataplane):
        raise TypeError(f"dp must be a Dataplane, got {type(dp).__name__}")
    if not isinstance(raw, dict):
        raise TypeError(f"raw must be a dict (a run's result), got {type(raw).__name__}")
    missing = [k for k in _RAW_KEYS if k not in raw]
    if missing:
        raise ValueError(f"raw must be a run's result (Dataplane.run_trace_arrays or "
                         f"run_bridge), got a dict without {missing[0]!r}")
    sec = max(raw["seconds"], 1e-9)
    flows = sorted(dp.flow_stats(), key=lambda f: -f[1])
    out = {
        "policy": dp.policy.name,
        "nf": dp.nf.name,
        "workers": dp.n_workers,
        "packets_in": raw["packets_in"],
        "packets_out": raw["packets_out"],
        "dropped": raw["dropped_flag"] + raw["dropped_room"] + raw["tx_errors"],
        "dropped_flag": raw["dropped_flag"],
        "dropped_room": raw["dropped_room"],
        "tx_errors": raw["tx_errors"],
        "out_of_order": raw["out_of_order"],
        "worker_utilization": [min(1.0, b / 1e9 / sec) for b in raw["worker_busy_ns"]],
        "worker_packets": raw["worker_packets"],
        # CPU time each worker thread got (NF, polling, spinning), over wall time:
        # below the utilization when the machine's cores are shared with others
        "worker_cpu_share": [c / 1e9 / sec for c in raw["worker_cpu_ns"]],
        # share of the run each worker found its rx ring empty (waiting for
        # the vSwitch): what keeps a worker idle although the trace has work
        "worker_starved": [min(1.0, s / 1e9 / sec) for s in raw["worker_starved_ns"]],
        "vswitch_cpu_share": raw["vswitch_cpu_ns"] / 1e9 / sec,
        # CPU time of all the dataplane's threads per packet that left: the cost
        # a policy pays per packet, whatever share of the machine it was given
        "cpu_ns_per_packet": (sum(raw["worker_cpu_ns"]) + raw["vswitch_cpu_ns"])
        / max(1, raw["packets_out"]),
        "seconds": raw["seconds"],
        "mpps": raw["packets_out"] / sec / 1e6,
        "bytes_in": raw["bytes_in"],
        "bytes_out": raw["bytes_out"],
        "not_offered": raw["not_offered"],
        "untracked": raw["untracked"],
        "nf_errors": raw["nf_errors"],
        "max_delay_ns": raw["max_delay_ns"],
        "window_waits": raw["window_waits"],
        "vswitch_cpu_ns": raw["vswitch_cpu_ns"],
        "vswitch_naps": raw["naps"],
        "backpressure": raw["backpressure"],
        "stopped": raw["stopped"],
        "flows": [{"flow": flow_label(r), "packets_in": pi, "packets_out": po,
                   "out_of_order": ro} for r, pi, po, ro in flows],
        "policy_stats": dp.policy.stats(),
    }
    if "ignore_outgoing" in raw:
        out["ignore_outgoing"] = raw["ignore_outgoing"]
    return out


STORE_BUDGET = 64 << 20     # packet store bytes when slots are large (jumbo captures)
CAPTURE_LIMIT = 2 << 30     # bytes of egress kept in memory for --pcap-out


def store_slots_for(slot_bytes: int, wanted: int = 16384) -> int:
    """Packet store slots: `wanted`, or fewer when `slot_bytes` is large, so the
    store stays within 64 MiB (at least 1024 slots)."""
    return max(1024, min(wanted, STORE_BUDGET // max(1, slot_bytes)))


def _check_run(progress, interval, dataplane, knobs):
    # run_trace / run_bridge: the arguments that only matter once threads run,
    # checked before anything is built or started.
    if progress is not None and not callable(progress):
        raise TypeError(f"progress must be callable or None, got {progress!r}")
    iv = require_number("interval", interval)
    if not 0 < iv <= 86400:
        raise ValueError(f"interval must be in (0, 86400] seconds, got {interval!r}")
    if dataplane is not None and not isinstance(dataplane, Dataplane):
        raise TypeError(f"dataplane must be a Dataplane or None, got {dataplane!r}")
    if knobs is not None and not isinstance(knobs, dict):
        raise TypeError(f"knobs must be a dict or None, got {knobs!r}")
    return iv


def _build(policy, workers, nf, knobs, ring, batch, store_slots, slot_bytes):
    n = require_int("workers", workers, 1, 64)
    pol = policy if isinstance(policy, Policy) else make_policy(policy, n, **(knobs or {}))
    if pol.n_cores != n:
        raise ValueError(f"policy must have {n} cores (workers), got {pol.n_cores}")
    return Dataplane(pol, make_nf(nf), ring=ring, batch=batch,
                     store_slots=store_slots_for(slot_bytes, store_slots), slot_bytes=slot_bytes)


def run_trace(capture: Capture, *, policy="paraflowo", workers: int = 2, nf="forward",
              speed: float | None = None, loops: int = 1, capture_out: bool = False,
              knobs: dict | None = None, ring: int = 1024, batch: int = 32,
              store_slots: int = 16384, progress: Callable | None = None,
              interval: float = 1.0, dataplane: Dataplane | None = None):
    """Replay `capture` through a dataplane; returns ``(report, egress)``.

    Parameters
    ----------
    speed : float or None
        Offer packets at their recorded pace times `speed` (2.0: twice as
        fast); None: as fast as possible (the reader waits only for room).
    loops : int
        Replay the capture this many times back to back.
    capture_out : bool
        Keep the egress packets: `egress` is then a :class:`Capture` in egress
        order (timestamps: ns since the run began), else None.
    knobs : dict
        Keyword arguments of :func:`make_policy` (``n_para``, ``alpha``,
        ``threshold``, ``timeout_ns``, ``window``, ...).

    policy : str or Policy
        ``rss``, ``spray``, ``paraflowo`` or ``rsspp`` (built for `workers`
        cores with `knobs`), or a policy object.
    nf : str or NF
        ``forward``, ``spin:NS``, ``spin-bytes:NS``, ``sleep:NS``,
        ``counter``, ``drop:P`` or an NF object.
    dataplane : Dataplane, optional
        Run on this one instead of building one (its policy and NF then).

    Returns
    -------
    report : dict
        ``packets_in``, ``packets_out``, ``dropped``, ``out_of_order``,
        ``worker_utilization``, ``seconds``, ``mpps``, per-flow ``flows`` and
        more (see :func:`summarize`).
    egress : Capture or None

    Raises
    ------
    ValueError
        An empty capture, a frame over 65535 bytes, `speed` <= 0, `loops` < 1,
        or an egress capture that would exceed 2 GiB.
    RuntimeError
        The dataplane (or its policy) is already running.

    Notes
    -----
    Offline replay loses nothing: when a worker's ring or the packet store is
    full, the reader waits (backpressure).  ``report["packets_in"] ==
    report["packets_out"] + report["dropped"]`` always holds at the end.
    """
    if not isinstance(capture, Capture):
        raise TypeError(f"capture must be a Capture (see read_capture), got "
                        f"{type(capture).__name__}")
    interval = _check_run(progress, interval, dataplane, knobs)
    loops = require_int("loops", loops, 1, 1 << 30)
    if speed is not None:
        sp = require_number("speed", speed)
        if not sp > 0:
            raise ValueError(f"speed must be > 0 or None (as fast as possible), got {speed!r}")
    if len(capture) == 0:
        raise ValueError("capture must hold at least one packet, got 0")
    slot = max(64, int(capture.lengths.max()))
    if slot > 0xFFFF:
        raise ValueError(f"capture packets must be at most 65535 bytes, got {slot}")
    dp = dataplane or _build(policy, workers, nf, knobs, ring, batch, store_slots,
                             max(2048, (slot + 63) // 64 * 64 if slot <= 0xFFC0 else 0xFFFF))
    if capture_out and int(capture.lengths.sum()) * loops > CAPTURE_LIMIT:
        raise ValueError(f"loops must keep the egress capture within {CAPTURE_LIMIT} bytes "
                         f"({int(capture.lengths.sum())} per loop), got {loops}")
    due, span = None, 0
    if speed is not None:
        rel = capture.ts_ns - capture.ts_ns[0]
        if (np.diff(rel) < 0).any():
            rel = np.maximum.accumulate(rel)      # capture timestamps that go back
        due = (rel / sp).astype(np.int64)
        gap = int(np.median(np.diff(rel))) if len(rel) > 1 else 0
        span = int((int(rel[-1]) + gap) / sp) + 1
    raw = dp.run_trace_arrays(capture.data, capture.offsets, capture.lengths, due, loops,
                              span, capture=capture_out, progress=progress,
                              interval=interval)
    report = summarize(dp, raw)
    egress = None
    if capture_out:
        egress = Capture(raw["out_data"], raw["out_offsets"], raw["out_lengths"],
                         raw["out_ns"])
    return report, egress


def run_bridge(if_a: str, if_b: str, *, policy="paraflowo", workers: int = 2,
               nf="forward", duration: float = 0.0, knobs: dict | None = None,
               ring: int = 1024, batch: int = 32, store_slots: int = 16384,
               progress: Callable | None = None, interval: float = 1.0,
               dataplane: Dataplane | None = None) -> dict[str, Any]:
    """Forward both directions between two interfaces through the pipeline.

    AF_PACKET sockets (Linux, root or ``CAP_NET_RAW``), for `duration`
    seconds (0: until ``request_stop``, SIGINT or SIGTERM).  Turn the
    interfaces' segmentation and checksum offloads off first.

    Returns
    -------
    dict
        The report (as :func:`run_trace`'s), plus ``ignore_outgoing``.

    Raises
    ------
    OSError
        A socket cannot be opened (no such interface, no permission).
    ValueError
        `duration` < 0, the same interface twice, or a malformed name.
    TypeError
        An interface name that is not a str, a progress that is not callable.

    All arguments are checked before a socket is opened or a thread starts.
    """
    interval = _check_run(progress, interval, dataplane, knobs)
    for name, ifn in (("if_a", if_a), ("if_b", if_b)):
        if not isinstance(ifn, str):
            raise TypeError(f"{name} must be a str (an interface name), got {ifn!r}")
        if not ifn or len(ifn) >= 16 or "/" in ifn or "\0" in ifn:
            raise ValueError(f"{name} must be an interface name, got {ifn!r}")
    if if_a == if_b:
        raise ValueError(f"if_b must differ from if_a, got {if_b!r} twice")
    dur = require_number("duration", duration)
    if not 0 <= dur <= 1e9:
        raise ValueError(f"duration must be in [0, 1e9] seconds, got {duration!r}")
    dp = dataplane or _build(policy, workers, nf, knobs, ring, batch, store_slots, 2048)
    raw = dp.run_bridge(if_a, if_b, duration, progress=progress, interval=interval)
    return summarize(dp, raw)


def recount_reordered(packets_in: list[bytes], packets_out: list[bytes]) -> dict[str, int]:
    """RFC 4737 Type-P-Reordered count recomputed from the packets themselves.

    Each output packet is found in the input by its bytes (so the input's
    packets must be distinct); its flow's ingress sequence is its rank among
    that flow's input packets (flow: the dataplane's tuple).  Returns
    ``{flow_label: reordered}`` for flows with at least one output packet.
    """
    for name, v in (("packets_in", packets_in), ("packets_out", packets_out)):
        if isinstance(v, (str, bytes)) or not isinstance(v, (list, tuple)):
            raise TypeError(f"{name} must be a list of bytes, got {type(v).__name__}")
    packets_in = [_bytes_arg("packets_in", p) for p in packets_in]
    packets_out = [_bytes_arg("packets_out", p) for p in packets_out]
    seq, flow_of = {}, {}
    counters: dict[bytes, int] = {}
    for p in packets_in:
        k = rss_tuple(p)
        if p in seq:
            raise ValueError("packets_in must be distinct byte strings to be matched")
        seq[p] = counters.get(k, 0)
        counters[k] = seq[p] + 1
        flow_of[p] = k
    next_exp: dict[bytes, int] = {}
    reordered: dict[str, int] = {}
    for p in packets_out:
        if p not in flow_of:
            raise ValueError(f"packets_out must hold only packets of packets_in, got "
                             f"{bytes(p)[:16]!r}...")
        k = flow_of[p]
        lab = flow_label(k)
        reordered.setdefault(lab, 0)
        if seq[p] < next_exp.get(k, 0):
            reordered[lab] += 1
        else:
            next_exp[k] = seq[p] + 1
    return reordered
