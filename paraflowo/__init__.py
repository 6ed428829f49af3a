"""ParaFlowO: break elephant flows into flowlets over CPU cores, reorder at egress.

Every public object is importable from here.  Components take time as an explicit
integer nanosecond argument, hold no hidden clock or global state, and take a
seed for every random choice.
"""
from paraflowo.hashing import (
    IPV4_TUPLE_DTYPE,
    IPV6_TUPLE_DTYPE,
    RSS_DEFAULT_KEY,
    IndirectionTable,
    ToeplitzHasher,
    make_tuples,
    rss_hash,
    rss_hash_batch,
    rss_input,
    toeplitz,
    toeplitz_batch,
)
from paraflowo.metadata import FLAG_DROP, FLAG_PARA, META_DTYPE, META_SIZE, empty_meta
from paraflowo.memory import ReorderMemory, reorder_memory
from paraflowo._core.detectors import CountMinDetector, ElephantDetector, ThresholdDetector
from paraflowo._core.psn import PSNAllocator
from paraflowo._core.scheduler import FLOWLET_DTYPE, FlowletScheduler
from paraflowo._core.breakup import Breakup
from paraflowo.reorder import (
    MetadataCache,
    PacketStore,
    PacketStoreFull,
    ReorderBuffer,
    ReorderQueues,
    ReorderStats,
    ReorderStatus,
)
from paraflowo.devices import (
    BUILTIN_PROFILES,
    ETHERNET_FRAMING_BYTES,
    QUEUE_OVERHEAD_BYTES,
    DeviceProfile,
    SramFit,
    Throughput,
    calibrate,
    cores_needed,
    dumps_profile,
    find_profile,
    get_profile,
    load_profile,
    loads_profile,
    max_queues,
    max_window,
    min_packet_bytes,
    mpps_to_gbps,
    project_throughput,
    save_profile,
    sram_fit,
    sram_required,
)
from paraflowo.sim import (
    Scenario,
    SimulationResult,
    builtin_scenarios,
    load_scenario,
    simulate,
)
from paraflowo._core.sim import SimCore

__version__ = "0.1.0.dev0"

__all__ = [
    # hashing
    "IPV4_TUPLE_DTYPE",
    "IPV6_TUPLE_DTYPE",
    "RSS_DEFAULT_KEY",
    "IndirectionTable",
    "ToeplitzHasher",
    "make_tuples",
    "rss_hash",
    "rss_hash_batch",
    "rss_input",
    "toeplitz",
    "toeplitz_batch",
    # metadata record
    "FLAG_DROP",
    "FLAG_PARA",
    "META_DTYPE",
    "META_SIZE",
    "empty_meta",
    # memory model (Eq. 3)
    "ReorderMemory",
    "reorder_memory",
    # elephant detectors and manual tags
    "CountMinDetector",
    "ElephantDetector",
    "ThresholdDetector",
    # ingress: PSN allocation, flowlet scheduling, the Breakup pipeline
    "PSNAllocator",
    "FLOWLET_DTYPE",
    "FlowletScheduler",
    "Breakup",
    # egress: reordering and metadata caching
    "MetadataCache",
    "PacketStore",
    "PacketStoreFull",
    "ReorderBuffer",
    "ReorderQueues",
    "ReorderStats",
    "ReorderStatus",
    # device profiles and capacity planning (Figure 6, Figure 8)
    "BUILTIN_PROFILES",
    "ETHERNET_FRAMING_BYTES",
    "QUEUE_OVERHEAD_BYTES",
    "DeviceProfile",
    "SramFit",
    "Throughput",
    "calibrate",
    "cores_needed",
    "dumps_profile",
    "find_profile",
    "get_profile",
    "load_profile",
    "loads_profile",
    "max_queues",
    "max_window",
    "min_packet_bytes",
    "mpps_to_gbps",
    "project_throughput",
    "save_profile",
    "sram_fit",
    "sram_required",
    # simulator
    "Scenario",
    "SimulationResult",
    "builtin_scenarios",
    "load_scenario",
    "simulate",
    "SimCore",
]
