"""The live dataplane on real threads (2 workers).

* ``vswitch``: the vSwitch thread's own cost per packet with the ``forward``
  NF (CPU time of the thread / packets, and Mpps), next to a plain loop that
  moves the same number of records through the same rings and workers with
  no parsing, hashing, steering, packet store or egress.
* ``elephant``: one elephant (90 % of packets) among mice with ``spin:2000``
  on 2 workers, ``paraflowo`` and ``rss`` side by side in one run; the pps
  ratio is recorded in ``extra_info["ratio_vs_rss"]``, next to the machine's
  own ceiling in the same run (``ceiling_2_vs_1``: the plain ring loop with
  the same NF on 2 workers over 1 worker; on a shared machine this is what
  the CPU share allows any policy).  The same with
  ``sleep:20000`` (I/O-bound workers, whose capacity does not depend on the
  CPU share of a shared machine).

Speed is recorded, never asserted; correctness (conservation, zero
out-of-order under ``paraflowo``) is.  On a shared machine compare the
figures of one run only.
"""

import pytest

from benchutil import packets

from dptrace import elephant_and_mice

from paraflowo.dataplane import Dataplane, SpinNF, calibrate_spin, make_nf, make_policy, run_trace


@pytest.fixture(scope="module")
def trace():
    n = packets(20000, 2000)
    return elephant_and_mice(n_elephant=n * 9 // 10, n_mice=n // 10)[0]


@pytest.mark.benchmark(group="dataplane-vswitch")
@pytest.mark.parametrize("loop", ["vswitch-forward", "plain-rings"])
def test_vswitch_cost_per_packet(benchmark, trace, loop):
    loops = 10 if packets(1, 0) else 1
    dp = Dataplane(make_policy("paraflowo", 2), make_nf("forward"))
    res = {}

    def run():
        if loop == "plain-rings":
            res.update(dp.ring_baseline(len(trace) * loops))
        else:
            res.update(run_trace(trace, loops=loops, dataplane=dp)[0])

    benchmark.pedantic(run, rounds=3, iterations=1)
    n = res["packets_out"]
    assert n == len(trace) * loops
    sec = max(res["seconds"], 1e-9)
    benchmark.extra_info["mpps"] = n / sec / 1e6
    benchmark.extra_info["vswitch_ns_per_packet"] = res["vswitch_cpu_ns"] / n


@pytest.mark.benchmark(group="dataplane-elephant")
def test_elephant_spin2000_paraflowo_vs_rss(benchmark, trace):
    steps = calibrate_spin()
    loops = 5 if packets(1, 0) else 1
    out = {}

    ceiling = {}

    def run():
        for policy in ("rss", "paraflowo"):
            dp = Dataplane(make_policy(policy, 2), SpinNF(2000, steps_per_ns=steps), ring=1024)
            out[policy] = run_trace(trace, loops=loops, dataplane=dp)[0]
        # the machine's own ceiling in this run: the same NF on 1 and on 2
        # workers fed round robin by the plain ring loop (no policy at all)
        for w in (1, 2):
            dp = Dataplane(make_policy("rss", w), SpinNF(2000, steps_per_ns=steps))
            b = dp.ring_baseline(len(trace) * loops)
            ceiling[w] = b["packets_out"] / b["seconds"] / 1e6

    benchmark.pedantic(run, rounds=1, iterations=1)
    benchmark.extra_info["plain_1_worker_mpps"] = ceiling[1]
    benchmark.extra_info["plain_2_workers_mpps"] = ceiling[2]
    benchmark.extra_info["ceiling_2_vs_1"] = ceiling[2] / ceiling[1]
    for policy, r in out.items():
        assert r["packets_out"] == r["packets_in"] == len(trace) * loops
        benchmark.extra_info[f"{policy}_mpps"] = r["mpps"]
        benchmark.extra_info[f"{policy}_utilization"] = r["worker_utilization"]
        # why a worker was not busy: its rx ring empty (starved), or the CPU
        # share it was given; and what the vSwitch took of that share
        benchmark.extra_info[f"{policy}_starved"] = r["worker_starved"]
        benchmark.extra_info[f"{policy}_worker_cpu_share"] = r["worker_cpu_share"]
        benchmark.extra_info[f"{policy}_vswitch_cpu_share"] = r["vswitch_cpu_share"]
        benchmark.extra_info[f"{policy}_vswitch_ns_per_packet"] = (
            r["vswitch_cpu_ns"] / r["packets_out"])
        benchmark.extra_info[f"{policy}_vswitch_naps"] = r["vswitch_naps"]
    assert out["paraflowo"]["out_of_order"] == 0
    benchmark.extra_info["ratio_vs_rss"] = out["paraflowo"]["mpps"] / out["rss"]["mpps"]


@pytest.mark.benchmark(group="dataplane-elephant")
def test_elephant_sleep_paraflowo_vs_rss(benchmark, trace):
    """As above with ``sleep:20000``: the workers wait instead of computing,
    so their capacity does not follow the CPU share a shared machine gives."""
    n = min(len(trace), packets(4000, 400))
    from paraflowo.dataplane import Capture
    small = Capture(trace.data, trace.offsets[:n], trace.lengths[:n], trace.ts_ns[:n])
    out = {}

    def run():
        for policy in ("rss", "paraflowo"):
            dp = Dataplane(make_policy(policy, 2), make_nf("sleep:20000"))
            out[policy] = run_trace(small, dataplane=dp)[0]

    benchmark.pedantic(run, rounds=1, iterations=1)
    for policy, r in out.items():
        assert r["packets_out"] == r["packets_in"] == n
        benchmark.extra_info[f"{policy}_mpps"] = r["mpps"]
        benchmark.extra_info[f"{policy}_utilization"] = r["worker_utilization"]
    assert out["paraflowo"]["out_of_order"] == 0
    benchmark.extra_info["ratio_vs_rss"] = out["paraflowo"]["mpps"] / out["rss"]["mpps"]
