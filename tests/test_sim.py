"""The simulator: Figure 7 under RSS/spray/RSS++, exactness, conservation, CLI, bad input."""

import json
import math
import sys

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from paraflowo import IndirectionTable
from paraflowo._core.sim import SimCore
from paraflowo.cli import main
from paraflowo.sim import (
    POLICY_NAMES,
    builtin_scenarios,
    load_scenario,
    parse_scenario,
    simulate,
)
from paraflowo.sim.metrics import latency_percentiles
from paraflowo.sim.runner import paraflowo_available

BASELINES = ["rss", "spray", "rsspp"]


@pytest.fixture(scope="module")
def fig7():
    """paper-fig7 shortened to 3 simulated seconds, the three baseline policies."""
    return simulate(load_scenario("paper-fig7").with_duration(3.0), BASELINES)


def _elephant_core(result):
    util = result.policies["rss"]["core_utilization"]
    return int(np.argmax(util)), util


# ---------------------------------------------------------------- Figure 7
def test_rss_pins_the_elephant_to_one_core(fig7):
    hot, util = _elephant_core(fig7)
    assert 0.75 <= util[hot] <= 0.95, util
    assert all(u < 0.20 for c, u in enumerate(util) if c != hot), util


def test_rss_raises_alert_bins(fig7):
    m = fig7.policies["rss"]
    assert m["alert_bins"] == len(m["utilization_bins"]) == 3


def test_spraying_balances_but_reorders(fig7):
    m = fig7.policies["spray"]
    assert max(m["core_utilization"]) - min(m["core_utilization"]) < 0.06
    assert m["out_of_order"] > 0 and m["flows_out_of_order"] >= 1


def test_rsspp_moves_mice_but_cannot_split_the_elephant(fig7):
    m = fig7.policies["rsspp"]
    assert m["rsspp"]["migrations"] > 0
    assert max(m["core_utilization"]) > 0.70          # the elephant stays whole
    assert m["out_of_order"] == 0                     # moved buckets wait for the old core
    assert m["alert_bins"] > 0


def test_rss_and_rsspp_keep_flows_in_order(fig7):
    assert fig7.policies["rss"]["out_of_order"] == 0


def test_identical_traffic_for_every_policy(fig7):
    packets = {p: m["packets"] for p, m in fig7.policies.items()}
    assert len(set(packets.values())) == 1
    assert fig7.scenario["packets"] == packets["rss"]
    # about 1.17 Mpps for 3 s
    assert 3.2e6 < packets["rss"] < 3.8e6


@pytest.mark.parametrize("policy", BASELINES)
def test_conservation_every_policy(fig7, policy):
    m = fig7.policies[policy]
    assert m["packets"] == m["completed"] + m["drops"]
    assert m["completed"] == m["released"]              # every packet left egress


def test_conservation_with_drops():
    s = load_scenario("big-elephant").with_duration(0.5)
    r = simulate(s, BASELINES)
    assert r.policies["rss"]["drops"] > 0             # 1.5 Mpps into a 1 Mpps core
    assert r.policies["rsspp"]["drops"] > 0           # no bucket move splits one flow
    assert r.policies["spray"]["drops"] == 0
    for m in r.policies.values():
        assert m["packets"] == m["completed"] + m["drops"] == m["released"] + m["drops"]
        assert sum(m["drops_per_core"]) == m["drops"]


def test_utilization_bins_average_to_the_mean(fig7):
    for m in fig7.policies.values():
        bins = np.array(m["utilization_bins"])
        assert np.allclose(bins.mean(axis=0), m["core_utilization"], atol=1e-5)


def test_every_builtin_scenario_loads_and_runs_briefly():
    names = builtin_scenarios()
    assert {"paper-fig7", "big-elephant", "hetero-cores"} <= set(names)
    for name in names:
        s = load_scenario(name)
        r = simulate(s.with_duration(0.05), ["rss"])
        assert r.policies["rss"]["packets"] > 0


def test_paper_fig7_is_the_papers_setup():
    s = load_scenario("paper-fig7")
    assert s.duration_s == 50.0 and s.cores.count == 4
    assert s.cores.service_mpps == (0.97, 0.99, 1.01, 1.03)
    assert s.flows[0].count == 1 and s.flows[0].rate_pps == 770000 and s.flows[0].jitter == 0.10
    assert s.flows[1].count == 100 and s.flows[1].rate_pps == (2000, 6000)
    assert s.alert_threshold == 0.40


# -------------------------------------------------------------- exactness
def lindley(arrivals, services, rx_queue):
    """A single FIFO core by hand: finish times, -1 for drop-tail losses."""
    out, accepted, free = [], [], 0
    for a, s in zip(arrivals, services):
        in_system = sum(1 for d in accepted if d > a)
        if in_system > rx_queue:
            out.append(-1)
            continue
        d = max(a, free) + s
        free = d
        accepted.append(d)
        out.append(d)
    return out


@settings(max_examples=60, deadline=None)
@given(gaps=st.lists(st.integers(0, 3000), min_size=1, max_size=80),
       svc=st.integers(1, 2500), rx_queue=st.integers(1, 6))
def test_single_core_is_the_lindley_recursion(gaps, svc, rx_queue):
    arrivals = np.cumsum(gaps).astype(np.int64)
    n = len(arrivals)
    core = SimCore("rss", np.array([svc], np.int64), rx_queue, np.array([7], np.uint32),
                   1, 10**12, IndirectionTable(1))
    tc, tf = np.empty(n, np.int16), np.empty(n, np.int64)
    # split into two chunks: state carries over
    h = n // 2
    core.run(arrivals[:h], np.zeros(h, np.int32), None, tc[:h], tf[:h])
    core.run(arrivals[h:], np.zeros(n - h, np.int32), None, tc[h:], tf[h:])
    core.flush()
    assert tf.tolist() == lindley(arrivals.tolist(), [svc] * n, rx_queue)
    st_ = core.stats()
    assert st_["arrived"][0] == n == st_["completed"][0] + st_["dropped"][0]
    # busy time is exactly the service of every accepted packet
    assert st_["busy_ns"].sum() == svc * int((tf >= 0).sum())


@settings(max_examples=40, deadline=None)
@given(gaps=st.lists(st.integers(0, 3000), min_size=1, max_size=60),
       draws=st.lists(st.floats(0.0, 8.0), min_size=60, max_size=60),
       mean=st.floats(1.0, 2000.0))
def test_exponential_service_uses_each_draw_times_the_mean(gaps, draws, mean):
    arrivals = np.cumsum(gaps).astype(np.int64)
    n = len(arrivals)
    expd = np.array(draws[:n], np.float64)
    core = SimCore("rss", np.array([int(round(mean))], np.int64), 1 << 10,
                   np.array([7], np.uint32), 1, 10**12, IndirectionTable(1),
                   exponential=True, service_mean=np.array([mean]))
    tc, tf = np.empty(n, np.int16), np.empty(n, np.int64)
    core.run(arrivals, np.zeros(n, np.int32), expd, tc, tf)
    services = [max(1, math.floor(e * mean + 0.5)) for e in expd]
    assert tf.tolist() == lindley(arrivals.tolist(), services, 1 << 10)


def test_latency_percentiles_by_hand():
    # 1 core, service 1000 ns, 10 packets at once: latencies 1000, 2000, ..., 10000
    core = SimCore("rss", np.array([1000], np.int64), 64, np.array([7], np.uint32), 1,
                   10**9, IndirectionTable(1))
    core.run(np.zeros(10, np.int64), np.zeros(10, np.int32))
    core.flush()
    hist = core.stats()["latency_hist"]
    assert hist.sum() == 10
    p50, p99, p999 = latency_percentiles(hist)
    assert p50 == 5000 and p99 == 10000 and p999 == 10000


def test_spray_round_robin_and_egress_order_by_hand():
    # 2 cores of 1000 ns and 3000 ns; one flow, 4 packets 100 ns apart.
    core = SimCore("spray", np.array([1000, 3000], np.int64), 64, np.array([7], np.uint32),
                   1, 10**9, IndirectionTable(2))
    tc, tf = np.empty(4, np.int16), np.empty(4, np.int64)
    core.run(np.array([0, 100, 200, 300], np.int64), np.zeros(4, np.int32), None, tc, tf)
    core.flush()
    assert tc.tolist() == [0, 1, 0, 1]
    assert tf.tolist() == [1000, 3100, 2000, 6100]
    # egress order: seq 0 (1000), 2 (2000), 1 (3100) late, 3 (6100)
    assert core.stats()["out_of_order"] == 1


def test_simcore_rejects_unsorted_times_and_bad_flows():
    core = SimCore("rss", np.array([1000], np.int64), 4, np.array([7], np.uint32), 1,
                   10**9, IndirectionTable(1))
    with pytest.raises(ValueError, match="times must be non-decreasing"):
        core.run(np.array([5, 3], np.int64), np.zeros(2, np.int32))
    with pytest.raises(ValueError, match=r"flows must be in \[0, 1\)"):
        core.run(np.array([5, 6], np.int64), np.array([0, 1], np.int32))
    with pytest.raises(TypeError, match="times"):
        core.run(np.array([5.0]), np.zeros(1, np.int32))
    with pytest.raises(ValueError, match="policy must be one of"):
        SimCore("magic", np.array([1000], np.int64), 4, np.array([7], np.uint32), 1, 10,
                IndirectionTable(1))
    assert core.stats()["arrived"].sum() == 0          # state unchanged


# ------------------------------------------------------------ determinism
def test_same_seed_same_json(tmp_path):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    args = ["simulate", "--scenario", "paper-fig7", "--duration", "0.5", "--policies",
            "rss,spray,rsspp", "--quiet"]
    assert main(args + ["--json", str(a)]) == 0
    assert main(args + ["--json", str(b)]) == 0
    ja, jb = json.loads(a.read_text()), json.loads(b.read_text())
    ja.pop("timing"), jb.pop("timing")
    # the command lines differ by the --json file, and the provenance says so
    assert ja["provenance"].pop("command").endswith(f"--json {a}")
    assert jb["provenance"].pop("command").endswith(f"--json {b}")
    assert ja == jb
    c = tmp_path / "c.json"
    assert main(args + ["--json", str(c), "--seed", "7"]) == 0
    jc = json.loads(c.read_text())
    assert jc["policies"]["rss"]["packets"] != ja["policies"]["rss"]["packets"]


def test_json_shape(tmp_path):
    out = tmp_path / "r.json"
    assert main(["simulate", "--duration", "0.3", "--policies", "rss,spray", "--quiet",
                 "--json", str(out)]) == 0
    j = json.loads(out.read_text())
    assert j["scenario"]["name"] == "paper-fig7"
    m = j["policies"]["rss"]
    assert len(m["core_utilization"]) == 4
    assert len(m["utilization_bins"]) == 1 and len(m["utilization_bins"][0]) == 4
    assert set(m["latency_ns"]) == {"p50", "p99", "p999"}
    for k in ("alert_bins", "packets", "drops", "out_of_order"):
        assert isinstance(m[k], int)
    assert j["timing"]["rss"]["mpps"] > 0


# -------------------------------------------------------------------- CLI
def test_cli_prints_a_table_with_the_simulation_rate(capsys):
    assert main(["simulate", "--duration", "0.3", "--policies", "rss,spray,rsspp"]) == 0
    out = capsys.readouterr()
    assert "scenario paper-fig7" in out.out and "Mpps" in out.out
    rows = [line for line in out.out.splitlines() if line.split()[:1] in (["rss"], ["spray"])]
    assert len(rows) == 2
    assert "simulating [" not in out.err                  # short run: no progress bar


def test_cli_list_names_the_builtins(capsys):
    assert main(["simulate", "--list"]) == 0
    out = capsys.readouterr().out
    for name in ("paper-fig7", "big-elephant", "hetero-cores"):
        assert name in out


def test_cli_default_policies():
    assert paraflowo_available() is None
    assert POLICY_NAMES == ("rss", "paraflowo", "spray", "rsspp")


def _err_line(capsys, argv):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    return err


def test_unknown_scenario_lists_the_known_ones(capsys):
    err = _err_line(capsys, ["simulate", "--scenario", "nope"])
    assert "unknown scenario 'nope'" in err and "paper-fig7" in err and "hetero-cores" in err


def test_missing_scenario_file(capsys, tmp_path):
    err = _err_line(capsys, ["simulate", "--scenario", str(tmp_path / "x.toml")])
    assert "not found" in err


BASE = """
name = "t"
duration_s = 0.1
[cores]
count = 2
service_mpps = 1.0
[[flows]]
rate_pps = 1000
"""


@pytest.mark.parametrize("text, fragment", [
    ("name = \"t\"\nduration_s = \n", "malformed TOML: key duration_s: Invalid value"),
    (BASE.replace("rx_queue", "x").replace("count = 2", "count = two"),
     "malformed TOML: key cores.count: Invalid value"),
    (BASE.replace("count = 2", "count = 0"), "cores.count must be >= 1, got 0"),
    (BASE.replace("count = 2\n", ""), "cores.count is required"),
    (BASE.replace("rate_pps = 1000", "rate_pps = -5"), "flows[0].rate_pps must be > 0, got -5"),
    (BASE.replace("service_mpps = 1.0", "service_mpps = [1.0, -1.0]"),
     "cores.service_mpps[1] must be > 0, got -1.0"),
    (BASE.replace("service_mpps = 1.0", "service_mpps = [1.0]"),
     "cores.service_mpps must have one rate per core (2), got 1"),
    ("flows = []\n" + BASE.replace("[[flows]]\nrate_pps = 1000", ""),
     "scenario t has no [[flows]]: give flow groups, or replay a capture"),
    (BASE.replace("duration_s = 0.1", "duration_s = 0"), "duration_s must be > 0"),
    (BASE + "\n[cores2]\n", "unknown scenario key cores2"),
    (BASE.replace("count = 2", "count = 2\nservice = \"fast\""),
     "cores.service must be one of deterministic, exponential, got 'fast'"),
    (BASE.replace("count = 2", "count = 2\nreta_size = 100"),
     "cores.reta_size must be a power of two, got 100"),
    (BASE.replace("rate_pps = 1000", "rate_pps = [5, 1]"), "flows[0].rate_pps must have lo <= hi"),
    (BASE.replace("rate_pps = 1000", "rate_pps = 1000\njitter = 2"),
     "flows[0].jitter must be <= 0.99, got 2"),
    (BASE.replace("rate_pps = 1000", "rate_pps = 1000\nsize = 3"),
     "unknown scenario key flows[0].size"),
])
def test_bad_scenario_files_name_the_key(capsys, tmp_path, text, fragment):
    p = tmp_path / "bad.toml"
    p.write_text(text)
    err = _err_line(capsys, ["simulate", "--scenario", str(p)])
    assert fragment in err, err


@pytest.mark.parametrize("argv, fragment", [
    (["--policies", "rss,nope"], "unknown policy 'nope'"),
    (["--duration", "-1"], "--duration must be > 0"),
    (["--time-scale", "2"], "--time-scale applies to --pcap input only"),
])
def test_bad_command_line_values(capsys, argv, fragment):
    err = _err_line(capsys, ["simulate"] + argv)
    assert fragment in err


def test_parse_scenario_accepts_the_issue_example():
    s = parse_scenario({"name": "x", "duration_s": 1.0, "cores": {"count": 1,
                        "service_mpps": 2.0}, "flows": [{"count": 3, "rate_pps": [1, 2]}]})
    assert s.cores.service_mpps == (2.0,) and s.flows[0].count == 3


# ------------------------------------------------------------------- plot
def test_plot_writes_a_png(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    png = tmp_path / "fig7.png"
    assert main(["simulate", "--duration", "0.3", "--policies", "rss,spray", "--quiet",
                 "--plot", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_without_matplotlib_says_how_to_install(capsys, monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    err = _err_line(capsys, ["simulate", "--duration", "0.1", "--policies", "rss",
                             "--plot", str(tmp_path / "x.png")])
    assert "pip install 'paraflowo[plot]'" in err


def test_results_do_not_depend_on_the_number_of_threads():
    s = load_scenario("hetero-cores").with_duration(0.2)
    one = simulate(s, workers=1).to_dict(timing=False)
    two = simulate(s, workers=4).to_dict(timing=False)
    assert one == two


def test_rsspp_moved_bucket_waits_for_the_old_core_by_hand():
    # RETA [0, 1, 0, 1]; flows 0 and 1 (buckets 0 and 2) both on core 0, which
    # they overload; core 1 idles.  At the first rebalance (10 us) one bucket
    # moves to core 1, and its next packet may not start before that bucket's
    # last packet on core 0 has finished.
    core = SimCore("rsspp", np.array([1000, 1000], np.int64), 64,
                   np.array([0, 2], np.uint32), 1, 10**9, IndirectionTable(2, 4),
                   period_ns=10_000)
    n = 40
    times = (np.arange(n) * 300).astype(np.int64)
    flows = (np.arange(n) % 2).astype(np.int32)
    tc, tf = np.empty(n, np.int16), np.empty(n, np.int64)
    core.run(times, flows, None, tc, tf)
    core.flush()
    st = core.stats()
    assert st["migrations"] == 1 and st["out_of_order"] == 0
    moved_flow = 0 if st["reta"][0] == 1 else 1
    idx = np.flatnonzero(flows == moved_flow)
    first_new = idx[np.argmax(tc[idx] == 1)]
    before = idx[idx < first_new]
    assert tc[before].tolist() == [0] * len(before)
    # its first packet on core 1 starts no earlier than its last one on core 0 finished
    assert tf[first_new] - 1000 >= tf[before[-1]]
    assert (np.diff(tf[idx]) > 0).all()                 # the flow stays in order


def _all_counters(core):
    out = {k: v for k, v in core.stats().items()}
    out.update({"flow_" + k: v for k, v in core.flow_stats().items()})
    return {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in out.items()}


@settings(max_examples=60, deadline=None)
@given(policy=st.sampled_from(BASELINES),
       gaps=st.lists(st.integers(0, 1500), min_size=1, max_size=700),
       flows=st.lists(st.integers(0, 5), min_size=700, max_size=700),
       svc=st.lists(st.integers(1, 4000), min_size=3, max_size=3),
       rx_queue=st.integers(1, 8))
def test_batched_egress_equals_egress_arrival_by_arrival(policy, gaps, flows, svc, rx_queue):
    # rss/spray/rsspp release their completions in batches (PFO_SIM_BATCH
    # arrivals) and test a full RX queue against a head that may lag; one
    # arrival per run() call releases everything due after each arrival,
    # which is the model: every counter, trace and per-flow table must match
    arrivals = np.cumsum(gaps).astype(np.int64)
    n = len(arrivals)
    fl = np.array(flows[:n], np.int32)
    hashes = np.array([7, 8, 9, 10, 11, 12], np.uint32)

    def make():
        return SimCore(policy, np.array(svc, np.int64), rx_queue, hashes, 4, 200_000,
                       IndirectionTable(3, 8), period_ns=50_000)

    a, b = make(), make()
    tca, tfa = np.empty(n, np.int16), np.empty(n, np.int64)
    tcb, tfb = np.empty(n, np.int16), np.empty(n, np.int64)
    a.run(arrivals, fl, None, tca, tfa)
    for i in range(n):
        b.run(arrivals[i:i + 1], fl[i:i + 1], None, tcb[i:i + 1], tfb[i:i + 1])
    assert _all_counters(a) == _all_counters(b)      # also before the flush
    a.flush()
    b.flush()
    assert tca.tolist() == tcb.tolist() and tfa.tolist() == tfb.tolist()
    assert _all_counters(a) == _all_counters(b)
