"""Elephant detectors: examples, windows, tags, and every documented error."""

import inspect
import math

import numpy as np
import pytest

from paraflowo import CountMinDetector, ElephantDetector, ThresholdDetector

U64 = (1 << 64) - 1


def cm(**kw):
    args = dict(width=256, depth=4, threshold=10, window_ns=1000)
    args.update(kw)
    return CountMinDetector(**args)


def ss(**kw):
    args = dict(capacity=8, threshold=10, window_ns=1000)
    args.update(kw)
    return ThresholdDetector(**args)


DETECTORS = [cm, lambda **kw: cm(conservative=False, **kw), ss]
IDS = ["cm-conservative", "cm-plain", "space-saving"]


# -- behaviour ---------------------------------------------------------------


@pytest.mark.parametrize("make", DETECTORS, ids=IDS)
def test_elephant_at_threshold(make):
    det = make(threshold=5)
    flags = [det.update(99, now_ns=t) for t in range(5)]
    assert flags == [False] * 4 + [True]
    assert det.estimate(99) == 5
    assert det.estimate(100) == 0
    assert det.last_ns == 4


@pytest.mark.parametrize("make", DETECTORS, ids=IDS)
def test_bytes_as_amount(make):
    det = make(threshold=3000)
    assert not det.update(1, 0, 1500)
    assert det.update(1, 1, 1500)
    assert det.estimate(1) == 3000
    assert det.window_totals == (3000, 0)


@pytest.mark.parametrize("make", DETECTORS, ids=IDS)
def test_windows_age_out_within_two(make):
    det = make(threshold=3, window_ns=100)
    for t in (10, 20, 30):
        det.update(7, t)
    assert det.estimate(7) == 3
    det.advance(150)                      # next window: previous still counts
    assert det.estimate(7) == 3
    assert det.update(7, 160)             # 3 + 1 over the two windows
    det.advance(250)                      # the 160 packet is in the previous window
    assert det.estimate(7) == 1
    det.advance(300)                      # two windows after its last packet
    assert det.estimate(7) == 0
    assert not det.update(8, 300)


@pytest.mark.parametrize("make", DETECTORS, ids=IDS)
def test_gap_of_many_windows_clears_both(make):
    det = make(threshold=3, window_ns=100)
    det.update(7, 50, 10)
    det.advance(10_000)
    assert det.estimate(7) == 0
    assert det.window_totals == (0, 0)


@pytest.mark.parametrize("make", DETECTORS, ids=IDS)
def test_reset_keeps_tags(make):
    det = make(threshold=2)
    det.force(5, True)
    det.update(6, 100, 10)
    det.reset()
    assert det.estimate(6) == 0 and det.last_ns == -1
    assert det.update(5, 0) and det.forced(5) is True


def test_tags_only_detector():
    tags = ElephantDetector(max_tags=2)
    assert repr(tags) == "ElephantDetector(max_tags=2)"
    assert not tags.update(1, 0)
    tags.force(1, True)
    tags.force(2, False)
    assert tags.n_forced == 2
    assert tags.update(1, 5) and not tags.update(2, 5)
    tags.force(2, True)                   # re-forcing a held key never needs room
    assert tags.update(2, 6)
    assert tags.unforce(1) and not tags.unforce(1)
    assert tags.forced(1) is None and tags.n_forced == 1
    tags.clear_tags()
    assert tags.n_forced == 0 and not tags.update(2, 7)
    assert tags.estimate(2) == 0
    out = tags.update_burst(np.array([1, 2], np.uint64), 8)
    assert out.tolist() == [False, False]


@pytest.mark.parametrize("make", DETECTORS, ids=IDS)
def test_forced_tag_overrides_measure(make):
    det = make(threshold=2)
    det.force(1, False)
    det.force(2, True)
    assert [det.update(1, t) for t in range(4)] == [False] * 4
    assert det.estimate(1) == 4               # forced keys are still counted
    assert det.update(2, 4)
    assert det.unforce(1)
    assert det.update(1, 5)
    out = det.update_burst(np.array([1, 2, 3], np.uint64), 6)
    assert out.tolist() == [True, True, False]


def test_tag_table_fills_then_errors_unchanged():
    det = cm(max_tags=3)
    for k in (10, 20, 30):
        det.force(k, True)
    with pytest.raises(ValueError, match="tag table is full: max_tags=3.*got key 40"):
        det.force(40, True)
    assert det.n_forced == 3 and det.forced(40) is None
    det.force(30, False)                      # held key: allowed when full
    assert det.forced(30) is False
    det.unforce(20)
    det.force(40, True)
    assert [det.forced(k) for k in (10, 20, 30, 40)] == [True, None, False, True]


def test_zero_max_tags():
    det = ElephantDetector(max_tags=0)
    with pytest.raises(ValueError, match="max_tags=0"):
        det.force(1, True)


def test_many_tags_churn():
    # backward-shift deletion keeps every remaining key reachable
    rng = np.random.default_rng(1)
    det = ElephantDetector(max_tags=64)
    model = {}
    for _ in range(3000):
        k = int(rng.integers(0, 200))
        if k in model and rng.random() < 0.5:
            assert det.unforce(k)
            del model[k]
        elif len(model) < 64 or k in model:
            on = bool(rng.random() < 0.5)
            det.force(k, on)
            model[k] = on
    assert det.n_forced == len(model)
    assert all(det.forced(k) == model.get(k) for k in range(200))


def test_count_min_properties_and_repr():
    det = CountMinDetector(4096, 4, 100, 10**6, conservative=False, seed=3)
    assert repr(det) == (
        "CountMinDetector(width=4096, depth=4, threshold=100, window_ns=1000000, "
        "conservative=False, seed=3, row_hashes='fused')")
    assert det.row_hashes == "fused"
    assert det.epsilon == pytest.approx(math.e / 4096)
    assert det.delta == pytest.approx(math.exp(-4))
    assert det.nbytes == 8 * 4096 * 4
    det.update_burst(np.arange(1000, dtype=np.uint64), 5)
    assert det.error_bound == pytest.approx(1000 * math.e / 4096)


def test_count_min_seed_changes_collisions_not_truth():
    keys = np.arange(5000, dtype=np.uint64)
    a = CountMinDetector(64, 2, 10, 1000, seed=1)
    b = CountMinDetector(64, 2, 10, 1000, seed=2)
    c = CountMinDetector(64, 2, 10, 1000, seed=1)
    for d in (a, b, c):
        d.update_burst(keys, 0)
    ea = [a.estimate(int(k)) for k in keys[:200]]
    assert ea == [c.estimate(int(k)) for k in keys[:200]]          # same seed
    assert ea != [b.estimate(int(k)) for k in keys[:200]]          # other seed
    assert min(ea) >= 1


def test_rows_are_independent_hashes():
    # Keys that collide in one row should mostly not collide in another (a CRC
    # with per-row seeds collides in every row at once).
    det = CountMinDetector(1024, 2, 10, 1000, conservative=False, seed=9)
    det.update(0, 0)
    keys = np.arange(1, 200_000, dtype=np.uint64)
    # estimate > 0 only if key collides with key 0 in both rows
    both = sum(det.estimate(int(k)) > 0 for k in keys[:20000])
    assert both <= 5          # expected 20000 / 1024**2 ~ 0.02


def test_count_saturates_instead_of_wrapping():
    det = cm(threshold=U64, conservative=False)
    det.update(1, 0, 2**40)
    det.update(1, 0, 2**40)
    assert det.estimate(1) == 2**32 - 1      # one window's 32-bit counters saturate
    assert det.window_totals == (2**41, 0)   # totals are 64-bit
    assert not det.update(1, 0, U64)
    t = ss(threshold=U64)
    t.update(1, 0, U64)
    assert t.update(1, 0, U64)               # saturates at 2**64 - 1, reaches threshold
    assert t.estimate(1) == U64


def test_space_saving_replaces_smallest():
    det = ThresholdDetector(2, 3, 1000)
    assert [det.update(k, 0) for k in (1, 1, 2, 3, 1)] == [False, False, False, False, True]
    assert (det.estimate(1), det.estimate(2), det.estimate(3)) == (3, 0, 2)
    keys, counts, errors = det.items()
    assert dict(zip(keys.tolist(), zip(counts.tolist(), errors.tolist()))) == {
        1: (3, 0), 3: (2, 1)}
    assert det.tracked(3) and not det.tracked(2)
    assert repr(det) == "SpaceSavingDetector(capacity=2, threshold=3, window_ns=1000)"


def test_space_saving_exact_below_capacity():
    rng = np.random.default_rng(2)
    keys = rng.integers(0, 100, 5000).astype(np.uint64)
    amounts = rng.integers(1, 1500, 5000).astype(np.uint64)
    det = ThresholdDetector(100, U64, 10**9)
    det.update_burst(keys, 0, amounts)
    truth = {}
    for k, a in zip(keys.tolist(), amounts.tolist()):
        truth[k] = truth.get(k, 0) + a
    assert {k: det.estimate(k) for k in truth} == truth


@pytest.mark.parametrize("make", DETECTORS, ids=IDS)
def test_burst_time_forms(make):
    keys = np.array([1, 1, 1, 2, 1], np.uint64)
    a, b = make(threshold=3, window_ns=10), make(threshold=3, window_ns=10)
    out = np.zeros(5, bool)
    got = a.update_burst(keys, np.array([0, 1, 2, 15, 40], np.int64), out=out)
    assert got is out
    want = [b.update(int(k), t) for k, t in zip(keys, (0, 1, 2, 15, 40))]
    assert got.tolist() == want == [False, False, True, False, False]
    assert a.last_ns == 40
    # an empty burst still lets time pass (scalar time)
    assert a.update_burst(np.array([], np.uint64), 100).shape == (0,)
    assert a.last_ns == 100


@pytest.mark.parametrize("make", DETECTORS, ids=IDS)
def test_update_fast_path_edge_ints(make):
    # Python ints of one, two and three 30-bit digits, the ends of each range,
    # the default amount and explicit ones: the same flags and estimates as a
    # burst, and the True/False singletons.
    keys = [0, 1, 2**30 - 1, 2**30, 2**60 - 1, 2**60, 2**63, U64 - 1, U64, 12345]
    amounts = [1, 0, 2**32, 1, U64, 1, 2**30, 3, 1, 2**62]
    per, bur = make(threshold=2**31), make(threshold=2**31)
    got = [per.update(k, 2**40) for k in keys] + [
        per.update(k, 2**62 + 7, a) for k, a in zip(keys, amounts)]
    assert all(g is True or g is False for g in got)
    want = bur.update_burst(np.array(keys, np.uint64), 2**40).tolist()
    want += bur.update_burst(np.array(keys, np.uint64), 2**62 + 7,
                             np.array(amounts, np.uint64)).tolist()
    assert got == want and any(got) and not all(got)
    assert [per.estimate(k) for k in keys] == [bur.estimate(k) for k in keys]
    assert per.last_ns == bur.last_ns == 2**62 + 7


def test_update_signature():
    params = inspect.signature(CountMinDetector.update).parameters
    assert list(params) == ["self", "key", "now_ns", "amount"]
    assert params["amount"].default == 1
    assert list(inspect.signature(cm().update).parameters) == ["key", "now_ns", "amount"]


def test_update_accepts_numpy_integers():
    det = cm(threshold=2)
    det.update(np.uint64(2**63 + 5), np.int64(3), np.uint16(1))
    assert det.update(2**63 + 5, 4)


# -- errors: typed, naming the value, state unchanged -------------------------


@pytest.mark.parametrize(
    "kwargs, exc, fragment",
    [
        (dict(width=1000), ValueError, "width must be a power of two in [2, 2**24], got 1000"),
        (dict(width=0), ValueError, "width must be a power of two in [2, 2**24], got 0"),
        (dict(width=1), ValueError, "got 1"),
        (dict(width=2**25), ValueError, "got 33554432"),
        (dict(width=4.0), TypeError, "width must be an integer, got 4.0"),
        (dict(depth=0), ValueError, "depth must be in [1, 16], got 0"),
        (dict(depth=17), ValueError, "depth must be in [1, 16], got 17"),
        (dict(threshold=0), ValueError, "threshold must be in [1, 2**64 - 1], got 0"),
        (dict(threshold=2**64), ValueError, "got 18446744073709551616"),
        (dict(window_ns=0), ValueError, "window_ns must be in [1, 2**62], got 0"),
        (dict(window_ns=-5), ValueError, "got -5"),
        (dict(conservative=1), TypeError, "conservative must be a bool, got 1"),
        (dict(seed=-1), ValueError, "seed must be in [0, 2**64 - 1], got -1"),
        (dict(seed="x"), TypeError, "seed must be an integer, got 'x'"),
        (dict(max_tags=-1), ValueError, "max_tags must be in [0, 2**24], got -1"),
        (dict(row_hashes=1), TypeError, "row_hashes must be a str, got 1"),
        (dict(row_hashes=None), TypeError, "row_hashes must be a str, got None"),
        (dict(row_hashes=b"fused"), TypeError, "row_hashes must be a str, got b'fused'"),
        (dict(row_hashes="Fused"), ValueError,
         "row_hashes must be 'fused' or 'independent', got 'Fused'"),
        (dict(row_hashes="per-row"), ValueError, "got 'per-row'"),
    ],
)
def test_count_min_constructor_errors(kwargs, exc, fragment):
    with pytest.raises(exc) as info:
        cm(**kwargs)
    assert fragment in str(info.value)


@pytest.mark.parametrize(
    "kwargs, exc, fragment",
    [
        (dict(capacity=0), ValueError, "capacity must be in [1, 2**24], got 0"),
        (dict(capacity=2**24 + 1), ValueError, "got 16777217"),
        (dict(capacity=None), TypeError, "capacity must be an integer, got None"),
        (dict(threshold=0), ValueError, "threshold must be in [1, 2**64 - 1], got 0"),
        (dict(window_ns=0), ValueError, "window_ns must be in [1, 2**62], got 0"),
        (dict(max_tags=2**24 + 1), ValueError, "max_tags must be in [0, 2**24]"),
    ],
)
def test_threshold_constructor_errors(kwargs, exc, fragment):
    with pytest.raises(exc) as info:
        ss(**kwargs)
    assert fragment in str(info.value)


def test_tags_constructor_error():
    with pytest.raises(TypeError, match="max_tags must be an integer, got '8'"):
        ElephantDetector(max_tags="8")


def _state(det):
    return (det.last_ns, det.window_totals, [det.estimate(k) for k in range(4)])


@pytest.mark.parametrize("make", DETECTORS, ids=IDS)
@pytest.mark.parametrize(
    "args, exc, fragment",
    [
        ((-1, 50), ValueError, "key must be in [0, 2**64 - 1], got -1"),
        ((2**64, 50), ValueError, "key must be in [0, 2**64 - 1], got 18446744073709551616"),
        ((1.0, 50), TypeError, "key must be an integer, got 1.0"),
        ((True, 50), TypeError, "key must be an integer, got True"),
        (("1", 50), TypeError, "key must be an integer, got '1'"),
        ((1, -1), ValueError, "now_ns must be in [0, 2**63 - 1], got -1"),
        ((1, 2**63), ValueError, "got 9223372036854775808"),
        ((1, 50.0), TypeError, "now_ns must be an integer, got 50.0"),
        ((1, 49), ValueError, "now_ns must not go backwards, got 49 after 50"),
        ((1, 50, -3), ValueError, "amount must be in [0, 2**64 - 1], got -3"),
        ((1, 50, 2**64), ValueError, "got 18446744073709551616"),
        ((1, 50, 1.5), TypeError, "amount must be an integer, got 1.5"),
    ],
)
def test_update_errors_leave_state(make, args, exc, fragment):
    det = make()
    det.update(1, 50, 3)
    before = _state(det)
    with pytest.raises(exc) as info:
        det.update(*args)
    assert fragment in str(info.value)
    assert _state(det) == before


@pytest.mark.parametrize("make", DETECTORS, ids=IDS)
def test_advance_and_estimate_errors(make):
    det = make()
    det.update(1, 50)
    before = _state(det)
    with pytest.raises(ValueError, match="now_ns must not go backwards, got 10 after 50"):
        det.advance(10)
    with pytest.raises(ValueError, match=r"key must be in \[0, 2\*\*64 - 1\], got -2"):
        det.estimate(-2)
    with pytest.raises(TypeError, match="key must be an integer, got 2.5"):
        det.estimate(2.5)
    assert _state(det) == before


K3 = np.array([1, 2, 3], np.uint64)


@pytest.mark.parametrize("make", DETECTORS, ids=IDS)
@pytest.mark.parametrize(
    "call, exc, fragment",
    [
        (lambda d: d.update_burst([1, 2], 60), TypeError,
         "keys must be a numpy.ndarray of dtype uint64, got list"),
        (lambda d: d.update_burst(K3.astype(np.int64), 60), TypeError,
         "keys must have dtype uint64, got int64"),
        (lambda d: d.update_burst(K3.reshape(3, 1), 60), ValueError,
         "keys must be 1-dimensional, got shape (3, 1)"),
        (lambda d: d.update_burst(np.arange(6, dtype=np.uint64)[::2], 60), ValueError,
         "keys must be C-contiguous"),
        (lambda d: d.update_burst(K3, 40), ValueError,
         "now_ns must not go backwards, got 40 after 50"),
        (lambda d: d.update_burst(K3, -1), ValueError, "now_ns must be in [0, 2**63 - 1], got -1"),
        (lambda d: d.update_burst(K3, 60.0), TypeError, "now_ns must be an integer, got 60.0"),
        (lambda d: d.update_burst(K3, np.array([60, 61, 62], np.uint64)), TypeError,
         "now_ns must have dtype int64, got uint64"),
        (lambda d: d.update_burst(K3, np.array([60, 61], np.int64)), ValueError,
         "now_ns must have length 3, got 2"),
        (lambda d: d.update_burst(K3, np.array([60, 59, 62], np.int64)), ValueError,
         "now_ns must not go backwards, got now_ns[1] = 59 after 60"),
        (lambda d: d.update_burst(K3, np.array([49, 60, 62], np.int64)), ValueError,
         "got now_ns[0] = 49 after 50"),
        (lambda d: d.update_burst(K3, np.array([60, 70, -1], np.int64)), ValueError,
         "now_ns must be >= 0, got now_ns[2] = -1"),
        (lambda d: d.update_burst(K3, 60, amounts=np.ones(3, np.uint32)), TypeError,
         "amounts must have dtype uint64, got uint32"),
        (lambda d: d.update_burst(K3, 60, amounts=np.ones(4, np.uint64)), ValueError,
         "amounts must have length 3, got 4"),
        (lambda d: d.update_burst(K3, 60, out=np.zeros(3, np.uint8)), TypeError,
         "out must have dtype bool, got uint8"),
        (lambda d: d.update_burst(K3, 60, out=np.zeros(2, bool)), ValueError,
         "out must have length 3, got 2"),
    ],
)
def test_burst_errors_leave_state(make, call, exc, fragment):
    det = make()
    det.update(1, 50, 3)
    before = _state(det)
    with pytest.raises(exc) as info:
        call(det)
    assert fragment in str(info.value)
    assert _state(det) == before


@pytest.mark.parametrize(
    "call, exc, fragment",
    [
        (lambda d: d.force(-1, True), ValueError, "key must be in [0, 2**64 - 1], got -1"),
        (lambda d: d.force(1.5, True), TypeError, "key must be an integer, got 1.5"),
        (lambda d: d.force(1, 1), TypeError, "on must be a bool, got 1"),
        (lambda d: d.force(1, None), TypeError, "on must be a bool, got None"),
        (lambda d: d.unforce(2**64), ValueError, "got 18446744073709551616"),
        (lambda d: d.forced("k"), TypeError, "key must be an integer, got 'k'"),
    ],
)
def test_tag_errors_leave_tags(call, exc, fragment):
    det = cm()
    det.force(7, True)
    with pytest.raises(exc) as info:
        call(det)
    assert fragment in str(info.value)
    assert det.n_forced == 1 and det.forced(7) is True and det.forced(1) is None


def test_not_picklable():
    import pickle

    with pytest.raises(TypeError):
        pickle.dumps(cm())


@pytest.mark.parametrize("make", DETECTORS, ids=IDS)
def test_estimate_burst(make):
    det = make()
    keys = np.array([3, 3, 4, 2**64 - 1], np.uint64)
    det.update_burst(keys, 0, np.array([1, 2, 3, 4], np.uint64))
    probe = np.array([3, 4, 5, 2**64 - 1], np.uint64)
    want = [det.estimate(int(k)) for k in probe]
    assert det.estimate_burst(probe).tolist() == want == [3, 3, 0, 4]
    out = np.zeros(4, np.uint64)
    assert det.estimate_burst(probe, out=out) is out
    with pytest.raises(TypeError, match="keys must have dtype uint64, got int64"):
        det.estimate_burst(probe.astype(np.int64))
    with pytest.raises(ValueError, match="out must have length 4, got 3"):
        det.estimate_burst(probe, out=np.zeros(3, np.uint64))


@pytest.mark.parametrize("row_hashes", ["fused", "independent"])
@pytest.mark.parametrize("family", ["sequential", "high-half", "strided", "random"])
def test_row_hash_spreads_structured_keys(family, row_hashes):
    # One row, 1024 columns, 16384 keys: each column should hold ~16 keys
    # whatever the key structure (a hash on the low bits only would put all
    # "high-half" keys in one column).
    n, width = 16384, 1024
    i = np.arange(n, dtype=np.uint64)
    keys = {
        "sequential": i,
        "high-half": i << np.uint64(32),
        "strided": i * np.uint64(1 << 20) + np.uint64(12345),
        "random": np.random.default_rng(4).integers(0, 2**63, n).astype(np.uint64),
    }[family]
    for seed in (0, 1):
        det = CountMinDetector(width, 1, 10**9, 10**9, conservative=False, seed=seed,
                               row_hashes=row_hashes)
        det.update_burst(keys, 0)
        loads = det.estimate_burst(keys)          # each key sees its column's load
        per_column = n / width
        assert loads.max() <= per_column + 8 * per_column**0.5, (family, seed, loads.max())
        # mean load seen by a key: 1 + (n - 1) / width for a uniform hash, more if uneven
        assert loads.mean() <= 1.25 * (1 + (n - 1) / width), (family, seed, loads.mean())


@pytest.mark.parametrize("conservative", [True, False])
@pytest.mark.parametrize("depth", [4, 3])
def test_unit_burst_near_counter_limit_saturates(conservative, depth):
    # A unit-amount burst that could push a counter past 2**32 - 1 takes the
    # saturating path (the window total decides), so counters never wrap.
    det = CountMinDetector(64, depth, U64, 10**9, conservative=conservative)
    det.update(1, 0, 2**32 - 10)
    det.update_burst(np.full(20, 1, np.uint64), 0)
    assert det.estimate(1) == 2**32 - 1
    assert det.window_totals == (2**32 + 10, 0)


@pytest.mark.parametrize("make", DETECTORS, ids=IDS)
def test_second_thread_is_refused_while_a_burst_runs(make):
    # A burst releases the GIL; another thread touching the same detector
    # meanwhile gets a RuntimeError instead of corrupting it.
    import threading

    det, ref = make(threshold=50), make(threshold=50)
    keys = np.random.default_rng(3).integers(0, 5000, 4_000_000).astype(np.uint64)
    results = {}
    started = threading.Event()

    def work():
        started.set()
        results["out"] = det.update_burst(keys, 10)

    worker = threading.Thread(target=work)
    worker.start()
    started.wait()
    refused = None
    empty = np.empty(0, np.uint64)
    while refused is None:
        try:
            # state-neutral probe: before the burst it lets time reach 0 (no
            # packets yet), after it it is rejected as time going backwards
            det.update_burst(empty, 0)
        except RuntimeError as e:
            assert "CountMinDetector" in str(e) or "SpaceSavingDetector" in str(e)
            assert "in use by another thread" in str(e)
            refused = True
        except ValueError:
            refused = False          # the burst already finished
    worker.join()
    assert refused
    np.testing.assert_array_equal(results["out"], ref.update_burst(keys, 10))
    with pytest.raises(ValueError):
        det.update_burst(empty, 0)   # usable again: a plain time error
    assert det.update(1, 10) == ref.update(1, 10)


class _KeyArray(np.ndarray):
    pass


@pytest.mark.parametrize("make", DETECTORS, ids=IDS)
def test_burst_checked_path_edge_arrays(make):
    # Arrays the fast path declines go through the checked path: same result
    # for valid ones, a named error for the others, state unchanged.
    det, ref = make(threshold=2), make(threshold=2)
    keys = np.array([4, 4, 9], np.uint64)
    sub = keys.view(_KeyArray)
    assert det.update_burst(sub, 5).tolist() == ref.update_burst(keys, 5).tolist()
    before = _state(det)
    with pytest.raises(TypeError, match=r"keys must have dtype uint64, got >u8"):
        det.update_burst(keys.astype(">u8"), 6)
    ro = np.zeros(3, bool)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="out must be writable, got a read-only array"):
        det.update_burst(keys, 6, out=ro)
    with pytest.raises(ValueError, match="now_ns must be in"):
        det.update_burst(keys, 2**70)
    with pytest.raises(TypeError, match="now_ns must be an integer, got True"):
        det.update_burst(keys, True)
    assert _state(det) == before
    assert det.update_burst(keys, np.int64(7)).tolist() == ref.update_burst(keys, 7).tolist()


@pytest.mark.parametrize("x, y", [(0, 1), (5, 5 + 2**32), (0, 2**63), (2**64 - 1, 2**64 - 2),
                                  (12345, 12345 ^ (1 << 40))])
def test_row_hash_pair_collides_with_probability_one_over_width(x, y):
    # Strong universality over the seed: a fixed pair of keys lands in the
    # same column of a 16-wide row in about 1/16 of the seeds, and the two
    # rows of one detector collide independently (about 1/256 for both).
    n = 6000
    one = both = 0
    for seed in range(n):
        det = CountMinDetector(16, 2, 10**9, 10**9, conservative=False, seed=seed)
        det.update(x, 0)
        # depth 2: estimate(y) > 0 iff y collides with x in both rows
        both += det.estimate(y) > 0
        row = CountMinDetector(16, 1, 10**9, 10**9, conservative=False, seed=seed)
        row.update(x, 0)
        one += row.estimate(y) > 0
    p, sd = 1 / 16, (1 / 16 * 15 / 16 / n) ** 0.5
    assert abs(one / n - p) < 4.5 * sd, one / n
    assert both / n < 3 * (1 / 256), both / n


# -- row_hashes: one shared hash ("fused") or one per row ("independent") ----

def test_row_hashes_attribute_repr_and_default():
    det = CountMinDetector(4096, 4, 10, 1000, seed=5, row_hashes="independent")
    assert det.row_hashes == "independent"
    assert repr(det).endswith("seed=5, row_hashes='independent')")
    assert cm().row_hashes == "fused"
    with pytest.raises(AttributeError):
        det.row_hashes = "fused"
    assert det.row_hashes == "independent"
    with pytest.raises(TypeError):                    # keyword-only
        CountMinDetector(4096, 4, 10, 1000, True, 0, "independent")


@pytest.mark.parametrize("bad, exc", [(3, TypeError), ("both", ValueError)])
def test_row_hashes_error_on_reinit_leaves_state(bad, exc):
    det = cm(row_hashes="independent")
    det.update(1, 50, 3)
    before = _state(det)
    with pytest.raises(exc, match="row_hashes must be"):
        det.__init__(4096, 4, 10, 1000, row_hashes=bad)
    assert _state(det) == before
    assert (det.row_hashes, det.width) == ("independent", 256)


@pytest.mark.parametrize("width, depth", [(2**17, 4), (2**13, 5), (2**22, 3)])
def test_independent_equals_fused_where_fused_uses_per_row_hashes(width, depth):
    # depth * log2(width) > 64: "fused" falls back to per-row hashes, drawn
    # the same way, so both choices give bit-identical sketches.
    rng = np.random.default_rng(width)
    keys = rng.integers(0, 2**64, 3000, dtype=np.uint64)[rng.integers(0, 3000, 20000)]
    dets = [CountMinDetector(width, depth, 5, 1000, seed=11, row_hashes=rh)
            for rh in ("fused", "independent")]
    outs = [d.update_burst(keys, 0) for d in dets]
    assert outs[0].tolist() == outs[1].tolist()
    assert dets[0].estimate_burst(keys).tolist() == dets[1].estimate_burst(keys).tolist()
    assert [d.update(int(keys[0]), 10, 7) for d in dets] == [True, True]


def test_independent_and_fused_hash_differently_at_4096x4():
    # width 4096, depth 4: "fused" is the shared 128-bit hash, "independent"
    # four pair-multiply-shifts: the same stream collides differently.
    keys = np.arange(20000, dtype=np.uint64)
    f = CountMinDetector(4096, 4, 5, 1000, conservative=False, seed=2)
    i = CountMinDetector(4096, 4, 5, 1000, conservative=False, seed=2, row_hashes="independent")
    for d in (f, i):
        d.update_burst(keys, 0)
        assert d.estimate_burst(keys).min() >= 1          # never below the truth
    assert f.estimate_burst(keys).tolist() != i.estimate_burst(keys).tolist()


@pytest.mark.parametrize("row_hashes", ["fused", "independent"])
def test_row_failures_multiply_across_rows(row_hashes):
    # The step of the Count-Min proof that gives delta = e**-depth: a key's
    # estimate overshoots eps * N in all d rows with probability p1**d, p1 the
    # probability for one row.  8 keys of 100 packets and a probe key of 1 in
    # an 8-wide sketch: a row overshoots (> e/8 * 801 = 272) when 3 of the 8
    # share the probe's column, p1 ~ 6.7 %.  Over 20,000 seeds (fixed: the
    # test is deterministic) the depth-2 rate must match p1**2 and every rate
    # must stay below delta.  Proven for "independent" (the rows are
    # independent draws); measured for "fused".
    rng = np.random.default_rng(5)
    keys = rng.integers(0, 2**64, 9, dtype=np.uint64)
    amounts = np.full(9, 100, np.uint64)
    amounts[-1] = 1
    probe, n_total, n = int(keys[-1]), int(amounts.sum()), 20000
    rate = {}
    for depth in (1, 2, 3):
        fails = 0
        for seed in range(n):
            det = CountMinDetector(8, depth, 10**9, 10**9, conservative=False, seed=seed,
                                   row_hashes=row_hashes)
            det.update_burst(keys, 0, amounts)
            fails += det.estimate(probe) - 1 > det.epsilon * n_total
        rate[depth] = fails / n
        assert rate[depth] <= math.exp(-depth), (depth, rate)
    p1 = rate[1]
    assert 0.04 < p1 < 0.1, rate                          # the case is not trivial
    sd = (p1**2 * (1 - p1**2) / n) ** 0.5 + 2 * p1 * (p1 * (1 - p1) / n) ** 0.5
    assert abs(rate[2] - p1**2) < 4.5 * sd, (rate, p1**2)


UNINIT = "is not initialised: .*__init__ was not called"


@pytest.mark.parametrize("cls", [ElephantDetector, CountMinDetector, ThresholdDetector])
@pytest.mark.parametrize("how", ["new", "subclass"])
def test_not_initialised_detector_raises_instead_of_crashing(cls, how):
    if how == "new":
        det = cls.__new__(cls)
    else:
        det = type("Forgetful", (cls,), {"__init__": lambda self: None})()
    keys = np.array([1, 2], np.uint64)
    for call in (lambda: det.update(1, 0), lambda: det.update_burst(keys, 0),
                 lambda: det.estimate(1), lambda: det.estimate_burst(keys),
                 lambda: det.advance(0), lambda: det.force(1, True), lambda: det.unforce(1),
                 lambda: det.forced(1), lambda: det.clear_tags()):
        with pytest.raises(RuntimeError, match=UNINIT):
            call()
    assert det.n_forced == 0 and det.last_ns == -1
    # __init__ makes it usable
    if cls is ElephantDetector:
        cls.__init__(det, max_tags=2)
    elif cls is CountMinDetector:
        cls.__init__(det, 64, 2, 3, 1000)
    else:
        cls.__init__(det, 4, 3, 1000)
    assert det.update(1, 0) is False and det.estimate(1) in (0, 1)


def test_failed_first_init_leaves_detector_not_initialised():
    det = CountMinDetector.__new__(CountMinDetector)
    with pytest.raises(ValueError, match="width must be"):
        det.__init__(3, 2, 3, 1000)
    with pytest.raises(RuntimeError, match=UNINIT):
        det.update(1, 0)


def test_space_saving_detector_is_threshold_detector():
    # One class, two names: SpaceSavingDetector (its name) and the alias
    # ThresholdDetector, both exported from paraflowo and the core module.
    import paraflowo
    from paraflowo._core import detectors as core

    assert paraflowo.SpaceSavingDetector is paraflowo.ThresholdDetector
    assert core.SpaceSavingDetector is core.ThresholdDetector is paraflowo.SpaceSavingDetector
    assert paraflowo.SpaceSavingDetector.__name__ == "SpaceSavingDetector"
    assert {"SpaceSavingDetector", "ThresholdDetector"} <= set(paraflowo.__all__)
    det = paraflowo.ThresholdDetector(capacity=2, threshold=3, window_ns=1000)
    assert isinstance(det, paraflowo.SpaceSavingDetector)
    assert isinstance(det, paraflowo.ElephantDetector)
    assert [det.update(k, now_ns=0) for k in (1, 1, 1)] == [False, False, True]
