"""benchmarks/table.py: the docs' performance table from pytest-benchmark JSON."""

import importlib.util
import json
from pathlib import Path

import pytest

_PATH = Path(__file__).parent.parent / "benchmarks" / "table.py"


@pytest.fixture(scope="module")
def table():
    spec = importlib.util.spec_from_file_location("bench_table", _PATH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _bench(group, name, mpps=None, per_call=None):
    extra = {}
    if mpps is not None:
        extra["mpps"] = mpps
    if per_call is not None:
        extra["packets_per_call"] = per_call
    return {"group": group, "name": name, "extra_info": extra, "stats": {"mean": 1.0}}


SYNTHETIC = {
    "machine_info": {"node": "box", "cpu": {"brand_raw": "Some CPU"},
                     "python_version": "3.11.2"},
    "datetime": "2026-12-07T04:00:00.000000",
    "benchmarks": [
        _bench("detectors", "test_countmin_burst[plain-zipf-fused]", 250.0, 1 << 20),
        _bench("detectors", "test_anchor_datasketches_count_min", 2.5, 20000),
        _bench("detectors", "test_threshold_per_packet", 5.0),
        _bench("hashing", "test_toeplitz_batch_ipv4", 125.0, 1000),
        _bench("pcap", "test_read[pcap-fast]", 2.0, 1000),
        _bench("pcap", "test_read[pcap-dpkt]", 0.05, 1000),
        _bench("pcap", "test_read[pcapng-fast]", 2.0, 1000),   # its anchor did not run
        _bench("pcap-ratio", "test_ratio"),                # no mpps: left out
    ],
}


def test_rows_give_mpps_ns_per_packet_and_the_anchor_ratio(table):
    rows = {r[1] + r[2]: r for r in table.rows(SYNTHETIC)}
    assert len(rows) == 7
    cm = rows["countmin_burstplain, zipf, fused, 1,048,576 per call"]
    assert cm == ("detectors", "countmin_burst", "plain, zipf, fused, 1,048,576 per call",
                  "250", "4", "100.00x")
    assert rows["anchor_datasketches_count_min20,000 per call"][5] == "anchor"
    assert rows["threshold_per_packet"][3:] == ("5", "200", "2.00x")
    # no anchor in the hashing group: no ratio
    assert rows["toeplitz_batch_ipv41,000 per call"][3:] == ("125", "8", "")
    # pcap: each format against dpkt on the same format
    assert rows["readpcap, fast, 1,000 per call"][3:] == ("2", "500", "40.00x")
    assert rows["readpcap, dpkt, 1,000 per call"][5] == "anchor"
    assert rows["readpcapng, fast, 1,000 per call"][5] == ""


def test_without_its_anchor_a_group_has_no_ratio(table):
    data = dict(SYNTHETIC, benchmarks=[b for b in SYNTHETIC["benchmarks"]
                                       if "anchor" not in b["name"] and "dpkt" not in b["name"]])
    assert all(r[5] == "" for r in table.rows(data))


def test_render_is_a_valid_list_table_that_names_machine_and_date(table, tmp_path):
    text = table.render(SYNTHETIC)
    assert text.startswith("Measured on box, Some CPU, on 2026-12-07, Python 3.11.2.")
    assert ".. list-table::" in text
    # 1 header + 7 rows, 6 cells each
    lines = text.splitlines()
    assert sum(ln.startswith("   * - ") for ln in lines) == 8
    assert sum(ln.startswith("     -") for ln in lines) == 8 * 5
    assert not any(ln != ln.rstrip() for ln in lines)
    override = table.render(SYNTHETIC, machine="2-core VM", date="2026-01-02")
    assert override.startswith("Measured on 2-core VM, on 2026-01-02, Python 3.11.2.")
    core = pytest.importorskip("docutils.core")
    from docutils import nodes
    tree = core.publish_doctree(text, settings_overrides={"report_level": 2,
                                                          "halt_level": 2})
    assert len(list(tree.findall(nodes.row))) == 8


def test_main_writes_the_file(table, tmp_path):
    src = tmp_path / "b.json"
    src.write_text(json.dumps(SYNTHETIC))
    out = tmp_path / "t.rst"
    assert table.main([str(src), "-o", str(out), "--machine", "m", "--date", "d"]) == 0
    assert out.read_text() == table.render(SYNTHETIC, "m", "d")


def test_no_mpps_at_all(table):
    text = table.render({"benchmarks": [_bench("g", "test_x")]})
    assert "no benchmark recorded" in text


def _burst(method, size, best, mean=None):
    b = _bench("bursts", f"test_burst[{method}-{size}]", mean or best / 2, size)
    b["extra_info"]["mpps_best"] = best
    return b


def test_burst_table_pairs_the_two_shapes_of_each_method(table):
    data = {"benchmarks": [
        _burst("toeplitz_batch", 32, 200.0), _burst("toeplitz_batch", 65536, 350.0),
        _burst("CountMinDetector.update_burst (times)", 32, 100.0),
        _burst("CountMinDetector.update_burst (times)", 65536, 250.0),
        _burst("only.small", 32, 10.0),                        # no large shape: left out
        _bench("hashing", "test_toeplitz_batch_ipv4", 125.0, 1000),   # not a burst row
    ]}
    assert table.burst_rows(data) == [
        ("toeplitz_batch", "200.0", "350.0", "1.75x"),
        ("CountMinDetector.update_burst (times)", "100.0", "250.0", "2.50x"),
    ]
    text = table.render(data, bursts=True)
    assert "   * - method" in text and "     - Mpps at 65,536" in text
    assert text.count("   * - ") == 3
    assert "hashing" not in text
