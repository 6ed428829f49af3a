"""The fast trace reader: same Trace as the dpkt path on every capture written here.

Captures are written by hand (tests/tracegen.py) or with dpkt, in a tmp dir;
nothing is downloaded.
"""

import re
import struct

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tracegen as tg
from paraflowo.sim import pcap as pcapmod
from paraflowo.sim.pcap import FLOWLESS, read_pcap

dpkt = pytest.importorskip("dpkt")


def same(a, b):
    assert a.times.tolist() == b.times.tolist()
    assert a.flows.tolist() == b.flows.tolist()
    assert a.lengths.tolist() == b.lengths.tolist()
    assert a.keys == b.keys
    assert a.hashes.tolist() == b.hashes.tolist()
    assert a.notes == b.notes


def both(path, **kw):
    a = read_pcap(path, **kw)
    b = read_pcap(path, engine="dpkt", **kw)
    same(a, b)
    return a


@pytest.fixture(scope="module")
def records():
    return tg.elephant_and_mice(0.05, elephant_pps=40_000, n_mice=6, mice_pps=2000)


@pytest.mark.parametrize("nano", [True, False])
@pytest.mark.parametrize("big", [False, True])
def test_pcap_both_magics_both_byte_orders(tmp_path, records, nano, big):
    p = tmp_path / "t.pcap"
    tg.write_pcap(p, records, nano=nano, big=big)
    tr = both(p)
    t0 = records[0][0]
    expect = [r[0] - t0 for r in records] if nano else [r[0] // 1000 * 1000 for r in records]
    if not nano:
        expect = [t - expect[0] for t in expect]
    assert tr.times.tolist() == expect
    # the elephant, the VLAN and QinQ flows, IPv6, and the flowless stream
    assert (b"\n\0\0\x01", b"\n\0\x01\x01", 40000, 5201, 6) in tr.keys
    assert (b"\n\0\x03\x01", b"\n\0\x03\x02", 1111, 80, 6) in tr.keys
    assert (b"\n\0\x03\x03", b"\n\0\x03\x04", 2222, 80, 6) in tr.keys
    assert (tg.ip6(1), tg.ip6(2), 5353, 53, 17) in tr.keys
    assert FLOWLESS in tr.keys and tr.hashes[tr.keys.index(FLOWLESS)] == 0
    # ARP and the non-first fragment: 20 of each, flowless
    assert (tr.flows == tr.keys.index(FLOWLESS)).sum() == 40
    assert any("40 packets without a 5-tuple" in n for n in tr.notes)


@pytest.mark.parametrize("big", [False, True])
@pytest.mark.parametrize("resols", [(9,), (6, 9, 0x80 | 20), (3, 0x80 | 30), (12, 0x80 | 35),
                                    (0, 15)])
def test_pcapng_interfaces_each_with_its_resolution(tmp_path, records, big, resols):
    # packets spread over the interfaces: each interface's if_tsresol converts
    recs = [(i % len(resols), ns, f) for i, (ns, f) in enumerate(records)]
    p = tmp_path / "t.pcapng"
    tg.write_pcapng(p, recs, interfaces=[(1, r) for r in resols], big=big, sections=2)
    tr = both(p)
    # times exact to each interface's resolution, relative to the first packet
    def quant(ns, res):
        if res & 0x80:
            return ((ns << (res & 0x7F)) // 10**9 * 10**9) >> (res & 0x7F)
        if res > 9:
            return ns
        return ns // 10 ** (9 - res) * 10 ** (9 - res)
    want = np.array([quant(ns, resols[i]) for i, ns, _ in recs])
    order = np.argsort(want, kind="stable")
    assert tr.times.tolist() == (want[order] - want[order[0]]).tolist()
    assert len(tr.keys) == 6 + 1 + 3 + 1      # mice, elephant, vlan + qinq + ip6, flowless


@pytest.mark.parametrize("big", [False, True])
def test_pcapng_if_tsoffset_is_added(tmp_path, big):
    # interface 1 counts from an epoch 5 s later: its stamps are 5 s smaller
    frame = tg.tcp4("1.2.3.4", "5.6.7.8", 9, 10)
    recs = [(0, 10 * 10**9, frame), (1, 10 * 10**9 + 300, frame), (0, 10 * 10**9 + 700, frame)]
    p = tmp_path / "off.pcapng"
    tg.write_pcapng(p, recs, interfaces=[(1, 9), (1, 9)], big=big, tsoffsets=[0, 5])
    raw = p.read_bytes()
    assert struct.pack(">q" if big else "<q", 5) in raw          # the option is there
    assert both(p).times.tolist() == [0, 300, 700]


def _epb(iface, ts, frame, e="<"):
    body = struct.pack(e + "IIIII", iface, ts >> 32, ts & 0xFFFFFFFF, len(frame), len(frame))
    body += frame + b"\0" * (-len(frame) % 4)
    return struct.pack(e + "II", 6, len(body) + 12) + body + struct.pack(e + "I", len(body) + 12)


def test_pcapng_bad_packet_blocks(tmp_path):
    frame = tg.tcp4("1.2.3.4", "5.6.7.8", 9, 10)
    p = tmp_path / "bad.pcapng"
    tg.write_pcapng(p, [(0, 1000, frame)])
    good = p.read_bytes()
    p.write_bytes(good + _epb(3, 5, frame))
    for engine in ("fast", "dpkt"):
        with pytest.raises(ValueError, match="names interface 3, but only 1 are described"):
            read_pcap(p, engine=engine)
    # a Simple Packet Block with no room for its length field: cut, one note
    p.write_bytes(good + struct.pack("<III", 3, 12, 12) + _epb(0, 7, frame))
    tr = both(p)
    assert len(tr.times) == 1
    assert [n for n in tr.notes if "truncated" in n] == [
        f"truncated capture: read 1 packets, packet block at byte {len(good)} claims 0 bytes, "
        f"-4 in the block"]


def test_pcapng_timestamp_out_of_range(tmp_path):
    frame = tg.tcp4("1.2.3.4", "5.6.7.8", 9, 10)
    p = tmp_path / "neg.pcapng"
    tg.write_pcapng(p, [(0, 10 - 5 * 10**9, frame)], tsoffsets=[-5])   # before 1970
    with pytest.raises(ValueError, match=r"pcapng packet at byte \d+: timestamp -4999999990 ns "
                                         r"is out of range"):
        read_pcap(p)


def test_pcapng_simple_packet_blocks_take_the_previous_time(tmp_path, records):
    p = tmp_path / "spb.pcapng"
    tg.write_pcapng(p, [(0, ns, f) for ns, f in records[:50]], simple=True)
    tr = both(p)
    assert tr.times.tolist() == [0] * 50 and len(tr.flows) == 50


def test_dpkt_written_pcapng_and_pcap(tmp_path, records):
    for ng in (False, True):
        p = tmp_path / f"d.{'pcapng' if ng else 'pcap'}"
        with open(p, "wb") as fh:
            w = dpkt.pcapng.Writer(fh) if ng else dpkt.pcap.Writer(fh, nano=True)
            for ns, frame in records[:300]:
                w.writepkt(frame, ts=ns / 1e9)
        assert len(both(p).times) == 300


@pytest.mark.parametrize("linktype, wrap", [
    (101, lambda f: f[14:]),                                   # raw IP
    (113, lambda f: b"\0\0\0\1\0\6" + f[6:12] + b"\0\0" + f[12:]),  # Linux cooked
])
def test_raw_ip_and_linux_cooked(tmp_path, records, linktype, wrap):
    recs = [(ns, wrap(f)) for ns, f in records if f[12:14] in (b"\x08\x00", b"\x86\xdd")]
    p = tmp_path / "t.pcap"
    tg.write_pcap(p, recs, linktype=linktype)
    tr = both(p)
    assert len(tr.times) == len(recs)


def test_frames_left_to_dpkt_decode_the_same(tmp_path):
    llc = tg.ether(60, b"\xaa\xaa\x03\0\0\0\x08\0" + tg.ipv4(tg.ip4("1.1.1.1"), tg.ip4("2.2.2.2"),
                                                            6, tg.l4(6, 7, 8, 10))[:60])
    hop = tg.ether(tg.ETH_IP6, tg.ipv6(tg.ip6(5), tg.ip6(6), 0,
                                      bytes([6, 0]) + b"\0" * 6 + tg.l4(6, 9, 10, 4)))
    three_tags = tg.tcp4("9.9.9.9", "8.8.8.8", 1, 2, 0,
                         vlans=((0x88A8, 1), (0x8100, 2), (0x8100, 3)))
    recs = [(i * 1000, f) for i, f in enumerate([llc, hop, three_tags] * 5
                                                + [tg.tcp4("1.2.3.4", "5.6.7.8", 9, 10)])]
    p = tmp_path / "odd.pcap"
    tg.write_pcap(p, recs)
    both(p)


def test_without_dpkt_the_fallback_frames_are_flowless_with_a_note(tmp_path, monkeypatch):
    hop = tg.ether(tg.ETH_IP6, tg.ipv6(tg.ip6(5), tg.ip6(6), 0, bytes([6, 0]) + b"\0" * 6
                                       + tg.l4(6, 9, 10, 4)))
    recs = [(0, hop), (10, tg.tcp4("1.2.3.4", "5.6.7.8", 9, 10))]
    p = tmp_path / "t.pcap"
    tg.write_pcap(p, recs)
    monkeypatch.setattr(pcapmod, "_import_dpkt", lambda: None)
    tr = read_pcap(p)
    assert tr.keys == [FLOWLESS, (tg.ip4("1.2.3.4"), tg.ip4("5.6.7.8"), 9, 10, 6)]
    assert any("1 packets need dpkt" in n for n in tr.notes)
    with pytest.raises(ImportError, match=r"pip install 'paraflowo\[pcap\]'"):
        read_pcap(p, engine="dpkt")


@pytest.mark.parametrize("snap", [34, 36, 38, 40, 50, 54, 58, 60])
def test_snap_length_cuts_headers_the_same(tmp_path, records, snap):
    p = tmp_path / "snap.pcap"
    tg.write_pcap(p, [(ns, f, len(f)) for ns, f in records[:400]], snaplen=snap)
    tr = both(p)
    assert tr.lengths.max() > snap           # original lengths are kept


@pytest.mark.parametrize("cut, fragment", [
    (-5, "truncated capture: read 99 packets, record at byte"),
    ("hdr", "partial record header"),
])
def test_truncated_pcap_one_note(tmp_path, records, cut, fragment):
    p = tmp_path / "t.pcap"
    tg.write_pcap(p, records[:100])
    data = p.read_bytes()
    if cut == "hdr":
        data += b"\0" * 7
    else:
        data = data[:cut]
    p.write_bytes(data)
    tr = both(p)
    assert sum("truncated" in n for n in tr.notes) == 1
    assert any(fragment in n for n in tr.notes)


def test_truncated_pcapng_one_note(tmp_path, records):
    p = tmp_path / "t.pcapng"
    tg.write_pcapng(p, [(0, ns, f) for ns, f in records[:100]])
    p.write_bytes(p.read_bytes()[:-30])
    tr = both(p)
    assert len(tr.times) == 99
    assert [n for n in tr.notes if "truncated" in n] == [
        n for n in tr.notes if n.startswith("truncated capture: read 99 packets")]


def test_progress_is_reported_up_to_the_end(tmp_path, records):
    p = tmp_path / "t.pcap"
    tg.write_pcap(p, records)
    seen = []
    read_pcap(p, progress=lambda done, total: seen.append((done, total)))
    size = p.stat().st_size
    assert seen[-1] == (size, size)
    assert all(d <= t == size for d, t in seen)


@pytest.mark.parametrize("kw, exc, fragment", [
    ({"engine": "scapy"}, ValueError, "engine must be 'fast' or 'dpkt', got 'scapy'"),
    ({"progress": 3}, TypeError, "progress must be a callable or None, got 3"),
    ({"time_scale": 0}, ValueError, "time_scale must be a positive number, got 0"),
])
def test_bad_arguments(tmp_path, records, kw, exc, fragment):
    p = tmp_path / "t.pcap"
    tg.write_pcap(p, records[:5])
    with pytest.raises(exc, match=fragment):
        read_pcap(p, **kw)


def test_only_flowless_packets_is_no_ip(tmp_path):
    p = tmp_path / "arp.pcap"
    tg.write_pcap(p, [(0, tg.arp()), (5, tg.arp())])
    with pytest.raises(ValueError, match="no IP packets in the capture"):
        read_pcap(p)


# ------------------------------------------------------------------ properties
_BASE = [tg.tcp4("10.1.2.3", "10.3.2.1", 1234, 80, 30),
         tg.tcp4("10.1.2.3", "10.3.2.1", 1234, 80, 30, vlans=((0x8100, 3),)),
         tg.udp6(7, 8, 53, 5353, 12),
         tg.ether(tg.ETH_IP4, tg.ipv4(tg.ip4("1.1.1.1"), tg.ip4("2.2.2.2"), 17,
                                      tg.l4(17, 5, 6, 3), frag=0x2000)),
         tg.arp()]


@st.composite
def mangled_frames(draw):
    """Valid frames with bytes overwritten and cut: headers of every odd shape."""
    out = []
    for _ in range(draw(st.integers(1, 12))):
        f = bytearray(draw(st.sampled_from(_BASE)))
        for _ in range(draw(st.integers(0, 4))):
            i = draw(st.integers(0, len(f) - 1))
            f[i] = draw(st.integers(0, 255))
        cut = draw(st.integers(0, len(f)))
        out.append(bytes(f[:cut]) if draw(st.booleans()) else bytes(f))
    return out


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(frames=mangled_frames(), link=st.sampled_from([1, 101, 113]))
def test_fast_equals_dpkt_on_mangled_frames(tmp_path, frames, link):
    frames = [tg.tcp4("9.9.9.9", "9.9.9.8", 1, 2)] + frames     # at least one IP packet
    if link == 101:
        frames = [frames[0][14:]] + frames[1:]
    p = tmp_path / "m.pcap"
    tg.write_pcap(p, [(i * 10, f) for i, f in enumerate(frames)], linktype=link)
    try:
        a = read_pcap(p)
    except ValueError as exc:
        with pytest.raises(ValueError, match=str(exc).split(":")[-1].strip()[:20]):
            read_pcap(p, engine="dpkt")
        return
    same(a, read_pcap(p, engine="dpkt"))


def test_headers_of_a_pcap_record_are_gathered_exactly(tmp_path):
    # sec, frac, caplen, origlen of odd values: the vectorised gather reads them all
    frame = tg.tcp4("1.2.3.4", "5.6.7.8", 9, 10)
    hdr = struct.pack("<IHHiIII", 0xA1B23C4D, 2, 4, 0, 0, 65535, 1)
    rec = struct.pack("<IIII", 4_000_000_000, 999_999_999, len(frame), 70_000) + frame
    rec2 = struct.pack("<IIII", 4_000_000_001, 0, len(frame), 60) + frame
    p = tmp_path / "h.pcap"
    p.write_bytes(hdr + rec + rec2)
    tr = both(p)
    assert tr.times.tolist() == [0, 1] and tr.lengths.tolist() == [70_000, 60]


def test_pcap_walk_chunks_and_stops_at_the_damage():
    from paraflowo._core.pcapread import pcap_walk
    frame = tg.tcp4("1.2.3.4", "5.6.7.8", 9, 10)
    rec = struct.pack(">IIII", 0, 0, len(frame), len(frame)) + frame
    buf = np.frombuffer(bytes(24) + rec * 5 + rec[:20], np.uint8)
    out = np.empty(2, np.int64)
    got, off = [], 24
    while True:
        n, off = pcap_walk(buf, off, True, out)
        got += out[:n].tolist()
        if n < len(out):
            break
    assert got == [24 + 16 + i * len(rec) for i in range(5)]
    assert off == 24 + 5 * len(rec)                       # the partial record


@pytest.mark.parametrize("args, exc, fragment", [
    ((np.zeros(4, np.int8), 0, False, np.empty(1, np.int64)), TypeError, "buf must be"),
    ((np.zeros(4, np.uint8), 0, False, np.empty(1, np.int32)), TypeError, "out must be"),
    ((np.zeros(4, np.uint8), -1, False, np.empty(1, np.int64)), ValueError,
     r"offset must be in \[0, ...\], got -1"),
])
def test_pcap_walk_rejects_bad_buffers(args, exc, fragment):
    from paraflowo._core.pcapread import pcap_walk
    with pytest.raises(exc, match=fragment):
        pcap_walk(*args)


def _fk_args(n=1):
    return [np.zeros(64, np.uint8), np.zeros(n, np.int64), np.full(n, 20, np.int64),
            np.ones(n, np.int64), np.zeros((n, 38), np.uint8), np.empty(n, np.int64)]


@pytest.mark.parametrize("i, bad, exc, fragment", [
    (0, np.zeros(64, np.int8), TypeError, "buf must be a C-contiguous uint8 array"),
    (1, np.zeros(1, np.int32), TypeError, "off must be a C-contiguous int64 array"),
    (4, np.zeros((1, 37), np.uint8), ValueError, "keys shape (1, 38)"),
    (2, np.full(1, 65, np.int64), ValueError, "every frame must lie in buf (64 bytes)"),
    (1, np.full(1, -1, np.int64), ValueError, "every frame must lie in buf"),
])
def test_frame_keys_rejects_bad_arrays(i, bad, exc, fragment):
    from paraflowo._core.pcapread import frame_keys
    args = _fk_args()
    args[i] = bad
    with pytest.raises(exc, match=re.escape(fragment)):
        frame_keys(*args)
    assert not args[4].any()                                  # nothing written


@pytest.mark.parametrize("kw, exc, fragment", [
    ({"buf": np.zeros(4, np.int8)}, TypeError, "buf must be a 1-D C-contiguous uint8 array"),
    ({"offset": -1}, ValueError, "offset must be in"),
    ({"cap": 0}, ValueError, "cap must be >= 1, got 0"),
])
def test_pcapng_walk_rejects_bad_arguments(kw, exc, fragment):
    from paraflowo._core.pcapread import pcapng_walk
    args = dict(buf=np.zeros(64, np.uint8), offset=0, big_endian=False, n_ifaces=1, snap0=0)
    args.update(kw)
    with pytest.raises(exc, match=re.escape(fragment)):
        pcapng_walk(**args)


def test_headers_only_capture_stays_on_the_fast_path(tmp_path, monkeypatch):
    # tcpdump -s 128 (headers only): Ethernet + IPv4 + TCP headers whole, payload cut.
    # The 5-tuple is all there; dpkt keys these frames, and so should the fast path.
    frames = [(1_000 * i, tg.tcp4("10.0.0.1", "10.0.0.2", 5001, 40000 + i % 4, payload=1400))
              for i in range(200)]
    p = tmp_path / "headers.pcap"
    tg.write_pcap(p, frames, snaplen=128)
    calls = []
    real = pcapmod._decode
    monkeypatch.setattr(pcapmod, "_decode", lambda *a: calls.append(1) or real(*a))
    tr = read_pcap(p)
    assert len(tr.keys) == 4 and len(tr.times) == 200     # keyed right (by dpkt, today)
    assert calls == []                                    # ... but not by the fast path
