from typing import Any, Final

from paraflowo._core.breakup import Breakup
from paraflowo._core.hashing import IndirectionTable
from paraflowo._core.reorder import ReorderQueues

POLICY_NAMES: Final[tuple[str, ...]]

class Policy:
    n_cores: Final[int]
    name: Final[str]
    steered: Final[int]
    completed: Final[int]
    emitted: Final[int]
    claimed: Final[bool]
    def steer(
        self, key: int, flow_hash: int, port: int, length: int, handle: int, now_ns: int
    ) -> Any: ...
    def ready(self, record: Any) -> bool: ...
    def complete(self, record: Any, now_ns: int) -> list[int]: ...
    def steer_burst(
        self,
        keys: Any,
        hashes: Any,
        ports: Any,
        lengths: Any,
        handles: Any,
        now_ns: Any,
        out: Any | None = ...,
    ) -> Any: ...
    def complete_burst(self, records: Any, now_ns: int) -> Any: ...
    def poll(self, now_ns: int) -> list[int]: ...
    def flush(self) -> list[int]: ...
    @property
    def next_deadline(self) -> int | None: ...
    def stats(self) -> dict[str, Any]: ...

class RSSPolicy(Policy):
    reta: Final[IndirectionTable]
    def __init__(self, n_cores: int, reta: IndirectionTable | None = ...) -> None: ...

class SprayPolicy(Policy):
    def __init__(self, n_cores: int) -> None: ...

class RSSPPPolicy(RSSPolicy):
    period_ns: Final[int]
    migrations: Final[int]
    def __init__(
        self, n_cores: int, reta: IndirectionTable | None = ..., period_ns: int = ...
    ) -> None: ...
    def table_array(self) -> list[int]: ...
    def stats(self) -> dict[str, Any]: ...

class ParaFlowOPolicy(Policy):
    breakup: Final[Breakup]
    reorder: Final[ReorderQueues]
    late: Final[int]
    tombstones: Final[int]
    def __init__(self, breakup: Breakup, reorder: ReorderQueues) -> None: ...
    def stats(self) -> dict[str, Any]: ...

def make_policy(
    name: str,
    n_cores: int,
    *,
    reta: IndirectionTable | None = ...,
    n_para: int | None = ...,
    alpha: float = ...,
    threshold: int = ...,
    detector_window_ns: int = ...,
    idle_ns: int = ...,
    n_queues: int = ...,
    window: int = ...,
    psn_bits: int = ...,
    timeout_ns: int | None = ...,
    table_size: int = ...,
    t_switch_init_ns: int = ...,
    smoothing: float = ...,
    period_ns: int = ...,
    seed: int = ...,
) -> Policy: ...
