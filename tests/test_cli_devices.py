"""``paraflowo capacity``, ``memory`` and ``calibrate``: tables, JSON shape, plots, exit codes."""

import json
import subprocess
import sys

import pytest

from paraflowo.cli import main
from paraflowo.devices import BUILTIN_PROFILES, get_profile, loads_profile, save_profile, DeviceProfile


def run_json(capsys, *argv):
    assert main([*argv, "--json"]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    return json.loads(captured.out)


# ----------------------------------------------------------------- capacity


def test_capacity_table_shows_figure_6b(capsys):
    assert main(["capacity"]) == 0
    out = capsys.readouterr().out
    assert "riscv-smartnic-256k" in out and "4.07 Mpps per core" in out
    assert "framing not included" in out
    assert "416.8*" in out and "533.5*" in out            # 16 cores, 800 B and 1024 B
    assert "800 B: 16" in out                             # cores needed for 400 Gbps
    assert "768 B with 16 cores" in out
    assert "65.12" in out and "65.1" in out               # ~ 65 NF cores


def test_capacity_json_shape(capsys):
    data = run_json(capsys, "capacity", "--profile", "riscv-smartnic-128k", "--profile", "x86-vm")
    assert list(data) == ["schema", "operation", "framing_bytes", "line_rate_gbps", "packet_bytes",
                          "nf_reference", "profiles", "rows", "cores_needed", "min_packet_bytes", "plot",
                          "provenance"]
    assert data["schema"] == "paraflowo.capacity/2" and data["operation"] == "reorder"
    assert data["framing_bytes"] == 0 and data["line_rate_gbps"] == 400.0 and data["plot"] is None
    assert data["packet_bytes"] == [32, 64, 128, 256, 512, 800, 1024]
    assert data["nf_reference"] == {"profile": "production-nf", "nf_mpps": 1.0}
    assert [p["name"] for p in data["profiles"]] == ["riscv-smartnic-128k", "x86-vm"]
    assert len(data["rows"]) == 2 * 4 * 7
    row = next(r for r in data["rows"] if r["profile"] == "riscv-smartnic-128k"
               and r["cores"] == 16 and r["packet_bytes"] == 800)
    assert set(row) == {"profile", "cores", "packet_bytes", "mpps", "gbps", "reaches_line_rate", "nf_cores"}
    assert row["gbps"] == pytest.approx(416.768) and row["reaches_line_rate"] is True
    assert row["nf_cores"] == pytest.approx(65.12)
    assert {"profile": "riscv-smartnic-128k", "packet_bytes": 800, "cores": 16} in data["cores_needed"]
    assert {"profile": "riscv-smartnic-128k", "cores": 16, "packet_bytes": 768} in data["min_packet_bytes"]


def test_capacity_framing_option(capsys):
    data = run_json(capsys, "capacity", "--framing", "--cores", "16", "--sizes", "776")
    assert data["framing_bytes"] == 24
    assert data["rows"][0]["gbps"] == pytest.approx(65.12 * 800 * 8 / 1000)


def test_capacity_from_a_toml_profile(capsys, tmp_path):
    path = tmp_path / "mine.toml"
    save_profile(DeviceProfile("mine", 4, forward_mpps=20.0), path)
    data = run_json(capsys, "capacity", "--profile", str(path), "--operation", "forward",
                    "--cores", "1", "--sizes", "1000", "--line-rate", "100")
    assert data["rows"][0]["gbps"] == 160.0 and data["cores_needed"][0]["cores"] == 1


# ----------------------------------------------------------------- memory


def test_memory_table_shows_eq3_and_the_fit(capsys):
    assert main(["memory"]) == 0
    out = capsys.readouterr().out
    assert "12.50" in out and "1.60" in out and "87.2%" in out      # the paper's example, M = 64
    assert "95.7%" in out                                           # 1500 B
    assert "riscv-smartnic-128k" in out and "riscv-smartnic-512k" in out
    assert "every slot full" in out and "Eq. 3" in out


def test_memory_json_shape(capsys):
    data = run_json(capsys, "memory")
    assert list(data) == ["schema", "window", "ooo_rate", "packet_bytes", "meta_bytes",
                          "paper_meta_bytes", "n_queues", "queue_overhead_bytes",
                          "vs_packet_size", "vs_ooo_rate", "sram_fit", "plot", "provenance"]
    assert data["schema"] == "paraflowo.memory/2"
    assert (data["window"], data["ooo_rate"], data["meta_bytes"], data["paper_meta_bytes"]) == (256, 0.1, 32, 64)
    r500 = next(r for r in data["vs_packet_size"] if r["packet_bytes"] == 500)
    assert set(r500) == {"packet_bytes", "full_bytes", "metadata_bytes", "saving",
                         "paper_metadata_bytes", "paper_saving"}
    assert r500["full_bytes"] == pytest.approx(12800) and r500["paper_metadata_bytes"] == pytest.approx(1638.4)
    assert round(100 * r500["paper_saving"], 1) == 87.2
    assert r500["metadata_bytes"] == pytest.approx(819.2)
    r1500 = next(r for r in data["vs_packet_size"] if r["packet_bytes"] == 1500)
    assert r1500["paper_saving"] > 0.957
    assert [r["ooo_rate"] for r in data["vs_ooo_rate"]] == [0.01, 0.02, 0.05, 0.1, 0.2, 0.5]
    assert set(data["vs_ooo_rate"][0]) == {"ooo_rate", "full_bytes", "metadata_bytes", "paper_metadata_bytes"}
    fits = {r["profile"]: r for r in data["sram_fit"]}
    assert list(fits) == ["riscv-smartnic-128k", "riscv-smartnic-256k", "riscv-smartnic-512k"]
    small = fits["riscv-smartnic-128k"]
    assert set(small) == {"profile", "sram_bytes", "worst_bytes", "worst_fits", "expected_bytes",
                          "expected_fits", "max_window", "max_window_any", "max_queues",
                          "footprint_bytes", "footprint_fits", "footprint_max_window",
                          "footprint_max_queues"}
    assert (small["worst_bytes"], small["worst_fits"], small["expected_fits"]) == (132096, False, True)
    assert (small["max_window"], small["max_window_any"], small["max_queues"]) == (128, 254, 15)
    assert fits["riscv-smartnic-256k"]["worst_fits"] is True


def test_memory_boundary_through_the_cli(capsys, tmp_path):
    exact, short = tmp_path / "exact.toml", tmp_path / "short.toml"
    save_profile(DeviceProfile("exact", 1, sram_bytes=132096), exact)
    save_profile(DeviceProfile("short", 1, sram_bytes=132095), short)
    data = run_json(capsys, "memory", "--profile", str(exact), "--profile", str(short))
    assert [r["worst_fits"] for r in data["sram_fit"]] == [True, False]


def test_memory_skips_profiles_without_sram(capsys):
    data = run_json(capsys, "memory", "--profile", "x86-vm")
    assert data["sram_fit"] == []
    assert main(["memory", "--profile", "x86-vm"]) == 0
    assert "no selected profile has an SRAM size" in capsys.readouterr().out


# ----------------------------------------------------------------- plots


@pytest.mark.parametrize("command", ["capacity", "memory"])
def test_plot_writes_a_png(command, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    path = tmp_path / f"{command}.png"
    assert main([command, "--plot", str(path)]) == 0
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000
    assert f"plot written to {path}" in capsys.readouterr().out


def test_plot_without_matplotlib_says_how_to_install(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)      # import fails
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    path = tmp_path / "x.png"
    assert main(["capacity", "--plot", str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and not path.exists()
    assert captured.err.strip() == ("paraflowo capacity: error: --plot needs matplotlib, which is "
                                    "not installed: pip install 'paraflowo[plot]'")


def test_plot_into_a_missing_directory_is_exit_2(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    assert main(["memory", "--plot", str(tmp_path / "no" / "x.png")]) == 2
    assert "--plot: cannot write" in capsys.readouterr().err


# ----------------------------------------------------------------- calibrate


def test_calibrate_prints_a_loadable_toml_profile(capsys, tmp_path):
    out_file = tmp_path / "host.toml"
    assert main(["calibrate", "--budget", "0.05", "--repeats", "2", "--name", "ci",
                 "--output", str(out_file)]) == 0
    text = capsys.readouterr().out
    assert text.startswith("# compared with the paper's x86 VM core (x86-vm")
    assert "#   forward: " in text and "vs 27 Mpps in the paper" in text
    host = loads_profile(text)
    assert host.name == "ci" and host.forward_mpps > 0 and host.spread["forward"][0] > 0
    assert loads_profile(out_file.read_text()) == host


# ----------------------------------------------------------------- user mistakes: one line, exit 2

BAD = [
    (["capacity", "--profile", "nope"], "--profile: unknown profile 'nope'; known profiles: "
     + ", ".join(BUILTIN_PROFILES)),
    (["capacity", "--cores", "0"], "--cores: core count must be >= 1, got 0"),
    (["capacity", "--cores", "-4"], "--cores: core count must be >= 1, got -4"),
    (["capacity", "--cores", "2,x"], "--cores: core count must be an integer, got 'x'"),
    (["capacity", "--cores", ","], "--cores: expected a comma-separated list"),
    (["capacity", "--sizes", "64,0"], "--sizes: packet size must be > 0, got 0"),
    (["capacity", "--sizes", "-64"], "--sizes: packet size must be > 0, got -64"),
    (["capacity", "--sizes", "nan"], "--sizes: packet size must be finite"),
    (["capacity", "--line-rate", "0"], "--line-rate: line rate must be > 0, got 0"),
    (["capacity", "--line-rate", "fast"], "--line-rate: line rate must be a number, got 'fast'"),
    (["capacity", "--operation", "fly"], "--operation must be one of forward, reorder, nf, detector"),
    (["capacity", "--profile", "dpu-400g"], "profile 'dpu-400g' has no reorder rate"),
    (["capacity", "--nf-profile", "x86-vm"], "--nf-profile: profile 'x86-vm' has no nf rate"),
    (["memory", "--ooo", "1.5"], "--ooo: ooo_rate must be in [0, 1], got 1.5"),
    (["memory", "--ooo", "-0.1"], "--ooo: ooo_rate must be in [0, 1], got -0.1"),
    (["memory", "--ooo-rates", "0.1,2"], "--ooo-rates: ooo_rate must be in [0, 1], got 2"),
    (["memory", "--window", "0"], "--window: window must be >= 1, got 0"),
    (["memory", "--queues", "-1"], "--queues: queue count must be >= 1, got -1"),
    (["memory", "--packet-bytes", "0"], "--packet-bytes: packet size must be > 0, got 0"),
    (["memory", "--meta-bytes", "0"], "--meta-bytes: meta_bytes must be >= 1, got 0"),
    (["memory", "--queue-overhead", "-1"], "--queue-overhead: queue overhead must be >= 0, got -1"),
    (["memory", "--profile", "missing.toml"], "--profile: cannot read profile file 'missing.toml'"),
    (["calibrate", "--budget", "0"], "--budget: budget_s must be in (0, 600], got 0"),
    (["calibrate", "--budget", "-1"], "--budget: budget_s must be in (0, 600], got -1"),
    (["calibrate", "--repeats", "0"], "--repeats: repeats must be >= 1, got 0"),
    (["calibrate", "--repeats", "5000"], "repeats must be in [1, 1000], got 5000"),
]


@pytest.mark.parametrize("argv, fragment", BAD, ids=[" ".join(a) for a, _ in BAD])
def test_user_mistakes_are_one_line_and_exit_2(argv, fragment, capsys):
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    err = captured.err
    assert err.count("\n") == 1 and err.startswith(f"paraflowo {argv[0]}: error: ")
    assert fragment in err


@pytest.mark.parametrize(
    "content, fragment",
    [
        ('name = "x\ncores = 4\n', "malformed TOML: "),
        ('name = "x"\ncores = 0\n', "bad value for key 'cores': cores must be in [1, 2**40], got 0"),
        ('name = "x"\ncores = 4\nreorder_mpps = -4.07\n', "bad value for key 'reorder_mpps'"),
        ('name = "x"\ncores = 4\nspeed = 1\n', "unknown key 'speed'"),
        ('cores = 4\n', "missing key 'name'"),
    ],
)
def test_malformed_toml_profile_is_one_line_exit_2(content, fragment, tmp_path, capsys):
    path = tmp_path / "bad.toml"
    path.write_text(content)
    assert main(["capacity", "--profile", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(path) in err and fragment in err


def test_python_dash_m_capacity_json_and_bad_input(tmp_path):
    # cwd away from the repo root, so the installed package runs, not the source tree
    ok = subprocess.run([sys.executable, "-m", "paraflowo", "capacity", "--json", "--cores", "16",
                         "--sizes", "800"], capture_output=True, text=True, cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["rows"][0]["reaches_line_rate"] is True
    bad = subprocess.run([sys.executable, "-m", "paraflowo", "memory", "--ooo", "7"],
                         capture_output=True, text=True, cwd=tmp_path)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert bad.stderr.strip() == "paraflowo memory: error: --ooo: ooo_rate must be in [0, 1], got 7"


def test_builtin_names_resolve_before_files(tmp_path, monkeypatch, capsys):
    # a file called like a built-in profile in the current directory does not shadow it
    monkeypatch.chdir(tmp_path)
    (tmp_path / "x86-vm").write_text("not toml at all = = =")
    data = run_json(capsys, "capacity", "--profile", "x86-vm", "--cores", "1", "--sizes", "64")
    assert data["profiles"][0] == get_profile("x86-vm").to_dict()


@pytest.mark.parametrize("command", ["capacity", "memory", "calibrate"])
def test_help_works(command, capsys):
    with pytest.raises(SystemExit) as info:
        main([command, "--help"])
    assert info.value.code == 0
    assert f"usage: paraflowo {command}" in capsys.readouterr().out


@pytest.mark.parametrize("command", ["capacity", "memory"])
def test_planning_json_carries_provenance(capsys, command):
    from paraflowo._version import __version__
    from paraflowo.sim.provenance import SCHEMA_VERSION
    prov = run_json(capsys, command)["provenance"]
    assert prov["schema_version"] == SCHEMA_VERSION and prov["paraflowo"] == __version__
    assert prov["command"] == f"paraflowo {command} --json" and prov["traces"] == []
