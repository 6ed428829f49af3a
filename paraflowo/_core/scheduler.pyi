from typing import Final

import numpy as np
import numpy.typing as npt

from paraflowo._core.hashing import IndirectionTable

FLOWLET_DTYPE: np.dtype
MAX_DELAY_NS: int

class FlowletScheduler:
    n_cores: Final[int]
    n_para: Final[int]
    smoothing: Final[float]
    t_switch_min_ns: Final[int]
    t_switch_max_ns: Final[int]
    t_switch_init_ns: Final[int]
    reta: Final[IndirectionTable]
    switches: Final[int]
    samples: Final[int]
    def __init__(
        self,
        n_cores: int,
        n_para: int = ...,
        alpha: float = ...,
        reta: IndirectionTable | None = ...,
        smoothing: float = ...,
        t_switch_min_ns: int = ...,
        t_switch_max_ns: int = ...,
        t_switch_init_ns: int = ...,
    ) -> None: ...
    @property
    def alpha(self) -> float: ...
    @property
    def t_avg(self) -> int | None: ...
    def observe(self, core: int, delay_ns: int) -> None: ...
    def observe_burst(
        self, cores: npt.NDArray[np.uint16], delays_ns: npt.NDArray[np.int64]
    ) -> None: ...
    def t_cpu(self, core: int) -> int | None: ...
    def t_switch(self, core: int) -> int: ...
    def start(self, flows: npt.NDArray[np.void], index: int, flow_hash: int, now_ns: int) -> int: ...
    def steer(self, flows: npt.NDArray[np.void], index: int, now_ns: int) -> int: ...
    def steer_burst(
        self,
        flows: npt.NDArray[np.void],
        index: npt.NDArray[np.int64],
        now_ns: npt.NDArray[np.int64],
        out: npt.NDArray[np.uint16] | None = ...,
    ) -> npt.NDArray[np.uint16]: ...
