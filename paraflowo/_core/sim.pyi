from typing import Any, Final

import numpy as np
import numpy.typing as npt

from paraflowo._core.hashing import IndirectionTable

POLICIES: Final[dict[str, int]]
HIST_LEN: Final[int]
FLOW_HIST_LEN: Final[int]

def hist_lower_bounds() -> npt.NDArray[np.int64]: ...
def flow_hist_lower_bounds() -> npt.NDArray[np.int64]: ...
def sort_arrivals(
    uniform: npt.NDArray[np.float64],
    counts: npt.NDArray[np.int64],
    ids: npt.NDArray[np.int64],
    extra_off: npt.NDArray[np.int64],
    extra_ids: npt.NDArray[np.int64],
    span: int,
    start_ns: int,
    flow_bits: int,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int32]]: ...

class SimCore:
    policy: Final[int]
    n_cores: Final[int]
    rx_queue: Final[int]
    bin_ns: Final[int]
    n_bins: Final[int]
    n_flows: Final[int]
    exponential: Final[bool]
    migrations: Final[int]
    rebalances: Final[int]
    balanced_periods: Final[int]
    history: Final[int]
    ext_capped: Final[int]
    fast_unreleased: Final[int]
    held: Final[int]
    peak_held: Final[int]
    held_bytes: Final[int]
    peak_bytes_full: Final[int]
    para_packets: Final[int]
    forwarded_late: Final[int]
    store_overflow: Final[int]
    flushed_at_end: Final[int]
    def __init__(
        self,
        policy: str,
        service_ns: npt.NDArray[np.int64],
        rx_queue: int,
        flow_hash: npt.NDArray[np.uint32],
        n_bins: int,
        bin_ns: int,
        reta: IndirectionTable,
        exponential: bool = ...,
        service_mean: npt.NDArray[np.float64] | None = ...,
        period_ns: int = ...,
        paraflowo: dict[str, Any] | None = ...,
        target_load: float = ...,
        imbalance: float = ...,
    ) -> None: ...
    def run(
        self,
        times: npt.NDArray[np.int64],
        flows: npt.NDArray[np.int32],
        expd: npt.NDArray[np.float64] | None = ...,
        trace_core: npt.NDArray[np.int16] | None = ...,
        trace_finish: npt.NDArray[np.int64] | None = ...,
    ) -> int: ...
    def derive_timeout(self, cap_ns: int, floor_ns: int, gain: int,
                       slice_arrivals: int) -> None: ...
    def derived_timeout(self) -> tuple[int, int, int, int] | None: ...
    def flush(self) -> None: ...
    def stats(self) -> dict[str, Any]: ...
    def flow_stats(self) -> dict[str, Any]: ...
    def paraflowo_stats(self) -> dict[str, Any]: ...
