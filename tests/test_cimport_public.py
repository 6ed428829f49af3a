"""The public cimport surface (``cimport paraflowo``), from a freshly compiled module.

The module below uses only the names ``paraflowo/__init__.pxd`` exports, as a
user writing from docs/cython.rst would: it places a reorder buffer, a set of
reorder queues and a packet store in memory it allocates itself (footprint +
init / fini), drives them and the RSS hash without the GIL, and checks the
placement errors (too small, NULL, misaligned, bad parameters) never write.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from paraflowo import (
    FLAG_DROP,
    FLAG_PARA,
    PacketStore,
    ReorderBuffer,
    ReorderQueues,
    ToeplitzHasher,
    empty_meta,
)

from cybuild import build_cython_module

SOURCE = """
# cython: boundscheck=False, wraparound=False
import numpy as np
from libc.stdint cimport uint8_t, uint32_t, uint64_t, int32_t, int64_t
from libc.stdlib cimport malloc, free
from libc.string cimport memset
cimport paraflowo
from paraflowo cimport (
    pfo_rob_t, pfo_robq_t, pfo_store_t, pfo_rss_tbl_t, pfo_meta_t, pfo_handle_t, pfo_ns_t,
    pfo_rob_footprint, pfo_rob_init, pfo_rob_fini, pfo_rob_insert, pfo_rob_drain,
    pfo_rob_flush, pfo_rob_held,
    pfo_robq_footprint, pfo_robq_init, pfo_robq_fini, pfo_robq_process,
    pfo_store_footprint, pfo_store_init, pfo_store_fini, pfo_store_put, pfo_store_free,
    pfo_rss_init, pfo_rss_hash, PFO_RSS_MAX_INPUT,
    PFO_OK, PFO_EINVAL, PFO_ENOSPC, PFO_ALIGN, PFO_NS_NEVER, PFO_ROB_BUFFERED,
    ReorderBuffer)

def footprints(uint32_t n_queues, uint32_t window, int psn_bits, uint32_t n_slots,
               uint32_t slot_bytes):
    return (pfo_rob_footprint(window, psn_bits),
            pfo_robq_footprint(n_queues, window, psn_bits),
            pfo_store_footprint(n_slots, slot_bytes))

def rob_run(uint32_t window, int64_t timeout, int psn_bits, uint32_t first,
            const uint32_t[::1] psns, const uint64_t[::1] handles,
            const int64_t[::1] times, const uint8_t[::1] dropped):
    # a host-placed reorder buffer: insert each packet at its time, drain
    # after each, flush at the end
    cdef pfo_rob_t r
    cdef size_t size = pfo_rob_footprint(window, psn_bits)
    cdef void* mem = malloc(size)
    cdef Py_ssize_t i, n = psns.shape[0], k = 0
    out = np.zeros(n + 1, np.uint64)
    st = np.zeros(n, np.int32)
    cdef uint64_t[::1] o = out
    cdef int32_t[::1] s = st
    cdef int rc
    if mem == NULL:
        raise MemoryError()
    with nogil:
        rc = pfo_rob_init(&r, mem, size, window, timeout, psn_bits, first)
        if rc == PFO_OK:
            for i in range(n):
                s[i] = pfo_rob_insert(&r, psns[i], handles[i], times[i], dropped[i])
                k += pfo_rob_drain(&r, times[i], &o[k], o.shape[0] - k)
            k += pfo_rob_flush(&r, &o[k], o.shape[0] - k)
        pfo_rob_fini(&r)
        pfo_rob_fini(NULL)
    free(mem)
    return rc, st, out[:k]

def robq_run(uint32_t n_queues, uint32_t window, int64_t timeout, meta, int64_t now):
    cdef pfo_robq_t q
    cdef size_t size = pfo_robq_footprint(n_queues, window, 32)
    cdef void* mem = malloc(size)
    cdef const unsigned char[::1] raw = meta.view(np.uint8)
    cdef Py_ssize_t n = meta.shape[0], k = -1
    out = np.zeros(n + 1, np.uint64)
    oq = np.zeros(n + 1, np.int32)
    cdef uint64_t[::1] o = out
    cdef int32_t[::1] qq = oq
    cdef int rc
    if mem == NULL:
        raise MemoryError()
    with nogil:
        rc = pfo_robq_init(&q, mem, size, n_queues, window, timeout, 32, 0)
        if rc == PFO_OK:
            k = pfo_robq_process(&q, <const pfo_meta_t*>&raw[0], n, now, &o[0], &qq[0],
                                 o.shape[0], NULL, 0)
        pfo_robq_fini(&q)
        pfo_robq_fini(NULL)
    free(mem)
    return rc, out[:k], oq[:k]

def store_run(uint32_t n_slots, uint32_t slot_bytes, const uint8_t[::1] data, Py_ssize_t puts):
    # put `puts` copies of data, free the first one, put again
    cdef pfo_store_t s
    cdef size_t size = pfo_store_footprint(n_slots, slot_bytes)
    cdef void* mem = malloc(size)
    cdef Py_ssize_t i
    handles = []
    cdef int64_t h
    cdef int rc
    if mem == NULL:
        raise MemoryError()
    rc = pfo_store_init(&s, mem, size, n_slots, slot_bytes)
    if rc == PFO_OK:
        for i in range(puts):
            with nogil:
                h = pfo_store_put(&s, &data[0], <uint32_t>data.shape[0])
            handles.append(h)
        with nogil:
            rc = pfo_store_free(&s, 0)
            h = pfo_store_put(&s, &data[0], <uint32_t>data.shape[0])
        handles.append(h)
        back = bytes((<char*>s.data)[:data.shape[0]])
    pfo_store_fini(&s)
    pfo_store_fini(NULL)
    free(mem)
    return rc, handles, back, s.n_slots

def rss(const uint8_t[::1] key, const uint8_t[:, ::1] rows):
    # the Toeplitz table in memory we own (sizeof(pfo_rss_tbl_t) bytes)
    cdef pfo_rss_tbl_t* tbl = <pfo_rss_tbl_t*>malloc(sizeof(pfo_rss_tbl_t))
    out = np.zeros(rows.shape[0], np.uint32)
    cdef uint32_t[::1] o = out
    cdef Py_ssize_t i
    with nogil:
        pfo_rss_init(tbl, &key[0], key.shape[0])
        for i in range(rows.shape[0]):
            o[i] = paraflowo.pfo_rss_hash(tbl, &rows[i, 0], rows.shape[1])
    free(tbl)
    return out

def refusals(uint32_t window):
    # every placement error leaves the memory untouched
    cdef size_t size = pfo_rob_footprint(window, 16)
    cdef size_t qsize = pfo_robq_footprint(3, window, 16)
    cdef size_t ssize = pfo_store_footprint(5, 100)
    cdef size_t big = qsize + size + ssize + 64
    cdef unsigned char* mem = <unsigned char*>malloc(big)
    cdef pfo_rob_t r
    cdef pfo_robq_t q
    cdef pfo_store_t s
    cdef size_t i
    memset(mem, 0xAB, big)
    codes = [
        pfo_rob_init(&r, mem, size - 1, window, 10, 16, 0),
        pfo_rob_init(&r, mem, 0, window, 10, 16, 0),
        pfo_rob_init(&r, NULL, size, window, 10, 16, 0),
        pfo_rob_init(NULL, mem, size, window, 10, 16, 0),
        pfo_rob_init(&r, mem + 4, size, window, 10, 16, 0),
        pfo_rob_init(&r, mem, big, window + 1, 10, 16, 0),
        pfo_rob_init(&r, mem, big, window, -1, 16, 0),
        pfo_rob_init(&r, mem, big, window, 10, 16, 1 << 16),
        pfo_rob_init(&r, mem, big, 1 << 16, 10, 16, 0),
        pfo_rob_init(&r, mem, big, window, 10, 7, 0),
        pfo_robq_init(&q, mem, qsize - 1, 3, window, 10, 16, 0),
        pfo_robq_init(&q, mem, big, 0, window, 10, 16, 0),
        pfo_robq_init(&q, mem, big, 1 << 16, window, 10, 16, 0),
        pfo_store_init(&s, mem, ssize - 1, 5, 100),
        pfo_store_init(&s, mem, big, 0, 100),
        pfo_store_init(&s, mem, big, 5, 0),
        pfo_store_init(&s, mem, big, 5, 65536),
    ]
    untouched = all(mem[i] == 0xAB for i in range(big))
    zero = [pfo_rob_footprint(window + 1, 16), pfo_rob_footprint(1 << 16, 16),
            pfo_rob_footprint(1, 16), pfo_robq_footprint(0, window, 16),
            pfo_store_footprint(0, 1), pfo_store_footprint(1, 0)]
    # exactly the footprint is enough
    ok = [pfo_rob_init(&r, mem, size, window, 10, 16, 0),
          pfo_robq_init(&q, mem, qsize, 3, window, 10, 16, 0),
          pfo_store_init(&s, mem, ssize, 5, 100)]
    free(mem)
    return codes, untouched, zero, ok, (PFO_OK, PFO_EINVAL, PFO_ENOSPC, PFO_ALIGN)

def guarded(uint32_t window, uint32_t n_queues):
    # init with exactly the footprint, then fill every slot, advance the
    # window and drain: the 256 bytes past the footprint stay untouched
    cdef size_t sizes[3]
    sizes[0] = pfo_rob_footprint(window, 16)
    sizes[1] = pfo_robq_footprint(n_queues, window, 16)
    sizes[2] = pfo_store_footprint(n_queues, 100)
    cdef pfo_rob_t r
    cdef pfo_robq_t q
    cdef pfo_store_t s
    cdef unsigned char* mem
    cdef pfo_handle_t out[64]
    cdef uint8_t data[100]
    cdef uint32_t p, i, which
    intact = []
    memset(data, 7, 100)
    for which in range(3):
        mem = <unsigned char*>malloc(sizes[which] + 256)
        memset(mem + sizes[which], 0xCD, 256)
        if which == 0:
            pfo_rob_init(&r, mem, sizes[0], window, 5, 16, 0)
            for p in range(1, 3 * window):
                pfo_rob_insert(&r, p, p, p, p % 7 == 0)
                if p % 50 == 0:
                    pfo_rob_drain(&r, p, out, 64)
            while pfo_rob_flush(&r, out, 64) == 64:
                pass
        elif which == 1:
            pfo_robq_init(&q, mem, sizes[1], n_queues, window, 5, 16, 0)
            for p in range(1, 3 * window):
                for i in range(n_queues):
                    paraflowo.pfo_robq_insert(&q, i, p, p, p, False)
                while paraflowo.pfo_robq_drain(&q, p, out, NULL, 64) == 64:
                    pass
        else:
            pfo_store_init(&s, mem, sizes[2], n_queues, 100)
            while pfo_store_put(&s, data, 100) >= 0:
                pass
        intact.append(all(mem[sizes[which] + i] == 0xCD for i in range(256)))
        free(mem)
    return intact

def object_api(ReorderBuffer rb):
    # the class exposes its struct: rb.rob
    cdef pfo_handle_t o[4]
    cdef Py_ssize_t k
    with nogil:
        pfo_rob_insert(rb.rob, 1, 11, 0, False)
        pfo_rob_insert(rb.rob, 0, 10, 0, False)
        k = pfo_rob_drain(rb.rob, 0, o, 4)
    return [o[i] for i in range(k)], pfo_rob_held(rb.rob)
"""


@pytest.fixture(scope="module")
def mod(tmp_path_factory):
    return build_cython_module(tmp_path_factory.mktemp("cy_public"), "use_public", SOURCE)


def test_footprints_match_the_classes(mod):
    for q, w, bits, n, b in [(1, 2, 8, 1, 1), (16, 256, 32, 4096, 2048), (3, 1024, 16, 7, 1500)]:
        rob, robq, store = mod.footprints(q, w, bits, n, b)
        assert rob == ReorderBuffer.footprint(w, bits) == ReorderBuffer(w, 5, bits).nbytes
        assert robq == ReorderQueues.footprint(q, w, bits) == ReorderQueues(q, w, 5, bits).nbytes
        assert store == PacketStore.footprint(n, b) == PacketStore(n, b).nbytes
        assert rob % 64 == robq % 64 == store % 64 == 0
        assert rob == 32 * w and robq >= q * rob


def test_placement_refusals_never_write(mod):
    codes, untouched, zero, ok, (OK, EINVAL, ENOSPC, ALIGN) = mod.refusals(64)
    assert (OK, EINVAL, ENOSPC, ALIGN) == (0, -1, -2, 64)
    assert codes == [ENOSPC, ENOSPC, EINVAL, EINVAL, EINVAL, EINVAL, EINVAL, EINVAL,
                     EINVAL, EINVAL, ENOSPC, EINVAL, EINVAL, ENOSPC, EINVAL, EINVAL, EINVAL]
    assert untouched
    assert zero == [0] * 6
    assert ok == [OK, OK, OK]


def test_placement_stays_inside_the_footprint(mod):
    assert mod.guarded(2, 1) == [True, True, True]
    assert mod.guarded(64, 5) == [True, True, True]


@settings(max_examples=30, deadline=None)
@given(
    bits=st.sampled_from([8, 16, 32]),
    wexp=st.integers(1, 6),
    first=st.integers(0, 2**32 - 1),
    offsets=st.lists(st.integers(-3, 90), max_size=100),
    seed=st.integers(0, 2**16),
)
def test_host_placed_buffer_equals_the_class(mod, bits, wexp, first, offsets, seed):
    M = 1 << bits
    first %= M
    rng = np.random.default_rng(seed)
    n = len(offsets)
    psns = np.array([(first + o) % M for o in offsets], np.uint32)
    handles = rng.integers(0, 2**63, n, dtype=np.uint64)
    times = np.cumsum(rng.integers(0, 4, n)).astype(np.int64)
    dropped = (rng.random(n) < 0.1).astype(np.uint8)
    rb = ReorderBuffer(1 << wexp, 7, psn_bits=bits, first_psn=first)
    want_st, want_out = [], []
    for p, h, t, d in zip(psns, handles, times, dropped):
        want_st.append(int(rb.insert(int(p), int(h), int(t), bool(d))))
        want_out += rb.drain(int(t)).tolist()
    want_out += rb.flush().tolist()
    rc, got_st, got_out = mod.rob_run(1 << wexp, 7, bits, first, psns, handles, times, dropped)
    assert rc == 0
    assert got_st.tolist() == want_st
    assert got_out.tolist() == want_out


def test_host_placed_queues_equal_the_class(mod):
    rng = np.random.default_rng(5)
    n = 300
    m = empty_meta(n)
    m["handle"] = np.arange(n)
    m["queue"] = rng.integers(0, 4, n)
    m["psn"] = rng.permutation(n) % 64
    m["flags"] = np.where(rng.random(n) < 0.9, FLAG_PARA, 0)
    m["flags"][rng.random(n) < 0.05] |= FLAG_DROP
    rq = ReorderQueues(4, 64, 100)
    out = np.empty(n + 1, np.uint64)
    oq = np.empty(n + 1, np.int32)
    k = rq.process_burst(m, 0, out, out_queue=oq)
    rc, got, got_q = mod.robq_run(4, 64, 100, m, 0)
    assert rc == 0
    assert got.tolist() == out[:k].tolist() and got_q.tolist() == oq[:k].tolist()


def test_host_placed_store(mod):
    rc, handles, back, n_slots = mod.store_run(3, 64, np.frombuffer(b"packet", np.uint8), 4)
    assert rc == 0 and n_slots == 0             # fini ends the store's life
    assert handles == [0, 1, 2, -1, 0]          # full at the 4th; slot 0 again after a free
    assert back == b"packet"


def test_rss_hash_in_own_memory(mod):
    h = ToeplitzHasher()
    rows = np.random.default_rng(1).integers(0, 256, (50, 12), dtype=np.uint8)
    got = mod.rss(np.frombuffer(h.key, np.uint8), rows)
    assert got.tolist() == [h.hash(bytes(r)) for r in rows]


def test_object_exposes_its_struct(mod):
    rb = ReorderBuffer(8, None)
    assert mod.object_api(rb) == ([10, 11], 0)
    assert rb.stats.released == 2


def test_the_docs_example_compiles_and_runs(tmp_path):
    # the host-placed reorder buffer of docs/cython.rst, verbatim
    from pathlib import Path
    import textwrap

    rst = (Path(__file__).resolve().parent.parent / "docs" / "cython.rst").read_text()
    start = rst.index("   from libc.stdlib cimport malloc, free")
    block = []
    for line in rst[start:].splitlines():
        if line and not line.startswith("   "):
            break
        block.append(line)
    source = "# cython: boundscheck=False, wraparound=False\n" + textwrap.dedent("\n".join(block))
    mod = build_cython_module(tmp_path, "docs_example", source)
    psns = np.array([1, 0, 3, 2, 5, 4], np.uint32)
    out = np.zeros(8, np.uint64)
    k = mod.reorder(psns, out)
    assert out[:k].tolist() == [1, 0, 3, 2, 5, 4]  # handles (arrival indexes) in PSN order
