"""The hand-written C of the compiled core lives in headers, not in Python strings.

The headers of ``paraflowo/_core`` that need no Python API compile on their
own with every warning on; the Cython sources keep no long inline C block, and
no ``.pyx`` grows past 800 lines (issue 13).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

CORE = Path(__file__).resolve().parent.parent / "paraflowo" / "_core"

# Plain C (no Python.h): compiled alone, warnings as errors.
PLAIN_HEADERS = ["cm_simd.h", "sched_eq2.h"]

# Every Cython file of the core: C longer than a few lines lives in a header.
NO_LONG_INLINE_C = sorted(p.name for ext in ("*.pyx", "*.pxd", "*.pxi") for p in CORE.glob(ext))
MAX_INLINE_LINES = 10


def _compiler() -> str | None:
    for cc in ("cc", "gcc", "clang"):
        if shutil.which(cc):
            return cc
    return None


def _inline_c_blocks(text: str) -> list[int]:
    """Line counts of the C strings of ``cdef extern from *`` blocks in ``text``."""
    lines = text.splitlines()
    sizes = []
    for i, line in enumerate(lines):
        if line.strip().startswith("cdef extern from *") and i + 1 < len(lines):
            if lines[i + 1].strip() == '"""':
                j = i + 2
                while lines[j].strip() != '"""':
                    j += 1
                sizes.append(j - i - 2)
    return sizes


def test_inline_block_counter_sees_blocks():
    src = 'cdef extern from *:\n    """\n    int a;\n    int b;\n    """\n    int a\n'
    assert _inline_c_blocks(src) == [2]
    assert _inline_c_blocks('cdef extern from "x.h":\n    int a\n') == []


@pytest.mark.parametrize("name", NO_LONG_INLINE_C)
def test_no_long_inline_c(name):
    sizes = _inline_c_blocks((CORE / name).read_text())
    assert all(n <= MAX_INLINE_LINES for n in sizes), (name, sizes)


# Each .pyx holds one job; a larger one is split into .pxi includes by job.
MAX_PYX_LINES = 800


@pytest.mark.parametrize("name", sorted(p.name for p in CORE.glob("*.pyx")))
def test_no_pyx_over_800_lines(name):
    n = len((CORE / name).read_text().splitlines())
    assert n <= MAX_PYX_LINES, f"{name} has {n} lines: split it by job into .pxi includes"


@pytest.mark.parametrize("flags", [[], ["-march=x86-64-v3"]], ids=["base", "v3"])
@pytest.mark.parametrize("header", PLAIN_HEADERS)
def test_header_compiles_without_warnings(tmp_path, header, flags):
    cc = _compiler()
    if cc is None:
        pytest.skip("no C compiler")
    if flags and subprocess.run(
        [cc, *flags, "-x", "c", "-fsyntax-only", "-"], input="", text=True,
        capture_output=True,
    ).returncode != 0:
        pytest.skip(f"{cc} does not take {flags}")
    tu = tmp_path / "tu.c"
    # Twice: the include guard must hold.
    tu.write_text(f'#include "{header}"\n#include "{header}"\n')
    proc = subprocess.run(
        [cc, "-std=c11", "-O2", "-Wall", "-Wextra", "-Wpedantic", "-Wshadow", "-Werror",
         *flags, "-fsyntax-only", "-I", str(CORE), str(tu)],
        capture_output=True, text=True,
    )
    assert proc.returncode == 0, proc.stderr
