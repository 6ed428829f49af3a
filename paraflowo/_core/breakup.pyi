from typing import Final, Literal

import numpy as np
import numpy.typing as npt

from paraflowo._core.detectors import ElephantDetector
from paraflowo._core.psn import PSNAllocator
from paraflowo._core.scheduler import FlowletScheduler

class Breakup:
    detector: Final[ElephantDetector]
    allocator: Final[PSNAllocator]
    scheduler: Final[FlowletScheduler]
    capacity: Final[int]
    probes: Final[int]
    count_bytes: Final[bool]
    idle_ns: Final[int]
    packets: Final[int]
    para_packets: Final[int]
    para_flows: Final[int]
    table_full: Final[int]
    holds: Final[int]
    def __init__(
        self,
        detector: ElephantDetector | None,
        allocator: PSNAllocator,
        scheduler: FlowletScheduler,
        capacity: int = ...,
        probes: int = ...,
        count: Literal["packets", "bytes"] = ...,
    ) -> None: ...
    @property
    def meta_dtype(self) -> np.dtype: ...
    def ingress(
        self,
        key: int,
        flow_hash: int,
        port: int,
        length: int,
        now_ns: int,
        handle: int | None = ...,
        out: npt.NDArray[np.void] | None = ...,
        index: int = ...,
    ) -> int: ...
    def ingress_burst(
        self,
        keys: npt.NDArray[np.uint64],
        flow_hashes: npt.NDArray[np.uint32],
        ports: npt.NDArray[np.uint16],
        lengths: npt.NDArray[np.uint16],
        now_ns: npt.NDArray[np.int64],
        handles: npt.NDArray[np.uint64] | None = ...,
        out: npt.NDArray[np.void] | None = ...,
    ) -> npt.NDArray[np.void]: ...
    def feedback(self, core: int, ingress_ns: int, egress_ns: int) -> None: ...
    def feedback_burst(
        self,
        cores: npt.NDArray[np.uint16],
        ingress_ns: npt.NDArray[np.int64],
        egress_ns: npt.NDArray[np.int64],
    ) -> None: ...
    def feedback_meta(
        self, meta: npt.NDArray[np.void], egress_ns: npt.NDArray[np.int64]
    ) -> None: ...
    def is_para(self, key: int, now_ns: int) -> bool: ...
    def n_para(self, now_ns: int) -> int: ...
