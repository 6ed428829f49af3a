"""Flow hashing: Toeplitz RSS, 5-tuple helpers and the indirection table.

The RSS input of a flow is, in network byte order: source address, destination
address, and, for hashes that include L4, source port then destination port.
IPv4 with ports is 12 bytes, IPv6 with ports 36.

For batches, :data:`IPV4_TUPLE_DTYPE` and :data:`IPV6_TUPLE_DTYPE` store
addresses and ports big-endian, so the leading bytes of each record *are* the
RSS input and a batch is hashed in place, without a copy.  The two dtypes and
:func:`rss_hash_batch` live in the compiled core (``paraflowo._core.hashing``),
so that a burst of 32 tuples costs one compiled call.
"""

from __future__ import annotations

import ipaddress
import struct
from typing import Any, Sequence

import numpy as np

from paraflowo._checks import require_int
from paraflowo._core.hashing import (
    IPV4_TUPLE_DTYPE,
    IPV6_TUPLE_DTYPE,
    RSS_DEFAULT_KEY,
    IndirectionTable,
    ToeplitzHasher,
    rss_hash_batch,
    toeplitz,
    toeplitz_batch,
)

__all__ = [
    "RSS_DEFAULT_KEY",
    "IPV4_TUPLE_DTYPE",
    "IPV6_TUPLE_DTYPE",
    "IndirectionTable",
    "ToeplitzHasher",
    "toeplitz",
    "toeplitz_batch",
    "rss_input",
    "rss_hash",
    "rss_hash_batch",
    "make_tuples",
]

def _ints(name: str, values: Any, hi: int) -> np.ndarray:
    # an integer scalar or sequence, each in [0, hi], as a numpy array
    arr = np.asarray(values)
    if arr.dtype.kind == "O" and all(type(v) is int for v in arr.ravel().tolist()):
        bad = next(v for v in arr.ravel().tolist() if not 0 <= v <= hi)   # beyond int64
        raise ValueError(f"{name} must be in [0, {hi}], got {bad}")
    if arr.dtype.kind not in "iu":
        raise TypeError(f"{name} must be integers, got dtype {arr.dtype}")
    if arr.size and (arr.min() < 0 or arr.max() > hi):
        raise ValueError(f"{name} must be in [0, {hi}], got {arr[(arr < 0) | (arr > hi)].flat[0]}")
    return arr


def _sequence(name: str, value: Any) -> Sequence[Any]:
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__"):
        raise TypeError(f"{name} must be a sequence of addresses, got {type(value).__name__}")
    return value


def _address(name: str, value: Any) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    if isinstance(value, (ipaddress.IPv4Address, ipaddress.IPv6Address)):
        return value
    if isinstance(value, (str, bytes, int)) and not isinstance(value, bool):
        try:
            return ipaddress.ip_address(value)
        except ValueError:
            raise ValueError(f"{name} must be an IPv4 or IPv6 address, got {value!r}") from None
    raise TypeError(f"{name} must be an IP address (str, int, bytes or ipaddress), got {value!r}")


def rss_input(
    src: Any, dst: Any, src_port: int | None = None, dst_port: int | None = None
) -> bytes:
    """Return the RSS input bytes of a flow.

    Parameters
    ----------
    src, dst : str, int, bytes or ipaddress.IPv4Address / IPv6Address
        Source and destination addresses, both of the same family.
    src_port, dst_port : int, optional
        L4 ports; give both (a 4-tuple hash) or neither (addresses only).

    Returns
    -------
    bytes
        8 or 12 bytes for IPv4, 32 or 36 for IPv6.

    Raises
    ------
    ValueError
        Unparseable or mixed-family addresses, only one port given, or a port
        outside ``[0, 65535]``.
    TypeError
        An address or port of the wrong type.

    Examples
    --------
    >>> from paraflowo import rss_input
    >>> rss_input("66.9.149.187", "161.142.100.80", 2794, 1766).hex()
    '420995bba18e64500aea06e6'
    """
    s, d = _address("src", src), _address("dst", dst)
    if s.version != d.version:
        raise ValueError(f"src and dst must be of the same IP version, got {s} and {d}")
    data = s.packed + d.packed
    if (src_port is None) != (dst_port is None):
        raise ValueError(
            f"src_port and dst_port must be given together, got {src_port!r} and {dst_port!r}")
    if src_port is not None:
        sp = require_int("src_port", src_port, 0, 0xFFFF)
        dp = require_int("dst_port", dst_port, 0, 0xFFFF)
        data += struct.pack("!HH", sp, dp)
    return data


def rss_hash(
    src: Any,
    dst: Any,
    src_port: int | None = None,
    dst_port: int | None = None,
    *,
    key: bytes = RSS_DEFAULT_KEY,
) -> int:
    """Toeplitz RSS hash of one flow (IPv4 or IPv6, with or without ports).

    Examples
    --------
    The Microsoft verification vectors (source first, destination second):

    >>> from paraflowo import rss_hash
    >>> hex(rss_hash("66.9.149.187", "161.142.100.80", 2794, 1766))
    '0x51ccc178'
    >>> hex(rss_hash("3ffe:2501:200:1fff::7", "3ffe:2501:200:3::1"))
    '0x2cc18cd5'
    """
    return toeplitz(rss_input(src, dst, src_port, dst_port), key)


def make_tuples(
    src: Sequence[Any],
    dst: Sequence[Any],
    src_port: Sequence[int] | int = 0,
    dst_port: Sequence[int] | int = 0,
    proto: Sequence[int] | int = 6,
) -> np.ndarray:
    """Build an array of 5-tuples from addresses (strings, ints or ipaddress).

    The family is taken from the first source address; every address must be
    of that family.  Returns an :data:`IPV4_TUPLE_DTYPE` or
    :data:`IPV6_TUPLE_DTYPE` array.

    Examples
    --------
    >>> from paraflowo import make_tuples, rss_hash_batch
    >>> t = make_tuples(["66.9.149.187"], ["161.142.100.80"], [2794], [1766])
    >>> [hex(h) for h in rss_hash_batch(t)]
    ['0x51ccc178']
    """
    src, dst = _sequence("src", src), _sequence("dst", dst)
    if len(src) != len(dst):
        raise ValueError(f"src and dst must have the same length, got {len(src)} and {len(dst)}")
    srcs = [_address(f"src[{i}]", a) for i, a in enumerate(src)]
    dsts = [_address(f"dst[{i}]", a) for i, a in enumerate(dst)]
    version = srcs[0].version if srcs else 4
    for i, a in enumerate(srcs + dsts):
        if a.version != version:
            raise ValueError(f"all addresses must be IPv{version}, got {a}")
    n = len(srcs)
    out = np.zeros(n, dtype=IPV4_TUPLE_DTYPE if version == 4 else IPV6_TUPLE_DTYPE)
    if version == 4:
        out["src_ip"] = [int(a) for a in srcs]
        out["dst_ip"] = [int(a) for a in dsts]
    else:
        out["src_ip"] = np.frombuffer(b"".join(a.packed for a in srcs), np.uint8).reshape(n, 16)
        out["dst_ip"] = np.frombuffer(b"".join(a.packed for a in dsts), np.uint8).reshape(n, 16)
    for name, values, hi in (("src_port", src_port, 0xFFFF), ("dst_port", dst_port, 0xFFFF),
                             ("proto", proto, 0xFF)):
        arr = _ints(name, values, hi)
        if arr.ndim > 1 or (arr.ndim == 1 and arr.shape[0] != n):
            raise ValueError(f"{name} must be one integer or {n} of them, got shape {arr.shape}")
        out[name] = arr
    return out
