"""FlowletScheduler: Eq. 1 and Eq. 2 exactly, clamping, n_para = 1, rotation, errors."""

import re

import numpy as np
import pytest

from paraflowo import FLOWLET_DTYPE, FlowletScheduler, IndirectionTable

from threadutil import while_busy

NEVER = 2**63 - 1


def sched(n_cores=4, **kw):
    kw.setdefault("smoothing", 1.0)
    kw.setdefault("t_switch_min_ns", 0)
    kw.setdefault("t_switch_max_ns", 10**9)
    return FlowletScheduler(n_cores, **kw)


# -- Eq. 1 and Eq. 2 -------------------------------------------------------------

@pytest.mark.parametrize("delay, n_para, expected", [
    (3000, 4, 1000),      # T_avg / (N_para - 1)
    (1000, 3, 500),
    (1001, 3, 500),       # floor(500.5)
    (999_999, 2, 999_999),
    (7, 8, 1),
    (1, 3, 0),            # floor(1/2) = 0, the minimum here is 0
])
def test_eq1_equal_delays_alpha_1(delay, n_para, expected):
    s = sched(n_para=n_para, alpha=1.0)
    for c in range(4):
        s.observe(c, delay)
    assert s.t_avg == delay
    assert [s.t_switch(c) for c in range(4)] == [expected] * 4
    assert expected == delay // (n_para - 1)


def test_eq2_worked_example():
    s = sched(n_para=3, alpha=0.5)
    for c, d in enumerate([1000, 2000, 3000, 6000]):
        s.observe(c, d)
    assert s.t_avg == 3000
    # 0.5 * 3000**2 / (T_cpu * 2)
    assert [s.t_switch(c) for c in range(4)] == [2250, 1125, 750, 375]


def test_eq2_floors_and_uses_integer_t_avg():
    s = sched(n_cores=3, n_para=2, alpha=1.0)
    for c, d in enumerate([100, 200, 301]):
        s.observe(c, d)
    assert s.t_avg == 200                  # floor(601 / 3)
    # 200**2 / T_cpu: 400, 200, 132.89 -> 132
    assert [s.t_switch(c) for c in range(3)] == [400, 200, 132]


def test_eq2_alpha_fixed_point():
    s = sched(n_cores=1, n_para=2, alpha=0.3)
    assert s.alpha == round(0.3 * 2**32) / 2**32
    s.observe(0, 10**9)
    # A = round(0.3 * 2**32) = 1288490189; floor(A * 1e18 / (2**32 * 1e9))
    assert s.t_switch(0) == 1288490189 * 10**18 // (2**32 * 10**9) == 300000000


def test_eq2_large_values_exact():
    # 2**40 ns delays: the products need 128 bits
    s = sched(n_cores=2, n_para=2, alpha=1.0, t_switch_max_ns=2**62)
    s.observe(0, 2**40)
    s.observe(1, 2**40 - 3)
    t_avg = (2**41 - 3) // 2
    assert s.t_avg == t_avg
    assert s.t_switch(0) == t_avg**2 // 2**40
    assert s.t_switch(1) == t_avg**2 // (2**40 - 3)


@pytest.mark.parametrize("t_avg", [65535, 65536])
@pytest.mark.parametrize("alpha", [1.0, 0.7])
def test_eq2_exact_on_both_sides_of_the_64_bit_shortcut(t_avg, alpha):
    # t_avg < 2**16 is computed in 64 bits, larger in 128: both exact
    s = sched(n_cores=2, n_para=4, alpha=alpha, t_switch_max_ns=2**62)
    s.observe(0, t_avg - 1)
    s.observe(1, t_avg + 1)
    assert s.t_avg == t_avg
    a = round(alpha * 2**32)
    for c, d in enumerate([t_avg - 1, t_avg + 1]):
        assert s.t_switch(c) == a * t_avg**2 // (2**32 * d * 3)


def test_slower_cores_get_shorter_intervals():
    s = sched(n_cores=4, n_para=2, alpha=1.0)
    for c, d in enumerate([500, 1000, 2000, 4000]):
        s.observe(c, d)
    t = [s.t_switch(c) for c in range(4)]
    assert t == sorted(t, reverse=True) and len(set(t)) == 4


def test_only_sampled_cores_enter_t_avg_and_others_get_init():
    s = sched(n_para=2, t_switch_init_ns=777)
    assert s.t_avg is None
    assert [s.t_switch(c) for c in range(4)] == [777] * 4
    s.observe(2, 1000)
    assert s.t_avg == 1000
    assert s.t_cpu(2) == 1000 and s.t_cpu(0) is None
    assert [s.t_switch(c) for c in range(4)] == [777, 777, 1000, 777]
    s.observe(3, 3000)
    assert s.t_avg == 2000
    assert s.t_switch(2) == 4000 and s.t_switch(3) == 1333


# -- clamping and degenerate values -------------------------------------------------

def test_clamped_to_bounds():
    s = sched(n_cores=2, n_para=2, t_switch_min_ns=300, t_switch_max_ns=5000, t_switch_init_ns=400)
    s.observe(0, 100)
    s.observe(1, 10_000)
    # t_avg = 5050; core 0: 5050**2 / 100 = 255025 -> max; core 1: 2550.25 -> 2550
    assert s.t_switch(0) == 5000
    assert s.t_switch(1) == 2550


def test_clamp_min_and_max_exactly():
    s = sched(n_cores=2, n_para=5, alpha=0.25, t_switch_min_ns=300, t_switch_max_ns=5000,
              t_switch_init_ns=300)
    s.observe(0, 1000)
    s.observe(1, 1000)
    assert s.t_switch(0) == 300              # 0.25 * 1000 / 4 = 62.5 -> min
    s.observe(0, 10**6)
    s.observe(1, 10**6)
    assert s.t_switch(0) == 5000             # 0.25 * 1e6 / 4 = 62500 -> max
    s3 = sched(n_cores=1, n_para=5, alpha=0.25, t_switch_min_ns=300, t_switch_max_ns=5000,
               t_switch_init_ns=300)
    s3.observe(0, 16_000)
    assert s3.t_switch(0) == 1000            # inside the bounds: exact


def test_zero_delays():
    s = sched(n_cores=2, n_para=2, t_switch_min_ns=10, t_switch_max_ns=99, t_switch_init_ns=50)
    s.observe(0, 0)
    assert s.t_avg == 0 and s.t_switch(0) == 10          # t_avg = 0 -> minimum
    s.observe(1, 100)
    assert s.t_avg == 50
    assert s.t_switch(0) == 99                           # T_cpu = 0 -> maximum
    assert s.t_switch(1) == 25


def test_n_para_1_never_switches():
    s = sched(n_para=1, t_switch_max_ns=5, t_switch_init_ns=5)
    assert s.t_switch(0) == NEVER
    s.observe(0, 10)
    assert s.t_switch(0) == NEVER
    flows = np.zeros(1, FLOWLET_DTYPE)
    core = s.start(flows, 0, 0xABCDEF, 0)
    assert all(s.steer(flows, 0, t) == core for t in range(0, 10**6, 997))
    assert s.switches == 0 and flows[0]["rx_id"] == 0xABCDEF


# -- EWMA -------------------------------------------------------------------------------

def test_smoothing_ewma_rounds_half_away_from_zero():
    s = FlowletScheduler(1, smoothing=0.5)
    s.observe(0, 1000)                 # first sample taken as is
    assert s.t_cpu(0) == 1000
    s.observe(0, 2000)
    assert s.t_cpu(0) == 1500
    s.observe(0, 1501)                 # 1500 + round(0.5) = 1501
    assert s.t_cpu(0) == 1501
    s.observe(0, 1500)                 # 1501 + round(-0.5) = 1500
    assert s.t_cpu(0) == 1500
    assert s.samples == 4
    s.observe(0, 2**40 - 1)            # halves of large odd differences, both ways
    big = 1500 + (2**40 - 1500) // 2     # 1500 + round((2**40 - 1501) / 2)
    assert s.t_cpu(0) == big
    s.observe(0, 1)
    assert s.t_cpu(0) == big - (big - 1 + 1) // 2


def test_smoothing_1_keeps_last_sample():
    s = FlowletScheduler(2, smoothing=1.0)
    for d in [5, 10**6, 3, 0, 2**40]:
        s.observe(1, d)
        assert s.t_cpu(1) == d


# -- flowlet rotation ----------------------------------------------------------------

def run_constant_rate(s, flows, h, gap, n):
    s.start(flows, 0, h, 0)
    return [(t, s.steer(flows, 0, t)) for t in range(0, n * gap, gap)]


def dwell_runs(trace):
    """[(core, start, end)] runs of consecutive packets on one core."""
    runs = []
    for t, c in trace:
        if runs and runs[-1][0] == c:
            runs[-1][2] = t
        else:
            runs.append([c, t, t])
    return runs


def test_constant_rate_elephant_visits_cores_in_reta_order():
    reta = IndirectionTable(4, size=8)
    reta.set_entries([2, 0, 3, 1, 2, 3, 0, 1])   # no two neighbours equal
    s = FlowletScheduler(4, n_para=2, alpha=1.0, reta=reta, smoothing=1.0,
                         t_switch_min_ns=0, t_switch_max_ns=10**9)
    delays = [1000, 2000, 4000, 1000]        # t_avg 2000
    for c, d in enumerate(delays):
        s.observe(c, d)
    tsw = [s.t_switch(c) for c in range(4)]
    assert tsw == [4000, 2000, 1000, 4000]
    gap = 10
    h = 0x1234_5675                          # & 7 = 5: starts at reta[5] = 3 (its RSS core)
    flows = np.zeros(1, FLOWLET_DTYPE)
    trace = run_constant_rate(s, flows, h, gap, 3000)
    runs = dwell_runs(trace)
    assert trace[0][1] == reta.queue(h) == 3
    expected_cores = [reta[(h + k) & 7] for k in range(len(runs))]
    assert [r[0] for r in runs] == expected_cores
    # every complete flowlet dwells exactly t_switch(core): it switches at the
    # first packet with now - start >= t_switch, so the run covers t_switch/gap packets
    starts = [r[1] for r in runs]
    for k, r in enumerate(runs[:-1]):
        assert starts[k + 1] - starts[k] == tsw[r[0]]
    assert flows[0]["rx_id"] == (h + len(runs) - 1) & 0xFFFFFFFF
    assert s.switches == len(runs) - 1
    # slower cores get shorter dwell: core 2 (4000 ns delay) vs core 0 (1000 ns)
    dwell = {r[0]: starts[k + 1] - starts[k] for k, r in enumerate(runs[:-1])}
    assert dwell[2] < dwell[1] < dwell[0] == dwell[3]


def test_dwell_rounds_up_to_packet_gaps():
    s = sched(n_cores=2, n_para=2, t_switch_init_ns=25, t_switch_min_ns=25, t_switch_max_ns=25)
    flows = np.zeros(1, FLOWLET_DTYPE)
    trace = run_constant_rate(s, flows, 0, 10, 12)
    # 25 ns interval, packets every 10 ns: switch at the 3rd gap (30 ns)
    assert [c for _, c in trace] == [0, 0, 0, 1, 1, 1, 0, 0, 0, 1, 1, 1]


def test_rx_id_wraps_at_32_bits():
    s = sched(n_cores=2, n_para=2, t_switch_init_ns=1, t_switch_min_ns=1, t_switch_max_ns=1)
    flows = np.zeros(1, FLOWLET_DTYPE)
    s.start(flows, 0, 2**32 - 1, 0)
    assert s.steer(flows, 0, 1) == 0 and flows[0]["rx_id"] == 0


def test_reta_changes_apply_at_next_switch():
    reta = IndirectionTable(4, size=4)
    s = FlowletScheduler(4, n_para=2, reta=reta, t_switch_min_ns=10, t_switch_max_ns=10,
                         t_switch_init_ns=10)
    flows = np.zeros(1, FLOWLET_DTYPE)
    assert s.start(flows, 0, 0, 0) == 0
    reta[1] = 3
    assert s.steer(flows, 0, 5) == 0
    assert s.steer(flows, 0, 10) == 3


def test_steer_burst_equals_per_packet():
    rng = np.random.default_rng(11)
    a = sched(n_cores=4, n_para=3, alpha=0.75, smoothing=0.25, t_switch_min_ns=5,
              t_switch_max_ns=400, t_switch_init_ns=50)
    b = sched(n_cores=4, n_para=3, alpha=0.75, smoothing=0.25, t_switch_min_ns=5,
              t_switch_max_ns=400, t_switch_init_ns=50)
    fa, fb = np.zeros(20, FLOWLET_DTYPE), np.zeros(20, FLOWLET_DTYPE)
    hashes = rng.integers(0, 2**32, 20, dtype=np.uint32)
    for i, h in enumerate(hashes.tolist()):
        assert a.start(fa, i, h, 0) == b.start(fb, i, h, 0)
    now = 0
    for _ in range(20):
        cores = rng.integers(0, 4, 30).astype(np.uint16)
        delays = rng.integers(0, 500, 30).astype(np.int64)
        a.observe_burst(cores, delays)
        for c, d in zip(cores.tolist(), delays.tolist()):
            b.observe(c, d)
        idx = rng.integers(0, 20, 200).astype(np.int64)
        times = now + np.cumsum(rng.integers(0, 5, 200)).astype(np.int64)
        now = int(times[-1])
        out = a.steer_burst(fa, idx, times)
        ref = [b.steer(fb, int(i), int(t)) for i, t in zip(idx, times)]
        assert out.tolist() == ref
    assert fa.tobytes() == fb.tobytes()
    assert (a.switches, a.samples, a.t_avg) == (b.switches, b.samples, b.t_avg)
    assert a.switches > 0


def test_repr_and_defaults():
    s = FlowletScheduler(4)
    assert s.n_para == 2 and s.alpha == 1.0 and s.smoothing == 0.125
    assert len(s.reta) == 128 and s.reta.n_queues == 4
    assert repr(s).startswith("FlowletScheduler(n_cores=4, n_para=2, alpha=1.0")


# -- documented errors ----------------------------------------------------------------

@pytest.mark.parametrize("kwargs, exc, msg", [
    (dict(n_cores=0), ValueError, "n_cores must be in [1, 2**16 - 1], got 0"),
    (dict(n_cores=65536), ValueError, "n_cores must be in [1, 2**16 - 1], got 65536"),
    (dict(n_cores="4"), TypeError, "n_cores must be an integer, got '4'"),
    (dict(n_cores=4, n_para=0), ValueError, "n_para must be in [1, 2**16 - 1], got 0"),
    (dict(n_cores=4, alpha=0), ValueError, "alpha must be in (0, 1], got 0"),
    (dict(n_cores=4, alpha=1.5), ValueError, "alpha must be in (0, 1], got 1.5"),
    (dict(n_cores=4, alpha=-0.5), ValueError, "alpha must be in (0, 1], got -0.5"),
    (dict(n_cores=4, alpha=float("nan")), ValueError, "alpha must be in (0, 1], got nan"),
    (dict(n_cores=4, alpha="1"), TypeError, "alpha must be a real number in (0, 1], got '1'"),
    (dict(n_cores=4, alpha=True), TypeError, "alpha must be a real number in (0, 1], got True"),
    (dict(n_cores=4, smoothing=0.0), ValueError, "smoothing must be in (0, 1], got 0.0"),
    (dict(n_cores=4, smoothing=2), ValueError, "smoothing must be in (0, 1], got 2"),
    (dict(n_cores=4, t_switch_min_ns=-1), ValueError, "t_switch_min_ns must be in [0, 2**62], got -1"),
    (dict(n_cores=4, t_switch_min_ns=10, t_switch_max_ns=5), ValueError,
     "t_switch_max_ns must be >= t_switch_min_ns = 10, got 5"),
    (dict(n_cores=4, t_switch_min_ns=10, t_switch_max_ns=20, t_switch_init_ns=30), ValueError,
     "t_switch_init_ns must be in [t_switch_min_ns, t_switch_max_ns] = [10, 20], got 30"),
    (dict(n_cores=4, reta=[0, 1]), TypeError, "reta must be an IndirectionTable, got list"),
    (dict(n_cores=4, reta=IndirectionTable(8)), ValueError,
     "reta must map to cores below n_cores = 4, got an IndirectionTable with n_queues = 8"),
])
def test_constructor_errors(kwargs, exc, msg):
    with pytest.raises(exc, match=re.escape(msg)):
        FlowletScheduler(**kwargs)


def _readonly_flows():
    f = np.zeros(2, FLOWLET_DTYPE)
    f.flags.writeable = False
    return f


def _state(s, flows):
    return (s.t_avg, [s.t_cpu(c) for c in range(s.n_cores)], s.samples, s.switches,
            flows.tobytes())


@pytest.mark.parametrize("call, exc, msg", [
    (lambda s, f: s.observe(4, 10), ValueError, "core must be in [0, 3], got 4"),
    (lambda s, f: s.observe(-1, 10), ValueError, "core must be in [0, 3], got -1"),
    (lambda s, f: s.observe(1, -1), ValueError, "delay_ns must be in [0, 2**40], got -1"),
    (lambda s, f: s.observe(1, 2**40 + 1), ValueError, "delay_ns must be in [0, 2**40], got"),
    (lambda s, f: s.observe(1, 1.0), TypeError, "delay_ns must be an integer, got 1.0"),
    (lambda s, f: s.observe_burst(np.array([0, 4], np.uint16), np.array([1, 1])), ValueError,
     "cores must be in [0, 3], got cores[1] = 4"),
    (lambda s, f: s.observe_burst(np.array([0, 1], np.uint16), np.array([1, -1])), ValueError,
     "delays_ns must be in [0, 2**40], got delays_ns[1] = -1"),
    (lambda s, f: s.observe_burst(np.array([0, 1], np.int16), np.array([1, 1])), TypeError,
     "cores must have dtype uint16, got int16"),
    (lambda s, f: s.observe_burst(np.array([0, 1], np.uint16), np.array([1])), ValueError,
     "delays_ns must have length 2, got 1"),
    (lambda s, f: s.t_switch(9), ValueError, "core must be in [0, 3], got 9"),
    (lambda s, f: s.t_cpu(9), ValueError, "core must be in [0, 3], got 9"),
    (lambda s, f: s.start(f, 2, 0, 200), ValueError, "index must be in [0, 1], got 2"),
    (lambda s, f: s.start(f, 0, 2**32, 200), ValueError, "flow_hash must be in [0, 2**32 - 1]"),
    (lambda s, f: s.start(f, 0, 0, 99), ValueError, "now_ns must not go backwards, got 99 after 100"),
    (lambda s, f: s.steer(f, 0, 99), ValueError, "now_ns must not go backwards, got 99 after 100"),
    (lambda s, f: s.steer(f, 0, -5), ValueError, "now_ns must be in [0, 2**63 - 1], got -5"),
    (lambda s, f: s.steer(f, -1, 200), ValueError, "index must be in [0, 1], got -1"),
    (lambda s, f: s.steer(np.zeros(2, np.int64), 0, 200), TypeError, "flows must have dtype"),
    (lambda s, f: s.steer(np.zeros(4, FLOWLET_DTYPE)[::2], 0, 200), ValueError,
     "flows must be C-contiguous"),
    (lambda s, f: s.steer(np.zeros((1, 2), FLOWLET_DTYPE), 0, 200), ValueError,
     "flows must be 1-dimensional, got shape (1, 2)"),
    (lambda s, f: s.steer(_readonly_flows(), 0, 200), ValueError, "flows must be writable, got a read-only array"),
    (lambda s, f: s.steer_burst(_readonly_flows(), np.array([0]), np.array([200])), ValueError,
     "flows must be writable, got a read-only array"),
    (lambda s, f: s.steer_burst(f, np.array([0, 2]), np.array([200, 201])), ValueError,
     "index must be in [0, 1], got index[1] = 2"),
    (lambda s, f: s.steer_burst(f, np.array([0, 1]), np.array([200, 199])), ValueError,
     "now_ns must not go backwards, got now_ns[1] = 199 after 200"),
    (lambda s, f: s.steer_burst(f, np.array([0, 1], np.int32), np.array([200, 201])), TypeError,
     "index must have dtype int64, got int32"),
    (lambda s, f: s.steer_burst(f, np.array([0, 1]), np.array([200, 201]), np.empty(3, np.uint16)),
     ValueError, "out must have length 2, got 3"),
])
def test_call_errors_leave_state_unchanged(call, exc, msg):
    s = sched(n_cores=4, n_para=2, t_switch_init_ns=10)
    s.observe(0, 50)
    f = np.zeros(2, FLOWLET_DTYPE)
    s.start(f, 0, 5, 0)
    s.start(f, 1, 6, 100)
    before = _state(s, f)
    with pytest.raises(exc, match=re.escape(msg)):
        call(s, f)
    assert _state(s, f) == before


def test_user_field_is_never_touched():
    s = sched(n_cores=2, n_para=2, t_switch_init_ns=5, t_switch_min_ns=5, t_switch_max_ns=5)
    flows = np.zeros(3, FLOWLET_DTYPE)
    flows["user"] = [11, 22, 33]
    for i in range(3):
        s.start(flows, i, i, 0)
    s.steer_burst(flows, np.array([0, 1, 2, 0] * 10, np.int64), np.arange(0, 400, 10))
    assert flows["user"].tolist() == [11, 22, 33]
    assert s.switches > 0


_SCHED_MUTATORS = {   # valid calls that change the scheduler (or its flows `f`)
    "observe": lambda s, f, t: s.observe(1, 500),
    "observe_burst": lambda s, f, t: s.observe_burst(np.array([1, 2], np.uint16),
                                                     np.array([500, 600])),
    "start": lambda s, f, t: s.start(f, 0, 9, t),
    "steer": lambda s, f, t: s.steer(f, 1, t),
    "steer_burst": lambda s, f, t: s.steer_burst(f, np.array([0, 1]), np.array([t, t + 1])).tolist(),
}


def _burst(kind, n, seed):
    rng = np.random.default_rng(seed)
    if kind == "observe_burst":
        return (rng.integers(0, 8, n).astype(np.uint16), rng.integers(0, 10_000, n))
    return (np.zeros(4096, FLOWLET_DTYPE), rng.integers(0, 4096, n),
            np.arange(1000, 1000 + n, dtype=np.int64))


@pytest.mark.parametrize("kind", ["observe_burst", "steer_burst"])
def test_second_thread_is_refused_while_a_burst_runs(kind):
    # The bursts release the GIL; calls that change the scheduler from another
    # thread are refused meanwhile (nothing changes), the queries still answer,
    # and the scheduler works again once the burst is over.
    n = 1 << 21
    for attempt in range(3):
        s, ref = (sched(n_cores=8, n_para=4, t_switch_init_ns=300) for _ in range(2))
        f, ref_f = np.zeros(2, FLOWLET_DTYPE), np.zeros(2, FLOWLET_DTYPE)
        for x, xf in ((s, f), (ref, ref_f)):
            x.observe_burst(np.arange(5, dtype=np.uint16), np.arange(1, 6) * 1000)
            x.start(xf, 0, 5, 0)
            x.start(xf, 1, 6, 100)
        before = (s.t_avg, [s.t_cpu(c) for c in range(8)], [s.t_switch(c) for c in range(8)])
        args = _burst(kind, n, attempt)
        results = {}
        probes = {name: (lambda m=m: m(s, f, 150)) for name, m in _SCHED_MUTATORS.items()}
        probes["queries"] = lambda: (s.t_avg, [s.t_cpu(c) for c in range(8)],
                                     [s.t_switch(c) for c in range(8)])
        empty = np.empty(0, np.uint16), np.empty(0, np.int64)
        outcomes = while_busy(lambda: results.update(out=getattr(s, kind)(*args)),
                               lambda: s.observe_burst(*empty), probes)
        if outcomes is not None:
            break
        n *= 2
    else:
        pytest.fail(f"{kind} was never seen running")
    for name in _SCHED_MUTATORS:
        assert isinstance(outcomes[name], RuntimeError), name
        assert str(outcomes[name]) == (
            "FlowletScheduler is in use by another thread (a burst is running without "
            "the GIL); give each thread its own FlowletScheduler")
    t_avg, t_cpu, t_switch = outcomes["queries"]
    if kind == "steer_burst":     # the delays do not change: the same answers
        assert (t_avg, t_cpu, t_switch) == before
    else:                         # mid-burst delays, whatever they are now
        assert 0 <= t_avg < 10_000 and all(0 <= t < 10_000 for t in t_cpu[:5])
        assert all(0 <= t <= 10**9 for t in t_switch)
    ref_args = _burst(kind, n, attempt)
    ref_out = getattr(ref, kind)(*ref_args)
    if kind == "steer_burst":
        np.testing.assert_array_equal(results["out"], ref_out)
        assert args[0].tobytes() == ref_args[0].tobytes()
    later = n + 2000
    assert _state(s, f) == _state(ref, ref_f)
    assert s.t_avg == ref.t_avg and [s.t_switch(c) for c in range(8)] == [
        ref.t_switch(c) for c in range(8)]
    for name, m in _SCHED_MUTATORS.items():    # free again: same as the reference
        assert m(s, f, later) == m(ref, ref_f, later), name
    assert _state(s, f) == _state(ref, ref_f)


def test_flow_record_with_core_at_its_type_max_never_indexes():
    # A flow state written by someone else (here: every field at its type's
    # maximum) must not reach the per-core tables: the flow switches at once.
    s = FlowletScheduler(4, n_para=2)
    flows = np.zeros(2, FLOWLET_DTYPE)
    for f in flows.dtype.names:
        flows[f] = np.iinfo(flows.dtype[f]).max
    core = s.steer(flows, 0, 10)
    assert 0 <= core < 4 and flows["core"][0] == core
    out = s.steer_burst(flows, np.array([1, 1], np.int64), np.array([10, 11], np.int64))
    assert all(0 <= c < 4 for c in out)
    single = FlowletScheduler(4, n_para=1)
    flows["core"] = 0xFFFF
    assert 0 <= single.steer(flows, 0, 10) < 4
