"""Hypothesis properties of the elephant detectors against small exact models."""

from collections import Counter
from contextlib import contextmanager

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from paraflowo import CountMinDetector, ElephantDetector, ThresholdDetector
from paraflowo._core.detectors import _simd_loops

W = 100  # window_ns used by every property
U64 = (1 << 64) - 1

# keys with edge values; a few of them so collisions and repeats are common
KEYS = st.one_of(st.integers(0, 40), st.sampled_from([U64, U64 - 1, 1 << 63, 1 << 32, (1 << 32) - 1]))
# time steps around the window length: same time, inside, next, far
STEPS = st.sampled_from([0, 0, 1, 7, W // 2, W - 1, W, W + 1, 2 * W, 5 * W])
AMOUNTS = st.integers(0, 1500)
PACKETS = st.lists(st.tuples(KEYS, STEPS, AMOUNTS), min_size=1, max_size=120)

FAST = settings(max_examples=60, deadline=None)


def timed(packets, t0=0):
    """(key, step, amount) -> (key, time, amount) with nondecreasing times."""
    out, t = [], t0
    for k, dt, a in packets:
        t += dt
        out.append((k, t, a))
    return out


def two_window_truth(stream):
    """Exact amount per key in the current and previous window at the last time."""
    cur = stream[-1][1] // W
    truth = Counter()
    for k, t, a in stream:
        if t // W >= cur - 1:
            truth[k] += a
    return truth, sum(truth.values())


def make_cm(conservative, width=16, depth=3, seed=0, threshold=2000):
    return CountMinDetector(width, depth, threshold, W, conservative=conservative, seed=seed)


@FAST
@given(PACKETS, st.booleans(), st.sampled_from([2, 16, 256]), st.integers(1, 4),
       st.integers(0, U64))
def test_count_min_never_underestimates(packets, conservative, width, depth, seed):
    stream = timed(packets)
    det = make_cm(conservative, width, depth, seed, threshold=700)
    flags = [det.update(k, t, a) for k, t, a in stream]
    truth, total = two_window_truth(stream)
    assert sum(det.window_totals) == total
    for k in {k for k, _, _ in stream}:
        est = det.estimate(k)
        assert truth[k] <= est <= total
    # the current window alone is a lower bound too; no false negatives
    for i, (k, t, a) in enumerate(stream):
        if two_window_truth(stream[: i + 1])[0][k] >= 700:
            assert flags[i]


@FAST
@given(PACKETS, st.sampled_from([2, 8, 64]), st.integers(1, 4), st.integers(0, 2**32))
def test_conservative_never_exceeds_plain(packets, width, depth, seed):
    stream = timed(packets)
    cons, plain = make_cm(True, width, depth, seed, 900), make_cm(False, width, depth, seed, 900)
    for k, t, a in stream:
        fc, fp = cons.update(k, t, a), plain.update(k, t, a)
        assert fp or not fc                      # conservative flags => plain flags
    for k in set(range(41)) | {k for k, _, _ in stream}:
        assert cons.estimate(k) <= plain.estimate(k)


DETECTOR_KINDS = st.sampled_from(["cm-cons", "cm-plain", "ss-small", "ss-large"])


def make(kind, threshold=2000, max_tags=1024):
    if kind.startswith("cm"):
        return CountMinDetector(32, 3, threshold, W, conservative=kind == "cm-cons", seed=5,
                                max_tags=max_tags)
    return ThresholdDetector(4 if kind == "ss-small" else 64, threshold, W, max_tags=max_tags)


@FAST
@given(PACKETS, DETECTOR_KINDS)
def test_only_the_last_two_windows_matter(packets, kind):
    # The state after any stream equals that of a fresh detector fed only the
    # packets of the current and previous window: older packets leave no trace.
    stream = timed(packets)
    det, fresh = make(kind), make(kind)
    for k, t, a in stream:
        det.update(k, t, a)
    cur = stream[-1][1] // W
    for k, t, a in stream:
        if t // W >= cur - 1:
            fresh.update(k, t, a)
    fresh.advance(stream[-1][1])
    keys = set(range(41)) | {k for k, _, _ in stream}
    assert {k: det.estimate(k) for k in keys} == {k: fresh.estimate(k) for k in keys}
    assert det.window_totals == fresh.window_totals


@FAST
@given(st.lists(st.tuples(STEPS, st.integers(1, 1500)), min_size=1, max_size=60),
       st.lists(st.tuples(KEYS.filter(lambda k: k != 999), STEPS, st.integers(0, 3)),
                max_size=40),
       DETECTOR_KINDS, st.integers(0, 2 * W - 1))
def test_stopped_flow_is_mouse_after_two_windows(elephant, others, kind, extra):
    # Flow 999 sends, then stops; other traffic is small (< threshold over two
    # windows).  Two windows after 999's last packet it is not an elephant.
    threshold = 200
    det = make(kind, threshold=threshold)
    stream = timed([(999, dt, a) for dt, a in elephant])
    for k, t, a in stream:
        det.update(k, t, a)
    t_stop = stream[-1][1]
    tail = timed(others, t0=t_stop)
    for k, t, a in tail:
        det.update(k, t, a)
    t_end = max((t_stop // W + 2) * W, tail[-1][1] if tail else 0) + extra
    det.advance(t_end)
    assert det.estimate(999) <= sum(det.window_totals) < threshold
    assert not det.update(999, t_end, 1) or sum(det.window_totals) >= threshold


@FAST
@given(st.lists(st.tuples(st.integers(0, 60), st.integers(1, 50)), min_size=1, max_size=300),
       st.integers(1, 16))
def test_space_saving_keeps_every_flow_above_total_over_capacity(packets, capacity):
    det = ThresholdDetector(capacity, U64, 10**9)
    truth = Counter()
    for k, a in packets:
        det.update(k, 0, a)
        truth[k] += a
    total = sum(truth.values())
    assert det.window_totals == (total, 0)
    keys, counts, errors = det.items()
    assert len(keys) == min(capacity, len(truth))
    assert int(counts.sum()) == total                       # Space-Saving invariant
    for k, c, e in zip(keys.tolist(), counts.tolist(), errors.tolist()):
        assert c - e <= truth[k] <= c
        assert e <= total / capacity
    for k, f in truth.items():
        if f * capacity > total:
            assert det.tracked(k), (k, f, total)
        assert det.estimate(k) in (0, det.estimate(k))
        if len(truth) <= capacity:
            assert det.estimate(k) == f                     # exact below capacity


BURSTS = st.lists(
    st.tuples(st.lists(st.tuples(KEYS, STEPS, AMOUNTS), min_size=0, max_size=30),
              st.booleans(), st.booleans()),
    min_size=1, max_size=6)


@FAST
@given(BURSTS, DETECTOR_KINDS, st.lists(st.tuples(KEYS, st.booleans()), max_size=4))
def test_burst_equals_per_packet(bursts, kind, tags):
    threshold = 700
    per, bur = make(kind, threshold), make(kind, threshold)
    for k, on in tags:
        per.force(k, on)
        bur.force(k, on)
    t = 0
    for packets, scalar_time, with_amounts in bursts:
        if scalar_time:
            t += packets[0][1] if packets else 0
            times = [t] * len(packets)
        else:
            times = [(t := t + dt) for _, dt, _ in packets]
        keys = [k for k, _, _ in packets]
        amounts = [a if with_amounts else 1 for _, _, a in packets]
        want = [per.update(k, tt, a) for k, tt, a in zip(keys, times, amounts)]
        if scalar_time:
            per.advance(t)
        got = bur.update_burst(
            np.array(keys, np.uint64),
            t if scalar_time else np.array(times, np.int64),
            np.array(amounts, np.uint64) if with_amounts else None)
        assert got.dtype == np.bool_
        assert got.tolist() == want
        assert bur.last_ns == per.last_ns
    for k in set(range(41)) | {k for p, _, _ in bursts for k, _, _ in p}:
        assert bur.estimate(k) == per.estimate(k)
    assert bur.window_totals == per.window_totals


class TagMachine(RuleBasedStateMachine):
    """Tags against a dict, over a detector and an untagged twin."""

    MAX_TAGS = 6

    def __init__(self):
        super().__init__()
        self.det = CountMinDetector(16, 2, 5, W, seed=1, max_tags=self.MAX_TAGS)
        self.twin = CountMinDetector(16, 2, 5, W, seed=1)
        self.tags = ElephantDetector(max_tags=self.MAX_TAGS)
        self.model = {}
        self.t = 0

    @rule(key=st.integers(0, 12), on=st.booleans())
    def force(self, key, on):
        if key not in self.model and len(self.model) >= self.MAX_TAGS:
            for d in (self.det, self.tags):
                try:
                    d.force(key, on)
                except ValueError as e:
                    assert "tag table is full" in str(e)
                else:
                    raise AssertionError("force on a full tag table did not raise")
            return
        self.det.force(key, on)
        self.tags.force(key, on)
        self.model[key] = on

    @precondition(lambda self: self.model)
    @rule(data=st.data())
    def unforce(self, data):
        key = data.draw(st.sampled_from(sorted(self.model)))
        assert self.det.unforce(key) and self.tags.unforce(key)
        del self.model[key]

    @rule(key=st.integers(0, 12))
    def unforce_any(self, key):
        had = key in self.model
        assert self.det.unforce(key) == had == self.tags.unforce(key)
        self.model.pop(key, None)

    @rule(key=st.integers(0, 12), dt=st.sampled_from([0, 1, W]), amount=st.integers(0, 4))
    def update(self, key, dt, amount):
        self.t += dt
        measured = self.twin.update(key, self.t, amount)
        want = self.model.get(key, measured)
        assert self.det.update(key, self.t, amount) == want
        assert self.tags.update(key, self.t, amount) == self.model.get(key, False)

    @rule(keys=st.lists(st.integers(0, 12), max_size=8))
    def burst(self, keys):
        arr = np.array(keys, np.uint64)
        measured = self.twin.update_burst(arr, self.t)
        want = [self.model.get(k, m) for k, m in zip(keys, measured.tolist())]
        assert self.det.update_burst(arr, self.t).tolist() == want
        assert self.tags.update_burst(arr, self.t).tolist() == [self.model.get(k, False) for k in keys]

    @invariant()
    def tags_match(self):
        assert self.det.n_forced == len(self.model) == self.tags.n_forced
        for k in range(13):
            assert self.det.forced(k) == self.model.get(k) == self.tags.forced(k)
            assert self.det.estimate(k) == self.twin.estimate(k)


TagMachine.TestCase.settings = settings(max_examples=40, stateful_step_count=30, deadline=None)
test_tags_override = TagMachine.TestCase


class WindowMachine(RuleBasedStateMachine):
    """All detectors against an exact windowed model, through every update path.

    With fewer keys than Space-Saving slots and a wide Count-Min (no collision
    among these keys, checked at the start), every estimate must equal the
    exact amount over the current and previous window.
    """

    KEYS = list(range(10)) + [U64, 1 << 63, 1 << 32]

    def __init__(self):
        super().__init__()
        self.dets = [
            CountMinDetector(1 << 16, 3, 50, W, conservative=True, seed=11),
            CountMinDetector(1 << 16, 3, 50, W, conservative=False, seed=11),
            ThresholdDetector(16, 50, W),
        ]
        probe = CountMinDetector(1 << 16, 3, 50, W, conservative=False, seed=11)
        for k in self.KEYS:
            probe.update(k, 0)
        assert all(probe.estimate(k) == 1 for k in self.KEYS)   # no collisions
        self.packets = []      # (time, key, amount)
        self.t = 0

    def _expect(self, key):
        cur = self.t // W
        return sum(a for t, k, a in self.packets if k == key and t // W >= cur - 1)

    @rule(key=st.sampled_from(KEYS), dt=STEPS, amount=st.integers(0, 30))
    def update(self, key, dt, amount):
        self.t += dt
        self.packets.append((self.t, key, amount))
        want = self._expect(key) >= 50
        for d in self.dets:
            assert d.update(key, self.t, amount) == want

    @rule(keys=st.lists(st.sampled_from(KEYS), max_size=12), dts=st.data(),
          with_amounts=st.booleans(), scalar=st.booleans())
    def burst(self, keys, dts, with_amounts, scalar):
        amounts = [dts.draw(st.integers(0, 30)) if with_amounts else 1 for _ in keys]
        if scalar:
            self.t += dts.draw(STEPS)
            times = [self.t] * len(keys)
        else:
            times = []
            for _ in keys:
                self.t += dts.draw(STEPS)
                times.append(self.t)
        want = []
        for k, t, a in zip(keys, times, amounts):
            self.packets.append((t, k, a))
            cur = t // W
            want.append(sum(x for tt, kk, x in self.packets
                            if kk == k and cur - 1 <= tt // W) >= 50)
        for d in self.dets:
            got = d.update_burst(np.array(keys, np.uint64),
                                 self.t if scalar else np.array(times, np.int64),
                                 np.array(amounts, np.uint64) if with_amounts else None)
            assert got.tolist() == want

    @rule(dt=STEPS)
    def advance(self, dt):
        self.t += dt
        for d in self.dets:
            d.advance(self.t)

    @invariant()
    def estimates_exact(self):
        for d in self.dets:
            if self.packets:
                assert d.last_ns == self.t
            for k in self.KEYS:
                assert d.estimate(k) == self._expect(k), (d, k)
            cur = self.t // W
            assert d.window_totals == (
                sum(a for t, _, a in self.packets if t // W == cur),
                sum(a for t, _, a in self.packets if t // W == cur - 1))


WindowMachine.TestCase.settings = settings(max_examples=40, stateful_step_count=25, deadline=None)
test_windows_against_exact_model = WindowMachine.TestCase


# -- bit-exact Count-Min model: depth 4, shared 128-bit hash or per-row -------

M32, M64 = (1 << 32) - 1, (1 << 64) - 1


def splitmix64(seed):
    """The SplitMix64 stream the detector draws its hash parameters from."""
    s = seed
    while True:
        s = (s + 0x9E3779B97F4A7C15) & M64
        z = ((s ^ (s >> 30)) * 0xBF58476D1CE4E5B9) & M64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
        yield z ^ (z >> 31)


class CountMin4Model:
    """Depth-4 Count-Min as documented, one packet at a time, in Python ints.

    row_hashes "fused" (widths up to 2**16): row r of key x is the 16-bit-stride
    field r of H = ((A x + B) mod 2**128) >> 64, A and B from the first four
    SplitMix64 outputs.  "independent" (or wider): row r has its own
    pair-multiply-shift, (a0, a1, b) = SplitMix64 outputs 3r, 3r + 1, 3r + 2,
    column = ((a0 + x_hi) * (a1 + x_lo) + b) mod 2**64, top log2(width) bits.
    32-bit saturating counters for the current and previous aligned window;
    conservative: raise the rows to max(counter, min + amount); estimate: min
    over rows of current + previous.
    """

    def __init__(self, width, threshold, conservative, seed, row_hashes="fused"):
        g = splitmix64(seed)
        self.params = [next(g) for _ in range(12)]
        alo, ahi, blo, bhi = self.params[:4]
        self.a, self.b = ahi << 64 | alo, bhi << 64 | blo
        self.fused = row_hashes == "fused" and width <= 1 << 16
        self.shift = 64 - (width.bit_length() - 1)
        self.width, self.threshold, self.conservative = width, threshold, conservative
        self.cur = [[0] * width for _ in range(4)]
        self.prev = [[0] * width for _ in range(4)]
        self.window = -1
        self.totals = [0, 0]                    # current, previous

    def cols(self, key):
        if not self.fused:
            hi, lo, p = key >> 32, key & M32, self.params
            return [(((p[3 * r] + hi) * (p[3 * r + 1] + lo) + p[3 * r + 2]) & M64) >> self.shift
                    for r in range(4)]
        h = ((self.a * key + self.b) % (1 << 128)) >> 64
        return [(h >> (16 * r)) & (self.width - 1) for r in range(4)]

    def advance(self, t):
        w = t // W
        if w == self.window + 1:
            self.prev, self.cur = self.cur, [[0] * self.width for _ in range(4)]
            self.totals = [0, self.totals[0]]
        elif w > self.window + 1:
            self.prev = [[0] * self.width for _ in range(4)]
            self.cur = [[0] * self.width for _ in range(4)]
            self.totals = [0, 0]
        self.window = max(self.window, w)

    def estimate(self, key):
        return min(self.cur[r][c] + self.prev[r][c] for r, c in enumerate(self.cols(key)))

    def update(self, key, t, amount=1):
        self.advance(t)
        self.totals[0] = min(self.totals[0] + amount, M64)
        a = min(amount, M32)
        cols = self.cols(key)
        m = min(self.cur[r][c] for r, c in enumerate(cols))
        for r, c in enumerate(cols):
            v = self.cur[r][c]
            self.cur[r][c] = max(v, min(m + a, M32)) if self.conservative else min(v + a, M32)
        return self.estimate(key) >= self.threshold


CM4_KEYS = st.one_of(st.integers(0, 12), st.integers(0, U64),
                     st.sampled_from([U64, 1 << 63, (1 << 60) - 1, 1 << 60, 1 << 30]))
# (keys, time step) per burst: steps move within a window, to the next or far
CM4_BURSTS = st.lists(
    st.tuples(st.lists(CM4_KEYS, max_size=80), st.sampled_from([0, 1, W // 2, W, 3 * W])),
    min_size=1, max_size=6)


@contextmanager
def simd_loops(enabled, bmi2=True):
    """Let Count-Min bursts take the SIMD loop (where the CPU has it) or not.

    bmi2=False: only the SSE4.1 copies (not the per-row loop built for BMI2).
    """
    before = _simd_loops(enabled, bmi2=bmi2)
    try:
        yield
    finally:
        _simd_loops(before)


ROW_HASHES = pytest.mark.parametrize("row_hashes", ["fused", "independent"])
# (row_hashes, simd, bmi2) per code path: the SIMD loop, the portable one, and
# for per-row hashes also the SSE4.1-only copy (the "simd" one uses BMI2 where
# the CPU has it)
SIMD_MODES = pytest.mark.parametrize(
    "row_hashes, simd, bmi2",
    [("fused", True, True), ("fused", False, True),
     ("independent", True, True), ("independent", True, False), ("independent", False, True)],
    ids=["fused-simd", "fused-portable", "independent-simd", "independent-sse41",
         "independent-portable"])


@SIMD_MODES
def test_depth4_unit_bursts_match_bit_exact_model(simd, bmi2, row_hashes):
    with simd_loops(simd, bmi2):
        check_depth4_unit_bursts(row_hashes)


@settings(max_examples=30, deadline=None)
@given(CM4_BURSTS, st.sampled_from([2, 4, 64, 4096, 1 << 16, 1 << 17]), st.booleans(),
       st.integers(0, U64), st.integers(1, 40))
def check_depth4_unit_bursts(row_hashes, bursts, width, conservative, seed, threshold):
    # Unit-amount depth-4 bursts (the SIMD loop, or the portable one) against
    # per-packet update and the pure-Python model, counter for counter: many
    # duplicate keys, and at small widths rows that collide only partly
    # (conservative then raises only the rows at the minimum).  Width 2**17:
    # per-row hashes whatever row_hashes says.
    kw = dict(conservative=conservative, seed=seed, row_hashes=row_hashes)
    bur = CountMinDetector(width, 4, threshold, W, **kw)
    per = CountMinDetector(width, 4, threshold, W, **kw)
    model = CountMin4Model(width, threshold, conservative, seed, row_hashes)
    t, seen = 0, set()
    for keys, dt in bursts:
        t += dt
        want = [model.update(k, t) for k in keys]
        assert [per.update(k, t) for k in keys] == want
        got = bur.update_burst(np.array(keys, np.uint64), t)
        assert got.tolist() == want
        seen.update(keys)
        per.advance(t)
        model.advance(t)
        for k in seen:
            assert bur.estimate(k) == per.estimate(k) == model.estimate(k)
        assert bur.window_totals == per.window_totals == tuple(model.totals)


@SIMD_MODES
@pytest.mark.parametrize("conservative", [True, False], ids=["conservative", "plain"])
@pytest.mark.parametrize(
    "prev, cur, n, threshold",
    [
        # totals + burst = 2**32 - 2: the last burst that may sum in 32 bits
        (2**31, 2**31 - 42, 38, 2**32 - 4),
        # totals + burst = 2**32 - 1: the first that must not
        (2**31, 2**31 - 41, 38, 2**32 - 3),
        (2**32 - 100, 60, 40, 2**32),           # estimates pass 2**32, counters do not
        (2**32 - 1, 2**32 - 30, 20, 2**33 - 11),  # a saturated previous window
    ],
)
def test_depth4_burst_estimates_beyond_32_bits(simd, bmi2, row_hashes, conservative, prev, cur,
                                               n, threshold):
    # A unit burst may sum (current + previous) in 32 bits only while the two
    # window totals plus the burst stay below 2**32 - 1; otherwise it must
    # give the 64-bit estimates per-packet update gives.
    def fill():
        d = CountMinDetector(64, 4, threshold, W, conservative=conservative, seed=3,
                             row_hashes=row_hashes)
        d.update(7, 0, prev)
        d.update(7, W, cur)                     # next window: prev is the previous one
        return d

    bur, per = fill(), fill()
    model = CountMin4Model(64, threshold, conservative, 3, row_hashes)
    model.update(7, 0, prev)
    model.update(7, W, cur)
    keys = [7] * n + [8, 7]
    want = [model.update(k, W) for k in keys]
    assert [per.update(k, W) for k in keys] == want
    with simd_loops(simd, bmi2):
        assert bur.update_burst(np.array(keys, np.uint64), W).tolist() == want
    assert want[n - 1] and not want[n - 2]        # the threshold falls on the last of the n
    assert bur.estimate(7) == per.estimate(7) == model.estimate(7)
    assert bur.window_totals == per.window_totals == tuple(model.totals)


@SIMD_MODES
@pytest.mark.parametrize("width", [4, 64, 4096])
@pytest.mark.parametrize("conservative", [True, False], ids=["conservative", "plain"])
def test_depth4_skewed_stream_bursts_equal_per_packet(simd, bmi2, row_hashes, width,
                                                      conservative):
    # A longer skewed stream (hot keys, many repeats, every row colliding
    # sometimes), cut into bursts of random sizes across windows.
    rng = np.random.default_rng(width)
    flows = rng.integers(0, 2**64, 300, dtype=np.uint64, endpoint=False)
    keys = flows[np.minimum(rng.zipf(1.2, 6000), 300) - 1]
    cuts = np.sort(rng.choice(np.arange(1, len(keys)), 40, replace=False))
    kw = dict(conservative=conservative, seed=width, row_hashes=row_hashes)
    bur = CountMinDetector(width, 4, 60, W, **kw)
    per = CountMinDetector(width, 4, 60, W, **kw)
    with simd_loops(simd, bmi2):
        for i, chunk in enumerate(np.split(keys, cuts)):
            t = i * W // 3
            want = [per.update(int(k), t) for k in chunk]
            assert bur.update_burst(chunk, t).tolist() == want
            per.advance(t)
            assert bur.window_totals == per.window_totals
    assert [bur.estimate(int(k)) for k in flows] == [per.estimate(int(k)) for k in flows]


@ROW_HASHES
@pytest.mark.parametrize("simd", [True, False], ids=["simd", "portable"])
@pytest.mark.parametrize("conservative", [True, False], ids=["conservative", "plain"])
@pytest.mark.parametrize("scale", [1, 2**20, 2**29])
def test_depth4_per_packet_amounts_match_bit_exact_model(simd, row_hashes, conservative, scale):
    # Per-packet depth-4 updates with amounts (the SIMD body while the window
    # totals stay below 2**32 - 1, the scalar one after): at scale 2**29 the
    # totals cross 2**32 within a window, and counters saturate.
    rng = np.random.default_rng(scale)
    flows = [int(k) for k in rng.integers(0, 2**64, 50, dtype=np.uint64)]
    det = CountMinDetector(16, 4, 3 * scale, W, conservative=conservative, seed=scale,
                           row_hashes=row_hashes)
    model = CountMin4Model(16, 3 * scale, conservative, scale, row_hashes)
    with simd_loops(simd):
        for i in range(1500):
            k = flows[min(int(rng.zipf(1.3)), 50) - 1]
            a, t = int(rng.integers(0, 8)) * scale, i * W // 200
            assert det.update(k, t, a) == model.update(k, t, a)
            if i % 50 == 0:
                assert [det.estimate(f) for f in flows] == [model.estimate(f) for f in flows]
                assert det.window_totals == tuple(model.totals)
    assert max(model.totals) >= 2**32 or scale < 2**29
