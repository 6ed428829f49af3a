"""Fuzz driver: every public class and function of paraflowo, valid and invalid calls.

Run as a child process by ``tests/test_fuzz.py`` (so a segfault or abort fails
that test instead of killing pytest)::

    python -X faulthandler tests/fuzz_driver.py --examples 20 --seed 1 --report out.json

Targets are found, not listed: everything in ``__all__`` of ``paraflowo``,
``paraflowo.hashing``, ``.reorder``, ``.metadata``, ``.memory``, ``.devices`` and
``.sim``.  Parameter kinds come from the ``.pyi`` stubs (extension types) or the
annotations (Python code).  For each class, hypothesis draws an instance (built
validly, from fuzzed constructor arguments, by ``Cls.__new__(Cls)``, or as a
subclass that skips ``__init__``) and then a sequence of method calls and
property reads with arguments drawn from a pool of valid and invalid values
(wrong kinds, huge ints, 0-d / 2-d / empty / non-contiguous / read-only /
wrong-dtype arrays, records with fields at their type's maximum).

Each call is checked against the exception contract (docs/conventions.rst):

* ``crash``      the process died (found by the parent from the call log);
* ``hang``       one call ran longer than ``--call-timeout`` seconds;
* ``exc-type``   an exception other than TypeError/ValueError (or a documented
                 RuntimeError: not initialised, in use, PacketStoreFull; OSError
                 for paths);
* ``message``    a TypeError/ValueError whose message names no parameter;
* ``accepted``   a call with a wrong-kind argument (None, str, non-integral float
                 for an int, an int beyond 64 bits, a non-array for an array,
                 a 0-d/2-d/wrong-dtype/non-contiguous array, a read-only output)
                 that returned normally;
* ``state``      an error that changed the object's observable state;
* ``rejected``   a documented valid call (the instance factories) that raised.

Findings are deduplicated by (target, kind, detail) and written as JSON.
Before each call the driver appends one line to ``--log`` (flushed), so the
parent can name the call that crashed the process.
"""

from __future__ import annotations

import argparse
import ast
import faulthandler
import importlib
import inspect
import json
import math
import os
import re
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, seed as hseed, settings
from hypothesis import strategies as st

MODULES = ("paraflowo", "paraflowo.hashing", "paraflowo.reorder", "paraflowo.metadata",
           "paraflowo.memory", "paraflowo.devices", "paraflowo.planning", "paraflowo.sim",
           "paraflowo.sim.pcap", "paraflowo.sim.timeout", "paraflowo.sim.sweep",
           "paraflowo.dataplane")

# ----------------------------------------------------------------------------
# Parameter kinds, from the stubs or the annotations
# ----------------------------------------------------------------------------


def _stub_signatures():
    """{qualname: [(name, annotation, has_default, kwonly)]} from paraflowo/_core/*.pyi."""
    import paraflowo._core as core
    sigs, props = {}, {}
    for pyi in Path(core.__file__).parent.glob("*.pyi"):
        tree = ast.parse(pyi.read_text())
        for node in tree.body:
            if isinstance(node, ast.ClassDef):
                for item in node.body:
                    if isinstance(item, ast.FunctionDef):
                        if any(isinstance(d, ast.Name) and d.id == "property"
                               for d in item.decorator_list):
                            props.setdefault(node.name, []).append(item.name)
                        else:
                            sigs[f"{node.name}.{item.name}"] = _params(item.args, skip_self=True)
                    elif isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                        props.setdefault(node.name, []).append(item.target.id)
            elif isinstance(node, ast.FunctionDef):
                sigs[node.name] = _params(node.args, skip_self=False)
    return sigs, props


def _params(args: ast.arguments, skip_self: bool):
    pos = args.posonlyargs + args.args
    if skip_self:
        pos = pos[1:]
    n_def = len(args.defaults)
    out = []
    for i, a in enumerate(pos):
        out.append((a.arg, ast.unparse(a.annotation) if a.annotation else "",
                    i >= len(pos) - n_def, False))
    for a, d in zip(args.kwonlyargs, args.kw_defaults):
        out.append((a.arg, ast.unparse(a.annotation) if a.annotation else "", d is not None, True))
    return out


def _py_params(fn):
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return None
    out = []
    for p in list(sig.parameters.values()):
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) or p.name in ("self", "cls"):
            continue
        ann = p.annotation
        ann = "" if ann is p.empty else (ann if isinstance(ann, str) else getattr(ann, "__name__", str(ann)))
        out.append((p.name, ann, p.default is not p.empty, p.kind == p.KEYWORD_ONLY))
    return out


_DTYPES = {"uint8": np.uint8, "uint16": np.uint16, "uint32": np.uint32, "uint64": np.uint64,
           "int16": np.int16, "int32": np.int32, "int64": np.int64, "float64": np.float64,
           "bool_": np.bool_}


def kind_of(ann: str, name: str):
    """A coarse kind: ('int'|'float'|'bool'|'bytes'|'str'|'array'|'records'|'obj'|'any', extra, optional)."""
    optional = "None" in ann
    if "NDArray" in ann or "ndarray" in ann or "ArrayLike" in ann:
        m = re.search(r"NDArray\[np\.(\w+)\]", ann)
        if m and m.group(1) in _DTYPES:
            return ("array", _DTYPES[m.group(1)], optional)
        return ("records", None, optional)
    m = re.search(r"Literal\[(.*?)\]", ann)
    if m:
        return ("literal", ast.literal_eval(f"[{m.group(1)}]"), optional)
    for cls in ("IndirectionTable", "ElephantDetector", "PSNAllocator", "FlowletScheduler",
                "DeviceProfile", "Scenario", "ReorderQueues"):
        if cls in ann:
            return ("obj", cls, optional or "int" in ann)
    if re.search(r"\bbytes\b", ann):
        return ("bytes", None, optional)
    if re.search(r"\bint\b", ann) and not re.search(r"\bfloat\b", ann):
        return ("int", None, optional)
    if re.search(r"\bfloat\b", ann):
        return ("float", None, optional)
    if re.search(r"\bbool\b", ann):
        return ("bool", None, optional)
    if re.search(r"\bstr\b", ann) or "PathLike" in ann or "Path" in ann:
        return ("str", None, optional)
    return ("any", None, optional)


# ----------------------------------------------------------------------------
# Values
# ----------------------------------------------------------------------------

EDGE_INTS = [0, 1, 2, 3, 4, 7, 8, 16, 31, 32, 64, 100, 255, 256, 1000, 1024, 4096,
             2**15, 2**16 - 1, 2**16, 2**24, 2**31 - 1, 2**32 - 1, 2**32, 2**62,
             2**63 - 1, 2**64 - 1, -1, -2**31, -2**63]
HUGE_INTS = [2**64, 2**100, -2**70, -2**63 - 1]


class Bad:
    """Marks a value that is the wrong kind for its parameter (must be refused)."""

    def __init__(self, value, why):
        self.value, self.why = value, why


def _records(dtype, n, fill):
    a = np.zeros(n, dtype=dtype)
    if fill == "max":
        for f in dtype.names or ():
            t = dtype.fields[f][0]
            if t.kind in "ui":
                a[f] = np.iinfo(t.base if t.subdtype else t).max
            elif t.kind == "b":
                a[f] = True
    elif fill == "min":
        for f in dtype.names or ():
            t = dtype.fields[f][0]
            if t.kind == "i":
                a[f] = np.iinfo(t).min
    return a


def record_dtypes():
    import paraflowo as p
    out = [p.META_DTYPE, p.FLOWLET_DTYPE, p.IPV4_TUPLE_DTYPE, p.IPV6_TUPLE_DTYPE]
    return [np.dtype(d) for d in out]


@st.composite
def arrays(draw, dtype, n_max=12):
    n = draw(st.integers(0, n_max))
    dt = np.dtype(dtype)
    if dt.kind in "ui":
        info = np.iinfo(dt)
        elems = st.one_of(st.integers(0, 8), st.sampled_from(
            [v for v in (info.max, info.max - 1, info.min, 2**15, 2**31 - 1) if info.min <= v <= info.max]),
            st.integers(int(info.min), int(info.max)))
        vals = draw(st.lists(elems, min_size=n, max_size=n))
        a = np.array(vals, dtype=dt)
    elif dt.kind == "b":
        a = np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)), dtype=dt)
    else:
        a = np.array(draw(st.lists(st.floats(allow_nan=True), min_size=n, max_size=n)), dtype=dt)
    if draw(st.booleans()):
        a = np.sort(a)
    return a


@st.composite
def bad_arrays(draw, dtype):
    """Arrays that a parameter of ``dtype`` must refuse (given as Bad)."""
    dt = np.dtype(dtype) if dtype is not None else np.dtype(np.uint64)
    base = draw(arrays(dt, 8)) if dt.names is None else np.zeros(4, dt)
    choice = draw(st.sampled_from(["0d", "2d", "noncontig", "dtype", "list", "None", "str"]))
    if choice == "0d":
        return Bad(np.zeros((), dtype=dt), "0-d array")
    if choice == "2d":
        return Bad(np.zeros((2, 3), dtype=dt), "2-d array")
    if choice == "noncontig":
        return Bad(np.zeros(8, dtype=dt)[::2], "non-contiguous array")
    if choice == "dtype":
        other = draw(st.sampled_from([np.float32, np.int8, np.complex64, np.uint64, np.int64,
                                      np.uint16, np.uint32]))
        if np.dtype(other) == dt:
            other = np.float32
        return Bad(np.zeros(len(base), dtype=other), f"dtype {np.dtype(other)}")
    if choice == "list":
        return Bad([0, 1, 2], "list")
    if choice == "None":
        return Bad(None, "None")
    return Bad("abc", "str")


def int_values():
    return st.one_of(st.sampled_from(EDGE_INTS), st.integers(0, 64), st.integers(-2**63, 2**64 - 1))


def bad_ints():
    return st.one_of(
        st.sampled_from(HUGE_INTS).map(lambda v: Bad(v, "int beyond 64 bits")),
        st.sampled_from([None, "2", b"2", 1.5, float("nan"), float("inf"), [1], object()])
        .map(lambda v: Bad(v, f"wrong kind {type(v).__name__}")),
    )


def odd_ok_values():
    """Values that are neither clearly valid nor clearly invalid for any kind."""
    return st.sampled_from([True, False, np.int64(3), np.uint64(2**64 - 1), np.int32(-1),
                            np.float64(2.0), 2.0, 0.0, -0.0, np.bool_(True), ()])


# Array parameters documented to take any dtype (their bytes are what counts):
# a dtype other than the structured ones is a value there, not an error.
ANY_DTYPE = {("ToeplitzHasher.hash_records", "records")}


def value_for(draw, kind, factories, param_name, target):
    k, extra, optional = kind
    pick = draw(st.integers(0, 9))
    if pick == 0:
        return draw(odd_ok_values())
    valid = pick >= 4
    if k == "int":
        if valid:
            return draw(int_values())
        return draw(bad_ints()) if not (optional and draw(st.booleans())) else None
    if k == "float":
        if valid:
            return draw(st.one_of(st.floats(-1e6, 1e6), st.sampled_from([0.0, 0.5, 1.0, 1e-9, 64.0, 1500.0]),
                                  st.integers(0, 2000)))
        return draw(st.sampled_from([Bad("1.0", "str"), Bad(b"x", "bytes"), float("nan"),
                                     float("inf"), -1.0, 1e300, Bad([1.0], "list"), None]))
    if k == "bool":
        return draw(st.sampled_from([True, False, np.bool_(False), 0, 1, None, "yes"]))
    if k == "bytes":
        if valid:
            return draw(st.one_of(st.binary(max_size=64), st.binary(min_size=36, max_size=40).map(bytearray),
                                  st.binary(max_size=8).map(memoryview)))
        # (any C-contiguous buffer is bytes-like, its raw bytes: a 2-d array is not wrong)
        return draw(st.sampled_from([Bad(None, "None") if not optional else b"", Bad(5, "int"),
                                     Bad("abc", "str"), Bad(np.zeros(8, np.uint8)[::2], "strided view"),
                                     np.zeros((2, 2), np.uint8)]))
    if k == "str":
        if valid:
            return draw(st.one_of(st.text(max_size=12), st.sampled_from(
                ["rss", "paraflowo", "spray", "rsspp", "forward", "reorder", "nf", "detector",
                 "worst", "expected", "packets", "bytes", "fused", "independent", "host",
                 "riscv-128k", "paper-fig7", "big-elephant", "x86-vm"])))
        return draw(st.sampled_from([Bad(5, "int"), None, Bad(b"rss", "bytes"), "", "\x00"]))
    if k == "literal":
        if valid:
            return draw(st.sampled_from(extra))
        return draw(st.sampled_from([Bad(None, "None") if not optional else "nope", "nope", Bad(3, "int")]))
    if k == "array":
        if valid:
            a = draw(arrays(extra))
            return a
        if draw(st.integers(0, 4)) == 0:
            return draw(st.sampled_from([np.zeros(0, extra), np.full(1, np.iinfo(extra).max if
                                                                    np.dtype(extra).kind in "ui" else 0, extra)]))
        b = draw(bad_arrays(extra))
        if optional and b.value is None:
            return None
        return b
    if k == "records":
        dts = record_dtypes()
        if valid:
            dt = draw(st.sampled_from(dts))
            return _records(dt, draw(st.integers(0, 6)), draw(st.sampled_from(["zero", "max", "min"])))
        if draw(st.booleans()):
            return draw(st.sampled_from([np.zeros(3, np.uint64), np.zeros((), dts[0]),
                                         np.zeros((2, 2), dts[0]), np.zeros(6, dts[0])[::2],
                                         [(1, 2)], None, "x"]))
        b = draw(bad_arrays(dts[0]))
        if (target, param_name) in ANY_DTYPE and b.why.startswith("dtype "):
            return b.value          # documented as valid: hashed as raw bytes
        return b
    if k == "obj":
        if valid and extra in factories:
            return factories[extra](draw)
        return draw(st.sampled_from([Bad(None, "None") if not optional else 3, Bad("x", "str"),
                                     Bad(object(), "object"), 5]))
    # any
    return draw(st.one_of(int_values(), st.text(max_size=5), st.none(), odd_ok_values(),
                          st.sampled_from([np.zeros(3, np.uint64), [1, 2], {"a": 1}, 1.5])))


# ----------------------------------------------------------------------------
# Instances
# ----------------------------------------------------------------------------


def make_factories(p):
    """Valid instances of the classes methods are called on (and passed as arguments)."""
    from paraflowo.sim import load_scenario

    def detector(draw):
        which = draw(st.integers(0, 2))
        if which == 0:
            return p.CountMinDetector(draw(st.sampled_from([2, 64, 256])), draw(st.sampled_from([1, 2, 4])),
                                      draw(st.sampled_from([1, 10, 2**32])), draw(st.sampled_from([1, 10**6])),
                                      conservative=draw(st.booleans()), seed=draw(st.integers(0, 9)),
                                      max_tags=draw(st.sampled_from([1, 16])),
                                      row_hashes=draw(st.sampled_from(["fused", "independent"])))
        if which == 1:
            return p.ThresholdDetector(draw(st.sampled_from([1, 8, 64])), draw(st.sampled_from([1, 10])),
                                       draw(st.sampled_from([1, 10**6])), max_tags=16)
        return p.ElephantDetector(max_tags=draw(st.sampled_from([1, 16])))

    def reta(draw):
        return p.IndirectionTable(draw(st.sampled_from([1, 2, 4, 7])), draw(st.sampled_from([1, 8, 128])))

    def psn(draw):
        return p.PSNAllocator(draw(st.sampled_from([1, 2, 8])), draw(st.sampled_from([8, 16, 32])),
                              draw(st.sampled_from([1, 1000, 10**9])), draw(st.sampled_from([1, 2, 4])))

    def sched(draw):
        return p.FlowletScheduler(draw(st.sampled_from([1, 2, 4])), draw(st.sampled_from([1, 2])))

    def breakup(draw):
        n_cores = draw(st.sampled_from([1, 2, 4]))
        return p.Breakup(detector(draw) if draw(st.booleans()) else None,
                         p.PSNAllocator(draw(st.sampled_from([1, 4]))),
                         p.FlowletScheduler(n_cores, min(2, n_cores)),
                         capacity=draw(st.sampled_from([1, 16, 64])),
                         count=draw(st.sampled_from(["packets", "bytes"])))

    def rob(draw):
        return p.ReorderBuffer(draw(st.sampled_from([2, 4, 64])), draw(st.sampled_from([None, 0, 1000])),
                               draw(st.sampled_from([8, 16, 32])), draw(st.sampled_from([0, 250])))

    def roq(draw):
        return p.ReorderQueues(draw(st.sampled_from([1, 3])), draw(st.sampled_from([2, 8])),
                               draw(st.sampled_from([None, 1000])), draw(st.sampled_from([8, 32])))

    def store(draw):
        return p.PacketStore(draw(st.sampled_from([1, 4])), draw(st.sampled_from([1, 64, 2048])))

    def cache(draw):
        return p.MetadataCache(draw(st.sampled_from([1, 2])), draw(st.sampled_from([2, 8])),
                               draw(st.sampled_from([None, 1000])), draw(st.sampled_from([1, 8])),
                               draw(st.sampled_from([64, 2048])))

    def hasher(draw):
        return p.ToeplitzHasher(draw(st.sampled_from([p.RSS_DEFAULT_KEY, bytes(range(52)), b"\x01" * 8])))

    def profile(draw):
        return p.get_profile(draw(st.sampled_from(p.BUILTIN_PROFILES
                                                  if isinstance(p.BUILTIN_PROFILES, (list, tuple))
                                                  else list(p.BUILTIN_PROFILES))))

    def scenario(draw):
        sc = load_scenario(draw(st.sampled_from(p.builtin_scenarios())))
        return sc.with_duration(draw(st.sampled_from([0.001, 0.002])))

    def simcore(draw):
        n = draw(st.sampled_from([1, 2, 4]))
        r = p.IndirectionTable(n, 8)
        return p.SimCore(draw(st.sampled_from(["rss", "spray"])), np.full(n, 1000, np.int64),
                         draw(st.sampled_from([1, 16])), np.arange(3, dtype=np.uint32),
                         4, 10**6, r)

    return {"ElephantDetector": detector, "CountMinDetector": detector, "ThresholdDetector": detector,
            "SpaceSavingDetector": detector,
            "IndirectionTable": reta, "PSNAllocator": psn, "FlowletScheduler": sched, "Breakup": breakup,
            "ReorderBuffer": rob, "ReorderQueues": roq, "PacketStore": store, "MetadataCache": cache,
            "ToeplitzHasher": hasher, "DeviceProfile": profile, "Scenario": scenario, "SimCore": simcore}


# Parameters whose valid range is unbounded in time or memory: keep valid draws small
# (the fuzz checks contracts, not long runs).  name -> strategy of values.
CAPS = {
    ("calibrate", "budget_s"): st.sampled_from([0.0, 0.001, -1.0, float("nan"), Bad("1", "str"), 1e300]),
    ("calibrate", "repeats"): st.sampled_from([0, 1, 2, -1, 2**64, Bad(None, "None"), 1.5]),
    ("empty_meta", "n"): st.sampled_from([0, 1, 5, -1, 2**64, Bad(None, "None"), Bad(1.5, "float"), 2**62]),
    ("PacketStore.__init__", "n_slots"): st.sampled_from([0, 1, 4, -1, 2**64, 2**40, Bad(None, "None")]),
    ("PacketStore.__init__", "slot_bytes"): st.sampled_from([0, 1, 64, -1, 2**64, 2**40, Bad("x", "str")]),
    ("MetadataCache.__init__", "n_slots"): st.sampled_from([0, 1, 4, -1, 2**64, 2**40, Bad(None, "None")]),
    ("MetadataCache.__init__", "slot_bytes"): st.sampled_from([0, 64, -1, 2**64, 2**40]),
    # sweeps: a million seeds is valid and takes seconds to spawn
    ("spawn_seeds", "k"): st.sampled_from([1, 3, 0, -1, 2**20 + 1, 2**64, Bad(None, "None"),
                                           Bad(1.5, "float")]),
    # live dataplane: valid values that would spin or run for minutes
    ("calibrate_spin", "target_ns"): st.sampled_from([10_000, 20_000, 9_999, -1, 2**64, 10**9 + 1,
                                                      Bad("1", "str"), 1.5]),
    ("calibrate_spin", "trials"): st.sampled_from([1, 2, 0, 101, -2**70, Bad(None, "None")]),
    ("SpinNF.__init__", "steps_per_ns"): st.sampled_from([None, 1.0, 0.0, -1.0, float("nan"),
                                                          Bad("x", "str"), 1e300]),
    ("run_bridge", "duration"): st.sampled_from([0.001, -1.0, float("nan"), float("inf"),
                                                 Bad("x", "str"), 2**64]),
    ("Dataplane.run_bridge", "duration"): st.sampled_from([0.001, -1.0, float("nan"),
                                                           float("inf"), Bad("x", "str")]),
}
# Constructors whose sizes allocate memory: ints drawn from small values or refused ones.
SIZE_PARAMS = {"width", "depth", "capacity", "max_tags", "n_queues", "window", "size", "n_cores",
               "n_para", "n_bins", "rx_queue", "n_slots", "slot_bytes", "probes", "meta_bytes",
               "queue_overhead_bytes", "n", "cores"}
SMALL_OR_REFUSED = st.sampled_from([0, 1, 2, 3, 4, 8, 16, 64, 1000, 2**16 - 1, -1, 2**31, 2**40, 2**63 - 1,
                                    2**64, -2**70])
SLOW_FUNCS = {"simulate", "calibrate"}


# ----------------------------------------------------------------------------
# Running calls
# ----------------------------------------------------------------------------

class Fuzzer:
    def __init__(self, log_path, call_timeout):
        self.findings = {}
        self.calls = 0
        self.log = open(log_path, "a", buffering=1) if log_path else None
        self.call_timeout = call_timeout
        self.no_weird = set()  # classes fuzzed only through constructed instances
        # capacity planning (paraflowo.devices) computes in exact Python integers
        # with no upper bound: an int beyond 64 bits is a value there, not an error
        self.exact_ints = set()

    def note(self, target, kind, detail, example):
        # one finding per (target, kind, exception type or refused parameters)
        key = (target, kind, detail.split(":")[0])
        if key not in self.findings:
            self.findings[key] = {"target": target, "kind": kind, "detail": detail, "example": example}

    def call(self, target, fn, args, kwargs, names, bad, obj=None, valid=False):
        """Call ``fn``; check the contract.  Returns (ok, result)."""
        shown = _show(target, args, kwargs)
        if self.log:
            self.log.write(f"{target}\t{shown}\n")
        before = snapshot(obj) if obj is not None else None
        self.calls += 1
        faulthandler.dump_traceback_later(self.call_timeout, exit=True)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                result = fn(*args, **kwargs)
        except (TypeError, ValueError) as e:
            faulthandler.cancel_dump_traceback_later()
            msg = str(e)
            if names and target not in MESSAGE_EXEMPT and not _names_something(msg, names, args, kwargs):
                self.note(target, "message", f"{type(e).__name__}: {_short(msg)}", shown)
            if valid:
                self.note(target, "rejected", f"{type(e).__name__}: {_short(msg)}", shown)
            if obj is not None:
                after = snapshot(obj)
                if after != before:
                    self.note(target, "state", f"after {type(e).__name__}: {_diff(before, after)}", shown)
            return False, None
        except Exception as e:  # noqa: BLE001 - classify everything else
            faulthandler.cancel_dump_traceback_later()
            if not allowed_other(target, e, obj):
                self.note(target, "exc-type", f"{type(e).__name__}: {_short(str(e))}", shown)
            if valid:
                self.note(target, "rejected", f"{type(e).__name__}: {_short(str(e))}", shown)
            return False, None
        faulthandler.cancel_dump_traceback_later()
        if target in self.exact_ints:
            bad = [b for b in bad if not b.endswith("int beyond 64 bits")]
        if bad:
            self.note(target, "accepted", "; ".join(sorted(bad)), shown)
        return True, result


def _names_something(msg, names, args, kwargs):
    """The message names a parameter, or (a domain message such as "unknown
    profile 'x'") quotes the offending value itself."""
    if any(n in msg for n in names):
        return True
    # the quantity without its unit suffix ("duration" for duration_s) names it too
    if any(re.sub(r"_(s|ns)$", "", n) in msg for n in names if re.search(r"_(s|ns)$", n)):
        return True
    for v in list(args) + list(kwargs.values()):
        if isinstance(v, str) and (repr(v) in msg or (len(v) > 1 and v in msg)
                                   or (v and msg.startswith(f"{v}: "))):
            # (a document's message starts with its source: "<path>: ...",
            # which names even a one-character path)
            return True
        if isinstance(v, int) and not isinstance(v, bool) and len(repr(v)) > 2 and repr(v) in msg:
            return True
    return False


def allowed_other(target, e, obj):
    import paraflowo as p
    if isinstance(e, p.PacketStoreFull):
        return True
    if isinstance(e, RuntimeError):
        m = str(e).lower()
        if "not initiali" in m or "in use by another thread" in m:
            return True
        if target.startswith("PacketStore") or target.startswith("MetadataCache"):
            return "full" in m
    if isinstance(e, OSError) and target in ("load_profile", "save_profile", "find_profile",
                                             "load_scenario", "read_capture", "write_pcap",
                                             "read_table", "load_sweep_spec", "read_pcap",
                                             "sweep"):
        return True
    # run_bridge needs root and two real interfaces: with valid arguments its
    # documented error is the OSError of opening an AF_PACKET socket on a name
    # that is no interface (every argument is checked before; see its tests).
    if isinstance(e, OSError) and target in ("run_bridge", "Dataplane.run_bridge"):
        return True
    return False


# Messages about a document's content name the source and the key, not a parameter.
# derive_timeout: with valid arguments, its ValueError is about the engine's policy
# (its message names the policy), not about an argument.
MESSAGE_EXEMPT = {"loads_profile", "parse_scenario", "parse_sweep_spec", "load_sweep_spec",
                  "SimCore.derive_timeout"}

PROPS: dict = {}  # class -> the properties compared before and after an error


def snapshot(obj):
    out = {}
    for name in next((PROPS[k] for k in type(obj).__mro__ if k in PROPS), ()):
        try:
            v = getattr(obj, name)
        except Exception as e:  # noqa: BLE001
            v = f"<{type(e).__name__}>"
        if isinstance(v, (int, float, str, bool, tuple, type(None))):
            out[name] = v
    return out


def _diff(a, b):
    return ", ".join(f"{k}: {a.get(k)!r} -> {b.get(k)!r}" for k in sorted(set(a) | set(b))
                     if a.get(k) != b.get(k))[:200]


def _short(s):
    return s if len(s) < 160 else s[:157] + "..."


def _rv(v):
    if isinstance(v, np.ndarray):
        flags = ("" if v.flags.c_contiguous else " noncontig") + ("" if v.flags.writeable else " readonly")
        return f"ndarray({v.dtype}, shape={v.shape}{flags})"
    r = repr(v)
    return r if len(r) < 60 else r[:57] + "..."


def _show(target, args, kwargs):
    parts = [_rv(a) for a in args] + [f"{k}={_rv(v)}" for k, v in kwargs.items()]
    return f"{target}({', '.join(parts)})"


# Parameters whose stub kind is not the whole story: batch inputs that are 2-D
# (one row per packet) are fuzzed with generic values, without a verdict.
KIND_OVERRIDE = {("toeplitz_batch", "data"): ("any", None, False),
                 ("ToeplitzHasher.hash_batch", "data"): ("any", None, False)}


def draw_args(draw, target, params, factories):
    args, kwargs, bad, names = [], {}, [], []
    skipped = False
    for name, ann, has_default, kwonly in params:
        if has_default and draw(st.integers(0, 2)) == 0:
            skipped = True  # later ones go by keyword
            continue
        kind = KIND_OVERRIDE.get((target, name)) or kind_of(ann, name)
        if (target, name) in CAPS or (target.split(".")[-1], name) in CAPS:
            v = draw(CAPS.get((target, name), CAPS.get((target.split(".")[-1], name))))
        elif kind[0] == "int" and name in SIZE_PARAMS and target.endswith("__init__"):
            v = draw(st.one_of(SMALL_OR_REFUSED, bad_ints()))
        else:
            v = value_for(draw, kind, factories, name, target)
        if isinstance(v, Bad):
            if not (kind[2] and v.value is None):
                bad.append(f"{name}: {v.why}")
            v = v.value
        elif kind[0] == "array" and isinstance(v, np.ndarray) and _is_output(target, name) \
                and draw(st.integers(0, 5)) == 0:
            v = v.copy()
            v.flags.writeable = False
            bad.append(f"{name}: read-only output")
        names.append(name)
        if kwonly or draw(st.booleans()) and not _positional_only(target):
            kwargs[name] = v
        elif kwargs or skipped:
            kwargs[name] = v
        else:
            args.append(v)
    return args, kwargs, bad, names


def _is_output(target, name):
    return name.startswith("out") or name.endswith("_out") or name.startswith("trace_") or \
        (target.endswith("tag_burst") and name in ("queues", "psns"))


def _positional_only(target):
    return target.endswith("__setitem__") or target.endswith("__getitem__")


# ----------------------------------------------------------------------------
# Targets
# ----------------------------------------------------------------------------

def collect():
    seen, classes, funcs = set(), [], []
    for mod in MODULES:
        m = importlib.import_module(mod)
        for name in getattr(m, "__all__", ()):
            obj = getattr(m, name)
            if id(obj) in seen:
                continue
            seen.add(id(obj))
            if inspect.isclass(obj):
                if issubclass(obj, BaseException) or issubclass(obj, tuple) or issubclass(obj, int):
                    continue  # exceptions, NamedTuples, enums: data, not behaviour
                classes.append(obj)
            elif callable(obj):
                funcs.append(obj)
    return classes, funcs


def class_api(cls, stubs, stub_props):
    """(ctor params, {method: params}, [properties]) of a class."""
    methods, props = {}, []
    is_ext = cls.__module__.startswith("paraflowo._core")
    for klass in cls.__mro__:
        if klass is object:
            continue
        for name, attr in vars(klass).items():
            if name.startswith("_") and name not in ("__len__", "__getitem__", "__setitem__"):
                continue
            if name in methods or name in props:
                continue
            if isinstance(attr, property) or type(attr).__name__ in ("getset_descriptor", "member_descriptor"):
                props.append(name)
            elif callable(attr) or type(attr).__name__ == "method_descriptor":
                if isinstance(attr, (classmethod, staticmethod)):
                    continue
                key = f"{klass.__name__}.{name}"
                params = stubs.get(key) if is_ext else _py_params(attr)
                if params is None and is_ext:
                    params = []
                if params is not None:
                    methods[name] = params
        props.extend(p for p in stub_props.get(klass.__name__, ()) if p not in props and p not in methods)
    ctor = stubs.get(f"{cls.__name__}.__init__") if is_ext else _py_params(cls)
    return ctor or [], methods, props


def run(examples, seed_value, only, log_path, call_timeout, skip_to, no_weird=(), start_at=""):
    import paraflowo as p
    stubs, stub_props = _stub_signatures()
    factories = make_factories(p)
    fz = Fuzzer(log_path, call_timeout)
    fz.no_weird = set(no_weird)
    classes, funcs = collect()
    tmp = tempfile.mkdtemp(prefix="pfo-fuzz-")
    os.chdir(tmp)  # save_profile and friends write into a scratch directory
    targets = [(c.__name__, c) for c in classes] + [(f.__name__, f) for f in funcs]
    fz.exact_ints = {f.__name__ for f in funcs
                     if f.__module__ == "paraflowo.devices"
                     or f.__module__.startswith("paraflowo.planning")}
    if only:
        targets = [t for t in targets if re.search(only, t[0])]
    if skip_to:
        names = [t[0] for t in targets]
        targets = targets[names.index(skip_to) + 1:] if skip_to in names else targets
    if start_at:
        names = [t[0] for t in targets]
        targets = targets[names.index(start_at):] if start_at in names else targets
    sttngs = settings(max_examples=examples, deadline=None, database=None, derandomize=False,
                      suppress_health_check=list(HealthCheck), print_blob=False)

    for tname, obj in targets:
        if fz.log:
            fz.log.write(f"#target {tname}\n")
        if inspect.isclass(obj):
            ctor, methods, props = class_api(obj, stubs, stub_props)
            if obj.__module__.startswith("paraflowo._core"):
                PROPS[obj] = tuple(props)
            test = _class_test(fz, obj, ctor, methods, props, factories)
        else:
            params = stubs.get(tname) if obj.__module__.startswith("paraflowo._core") else _py_params(obj)
            if params is None:
                params = _py_params(obj) or []
            test = _func_test(fz, tname, obj, params, factories)
        test = hseed(seed_value)(sttngs(test))
        try:
            test()
        except Exception as e:  # noqa: BLE001 - a bug of this driver: report it, go on
            fz.note(tname, "driver", f"{type(e).__name__}: {_short(str(e))}", tname)
    return fz


def _class_test(fz, cls, ctor, methods, props, factories):
    name = cls.__name__
    n_calls = 3 if name in ("Scenario",) else 8

    @given(st.data())
    def test(data):
        draw = data.draw
        how = draw(st.sampled_from(["valid", "valid", "valid", "fuzzed"] if name in fz.no_weird
                                   else ["valid", "valid", "valid", "valid", "fuzzed", "new", "subclass"]))
        inst = None
        if how == "valid" and name in factories:
            fz.calls += 1
            if fz.log:
                fz.log.write(f"{name}\t<valid factory>\n")
            try:
                inst = factories[name](draw)
            except Exception as e:  # noqa: BLE001
                fz.note(name, "rejected", f"valid construction raised {type(e).__name__}: {_short(str(e))}",
                        name)
                return
            if not isinstance(inst, cls):
                inst = None
        if how == "subclass" and not getattr(cls, "__flags__", 0) & (1 << 10):
            how = "fuzzed"  # a final type (Py_TPFLAGS_BASETYPE unset) cannot be subclassed
        if inst is None and how in ("new", "subclass") and cls.__module__.startswith("paraflowo._core"):
            if how == "new":
                ok, inst = fz.call(f"{name}.__new__", cls.__new__, [cls], {}, [], [])
            else:
                sub = type(f"Sub{name}", (cls,), {"__init__": lambda self, *a, **k: None,
                                                   "_fuzz_weird": True})
                ok, inst = fz.call(f"{name}(subclass skipping __init__)", sub, [], {}, [], [])
        if inst is None:
            args, kwargs, bad, names = draw_args(draw, f"{name}.__init__", ctor, factories)
            if _plain_record(cls):
                bad = []  # a result record (no __post_init__) holds what it is given
            ok, inst = fz.call(f"{name}.__init__", cls, args, kwargs, names, bad)
            if not ok or _plain_record(cls):
                return    # (a record built from junk: its methods promise nothing)
        weird = how in ("new", "subclass") and cls.__module__.startswith("paraflowo._core")
        if fz.log:
            fz.log.write(f"#inst {'weird' if weird else 'normal'}\n")
        members = sorted(methods) + sorted(props)
        if not members:
            return
        for _ in range(draw(st.integers(1, n_calls))):
            m = draw(st.sampled_from(members))
            target = f"{name}.{m}"
            if m in methods:
                args, kwargs, bad, names = draw_args(draw, target, methods[m], factories)
                try:
                    fn = getattr(inst, m)
                except Exception as e:  # noqa: BLE001
                    if not allowed_other(target, e, inst):
                        fz.note(target, "exc-type", f"bound lookup {type(e).__name__}: {_short(str(e))}",
                                target)
                    continue
                fz.call(target, fn, args, kwargs, names, bad, obj=None if weird else inst)
            else:
                fz.call(target, getattr, [inst, m], {}, [], [], obj=None)

    return test


def _plain_record(cls):
    import dataclasses
    return dataclasses.is_dataclass(cls) and not hasattr(cls, "__post_init__")


def _func_test(fz, tname, fn, params, factories):
    reps = 1 if tname in SLOW_FUNCS else 4

    @given(st.data())
    def test(data):
        for _ in range(reps):
            args, kwargs, bad, names = draw_args(data.draw, tname, params, factories)
            if tname == "simulate" and not args and "scenario" not in kwargs:
                continue
            fz.call(tname, fn, args, kwargs, names, bad)

    return test


def supervise(examples, seed_value, only="", call_timeout=20.0, total_timeout=600.0, driver=None):
    """Run the driver in child processes; a crash or hang of one target is recorded and
    the run resumes with the next target.  Returns (calls, findings, stderr tails)."""
    import subprocess
    findings, calls, skip_to, start_at, no_weird = [], 0, "", "", set()
    with tempfile.TemporaryDirectory(prefix="pfo-fuzz-") as d:
        for attempt in range(60):
            log, report = Path(d, f"log{attempt}"), Path(d, f"report{attempt}.json")
            cmd = [sys.executable, "-X", "faulthandler", driver or __file__, "--examples", str(examples),
                   "--seed", str(seed_value), "--log", str(log), "--report", str(report),
                   "--call-timeout", str(call_timeout)]
            if only:
                cmd += ["--only", only]
            if skip_to:
                cmd += ["--skip-to", skip_to]
            if start_at:
                cmd += ["--start-at", start_at]
            if no_weird:
                cmd += ["--no-weird", ",".join(sorted(no_weird))]
            try:
                proc = subprocess.run(cmd, capture_output=True, text=True, timeout=total_timeout)
                rc, err = proc.returncode, proc.stderr
            except subprocess.TimeoutExpired as e:
                rc, err = "timeout", (e.stderr or b"").decode(errors="replace") if isinstance(
                    e.stderr, bytes) else (e.stderr or "")
            if rc == 0 and report.exists():
                out = json.loads(report.read_text())
                return calls + out["calls"], findings + out["findings"]
            lines = log.read_text().splitlines() if log.exists() else []
            targets = [ln.split(" ", 1)[1] for ln in lines if ln.startswith("#target ")]
            last = next((ln for ln in reversed(lines) if not ln.startswith("#")), "?\t?")
            calls += sum(1 for ln in lines if not ln.startswith("#"))
            if targets and targets[-1] == skip_to:
                break  # no progress: the driver did not get past the target it skips
            kind = "hang" if rc == "timeout" or "Timeout (" in err else "crash"
            tname, shown = (last.split("\t", 1) + [""])[:2]
            findings.append({"target": tname, "kind": kind, "detail": f"exit {rc}", "example": shown,
                             "stderr": err[-1500:]})
            if not targets:
                break
            insts = [ln for ln in lines if ln.startswith("#inst ")]
            if insts and insts[-1] == "#inst weird" and targets[-1] not in no_weird:
                # an object whose __init__ never ran crashed: fuzz the rest of the
                # class through constructed objects
                no_weird.add(targets[-1])
                skip_to, start_at = "", targets[-1]
            else:
                skip_to, start_at = targets[-1], ""
    return calls, findings


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--examples", type=int, default=int(os.environ.get("PARAFLOWO_FUZZ_EXAMPLES", "20")))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--only", default="")
    ap.add_argument("--skip-to", default="")
    ap.add_argument("--start-at", default="")
    ap.add_argument("--no-weird", default="")
    ap.add_argument("--log", default="")
    ap.add_argument("--report", default="")
    ap.add_argument("--call-timeout", type=float, default=20.0)
    ap.add_argument("--supervise", action="store_true",
                    help="run in child processes, resuming after a crash or hang")
    a = ap.parse_args(argv)
    if a.supervise:
        calls, findings = supervise(a.examples, a.seed, a.only, a.call_timeout)
        out = {"calls": calls, "findings": findings}
        text = json.dumps(out, indent=1, default=str)
        Path(a.report).write_text(text) if a.report else print(text)
        return 0
    fz = run(a.examples, a.seed, a.only, a.log, a.call_timeout, a.skip_to,
             [n for n in a.no_weird.split(",") if n], a.start_at)
    out = {"calls": fz.calls, "findings": list(fz.findings.values())}
    if a.report:
        Path(a.report).write_text(json.dumps(out, indent=1, default=str))
    else:
        print(json.dumps(out, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
