"""Reorder benchmarks (group "reorder"): Mpps in extra_info["mpps"].

Workload (the issue's): PSNs 0..N-1, bursts of 32, 10 % of the packets
displaced forward by 1..64 positions within 256-packet blocks, window 1024.
N is 20M when the benchmarks are timed (``pytest benchmarks/bench_reorder.py
--benchmark-enable --benchmark-only``) and 2**20 in the untimed run of the
test suite; ``PFO_BENCH_PACKETS`` overrides both.

The C-level path is a small Cython module that cimports the reorder .pxd,
compiled once per session with tests/cybuild.py.
"""

import sys
from pathlib import Path

import numpy as np
import pytest

from paraflowo import FLAG_PARA, ReorderBuffer, ReorderQueues, empty_meta

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from benchutil import packets, record_mpps  # noqa: E402
from cybuild import build_cython_module  # noqa: E402

N_TIMED = 20_000_000
N_QUICK = 2**20
BURST = 32
WINDOW = 1024
TIMEOUT_NS = 20_000
TIMEOUT_MISSING_NS = 2_000  # with 1 % missing: holes time out before the window passes them
NS_PER_BURST = 320          # time advances 10 ns per packet (100 Mpps arrival)


def displaced(n, frac=0.10, max_shift=64, block=256, missing=0.0, seed=1):
    """PSNs in arrival order: ``frac`` of them moved 1..max_shift later within their block."""
    rng = np.random.default_rng(seed)
    idx = np.arange(n, dtype=np.int64)
    key = idx.astype(np.float64)
    moved = rng.random(n) < frac
    shift = rng.integers(1, max_shift + 1, n)
    block_end = (idx // block + 1) * block - 1
    key[moved] = np.minimum(idx[moved] + shift[moved], block_end[moved]) + 0.5
    psns = np.argsort(key, kind="stable").astype(np.uint32)
    if missing:
        psns = psns[rng.random(n) >= missing]
    return np.ascontiguousarray(psns)


CSOURCE = """
# cython: boundscheck=False, wraparound=False
from libc.stdint cimport uint16_t, uint32_t, uint64_t, int64_t
from libc.string cimport memset
from paraflowo._core._types cimport pfo_handle_t
from paraflowo._core._types cimport pfo_meta_t, PFO_FLAG_PARA
from paraflowo._core.reorder cimport (
    ReorderBuffer, ReorderQueues, pfo_rob_insert, pfo_rob_insert_burst, pfo_rob_drain,
    pfo_rob_flush, pfo_robq_process)

def run_burst(ReorderBuffer rb, const uint32_t[::1] psns, const uint64_t[::1] handles,
              uint64_t[::1] out, Py_ssize_t burst, int64_t ns_per_burst):
    # per burst: pfo_rob_insert_burst then pfo_rob_drain (no status array)
    cdef Py_ssize_t i = 0, j, n = psns.shape[0], k = 0
    cdef int64_t now = 0
    with nogil:
        while i < n:
            j = n - i if n - i < burst else burst
            pfo_rob_insert_burst(rb.rob, &psns[i], &handles[i], j, now, NULL, NULL)
            i += j
            k += pfo_rob_drain(rb.rob, now, &out[k], out.shape[0] - k)
            now += ns_per_burst
        k += pfo_rob_flush(rb.rob, &out[k], out.shape[0] - k)
    return k

def run_inline(ReorderBuffer rb, const uint32_t[::1] psns, uint64_t[::1] out,
               Py_ssize_t burst, int64_t ns_per_burst):
    # per packet: the inline pfo_rob_insert; per burst: pfo_rob_drain
    cdef Py_ssize_t i, j, n = psns.shape[0], k = 0
    cdef int64_t now = 0
    with nogil:
        i = 0
        while i < n:
            j = i + burst
            if j > n:
                j = n
            while i < j:
                pfo_rob_insert(rb.rob, psns[i], <pfo_handle_t>psns[i], now, False)
                i += 1
            k += pfo_rob_drain(rb.rob, now, &out[k], out.shape[0] - k)
            now += ns_per_burst
        k += pfo_rob_flush(rb.rob, &out[k], out.shape[0] - k)
    return k

def run_methods(ReorderBuffer rb, const uint32_t[::1] psns, uint64_t[::1] out,
                Py_ssize_t burst, int64_t ns_per_burst):
    # the same through rb.c_insert / rb.c_drain
    cdef Py_ssize_t i, j, n = psns.shape[0], k = 0
    cdef int64_t now = 0
    with nogil:
        i = 0
        while i < n:
            j = i + burst
            if j > n:
                j = n
            while i < j:
                rb.c_insert(psns[i], <pfo_handle_t>psns[i], now, False)
                i += 1
            k += rb.c_drain(now, &out[k], out.shape[0] - k)
            now += ns_per_burst
        k += rb.c_flush(&out[k], out.shape[0] - k)
    return k

def run_queues(ReorderQueues rq, const unsigned char[::1] meta_bytes, uint64_t[::1] out,
               Py_ssize_t burst, int64_t ns_per_burst):
    # the vSwitch egress shape: one pfo_robq_process per burst (insert each
    # record into its queue, drain the touched queues and the due timeouts),
    # time advancing per burst; returns the outputs (the rest stays held)
    cdef const pfo_meta_t* meta = <const pfo_meta_t*>&meta_bytes[0]
    cdef Py_ssize_t i = 0, j, n = meta_bytes.shape[0] // sizeof(pfo_meta_t), k = 0, r
    cdef int64_t now = 0
    with nogil:
        while i < n:
            j = n - i if n - i < burst else burst
            r = pfo_robq_process(&rq.q, meta + i, j, now, &out[k], NULL,
                                 out.shape[0] - k, NULL, 0)
            if r < 0:
                break
            k += r
            i += j
            now += ns_per_burst
    return k

def run_queues_seq(ReorderQueues rq, const uint32_t[::1] seq, Py_ssize_t q,
                   uint64_t[::1] out, Py_ssize_t burst, int64_t ns_per_burst):
    # the same shape built as anchors/dpdk_reorder.c builds it: record i goes
    # to queue i % q with PSN seq[i // q]; each burst's records are written
    # into one reused burst array (as the anchor writes each mbuf's sequence
    # number into an mbuf off its stack), and every pfo_robq_process writes
    # into the start of out (as the anchor's drained mbufs go back on its
    # stack).  out must hold q * window + burst handles.  Returns the number
    # released (the rest stays held).
    cdef pfo_meta_t b[64]
    cdef Py_ssize_t per = seq.shape[0], n = per * q, i = 0, j, t, total = 0, r = 0
    cdef Py_ssize_t qi = 0, pi = 0
    cdef int64_t now = 0
    if not 1 <= burst <= 64:
        raise ValueError(f"burst must be in [1, 64], got {burst}")
    if not 1 <= q <= rq.n_queues:
        raise ValueError(f"q must be in [1, {rq.n_queues}], got {q}")
    if out.shape[0] < q * rq.buffers[0].window + burst:
        raise ValueError(f"out must hold q * window + burst handles, got {out.shape[0]}")
    memset(b, 0, sizeof(b))
    with nogil:
        while i < n:
            j = n - i if n - i < burst else burst
            for t in range(j):
                b[t].handle = <uint64_t>(i + t)
                b[t].queue = <uint16_t>qi
                b[t].psn = seq[pi]
                b[t].flags = PFO_FLAG_PARA
                qi += 1
                if qi == q:
                    qi = 0
                    pi += 1
            r = pfo_robq_process(&rq.q, b, j, now, &out[0], NULL, out.shape[0], NULL, 0)
            if r < 0:
                break
            total += r
            i += j
            now += ns_per_burst
    if r < 0:
        raise ValueError(f"pfo_robq_process refused the burst at record {i}")
    return total
"""


@pytest.fixture(scope="session")
def cmod(tmp_path_factory):
    return build_cython_module(tmp_path_factory.mktemp("bench_reorder"), "bench_reorder_c", CSOURCE)


@pytest.fixture(scope="module")
def workload():
    return displaced(packets(N_TIMED, N_QUICK))


@pytest.fixture(scope="module")
def workload_missing():
    return displaced(packets(N_TIMED, N_QUICK), missing=0.01)


def _check_in_order(out, k, psns, complete=True):
    got = out[:k]
    assert np.all(got[1:] > got[:-1])
    if complete:
        assert k == len(psns)


@pytest.mark.benchmark(group="reorder")
@pytest.mark.parametrize("variant", ["burst", "inline", "methods"])
def test_reorder_c_path(benchmark, cmod, workload, variant):
    out = np.empty(len(workload) + WINDOW, np.uint64)
    handles = workload.astype(np.uint64)

    def run():
        rb = ReorderBuffer(WINDOW, TIMEOUT_NS)
        if variant == "burst":
            return cmod.run_burst(rb, workload, handles, out, BURST, NS_PER_BURST)
        fn = cmod.run_inline if variant == "inline" else cmod.run_methods
        return fn(rb, workload, out, BURST, NS_PER_BURST)

    k = benchmark(run)
    record_mpps(benchmark, len(workload))
    _check_in_order(out, k, workload)


@pytest.mark.benchmark(group="reorder")
def test_reorder_numpy_burst(benchmark, workload):
    handles = workload.astype(np.uint64)
    out = np.empty(len(workload) + WINDOW, np.uint64)

    def run():
        rb = ReorderBuffer(WINDOW, TIMEOUT_NS)
        k = rb.process_burst(workload, handles, 0, out, drain_every=BURST)
        return k + rb.drain_into(0, out[k:])

    k = benchmark(run)
    record_mpps(benchmark, len(workload))
    _check_in_order(out, k, workload)


def _poll_per_burst(psns, timeout_ns):
    """A Python-side polling loop: one process_burst call per burst of 32, time
    advancing; returns the runner and the packet count it handles."""
    n = min(len(psns), 2**18)
    psns = psns[:n]
    handles = psns.astype(np.uint64)
    chunks = [(psns[i:i + BURST], handles[i:i + BURST]) for i in range(0, n, BURST)]
    out = np.empty(BURST + WINDOW, np.uint64)

    def run():
        rb = ReorderBuffer(WINDOW, timeout_ns)
        pb = rb.process_burst
        total = 0
        t = 0
        for p, h in chunks:
            total += pb(p, h, t, out)
            t += NS_PER_BURST
        return total, rb.stats

    return run, n


@pytest.mark.benchmark(group="reorder")
def test_reorder_numpy_burst_of_32_calls(benchmark, workload):
    run, n = _poll_per_burst(workload, TIMEOUT_NS)
    benchmark(run)
    record_mpps(benchmark, n)


@pytest.mark.benchmark(group="reorder")
def test_reorder_python_per_packet(benchmark, workload):
    n = min(len(workload), 2**20)
    psns = workload[:n].tolist()
    bursts = [psns[i:i + BURST] for i in range(0, n, BURST)]

    def run():
        rb = ReorderBuffer(WINDOW, TIMEOUT_NS)
        ins, drain = rb.insert, rb.drain
        released = 0
        t = 0
        for b in bursts:
            for p in b:
                ins(p, p, t)
            released += len(drain(t))
            t += NS_PER_BURST
        return released

    benchmark(run)
    record_mpps(benchmark, n)


@pytest.mark.benchmark(group="reorder")
def test_reorder_missing_1pct_timeout_c(benchmark, cmod, workload_missing):
    out = np.empty(len(workload_missing) + WINDOW, np.uint64)

    def run():
        rb = ReorderBuffer(WINDOW, TIMEOUT_MISSING_NS)
        return cmod.run_inline(rb, workload_missing, out, BURST, NS_PER_BURST), rb.stats

    k, stats = benchmark(run)
    assert stats.timeouts > 0
    record_mpps(benchmark, len(workload_missing))
    _check_in_order(out, k, workload_missing)


@pytest.mark.benchmark(group="reorder")
def test_reorder_missing_1pct_timeout_numpy(benchmark, workload_missing):
    # process_burst per 32 packets, time advancing, so the timeouts fire
    run, n = _poll_per_burst(workload_missing, TIMEOUT_MISSING_NS)
    _, stats = benchmark(run)
    assert stats.timeouts > 0
    record_mpps(benchmark, n)


@pytest.mark.benchmark(group="reorder")
@pytest.mark.parametrize("drain_every", [BURST, 64 * BURST])
def test_reorder_queues_64_active(benchmark, workload, drain_every):
    # 64 queues, records interleaved round-robin; each queue sees the displaced
    # PSN pattern; one process_burst call, draining every `drain_every` records
    # (every 32: each drain visits ~32 queues for ~1 packet each; every 2048:
    # ~32 packets per queue per drain)
    q = 64
    per = len(workload) // q
    seq = displaced(per)
    meta = empty_meta(per * q)
    meta["queue"] = np.tile(np.arange(q, dtype=np.uint16), per)
    meta["psn"] = np.repeat(seq, q)
    meta["handle"] = np.arange(per * q, dtype=np.uint64)
    meta["flags"] = FLAG_PARA
    out = np.empty(len(meta) + q * WINDOW, np.uint64)

    def run():
        rq = ReorderQueues(q, WINDOW, TIMEOUT_NS)
        k = rq.process_burst(meta, 0, out, drain_every=drain_every)
        return k, rq

    k, rq = benchmark(run)
    flushed, _ = rq.flush()
    assert k + len(flushed) == len(meta)
    record_mpps(benchmark, len(meta))


def _queues_meta(n, q, missing=0.0):
    """Records interleaved round-robin over q queues; each queue sees the same
    displaced PSN sequence (with ``missing`` of it lost)."""
    seq = displaced(n // q, missing=missing)
    per = len(seq)
    meta = empty_meta(per * q)
    meta["queue"] = np.tile(np.arange(q, dtype=np.uint16), per)
    meta["psn"] = np.repeat(seq, q)
    meta["handle"] = np.arange(per * q, dtype=np.uint64)
    meta["flags"] = FLAG_PARA
    return meta


@pytest.mark.benchmark(group="reorder")
@pytest.mark.parametrize("missing", [0.0, 0.01], ids=["displaced", "missing1pct"])
@pytest.mark.parametrize("q", [64, 1024])
def test_reorder_queues_vswitch_c(benchmark, cmod, q, missing):
    # The vSwitch egress shape of issue 17: q active queues, records
    # interleaved round-robin, bursts of 32, one pfo_robq_process per burst
    # (drain every burst), time advancing; with 1 % missing the holes time out.
    # Each burst has one record per queue: pfo_robq_process's one-pass path.
    meta = _queues_meta(max(packets(N_TIMED, N_QUICK) // 2, 64 * q), q, missing)
    out = np.empty(len(meta) + q * WINDOW, np.uint64)
    raw = meta.view(np.uint8).reshape(-1)
    # the single buffer's timeouts in per-queue packets (a queue sees one
    # record every q * 10 ns)
    timeout = (TIMEOUT_MISSING_NS if missing else TIMEOUT_NS) * q

    def setup():
        # a fresh ReorderQueues per round, built outside the timing (as DPDK's
        # rte_reorder_create is outside the anchor's): at 1,024 queues building
        # it (32 MB of rings) costs about 5 % of a round
        return (ReorderQueues(q, WINDOW, timeout),), {}

    def run(rq):
        return cmod.run_queues(rq, raw, out, BURST, NS_PER_BURST), rq

    k, rq = benchmark.pedantic(run, setup=setup, rounds=5, iterations=1)
    flushed, _ = rq.flush()
    assert k + len(flushed) == len(meta)
    if missing:
        assert rq.stats.timeouts > 0
    # every queue's outputs in PSN order
    got = meta["psn"][out[:k].astype(np.int64)]
    qs = meta["queue"][out[:k].astype(np.int64)]
    for qq in (0, q - 1):
        g = got[qs == qq].astype(np.int64)
        assert np.all(g[1:] > g[:-1])
    record_mpps(benchmark, len(meta))


@pytest.mark.benchmark(group="reorder")
@pytest.mark.parametrize("q", [64, 1024])
def test_reorder_queues_vswitch_seq_c(benchmark, cmod, q):
    # The same shape as the DPDK anchor builds it (reorder_vs_dpdk.py):
    # each burst's records written into one reused array from the PSN
    # sequence, every drain into the start of one output array; no prebuilt
    # record stream.  Its queues end in the state the prebuilt loop leaves.
    n = max(packets(N_TIMED, N_QUICK) // 2, 64 * q)
    seq = displaced(n // q).astype(np.uint32)
    out = np.empty(q * WINDOW + BURST, np.uint64)

    def setup():
        return (ReorderQueues(q, WINDOW, TIMEOUT_NS * q),), {}

    def run(rq):
        return cmod.run_queues_seq(rq, seq, q, out, BURST, NS_PER_BURST), rq

    k, rq = benchmark.pedantic(run, setup=setup, rounds=5, iterations=1)
    meta = _queues_meta(len(seq) * q, q)
    ref = ReorderQueues(q, WINDOW, TIMEOUT_NS * q)
    big = np.empty(len(meta) + q * WINDOW, np.uint64)
    assert cmod.run_queues(ref, meta.view(np.uint8).reshape(-1), big, BURST,
                           NS_PER_BURST) == k
    assert rq.stats == ref.stats
    flushed, _ = rq.flush()
    assert k + len(flushed) == len(seq) * q
    record_mpps(benchmark, len(seq) * q)
