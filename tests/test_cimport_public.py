"""The public cimport surface (``cimport paraflowo``), from a freshly compiled module.

The module below uses only the names ``paraflowo/__init__.pxd`` exports, as a
user writing from docs/cython.rst would: it places a reorder buffer, a set of
reorder queues, a packet store, a Count-Min and a Space-Saving detector in
memory it allocates itself (footprint + init / fini), drives them and the RSS
hash without the GIL, and checks the placement errors (too small, NULL,
misaligned, bad parameters) never write.  The docs' own Cython examples are
extracted from docs/cython.rst, compiled and run as well.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from paraflowo import (
    FLAG_DROP,
    FLAG_PARA,
    CountMinDetector,
    PacketStore,
    ReorderBuffer,
    ReorderQueues,
    SpaceSavingDetector,
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
    ReorderBuffer,
    pfo_cm_t, pfo_cm_footprint, pfo_cm_init, pfo_cm_fini, pfo_cm_update, pfo_cm_update_burst,
    pfo_cm_estimate, pfo_cm_advance, pfo_cm_reset,
    pfo_ss_t, pfo_ss_footprint, pfo_ss_init, pfo_ss_fini, pfo_ss_update, pfo_ss_update_burst,
    pfo_ss_estimate, pfo_ss_advance, pfo_ss_reset,
    CountMinDetector, SpaceSavingDetector)

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

def det_footprints(uint32_t width, uint32_t depth, uint32_t capacity):
    return pfo_cm_footprint(width, depth), pfo_ss_footprint(capacity)

def det_run(int kind, uint32_t a, uint32_t depth, uint64_t threshold, int64_t window_ns,
            bint conservative, uint64_t seed, bint fused,
            const uint64_t[::1] keys, const int64_t[::1] times, const uint64_t[::1] amounts,
            Py_ssize_t burst):
    # A detector in memory we own (kind 0: Count-Min of width a, 1:
    # Space-Saving of capacity a), 8 guard bytes past its footprint.  The
    # packets go through pfo_*_update one by one (burst 0), or through
    # pfo_*_update_burst in bursts of `burst` with per-packet times; every
    # 7th packet is followed by an advance to its time.  Returns the flags,
    # the estimate of each key after its packet, and whether the guard held.
    cdef pfo_cm_t cm
    cdef pfo_ss_t ss
    cdef size_t size = pfo_cm_footprint(a, depth) if kind == 0 else pfo_ss_footprint(a)
    cdef unsigned char* mem = <unsigned char*>malloc(size + 8)
    cdef Py_ssize_t i, j, m, n = keys.shape[0]
    flags = np.zeros(n, np.uint8)
    est = np.zeros(n, np.uint64)
    cdef uint8_t[::1] f = flags
    cdef uint64_t[::1] e = est
    cdef int rc
    if mem == NULL:
        raise MemoryError()
    memset(mem + size, 0xEE, 8)
    with nogil:
        if kind == 0:
            rc = pfo_cm_init(&cm, mem, size, a, depth, threshold, window_ns, conservative,
                             seed, fused)
        else:
            rc = pfo_ss_init(&ss, mem, size, a, threshold, window_ns)
        if rc == PFO_OK:
            i = 0
            while i < n:
                m = 1 if burst == 0 else (burst if i + burst <= n else n - i)
                if kind == 0:
                    if burst == 0:
                        f[i] = pfo_cm_update(&cm, keys[i], times[i], amounts[i])
                    else:
                        pfo_cm_update_burst(&cm, &keys[i], &times[i], 1, &amounts[i], &f[i], m)
                else:
                    if burst == 0:
                        f[i] = pfo_ss_update(&ss, keys[i], times[i], amounts[i])
                    else:
                        pfo_ss_update_burst(&ss, &keys[i], &times[i], 1, &amounts[i], &f[i], m)
                for j in range(i, i + m):
                    e[j] = (pfo_cm_estimate(&cm, keys[j]) if kind == 0
                            else pfo_ss_estimate(&ss, keys[j]))
                i += m
                if i % 7 == 0:
                    if kind == 0:
                        pfo_cm_advance(&cm, times[i - 1])
                    else:
                        pfo_ss_advance(&ss, times[i - 1])
            if kind == 0:
                pfo_cm_reset(&cm)
                rc = <int>(pfo_cm_estimate(&cm, keys[0]) if n else 0)
            else:
                pfo_ss_reset(&ss)
                rc = <int>(pfo_ss_estimate(&ss, keys[0]) if n else 0)
        if kind == 0:
            pfo_cm_fini(&cm)
        else:
            pfo_ss_fini(&ss)
        pfo_cm_fini(NULL)
        pfo_ss_fini(NULL)
    guard = all(mem[size + i] == 0xEE for i in range(8))
    free(mem)
    return rc, flags.astype(bool), est, guard

def det_refusals():
    # every placement error of the detectors leaves the memory untouched
    cdef size_t cs = pfo_cm_footprint(64, 4), ss_size = pfo_ss_footprint(10)
    cdef size_t big = cs + ss_size + 64
    cdef unsigned char* mem = <unsigned char*>malloc(big)
    cdef pfo_cm_t cm
    cdef pfo_ss_t ss
    cdef size_t i
    memset(mem, 0xAB, big)
    codes = [
        pfo_cm_init(&cm, mem, cs - 1, 64, 4, 5, 1000, True, 0, True),
        pfo_cm_init(&cm, NULL, cs, 64, 4, 5, 1000, True, 0, True),
        pfo_cm_init(NULL, mem, cs, 64, 4, 5, 1000, True, 0, True),
        pfo_cm_init(&cm, mem + 4, cs, 64, 4, 5, 1000, True, 0, True),
        pfo_cm_init(&cm, mem, big, 63, 4, 5, 1000, True, 0, True),
        pfo_cm_init(&cm, mem, big, 64, 0, 5, 1000, True, 0, True),
        pfo_cm_init(&cm, mem, big, 64, 17, 5, 1000, True, 0, True),
        pfo_cm_init(&cm, mem, big, 64, 4, 0, 1000, True, 0, True),
        pfo_cm_init(&cm, mem, big, 64, 4, 5, 0, True, 0, True),
        pfo_cm_init(&cm, mem, big, 64, 4, 5, (<int64_t>1 << 62) + 1, True, 0, True),
        pfo_ss_init(&ss, mem, ss_size - 1, 10, 5, 1000),
        pfo_ss_init(&ss, NULL, ss_size, 10, 5, 1000),
        pfo_ss_init(NULL, mem, ss_size, 10, 5, 1000),
        pfo_ss_init(&ss, mem + 4, ss_size, 10, 5, 1000),
        pfo_ss_init(&ss, mem, big, 0, 5, 1000),
        pfo_ss_init(&ss, mem, big, (1 << 24) + 1, 5, 1000),
        pfo_ss_init(&ss, mem, big, 10, 0, 1000),
        pfo_ss_init(&ss, mem, big, 10, 5, -1),
    ]
    untouched = all(mem[i] == 0xAB for i in range(big))
    zero = [pfo_cm_footprint(1, 4), pfo_cm_footprint(3, 4), pfo_cm_footprint((1 << 25), 1),
            pfo_cm_footprint(64, 0), pfo_cm_footprint(64, 17), pfo_ss_footprint(0),
            pfo_ss_footprint((1 << 24) + 1)]
    ok = [pfo_cm_init(&cm, mem, cs, 64, 4, 5, 1000, True, 0, True),
          pfo_ss_init(&ss, mem, ss_size, 10, 5, 1000)]
    free(mem)
    return codes, untouched, zero, ok

def det_object_api(CountMinDetector cm, SpaceSavingDetector ss, uint64_t key):
    # the classes expose their structs: det.cm, det.ss
    cdef uint64_t a, b
    with nogil:
        a = pfo_cm_estimate(&cm.cm, key)
        b = pfo_ss_estimate(&ss.ss, key)
    return a, b, cm.cm.width, ss.ss.capacity

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


def _docs_cython_blocks():
    """Every ``.. code-block:: cython`` of docs/cython.rst, dedented."""
    from pathlib import Path
    import textwrap

    lines = (Path(__file__).resolve().parent.parent / "docs" / "cython.rst").read_text().splitlines()
    blocks = []
    for i, line in enumerate(lines):
        if line.strip() != ".. code-block:: cython":
            continue
        body = []
        for text in lines[i + 1:]:
            if text and not text.startswith("   "):
                break
            body.append(text)
        blocks.append(textwrap.dedent("\n".join(body)).strip("\n") + "\n")
    return blocks


def test_the_docs_examples_compile_and_run(tmp_path):
    # a module written only from docs/cython.rst: each of its Cython examples,
    # verbatim, compiled against the installed package and run
    blocks = _docs_cython_blocks()
    assert len(blocks) >= 3 and all("cimport paraflowo" in b or "from paraflowo cimport" in b
                                    for b in blocks)
    mods = []
    for i, b in enumerate(blocks):
        (tmp_path / str(i)).mkdir()
        mods.append(build_cython_module(tmp_path / str(i), f"docs_example_{i}",
                                        "# cython: boundscheck=False, wraparound=False\n" + b))
    runs = 0
    for m in mods:
        if hasattr(m, "reorder"):
            psns = np.array([1, 0, 3, 2, 5, 4], np.uint32)
            out = np.zeros(8, np.uint64)
            k = m.reorder(psns, out)
            assert out[:k].tolist() == [1, 0, 3, 2, 5, 4]  # handles (arrival indexes) in PSN order
            runs += 1
        if hasattr(m, "elephants"):
            keys = np.array([7] * 150 + [8] * 20, np.uint64)
            out = np.zeros(len(keys), np.uint8)
            est = m.elephants(keys, 5_000_000, out)
            det = CountMinDetector(4096, 4, 100, 1_000_000, conservative=True, seed=0)
            want = det.update_burst(keys, 5_000_000)
            assert out.astype(bool).tolist() == want.tolist() and want.sum() == 51
            assert est == det.estimate(7) == 150
            runs += 1
    assert runs == 2


# -- the detectors in memory the host owns -----------------------------------

def test_detector_footprints_match_the_classes(mod):
    for w, d, cap in [(2, 1, 1), (8, 1, 3), (4096, 4, 1000), (1 << 16, 16, 1 << 12)]:
        cm, ss = mod.det_footprints(w, d, cap)
        assert cm == CountMinDetector.footprint(w, d) == CountMinDetector(w, d, 5, 10).nbytes
        assert ss == SpaceSavingDetector.footprint(cap) == SpaceSavingDetector(cap, 5, 10).nbytes
        assert cm % 64 == ss % 64 == 0
    assert mod.det_footprints(4096, 4, 1000) == (131072, 113152)


def test_detector_placement_refusals_never_write(mod):
    codes, untouched, zero, ok = mod.det_refusals()
    assert codes == [-2, -1, -1, -1, -1, -1, -1, -1, -1, -1, -2, -1, -1, -1, -1, -1, -1, -1]
    assert untouched and zero == [0] * 7 and ok == [0, 0]


def _class_run(det, keys, times, amounts, burst):
    flags, est = [], []
    i, n = 0, len(keys)
    while i < n:
        m = 1 if burst == 0 else min(burst, n - i)
        if burst == 0:
            flags.append(det.update(int(keys[i]), int(times[i]), int(amounts[i])))
        else:
            flags += det.update_burst(keys[i:i + m], times[i:i + m], amounts[i:i + m]).tolist()
        est += [det.estimate(int(k)) for k in keys[i:i + m]]
        i += m
        if i % 7 == 0:
            det.advance(int(times[i - 1]))
    return flags, est


@settings(max_examples=40, deadline=None)
@given(
    kind=st.sampled_from(["cm", "cm-independent", "cm-plain", "cm-deep", "ss"]),
    n=st.integers(0, 120),
    n_keys=st.integers(1, 40),
    burst=st.sampled_from([0, 1, 5, 32]),
    big=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_host_placed_detector_equals_the_class(mod, kind, n, n_keys, burst, big, seed):
    rng = np.random.default_rng(seed)
    keys = rng.integers(0, n_keys, n).astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    times = np.cumsum(rng.integers(0, 300, n)).astype(np.int64)
    amounts = (rng.integers(0, 2**40, n) if big else rng.integers(1, 3, n)).astype(np.uint64)
    threshold, window = 6, 1000
    if kind == "ss":
        det = SpaceSavingDetector(8, threshold, window)
        args = (1, 8, 0, threshold, window, False, 0, False)
    else:
        width, depth = (64, 8) if kind == "cm-deep" else (16, 4)
        cons = kind != "cm-plain"
        fused = kind != "cm-independent"
        det = CountMinDetector(width, depth, threshold, window, conservative=cons, seed=seed,
                               row_hashes="fused" if fused else "independent")
        args = (0, width, depth, threshold, window, cons, seed, fused)
    want_flags, want_est = _class_run(det, keys, times, amounts, burst)
    rc, flags, est, guard = mod.det_run(*args, keys, times, amounts, burst)
    assert rc == 0 and guard                    # reset cleared it; nothing past the footprint
    assert flags.tolist() == want_flags
    assert est.tolist() == want_est


def test_detector_objects_expose_their_structs(mod):
    cm = CountMinDetector(1024, 4, 3, 1000)
    ss = SpaceSavingDetector(4, 3, 1000)
    for t in range(5):
        cm.update(42, t)
        ss.update(42, t)
    assert mod.det_object_api(cm, ss, 42) == (5, 5, 1024, 4)
