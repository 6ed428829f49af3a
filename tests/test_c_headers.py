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


# The portable form (no x86 intrinsics: aarch64, other compilers), built on
# x86-64 too: the C library's headers first (they need __x86_64__), then the
# header without it.
_PORTABLE = ("#include <stddef.h>\n#include <stdint.h>\n#include <string.h>\n"
             "#undef __x86_64__\n")


@pytest.mark.parametrize("flags, prelude", [([], ""), (["-march=x86-64-v3"], ""), ([], _PORTABLE)],
                         ids=["base", "v3", "portable"])
@pytest.mark.parametrize("header", PLAIN_HEADERS)
def test_header_compiles_without_warnings(tmp_path, header, flags, prelude):
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
    tu.write_text(f'{prelude}#include "{header}"\n#include "{header}"\n')
    proc = subprocess.run(
        [cc, "-std=c11", "-O2", "-Wall", "-Wextra", "-Wpedantic", "-Wshadow", "-Werror",
         *flags, "-fsyntax-only", "-I", str(CORE), str(tu)],
        capture_output=True, text=True,
    )
    assert proc.returncode == 0, proc.stderr


# pfo_order_skip (reorder_hint.h): the SSE2 walk and the portable one, each
# compiled and run on random FIFOs, against the plain definition.
_ORDER_SKIP_DRIVER = r"""
#define _POSIX_C_SOURCE 200112L
#include <stdio.h>
#include "reorder_hint.h"
int main(void) {
    uint32_t e[64], n, head, pmask, window, bits, i;
    while (scanf("%u %u %u %u", &n, &head, &bits, &window) == 4) {
        pmask = bits == 32 ? 0xFFFFFFFFu : (1u << bits) - 1;
        for (i = 0; i < n; i++)
            if (scanf("%u", &e[i]) != 1) return 2;
        printf("%u\n", pfo_order_skip(e, n, head, pmask, window));
    }
    return 0;
}
"""


@pytest.mark.parametrize("flags", [[], ["-mno-sse2"]], ids=["sse2", "portable"])
def test_order_skip_matches_its_definition(tmp_path, flags):
    import random

    cc = _compiler()
    if cc is None:
        pytest.skip("no C compiler")
    src, exe = tmp_path / "skip.c", tmp_path / "skip"
    src.write_text(_ORDER_SKIP_DRIVER)
    proc = subprocess.run([cc, "-std=c11", "-O2", "-Wall", "-Werror", *flags, "-I", str(CORE),
                           str(src), "-o", str(exe)], capture_output=True, text=True)
    if proc.returncode != 0 and flags:
        pytest.skip(f"{cc} cannot build with {flags}: {proc.stderr.strip()[:200]}")
    assert proc.returncode == 0, proc.stderr
    rng = random.Random(17)
    cases, want = [], []
    for _ in range(3000):
        bits = rng.choice([8, 16, 31, 32])
        pmask = (1 << bits) - 1
        window = 1 << rng.randint(1, bits - 1)
        head = rng.choice([0, pmask, pmask - 3, rng.randint(0, pmask)])
        n = rng.randint(0, 64)
        # mostly entries behind the head (the walk's common case), some inside
        # the window, at the window's edges and across the wrap
        e = [rng.choice([(head - rng.randint(1, 40)) & pmask,
                         (head + rng.randint(0, window - 1)) & pmask,
                         (head + window) & pmask, (head + window - 1) & pmask, head,
                         rng.randint(0, pmask)]) if rng.random() < 0.15
             else (head - rng.randint(1, 40)) & pmask for _ in range(n)]
        cases.append(f"{n} {head} {bits} {window} " + " ".join(map(str, e)))
        want.append(next((i for i, x in enumerate(e) if ((x - head) & pmask) < window), n))
    run = subprocess.run([str(exe)], input="\n".join(cases) + "\n", capture_output=True,
                         text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert [int(x) for x in run.stdout.split()] == want
