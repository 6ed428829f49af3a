"""Egress: reorder buffers, multi-queue reordering and the metadata cache.

:class:`ReorderBuffer` puts the packets of one reorder queue back in PSN order
(with a timeout, the VNF's drop flag and serial-number wrap-around);
:class:`ReorderQueues` runs many of them, fed by bursts of metadata records;
:class:`MetadataCache` keeps only metadata on the reorder side while a bounded
:class:`PacketStore` holds the packets (the paper's caching, Eq. 3).
The compiled cores live in :mod:`paraflowo._core.reorder`; this module
re-exports them.
"""

from __future__ import annotations

from paraflowo._core.metacache import MetadataCache, PacketStore, PacketStoreFull
from paraflowo._core.reorder import (
    ReorderBuffer,
    ReorderQueues,
    ReorderStats,
    ReorderStatus,
)

__all__ = [
    "MetadataCache",
    "PacketStore",
    "PacketStoreFull",
    "ReorderBuffer",
    "ReorderQueues",
    "ReorderStats",
    "ReorderStatus",
]
