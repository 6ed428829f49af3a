"""The default reorder timeout (and window): right at any core speed, 10 kpps to 10 Mpps.

Regression tests of issue 16: on 15 kpps cores a fixed 500 us timeout put
tens of thousands of packets out of order; derived from the measured delays,
none.  Every run here is short (tens of thousands of packets).
"""

import dataclasses
import itertools

import numpy as np

import pytest

import tracegen as tg
from paraflowo.reorder import ReorderQueues
from paraflowo.sim import load_scenario, parse_scenario, simulate
from paraflowo.sim.pcap import read_pcap
from paraflowo.sim.timeout import (
    FLOOR_NS,
    IDLE_FLOOR_NS,
    GAIN,
    AdaptiveTimeout,
    derived_idle_ns,
    derived_window,
    longest_wait_ns,
)


@pytest.fixture(scope="module")
def slow_capture(tmp_path_factory):
    """A 1 s capture: a 40 kpps TCP elephant, 20 mice, ARP/VLAN/IPv6 extras."""
    p = tmp_path_factory.mktemp("cap") / "elephant.pcap"
    tg.write_pcap(p, tg.elephant_and_mice(1.0, elephant_pps=40_000, n_mice=20, mice_pps=400))
    return read_pcap(p)


def _slow(trace, **para):
    # cores of 15 kpps each: slower than the elephant, which needs about 3 of them
    return parse_scenario({"name": "slow", "duration_s": trace.duration_ns / 1e9,
                           "cores": {"count": 4, "service_mpps": 0.015},
                           "paraflowo": dict(threshold_pps=10_000.0, **para)})


def test_fixed_500us_fails_on_slow_cores(slow_capture):
    # the failure of the issue, reproduced with the old default given explicitly
    r = simulate(_slow(slow_capture, timeout_us=500.0), ["spray", "paraflowo"],
                 trace=slow_capture)
    p = r.policies["paraflowo"]
    assert p["paraflowo"]["timeouts"] > 100
    assert p["out_of_order"] > 10 * max(1, r.policies["spray"]["out_of_order"])
    assert p["paraflowo"]["timeout"] == {"mode": "fixed", "final_us": 500.0}
    # ... and the output names the knob
    assert any("raise [paraflowo] timeout_us" in n for n in r.notes)


def test_default_timeout_is_perfect_on_slow_cores(slow_capture):
    r = simulate(_slow(slow_capture), ["spray", "paraflowo"], trace=slow_capture)
    p = r.policies["paraflowo"]
    assert p["paraflowo"]["para_flows"] == 1             # the elephant was split
    assert p["out_of_order"] == 0 and p["drops"] == 0
    assert p["paraflowo"]["timeouts"] == 0
    t = p["paraflowo"]["timeout"]
    assert t["mode"] == "auto" and 1_000 < t["final_us"] <= t["cap_us"]
    assert not [n for n in r.notes if "timeout_us" in n or "window" in n]


def test_default_is_perfect_on_paper_fig7():
    s = load_scenario("paper-fig7").with_duration(0.3)
    r = simulate(s, ["spray", "paraflowo"])
    p = r.policies["paraflowo"]
    assert p["paraflowo"]["para_flows"] >= 1
    assert p["out_of_order"] == 0 and p["paraflowo"]["timeouts"] == 0
    assert r.policies["spray"]["out_of_order"] > 0


def _grid_scenario(mpps, load, service, hetero):
    n = 4
    rates = [mpps * (0.8 if i % 2 else 1.2) for i in range(n)] if hetero else [mpps] * n
    cap = sum(rates) * 1e6
    elephant = 0.7 * load * cap                  # more than one core's worth
    dur = 25_000 / (load * cap)                  # about 25,000 packets
    return parse_scenario({
        "name": "grid", "duration_s": dur, "seed": 2, "bin_s": dur / 4,
        "cores": {"count": n, "service_mpps": rates, "service": service},
        "flows": [{"name": "elephant", "rate_pps": elephant, "jitter": 0.1},
                  {"name": "mice", "count": 30, "rate_pps": 0.3 * load * cap / 30}],
        "paraflowo": {"threshold_pps": elephant / 4,
                      "detector_window_s": min(0.01, 2000 / elephant)}})


@pytest.mark.parametrize("mpps, load, service, hetero", [
    (m, ld, sv, h) for (m, ld), sv, h in itertools.product(
        [(0.01, 0.8), (0.01, 1.3), (0.1, 0.95), (1.0, 0.5), (1.0, 1.3), (10.0, 0.95)],
        ["deterministic", "exponential"], [False, True])])
def test_default_never_reorders_more_than_spray(mpps, load, service, hetero):
    """Cores from 10 kpps to 10 Mpps, under- and overloaded: ParaFlowO <= spray, 0 below 1."""
    r = simulate(_grid_scenario(mpps, load, service, hetero), ["spray", "paraflowo"],
                 workers=1)
    p, s = r.policies["paraflowo"], r.policies["spray"]
    assert p["paraflowo"]["para_flows"] == 1
    assert p["out_of_order"] <= s["out_of_order"]
    if load < 1:
        assert p["out_of_order"] == 0 and p["paraflowo"]["timeouts"] == 0


def test_explicit_timeout_and_window_win():
    s = _grid_scenario(1.0, 0.5, "deterministic", False)
    s = dataclasses.replace(s, paraflowo=dict(s.paraflowo, timeout_us=750.0, window=512))
    p = simulate(s, ["paraflowo"]).policies["paraflowo"]["paraflowo"]
    assert p["timeout"] == {"mode": "fixed", "final_us": 750.0} and p["window"] == 512
    assert p["idle_ms"] == 10.0                  # 1 Mpps cores: the derived idle's floor
    s = dataclasses.replace(s, paraflowo=dict(s.paraflowo, timeout_us=0.0))
    p = simulate(s, ["paraflowo"]).policies["paraflowo"]["paraflowo"]
    assert p["timeout"]["final_us"] == 0.0 and p["timeouts"] == 0


# ----------------------------------------------------------------- the formula
class _Sched:
    def __init__(self, delays):
        self.delays = delays

    def t_cpu(self, core):
        return self.delays[core]


def test_formula_floor_gain_cap():
    rq = ReorderQueues(4, 64, None, 16)
    sched = _Sched([None, None])
    auto = AdaptiveTimeout(sched, rq, [1000.0, 1200.0], 4096, False)
    cap = 4097 * 1200
    assert auto.cap_ns == cap == longest_wait_ns([1000.0, 1200.0], 4096, False)
    # before any sample: the cap
    assert auto.target() is None and rq.buffers[0].timeout_ns == cap
    sched.delays = [2_000, None]                 # small delays: the floor
    auto.update()
    assert auto.value_ns == FLOOR_NS == rq.buffers[3].timeout_ns
    sched.delays = [2_000, 20_000]               # GAIN x the largest
    auto.update()
    assert auto.value_ns == GAIN * 20_000 == rq.buffers[1].timeout_ns
    sched.delays = [2_000, 10**9]                # never above the cap
    auto.update()
    assert auto.value_ns == cap
    assert auto.summary()["changes"] == 3 and auto.summary()["min_us"] == FLOOR_NS / 1e3
    # exponential service: the cap doubles
    assert AdaptiveTimeout(sched, rq, [1000.0], 99, True).cap_ns == 2 * 100 * 1000


def test_slow_core_floor_is_many_service_times():
    rq = ReorderQueues(1, 64, None, 16)
    auto = AdaptiveTimeout(_Sched([1]), rq, [66_667.0], 4096, False)   # 15 kpps
    auto.update()
    assert auto.value_ns == 32 * 66_667


def test_derived_window_worked_numbers():
    # 40 kpps elephant, 15 kpps cores: 273 ms of wait -> 10,925 packets in flight
    assert derived_window(40_000, longest_wait_ns([66_667.0], 4096, False), 16, 64) == 16384
    # paper-fig7: 0.85 Mpps peak, 4.2 ms -> 3,590 packets
    assert derived_window(847_000, longest_wait_ns([1031.0], 4096, False), 16, 64) == 4096
    assert derived_window(10, 1000, 16, 64) == 1024                    # at least 1024
    assert derived_window(1e9, 10**9, 16, 64) == 16384                 # 2**20 slots / 64
    assert derived_window(1e9, 10**9, 12, 64) == 2048                  # 2**(psn_bits-1)


def test_set_timeout_moves_held_deadlines():
    rq = ReorderQueues(2, 8, 1000, 16)
    rq.insert(0, 1, 11, 0)                       # PSN 0 missing: held
    assert rq.next_deadline == 1000
    rq.set_timeout(50_000)
    assert rq.next_deadline == 50_000
    assert rq.drain(1000)[0].tolist() == []
    rq.set_timeout(10)                           # shorter: due at the next drain
    assert rq.drain(1000)[0].tolist() == [11]
    rq.set_timeout(None)
    assert rq.buffers[0].timeout_ns is None and rq.buffers[1].timeout_ns is None


@pytest.mark.parametrize("bad, exc", [(-1, ValueError), (1.5, TypeError), ("1", TypeError),
                                      (2**63, ValueError)])
def test_set_timeout_rejects_bad_values(bad, exc):
    rq = ReorderQueues(2, 8, 1000, 16)
    with pytest.raises(exc, match="timeout_ns must be"):
        rq.set_timeout(bad)
    assert rq.buffers[0].timeout_ns == 1000      # unchanged


def test_a_trace_sizes_the_window_by_its_busiest_10ms(slow_capture):
    peak = slow_capture.peak_pps()
    fid = int(np.argmax(peak))
    assert slow_capture.keys[fid][2:] == (40000, 5201, 6)           # the elephant
    assert 40_000 * 0.95 < peak[fid] < 40_000 * 1.3                  # jittered gaps
    table = slow_capture.flow_table()
    assert (table.peak_pps >= table.rate_pps).all()
    r = simulate(_slow(slow_capture), ["paraflowo"], trace=slow_capture)
    want = derived_window(float(table.peak_pps.max()), 4097 * 1e9 / 15_000, 16, 64)
    assert r.policies["paraflowo"]["paraflowo"]["window"] == want == 16384


# --------------------------------------- slow-core overflow: the idle time (issue 16 follow-up)
@pytest.fixture(scope="module")
def bursty_capture(tmp_path_factory):
    """1 s: a 35 kpps TCP elephant in line-rate bursts with 12-30 ms pauses, 4 mice."""
    p = tmp_path_factory.mktemp("cap") / "bursty.pcap"
    tg.write_pcap(p, tg.bursty_elephant(1.0, seed=3))
    return read_pcap(p)


def _elephant_gaps_ns(trace):
    # pure Python: the gaps between the elephant's consecutive packets
    fid = [k[2:] for k in trace.keys].index((40000, 5201, 6))     # the elephant
    t = [int(x) for x, f in zip(trace.times.tolist(), trace.flows.tolist()) if f == fid]
    return [b - a for a, b in zip(t, t[1:])]


def test_derived_idle_is_the_longest_wait():
    assert derived_idle_ns(longest_wait_ns([66_667.0], 4096, False)) == 4097 * 66_667  # 273 ms
    assert derived_idle_ns(longest_wait_ns([1031.0], 4096, False)) == IDLE_FLOOR_NS == 10**7
    assert derived_idle_ns(longest_wait_ns([66_667.0], 4096, True)) == 2 * 4097 * 66_667


def test_fixed_10ms_idle_resplits_and_overflows_on_slow_cores(bursty_capture):
    # the reviewer's failure, with the old default given explicitly: every
    # pause over 10 ms ends the para_flow; each new first flowlet is held on
    # the RSS core, which overflows, and packets still on other cores are
    # overtaken by the re-split flow
    gaps = _elephant_gaps_ns(bursty_capture)
    long_gaps = sum(g >= 10**7 for g in gaps)
    assert long_gaps >= 5 and max(gaps) < 4097 * 66_667
    r = simulate(_slow(bursty_capture, idle_ms=10.0), ["spray", "paraflowo"],
                 trace=bursty_capture)
    p, s = r.policies["paraflowo"], r.policies["spray"]
    assert s["out_of_order"] == 0 and s["drops"] == 0         # load 0.6: spraying copes
    assert 1 < p["paraflowo"]["para_flows"] <= 1 + long_gaps
    assert p["out_of_order"] > 0 and p["drops"] > 0
    assert p["paraflowo"]["first_flowlet_holds"] > 1000


def test_default_idle_is_perfect_on_a_bursty_elephant_over_slow_cores(bursty_capture):
    r = simulate(_slow(bursty_capture), ["spray", "paraflowo"], trace=bursty_capture)
    p = r.policies["paraflowo"]
    assert p["paraflowo"]["para_flows"] == 1                  # split once, never re-split
    assert p["paraflowo"]["idle_ms"] == int(4097 * 1e9 / 15_000) / 1e6   # longest wait, 273 ms
    assert p["out_of_order"] == 0 and p["drops"] == 0
    assert p["paraflowo"]["timeouts"] == 0 and p["paraflowo"]["forwarded_late"] == 0
    assert p["completed"] == p["packets"] == len(bursty_capture.times)


@pytest.mark.parametrize("mpps, service", list(itertools.product(
    [0.01, 0.03, 0.1], ["deterministic", "exponential"])))
def test_default_never_reorders_a_bursty_elephant(tmp_path, mpps, service):
    """An elephant of 2.4 cores' worth in bursts and pauses, load about 0.6: none out of order."""
    epps = 2.4 * mpps * 1e6
    path = tmp_path / "b.pcap"
    tg.write_pcap(path, tg.bursty_elephant(20_000 / epps, elephant_pps=epps, seed=3))
    tr = read_pcap(path)
    s = parse_scenario({"name": "bursty", "duration_s": tr.duration_ns / 1e9,
                        "cores": {"count": 4, "service_mpps": mpps, "service": service},
                        "paraflowo": {"threshold_pps": epps / 4,
                                      "detector_window_s": min(0.01, 2000 / epps)}})
    r = simulate(s, ["spray", "paraflowo"], trace=tr, workers=1)
    p, s = r.policies["paraflowo"], r.policies["spray"]
    assert p["paraflowo"]["para_flows"] == 1
    assert p["out_of_order"] == 0 and p["drops"] == 0 and p["paraflowo"]["timeouts"] == 0
    assert s["drops"] == 0 and (s["out_of_order"] > 0) == (service == "exponential")


def test_idle_ms_default_and_bad_values():
    base = {"name": "s", "duration_s": 0.01, "cores": {"count": 2, "service_mpps": 1.0},
            "flows": [{"name": "f", "rate_pps": 1000.0}]}
    assert parse_scenario(base).paraflowo["idle_ms"] is None            # derived
    assert parse_scenario(dict(base, paraflowo={"idle_ms": 2.5})).paraflowo["idle_ms"] == 2.5
    for bad, exc in [(0, ValueError), (-1.0, ValueError), ("10", ValueError)]:   # a file value
        with pytest.raises(exc, match="paraflowo.idle_ms must be"):
            parse_scenario(dict(base, paraflowo={"idle_ms": bad}))
