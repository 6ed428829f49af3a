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
from paraflowo.memory import ReorderMemory, reorder_memory
from paraflowo.metadata import FLAG_DROP, FLAG_PARA, META_DTYPE, META_SIZE, empty_meta
from paraflowo._core.sim import SimCore
from paraflowo.sim import (
    Scenario,
    SimulationResult,
    builtin_scenarios,
    load_scenario,
    simulate,
)
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
    # memory model (Eq. 3)
    "ReorderMemory",
    "reorder_memory",
    # metadata
    "FLAG_DROP",
    "FLAG_PARA",
    "META_DTYPE",
    "META_SIZE",
    "empty_meta",
    # simulator
    "Scenario",
    "SimCore",
    "SimulationResult",
    "builtin_scenarios",
    "load_scenario",
    "simulate",
    # egress: reordering and metadata caching
    "ReorderBuffer",
    "ReorderQueues",
    "ReorderStats",
    "ReorderStatus",
    "MetadataCache",
    "PacketStore",
    "PacketStoreFull",
    # elephant detectors and manual tags
    "CountMinDetector",
    "ElephantDetector",
    "ThresholdDetector",
    # ingress: PSN allocation, flowlet scheduling, the Breakup pipeline
    "PSNAllocator",
    "FLOWLET_DTYPE",
    "FlowletScheduler",
    "Breakup",
]
