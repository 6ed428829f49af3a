"""The hashing cimport API, driven without the GIL from a freshly compiled module."""

import numpy as np

import paraflowo
from paraflowo import META_DTYPE, IndirectionTable, ToeplitzHasher

from cybuild import build_cython_module

SOURCE = """
# cython: boundscheck=False, wraparound=False
from libc.stdint cimport uint8_t, uint16_t, uint32_t
from paraflowo._core._types cimport pfo_meta_t, PFO_FLAG_PARA, PFO_FLAG_DROP
from paraflowo._core.hashing cimport (
    ToeplitzHasher, IndirectionTable, pfo_rss_hash, pfo_rss_hash_burst, pfo_reta_lookup)

def hash_and_steer(ToeplitzHasher h, IndirectionTable reta, const uint8_t[:, ::1] rows):
    cdef Py_ssize_t i, n = rows.shape[0], L = rows.shape[1]
    hashes = bytearray(4 * n)
    queues = bytearray(2 * n)
    cdef uint32_t* hv = <uint32_t*><char*>hashes
    cdef uint16_t* qv = <uint16_t*><char*>queues
    with nogil:
        for i in range(n):
            hv[i] = pfo_rss_hash(h.tbl, &rows[i, 0], L)
            qv[i] = pfo_reta_lookup(reta.entries, reta.mask, hv[i])
    return bytes(hashes), bytes(queues)

def burst(ToeplitzHasher h, const uint8_t[:, ::1] rows):
    out = bytearray(4 * rows.shape[0])
    cdef uint32_t* o = <uint32_t*><char*>out
    with nogil:
        pfo_rss_hash_burst(h.tbl, &rows[0, 0], rows.shape[0], rows.shape[1],
                           rows.shape[1], o)
    return bytes(out)

def meta_layout():
    cdef pfo_meta_t m
    cdef char* base = <char*>&m
    return (sizeof(pfo_meta_t), {
        "handle": <char*>&m.handle - base, "ingress_ns": <char*>&m.ingress_ns - base,
        "psn": <char*>&m.psn - base, "flow_hash": <char*>&m.flow_hash - base,
        "queue": <char*>&m.queue - base, "core": <char*>&m.core - base,
        "length": <char*>&m.length - base, "flags": <char*>&m.flags - base},
        PFO_FLAG_PARA, PFO_FLAG_DROP)
"""


def test_cimport_hashing_nogil(tmp_path):
    mod = build_cython_module(tmp_path, "use_hashing", SOURCE)
    rng = np.random.default_rng(7)
    rows = rng.integers(0, 256, size=(500, 12), dtype=np.uint8)
    h = ToeplitzHasher()
    reta = IndirectionTable(6, 64)
    reta[5] = 1
    hb, qb = mod.hash_and_steer(h, reta, rows)
    hashes = np.frombuffer(hb, np.uint32)
    np.testing.assert_array_equal(hashes, paraflowo.toeplitz_batch(rows))
    np.testing.assert_array_equal(np.frombuffer(qb, np.uint16), reta.queue_batch(hashes))
    np.testing.assert_array_equal(np.frombuffer(mod.burst(h, rows), np.uint32), hashes)

    # the C struct and META_DTYPE describe the same 32 bytes
    size, offsets, flag_para, flag_drop = mod.meta_layout()
    assert size == META_DTYPE.itemsize == paraflowo.META_SIZE == 32
    assert offsets == {name: META_DTYPE.fields[name][1] for name in META_DTYPE.names}
    assert (flag_para, flag_drop) == (paraflowo.FLAG_PARA, paraflowo.FLAG_DROP)
