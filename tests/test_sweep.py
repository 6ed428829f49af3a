"""Sweeps: rows equal to single `simulate` runs, engines, resume, tables, provenance."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytest.importorskip("joblib")
pd = pytest.importorskip("pandas")
pytest.importorskip("pyarrow")

import paraflowo.sim.sweep as sweep_mod  # noqa: E402
from paraflowo.cli import main  # noqa: E402
from paraflowo.errors import MissingDependency  # noqa: E402
from paraflowo.sim import load_scenario, simulate  # noqa: E402
from paraflowo.sim.provenance import SCHEMA_VERSION, file_sha256, provenance  # noqa: E402
from paraflowo.sim.runner import RECORD_METRICS, SimulationResult  # noqa: E402
from paraflowo.sim.sweep import (  # noqa: E402
    parse_sweep_spec, read_table, scenario_toml, spawn_seeds, sweep)

POLICIES = ["rss", "paraflowo", "spray", "rsspp"]
# the "done when": 3 N_para x 2 alpha x 2 seeds x 4 policies on a
# shortened paper-fig7
SPEC = {
    "scenario": "paper-fig7",
    "policies": POLICIES,
    "seeds": 2,
    "overrides": {"duration_s": 0.05, "bin_s": 0.01},
    "grid": {"paraflowo.n_para": [2, 3, 4], "paraflowo.alpha": [0.5, 1.0]},
}


@pytest.fixture(scope="module")
def local(tmp_path_factory):
    out = tmp_path_factory.mktemp("sweep") / "local.parquet"
    res = sweep(SPEC, out, backend="loky", jobs=2, command=["paraflowo", "sweep", "t"])
    return res, out


def test_grid_seeds_and_policies_make_the_rows(local):
    res, _ = local
    assert res.failed == [] and res.computed == 12 and res.skipped == 0
    assert len(res.rows) == 3 * 2 * 2 * 4
    seeds = spawn_seeds(1, 2)           # root: the scenario's seed
    assert [r["seed"] for r in res.rows[:8]] == [seeds[0]] * 4 + [seeds[1]] * 4
    first = res.rows[0]
    assert list(first)[:4] == ["paraflowo.n_para", "paraflowo.alpha", "policy", "seed"]
    assert list(first)[4:] == list(RECORD_METRICS)
    assert [r["policy"] for r in res.rows[:4]] == POLICIES
    assert {(r["paraflowo.n_para"], r["paraflowo.alpha"]) for r in res.rows} == {
        (n, a) for n in (2, 3, 4) for a in (0.5, 1.0)}


def test_each_row_is_the_simulate_command_of_its_point(local, tmp_path):
    res, _ = local
    spec = parse_sweep_spec(SPEC)
    spec_file = tmp_path / "spec.toml"
    spec_file.write_text('seeds = 2\n[overrides]\nduration_s = 0.05\nbin_s = 0.01\n[grid]\n'
                         '"paraflowo.n_para" = [2, 3, 4]\n"paraflowo.alpha" = [0.5, 1.0]\n')
    assert main(["sweep", str(spec_file), "--export-points", str(tmp_path / "pts")]) == 0
    assert len(list((tmp_path / "pts").glob("point-*.toml"))) == 12
    for point in (spec.points()[0], spec.points()[7]):
        sc = spec.scenario_of(point)
        toml = tmp_path / f"point{point.index}.toml"
        # the point's scenario with its original seed: --seed picks the row's
        toml.write_text(scenario_toml(sc.with_overrides(seed=1)))
        for scenario, seed in ((toml, ["--seed", str(point.seed)]),
                               (tmp_path / "pts" / f"point-{point.index:04d}.toml", [])):
            js = tmp_path / f"point{point.index}.json"
            assert main(["simulate", "--scenario", str(scenario), *seed, "--policies",
                         ",".join(POLICIES), "--quiet", "--json", str(js)]) == 0
            j = json.loads(js.read_text())
            cli_rows = SimulationResult(j["scenario"], j["policies"]).to_records()
            rows = res.rows[4 * point.index:4 * point.index + 4]
            for row, cli in zip(rows, cli_rows):
                assert dict(point.values) == {k: row[k] for k in spec.grid}
                assert {k: v for k, v in row.items() if k not in spec.grid} == {
                    k: v for k, v in cli.items() if k != "scenario"}


def test_dask_local_cluster_gives_the_same_table(local, tmp_path):
    distributed = pytest.importorskip("dask.distributed")
    res, _ = local
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                  dashboard_address=None) as cluster:
        out = tmp_path / "dask.csv"
        got = sweep(SPEC, out, backend="dask", scheduler=cluster.scheduler_address)
    assert got.failed == []
    assert got.rows == res.rows
    rows, meta = read_table(out)
    assert rows == res.rows
    assert meta["provenance"]["schema_version"] == SCHEMA_VERSION


def test_ray_backend_gives_the_same_table(local):
    pytest.importorskip("ray", reason="ray is not installed (optional: --backend ray)")
    res, _ = local
    assert sweep(SPEC, backend="ray", jobs=2).rows == res.rows


def test_parquet_loads_in_pandas_with_typed_columns(local):
    res, out = local
    df = pd.read_parquet(out)
    assert list(df.columns) == list(res.columns)
    assert len(df) == 48
    for c in ("paraflowo.n_para", "seed", "drops", "out_of_order", "packets",
              "latency_ns_p99", "n3_reordered", "reorder_extent_max"):
        assert pd.api.types.is_integer_dtype(df[c]), c
    for c in ("paraflowo.alpha", "util_max", "util_spread", "reorder_extent_mean"):
        assert pd.api.types.is_float_dtype(df[c]), c
    assert pd.api.types.is_string_dtype(df["policy"])
    assert df.to_dict("records") == res.rows
    assert res.to_frame().to_dict("records") == res.rows
    assert (res.to_frame().dtypes.drop("policy") == df.dtypes.drop("policy")).all()


def test_parquet_and_csv_carry_provenance(local, tmp_path):
    _, out = local
    import pyarrow.parquet as pq
    meta = json.loads(pq.read_schema(out).metadata[b"paraflowo"])
    prov = meta["provenance"]
    assert prov["command"] == "paraflowo sweep t"
    assert {"schema_version", "paraflowo", "numpy", "python", "platform",
            "traces"} <= set(prov)
    assert meta["spec"]["grid"] == SPEC["grid"]


def test_csv_loads_in_pandas_with_typed_columns(tmp_path):
    spec = dict(SPEC, policies=["rss", "spray"], seeds=[5],
                grid={"paraflowo.alpha": [0.5, 1.0], "cores.rss_fields": ["l3", "l3l4"]})
    out = tmp_path / "t.csv"
    res = sweep(spec, out, jobs=1)
    df = pd.read_csv(out)
    assert pd.api.types.is_integer_dtype(df["drops"])
    assert pd.api.types.is_integer_dtype(df["seed"]) and set(df["seed"]) == {5}
    assert pd.api.types.is_float_dtype(df["util_spread"])
    assert df["util_spread"].tolist() == [r["util_spread"] for r in res.rows]
    side = json.loads((tmp_path / "t.csv.provenance.json").read_text())
    assert side["provenance"]["schema_version"] == SCHEMA_VERSION
    assert read_table(out)[0] == res.rows


class _Stop(BaseException):
    """Stands for Ctrl-C in the middle of a sweep."""


def test_an_interrupted_sweep_resumes_without_recomputing(tmp_path, monkeypatch):
    spec = dict(SPEC, policies=["rss", "spray"], seeds=[3],
                grid={"paraflowo.alpha": [0.25, 0.5, 0.75, 1.0]})
    full = sweep(spec, jobs=1).rows
    real = sweep_mod._run_point
    calls = []

    def dies_on_third(*args):
        calls.append(args)
        if len(calls) == 3:
            raise _Stop
        return real(*args)

    out = tmp_path / "r.parquet"
    monkeypatch.setattr(sweep_mod, "_run_point", dies_on_third)
    with pytest.raises(_Stop):
        sweep(spec, out, jobs=1)
    assert len(read_table(out)[0]) == 2 * 2         # the two finished points were saved
    calls.clear()
    monkeypatch.setattr(sweep_mod, "_run_point", lambda *a: calls.append(a) or real(*a))
    res = sweep(spec, out, jobs=1)
    assert len(calls) == 2                           # only the two missing points ran
    assert (res.computed, res.skipped) == (2, 2)
    assert res.rows == full == read_table(out)[0]
    assert len(res.metadata["earlier_runs"]) == 1
    calls.clear()
    assert sweep(spec, out, jobs=1).skipped == 4 and calls == []


def test_a_failed_point_is_reported_and_the_others_kept(tmp_path, monkeypatch, capsys):
    spec_file = tmp_path / "s.toml"
    spec_file.write_text('scenario = "paper-fig7"\npolicies = ["rss"]\nseeds = [1]\n'
                         '[overrides]\nduration_s = 0.03\n'
                         '[grid]\n"flows[0].rate_pps" = [500000.0, 600000.0, 700000.0]\n')
    real = sweep_mod.simulate

    def fails_at_600k(scenario, *a, **k):
        if scenario.flows[0].rate_pps == 600000.0:
            raise RuntimeError("boom")
        return real(scenario, *a, **k)

    monkeypatch.setattr(sweep_mod, "simulate", fails_at_600k)
    out = tmp_path / "f.csv"
    assert main(["sweep", str(spec_file), "--out", str(out), "--jobs", "1"]) == 1
    err = capsys.readouterr().err
    assert "failed point (flows[0].rate_pps=600000.0, trace=None, seed=1): " \
           "RuntimeError: boom" in err
    assert "sweeping" not in err and "\r" not in err     # no progress off a terminal
    rows, _ = read_table(out)
    assert [r["flows[0].rate_pps"] for r in rows] == [500000.0, 700000.0]
    monkeypatch.setattr(sweep_mod, "simulate", real)
    assert main(["sweep", str(spec_file), "--out", str(out), "--jobs", "1", "--quiet"]) == 0
    assert "1 points computed, 2 already in" in capsys.readouterr().out


def test_sweep_command_plots_the_metric(tmp_path, capsys):
    mpl = pytest.importorskip("matplotlib")
    backend = mpl.get_backend()
    spec_file = tmp_path / "s.toml"
    spec_file.write_text('policies = ["rss", "spray"]\nseeds = 1\n[overrides]\n'
                         'duration_s = 0.03\n[grid]\n"paraflowo.alpha" = [0.5, 1.0]\n'
                         '"cores.rx_queue" = [64, 4096]\n')
    png = tmp_path / "p.png"
    assert main(["sweep", str(spec_file), "--out", str(tmp_path / "p.parquet"), "--jobs",
                 "1", "--quiet", "--plot", str(png), "--metric", "out_of_order"]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert mpl.get_backend() == backend
    from paraflowo.sim.sweep_plot import plot_sweep
    rows, _ = read_table(tmp_path / "p.parquet")
    fig = plot_sweep(rows, ["paraflowo.alpha"], "util_spread")
    assert len(fig.axes) == 1 and len(fig.axes[0].lines) == 2
    with pytest.raises(ValueError, match="metric must be one of"):
        plot_sweep(rows, ["paraflowo.alpha"], "nope")


@pytest.mark.parametrize("change, fragment", [
    ({"grid": {"paraflowo.alpha": [0.5, 2.0]}},
     "grid.paraflowo.alpha = 2.0: override paraflowo.alpha = 2.0: paraflowo.alpha must be "
     "in (0, 1], got 2.0"),
    ({"grid": {"paraflowo.nope": [1]}}, "unknown scenario key paraflowo.nope"),
    ({"grid": {"flows[7].rate_pps": [1.0]}}, "flows[7] does not exist (the scenario has 2)"),
    ({"grid": {"cores.count": []}}, "grid.cores.count must be a non-empty list"),
    ({"grid": {"seed": [1, 2]}}, "seed cannot be overridden or swept"),
    ({"overrides": {"duration_s": -1}}, "[overrides]: override duration_s = -1"),
    ({"seeds": 0}, "seeds must be in [1, 1048576], got 0"),
    ({"seeds": [1, 1]}, "seeds must not repeat"),
    ({"policies": ["rss", "ecmp"]}, "unknown policy 'ecmp'"),
    ({"colour": 1}, "unknown sweep key colour"),
    ({"time_scale": 0.5}, "time_scale applies to traces only"),
])
def test_bad_specs_name_the_key(change, fragment):
    with pytest.raises(ValueError) as exc:
        parse_sweep_spec(dict(SPEC, **change))
    assert fragment in str(exc.value)


def test_bad_engine_arguments():
    with pytest.raises(ValueError, match="backend must be one of loky, dask, ray, got 'mpi'"):
        sweep(SPEC, backend="mpi")
    with pytest.raises(ValueError, match="out must end in .parquet or .csv"):
        sweep(SPEC, "x.json")
    with pytest.raises(ValueError, match="jobs must be an integer >= 1, got 0"):
        sweep(SPEC, jobs=0)
    with pytest.raises(ValueError, match="scheduler applies to backend 'dask' only"):
        sweep(SPEC, scheduler="tcp://x:1")


def test_an_out_file_of_another_sweep_is_refused(local):
    _, out = local
    with pytest.raises(ValueError, match="holds a row of another sweep"):
        sweep(dict(SPEC, seeds=[99]), out, jobs=1)


def test_bad_sweep_command_lines(tmp_path, capsys):
    assert main(["sweep", str(tmp_path / "none.toml"), "--out", "x.csv"]) == 2
    assert "sweep spec" in capsys.readouterr().err
    spec_file = tmp_path / "s.toml"
    spec_file.write_text('seeds = 1\n')
    assert main(["sweep", str(spec_file), "--out", "x.txt"]) == 2
    assert "--out must end in .parquet or .csv" in capsys.readouterr().err
    assert main(["sweep", str(spec_file), "--out", "x.csv", "--jobs", "0"]) == 2
    assert "--jobs: process count must be >= 1, got 0" in capsys.readouterr().err
    assert main(["sweep", str(spec_file), "--out", "x.csv", "--plot", "a.png",
                 "--metric", "nope"]) == 2
    assert "--metric must be one of" in capsys.readouterr().err
    assert main(["sweep", str(spec_file)]) == 2
    assert "--out FILE.parquet or FILE.csv is required" in capsys.readouterr().err


# ------------------------------------------------------------ overrides, knobs
def test_with_overrides_validates_like_load_scenario():
    s = load_scenario("paper-fig7")
    assert s.with_overrides({}) == s
    t = s.with_overrides({"cores.count": 2, "cores.service_mpps": 1.0,
                          "flows[1].rate_pps": [100.0, 200.0]}, duration_s=0.5)
    assert (t.cores.count, t.cores.service_mpps, t.duration_s) == (2, (1.0, 1.0), 0.5)
    assert t.flows[1].rate_pps == (100.0, 200.0)
    with pytest.raises(ValueError, match="cores.service_mpps must have one rate per core"):
        s.with_overrides({"cores.count": 2})
    with pytest.raises(TypeError, match="overrides must be a dict, got list"):
        s.with_overrides([("seed", 2)])
    with pytest.raises(ValueError, match="override key 'cores..count'"):
        s.with_overrides({"cores..count": 2})


@pytest.mark.parametrize("name", ["paper-fig7", "big-elephant", "hetero-cores"])
def test_scenario_toml_round_trips(name):
    import tomllib
    from paraflowo.sim import parse_scenario
    s = load_scenario(name)
    assert parse_scenario(tomllib.loads(scenario_toml(s))) == s


def test_reorder_false_is_the_ab_without_reordering():
    s = load_scenario("paper-fig7").with_overrides(duration_s=0.2)
    on = simulate(s, ["paraflowo"]).policies["paraflowo"]
    off = simulate(s.with_overrides({"paraflowo.reorder": False}),
                   ["paraflowo"]).policies["paraflowo"]
    assert off["paraflowo"]["peak_held"] == 0 and on["paraflowo"]["peak_held"] > 0
    assert off["paraflowo"]["para_packets"] == on["paraflowo"]["para_packets"]
    assert off["out_of_order"] > on["out_of_order"]
    with pytest.raises(ValueError, match="paraflowo.reorder must be true or false"):
        s.with_overrides({"paraflowo.reorder": "no"})


def test_rss_fields_l3_hashes_the_addresses_only():
    from paraflowo.hashing import rss_hash
    s = load_scenario("paper-fig7").with_overrides(duration_s=0.02)
    l3 = simulate(s.with_overrides({"cores.rss_fields": "l3"}), ["rss"]).scenario
    l4 = simulate(s, ["rss"]).scenario
    assert l3["flow_rss_hash"] != l4["flow_rss_hash"]
    from paraflowo.sim.traffic import make_flows
    flows = make_flows(s, np.random.default_rng(np.random.SeedSequence(s.seed).spawn(3)[0]))
    t = flows.tuples[0]
    assert l3["flow_rss_hash"][0] == f"0x{rss_hash(int(t['src_ip']), int(t['dst_ip'])):08x}"
    with pytest.raises(ValueError, match="cores.rss_fields must be one of l3, l3l4"):
        s.with_overrides({"cores.rss_fields": "l4"})


def test_rsspp_target_load_and_imbalance():
    s = load_scenario("paper-fig7").with_overrides(duration_s=0.5)
    base = simulate(s, ["rsspp"]).policies["rsspp"]["rsspp"]
    assert base["migrations"] > 0 and base["balanced_periods"] == 0
    lazy = simulate(s.with_overrides({"rsspp.imbalance": 1.0}),
                    ["rsspp"]).policies["rsspp"]["rsspp"]
    assert lazy["migrations"] == 0 and lazy["balanced_periods"] == lazy["rebalances"] > 0
    high = simulate(s.with_overrides({"rsspp.target_load": 1.0}),
                    ["rsspp"]).policies["rsspp"]["rsspp"]
    assert high["migrations"] == 0
    with pytest.raises(ValueError, match="rsspp.target_load must be <= 1"):
        s.with_overrides({"rsspp.target_load": 1.5})


# ------------------------------------------------------------ single runs
def test_records_frame_and_flow_table():
    r = simulate(load_scenario("paper-fig7").with_duration(0.05), ["rss", "spray"])
    df = r.to_frame()
    assert list(df["policy"]) == ["rss", "spray"]
    assert pd.api.types.is_integer_dtype(df["drops"])
    flows = r.flow_frame()
    assert len(flows) == 2 * 101
    for name, m in r.policies.items():
        f = flows[flows["policy"] == name]
        assert f["packets"].sum() == m["packets"]
        assert f["drops"].sum() == m["drops"]
        assert f["out_of_order"].sum() == m["out_of_order"]
        assert f["reorder_extent_max"].max() == m["reorder_extent_max"]
        assert (f["latency_ns_p50"] <= f["latency_ns_p99"]).all()
        assert (f["latency_ns_p999"] <= f["latency_ns_max"]).all()
    assert set(flows["group"]) == {"elephant", "mice"}


def test_simulate_json_has_provenance(tmp_path):
    js = tmp_path / "r.json"
    assert main(["simulate", "--duration", "0.02", "--policies", "rss", "--quiet",
                 "--json", str(js)]) == 0
    prov = json.loads(js.read_text())["provenance"]
    assert prov["schema_version"] == SCHEMA_VERSION
    assert prov["numpy"] == np.__version__
    assert prov["python"] == ".".join(map(str, sys.version_info[:3]))
    assert prov["traces"] == []
    # the command line given to main(), not the test runner's
    assert prov["command"].startswith("paraflowo simulate --duration 0.02")


def test_provenance_hashes_each_trace(tmp_path):
    f = tmp_path / "t.pcap"
    f.write_bytes(b"abc")
    p = provenance(["x"], [f])
    assert p["traces"] == [{"path": str(f), "sha256": "ba7816bf8f01cfea414140de5dae2223b00361a3"
                            "96177a9cb410ff61f20015ad"}]
    assert file_sha256(f) == p["traces"][0]["sha256"]


def test_spawned_seeds_are_plain_independent_ints():
    seeds = spawn_seeds(12345, 4)
    assert all(type(s) is int and 0 <= s < 2**63 for s in seeds)
    assert len(set(seeds)) == 4 and spawn_seeds(12345, 4) == seeds
    assert spawn_seeds(12346, 4) != seeds


def test_to_toml_dict_covers_every_scenario_field():
    # with_overrides rebuilds a scenario from to_toml_dict: a Scenario field it
    # does not write would silently fall back to its default.  Adding a field?
    # Write it in Scenario.to_toml_dict, then add it here.
    import dataclasses
    from paraflowo.sim import Scenario
    assert {f.name for f in dataclasses.fields(Scenario)} == {
        "name", "duration_s", "cores", "flows", "seed", "bin_s", "alert_threshold",
        "jitter_period_s", "description", "rsspp_period_s", "rsspp_target_load",
        "rsspp_imbalance", "paraflowo"}
    from paraflowo.sim import CoresSpec, FlowGroup
    assert {f.name for f in dataclasses.fields(CoresSpec)} == set(
        load_scenario("paper-fig7").to_toml_dict()["cores"])
    assert {f.name for f in dataclasses.fields(FlowGroup)} == set(
        load_scenario("paper-fig7").to_toml_dict()["flows"][0])


@pytest.mark.parametrize("missing", ["joblib", "pyarrow.parquet"])
def test_a_missing_extra_says_how_to_install(tmp_path, capsys, monkeypatch, missing):
    monkeypatch.setitem(sys.modules, missing, None)
    spec_file = tmp_path / "s.toml"
    spec_file.write_text('seeds = 1\n[overrides]\nduration_s = 0.01\n')
    out = tmp_path / "x.parquet"
    assert main(["sweep", str(spec_file), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "pip install 'paraflowo[sweep]'" in err and f"needs {missing.split('.')[0]}" in err
    assert not out.exists()


def test_ray_backend_without_ray(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    monkeypatch.setitem(sys.modules, "ray.util.joblib", None)
    with pytest.raises(MissingDependency, match=r"--backend ray needs ray.*paraflowo\[ray\]"):
        sweep(SPEC, backend="ray")


def _fake_point(scenario, policies, trace, time_scale, command):
    """Stands for a simulation: records that depend only on the point."""
    a = scenario.paraflowo["alpha"]
    rec = {m: (a if m in ("util_max", "util_min", "util_spread", "reordered_ratio",
                          "reorder_extent_mean") else scenario.cores.rx_queue)
           for m in RECORD_METRICS}
    return [dict(rec, policy=p, seed=scenario.seed) for p in policies], None, []


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lost=st.sets(st.integers(0, 11)), fmt=st.sampled_from([".csv", ".parquet"]))
def test_resume_runs_exactly_the_missing_points(tmp_path, monkeypatch, lost, fmt):
    # a table missing any set of points (a crash, a deleted row): the rerun
    # computes those points and only those, and ends with the full table
    import tempfile
    from paraflowo.sim.tables import _write_table
    spec = dict(SPEC, policies=["rss", "spray"], seeds=[1, 2],
                grid={"paraflowo.alpha": [0.25, 0.5, 1.0], "cores.rx_queue": [8, 64]})
    monkeypatch.setattr(sweep_mod, "_run_point", _fake_point)
    full = sweep(spec, jobs=1)
    out = Path(tempfile.mkdtemp(dir=tmp_path)) / f"t{fmt}"
    kept = [r for i, r in enumerate(full.rows) if i // 2 not in lost]
    _write_table(out, kept, full.columns, full.metadata)
    calls = []
    monkeypatch.setattr(sweep_mod, "_run_point", lambda *a: calls.append(a) or _fake_point(*a))
    res = sweep(spec, out, jobs=1)
    assert len(calls) == len(lost) == res.computed and res.skipped == 12 - len(lost)
    assert sorted((c[0].paraflowo["alpha"], c[0].cores.rx_queue, c[0].seed) for c in calls) \
        == sorted((p.values[0][1], p.values[1][1], p.seed)
                  for p in parse_sweep_spec(spec).points() if p.index in lost)
    assert res.rows == full.rows == read_table(out)[0]


def test_bad_outputs_fail_before_the_sweep(tmp_path, capsys, monkeypatch):
    # --out and --plot are checked before any point runs: nothing is simulated
    monkeypatch.setattr(sweep_mod, "_run_point", _fail_if_called)
    spec_file = tmp_path / "s.toml"
    spec_file.write_text('seeds = 1\n[overrides]\nduration_s = 0.01\n')
    cases = [
        ["--out", str(tmp_path / "missing-dir" / "x.csv")],
        ["--out", "-"],
        ["--out", str(tmp_path / "x.csv"), "--plot", str(tmp_path / "missing-dir" / "p.png")],
        ["--out", str(tmp_path / "x.csv"), "--plot", str(tmp_path / "p.notaformat")],
    ]
    for extra in cases:
        assert main(["sweep", str(spec_file), "--jobs", "1", *extra]) == 2, extra
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "error:" in err, (extra, err)
    assert not (tmp_path / "x.csv").exists()


def _fail_if_called(*args, **kwargs):
    raise AssertionError("a point ran although an output was invalid")


class _Terminal:
    """A stderr that says it is a terminal, and keeps what is written."""

    def __init__(self):
        self.text = ""

    def write(self, t):
        self.text += t

    def flush(self):
        pass

    def isatty(self):
        return True


def test_sweep_progress_only_on_a_terminal_with_rate_and_eta(tmp_path, monkeypatch, capsys):
    import functools

    import paraflowo.cli.sweep as cli_sweep
    from paraflowo.cli._progress import Progress
    spec_file = tmp_path / "s.toml"
    spec_file.write_text('policies = ["rss"]\nseeds = [1, 2, 3]\n[overrides]\n'
                         'duration_s = 0.01\n')
    out = tmp_path / "p.csv"
    monkeypatch.setattr(sweep_mod, "_run_point", _fake_point)
    # off a terminal (a log, CI): not a byte of progress
    assert main(["sweep", str(spec_file), "--out", str(out), "--jobs", "1"]) == 0
    err = capsys.readouterr().err
    assert err == ""
    # on a terminal: one redrawn line with rate and ETA, ended before the summary;
    # a resumed sweep counts only the points it computes
    rows, meta = read_table(out)
    from paraflowo.sim.tables import _write_table
    _write_table(out, rows[:1], meta["columns"], meta)
    tty = _Terminal()
    monkeypatch.setattr(sys, "stderr", tty)
    monkeypatch.setattr(cli_sweep, "Progress",
                        functools.partial(Progress, delay_s=0.0, interval_s=0.0))
    assert main(["sweep", str(spec_file), "--out", str(out), "--jobs", "1"]) == 0
    assert tty.text.startswith("\rsweeping [") and tty.text.endswith("\n")
    assert "2/2 points, " in tty.text and "points/s, ETA " in tty.text
    assert "3/3" not in tty.text                    # the point found in --out is left out
    tty.text = ""
    assert main(["sweep", str(spec_file), "--out", str(out), "--jobs", "1", "--quiet"]) == 0
    assert tty.text == ""


def test_sweep_json_means_what_it_means_in_simulate(tmp_path, monkeypatch, capsys):
    spec_file = tmp_path / "s.toml"
    spec_file.write_text('policies = ["rss", "spray"]\nseeds = [1, 2]\n[overrides]\n'
                         'duration_s = 0.01\n')
    out = tmp_path / "p.parquet"
    monkeypatch.setattr(sweep_mod, "_run_point", _fake_point)
    # --json alone: the JSON on stdout instead of the summary line
    assert main(["sweep", str(spec_file), "--out", str(out), "--jobs", "1", "--json"]) == 0
    got = capsys.readouterr()
    j = json.loads(got.out)
    assert (j["rows"], j["points"], j["computed"], j["skipped"]) == (4, 2, 2, 0)
    assert j["policies"] == ["rss", "spray"] and j["failed"] == [] and j["notes"] == []
    assert j["out"] == str(out)
    assert j["provenance"]["schema_version"] == SCHEMA_VERSION
    assert "--json" in j["provenance"]["command"]
    assert j["provenance"] == read_table(out)[1]["provenance"]
    # --json FILE: the file, and the summary line as usual
    js = tmp_path / "s.json"
    assert main(["sweep", str(spec_file), "--out", str(out), "--jobs", "1",
                 "--json", str(js)]) == 0
    got = capsys.readouterr()
    assert "0 points computed, 2 already in" in got.out and f"wrote {js}" in got.out
    j = json.loads(js.read_text())
    assert (j["computed"], j["skipped"]) == (0, 2) and len(j["earlier_runs"]) == 1
    # checked before the run, and only one output on stdout
    for extra in (["--json", str(tmp_path / "no" / "s.json")], ["--json", "-", "--plot", "-"]):
        assert main(["sweep", str(spec_file), "--out", str(tmp_path / "q.csv"), "--jobs",
                     "1", *extra]) == 2
        assert capsys.readouterr().err.count("\n") == 1
    assert not (tmp_path / "q.csv").exists()


def test_dask_workers_leave_ctrl_c_to_the_sweep():
    # a terminal's Ctrl-C reaches the whole process group: the local cluster's
    # processes start with SIGINT ignored, so they print no tracebacks and the
    # sweep alone stops, with its one-line summary; the handler here is restored
    import signal
    import subprocess
    before = signal.getsignal(signal.SIGINT)
    child = sweep_mod._quiet_start(lambda: subprocess.run(
        [sys.executable, "-c", "import signal; print(signal.getsignal(signal.SIGINT) == signal.SIG_IGN)"],
        capture_output=True, text=True, check=True))
    assert child.stdout.strip() == "True"
    assert signal.getsignal(signal.SIGINT) is before
