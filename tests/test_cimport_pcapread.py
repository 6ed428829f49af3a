"""The trace reader's cimport API: a freshly compiled module walks pcap records without the GIL."""

import struct

import numpy as np

from cybuild import build_cython_module

SOURCE = """
from libc.stdint cimport uint8_t, int64_t
from paraflowo._core.pcapread cimport pfo_pcap_walk

def walk(const uint8_t[::1] buf, int64_t[::1] out):
    cdef Py_ssize_t off = 24, n
    with nogil:
        n = pfo_pcap_walk(&buf[0], buf.shape[0], &off, False, &out[0], out.shape[0])
    return n, off
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
