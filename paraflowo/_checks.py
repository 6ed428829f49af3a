"""Validation at the Python boundary, shared by every component.

One message style everywhere: ``"<name> must be <what>, got <value>"``.  Type
problems raise :class:`TypeError`, range problems :class:`ValueError`.  These
run once per call (per burst on batch paths), never per packet inside a core.
"""

from __future__ import annotations

import math
import operator
import os
from typing import Any

import numpy as np

__all__ = [
    "IndexRangeError",
    "require_int",
    "require_pow2",
    "require_array",
    "require_out",
    "require_number",
    "require_positive",
    "require_same_length",
    "require_path",
]


class IndexRangeError(ValueError, IndexError):
    """An index out of range: a :class:`ValueError` (the exception contract:
    a wrong value) that is also an :class:`IndexError`, so ``obj[i]`` keeps
    the sequence protocol (as numpy's ``AxisError``)."""


def require_int(name: str, value: Any, lo: int | None = None, hi: int | None = None) -> int:
    """Return ``value`` as a Python int, checking ``lo <= value <= hi``."""
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    try:
        v = operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an integer, got {value!r}") from None
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        raise ValueError(f"{name} must be in [{_fmt(lo)}, {_fmt(hi)}], got {v}")
    return v


def require_number(name: str, value: Any) -> float:
    """Return ``value`` as a finite float (ints, floats and numpy scalars; not bool)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(
            value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number, got {value!r}")
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return v


def require_positive(name: str, value: Any) -> float:
    """Return ``value`` as a finite float > 0."""
    v = require_number(name, value)
    if v <= 0:
        raise ValueError(f"{name} must be > 0, got {value!r}")
    return v


def require_pow2(name: str, value: Any, lo: int, hi: int) -> int:
    """Return ``value`` as an int that is a power of two in ``[lo, hi]``."""
    v = require_int(name, value)
    if v < lo or v > hi or v & (v - 1):
        raise ValueError(f"{name} must be a power of two in [{_fmt(lo)}, {_fmt(hi)}], got {v}")
    return v


def require_array(name: str, arr: Any, dtype: Any, ndim: int = 1) -> np.ndarray:
    """Check that ``arr`` is a C-contiguous numpy array of ``dtype`` and ``ndim``.

    Nothing is copied or converted: a batch call works on the caller's memory,
    so a mismatch is the caller's to fix, and is reported, not papered over.
    """
    dtype = np.dtype(dtype)
    if not isinstance(arr, np.ndarray):
        raise TypeError(f"{name} must be a numpy.ndarray of dtype {dtype}, got {type(arr).__name__}")
    if arr.dtype != dtype:
        raise TypeError(f"{name} must have dtype {dtype}, got {arr.dtype}")
    if arr.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-dimensional, got shape {arr.shape}")
    if not arr.flags.c_contiguous:
        raise ValueError(f"{name} must be C-contiguous, got strides {arr.strides} for shape {arr.shape}")
    return arr


def require_out(name: str, out: Any, n: int, dtype: Any) -> np.ndarray:
    """Return ``out`` checked as a 1-D C-contiguous ``dtype`` array of length ``n``,
    or a new empty one when ``out`` is None (the batch methods' output argument)."""
    if out is None:
        return np.empty(n, dtype=dtype)
    require_array(name, out, dtype)
    if out.shape[0] != n:
        raise ValueError(f"{name} must have length {n}, got {out.shape[0]}")
    return out


def require_same_length(**arrays: np.ndarray) -> int:
    """Check that all arrays have the same first dimension and return it."""
    lengths = {k: len(a) for k, a in arrays.items()}
    if len(set(lengths.values())) > 1:
        desc = ", ".join(f"{k}={n}" for k, n in lengths.items())
        raise ValueError(f"arrays must have the same length, got {desc}")
    return next(iter(lengths.values()), 0)


def require_path(name: str, value: Any) -> "str | os.PathLike":
    """Return ``value`` checked as a file path: ``os.PathLike``, or a non-empty
    str without NUL (what :func:`open` would refuse with a less clear message)."""
    if not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"{name} must be a str or os.PathLike, got {value!r}")
    if isinstance(value, str) and (not value or "\x00" in value):
        raise ValueError(f"{name} must be a non-empty path without NUL, got {value!r}")
    return value


def in_use_error(what: str, each: str) -> RuntimeError:
    """The error for a call from a second thread while a burst runs without the GIL.

    Components take no locks on their hot paths: one object per thread.
    """
    return RuntimeError(f"{what} is in use by another thread (a burst is running without "
                        f"the GIL); give each thread its own {each}")


def _fmt(v: int | None) -> str:
    if v is None:
        return "..."
    if v >= 1 << 16 and v & (v - 1) == 0:
        return f"2**{v.bit_length() - 1}"
    if v + 1 >= 1 << 16 and (v + 1) & v == 0:
        return f"2**{v.bit_length()} - 1"
    return str(v)
