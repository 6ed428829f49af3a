"""Egress: reorder buffers, multi-queue reordering and the metadata cache.

:class:`ReorderBuffer` puts the packets of one reorder queue back in PSN order
(with a timeout, the VNF's drop flag and serial-number wrap-around);
:class:`ReorderQueues` runs many of them, fed by bursts of metadata records.
The compiled cores live in :mod:`paraflowo._core.reorder`; this module
re-exports them.
"""

from __future__ import annotations

from paraflowo._core.reorder import (
    ReorderBuffer,
    ReorderQueues,
    ReorderStats,
    ReorderStatus,
)

__all__ = ["ReorderBuffer", "ReorderQueues", "ReorderStats", "ReorderStatus"]
