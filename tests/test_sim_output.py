"""Honest output and replay without ceremony (issue 16, points 2 and 4).

The table names the simulator's speed as such and shows offered/delivered
load; the counters have a legend; hints name the knob to turn; the figure
shows each policy's out-of-order and drop totals, a clear legend and the
labelled alert line, on the object API; a capture replays with no scenario.
"""

import sys

import pytest

import tracegen as tg
from paraflowo.cli import main
from paraflowo.sim import load_scenario, parse_scenario, simulate


@pytest.fixture(scope="module")
def fig7():
    return simulate(load_scenario("paper-fig7").with_duration(0.3))


def test_table_names_the_simulator_speed_and_the_loads(fig7):
    lines = fig7.table().splitlines()
    header = lines[1]
    assert "sim Mpps" in header and "delivered Mpps" in header
    assert " Mpps " not in header.replace("sim Mpps", "").replace("delivered Mpps", "")
    assert "offered load 1.1" in lines[0]              # 0.77 Mpps elephant + 0.4 Mpps of mice
    legend = [ln for ln in lines if ln.startswith("legend: ")]
    assert len(legend) == 1 and "not network throughput" in legend[0]
    for name, m in fig7.policies.items():
        assert m["offered_mpps"] == pytest.approx(m["packets"] / 0.3 / 1e6, rel=1e-4)
        assert m["delivered_mpps"] == pytest.approx(m["released"] / 0.3 / 1e6, rel=1e-4)
        row = next(ln for ln in lines if ln.startswith(name + " "))
        assert f"{m['delivered_mpps']:.4g}" in row


def test_paraflowo_counters_in_words_with_a_legend(fig7):
    text = fig7.table()
    assert "paraflowo: 1 flow split (" in text
    assert "timeout derived from core delays" in text
    assert "(paraflowo counters: flows split = flows the detector marked" in text
    assert "rsspp: " in text and "rebalances moved" in text


def test_hint_when_the_detector_never_marks_a_flow():
    s = parse_scenario({"name": "calm", "duration_s": 0.05,
                        "cores": {"count": 2, "service_mpps": 1.0},
                        "flows": [{"count": 3, "rate_pps": 20_000}]})
    r = simulate(s, ["rss", "paraflowo"])
    hint = [n for n in r.notes if "never split a flow" in n]
    assert len(hint) == 1 and "lower [paraflowo] threshold_pps" in hint[0]
    assert "(20,000 pps)" in hint[0] and "threshold_pps (50,000)" in hint[0]
    assert f"note: {hint[0]}" in r.table()


def test_hint_when_the_window_overruns():
    s = parse_scenario({"name": "w", "duration_s": 0.01, "cores": {"count": 4,
                        "service_mpps": 1.0}, "flows": [{"rate_pps": 3.6e6},
                                                        {"count": 10, "rate_pps": 1e4}],
                        "paraflowo": {"threshold_pps": 5e5, "detector_window_s": 0.001,
                                      "window": 256}})
    r = simulate(s, ["paraflowo"])
    assert r.policies["paraflowo"]["paraflowo"]["forwarded_late"] > 0
    assert any("raise [paraflowo] window" in n for n in r.notes)


# ---------------------------------------------------------------------- figure
def test_figure_shows_totals_legend_and_alert_line(fig7):
    import matplotlib
    from matplotlib.figure import Figure

    from paraflowo.sim.plot import plot_utilization
    backend = matplotlib.rcParams["backend"]
    fig = plot_utilization(fig7)
    assert isinstance(fig, Figure)
    assert matplotlib.rcParams["backend"] == backend            # never switched
    titles = [ax.get_title() for ax in fig.axes]
    spray = fig7.policies["spray"]
    assert f"spray\n{spray['out_of_order']:,} out of order, {spray['drops']:,} drops" in titles
    # one figure-level legend outside the panels, none over the data
    assert len(fig.legends) == 1 and all(ax.get_legend() is None for ax in fig.axes)
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "alert threshold (40 %)" in labels and "core 0" in labels


def test_figure_into_the_users_axes(fig7, tmp_path):
    from matplotlib.figure import Figure

    from paraflowo.sim.plot import plot_utilization
    mine = Figure()
    axes = mine.subplots(2, 2).ravel()
    out = plot_utilization(fig7, tmp_path / "f.png", axes=axes)
    assert out is mine and (tmp_path / "f.png").stat().st_size > 0
    assert axes[0].get_title().startswith("rss\n")
    with pytest.raises(ValueError, match=r"axes must hold one Axes per policy \(4\), got 2"):
        plot_utilization(fig7, axes=axes[:2])


def test_plot_leaves_pyplot_alone(fig7):
    from paraflowo.sim import plot
    had = "matplotlib.pyplot" in sys.modules
    plot.plot_utilization(fig7)
    assert ("matplotlib.pyplot" in sys.modules) == had


# --------------------------------------------------------------------- replay
@pytest.fixture(scope="module")
def capture(tmp_path_factory):
    p = tmp_path_factory.mktemp("cli") / "iperf.pcap"
    tg.write_pcap(p, tg.elephant_and_mice(0.3, elephant_pps=15_000, n_mice=10, mice_pps=300))
    return p


def test_replay_with_no_scenario(capture, capsys):
    assert main(["simulate", "--pcap", str(capture), "--cores", "4", "--service-mpps", "0.5",
                 "--policies", "rss,paraflowo", "--quiet"]) == 0
    cap = capsys.readouterr()
    out = cap.out
    assert "scenario iperf.pcap: 4 cores (0.5/0.5/0.5/0.5 Mpps each" in out
    # the capture's note is a warning on stderr, once; no progress off a terminal
    assert cap.err.count("packets without a 5-tuple") == 1
    assert cap.err.startswith("warning: ") and "\r" not in cap.err
    # the 15 kpps elephant is below the default threshold: the output says so
    assert "lower [paraflowo] threshold_pps" in out
    # ... and where that knob goes, since no scenario file was given
    assert "note: [paraflowo] settings go in a scenario file: --scenario FILE.toml" in out


def test_replay_with_a_scenario_without_flows(capture, tmp_path, capsys):
    toml = tmp_path / "slow.toml"
    toml.write_text('name = "slow"\nduration_s = 1.0\n[cores]\ncount = 4\n'
                    'service_mpps = 0.015\n[paraflowo]\nthreshold_pps = 10000.0\n')
    assert main(["simulate", "--scenario", str(toml), "--pcap", str(capture), "--quiet",
                 "--policies", "spray,paraflowo", "--service-mpps", "0.015,0.015,0.02,0.02"]) == 0
    out = capsys.readouterr().out
    row = next(ln for ln in out.splitlines() if ln.startswith("paraflowo "))
    assert row.split()[-3] == "0"                              # out of order
    assert "0.015/0.015/0.02/0.02 Mpps" in out
    assert "settings go in a scenario file" not in out          # one was given


@pytest.mark.parametrize("argv, fragment", [
    (["--cores", "0"], "--cores must be an integer in [1, 4096], got 0"),
    (["--cores", "x"], "--cores must be an integer in [1, 4096], got 'x'"),
    (["--service-mpps", "1,-2"], "--service-mpps must be rates in (0, 10000] Mpps, got '-2'"),
    (["--cores", "3", "--service-mpps", "1,2"],
     "--service-mpps must give one rate or one per core (3), got 2"),
    (["--cores", "2"], "--cores 2: the scenario's cores have different rates"),
])
def test_bad_core_flags(capsys, argv, fragment):
    assert main(["simulate", "--duration", "0.01"] + argv) == 2
    err = capsys.readouterr().err
    assert fragment in err and err.count("\n") == 1


def test_cores_flags_override_a_scenario(capsys):
    assert main(["simulate", "--duration", "0.02", "--cores", "2", "--service-mpps", "3",
                 "--policies", "rss", "--quiet"]) == 0
    assert "paper-fig7: 2 cores (3/3 Mpps each" in capsys.readouterr().out


def test_flows_split_counts_distinct_flows_not_entries():
    # an elephant that pauses longer than idle_ms leaves para_flow and, marked
    # again, starts a second entry: one flow split, split again once
    s = parse_scenario({"name": "pause", "duration_s": 0.02,
                        "cores": {"count": 4, "service_mpps": 1.0},
                        "flows": [{"rate_pps": 800_000}],
                        "paraflowo": {"idle_ms": 0.001}})
    r = simulate(s, ["paraflowo"])
    p = r.policies["paraflowo"]["paraflowo"]
    assert p["flows_split"] == 1 < p["para_flows"]
    assert p["flows_split"] == sum(g["detected"] for g in p["detection"].values())
    line = next(ln for ln in r.table().splitlines() if ln.startswith("paraflowo: "))
    assert line.startswith("paraflowo: 1 flow split (")
    again = p["para_flows"] - 1
    assert f"split again {again:,} times after idling" in line
