"""Layering: the library never imports the CLI; planning/ is a package apart from the face;
missing optional dependencies are MissingDependency (exit 2 in the CLI); importing from
the source tree says what to do."""

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import paraflowo
import paraflowo.devices
import paraflowo.memory
import paraflowo.planning
from paraflowo.cli import main
from paraflowo.errors import MissingDependency

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "paraflowo"


def _imports(path):
    """Every module name imported by the Python file at ``path`` (absolute names)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module
            yield from (f"{node.module}.{a.name}" for a in node.names)


def _library_files():
    for path in sorted(SOURCE.rglob("*.py")):
        rel = path.relative_to(SOURCE).as_posix()
        if not (rel.startswith("cli/") or rel == "__main__.py"):
            yield rel, path


def test_the_library_never_imports_the_cli():
    offenders = [(rel, name) for rel, path in _library_files() for name in _imports(path)
                 if name == "paraflowo.cli" or name.startswith("paraflowo.cli.")]
    assert offenders == []


def test_the_planning_package_never_imports_the_package_face():
    files = sorted((SOURCE / "planning").glob("*.py"))
    assert {f.name for f in files} >= {"__init__.py", "profiles.py", "toml.py", "memory.py",
                                       "projections.py", "calibration.py"}
    for path in files:
        for name in _imports(path):
            assert name.startswith("paraflowo.") or not name.startswith("paraflowo"), (path, name)
            # ``from paraflowo import X`` shows up as "paraflowo" then "paraflowo.X"
            assert name != "paraflowo", (path.name, "imports the package face")


def test_importing_the_package_does_not_load_the_cli(tmp_path):
    code = "import sys, paraflowo; print(any(m.startswith('paraflowo.cli') for m in sys.modules))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "False"


@pytest.mark.parametrize("old", [paraflowo.devices, paraflowo.memory])
def test_old_module_names_re_export_the_planning_package(old):
    assert old.__all__
    new = paraflowo.planning if old is paraflowo.devices else paraflowo.planning.memory
    for name in old.__all__:
        assert getattr(old, name) is getattr(new, name), name


def test_the_package_face_exports_the_planning_objects():
    for name in ("DeviceProfile", "calibrate", "sram_fit", "reorder_memory", "find_profile"):
        assert getattr(paraflowo, name) is getattr(paraflowo.planning, name)


# ------------------------------------------------------------------ MissingDependency


def test_missing_dependency_is_an_import_error_with_the_install_hint():
    exc = MissingDependency("plotting", "matplotlib", "plot")
    assert isinstance(exc, ImportError) and exc.name == "matplotlib"
    assert str(exc) == ("plotting needs matplotlib, which is not installed: "
                        "pip install 'paraflowo[plot]'")
    assert exc.install_hint == "pip install 'paraflowo[plot]'"
    import pickle

    again = pickle.loads(pickle.dumps(exc))
    assert str(again) == str(exc) and again.extra == "plot"


def test_sim_plot_raises_missing_dependency(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    import paraflowo.sim.plot as plot

    require = getattr(plot, "require_matplotlib", None)
    if require is None:  # pragma: no cover - the module was reshaped
        pytest.skip("paraflowo.sim.plot has no require_matplotlib")
    with pytest.raises(MissingDependency, match=r"pip install 'paraflowo\[plot\]'"):
        require()


@pytest.mark.parametrize("argv", [["simulate", "--duration", "1000"], ["memory"]])
def test_missing_dependency_is_exit_2_with_the_hint(argv, monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    assert main([*argv, "--plot", str(tmp_path / "x.png")]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.strip() == (f"paraflowo {argv[0]}: error: --plot needs matplotlib, "
                                    "which is not installed: pip install 'paraflowo[plot]'")


# ------------------------------------------------------------------ source tree


@pytest.fixture
def source_copy(tmp_path):
    """The package as a clone holds it: sources, no compiled extensions."""
    dest = tmp_path / "clone" / "paraflowo"
    shutil.copytree(SOURCE, dest, ignore=shutil.ignore_patterns(
        "*.so", "*.pyd", "*.dylib", "__pycache__", "*.c"))
    return dest.parent


@pytest.mark.parametrize("argv", [["-c", "import paraflowo"], ["-m", "paraflowo", "demo"]])
def test_importing_from_the_source_tree_says_what_to_do(argv, source_copy):
    # -S: no site-packages, so nothing installed (editable or not) can answer instead
    proc = subprocess.run([sys.executable, "-S", *argv], capture_output=True, text=True,
                          cwd=source_copy, timeout=120)
    assert proc.returncode != 0
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("ImportError: you are importing paraflowo from its source tree")
    assert "pip install ." in last and "another directory" in last
    assert "ModuleNotFoundError" not in proc.stderr


def test_an_installed_package_imports_from_anywhere(tmp_path):
    proc = subprocess.run([sys.executable, "-c", "import paraflowo; print(paraflowo.__version__)"],
                          capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == paraflowo.__version__
