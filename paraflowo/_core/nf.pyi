from typing import Final

NF_NAMES: Final[tuple[str, ...]]

class NF:
    name: str

class SpinNF(NF):
    ns: Final[int]
    per_bytes: Final[bool]
    steps_per_ns: Final[float]
    def __init__(self, ns: int, per_bytes: bool = ..., steps_per_ns: float | None = ...) -> None: ...

class SleepNF(NF):
    ns: Final[int]
    def __init__(self, ns: int) -> None: ...

class CounterNF(NF):
    capacity: Final[int]
    def __init__(self, capacity: int = ...) -> None: ...
    @property
    def overflow(self) -> int: ...
    def counts(self) -> dict[int, tuple[int, int]]: ...

class DropNF(NF):
    p: Final[float]
    seed: Final[int]
    def __init__(self, p: float, seed: int = ...) -> None: ...

def calibrate_spin(target_ns: int = ..., trials: int = ...) -> float: ...
def make_nf(spec: str | NF, *, seed: int = ..., steps_per_ns: float | None = ...) -> NF: ...
