"""The per-packet metadata record that travels from ingress to egress.

Ingress (the Breakup pipeline) fills one record per packet; egress (the reorder
queues) reads it.  In C it is ``pfo_meta_t`` in ``paraflowo/_core/_types.pxd``;
in numpy it is :data:`META_DTYPE`, with the same fields, offsets and size.

========== ======== ====== ==================================================
field      type     offset meaning
========== ======== ====== ==================================================
handle     uint64   0      packet handle (packet id, store index, pointer)
ingress_ns int64    8      ingress timestamp, ns
psn        uint32   16     packet sequence number in its reorder queue
flow_hash  uint32   20     RSS (Toeplitz) hash of the flow
queue      uint16   24     reorder queue id (valid when FLAG_PARA is set)
core       uint16   26     RX queue / core the packet was steered to
length     uint16   28     packet length, bytes
flags      uint16   30     FLAG_PARA, FLAG_DROP
========== ======== ====== ==================================================

:data:`META_SIZE` is 32 bytes: the ``M`` of the paper's Eq. 3 for this library
(the paper assumes 64 B).
"""

from __future__ import annotations

import numpy as np

__all__ = ["META_DTYPE", "META_SIZE", "FLAG_PARA", "FLAG_DROP", "empty_meta"]

#: The flow is a para_flow: ``queue`` and ``psn`` are valid.
FLAG_PARA = 0x0001
#: The VNF dropped the packet: egress skips its slot without emitting it.
FLAG_DROP = 0x0002

#: numpy structured dtype of one metadata record (matches ``pfo_meta_t``).
META_DTYPE = np.dtype(
    [
        ("handle", np.uint64),
        ("ingress_ns", np.int64),
        ("psn", np.uint32),
        ("flow_hash", np.uint32),
        ("queue", np.uint16),
        ("core", np.uint16),
        ("length", np.uint16),
        ("flags", np.uint16),
    ],
    align=True,
)

#: Size of one metadata record in bytes (32).
META_SIZE = META_DTYPE.itemsize


def empty_meta(n: int) -> np.ndarray:
    """Return ``n`` zeroed metadata records (a C-contiguous ``META_DTYPE`` array).

    Raises
    ------
    TypeError
        ``n`` is not an integer (``bool`` included).
    ValueError
        ``n`` is negative.
    MemoryError
        ``n * META_SIZE`` bytes cannot be allocated.

    Examples
    --------
    >>> from paraflowo import empty_meta, META_SIZE
    >>> m = empty_meta(2)
    >>> m["psn"] = [7, 8]
    >>> m.nbytes == 2 * META_SIZE == 64
    True
    """
    from paraflowo._checks import require_int

    return np.zeros(require_int("n", n, 0), dtype=META_DTYPE)
