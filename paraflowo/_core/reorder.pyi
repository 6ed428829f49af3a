from enum import IntEnum
from typing import Final, NamedTuple

import numpy as np
import numpy.typing as npt

class ReorderStatus(IntEnum):
    BUFFERED = 0
    LATE = 1
    DUPLICATE = 2
    DROPPED = 3
    FULL = 4
    PASSED = 5

class ReorderStats(NamedTuple):
    inserted: int
    released: int
    dropped: int
    late: int
    duplicates: int
    skipped: int
    timeouts: int
    full: int
    held: int
    peak_held: int

class ReorderBuffer:
    psn_bits: Final[int]
    first_psn: Final[int]
    def __init__(
        self, window: int, timeout_ns: int | None, psn_bits: int = ..., first_psn: int = ...
    ) -> None: ...
    @property
    def window(self) -> int: ...
    @property
    def timeout_ns(self) -> int | None: ...
    @property
    def head(self) -> int: ...
    @property
    def held(self) -> int: ...
    @property
    def last_ns(self) -> int: ...
    @property
    def next_deadline(self) -> int | None: ...
    @property
    def stats(self) -> ReorderStats: ...
    @property
    def nbytes(self) -> int: ...
    def insert(self, psn: int, handle: int, now_ns: int, dropped: bool = ...) -> ReorderStatus: ...
    def drain(self, now_ns: int) -> npt.NDArray[np.uint64]: ...
    def drain_into(self, now_ns: int, out: npt.NDArray[np.uint64]) -> int: ...
    def flush(self) -> npt.NDArray[np.uint64]: ...
    def insert_burst(
        self,
        psns: npt.NDArray[np.uint32],
        handles: npt.NDArray[np.uint64],
        now_ns: int,
        dropped: npt.NDArray[np.bool_] | npt.NDArray[np.uint8] | None = ...,
        status_out: npt.NDArray[np.uint8] | None = ...,
    ) -> npt.NDArray[np.uint8]: ...
    def process_burst(
        self,
        psns: npt.NDArray[np.uint32],
        handles: npt.NDArray[np.uint64],
        now_ns: int,
        out: npt.NDArray[np.uint64],
        dropped: npt.NDArray[np.bool_] | npt.NDArray[np.uint8] | None = ...,
        status_out: npt.NDArray[np.uint8] | None = ...,
        drain_every: int = ...,
    ) -> int: ...

class ReorderQueues:
    n_queues: Final[int]
    buffers: Final[tuple[ReorderBuffer, ...]]
    def __init__(
        self,
        n_queues: int,
        window: int,
        timeout_ns: int | None,
        psn_bits: int = ...,
        first_psn: int = ...,
    ) -> None: ...
    @property
    def held(self) -> int: ...
    @property
    def n_active(self) -> int: ...
    @property
    def last_ns(self) -> int: ...
    @property
    def next_deadline(self) -> int | None: ...
    @property
    def stats(self) -> ReorderStats: ...
    def insert(
        self, queue: int, psn: int, handle: int, now_ns: int, dropped: bool = ...
    ) -> ReorderStatus: ...
    def drain_into(
        self,
        now_ns: int,
        out: npt.NDArray[np.uint64],
        out_queue: npt.NDArray[np.int32] | None = ...,
    ) -> int: ...
    def drain(self, now_ns: int) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.int32]]: ...
    def flush(self) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.int32]]: ...
    def process_burst(
        self,
        meta: np.ndarray,
        now_ns: int,
        out: npt.NDArray[np.uint64],
        out_queue: npt.NDArray[np.int32] | None = ...,
        status_out: npt.NDArray[np.uint8] | None = ...,
        drain_every: int = ...,
    ) -> int: ...
