"""Small bursts: the same results whatever the burst size, and no leaked reference.

Bursts shorter than ``PFO_NOGIL_MIN`` (256 records) keep the GIL, longer
ones release it, and the boundary binds an exact, well-formed ndarray by
reference instead of a buffer request (``_boundary.pyx``, ``_bind.h``).  So
each burst method is run here over the same records cut into calls of sizes
on both sides of 256, against one call (and, for the hashes, against the
per-packet function), and the arrays' reference counts are checked to come
back to where they were, after successful calls and after refused ones.
"""

from __future__ import annotations

import pickle
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from paraflowo import (
    FLOWLET_DTYPE,
    IPV4_TUPLE_DTYPE,
    IPV6_TUPLE_DTYPE,
    META_DTYPE,
    Breakup,
    CountMinDetector,
    ElephantDetector,
    FlowletScheduler,
    IndirectionTable,
    PSNAllocator,
    SpaceSavingDetector,
    ToeplitzHasher,
    rss_hash_batch,
    toeplitz,
    toeplitz_batch,
)

N = 1_000
SIZES = [1, 31, 32, 255, 256, 257, 300, N]      # both sides of PFO_NOGIL_MIN
RNG = np.random.default_rng(17)
KEYS = (RNG.zipf(1.3, N) % 50).astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
HASHES = RNG.integers(0, 2**32, N, dtype=np.uint32)
PORTS = RNG.integers(0, 4, N, dtype=np.uint16)
LENGTHS = RNG.integers(64, 1500, N, dtype=np.uint16)
TIMES = np.cumsum(RNG.integers(0, 50, N)).astype(np.int64)
ROWS = RNG.integers(0, 256, (N, 12), dtype=np.uint8)


def _cut(size, *arrays):
    """Views of ``arrays`` in consecutive calls of ``size`` records."""
    return [tuple(a[i:i + size] for a in arrays) for i in range(0, N, size)]


@pytest.mark.parametrize("size", SIZES)
def test_hashes_match_per_packet(size):
    expect = np.array([toeplitz(bytes(r)) for r in ROWS], np.uint32)
    tuples = np.zeros(N, IPV4_TUPLE_DTYPE)
    tuples.view(np.uint8).reshape(N, 16)[:, :12] = ROWS
    v6 = np.zeros(N, IPV6_TUPLE_DTYPE)
    v6.view(np.uint8).reshape(N, 40)[:, :36] = RNG.integers(0, 256, (N, 36), dtype=np.uint8)
    expect6 = np.array([toeplitz(bytes(r)) for r in v6.view(np.uint8).reshape(N, 40)[:, :36]],
                       np.uint32)
    h = ToeplitzHasher()
    reta = IndirectionTable(8, 128)
    out = np.empty(size, np.uint32)
    got = {k: [] for k in ("batch", "hasher", "records", "rss", "rss6", "reta")}
    for (rows, t, t6) in _cut(size, ROWS, tuples, v6):
        o = out[:len(rows)]
        got["batch"].append(toeplitz_batch(rows, out=o).copy())
        got["hasher"].append(h.hash_batch(rows, o).copy())
        got["records"].append(h.hash_records(t, 12, o).copy())
        got["rss"].append(rss_hash_batch(t, out=o).copy())
        got["rss6"].append(rss_hash_batch(t6).copy())               # out allocated
        got["reta"].append(reta.queue_batch(rss_hash_batch(t)).copy())
    for k in ("batch", "hasher", "records", "rss"):
        np.testing.assert_array_equal(np.concatenate(got[k]), expect, err_msg=k)
    np.testing.assert_array_equal(np.concatenate(got["rss6"]), expect6)
    np.testing.assert_array_equal(np.concatenate(got["reta"]), (expect & 127) % 8)
    # addresses only: the 8-byte prefix
    assert rss_hash_batch(tuples[:3], False).tolist() == [toeplitz(bytes(r[:8])) for r in ROWS[:3]]


@pytest.mark.parametrize("size", [0, 1, 2, 3, 4, 5, 7, 8, 9, 32, 33, 255, 256, 257])
def test_queue_batch_every_length_matches_the_table(size):
    # the short-burst lookup goes four at a time with a tail of 0 to 3; every
    # tail, and both sides of PFO_NOGIL_MIN, against a plain table lookup
    # (a table not round-robin, and an out whose neighbours must stay put)
    reta = IndirectionTable(5, 64)
    reta.set_entries(RNG.integers(0, 5, 64))
    table = reta.entries_array().tolist()
    hashes = RNG.integers(0, 2**32, size, dtype=np.uint32)
    padded = np.full(size + 2, 0xBEEF, np.uint16)
    got = reta.queue_batch(hashes, padded[1:-1])
    assert got.tolist() == [table[int(x) & 63] for x in hashes]
    assert padded[0] == padded[-1] == 0xBEEF
    assert reta.queue_batch(hashes).tolist() == got.tolist()


DETECTORS = {
    "countmin": lambda: CountMinDetector(256, 4, threshold=20, window_ns=2_000),
    "spacesaving": lambda: SpaceSavingDetector(16, threshold=20, window_ns=2_000),
    "tags": lambda: _tags(),
}


def _tags():
    det = ElephantDetector(max_tags=8)
    det.force(int(KEYS[0]), True)
    det.force(int(KEYS[1]), False)
    return det


@pytest.mark.parametrize("kind", list(DETECTORS))
@pytest.mark.parametrize("size", SIZES)
def test_detector_bursts_match_one_call(kind, size):
    ref, det = DETECTORS[kind](), DETECTORS[kind]()
    amounts = LENGTHS.astype(np.uint64)
    want = ref.update_burst(KEYS, TIMES, amounts)
    want_est = ref.estimate_burst(KEYS)
    out, est = np.empty(size, np.bool_), np.empty(size, np.uint64)
    got, got_est = [], []
    for k, t, a in _cut(size, KEYS, TIMES, amounts):
        got.append(det.update_burst(k, t, a, out=out[:len(k)]).copy())
    for (k,) in _cut(size, KEYS):
        got_est.append(det.estimate_burst(k, est[:len(k)]).copy())
    np.testing.assert_array_equal(np.concatenate(got), want)
    np.testing.assert_array_equal(np.concatenate(got_est), want_est)
    # one now_ns per call, as many calls: the same as per packet at those times
    one, per = DETECTORS[kind](), DETECTORS[kind]()
    for (k, t) in _cut(size, KEYS, TIMES):
        flags = one.update_burst(k, int(t[0]))
        assert flags.tolist() == [per.update(int(x), int(t[0])) for x in k]


def _scheduler():
    s = FlowletScheduler(4, n_para=2, t_switch_min_ns=10, t_switch_init_ns=100)
    flows = np.zeros(16, FLOWLET_DTYPE)
    for i in range(16):
        s.start(flows, i, int(HASHES[i]), 0)
    return s, flows


@pytest.mark.parametrize("size", SIZES)
def test_ingress_bursts_match_one_call(size):
    index = (KEYS % np.uint64(16)).astype(np.int64)
    cores = (HASHES % np.uint32(4)).astype(np.uint16)
    delays = (TIMES % 5_000).astype(np.int64)

    a, b = PSNAllocator(64, psn_bits=16, idle_ns=500), PSNAllocator(64, psn_bits=16, idle_ns=500)
    wq, wp = a.tag_burst(KEYS, PORTS, HASHES, TIMES)
    q, p = np.empty(size, np.int32), np.empty(size, np.uint32)
    got = [tuple(x.copy() for x in b.tag_burst(k, po, h, t, q[:len(k)], p[:len(k)]))
           for k, po, h, t in _cut(size, KEYS, PORTS, HASHES, TIMES)]
    np.testing.assert_array_equal(np.concatenate([g[0] for g in got]), wq)
    np.testing.assert_array_equal(np.concatenate([g[1] for g in got]), wp)

    (s1, f1), (s2, f2) = _scheduler(), _scheduler()
    s1.observe_burst(cores, delays)
    want = s1.steer_burst(f1, index, TIMES)
    o = np.empty(size, np.uint16)
    for c, d in _cut(size, cores, delays):
        s2.observe_burst(c, d)
    got = [s2.steer_burst(f2, i, t, o[:len(i)]).copy() for i, t in _cut(size, index, TIMES)]
    np.testing.assert_array_equal(np.concatenate(got), want)
    np.testing.assert_array_equal(f1, f2)
    assert (s1.t_avg, s1.switches) == (s2.t_avg, s2.switches)

    def breakup():
        return Breakup(DETECTORS["countmin"](), PSNAllocator(64, idle_ns=500),
                       FlowletScheduler(4, n_para=2, t_switch_min_ns=10, t_switch_init_ns=100), capacity=64)

    b1, b2 = breakup(), breakup()
    want = b1.ingress_burst(KEYS, HASHES, PORTS, LENGTHS, TIMES)
    m = np.empty(size, META_DTYPE)
    got = [b2.ingress_burst(k, h, p, ln, t, None, m[:len(k)]).copy()
           for k, h, p, ln, t in _cut(size, KEYS, HASHES, PORTS, LENGTHS, TIMES)]
    np.testing.assert_array_equal(np.concatenate(got), want)
    egress = TIMES + 700
    b1.feedback_meta(want, egress)
    for mm, e in _cut(size, want, egress):
        b2.feedback_burst(np.ascontiguousarray(mm["core"]), np.ascontiguousarray(mm["ingress_ns"]),
                          e)
    assert b1.scheduler.t_avg == b2.scheduler.t_avg
    assert b1.scheduler.samples == b2.scheduler.samples


def _refcounts(*arrays):
    return [sys.getrefcount(a) for a in arrays]


@pytest.mark.parametrize("size", [32, 300])
def test_bound_arrays_are_released(size):
    # the fast path holds a reference per array while a burst runs: it must be
    # dropped on return and on every error path
    keys, times = KEYS[:size].copy(), TIMES[:size].copy()
    out, short = np.empty(size, np.bool_), np.empty(size - 1, np.bool_)
    ro = np.empty(size, np.bool_)
    ro.flags.writeable = False
    rows, o32 = ROWS[:size].copy(), np.empty(size, np.uint32)
    tuples = np.zeros(size, IPV4_TUPLE_DTYPE)
    before = _refcounts(keys, times, out, short, ro, rows, o32, tuples)
    for _ in range(20):
        det = DETECTORS["countmin"]()
        det.update_burst(keys, times, out=out)
        for bad in (short, ro):
            with pytest.raises(ValueError):
                det.update_burst(keys, times, out=bad)
        with pytest.raises(ValueError, match="now_ns must not go backwards"):
            det.update_burst(keys, times[::-1].copy(), out=out)
        toeplitz_batch(rows, out=o32)
        rss_hash_batch(tuples, out=o32)
        with pytest.raises(ValueError, match="out must have length"):
            toeplitz_batch(rows, out=o32[:-1])
        with pytest.raises(ValueError, match="out must have length"):
            rss_hash_batch(tuples, out=o32[:-1])
        with pytest.raises(ValueError, match="length must be in"):
            ToeplitzHasher().hash_records(tuples, 17, o32)
    del bad                                    # the loop variable holds ro
    assert _refcounts(keys, times, out, short, ro, rows, o32, tuples) == before


@pytest.mark.parametrize("size", [32, 300])
def test_every_burst_releases_its_arrays_on_a_length_error(size):
    n = size
    k, h, p, ln, t = KEYS[:n].copy(), HASHES[:n].copy(), PORTS[:n].copy(), LENGTHS[:n].copy(), TIMES[:n].copy()
    i64 = (k % np.uint64(16)).astype(np.int64)
    short = {dt: np.empty(n - 1, dt) for dt in (np.int32, np.uint32, np.uint16, np.uint64, np.int64)}
    meta = np.zeros(n, META_DTYPE)
    s, flows = _scheduler()
    calls = [
        lambda: PSNAllocator(64).tag_burst(k, p, h, t, None, short[np.uint32]),
        lambda: PSNAllocator(64).tag_burst(k, p, h, t, short[np.int32]),
        lambda: s.observe_burst(p, short[np.int64]),
        lambda: s.steer_burst(flows, i64, t, short[np.uint16]),
        lambda: IndirectionTable(4).queue_batch(h, short[np.uint16]),
        lambda: DETECTORS["tags"]().estimate_burst(k, short[np.uint64]),
        lambda: DETECTORS["countmin"]().update_burst(k, t, short[np.uint64]),
        lambda: Breakup(None, PSNAllocator(64), FlowletScheduler(4)).ingress_burst(
            k, h, p, ln, t, short[np.uint64]),
        lambda: Breakup(None, PSNAllocator(64), FlowletScheduler(4)).feedback_burst(
            p, t, short[np.int64]),
        lambda: Breakup(None, PSNAllocator(64), FlowletScheduler(4)).feedback_meta(
            meta, short[np.int64]),
    ]
    arrays = [k, h, p, ln, t, i64, meta, flows, *short.values()]
    before = _refcounts(*arrays)
    for call in calls:
        for _ in range(5):
            with pytest.raises(ValueError, match="must have length"):
                call()
    assert _refcounts(*arrays) == before


def test_unusual_arrays_still_take_the_checked_path():
    # equal but distinct dtype objects, ndarray subclasses, byte-swapped
    # dtypes: not the fast path's case, same answers or the same errors
    h = ToeplitzHasher()
    rows = ROWS[:40]
    want = toeplitz_batch(rows)

    class Sub(np.ndarray):
        pass

    assert toeplitz_batch(rows.view(Sub)).tolist() == want.tolist()
    same = pickle.loads(pickle.dumps(IPV4_TUPLE_DTYPE))  # equal, not the same object
    assert same == IPV4_TUPLE_DTYPE and same is not IPV4_TUPLE_DTYPE
    t = np.zeros(40, IPV4_TUPLE_DTYPE)
    t.view(np.uint8).reshape(40, 16)[:, :12] = rows
    assert rss_hash_batch(t.view(same)).tolist() == want.tolist()
    assert h.hash_records(t.view(Sub), 12).tolist() == want.tolist()
    reta = IndirectionTable(4)
    swapped = want.astype(">u4")
    with pytest.raises(TypeError, match="hashes must have dtype uint32"):
        reta.queue_batch(swapped)
    with pytest.raises(ValueError, match="records must be 1-D and C-contiguous"):
        h.hash_records(t[::2], 12)
    with pytest.raises(TypeError):
        h.hash_records(np.array([object()] * 3), 4)     # no Python objects hashed
    with pytest.raises(ValueError, match="must be C-contiguous|1-D"):
        toeplitz_batch(np.asfortranarray(np.zeros((5, 12), np.uint8)))


def _reorder_input():
    # in-order PSNs with 10 % of neighbouring pairs swapped, a few drop flags
    psns = np.arange(N, dtype=np.uint32)
    pairs = psns[: N // 2 * 2].reshape(-1, 2)
    swap = RNG.random(N // 2) < 0.10
    pairs[swap] = pairs[swap][:, ::-1]
    handles = np.arange(N, dtype=np.uint64) + np.uint64(1000)
    dropped = RNG.random(N) < 0.05
    return psns, handles, dropped


@pytest.mark.parametrize("size", SIZES)
def test_reorder_bursts_match_per_packet(size):
    from paraflowo import ReorderBuffer, ReorderQueues
    psns, handles, dropped = _reorder_input()
    ref = ReorderBuffer(1024, 500)      # holds every PSN: no FULL (process_burst drains first)
    want_st, want_out = [], []
    for c, (p, h, d) in enumerate(_cut(size, psns, handles, dropped)):
        for i in range(len(p)):
            want_st.append(int(ref.insert(int(p[i]), int(h[i]), 10 * c, bool(d[i]))))
        want_out += ref.drain(10 * c).tolist()
    rb, rbi = ReorderBuffer(1024, 500), ReorderBuffer(1024, 500)
    out, o2 = np.empty(N + 1024, np.uint64), np.empty(N + 1024, np.uint64)
    got_st, got_out, got_st2, got_out2 = [], [], [], []
    for c, (p, h, d) in enumerate(_cut(size, psns, handles, dropped)):
        st = np.empty(len(p), np.uint8)
        k = rb.process_burst(p, h, 10 * c, out, d, st)
        got_st += st.tolist()
        got_out += out[:k].tolist()
        got_st2 += rbi.insert_burst(p, h, 10 * c, d).tolist()
        k = rbi.drain_into(10 * c, o2)
        got_out2 += o2[:k].tolist()
    assert got_st == want_st == got_st2
    assert got_out == want_out == got_out2
    assert rb.stats == ref.stats == rbi.stats

    meta = np.zeros(N, META_DTYPE)
    meta["handle"], meta["psn"], meta["queue"] = handles, psns, psns % 3
    meta["flags"] = 1                                    # FLAG_PARA
    one, cut = ReorderQueues(3, 64, 500), ReorderQueues(3, 64, 500)
    a = np.empty(N + 3 * 64, np.uint64)
    k = one.process_burst(meta, 0, a)
    b = np.empty(N + 3 * 64, np.uint64)
    got = []
    for (m,) in _cut(size, meta):
        j = cut.process_burst(m, 0, b)
        got += b[:j].tolist()
    j = cut.drain_into(0, b)
    got += b[:j].tolist()
    assert sorted(got) == sorted(a[:k].tolist() + one.drain(0)[0].tolist())
    assert cut.stats.released == one.stats.released


def test_reorder_burst_methods_keep_their_signatures():
    import inspect

    from paraflowo import ReorderBuffer, ReorderQueues
    assert list(inspect.signature(ReorderBuffer.insert_burst).parameters) == [
        "self", "psns", "handles", "now_ns", "dropped", "status_out"]
    assert list(inspect.signature(ReorderBuffer.process_burst).parameters) == [
        "self", "psns", "handles", "now_ns", "out", "dropped", "status_out", "drain_every"]
    assert list(inspect.signature(ReorderQueues.process_burst).parameters) == [
        "self", "meta", "now_ns", "out", "out_queue", "status_out", "drain_every"]
    assert list(inspect.signature(ReorderQueues.drain_into).parameters) == [
        "self", "now_ns", "out", "out_queue"]


@pytest.mark.parametrize("size", [32, 300])
def test_reorder_bursts_release_their_arrays(size):
    from paraflowo import ReorderBuffer, ReorderQueues
    p, h = np.arange(size, dtype=np.uint32), np.arange(size, dtype=np.uint64)
    st, out, short = np.empty(size, np.uint8), np.empty(size, np.uint64), np.empty(size - 1, np.uint64)
    meta = np.zeros(size, META_DTYPE)
    arrays = [p, h, st, out, short, meta]
    before = _refcounts(*arrays)
    for _ in range(5):
        rb, rq = ReorderBuffer(1024, None), ReorderQueues(2, 1024, None)
        rb.insert_burst(p, h, 0, None, st)
        rb.drain_into(0, out)
        with pytest.raises(ValueError, match="must have the same length"):
            rb.insert_burst(p, short, 0)
        with pytest.raises(ValueError, match="out must have length"):
            ReorderBuffer(1024, None).process_burst(p, h, 0, short)
        rq.process_burst(meta, 0, out)
        with pytest.raises(ValueError, match="out must have length"):
            rq.process_burst(meta, 0, short, status_out=st)
    assert _refcounts(*arrays) == before


def test_each_module_learns_ndarray_from_its_first_exact_binding(tmp_path):
    # pfo_bind's inline test knows numpy.ndarray only once its module has had
    # an exact ndarray bound by _boundary (_bind.h: pfo_bind_learn).  In a
    # fresh interpreter, every module's first bindings are a subclass (checked
    # path: must not teach), a refused array, then exact arrays: same results,
    # same errors, references given back, before and after the learning.
    script = textwrap.dedent("""
        import sys
        import numpy as np
        from paraflowo import ElephantDetector, IndirectionTable, toeplitz_batch
        from paraflowo._core.policies import make_policy

        class Sub(np.ndarray):
            pass

        h = np.arange(64, dtype=np.uint32) * np.uint32(2654435761)
        keys = h.astype(np.uint64)
        rows = np.arange(64 * 12, dtype=np.uint8).reshape(64, 12)
        reta, det = IndirectionTable(4), ElephantDetector(max_tags=4)
        det.force(int(keys[3]), True)
        o16, o64, o32 = np.empty(64, np.uint16), np.empty(64, np.uint64), np.empty(64, np.uint32)
        arrays = [h, keys, rows, o16, o64, o32]
        before = [sys.getrefcount(a) for a in arrays]
        want = [reta.queue(int(x)) for x in h]
        for first in (True, False):
            for view in ((lambda a: a.view(Sub)), (lambda a: a)):
                assert reta.queue_batch(view(h), view(o16)).tolist() == want
                assert det.estimate_burst(view(keys), view(o64)).tolist() == [0] * 64
                toeplitz_batch(view(rows), out=view(o32))
                for bad, err in ((h.astype(np.int64), TypeError), (h[::2], ValueError)):
                    try:
                        reta.queue_batch(bad)
                    except err:
                        pass
                    else:
                        raise AssertionError("accepted a wrong array")
                try:
                    det.estimate_burst(keys, o64[:-1])
                except ValueError as e:
                    assert "out must have length 64, got 63" in str(e)
                else:
                    raise AssertionError("accepted a short out")
        t = np.arange(64, dtype=np.int64)
        got = [make_policy("rss", 4).steer_burst(*(view(a) for a in (keys, h, o16, o16, keys, t)))
               for view in ((lambda a: a.view(Sub)), (lambda a: a))]
        assert got[0].tobytes() == got[1].tobytes()
        assert set(got[1]["core"].tolist()) <= {0, 1, 2, 3}
        del got, t, bad                  # bad: the last, h[::2], holds h
        assert [sys.getrefcount(a) for a in arrays] == before
        print("ok")
    """)
    r = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "ok"


@pytest.mark.parametrize("size", [0, 1, 32, 300])
@pytest.mark.parametrize("name", ["rss", "spray", "rsspp", "paraflowo"])
def test_steer_burst_new_records_are_plain_meta_arrays(name, size):
    # without out, steer_burst creates its records as a plain void array and
    # retypes it (_bind.h: pfo_retype_new): the result must be an ordinary
    # META_DTYPE array owning its data, equal to the out= result
    from paraflowo._core.policies import make_policy

    args = (KEYS[:size], HASHES[:size], PORTS[:size], LENGTHS[:size], KEYS[:size],
            TIMES[:size])
    got = make_policy(name, 4).steer_burst(*args)
    out = np.zeros(size, META_DTYPE)
    make_policy(name, 4).steer_burst(*args, out)
    assert got.dtype is META_DTYPE or got.dtype == META_DTYPE
    assert got.flags.owndata and got.flags.aligned and got.flags.writeable
    assert got.base is None and got.shape == (size,)
    assert got.tobytes() == out.tobytes()
    assert pickle.loads(pickle.dumps(got)).tobytes() == got.tobytes()
    assert got["core"].tolist() == out["core"].tolist()
    assert sys.getrefcount(got) == 2


@pytest.mark.parametrize("size", [32, 300])
@pytest.mark.parametrize("short", range(6))
def test_steer_burst_refuses_any_short_input_and_releases_every_array(size, short):
    # steer_burst compares each input's length with keys' one by one: a short
    # array in any position is refused with the same message (naming every
    # length), nothing is steered, and every bound array is given back
    from paraflowo._core.policies import make_policy

    names = ["keys", "hashes", "ports", "lengths", "handles", "now_ns"]
    args = [a[:size].copy() for a in (KEYS, HASHES, PORTS, LENGTHS, KEYS, TIMES)]
    args[short] = args[short][:-1].copy()
    out = np.zeros(size, META_DTYPE)
    before = _refcounts(*args, out)
    got = ", ".join(f"{nm}={size - (i == short)}" for i, nm in enumerate(names))
    p = make_policy("rss", 4)
    for _ in range(3):
        with pytest.raises(ValueError, match=rf"^arrays must have the same length, got {got}$"):
            p.steer_burst(*args, out)
    assert p.stats()["steered"] == 0 and not out.tobytes().strip(b"\0")
    assert _refcounts(*args, out) == before
