"""Device profiles as TOML files: write, read, and find by name or path."""

from __future__ import annotations

import os
import tomllib
from dataclasses import fields
from pathlib import Path
from typing import Any

from paraflowo._checks import require_path
from paraflowo.planning.profiles import BUILTIN_PROFILES, DeviceProfile, get_profile

__all__ = ["dumps_profile", "loads_profile", "load_profile", "save_profile", "find_profile"]


# --------------------------------------------------------------------------- TOML


def _toml_string(s: str) -> str:
    out = []
    for ch in s:
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04X}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):  # pragma: no cover - profiles hold no booleans
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(v)  # shortest round-trip form; finite (validated), always has '.' or 'e'
    if isinstance(v, str):
        return _toml_string(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise TypeError(f"cannot write {v!r} as TOML")  # pragma: no cover


def dumps_profile(profile: DeviceProfile) -> str:
    """The profile as TOML text; :func:`loads_profile` reads it back equal.

    Top-level ``key = value`` lines in field order (unknown rates are omitted),
    then a ``[spread]`` table when the profile has one.

    Examples
    --------
    >>> from paraflowo.planning import dumps_profile, loads_profile, get_profile
    >>> text = dumps_profile(get_profile("x86-vm"))
    >>> print(text.splitlines()[1:5])
    ['name = "x86-vm"', 'cores = 64', 'forward_mpps = 27.0', 'reorder_mpps = 11.0']
    >>> loads_profile(text) == get_profile("x86-vm")
    True
    """
    if not isinstance(profile, DeviceProfile):
        raise TypeError(f"profile must be a DeviceProfile, got {type(profile).__name__}")
    lines = ["# ParaFlowO device profile: per-core rates in Mpps, SRAM in bytes"]
    for f in fields(profile):
        v = getattr(profile, f.name)
        if f.name == "spread" or v is None:
            continue
        lines.append(f"{f.name} = {_toml_value(v)}")
    if profile.spread:
        lines += ["", "# per-core Mpps over the calibration repeats: [min, median, max]", "[spread]"]
        lines += [f"{op} = {_toml_value(list(v))}" for op, v in profile.spread.items()]
    return "\n".join(lines) + "\n"


def loads_profile(text: str, source: str = "<string>") -> DeviceProfile:
    """Read a profile from TOML text.

    Raises
    ------
    ValueError
        Malformed TOML, an unknown or missing key, or a bad value: the message
        names ``source``, the key and why.
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{source}: malformed TOML: {exc}") from None
    return DeviceProfile.from_dict(data, source)


def load_profile(path: str | os.PathLike) -> DeviceProfile:
    """Read a profile from a TOML file (see :func:`loads_profile`).

    Raises
    ------
    ValueError
        The file cannot be read, or its content is not a valid profile.
    """
    p = Path(require_path("path", path))
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        # the path as given (Path() drops a trailing "/"): the message names the argument
        raise ValueError(f"cannot read profile file {os.fspath(path)!r}: "
                         f"{getattr(exc, 'strerror', None) or exc}") from None
    return loads_profile(text, source=str(p))


def save_profile(profile: DeviceProfile, path: str | os.PathLike) -> None:
    """Write ``profile`` to ``path`` as TOML (UTF-8), replacing the file."""
    if not isinstance(profile, DeviceProfile):
        raise TypeError(f"profile must be a DeviceProfile, got {type(profile).__name__}")
    Path(require_path("path", path)).write_text(dumps_profile(profile), encoding="utf-8")



def find_profile(spec: str | os.PathLike) -> DeviceProfile:
    """A built-in profile by name, or a profile loaded from a TOML file.

    ``spec`` is read as a file when it is a path object, ends in ``.toml`` or
    names an existing file; otherwise it must be a built-in name.
    """
    require_path("spec", spec)
    if isinstance(spec, os.PathLike) or str(spec).endswith(".toml") or (
            isinstance(spec, str) and spec not in BUILTIN_PROFILES and Path(spec).is_file()):
        return load_profile(spec)
    return get_profile(spec)


