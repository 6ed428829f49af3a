"""The command line: the demo, and exit status 2 with one line for user mistakes."""

import subprocess
import sys

import pytest

from paraflowo.cli import main


def test_demo_prints_verified_hashes_and_queues(capsys):
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "0x51ccc178" in out and "0x40207d3d" in out and "0x02d1feef" in out
    assert "indirection table entries per queue: [32, 32, 32, 32]" in out


def test_demo_bad_reta_size_is_exit_2_without_traceback(capsys):
    assert main(["demo", "--reta-size", "100"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == (
        "paraflowo demo: error: size must be a power of two in [1, 2**16], got 100")


def test_unknown_command_exits_2():
    with pytest.raises(SystemExit) as info:
        main(["nonsense"])
    assert info.value.code == 2


def test_python_dash_m_runs_the_demo(tmp_path):
    # cwd away from the repo root, so the installed package runs, not the source tree
    proc = subprocess.run([sys.executable, "-m", "paraflowo", "demo", "--queues", "2"],
                          capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "[64, 64]" in proc.stdout
