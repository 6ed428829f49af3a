"""pcap/pcapng input: captures written here with dpkt replay to the expected flows and times."""

import socket

import numpy as np
import pytest

from paraflowo import rss_hash
from paraflowo.cli import main
from paraflowo.sim import load_scenario, simulate
from paraflowo.sim.pcap import read_pcap

dpkt = pytest.importorskip("dpkt")

FLOWS = [("10.0.0.1", "10.0.0.2", 1000, 80, "tcp"),
         ("10.0.0.3", "10.0.0.4", 2000, 53, "udp"),
         ("10.0.0.5", "10.0.0.6", 3000, 443, "tcp")]
BASE_NS = 1_700_000_000 * 10**9 + 123


def frame(src, dst, sport, dport, kind, payload=b"x" * 40):
    l4 = (dpkt.tcp.TCP(sport=sport, dport=dport, data=payload) if kind == "tcp"
          else dpkt.udp.UDP(sport=sport, dport=dport, data=payload))
    ip = dpkt.ip.IP(src=socket.inet_aton(src), dst=socket.inet_aton(dst),
                    p=dpkt.ip.IP_PROTO_TCP if kind == "tcp" else dpkt.ip.IP_PROTO_UDP,
                    data=l4)
    ip.len = len(bytes(ip))
    return bytes(dpkt.ethernet.Ethernet(src=b"\x00" * 6, dst=b"\x11" * 6,
                                        type=dpkt.ethernet.ETH_TYPE_IP, data=ip))


def schedule(n=60):
    """(time ns offset, flow index): flow 0 every 1000 ns, flows 1, 2 sparser."""
    out = [(i * 1000 + 7, 0) for i in range(n)]
    out += [(i * 5000 + 11, 1) for i in range(n // 5)]
    out += [(i * 7000 + 13, 2) for i in range(n // 7)]
    return sorted(out)


def write_pcap(path, nano=True, n=60, ng=False):
    with open(path, "wb") as fh:
        w = (dpkt.pcapng.Writer(fh) if ng else dpkt.pcap.Writer(fh, nano=nano))
        for off, f in schedule(n):
            ts = (BASE_NS + off) / 1e9
            if nano and not ng:
                # dpkt takes float seconds; give it the exact decimal nanoseconds
                from decimal import Decimal
                ts = Decimal(BASE_NS + off) / Decimal(10**9)
            w.writepkt(frame(*FLOWS[f]), ts=ts)
    return schedule(n)


def test_pcap_replays_to_the_expected_flows_and_times(tmp_path):
    sched = write_pcap(tmp_path / "t.pcap")
    tr = read_pcap(tmp_path / "t.pcap")
    assert tr.notes == []
    assert tr.times.tolist() == [off - sched[0][0] for off, _ in sched]
    assert len(tr.keys) == 3
    # flow ids in order of first appearance, keys and Toeplitz hashes per flow
    first = {}
    for _, f in sched:
        first.setdefault(f, len(first))
    assert tr.flows.tolist() == [first[f] for _, f in sched]
    for f, fid in first.items():
        src, dst, sp, dp, kind = FLOWS[f]
        assert tr.keys[fid] == (socket.inet_aton(src), socket.inet_aton(dst), sp, dp,
                                6 if kind == "tcp" else 17)
        assert tr.hashes[fid] == rss_hash(src, dst, sp, dp)


def test_time_scale_stretches_arrivals(tmp_path):
    write_pcap(tmp_path / "t.pcap")
    a, b = read_pcap(tmp_path / "t.pcap"), read_pcap(tmp_path / "t.pcap", time_scale=0.5)
    assert b.times.tolist() == [t // 2 for t in a.times.tolist()]


def test_microsecond_pcap_and_pcapng(tmp_path):
    write_pcap(tmp_path / "us.pcap", nano=False)
    tr = read_pcap(tmp_path / "us.pcap")
    assert len(tr.times) == len(schedule()) and len(tr.keys) == 3
    write_pcap(tmp_path / "t.pcapng", ng=True)
    tng = read_pcap(tmp_path / "t.pcapng")
    assert len(tng.times) == len(schedule()) and len(tng.keys) == 3
    assert (np.diff(tng.times) >= 0).all()


def test_truncated_capture_is_read_up_to_the_damage(tmp_path):
    write_pcap(tmp_path / "t.pcap")
    data = (tmp_path / "t.pcap").read_bytes()
    rec = 16 + len(frame(*FLOWS[0]))
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(data[:24 + 10 * rec + 20])          # 10 whole records, then half of one
    tr = read_pcap(cut)
    assert len(tr.times) == 10
    assert any("truncated capture: read 10 packets" in n for n in tr.notes)


def test_cli_replays_a_pcap_and_warns_on_truncation(tmp_path, capsys):
    write_pcap(tmp_path / "t.pcap", n=200)
    data = (tmp_path / "t.pcap").read_bytes()
    (tmp_path / "cut.pcap").write_bytes(data[:-5])
    assert main(["simulate", "--pcap", str(tmp_path / "cut.pcap"), "--policies",
                 "rss,spray", "--quiet", "--time-scale", "0.5"]) == 0
    out = capsys.readouterr()
    assert "warning: truncated capture" in out.err
    assert "rss" in out.out and "spray" in out.out


def test_simulate_a_trace_conserves_packets(tmp_path):
    write_pcap(tmp_path / "t.pcap", n=300)
    tr = read_pcap(tmp_path / "t.pcap", time_scale=0.2)
    s = load_scenario("paper-fig7")
    r = simulate(s.with_duration(tr.duration_ns / 1e9), ["rss", "paraflowo", "spray", "rsspp"],
                 trace=tr)
    for m in r.policies.values():
        assert m["packets"] == len(tr.times) == m["completed"] + m["drops"]
    assert r.scenario["source"] == "pcap" and r.scenario["n_flows"] == 3


@pytest.mark.parametrize("content, fragment", [
    (b"", "not a pcap or pcapng capture"),
    (b"hello world, not a capture", "not a pcap or pcapng capture"),
])
def test_unreadable_pcap_is_exit_2_one_line(tmp_path, capsys, content, fragment):
    p = tmp_path / "bad.pcap"
    p.write_bytes(content)
    assert main(["simulate", "--pcap", str(p)]) == 2
    err = capsys.readouterr().err
    assert fragment in err and err.count("\n") == 1


def test_missing_pcap_and_empty_capture(tmp_path, capsys):
    assert main(["simulate", "--pcap", str(tmp_path / "none.pcap")]) == 2
    err = capsys.readouterr().err
    assert f"error: --pcap: cannot read '{tmp_path / 'none.pcap'}': No such file" in err
    with open(tmp_path / "empty.pcap", "wb") as fh:
        dpkt.pcap.Writer(fh)
    assert main(["simulate", "--pcap", str(tmp_path / "empty.pcap")]) == 2
    assert "no IP packets" in capsys.readouterr().err


def test_bad_time_scale(tmp_path, capsys):
    write_pcap(tmp_path / "t.pcap")
    assert main(["simulate", "--pcap", str(tmp_path / "t.pcap"), "--time-scale", "0"]) == 2
    assert "--time-scale must be > 0" in capsys.readouterr().err
    with pytest.raises(ValueError, match="time_scale must be a positive number"):
        read_pcap(tmp_path / "t.pcap", time_scale=-1.0)
