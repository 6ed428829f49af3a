"""Sphinx configuration for the ParaFlowO docs (built with ``sphinx-build -W``)."""

import paraflowo

project = "ParaFlowO"
author = "The ParaFlowO developers"
copyright = "2026, The ParaFlowO developers"
release = paraflowo.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.doctest",
    "sphinx.ext.mathjax",
    "numpydoc",
]

# numpydoc: no per-class member tables (the pages list members with autodoc).
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
autodoc_member_order = "bysource"
autodoc_typehints = "none"

doctest_global_setup = "import numpy as np\nimport paraflowo"

exclude_patterns = ["_build"]
html_theme = "alabaster"
html_static_path: list[str] = []
