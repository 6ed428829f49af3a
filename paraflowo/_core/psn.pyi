import numpy as np
import numpy.typing as npt
from typing import Final

class PSNAllocator:
    n_queues: Final[int]
    psn_bits: Final[int]
    probes: Final[int]
    idle_ns: Final[int]
    acquired: Final[int]
    fallbacks: Final[int]
    tagged: Final[int]
    def __init__(
        self, n_queues: int, psn_bits: int = ..., idle_ns: int = ..., probes: int = ...
    ) -> None: ...
    def tag(self, key: int, port: int, flow_hash: int, now_ns: int) -> tuple[int, int]: ...
    def tag_burst(
        self,
        keys: npt.NDArray[np.uint64],
        ports: npt.NDArray[np.uint16],
        flow_hashes: npt.NDArray[np.uint32],
        now_ns: npt.NDArray[np.int64],
        queues: npt.NDArray[np.int32] | None = ...,
        psns: npt.NDArray[np.uint32] | None = ...,
    ) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.uint32]]: ...
    def owner(self, queue: int, now_ns: int) -> int | None: ...
    def next_psn(self, queue: int) -> int: ...
    def n_live(self, now_ns: int) -> int: ...
