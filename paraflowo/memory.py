"""Reorder memory model: the paper's Eq. 3 (full-packet vs metadata-only buffering).

With an out-of-order window of ``N`` slots, an average out-of-order rate ``p_oo``,
packets of ``P`` bytes and metadata records of ``M`` bytes, a reorder queue holds
on average ``N * p_oo`` packets, so

* full-packet buffering needs ``M_full = N * p_oo * P`` bytes,
* metadata-only buffering needs ``M_meta = N * p_oo * M`` bytes,
* the saving is ``1 - M_meta / M_full = 1 - M / P``           (Eq. 3)

Worked example (the paper's): ``M = 64, N = 256, p_oo = 0.10, P = 500`` gives
``M_full = 256 * 0.1 * 500 = 12800 B = 12.5 KiB`` and ``M_meta = 1638.4 B =
1.6 KiB``, a saving of ``1 - 64/500 = 87.2 %``; at ``P = 1500`` the saving is
``1 - 64/1500 = 95.73 %``.  The paper's "KB" are KiB (1024 bytes).

This library's own metadata record is :data:`paraflowo.META_SIZE` = 32 bytes, the
default ``M`` here; pass ``meta_bytes=64`` for the paper's figures.
"""

from __future__ import annotations

from dataclasses import dataclass

from paraflowo._checks import require_int, require_number, require_positive
from paraflowo.metadata import META_SIZE

__all__ = ["ReorderMemory", "reorder_memory", "PAPER_META_BYTES"]

#: The metadata size the paper assumes in Eq. 3 and Figure 8, bytes.
PAPER_META_BYTES = 64


@dataclass(frozen=True)
class ReorderMemory:
    """Result of :func:`reorder_memory`: bytes per reorder queue in both modes."""

    full_bytes: float
    """``M_full = N * p_oo * P``: bytes held when full packets are buffered."""
    meta_bytes: float
    """``M_meta = N * p_oo * M``: bytes held when only metadata is buffered."""

    @property
    def saving(self) -> float:
        """``1 - M_meta / M_full`` (Eq. 3), a fraction in [0, 1); 0 when nothing is held."""
        return 1.0 - self.meta_bytes / self.full_bytes if self.full_bytes else 0.0


def reorder_memory(
    window: int,
    ooo_rate: float,
    packet_bytes: float,
    meta_bytes: float = META_SIZE,
) -> ReorderMemory:
    """Expected reorder memory of one queue, full-packet vs metadata-only (Eq. 3).

    Parameters
    ----------
    window : int
        ``N``, the out-of-order window in packets, an integer in
        ``[1, 2**53]`` (numpy integers accepted; not a float, not a bool).
    ooo_rate : float
        ``p_oo``, the average fraction of packets out of order, in [0, 1].
    packet_bytes : float
        ``P``, the packet size in bytes (> 0).
    meta_bytes : float, default META_SIZE (32)
        ``M``, the metadata record size in bytes (> 0); the paper uses 64.

    Returns
    -------
    ReorderMemory
        ``full_bytes``, ``meta_bytes`` and ``saving``.

    Raises
    ------
    TypeError
        A non-numeric argument, or a ``window`` that is not an integer.
    ValueError
        A size that is not positive and finite, a ``window`` out of range, or
        ``ooo_rate`` outside [0, 1].

    Examples
    --------
    >>> from paraflowo.memory import reorder_memory
    >>> m = reorder_memory(256, 0.10, 500, meta_bytes=64)
    >>> round(m.full_bytes / 1024, 1), round(m.meta_bytes / 1024, 1), round(100 * m.saving, 1)
    (12.5, 1.6, 87.2)
    >>> round(100 * reorder_memory(256, 0.10, 1500, meta_bytes=64).saving, 2)
    95.73
    """
    n = require_int("window", window, 1, 1 << 53)
    p = require_positive("packet_bytes", packet_bytes)
    m = require_positive("meta_bytes", meta_bytes)
    rate = require_number("ooo_rate", ooo_rate)
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"ooo_rate must be in [0, 1], got {ooo_rate!r}")
    return ReorderMemory(full_bytes=n * rate * p, meta_bytes=n * rate * m)

