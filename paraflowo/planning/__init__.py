"""Capacity planning: device profiles and the paper's Figure 6 and Figure 8 as data.

A :class:`DeviceProfile` describes a device (a SmartNIC's cores, an x86 VM, a
DPU) by its core count, its per-core packet rate for each operation this library
cares about, and its SRAM.  From profiles this package projects:

* **throughput** (Figure 6): aggregate Mpps and Gbps of ``n`` cores doing one
  operation at one packet size, and the cores needed for a target line rate;
* **memory** (Figure 8, Eq. 3 via :func:`paraflowo.reorder_memory`): whether
  ``n_queues`` reorder queues of ``window`` slots fit a device's SRAM, and the
  largest window or queue count that does;
* **this host**: :func:`calibrate` times this library's own components and
  returns a profile of the machine it runs on.

Layout: :mod:`~paraflowo.planning.profiles` (:class:`DeviceProfile`, the
built-in profiles), :mod:`~paraflowo.planning.toml` (profiles as TOML files),
:mod:`~paraflowo.planning.memory` (Eq. 3), :mod:`~paraflowo.planning.projections`
(throughput and SRAM fit), :mod:`~paraflowo.planning.calibration` (this host).
Everything is re-exported here, from :mod:`paraflowo.devices` and
:mod:`paraflowo.memory` (the names before this package existed) and from
:mod:`paraflowo`.  The package imports only the components it measures, never
the package face nor the command line.

Units, stated once
------------------
* Packet rates are **Mpps per core** (10**6 packets per second).
* ``Gbps = Mpps * bytes * 8 / 1000``, with ``bytes = packet_bytes +
  framing_bytes``.  ``packet_bytes`` is the frame as software sees it (L2 header
  to end of payload, no FCS).  Framing is **not included by default**
  (``framing_bytes=0``, as in the paper's projection); pass
  ``framing_bytes=ETHERNET_FRAMING_BYTES`` (24 B: preamble and SFD 8, FCS 4,
  inter-frame gap 12) for the rate the packets occupy on an Ethernet wire.
* Memory sizes are bytes; "KB" in the paper and in the built-in SRAM sizes is
  KiB (1024 bytes): the paper's 12.5 KB example is 12800 B.

What "fits" means
-----------------
Three bases are offered, always named in results:

``"footprint"`` (the default)
   the exact bytes this library's :class:`~paraflowo.ReorderQueues` occupy,
   asked of the component (:meth:`~paraflowo.ReorderQueues.footprint`, the
   same figure ``pfo_robq_footprint`` gives a host placing the queues in its
   own memory, and the ``nbytes`` of the built queues): ``32 * window`` per
   queue plus its bookkeeping and header (under 200 B per queue), the window
   rounded up to a power of two.  ``meta_bytes`` and
   ``queue_overhead_bytes`` do not enter: this is one implementation, not a
   model.  One source of truth: the planner and the component cannot
   disagree.

The paper's model (Figure 8) counts per queue ``queue_overhead_bytes`` of
state (head PSN, occupancy, oldest arrival time, counters:
:data:`QUEUE_OVERHEAD_BYTES` = 64, one cache line, by default) plus metadata
records of ``meta_bytes`` each (:data:`paraflowo.META_SIZE` = 32 by default;
the paper's ``M`` is 64), on two bases:

``"worst"``
   every one of the ``window`` slots of every queue holds a record:
   ``required = n_queues * (queue_overhead_bytes + window * meta_bytes)``.  A
   ring sized for this never runs out of SRAM, whatever the traffic does.
``"expected"``
   Eq. 3's average occupancy, ``window * ooo_rate`` records per queue:
   ``required = n_queues * (queue_overhead_bytes + M_meta)`` with ``M_meta``
   from :func:`paraflowo.reorder_memory`.  Useful for comparing with the
   paper's Figure 8; a burst of reordering can exceed it.

A configuration fits when ``required <= sram_bytes``: exactly filling the SRAM
fits, one byte more does not.

Worked example: 16 queues of 256 slots occupy
``ReorderQueues.footprint(16, 256) = 134656`` bytes (``16 * 32 * 256 =
131072`` of slots and FIFOs plus 3584 of bookkeeping and headers), which does
not fit the 128 KiB (131072 B) RISC-V SmartNIC, but does fit the 256 KiB one;
on 128 KiB the largest power-of-two window for 16 queues is 128 and the
largest queue count with 256 slots is 15.  The paper's worst case for the
same queues with 32-byte records and 64 B overhead is ``16 * (64 + 256 * 32)
= 132096`` bytes (``basis="worst"``), which does not fit either.
"""


from paraflowo.planning.memory import PAPER_META_BYTES, ReorderMemory, reorder_memory
from paraflowo.planning.profiles import BUILTIN_PROFILES, OPERATIONS, DeviceProfile, get_profile
from paraflowo.planning.toml import (
    dumps_profile,
    find_profile,
    load_profile,
    loads_profile,
    save_profile,
)
from paraflowo.planning.projections import (
    ETHERNET_FRAMING_BYTES,
    MAX_QUEUES,
    MAX_WINDOW,
    QUEUE_OVERHEAD_BYTES,
    SramFit,
    Throughput,
    cores_needed,
    max_queues,
    max_window,
    min_packet_bytes,
    mpps_to_gbps,
    project_throughput,
    sram_fit,
    sram_required,
)
from paraflowo.planning.calibration import CALIBRATED_OPERATIONS, CALIBRATION_BURST, calibrate

__all__ = [
    "DeviceProfile",
    "OPERATIONS",
    "BUILTIN_PROFILES",
    "ETHERNET_FRAMING_BYTES",
    "QUEUE_OVERHEAD_BYTES",
    "MAX_WINDOW",
    "MAX_QUEUES",
    "PAPER_META_BYTES",
    "ReorderMemory",
    "reorder_memory",
    "get_profile",
    "find_profile",
    "load_profile",
    "loads_profile",
    "save_profile",
    "dumps_profile",
    "Throughput",
    "mpps_to_gbps",
    "project_throughput",
    "cores_needed",
    "min_packet_bytes",
    "SramFit",
    "sram_required",
    "sram_fit",
    "max_window",
    "max_queues",
    "calibrate",
    "CALIBRATED_OPERATIONS",
    "CALIBRATION_BURST",
]
