"""Sweeps over captures: a trace column, provenance with SHA-256, rows equal `simulate --pcap`."""

import json
import socket

import pytest

pytest.importorskip("joblib")
pytest.importorskip("pyarrow")
dpkt = pytest.importorskip("dpkt")

from paraflowo.cli import main  # noqa: E402
from paraflowo.sim.provenance import file_sha256  # noqa: E402
from paraflowo.sim.runner import SimulationResult  # noqa: E402
from paraflowo.sim.sweep import load_sweep_spec, read_table, scenario_toml, sweep  # noqa: E402


def write_trace(path, n_flows, gap_ns, n=400):
    """A raw-IP pcap (nanosecond timestamps): n UDP packets round robin over n_flows."""
    with open(path, "wb") as fh:
        w = dpkt.pcap.Writer(fh, nano=True, linktype=101)
        for i in range(n):
            f = i % n_flows
            udp = dpkt.udp.UDP(sport=1000 + f, dport=53, data=b"x" * 40)
            ip = dpkt.ip.IP(src=socket.inet_aton(f"10.0.{f}.1"), dst=socket.inet_aton("10.1.0.1"),
                            p=dpkt.ip.IP_PROTO_UDP, data=udp)
            ip.len = len(bytes(ip))
            w.writepkt(bytes(ip), ts=(10**9 + i * gap_ns) / 1e9)


def test_a_sweep_over_traces(tmp_path, capsys):
    write_trace(tmp_path / "a.pcap", 3, 700)
    write_trace(tmp_path / "b.pcap", 5, 400)
    spec_file = tmp_path / "s.toml"
    spec_file.write_text('scenario = "paper-fig7"\npolicies = ["rss", "spray"]\n'
                         'seeds = [4]\ntraces = ["a.pcap", "b.pcap"]\ntime_scale = 1.0\n'
                         '[grid]\n"cores.rss_fields" = ["l3", "l3l4"]\n')
    out = tmp_path / "t.parquet"
    res = sweep(spec_file, out, jobs=1)
    assert res.failed == []
    assert [(r["cores.rss_fields"], r["trace"].rsplit("/", 1)[-1], r["policy"])
            for r in res.rows] == [(f, t, p) for f in ("l3", "l3l4") for t in ("a.pcap", "b.pcap")
                                   for p in ("rss", "spray")]
    assert res.rows[0]["packets"] == 400
    traces = res.metadata["provenance"]["traces"]
    assert [t["sha256"] for t in traces] == [file_sha256(tmp_path / "a.pcap"),
                                             file_sha256(tmp_path / "b.pcap")]
    assert read_table(out)[1]["provenance"]["traces"] == traces
    # a row is `paraflowo simulate --pcap` of its point
    spec = load_sweep_spec(spec_file)
    point = spec.points()[3]                       # l3l4, b.pcap
    toml = tmp_path / "p.toml"
    toml.write_text(scenario_toml(spec.scenario_of(point)))
    js = tmp_path / "p.json"
    assert main(["simulate", "--scenario", str(toml), "--pcap", point.trace, "--seed",
                 str(point.seed), "--duration", str(spec.scenario_of(point).duration_s),
                 "--policies", "rss,spray", "--quiet", "--json", str(js)]) == 0
    j = json.loads(js.read_text())
    assert j["provenance"]["traces"] == [traces[1]]
    cli = SimulationResult(j["scenario"], j["policies"]).to_records()
    for row, c in zip(res.rows[6:8], cli):
        assert {k: v for k, v in row.items() if k not in ("cores.rss_fields", "trace")} == {
            k: v for k, v in c.items() if k != "scenario"}


def test_a_missing_trace_is_named(tmp_path):
    spec_file = tmp_path / "s.toml"
    spec_file.write_text('policies = ["rss"]\ntraces = ["nope.pcap"]\n')
    with pytest.raises(OSError, match="nope.pcap"):
        sweep(spec_file, jobs=1)


def test_a_truncated_trace_is_said_once_for_the_whole_sweep(tmp_path, capsys):
    write_trace(tmp_path / "a.pcap", 3, 700)
    data = (tmp_path / "a.pcap").read_bytes()
    (tmp_path / "a.pcap").write_bytes(data[:-10])          # the last record cut short
    spec_file = tmp_path / "s.toml"
    spec_file.write_text('scenario = "paper-fig7"\npolicies = ["rss"]\nseeds = [1, 2, 3]\n'
                         'traces = ["a.pcap"]\n')
    res = sweep(spec_file, jobs=1)
    assert res.failed == [] and len(res.rows) == 3
    assert len(res.notes) == 1 and "a.pcap: " in res.notes[0]
    assert "truncated" in res.notes[0]
    assert main(["sweep", str(spec_file), "--out", str(tmp_path / "t.csv"), "--jobs", "1",
                 "--quiet"]) == 0
    err = capsys.readouterr().err
    assert err.count("truncated capture") == 1 and err.startswith("warning: ")
    assert err.count("\n") == 1
