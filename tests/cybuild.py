"""Compile a tiny Cython module against the *installed* ParaFlowO ``.pxd`` files.

Used by the ``cimport`` tests of every component: it proves that the ``.pxd``
files are installed and that their ``nogil`` API compiles and links from
third-party Cython code, as a user's would.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import textwrap
from pathlib import Path
from types import ModuleType

import paraflowo

SETUP = """
from setuptools import setup, Extension
from Cython.Build import cythonize
ext = Extension({name!r}, [{name!r} + ".pyx"], extra_compile_args=["-O2"])
setup(name={name!r}, ext_modules=cythonize([ext], include_path={include!r},
      compiler_directives={{"language_level": 3}}, quiet=True),
      script_args=["build_ext", "--inplace"])
"""


def pxd_root() -> str:
    """Directory that holds the installed ``paraflowo`` package (and its .pxd files)."""
    return str(Path(paraflowo.__file__).resolve().parent.parent)


def build_cython_module(tmp_path: Path, name: str, source: str) -> ModuleType:
    """Cythonize and compile ``source`` as module ``name`` in ``tmp_path``; import it."""
    (tmp_path / f"{name}.pyx").write_text(textwrap.dedent(source))
    (tmp_path / "setup.py").write_text(SETUP.format(name=name, include=[pxd_root()]))
    proc = subprocess.run(
        [sys.executable, "setup.py"], cwd=tmp_path, capture_output=True, text=True
    )
    if proc.returncode != 0:
        raise AssertionError(f"building {name} failed:\n{proc.stdout}\n{proc.stderr}")
    built = next(tmp_path.glob(f"{name}*.so"), None) or next(tmp_path.glob(f"{name}*.pyd"))
    spec = importlib.util.spec_from_file_location(name, built)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def build_example(src_dir: Path, tmp_path: Path, name: str) -> ModuleType:
    """Copy a shipped example (its own ``setup.py``) to ``tmp_path``, build it, import ``name``."""
    for f in src_dir.iterdir():
        if f.suffix in (".py", ".pyx", ".pxd", ".toml", ".txt"):
            (tmp_path / f.name).write_text(f.read_text())
    proc = subprocess.run(
        [sys.executable, "setup.py", "build_ext", "--inplace"],
        cwd=tmp_path, capture_output=True, text=True,
    )
    if proc.returncode != 0:
        raise AssertionError(f"building {name} failed:\n{proc.stdout}\n{proc.stderr}")
    built = next(tmp_path.glob(f"{name}*.so"), None) or next(tmp_path.glob(f"{name}*.pyd"))
    spec = importlib.util.spec_from_file_location(name, built)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
