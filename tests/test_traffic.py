"""The traffic generator: the compiled packed sort against the numpy generator it replaced.

``paraflowo simulate`` must give the same numbers for the same seed as before
the generator moved its sort into the compiled core, so the generator is
checked, chunk by chunk, against the previous numpy implementation (kept here
as the reference: draws from the same random stream, ``np.sort`` of the same
packed keys).
"""

import tomllib

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from paraflowo._core.sim import sort_arrivals
from paraflowo.sim import load_scenario, parse_scenario
from paraflowo.sim.traffic import Traffic, make_flows


def _interval_reference(self, a, b, rate, pois_idx, const_idx, next_c):
    # the numpy generator as it was (paraflowo 0.1.0.dev0, before the radix sort)
    rng = self.rng
    span = b - a
    counts = rng.poisson(rate[pois_idx] * (span / 1e9))
    m = int(counts.sum())
    off = np.floor(rng.random(m) * span).astype(np.int64)
    fid = np.repeat(pois_idx.astype(np.int64), counts)
    if len(const_idx):
        period = 1e9 / rate[const_idx]
        k = np.maximum(0, np.ceil((b - next_c) / period)).astype(np.int64)
        base = np.repeat(next_c - a, k)
        step = np.repeat(period, k)
        starts = np.repeat(np.cumsum(k) - k, k)
        kk = np.arange(int(k.sum())) - starts
        coff = np.floor(base + kk * step).astype(np.int64)
        off = np.concatenate([off, np.clip(coff, 0, span - 1)])
        fid = np.concatenate([fid, np.repeat(const_idx.astype(np.int64), k)])
        next_c += k * period
    keys = np.sort((off << self.flow_bits) | fid)
    times = (keys >> self.flow_bits) + a
    flows = (keys & ((1 << self.flow_bits) - 1)).astype(np.int32)
    return times, flows


class _ReferenceTraffic(Traffic):
    _interval = _interval_reference


def _same_chunks(scenario, seed, duration_ns):
    flows = make_flows(scenario, np.random.default_rng(seed))
    period = int(round(scenario.jitter_period_s * 1e9))
    new = Traffic(flows, duration_ns, period, np.random.default_rng(seed + 1))
    ref = _ReferenceTraffic(flows, duration_ns, period, np.random.default_rng(seed + 1))
    n = 0
    for x, y in zip(new.chunks(), ref.chunks(), strict=True):
        assert x.end_ns == y.end_ns
        assert x.times.dtype == y.times.dtype and x.flows.dtype == y.flows.dtype
        np.testing.assert_array_equal(x.times, y.times)
        np.testing.assert_array_equal(x.flows, y.flows)
        n += len(x.times)
    return n


def test_paper_fig7_chunks_are_unchanged():
    # the README's scenario: a jittered elephant and 100 Poisson mice, 0.6 s
    # (3 chunks, the jitter period split inside them)
    sc = load_scenario("paper-fig7")
    assert _same_chunks(sc.with_duration(0.6), 1, int(0.6e9)) > 500_000


def test_chunks_kept_by_the_caller_stay_intact():
    # the generator reuses its buffer of uniform draws from interval to
    # interval: the chunks it handed out must not share memory with it
    sc = load_scenario("paper-fig7").with_duration(0.5)
    flows = make_flows(sc, np.random.default_rng(3))
    new = list(Traffic(flows, int(0.5e9), int(0.2e9), np.random.default_rng(4)).chunks())
    ref = list(_ReferenceTraffic(flows, int(0.5e9), int(0.2e9),
                                 np.random.default_rng(4)).chunks())
    assert len(new) == len(ref) >= 3
    for x, y in zip(new, ref, strict=True):
        assert x.end_ns == y.end_ns
        np.testing.assert_array_equal(x.times, y.times)
        np.testing.assert_array_equal(x.flows, y.flows)


TOML = """
name = "t"
duration_s = 0.01
seed = 1
jitter_period_s = {period}
[cores]
count = 2
service_mpps = [1.0, 1.0]
[[flows]]
count = {n_pois}
rate_pps = [1000, {top}]
jitter = {jitter}
[[flows]]
count = {n_const}
rate_pps = {crate}
arrivals = "constant"
"""


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_pois=st.integers(1, 300),
       n_const=st.integers(1, 40), top=st.sampled_from([2000, 50_000, 3_000_000]),
       crate=st.sampled_from([1, 999, 250_000]), jitter=st.sampled_from([0.0, 0.3]),
       period=st.sampled_from([0.001, 0.0037, 1.0]))
def test_any_mix_of_flows_gives_the_same_chunks(seed, n_pois, n_const, top, crate, jitter,
                                                period):
    text = TOML.format(n_pois=n_pois, n_const=n_const, top=top, crate=crate, jitter=jitter,
                       period=period)
    sc = parse_scenario(tomllib.loads(text))
    _same_chunks(sc, seed, int(0.01e9))


@settings(max_examples=60, deadline=None)
@given(data=st.data(), bits=st.integers(1, 30), span=st.integers(1, 2**40))
def test_sort_arrivals_equals_numpy_sort_of_the_packed_keys(data, bits, span):
    span = min(span, 1 << (62 - bits))
    ids_strat = st.integers(0, (1 << bits) - 1)
    counts = np.array(data.draw(st.lists(st.integers(0, 40), max_size=6)), np.int64)
    ids = np.array(data.draw(st.lists(ids_strat, min_size=len(counts),
                                      max_size=len(counts))), np.int64)
    u = np.array(data.draw(st.lists(
        st.one_of(st.floats(0.0, 1.0, exclude_max=True), st.just(1.0 - 2**-53),
                  st.just(0.0)),
        min_size=int(counts.sum()), max_size=int(counts.sum()))), np.float64)
    ne = data.draw(st.integers(0, 20))
    eo = np.array(data.draw(st.lists(st.integers(0, span - 1), min_size=ne, max_size=ne)),
                  np.int64)
    ei = np.array(data.draw(st.lists(ids_strat, min_size=ne, max_size=ne)), np.int64)
    start = data.draw(st.integers(0, 2**40))
    off = np.concatenate([np.floor(u * span).astype(np.int64), eo])
    fid = np.concatenate([np.repeat(ids, counts), ei])
    keys = np.sort((off << bits) | fid)
    t, f = sort_arrivals(u, counts, ids, eo, ei, span, start, bits)
    assert t.dtype == np.int64 and f.dtype == np.int32
    np.testing.assert_array_equal(t, (keys >> bits) + start)
    np.testing.assert_array_equal(f, (keys & ((1 << bits) - 1)).astype(np.int32))


def test_a_large_random_interval_matches_numpy():
    rng = np.random.default_rng(7)
    counts = rng.integers(0, 5000, 101)
    u = rng.random(int(counts.sum()))
    ids = np.arange(101, dtype=np.int64)
    span = 224_000_000
    t, f = sort_arrivals(u, counts, ids, np.zeros(0, np.int64), np.zeros(0, np.int64),
                         span, 10**12, 7)
    keys = np.sort((np.floor(u * span).astype(np.int64) << 7) | np.repeat(ids, counts))
    np.testing.assert_array_equal(t, (keys >> 7) + 10**12)
    np.testing.assert_array_equal(f, keys & 127)


E = np.zeros(0, np.int64)
ONE = np.array([1], np.int64)


@pytest.mark.parametrize("args, exc, fragment", [
    ((np.zeros(1, np.float32), ONE, ONE, E, E, 10, 0, 4), TypeError, "uniform"),
    ((np.zeros(1), ONE.astype(np.int32), ONE, E, E, 10, 0, 4), TypeError, "counts"),
    ((np.zeros(1), ONE, E, E, E, 10, 0, 4), ValueError, "ids must have length 1, got 0"),
    ((np.zeros(2), ONE, ONE, E, E, 10, 0, 4), ValueError,
     "uniform must have sum(counts) = 1 draws, got 2"),
    ((np.zeros(0), -ONE, ONE, E, E, 10, 0, 4), ValueError,
     "counts must be >= 0, got -1 at index 0"),
    ((np.zeros(1), ONE, ONE * 16, E, E, 10, 0, 4), ValueError,
     "ids must be in [0, 16), got 16 at index 0"),
    ((np.zeros(0), E, E, ONE * 10, ONE, 10, 0, 4), ValueError,
     "extra_off must be in [0, 10), got 10 at index 0"),
    ((np.zeros(0), E, E, ONE, -ONE, 10, 0, 4), ValueError,
     "extra_ids must be in [0, 16), got -1 at index 0"),
    ((np.zeros(0), E, E, ONE, E, 10, 0, 4), ValueError, "extra_ids must have length 1"),
    ((np.zeros(0), E, E, E, E, 0, 0, 4), ValueError, "span"),
    ((np.zeros(0), E, E, E, E, 10, -1, 4), ValueError, "start_ns"),
    ((np.zeros(0), E, E, E, E, 10, 0, 31), ValueError, "flow_bits"),
    ((np.zeros(0), E, E, E, E, 1 << 59, 0, 4), ValueError, "span"),
    ((np.array([0.5, 1.0]), np.array([2]), ONE, E, E, 10, 0, 4), ValueError,
     "uniform must be in [0, 1), got 1.0 at index 1"),
    ((np.array([-0.0, -1e-300]), np.array([2]), ONE, E, E, 10, 0, 4), ValueError,
     "uniform must be in [0, 1), got -1e-300 at index 1"),
    ((np.array([np.nan]), ONE, ONE, E, E, 10, 0, 4), ValueError,
     "uniform must be in [0, 1), got nan at index 0"),
])
def test_sort_arrivals_errors(args, exc, fragment):
    with pytest.raises(exc, match=None) as e:
        sort_arrivals(*args)
    assert fragment in str(e.value)


def test_sort_arrivals_empty():
    t, f = sort_arrivals(np.zeros(0), E, E, E, E, 10, 5, 4)
    assert t.shape == f.shape == (0,) and f.dtype == np.int32


def _numpy_reference(u, counts, ids, eo, ei, span, start, bits):
    off = np.concatenate([np.floor(u * span).astype(np.int64), eo])
    fid = np.concatenate([np.repeat(ids, counts), ei])
    keys = np.sort((off << bits) | fid)
    return (keys >> bits) + start, (keys & ((1 << bits) - 1)).astype(np.int32)


# key sets chosen to break a radix sort: every bucket but one empty, all keys
# equal, all but one equal, offsets at the top of the range, digits constant
# in some passes only, a few distinct values repeated
_SHAPES = ["uniform", "all_equal", "top", "bottom", "few_values", "one_bucket",
           "two_ends", "low_bits_only", "all_but_one"]


def _uniform_draws(rng, shape, m, span):
    top = 1.0 - 2.0 ** -53
    if shape == "uniform":
        return rng.random(m)
    if shape == "all_equal":
        return np.full(m, rng.choice([0.0, 0.5, top, rng.random()]))
    if shape == "top":          # the largest offsets
        return top - rng.integers(0, 4, m) * 2.0 ** -53
    if shape == "bottom":
        return rng.integers(0, 4, m) * 2.0 ** -1074
    if shape == "few_values":
        return rng.choice(rng.random(3), m)
    if shape == "one_bucket":   # every offset within a tiny sliver of the span
        return rng.random() * 0.999 + rng.random(m) * 1e-4
    if shape == "all_but_one":  # one key off the others by a few ns, anywhere
        off = np.full(m, int(rng.integers(0, max(1, span - 8))), np.float64)
        if m:
            off[rng.integers(0, m)] += rng.integers(-8, 9)
        return np.clip((off + 0.5) / span, 0.0, 1.0 - 2.0 ** -53)
    if shape == "two_ends":
        return np.where(rng.random(m) < 0.5, rng.random(m) * 1e-6, top - rng.random(m) * 1e-6)
    # offsets differing only in their lowest bits
    return (rng.integers(0, 8, m) + 0.25) / span if span > 16 else rng.random(m) * 0.0


@settings(max_examples=120, deadline=None)
@given(bits=st.sampled_from([1, 2, 7, 13, 29, 30]),
       span=st.one_of(st.sampled_from([1, 2, 3, 1023, 1024, 1025, 224_000_000]),
                      st.integers(1, 2**40)),
       span_max=st.booleans(),
       n=st.sampled_from([0, 1, 2, 31, 32, 33, 2047, 2048, 2049, 4097, 40_000]),
       n_extra=st.sampled_from([0, 1, 50, 3000]),
       n_flows=st.integers(1, 200), shape=st.sampled_from(_SHAPES),
       ids_shape=st.sampled_from(["random", "zero", "max", "one_flow"]),
       seed=st.integers(0, 2**32 - 1), start=st.sampled_from([0, 1, 2**40]))
def test_sort_arrivals_equals_numpy_sort_on_adversarial_keys(
        bits, span, span_max, n, n_extra, n_flows, shape, ids_shape, seed, start):
    # the bucketed radix sort against np.sort of the same packed keys, on key
    # sets large enough to take every path (insertion sort, one bucket,
    # 2**12 buckets, skipped passes, 1 to 6 passes per bucket)
    span = (1 << (62 - bits)) if span_max else min(span, 1 << (62 - bits))
    rng = np.random.default_rng(seed)
    lim = 1 << bits
    if ids_shape == "random":
        ids = rng.integers(0, lim, n_flows)
    else:
        ids = np.full(n_flows, 0 if ids_shape == "zero" else lim - 1)
    if ids_shape == "one_flow" or n_flows == 1:
        counts = np.zeros(n_flows, np.int64)
        counts[-1] = n
    else:
        counts = np.bincount(rng.integers(0, n_flows, n), minlength=n_flows)
    u = _uniform_draws(rng, shape, n, span)
    eo = np.clip(np.floor(_uniform_draws(rng, shape, n_extra, span) * span), 0,
                 span - 1).astype(np.int64)
    ei = rng.integers(0, lim, n_extra)
    args = (u.astype(np.float64), counts.astype(np.int64), ids.astype(np.int64), eo,
            ei.astype(np.int64), span, start, bits)
    t, f = sort_arrivals(*args)
    t_ref, f_ref = _numpy_reference(*args)
    assert t.dtype == np.int64 and f.dtype == np.int32
    np.testing.assert_array_equal(t, t_ref)
    np.testing.assert_array_equal(f, f_ref)


def test_sort_arrivals_one_key_and_no_keys():
    t, f = sort_arrivals(np.array([1.0 - 2.0 ** -53]), ONE, np.array([(1 << 30) - 1]), E, E,
                         1 << 32, 7, 30)
    assert t.tolist() == [7 + (1 << 32) - 1] and f.tolist() == [(1 << 30) - 1]
    t, f = sort_arrivals(np.zeros(0), E, E, np.array([0]), np.array([1]), 1, 0, 1)
    assert t.tolist() == [0] and f.tolist() == [1]
    t, f = sort_arrivals(np.zeros(0), np.zeros(3, np.int64), np.arange(3), E, E, 5, 0, 2)
    assert len(t) == len(f) == 0


@pytest.mark.parametrize("n", [33, 40, 2047, 5000])
@pytest.mark.parametrize("where", [0, 1, -1])
@pytest.mark.parametrize("delta", [-1, 1, 1 << 10, 1 << 19])
@pytest.mark.parametrize("extra", [False, True])
@pytest.mark.parametrize("span", [1 << 20, 1 << 30])
def test_sort_arrivals_all_keys_equal_but_one(n, where, delta, extra, span):
    # every digit of every pass constant but in one key: a pass skipped
    # for it would leave that key where it came in (span 2**20: two passes
    # per bucket, 2**30: three)
    bits = 7
    off = np.full(n, 1 << 18, np.float64)
    off[where] += delta
    u = (off + 0.5) / span
    counts, ids = np.array([n], np.int64), np.array([5], np.int64)
    eo = np.array([1 << 18], np.int64) if extra else E
    ei = np.array([3], np.int64) if extra else E
    t, f = sort_arrivals(u, counts, ids, eo, ei, span, 0, bits)
    t_ref, f_ref = _numpy_reference(u, counts, ids, eo, ei, span, 0, bits)
    np.testing.assert_array_equal(t, t_ref)
    np.testing.assert_array_equal(f, f_ref)
