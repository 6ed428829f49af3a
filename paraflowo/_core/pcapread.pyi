import numpy as np
import numpy.typing as npt

def pcap_walk(
    buf: npt.NDArray[np.uint8], offset: int, big_endian: bool, out: npt.NDArray[np.int64]
) -> tuple[int, int]: ...
def frame_keys(
    buf: npt.NDArray[np.uint8],
    off: npt.NDArray[np.int64],
    cap: npt.NDArray[np.int64],
    link: npt.NDArray[np.int64],
    keys: npt.NDArray[np.uint8],
    rest: npt.NDArray[np.int64],
) -> int: ...
def pcapng_walk(
    buf: npt.NDArray[np.uint8],
    offset: int,
    big_endian: bool,
    n_ifaces: int,
    snap0: int,
    cap: int = ...,
) -> tuple[dict[str, npt.NDArray[np.int64] | npt.NDArray[np.uint64]], int, int]: ...
