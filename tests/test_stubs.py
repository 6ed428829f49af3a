"""The ``.pyi`` stubs of the compiled modules match what the modules define.

mypy's stubtest cannot be used here: it type-checks the whole package first,
and it cannot see the ``__init__`` signature of a ``cdef class`` (Cython
gives none at run time).  This test compares the stubs' ``ast`` with the
imported modules instead:

* every name a stub declares exists at run time (classes as classes, and
  each class member on the class);
* every public class and function a module defines, and every public member
  such a class defines, is in the stub;
* each function's and method's parameters (names, kinds, whether it has a
  default) equal ``inspect.signature`` of the compiled function;
* a class's ``__init__`` parameters equal its docstring's "Parameters"
  section (the compiled ``__init__`` has no signature to read).
"""

from __future__ import annotations

import ast
import importlib
import inspect
import re
from pathlib import Path

import pytest

CORE = Path(__file__).resolve().parent.parent / "paraflowo" / "_core"
MODULES = sorted(p.stem for p in CORE.glob("*.pyi"))


def _params(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> list[tuple[str, str, bool]]:
    """(name, kind, has default) of a stub function's parameters."""
    a = fn.args
    out = []
    pos = a.posonlyargs + a.args
    first_default = len(pos) - len(a.defaults)
    for i, p in enumerate(a.posonlyargs):
        out.append((p.arg, "POSITIONAL_ONLY", i >= first_default))
    for i, p in enumerate(a.args, start=len(a.posonlyargs)):
        out.append((p.arg, "POSITIONAL_OR_KEYWORD", i >= first_default))
    if a.vararg:
        out.append((a.vararg.arg, "VAR_POSITIONAL", False))
    for p, d in zip(a.kwonlyargs, a.kw_defaults):
        out.append((p.arg, "KEYWORD_ONLY", d is not None))
    if a.kwarg:
        out.append((a.kwarg.arg, "VAR_KEYWORD", False))
    return out


def _runtime_params(obj) -> list[tuple[str, str, bool]] | None:
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return None
    return [(p.name, p.kind.name, p.default is not p.empty) for p in sig.parameters.values()]


def _decorators(fn) -> set[str]:
    return {d.id if isinstance(d, ast.Name) else getattr(d, "attr", "") for d in fn.decorator_list}


def _doc_parameters(doc: str | None) -> list[str] | None:
    """Names in a numpydoc "Parameters" section, in order (None if none)."""
    if not doc:
        return None
    lines = doc.expandtabs().splitlines()
    for i in range(len(lines) - 1):
        if lines[i].strip() == "Parameters" and set(lines[i + 1].strip()) == {"-"}:
            break
    else:
        return None
    base = len(lines[i]) - len(lines[i].lstrip())
    names: list[str] = []
    for j in range(i + 2, len(lines)):
        line = lines[j]
        if not line.strip() or len(line) - len(line.lstrip()) != base:
            continue
        if j + 1 < len(lines) and lines[j + 1].strip() and set(lines[j + 1].strip()) == {"-"}:
            break                                    # the next section
        hit = re.match(r"^\*{0,2}([A-Za-z_]\w*(?:\s*,\s*\*{0,2}[A-Za-z_]\w*)*)\s*(?::\s|:$|$)",
                       line.strip())
        if hit:
            names += [n.strip().lstrip("*") for n in hit.group(1).split(",")]
    return names


def _stub(name: str) -> ast.Module:
    return ast.parse((CORE / f"{name}.pyi").read_text())


def _top(tree: ast.Module) -> dict[str, ast.AST]:
    out: dict[str, ast.AST] = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            out[node.name] = node
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            out[node.target.id] = node
        elif isinstance(node, ast.Assign):
            for t in node.targets:
                if isinstance(t, ast.Name):
                    out[t.id] = node
    return out


def _members(cls: ast.ClassDef) -> dict[str, ast.AST]:
    out: dict[str, ast.AST] = {}
    for node in cls.body:
        if isinstance(node, ast.FunctionDef):
            out.setdefault(node.name, node)     # a property's setter repeats the name
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            out[node.target.id] = node
        elif isinstance(node, ast.Assign):
            for t in node.targets:
                if isinstance(t, ast.Name):
                    out[t.id] = node
    return out


def _check(name: str) -> list[str]:
    mod = importlib.import_module(f"paraflowo._core.{name}")
    top = _top(_stub(name))
    errors = []
    # runtime public classes and functions of this module are stubbed
    for attr, obj in vars(mod).items():
        if attr.startswith("_"):
            continue
        if (inspect.isclass(obj) or callable(obj)) and getattr(obj, "__module__", None) == mod.__name__:
            if attr not in top:
                errors.append(f"{name}.{attr}: defined at run time, not in the stub")
    for attr, node in top.items():
        if not hasattr(mod, attr):
            errors.append(f"{name}.{attr}: in the stub, not at run time")
            continue
        obj = getattr(mod, attr)
        if isinstance(node, ast.FunctionDef):
            got = _runtime_params(obj)
            if got is not None and got != _params(node):
                errors.append(f"{name}.{attr}: stub {_params(node)} != runtime {got}")
        elif isinstance(node, ast.ClassDef):
            if not inspect.isclass(obj):
                errors.append(f"{name}.{attr}: a class in the stub, {type(obj)} at run time")
                continue
            errors += _check_class(f"{name}.{attr}", obj, node)
    return errors


def _check_class(where: str, cls: type, node: ast.ClassDef) -> list[str]:
    errors = []
    members = _members(node)
    for attr in vars(cls):
        if not attr.startswith("_") and attr not in members:
            errors.append(f"{where}.{attr}: defined at run time, not in the stub")
    for attr, m in members.items():
        if attr.startswith("__") and attr not in ("__init__", "__len__", "__iter__", "__enter__",
                                                  "__exit__", "__call__", "__getitem__"):
            continue
        if not hasattr(cls, attr):
            errors.append(f"{where}.{attr}: in the stub, not at run time")
            continue
        if not isinstance(m, ast.FunctionDef):
            continue
        want = _params(m)
        if attr == "__init__":
            doc = _doc_parameters(cls.__doc__)
            pos = [p for p, kind, d in want[1:] if kind.startswith("POSITIONAL") and not d]
            rest = {p for p, kind, d in want[1:] if p not in pos and not kind.startswith("VAR_")}
            # required parameters in order, the others (defaults, keyword-only)
            # in any order
            if doc is not None and (doc[:len(pos)] != pos or set(doc[len(pos):]) != rest):
                errors.append(f"{where}.__init__: stub {pos} + {sorted(rest)} != docstring "
                              f"Parameters {doc}")
            continue
        if "property" in _decorators(m) or any(d.endswith("setter") for d in _decorators(m)):
            continue
        raw = inspect.getattr_static(cls, attr)
        if isinstance(raw, (staticmethod, classmethod)):
            raw = raw.__func__
            if "staticmethod" in _decorators(m):
                pass
        got = _runtime_params(raw)
        if got is not None and attr.startswith("__"):
            got, want = [k for _, k, _ in got][1:], [k for _, k, _ in want][1:]
            got = ["POSITIONAL_OR_KEYWORD" if k == "POSITIONAL_ONLY" else k for k in got]
        elif got and got[0][0] in ("self", "cls") and got[0][1] == "POSITIONAL_ONLY":
            got = [(got[0][0], "POSITIONAL_OR_KEYWORD", got[0][2])] + got[1:]
        if got is not None and got != want:
            errors.append(f"{where}.{attr}: stub {want} != runtime {got}")
    return errors


def test_doc_parameters_parser():
    doc = """Thing.

    Parameters
    ----------
    a : int
        Text: not a name.
    b, c : float
        More text
        on: lines.
    d

    Returns
    -------
    e : int
    """
    assert _doc_parameters(doc) == ["a", "b", "c", "d"]
    assert _doc_parameters("no sections") is None


@pytest.mark.parametrize("name", MODULES)
def test_stub_matches_module(name):
    errors = _check(name)
    assert errors == [], "\n".join(errors)


def test_checker_sees_a_wrong_stub(tmp_path, monkeypatch):
    # A stub with a renamed parameter, a missing method and a ghost name fails.
    text = (CORE / "psn.pyi").read_text()
    assert "def tag(self, key: int, port: int" in text and "    def n_live(self" in text
    bad = (text.replace("def tag(self, key: int, port: int", "def tag(self, kee: int, port: int")
               .replace("    def n_live(self", "    def n_alive(self")
           + "\nGHOST: int\n")
    (tmp_path / "psn.pyi").write_text(bad)
    monkeypatch.setitem(globals(), "CORE", tmp_path)
    errors = _check("psn")
    assert any("PSNAllocator.tag: stub" in e for e in errors), errors
    assert any("PSNAllocator.n_live: defined at run time" in e for e in errors), errors
    assert any("PSNAllocator.n_alive: in the stub" in e for e in errors), errors
    assert any("psn.GHOST: in the stub" in e for e in errors), errors
