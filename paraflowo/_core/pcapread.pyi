import numpy as np
import numpy.typing as npt

def pcap_walk(
    buf: npt.NDArray[np.uint8], offset: int, big_endian: bool, out: npt.NDArray[np.int64]
) -> tuple[int, int]: ...
