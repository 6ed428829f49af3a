from typing import Any, Callable, Final

import numpy as np
import numpy.typing as npt

from paraflowo._core.hashing import ToeplitzHasher
from paraflowo._core.metacache import PacketStore
from paraflowo._core.nf import NF
from paraflowo._core.policies import Policy

class Dataplane:
    policy: Final[Policy]
    nf: Final[NF]
    store: Final[PacketStore]
    hasher: Final[ToeplitzHasher]
    n_workers: Final[int]
    ring: Final[int]
    batch: Final[int]
    max_sleep_ns: Final[int]
    max_nap_ns: Final[int]
    n_flows: Final[int]
    def __init__(
        self,
        policy: Policy,
        nf: NF,
        ring: int = ...,
        batch: int = ...,
        store_slots: int = ...,
        slot_bytes: int = ...,
        flow_capacity: int = ...,
        max_sleep_ns: int = ...,
        max_nap_ns: int = ...,
    ) -> None: ...
    def request_stop(self) -> None: ...
    def counters(self) -> dict[str, Any]: ...
    def flow_stats(self) -> list[tuple[bytes, int, int, int]]: ...
    def run_trace_arrays(
        self,
        data: npt.NDArray[np.uint8],
        offsets: npt.NDArray[np.int64],
        lengths: npt.NDArray[np.uint32],
        due_ns: npt.NDArray[np.int64] | None,
        loops: int,
        span_ns: int,
        capture: bool = ...,
        progress: Callable[[dict[str, Any]], None] | None = ...,
        interval: float = ...,
    ) -> dict[str, Any]: ...
    def ring_baseline(self, n_packets: int) -> dict[str, Any]: ...
    def run_bridge(
        self,
        if_a: str,
        if_b: str,
        duration: float = ...,
        progress: Callable[[dict[str, Any]], None] | None = ...,
        interval: float = ...,
        rcvbuf: int = ...,
    ) -> dict[str, Any]: ...
