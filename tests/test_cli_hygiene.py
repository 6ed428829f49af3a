"""The command line a user can trust: --version, outputs checked before the run,
``-`` as stdout, one meaning of ``--json [FILE]``, Ctrl-C, progress, warnings once."""

import argparse
import importlib
import io
import json
import os
import select
import signal
import struct
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest

import paraflowo
from paraflowo.cli import EXIT_INTERRUPTED, main
from paraflowo.cli._progress import Progress, Warnings, format_duration

ROOT = Path(__file__).resolve().parent.parent
SHORT_SIM = ["simulate", "--scenario", "paper-fig7", "--duration", "0.05", "--policies", "rss",
             "--quiet"]


def cli(*argv, cwd, timeout=120, **kw):
    """``python -m paraflowo ARGV`` in a subprocess (bytes out, text err)."""
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-m", "paraflowo", *argv], capture_output=True,
                          cwd=cwd, timeout=timeout, env=env, **kw)


# ------------------------------------------------------------------ --version


def test_version_prints_the_package_version(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"paraflowo {paraflowo.__version__}"


def test_package_version_matches_pyproject():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert paraflowo.__version__ == meta["project"]["version"]


# ------------------------------------------------------------------ outputs checked first


def _bad_paths(tmp_path):
    (tmp_path / "a-file").write_text("x")
    (tmp_path / "a-dir").mkdir()
    return {
        "missing directory": (str(tmp_path / "no" / "out.x"), "does not exist"),
        "parent is a file": (str(tmp_path / "a-file" / "out.x"), "is not a directory"),
        "path is a directory": (str(tmp_path / "a-dir"), "it is a directory"),
    }


@pytest.mark.parametrize("case", ["missing directory", "parent is a file", "path is a directory"])
@pytest.mark.parametrize("argv, option", [
    (["capacity", "--json"], "--json"),
    (["memory", "--json"], "--json"),
    (["capacity", "--plot"], "--plot"),
    (["simulate", "--duration", "1000", "--json"], "--json"),
    (["simulate", "--duration", "1000", "--plot"], "--plot"),
])
def test_bad_output_path_fails_before_the_run(argv, option, case, tmp_path, capsys):
    if option == "--plot":
        pytest.importorskip("matplotlib")
    path, why = _bad_paths(tmp_path)[case]
    # simulate --duration 1000 would run for minutes: a quick exit proves the check came first
    assert main([*argv, path]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    err = captured.err.strip()
    assert "\n" not in err and err.startswith(f"paraflowo {argv[0]}: error: {option}: cannot write")
    assert why in err


def test_calibrate_checks_its_output_before_measuring(tmp_path, capsys):
    assert main(["calibrate", "--budget", "600", "--output", str(tmp_path / "no" / "h.toml")]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "--output: cannot write" in captured.err


def test_calibrate_output_dash_is_the_profile_once_on_stdout(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["calibrate", "--budget", "0.05", "--repeats", "1", "--output", "-"]) == 0
    out = capsys.readouterr().out
    assert out.count('name = "host"') == 1 and not (tmp_path / "-").exists()


def test_calibrate_out_writes_the_file(tmp_path, capsys):
    from paraflowo.planning import load_profile

    path = tmp_path / "h.toml"
    assert main(["calibrate", "--budget", "0.05", "--repeats", "1", "--out", str(path)]) == 0
    assert load_profile(path).name == "host" and 'name = "host"' in capsys.readouterr().out


def test_checking_an_output_leaves_no_file_behind(tmp_path, capsys):
    out = tmp_path / "never.json"
    assert main(["simulate", "--duration", "0", "--json", str(out)]) == 2   # fails after the check
    assert "--duration must be > 0" in capsys.readouterr().err
    assert not out.exists()


def test_unknown_plot_format_fails_before_the_run(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    assert main(["simulate", "--duration", "1000", "--plot", str(tmp_path / "x.nosuchformat")]) == 2
    err = capsys.readouterr().err
    assert "--plot: unknown image format 'nosuchformat'" in err and "png" in err


def test_two_outputs_on_stdout_are_refused(capsys):
    assert main(["capacity", "--json", "-", "--plot", "-"]) == 2
    assert capsys.readouterr().err.strip() == (
        "paraflowo capacity: error: --json and --plot cannot both write to stdout ('-')")


# ------------------------------------------------------------------ one meaning of --json [FILE]


@pytest.mark.parametrize("form", [["--json"], ["--json", "-"]])
@pytest.mark.parametrize("command", [["capacity", "--cores", "2"], ["memory"], SHORT_SIM])
def test_json_alone_or_dash_is_json_on_stdout_instead_of_the_table(command, form, capsys):
    assert main([*command, *form]) == 0
    captured = capsys.readouterr()
    data = json.loads(captured.out)          # nothing but JSON on stdout
    assert isinstance(data, dict) and captured.err == ""


@pytest.mark.parametrize("command, table_line", [
    (["capacity", "--cores", "2"], "Per-core Mpps by operation"),
    (["memory"], "Reorder memory per queue"),
    (SHORT_SIM, "rss"),
])
def test_json_file_writes_the_file_and_keeps_the_table(command, table_line, tmp_path, capsys):
    out = tmp_path / "r.json"
    assert main([*command, "--json", str(out)]) == 0
    captured = capsys.readouterr()
    assert table_line in captured.out and str(out) in captured.out
    assert isinstance(json.loads(out.read_text()), dict)
    assert not (Path.cwd() / "-").exists()


def test_json_flag_before_another_option_stays_a_flag(capsys):
    # the old flag form of capacity/memory: --json followed by more options
    assert main(["capacity", "--json", "--cores", "16", "--sizes", "800"]) == 0
    assert json.loads(capsys.readouterr().out)["rows"][0]["cores"] == 16


@pytest.mark.parametrize("command", [["memory"], SHORT_SIM])
def test_plot_dash_is_png_on_stdout(command, tmp_path):
    pytest.importorskip("matplotlib")
    proc = cli(*command, "--plot", "-", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(b"\x89PNG\r\n\x1a\n")
    assert not (tmp_path / "-").exists()


def test_plot_uses_the_object_api_and_leaves_pyplot_alone(tmp_path):
    pytest.importorskip("matplotlib")
    # the raw rcParams value: get_backend() would itself import pyplot to resolve it
    code = ("import sys, matplotlib; raw = lambda: dict.__getitem__(matplotlib.rcParams, "
            "'backend'); before = raw(); from paraflowo.cli import main; "
            f"assert main(['capacity', '--plot', {str(tmp_path / 'c.png')!r}]) == 0; "
            "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot'; "
            "assert raw() == before, (raw(), before); print('ok')")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=tmp_path, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip().endswith("ok"), proc.stderr
    assert (tmp_path / "c.png").read_bytes().startswith(b"\x89PNG")


@pytest.mark.parametrize("command", ["capacity", "memory"])
def test_device_figures_are_returned_and_drawn_into_a_given_figure(command):
    mpl = pytest.importorskip("matplotlib.figure")
    mod = importlib.import_module(f"paraflowo.cli.{command}")
    parser = argparse.ArgumentParser()
    mod.add_arguments(parser)
    data = mod.compute(parser.parse_args([]))
    fig = mod.figure(data)
    assert isinstance(fig, mpl.Figure) and fig.axes
    mine = mpl.Figure()
    assert mod.figure(data, mine) is mine and mine.axes


# ------------------------------------------------------------------ Ctrl-C


def test_keyboard_interrupt_is_one_line_and_status_130(monkeypatch, capsys):
    import paraflowo.cli.demo as demo

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(demo, "run", interrupted)
    assert main(["demo"]) == EXIT_INTERRUPTED == 130
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("paraflowo demo: interrupted after ")
    assert captured.err.count("\n") == 1


def _threads(pid):
    try:
        return len(os.listdir(f"/proc/{pid}/task"))
    except FileNotFoundError:
        return 0


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs /proc (Linux)")
def test_sigint_stops_a_long_simulation_with_a_summary_and_no_carriage_return(tmp_path):
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "paraflowo", "simulate", "--duration", "1000", "--policies", "rss",
         "--json", str(tmp_path / "r.json")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path, env=env)
    try:
        deadline = time.monotonic() + 90
        # the run has started once the simulator's feeder thread exists
        while _threads(proc.pid) < 2 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert proc.poll() is None, proc.communicate()
        time.sleep(2.5)        # past the progress line's 2 s delay: it would draw now
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "\r" not in err      # stderr is a pipe: no progress line
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("paraflowo simulate: interrupted after ")
    assert "simulated s)" in lines[0] and "% (" in lines[0]
    assert out == "" and not (tmp_path / "r.json").exists()


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs /proc and a pty (Linux)")
def test_on_a_terminal_the_progress_line_has_rate_and_eta_then_ctrl_c_ends_the_line(tmp_path):
    import pty

    master, slave = pty.openpty()
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "paraflowo", "simulate", "--duration", "1000", "--policies", "rss"],
        stdout=subprocess.PIPE, stderr=slave, cwd=tmp_path, env=env)
    os.close(slave)
    seen = b""
    try:
        deadline = time.monotonic() + 90
        while b"ETA" not in seen and time.monotonic() < deadline and proc.poll() is None:
            if select.select([master], [], [], 0.5)[0]:
                seen += os.read(master, 4096)
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=60)
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:                           # EIO: the child closed the pty
                break
            if not chunk:
                break
            seen += chunk
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    text = seen.decode()
    assert proc.returncode == 130, text
    assert text.startswith("\rsimulating [") and "simulated s/s, ETA " in text
    last = text.replace("\r\n", "\n").rstrip("\n").split("\n")[-1]
    assert last.startswith("paraflowo simulate: interrupted after ")     # on its own line


# ------------------------------------------------------------------ progress


class FakeTerminal(io.StringIO):
    def __init__(self, tty):
        super().__init__()
        self.tty = tty

    def isatty(self):
        return self.tty


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_progress_on_a_terminal_shows_rate_and_eta():
    term, clock = FakeTerminal(True), FakeClock()
    p = Progress("simulating", "simulated s", 1e-9, stream=term, clock=clock)
    p(1_000_000_000, 10_000_000_000)
    assert term.getvalue() == ""                          # not before 2 s
    clock.now += 4.0
    p(2_000_000_000, 10_000_000_000)                      # 2 simulated s in 4 s: 0.5/s
    line = term.getvalue()
    assert line.startswith("\rsimulating [")
    assert "20.0%" in line and "2/10 simulated s" in line
    assert "0.5 simulated s/s" in line and "ETA 16s" in line
    clock.now += 0.1
    p(2_100_000_000, 10_000_000_000)
    assert term.getvalue() == line                        # at most twice a second
    clock.now += 16.0
    p(10_000_000_000, 10_000_000_000)
    assert "100.0%" in term.getvalue() and "ETA 0s" in term.getvalue()
    p.close()
    assert term.getvalue().endswith("\n")


def test_progress_redraw_clears_a_longer_previous_line():
    term, clock = FakeTerminal(True), FakeClock()
    p = Progress("x", "items", stream=term, clock=clock, delay_s=0)
    p(1, 1000)
    clock.now += 1
    first = term.getvalue()
    p(1000, 1000)
    second = term.getvalue()[len(first):]
    assert len(second) >= len(first)


@pytest.mark.parametrize("tty, enabled", [(False, True), (True, False)])
def test_progress_draws_nothing_off_a_terminal_or_when_quiet(tty, enabled):
    term, clock = FakeTerminal(tty), FakeClock()
    p = Progress("simulating", "simulated s", 1e-9, stream=term, clock=clock, enabled=enabled)
    for i in range(1, 11):
        clock.now += 1.0
        p(i * 10**9, 10 * 10**9)
    p.close()
    assert term.getvalue() == ""
    assert p.summary() == "at 100.0% (10 of 10 simulated s)"    # still tracked, for Ctrl-C


def test_progress_summary_before_any_call_is_none():
    assert Progress("x", "s", stream=FakeTerminal(False)).summary() is None


@pytest.mark.parametrize("seconds, text", [(0, "0s"), (42.4, "42s"), (187, "3m07s"),
                                           (7500, "2h05m"), (-3, "0s")])
def test_format_duration(seconds, text):
    assert format_duration(seconds) == text


# ------------------------------------------------------------------ warnings once


def test_each_warning_is_printed_once():
    err = io.StringIO()
    warn = Warnings(err)
    for text in ["truncated capture: read 3 packets", "other", "truncated capture: read 3 packets"]:
        warn(text)
    assert err.getvalue() == "warning: truncated capture: read 3 packets\nwarning: other\n"
    assert "other" in warn and "never said" not in warn


def _truncated_pcap(path, n=50):
    """A classic little-endian microsecond pcap of UDP/IPv4 frames, cut inside the last record."""
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]
    for i in range(n):
        udp = struct.pack("!HHHH", 1000 + i % 3, 53, 8 + 18, 0) + bytes(18)
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), i, 0, 64, 17, 0,
                         bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])) + udp
        frame = bytes(6) + bytes([2, 0, 0, 0, 0, 1]) + b"\x08\x00" + ip
        out.append(struct.pack("<IIII", 1, 1000 * i, len(frame), len(frame)) + frame)
    data = b"".join(out)
    path.write_bytes(data[:-7])
    return path


def test_truncated_capture_warning_is_said_once(tmp_path, capsys):
    pytest.importorskip("dpkt")
    cut = _truncated_pcap(tmp_path / "cut.pcap")
    assert main(["simulate", "--pcap", str(cut), "--policies", "rss,spray", "--quiet"]) == 0
    captured = capsys.readouterr()
    said = (captured.out + captured.err).lower()
    assert said.count("truncated") == 1, captured
    assert "warning: truncated" in captured.err.lower()


def test_output_check_keeps_existing_files_and_dangling_links(tmp_path, capsys):
    old = tmp_path / "old.json"
    old.write_text("keep me")
    link = tmp_path / "link.json"
    link.symlink_to(tmp_path / "target.json")            # dangling
    assert main(["simulate", "--duration", "0", "--json", str(old)]) == 2
    assert main(["simulate", "--duration", "0", "--json", str(link)]) == 2
    capsys.readouterr()
    assert old.read_text() == "keep me" and link.is_symlink()
    assert sorted(f.name for f in tmp_path.iterdir()) == ["link.json", "old.json"]


def test_written_lines_go_to_stderr_when_stdout_carries_the_json(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    png = tmp_path / "m.png"
    assert main(["memory", "--json", "--plot", str(png)]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["plot"] == str(png)
    assert captured.err == f"plot written to {png}\n" and png.stat().st_size > 0
