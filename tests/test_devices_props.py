"""Properties: TOML round trip of any profile, SRAM-fit and cores-needed optimality."""

from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from paraflowo import ReorderQueues
from paraflowo.devices import (
    MAX_QUEUES,
    MAX_WINDOW,
    OPERATIONS,
    DeviceProfile,
    cores_needed,
    dumps_profile,
    loads_profile,
    max_queues,
    max_window,
    sram_fit,
    sram_required,
)

FAST = settings(max_examples=60, deadline=None)

rates = st.one_of(st.none(), st.floats(min_value=1e-9, max_value=1e12, allow_nan=False,
                                       allow_infinity=False, allow_subnormal=False))
pos_float = st.floats(min_value=1e-6, max_value=1e9, allow_nan=False, allow_infinity=False)


@st.composite
def profiles(draw):
    spread = {}
    for op in draw(st.lists(st.sampled_from(OPERATIONS), unique=True, max_size=4)):
        spread[op] = tuple(sorted(draw(st.lists(pos_float, min_size=3, max_size=3))))
    return DeviceProfile(
        name=draw(st.text(min_size=1).filter(str.strip)),
        cores=draw(st.integers(1, 1 << 40)),
        forward_mpps=draw(rates),
        reorder_mpps=draw(rates),
        nf_mpps=draw(rates),
        detector_mpps=draw(rates),
        sram_bytes=draw(st.one_of(st.none(), st.integers(1, 1 << 50))),
        line_rate_gbps=draw(rates),
        notes=draw(st.text()),
        spread=spread,
    )


@FAST
@given(profiles())
def test_toml_round_trip_of_any_profile(p):
    assert loads_profile(dumps_profile(p)) == p


@FAST
@given(q=st.integers(1, 64), w=st.integers(1, 4096), m=st.integers(1, 128),
       o=st.integers(0, 256), slack=st.integers(-2, 2))
def test_worst_case_fit_matches_the_model(q, w, m, o, slack):
    need = q * (o + w * m)                      # the documented model, in integers
    assert sram_required(q, w, "worst", meta_bytes=m, queue_overhead_bytes=o) == need
    sram = need + slack
    if sram >= 1:
        fit = sram_fit(sram, q, w, "worst", meta_bytes=m, queue_overhead_bytes=o)
        assert fit.fits == (slack >= 0) and fit.headroom_bytes == slack


@FAST
@given(q=st.integers(1, 64), w=st.integers(1, 4096), slack=st.integers(-2, 2))
def test_footprint_fit_matches_the_component(q, w, slack):
    # the default basis: what ReorderQueues of the window rounded up to a
    # power of two allocates, whatever meta_bytes and the overhead say
    need = ReorderQueues.footprint(q, 1 << max(1, (w - 1).bit_length()))
    assert sram_required(q, w) == sram_required(q, w, meta_bytes=7, queue_overhead_bytes=9) == need
    fit = sram_fit(need + slack, q, w)
    assert fit.basis == "footprint" and fit.fits == (slack >= 0) and fit.headroom_bytes == slack


@FAST
@given(sram=st.integers(1, 1 << 22), q=st.integers(1, 64), m=st.integers(1, 128),
       o=st.integers(0, 256), pow2=st.booleans(), basis=st.sampled_from(["worst", "footprint"]))
def test_max_window_is_the_largest_that_fits(sram, q, m, o, pow2, basis):
    kw = dict(basis=basis, meta_bytes=m, queue_overhead_bytes=o)
    w = max_window(sram, q, power_of_two=pow2, **kw)
    if w:
        assert sram_fit(sram, q, w, **kw).fits
        assert pow2 is False or (w >= 2 and w & (w - 1) == 0)
    nxt = (w * 2 or 2) if pow2 else w + 1
    assert nxt > MAX_WINDOW or not sram_fit(sram, q, nxt, **kw).fits


@FAST
@given(sram=st.integers(1, 1 << 24), w=st.integers(1, 4096), m=st.integers(1, 128),
       o=st.integers(0, 256), rate=st.sampled_from([0.0, 0.01, 0.1, 0.25, 0.5, 1.0]),
       basis=st.sampled_from(["worst", "expected", "footprint"]))
def test_max_queues_is_the_largest_that_fits(sram, w, m, o, rate, basis):
    kw = dict(basis=basis, ooo_rate=rate, meta_bytes=m, queue_overhead_bytes=o)
    n = max_queues(sram, w, **kw)
    if n:
        assert sram_fit(sram, n, w, **kw).fits
    assert n == MAX_QUEUES or not sram_fit(sram, n + 1, w, **kw).fits


@FAST
@given(per_core=st.decimals(min_value="0.01", max_value="100", places=2),
       size=st.integers(1, 9000), framing=st.sampled_from([0, 24]),
       target=st.decimals(min_value="0.1", max_value="3200", places=1))
def test_cores_needed_is_the_fewest_that_reach_the_rate(per_core, size, framing, target):
    p = DeviceProfile("p", 1, reorder_mpps=float(per_core))
    n = cores_needed(p, "reorder", float(target), size, framing)

    def gbps(cores):  # exact model on the decimals written
        return Fraction(per_core) * cores * (size + framing) * 8 / 1000

    assert gbps(n) >= Fraction(target)
    assert n == 1 or gbps(n - 1) < Fraction(target)
