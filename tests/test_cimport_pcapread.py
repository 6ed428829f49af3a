"""The trace reader's cimport API: a freshly compiled module walks pcap records without the GIL."""

import struct

import numpy as np

from cybuild import build_cython_module

SOURCE = """
from libc.stdint cimport uint8_t, int64_t
from libc.stdint cimport uint64_t
from paraflowo._core.pcapread cimport (pfo_pcap_walk, pfo_pcap_keys, PFO_PCAP_KEY_LEN,
                                       pfo_pcapng_walk, PFO_PCAPNG_END)

def walk(const uint8_t[::1] buf, int64_t[::1] out):
    cdef Py_ssize_t off = 24, n
    with nogil:
        n = pfo_pcap_walk(&buf[0], buf.shape[0], &off, False, &out[0], out.shape[0])
    return n, off

def keys(const uint8_t[::1] buf, const int64_t[::1] off, const int64_t[::1] cap,
         const int64_t[::1] link, uint8_t[:, ::1] out, int64_t[::1] rest):
    cdef Py_ssize_t r
    with nogil:
        r = pfo_pcap_keys(&buf[0], &off[0], &cap[0], &link[0], off.shape[0], &out[0, 0],
                          &rest[0])
    return r, PFO_PCAP_KEY_LEN

def ng(const uint8_t[::1] buf):
    cdef int64_t iface[4], data[4], cl[4], ol[4]
    cdef uint64_t ticks[4]
    cdef Py_ssize_t off = 0, n
    cdef int why
    with nogil:
        n = pfo_pcapng_walk(&buf[0], buf.shape[0], &off, False, 1, 0, iface, ticks, data,
                            cl, ol, 4, &why)
    return [(iface[i], ticks[i], data[i], cl[i]) for i in range(n)], off, why == PFO_PCAPNG_END
"""


def test_cimport_pcapread_nogil(tmp_path):
    mod = build_cython_module(tmp_path, "use_pcapread", SOURCE)
    rec = lambda n: struct.pack("<IIII", 0, 0, n, n) + bytes(n)       # noqa: E731
    # the worked example of pcapread.pxd: caplen 60 then 1514, from byte 24
    buf = np.frombuffer(bytes(24) + rec(60) + rec(1514), np.uint8)
    out = np.zeros(4, np.int64)
    assert mod.walk(buf, out) == (2, 1630) and out[:2].tolist() == [40, 116]
    # a record whose caplen runs past the end stops the walk at its header
    cut = np.frombuffer(bytes(24) + rec(60) + rec(1514)[:100], np.uint8)
    assert mod.walk(cut, out) == (1, 100)
    # two raw-IP frames: a UDP packet (key filled) and a version-5 header (left over)
    ip = bytes.fromhex("450000200000000040110000" "0a000001" "0a000002")
    frame = ip + struct.pack("!HHHH", 5000, 53, 12, 0) + b"abcd"
    buf = np.frombuffer(frame + b"\x50" + frame[1:], np.uint8)
    one = lambda *v: np.array(v, np.int64)                         # noqa: E731
    k, rest = np.zeros((2, 38), np.uint8), np.zeros(2, np.int64)
    assert mod.keys(buf, one(0, 32), one(32, 32), one(101, 101), k, rest) == (1, 38)
    assert rest[0] == 1 and k[0, 0] == 4 and k[0, 33:].tolist() == [19, 136, 0, 53, 17]
    # the worked example of pcapng_walk's comment, shrunk: two EPBs
    epb = lambda ts, n: (struct.pack("<IIIIIII", 6, 32 + n, 0, 0, ts, n, n) + bytes(n)  # noqa
                         + struct.pack("<I", 32 + n))
    buf = np.frombuffer(epb(5, 4) + epb(9, 8), np.uint8)
    assert mod.ng(buf) == ([(0, 5, 28, 4), (0, 9, 64, 8)], 76, True)
