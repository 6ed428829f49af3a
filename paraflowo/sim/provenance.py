"""Provenance of a result: what produced it, so a number can be traced back.

Every JSON written by ``paraflowo simulate --json`` and every sweep table
carries :func:`provenance`: the schema version of the result format, the
ParaFlowO, numpy and Python versions, the platform, the command line, and each
input trace's path and SHA-256.
"""

from __future__ import annotations

import hashlib
import platform
import shlex
import sys
from pathlib import Path
from typing import Iterable

import numpy as np

__all__ = ["SCHEMA_VERSION", "provenance", "file_sha256"]

#: Version of the result format (JSON keys, table columns).  Bumped when a key
#: or column changes meaning or is removed; adding one does not bump it.
SCHEMA_VERSION = 2


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes (read in 1 MiB blocks)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _version() -> str:
    from importlib import metadata
    try:
        return metadata.version("paraflowo")
    except metadata.PackageNotFoundError:      # pragma: no cover - source tree
        return "unknown"


def provenance(command: str | Iterable[str] | None = None,
               traces: Iterable[str | Path] = ()) -> dict:
    """The provenance record of a result.

    Parameters
    ----------
    command : str or sequence of str, optional
        The command line that produced the result; default ``sys.argv``
        (shell-quoted).
    traces : iterable of path
        Input captures; each is listed with its SHA-256.

    Returns
    -------
    dict
        ``{"schema_version", "paraflowo", "numpy", "python", "platform",
        "command", "traces": [{"path", "sha256"}]}``.

    Examples
    --------
    >>> from paraflowo.sim.provenance import provenance
    >>> p = provenance(["paraflowo", "simulate", "--seed", "7"])
    >>> p["command"], sorted(p)[:3]
    ('paraflowo simulate --seed 7', ['command', 'numpy', 'paraflowo'])
    """
    if command is None:
        command = sys.argv
    if not isinstance(command, str):
        command = " ".join(shlex.quote(str(a)) for a in command)
    return {
        "schema_version": SCHEMA_VERSION,
        "paraflowo": _version(),
        "numpy": np.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "command": command,
        "traces": [{"path": str(t), "sha256": file_sha256(t)} for t in traces],
    }
