"""The docs build with warnings as errors, and their examples run (sphinx doctest)."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"


@pytest.mark.parametrize("builder", ["html", "doctest"])
def test_docs_build(builder, tmp_path):
    if shutil.which("sphinx-build") is None and not _has_sphinx():
        pytest.fail("sphinx is a test dependency (the test extra pulls in the docs extra)")
    proc = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", builder,
         "-d", str(tmp_path / "doctrees"), str(DOCS), str(tmp_path / builder)],
        capture_output=True, text=True,
        cwd=tmp_path,  # not the repo root: the source tree must not shadow the build
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _has_sphinx():
    try:
        import sphinx  # noqa: F401
    except ImportError:
        return False
    return True
