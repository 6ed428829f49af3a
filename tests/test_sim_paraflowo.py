"""The paraflowo policy: the library's own components inside the simulator's nogil loop."""

import json

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import paraflowo as pfo
from paraflowo.cli import main
from paraflowo.sim import load_scenario, parse_scenario, simulate

from simparts import para_simcore


@pytest.fixture(scope="module")
def fig7():
    """paper-fig7 shortened to 3 simulated seconds, RSS and ParaFlowO."""
    return simulate(load_scenario("paper-fig7").with_duration(3.0), ["rss", "paraflowo"])


def test_paraflowo_balances_every_core_near_30_percent(fig7):
    util = fig7.policies["paraflowo"]["core_utilization"]
    assert all(0.25 <= u <= 0.35 for u in util), util
    assert max(util) - min(util) <= 0.06, util


def test_paraflowo_keeps_every_flow_in_order_without_timeouts(fig7):
    m = fig7.policies["paraflowo"]
    pf = m["paraflowo"]
    assert pf["timeouts"] == 0 and pf["late"] == 0 and pf["fallbacks"] == 0
    assert m["out_of_order"] == 0 and m["flows_out_of_order"] == 0
    assert pf["para_packets"] > 0.6 * m["packets"]          # the elephant was broken up
    assert pf["flowlet_switches"] > 0


def test_paraflowo_raises_no_alert_bins_rss_does(fig7):
    assert fig7.policies["paraflowo"]["alert_bins"] == 0
    assert fig7.policies["rss"]["alert_bins"] == 3


def test_the_elephant_is_detected_quickly_and_no_mouse_is(fig7):
    det = fig7.policies["paraflowo"]["paraflowo"]["detection"]
    assert det["elephant"]["detected"] == 1
    assert 0 < det["elephant"]["time_to_detect_ns"][0] < 5_000_000     # under 5 ms
    assert det["mice"]["detected"] == 0


def test_metadata_only_holds_far_less_than_full_packets(fig7):
    pf = fig7.policies["paraflowo"]["paraflowo"]
    assert pf["peak_held"] > 0
    assert pf["peak_bytes_metadata"] == 32 * pf["peak_held"]
    assert pf["peak_bytes_full"] == 500 * pf["peak_held"]       # 500-byte packets


def test_conservation(fig7):
    m = fig7.policies["paraflowo"]
    assert m["packets"] == m["completed"] + m["drops"]
    assert m["completed"] == m["released"]
    assert m["paraflowo"]["store_bypass_errors"] == 0
    assert m["packets"] == fig7.policies["rss"]["packets"]      # identical traffic


def test_elephant_larger_than_a_core():
    r = simulate(load_scenario("big-elephant").with_duration(0.5),
                 ["rss", "rsspp", "paraflowo"])
    assert r.policies["rss"]["drops"] > 0 and r.policies["rsspp"]["drops"] > 0
    m = r.policies["paraflowo"]
    assert m["drops"] == 0 and m["out_of_order"] == 0
    assert max(m["core_utilization"]) < 0.60


def _overload(notify_drops, timeout_us, duration=0.05):
    return parse_scenario({
        "name": "overload", "duration_s": duration, "seed": 5, "bin_s": 0.01,
        "cores": {"count": 2, "service_mpps": [1.0, 0.5], "rx_queue": 4},
        "flows": [{"count": 1, "rate_pps": 1_600_000, "name": "elephant"},
                  {"count": 20, "rate_pps": [1000, 5000], "name": "mice"}],
        "paraflowo": {"notify_drops": notify_drops, "timeout_us": timeout_us,
                      "threshold_pps": 20000},
    })


def test_rx_drops_of_tagged_packets_tombstone_their_psns():
    m = simulate(_overload(True, 500.0), ["paraflowo"]).policies["paraflowo"]
    pf = m["paraflowo"]
    assert m["drops"] > 0 and pf["tombstones"] > 0
    assert pf["timeouts"] == 0 and m["out_of_order"] == 0
    assert m["packets"] == m["completed"] + m["drops"] == m["released"] + m["drops"]


def test_without_drop_notice_the_timeout_skips_the_gap():
    m = simulate(_overload(False, 50.0), ["paraflowo"]).policies["paraflowo"]
    pf = m["paraflowo"]
    assert m["drops"] > 0 and pf["tombstones"] == 0
    assert pf["timeouts"] > 0 and pf["skipped_psns"] > 0
    assert m["packets"] == m["completed"] + m["drops"] == m["released"] + m["drops"]
    assert m["latency_ns"]["p999"] >= 50_000                    # some waited a timeout


def test_without_timeout_held_packets_are_released_at_the_end():
    m = simulate(_overload(False, 0.0, 0.01), ["paraflowo"]).policies["paraflowo"]
    pf = m["paraflowo"]
    assert pf["timeouts"] == 0 and pf["released_at_end"] > 0
    assert m["packets"] == m["completed"] + m["drops"] == m["released"] + m["drops"]


@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 2**32), cores=st.integers(2, 6),
       elephant=st.integers(200_000, 1_500_000), mice=st.integers(1, 30),
       exponential=st.booleans())
def test_in_order_whenever_no_timeout_fired(seed, cores, elephant, mice, exponential):
    s = parse_scenario({
        "name": "prop", "duration_s": 0.02, "seed": seed, "bin_s": 0.01,
        "cores": {"count": cores, "service_mpps": 1.0,
                  "service": "exponential" if exponential else "deterministic"},
        "flows": [{"count": 1, "rate_pps": elephant, "jitter": 0.1},
                  {"count": mice, "rate_pps": [1000, 20000]}],
        "paraflowo": {"threshold_pps": 50000, "detector_window_s": 0.001},
    })
    m = simulate(s, ["paraflowo"]).policies["paraflowo"]
    pf = m["paraflowo"]
    assert m["packets"] == m["completed"] + m["drops"]
    assert m["completed"] == m["released"] and pf["store_bypass_errors"] == 0
    if pf["timeouts"] == 0 and pf["late"] == 0:
        assert m["out_of_order"] == 0


def test_new_elephants_on_backed_up_rss_cores_stay_in_order():
    """100 elephants become para_flows while their RSS cores' 64-packet RX
    queues are full: first tagged packets are dropped and their PSNs skipped.
    Each first flowlet must wait for its RSS core to finish the flow's
    untagged packets (without that wait this run had 37 packets out of order).
    """
    s = parse_scenario({
        "name": "many", "duration_s": 0.005, "seed": 3, "bin_s": 0.0025,
        "cores": {"count": 64, "service_mpps": 1.0, "rx_queue": 64},
        "flows": [{"count": 100, "rate_pps": [300000, 600000], "jitter": 0.1},
                  {"count": 1000, "rate_pps": [2000, 6000]}],
    })
    m = simulate(s, ["paraflowo"]).policies["paraflowo"]
    pf = m["paraflowo"]
    assert m["drops"] > 10_000 and pf["tombstones"] > 1000 and pf["timeouts"] == 0
    assert pf["first_flowlet_holds"] > 0 and pf["flowlet_switches"] > 1000
    assert m["out_of_order"] == 0


def test_threshold_detector_and_hetero_cores():
    s = load_scenario("hetero-cores").with_duration(0.3)
    r = simulate(s, ["rss", "paraflowo"])
    assert max(r.policies["paraflowo"]["core_utilization"]) < \
        max(r.policies["rss"]["core_utilization"])
    cfg = dict(s.paraflowo, detector="threshold")
    import dataclasses
    r2 = simulate(dataclasses.replace(s, paraflowo=cfg), ["paraflowo"])
    m = r2.policies["paraflowo"]
    assert m["paraflowo"]["detection"]["elephant"]["detected"] == 2
    assert m["out_of_order"] == 0


def test_independent_row_hashes_in_the_simulator():
    s = parse_scenario({
        "name": "rows", "duration_s": 0.2, "seed": 5, "bin_s": 0.1,
        "cores": {"count": 4, "service_mpps": 1.0},
        "flows": [{"count": 1, "rate_pps": 770000, "jitter": 0.1},
                  {"count": 50, "rate_pps": [2000, 6000]}],
        "paraflowo": {"cm_row_hashes": "independent"},
    })
    assert s.paraflowo["cm_row_hashes"] == "independent"
    m = simulate(s, ["paraflowo"]).policies["paraflowo"]
    assert m["paraflowo"]["para_flows"] == 1                    # the elephant, no mouse
    assert m["out_of_order"] == 0 and max(m["core_utilization"]) < 0.4


def test_same_seed_same_json_with_paraflowo(tmp_path):
    # the same command line twice (the provenance records it): the same JSON
    a = tmp_path / "a.json"
    args = ["simulate", "--duration", "0.3", "--quiet", "--policies", "paraflowo,rss",
            "--json", str(a)]
    assert main(args) == 0
    ja = json.loads(a.read_text())
    assert main(args) == 0
    jb = json.loads(a.read_text())
    ja.pop("timing"), jb.pop("timing")
    assert ja == jb and "paraflowo" in ja["policies"]


@pytest.mark.parametrize("text, fragment", [
    ("window = 1000", "paraflowo.window must be a power of two, got 1000"),
    ("detector = \"magic\"", "paraflowo.detector must be one of countmin, threshold"),
    ("alpha = 2.0", "paraflowo.alpha must be in (0, 1], got 2.0"),
    ("nope = 1", "unknown scenario key paraflowo.nope"),
    ("psn_bits = 8\nwindow = 1024", "paraflowo.window must be <= 2**(psn_bits - 1) = 128"),
    ("notify_drops = 1", "paraflowo.notify_drops must be true or false"),
    ("cm_row_hashes = \"both\"", "paraflowo.cm_row_hashes must be one of fused, independent"),
])
def test_bad_paraflowo_keys(tmp_path, capsys, text, fragment):
    p = tmp_path / "bad.toml"
    p.write_text('name = "x"\nduration_s = 0.1\n[cores]\ncount = 2\nservice_mpps = 1.0\n'
                 '[[flows]]\nrate_pps = 1000\n[paraflowo]\n' + text + "\n")
    assert main(["simulate", "--scenario", str(p)]) == 2
    err = capsys.readouterr().err
    assert fragment in err and err.count("\n") == 1, err


def test_default_command_runs_all_four_policies(capsys):
    assert main(["simulate", "--duration", "0.2", "--quiet"]) == 0
    out = capsys.readouterr().out
    for p in ("rss", "paraflowo", "spray", "rsspp"):
        assert any(line.startswith(p + " ") for line in out.splitlines()), p
    assert "held, 0 timeouts, 0 forwarded late" in out
    assert "(paraflowo counters: flows split = " in out         # the one-line legend


def test_init_paraflowo_refuses_a_made_simcore():
    # a flow's first arrival is taken when its sequence number is 0: a new
    # flow_first for flows that already arrived would stay -1 for ever
    core = para_simcore([900, 1000], [1], 1, 1000, pfo.CountMinDetector(64, 4, 3, 10_000), [7])
    core.run(np.array([0, 10], np.int64), np.array([0, 0], np.int32))
    with pytest.raises(RuntimeError, match="_init_paraflowo is part of __init__"):
        core._init_paraflowo({})    # refused before the dict is read
    core.flush()
    assert core.paraflowo_stats()["flow_first_ns"].tolist()[0] == 0
