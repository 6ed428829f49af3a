"""Build the example against the installed ParaFlowO's .pxd files.

    python setup.py build_ext --inplace

Needs ParaFlowO, Cython >= 3.0.10 and setuptools installed.  Cython finds
``cimport paraflowo`` through ``include_path``: the directory that holds the
installed ``paraflowo`` package (its .pxd files are installed with it).
"""

from pathlib import Path

from Cython.Build import cythonize
from setuptools import Extension, setup

import paraflowo

PXD_ROOT = str(Path(paraflowo.__file__).resolve().parent.parent)

setup(
    name="paraflowo-example-pipeline",
    ext_modules=cythonize(
        [Extension("pipeline", ["pipeline.pyx"], extra_compile_args=["-O2"])],
        include_path=[PXD_ROOT],
        language_level=3,
        quiet=True,
    ),
)
