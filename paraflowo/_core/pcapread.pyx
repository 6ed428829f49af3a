"""Capture reading: the one sequential step of the fast trace reader, in C.

A classic pcap file is a chain of records, each a 16-byte header (seconds,
fraction, captured length, original length) and ``caplen`` bytes of frame;
where one record ends is known only once the previous header is read.  The
walk follows that chain without the GIL; everything else (the headers'
fields, the frames' 5-tuples) is gathered at once by numpy in
:mod:`paraflowo.sim.pcap`.
"""

from libc.stdint cimport uint8_t, uint32_t, int64_t

import numpy as np

from paraflowo._checks import require_int


cdef inline uint32_t _u32(const uint8_t* p, bint big) noexcept nogil:
    if big:
        return ((<uint32_t>p[0]) << 24) | ((<uint32_t>p[1]) << 16) | ((<uint32_t>p[2]) << 8) | p[3]
    return ((<uint32_t>p[3]) << 24) | ((<uint32_t>p[2]) << 16) | ((<uint32_t>p[1]) << 8) | p[0]


cdef Py_ssize_t pfo_pcap_walk(const uint8_t* buf, Py_ssize_t size, Py_ssize_t* off,
                              bint big_endian, int64_t* out, Py_ssize_t cap) noexcept nogil:
    cdef Py_ssize_t n = 0, o = off[0], nxt
    while n < cap and o <= size - 16:
        nxt = o + 16 + <Py_ssize_t>_u32(buf + o + 8, big_endian)
        if nxt > size:
            break
        out[n] = o + 16
        n += 1
        o = nxt
    off[0] = o
    return n


def pcap_walk(buf, offset, big_endian, out):
    """Data offsets of the whole records of a pcap file, from byte ``offset`` on.

    Parameters
    ----------
    buf : numpy.ndarray
        The file's bytes (``uint8``, C-contiguous; a read-only memory map is
        fine).
    offset : int
        Where the first record header starts (24 after the global header).
    big_endian : bool
        The file's byte order (from its magic number).
    out : numpy.ndarray
        ``int64`` array, C-contiguous and writable: receives the offsets.

    Returns
    -------
    (int, int)
        ``(n, stop)``: ``n`` offsets written to ``out[:n]``; ``stop`` is the
        byte where the walk stopped: ``len(buf)`` when the file ends on a
        record boundary, the start of a record that does not fit when the
        capture is truncated, or the next record when ``out`` filled up (call
        again from ``stop``).

    Raises
    ------
    TypeError, ValueError
        A wrong dtype, layout or a negative ``offset``.

    Examples
    --------
    >>> import numpy as np, struct
    >>> rec = lambda n: struct.pack("<IIII", 0, 0, n, n) + bytes(n)
    >>> buf = np.frombuffer(bytes(24) + rec(60) + rec(14) + b"\\0" * 5, np.uint8)
    >>> out = np.empty(8, np.int64)
    >>> n, stop = pcap_walk(buf, 24, False, out)
    >>> out[:n].tolist(), stop, len(buf)
    ([40, 116], 130, 135)
    """
    cdef Py_ssize_t o = require_int("offset", offset, 0)
    if not isinstance(buf, np.ndarray) or buf.dtype != np.uint8 or buf.ndim != 1 \
            or not buf.flags.c_contiguous:
        raise TypeError(f"buf must be a 1-D C-contiguous uint8 array, got {buf!r:.60}")
    if not isinstance(out, np.ndarray) or out.dtype != np.int64 or out.ndim != 1 \
            or not out.flags.c_contiguous or not out.flags.writeable:
        raise TypeError(f"out must be a writable 1-D C-contiguous int64 array, got {out!r:.60}")
    cdef const uint8_t[::1] b = buf
    cdef int64_t[::1] ov = out
    cdef Py_ssize_t size = b.shape[0], cap = ov.shape[0], n = 0
    cdef bint big = bool(big_endian)
    if size and cap:
        with nogil:
            n = pfo_pcap_walk(&b[0], size, &o, big, &ov[0], cap)
    return n, o
