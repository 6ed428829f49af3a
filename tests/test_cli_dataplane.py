"""``paraflowo dataplane``: pcap in, pcap out, JSON, signals and user mistakes."""

from __future__ import annotations

import json
import signal
import struct
import subprocess
import sys
from collections import Counter

import pytest

from paraflowo.cli import main
from paraflowo.dataplane import Capture, read_capture, write_pcap

from dptrace import egress_packets, elephant_and_mice, reordered_per_flow

KEYS = {"packets_in", "packets_out", "dropped", "out_of_order", "worker_utilization",
        "seconds"}


@pytest.fixture(scope="module")
def capfile(tmp_path_factory):
    cap, pkts = elephant_and_mice(n_elephant=3000, n_mice=300)
    path = tmp_path_factory.mktemp("cap") / "in.pcap"
    write_pcap(path, cap.data, cap.offsets, cap.lengths, cap.ts_ns)
    return path, pkts


@pytest.mark.parametrize("policy", ["spray", "paraflowo"])
def test_pcap_in_out_and_json_agree_with_a_recount(capfile, tmp_path, capsys, policy):
    path, pkts = capfile
    out, js = tmp_path / "out.pcap", tmp_path / "r.json"
    assert main(["dataplane", "--pcap-in", str(path), "--pcap-out", str(out), "--json",
                 str(js), "--policy", policy, "--nf", "spin:300", "--quiet"]) == 0
    printed = capsys.readouterr().out
    r = json.loads(js.read_text())
    assert KEYS <= set(r) and len(r["worker_utilization"]) == 2
    eg = egress_packets(read_capture(out))
    assert Counter(eg) == Counter(pkts)
    assert r["packets_in"] == r["packets_out"] == len(pkts) and r["dropped"] == 0
    assert r["out_of_order"] == sum(reordered_per_flow(pkts, eg).values())
    if policy == "paraflowo":
        assert r["out_of_order"] == 0
    assert f"packets in {len(pkts)}  out {len(pkts)}" in printed
    assert "Type-P-Reordered" in printed and "worker utilization" in printed


def test_pcapng_input_reads_the_same_frames(capfile, tmp_path):
    path, pkts = capfile
    cap = read_capture(path)
    ng = tmp_path / "in.pcapng"
    with open(ng, "wb") as f:
        shb = struct.pack("<IIIHHq", 0x0A0D0D0A, 28, 0x1A2B3C4D, 1, 0, -1) + struct.pack("<I", 28)
        f.write(shb)
        opt = struct.pack("<HHB3x", 9, 1, 9) + struct.pack("<HH", 0, 0)    # tsresol 1e-9
        idb_len = 20 + len(opt)
        f.write(struct.pack("<IIHHI", 1, idb_len, 1, 0, 65535) + opt + struct.pack("<I", idb_len))
        for i in range(len(cap)):
            p = cap.packet(i)
            pad = (4 - len(p) % 4) % 4
            bl = 32 + len(p) + pad
            t = int(cap.ts_ns[i])
            f.write(struct.pack("<IIIIIII", 6, bl, 0, t >> 32, t & 0xFFFFFFFF, len(p), len(p))
                    + p + b"\0" * pad + struct.pack("<I", bl))
    back = read_capture(ng)
    assert [back.packet(i) for i in range(len(back))] == pkts
    assert back.ts_ns.tolist() == cap.ts_ns.tolist()


def test_bad_captures_are_refused(tmp_path):
    bad = tmp_path / "x.pcap"
    bad.write_bytes(b"not a capture at all, really")
    with pytest.raises(ValueError, match=r"path must be a pcap or pcapng capture"):
        read_capture(bad)
    raw = tmp_path / "raw.pcap"
    raw.write_bytes(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 101))
    with pytest.raises(ValueError, match=r"linktype must be 1 \(Ethernet\).*got 101"):
        read_capture(raw)


@pytest.mark.parametrize("argv, message", [
    ([], "give exactly one of --pcap-in FILE or --bridge IF_A IF_B"),
    (["--pcap-in", "x.pcap", "--bridge", "a", "b"], "give exactly one of"),
    (["--pcap-in", "missing.pcap"], "capture missing.pcap not found"),
    (["--pcap-in", "x.pcap", "--speed", "0"], "--speed must be a number > 0 or max, got '0'"),
    (["--pcap-in", "x.pcap", "--speed", "fast"], "--speed must be a number > 0 or max"),
    (["--pcap-in", "x.pcap", "--workers", "0"], "--workers must be in [1, 64], got 0"),
    (["--pcap-in", "x.pcap", "--loop", "0"], "--loop must be >= 1, got 0"),
    (["--pcap-in", "x.pcap", "--nf", "spin"], "nf must be one of forward, spin:NS"),
    (["--bridge", "a", "b", "--pcap-out", "o.pcap"], "--pcap-out works with --pcap-in only"),
    (["--pcap-in", "x.pcap", "--window", "1000"], "window must be a power of two"),
    (["--pcap-in", "x.pcap", "--idle-ms", "0"], "--idle-ms must be > 0, got 0.0"),
])
def test_user_mistakes_exit_2_with_one_line(capfile, tmp_path, monkeypatch, capsys, argv,
                                            message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "x.pcap").write_bytes(capfile[0].read_bytes())
    assert main(["dataplane", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("paraflowo dataplane: error: ") and message in err
    assert "\n" not in err


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_stops_cleanly_with_everything_counted(capfile, tmp_path, sig):
    path, pkts = capfile
    js = tmp_path / "r.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "paraflowo", "dataplane", "--pcap-in", str(path), "--loop",
         "100000", "--nf", "spin:1000", "--interval", "0.05", "--json", str(js)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        line = proc.stderr.readline()            # the first live status line: running
        assert "Mpps" in line, line
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    r = json.loads(js.read_text())
    assert r["stopped"] and r["not_offered"] > 0
    assert r["packets_in"] == r["packets_out"] + r["dropped"] and r["dropped"] == 0
    assert r["packets_in"] + r["not_offered"] == 100000 * len(pkts)
    assert r["out_of_order"] == 0
