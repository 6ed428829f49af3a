"""The README's first two commands are the ones CI and users run."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def readme_commands():
    text = (ROOT / "README.md").read_text()
    block = re.search(r"```sh\n(.*?)```", text, re.S)
    assert block and text.lstrip().startswith("# ParaFlowO"), "README must open with its commands"
    return [line for line in block.group(1).splitlines() if line.strip()]


def test_readme_starts_with_install_run_and_test_commands():
    main_cmd, test_cmd = readme_commands()
    assert "pip install ." in main_cmd and "paraflowo" in main_cmd.split("&&")[-1]
    assert "pip install '.[test]'" in test_cmd and test_cmd.endswith("pytest")


def test_ci_runs_exactly_the_readme_test_command():
    _, test_cmd = readme_commands()
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert test_cmd in ci
    assert ci[0] == "#!/usr/bin/env bash" and "set -euo pipefail" in ci
