"""ParaFlowO: break elephant flows into flowlets over CPU cores, reorder at egress.

Every public object is importable from here.  Components take time as an explicit
integer nanosecond argument, hold no hidden clock or global state, and take a
seed for every random choice.
"""
from paraflowo._version import __version__  # noqa: F401


def _check_compiled() -> None:
    """A clear ImportError when the compiled extensions are not importable.

    The usual cause is importing from the source tree (a clone, with the
    ``.pyx`` sources but no compiled modules next to them) instead of an
    installed copy; an editable install is fine (its loader finds the built
    modules).  The test is the real condition, not the current directory.
    """
    import importlib.util
    from pathlib import Path

    try:
        found = importlib.util.find_spec("paraflowo._core.hashing") is not None
    except ImportError:  # pragma: no cover - a broken _core package
        found = False
    if found:
        return
    here = Path(__file__).resolve().parent
    if (here / "_core" / "hashing.pyx").is_file():
        raise ImportError(
            f"you are importing paraflowo from its source tree ({here.parent}), which has no "
            "compiled extensions: install it with `pip install .` (or `pip install "
            "--no-build-isolation -e .` to develop) and run Python from another directory"
        )
    raise ImportError(  # pragma: no cover - a damaged installation
        "paraflowo's compiled extension paraflowo._core.hashing is missing from "
        f"{here}: reinstall with `pip install --force-reinstall paraflowo`"
    )


_check_compiled()

from paraflowo.hashing import (  # noqa: E402
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
from paraflowo.planning.memory import ReorderMemory, reorder_memory
from paraflowo._core.detectors import (
    CountMinDetector,
    ElephantDetector,
    SpaceSavingDetector,
    ThresholdDetector,
)
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
from paraflowo.planning import (
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
    "SpaceSavingDetector",
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
