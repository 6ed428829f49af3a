"""Small bursts: every public numpy burst method at 32 records per call vs one large call.

Dataplanes call in bursts of 32 (DPDK's usual ``rx_burst`` size), so the fixed
cost of one call (argument parsing, binding each array's buffer, the busy guard,
releasing the GIL) is paid every 32 records.  Each case here processes the same
``N`` records (8 x 65,536) from the same fresh state in two shapes:

* **32 per call**: a Python loop of ``N / 32`` calls over views of the input
  (made before timing), reusing one set of 32-record output arrays, as a
  dataplane's loop would;
* **65,536 per call** (the large burst): ``N / 65,536`` calls.

(Eight large calls rather than one, so that each timing lasts milliseconds:
a 0.2 ms timing on a shared machine is at the mercy of one context switch.)

Run as a script for the table (CPU time of this thread, ``time.thread_time``,
minimum over repeats, both shapes alternately in the same run, so a noisy
shared machine biases neither)::

    python benchmarks/bench_bursts.py                # all cases, 9 repeats
    python benchmarks/bench_bursts.py --rst          # the docs' list-table
    python benchmarks/bench_bursts.py -k detectors -r 15

or with pytest-benchmark (``extra_info["mpps"]`` per case and shape; its wall
clock is noisier than the script's CPU time)::

    pytest benchmarks/bench_bursts.py --benchmark-enable --benchmark-only

The goal (issue 17): each method at 32 per call within 2x of its large-burst
Mpps (``ratio = Mpps(65,536 per call) / Mpps(32 per call) <= 2``).
"""

from __future__ import annotations

import argparse
import operator
import sys
import time

import numpy as np

try:
    import pytest
except ImportError:                    # the script needs no pytest
    pytest = None

from paraflowo import (
    FLOWLET_DTYPE,
    FLAG_PARA,
    META_DTYPE,
    Breakup,
    CountMinDetector,
    ElephantDetector,
    FlowletScheduler,
    IndirectionTable,
    PSNAllocator,
    ReorderBuffer,
    ReorderQueues,
    SpaceSavingDetector,
    ToeplitzHasher,
    make_tuples,
    rss_hash_batch,
    toeplitz_batch,
)
from paraflowo._core.policies import make_policy

try:                                   # under pytest (conftest.py puts it on the path)
    from benchutil import packets, record_mpps
except ImportError:                    # run as a script
    packets = lambda full, quick: full  # noqa: E731
    record_mpps = None

SMALL = 32                             #: records per call of the small shape
LARGE = packets(65_536, 1_024)         #: records per call of the large shape
N = 8 * LARGE                          #: records per case
GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _data(n: int) -> dict:
    """Seeded inputs shared by the cases: Zipf(1.1) flows, one packet every 10 ns."""
    rng = np.random.default_rng(2026)
    ranks = rng.zipf(1.1, 4 * n)
    ranks = ranks[ranks <= 100_000][:n].astype(np.uint64)
    keys = ranks * GOLDEN
    tuples = np.zeros(n, dtype=make_tuples([], []).dtype)
    tuples["src_ip"] = (keys >> np.uint64(32)).astype(np.uint32)
    tuples["dst_ip"] = keys.astype(np.uint32)
    tuples["src_port"] = (ranks % np.uint64(60_000)).astype(np.uint16)
    tuples["dst_port"] = 443
    times = np.arange(n, dtype=np.int64) * 10
    psns = np.arange(n, dtype=np.uint32)
    swap = rng.random(n // 2) < 0.10                 # 10 % of pairs swapped
    pairs = psns[: n // 2 * 2].reshape(-1, 2)
    pairs[swap] = pairs[swap][:, ::-1]
    return dict(
        keys=keys,
        hashes=(keys >> np.uint64(32)).astype(np.uint32),
        ports=(ranks % np.uint64(4)).astype(np.uint16),
        lengths=np.full(n, 64, np.uint16),
        times=times,
        rows=tuples.view(np.uint8).reshape(n, 16)[:, :12].copy(),
        tuples=tuples,
        cores=(keys % np.uint64(8)).astype(np.uint16),
        delays=(times % 5000).astype(np.int64),
        egress=times + 3000,
        psns=psns,
        handles=np.arange(n, dtype=np.uint64),
    )


_DATA: dict = {}


def data(n: int = N) -> dict:
    if n not in _DATA:
        _DATA[n] = _data(n)
    return _DATA[n]


def chunks(burst: int, *arrays):
    """Views of ``arrays`` in calls of ``burst`` records (made before timing)."""
    n = len(arrays[0])
    return [tuple(a[i:i + burst] for a in arrays) for i in range(0, n, burst)]


# -- the cases: each returns a zero-argument run() over all N records ----------------
# Every factory builds its object fresh (untimed), so both shapes start alike.

def _out(burst, dtype):
    return np.empty(burst, dtype)


def case_toeplitz_batch(d, burst):
    calls, o = chunks(burst, d["rows"]), _out(burst, np.uint32)

    def run():
        for (r,) in calls:
            toeplitz_batch(r, out=o)
    return run


def case_rss_hash_batch(d, burst):
    calls, o = chunks(burst, d["tuples"]), _out(burst, np.uint32)

    def run():
        for (t,) in calls:
            rss_hash_batch(t, out=o)
    return run


def case_hasher_hash_batch(d, burst):
    h, calls, o = ToeplitzHasher(), chunks(burst, d["rows"]), _out(burst, np.uint32)

    def run():
        f = h.hash_batch
        for (r,) in calls:
            f(r, o)
    return run


def case_hasher_hash_records(d, burst):
    h, calls, o = ToeplitzHasher(), chunks(burst, d["tuples"]), _out(burst, np.uint32)

    def run():
        f = h.hash_records
        for (t,) in calls:
            f(t, 12, o)
    return run


def case_reta_queue_batch(d, burst):
    reta, calls, o = IndirectionTable(8), chunks(burst, d["hashes"]), _out(burst, np.uint16)

    def run():
        f = reta.queue_batch
        for (h,) in calls:
            f(h, o)
    return run


def _countmin():
    return CountMinDetector(4096, 4, threshold=2_000, window_ns=100_000)


def _spacesaving():
    return SpaceSavingDetector(1024, threshold=2_000, window_ns=100_000)


def _tags():
    det = ElephantDetector(max_tags=64)
    for r in range(1, 6):                          # the 5 largest flows, tagged
        det.force(r * int(GOLDEN) % 2**64, True)
    return det


def _update_times(make):
    def factory(d, burst):
        det, calls, o = make(), chunks(burst, d["keys"], d["times"]), _out(burst, np.bool_)

        def run():
            f = det.update_burst
            for k, t in calls:
                f(k, t, out=o)
        return run
    return factory


def _countmin_1s():
    # one window for the whole run: with one now_ns per call, the one-call
    # shape would otherwise rotate windows less often (different work)
    return CountMinDetector(4096, 4, threshold=2_000, window_ns=1_000_000_000)


def _update_scalar(make):
    def factory(d, burst):
        det, o = make(), _out(burst, np.bool_)
        calls = [(k, int(t[0])) for k, t in chunks(burst, d["keys"], d["times"])]

        def run():
            f = det.update_burst
            for k, t in calls:
                f(k, t, out=o)
        return run
    return factory


def _estimate(make):
    def factory(d, burst):
        det = make()
        det.update_burst(d["keys"], d["times"])
        calls, o = chunks(burst, d["keys"]), _out(burst, np.uint64)

        def run():
            f = det.estimate_burst
            for (k,) in calls:
                f(k, o)
        return run
    return factory


def case_psn_tag_burst(d, burst):
    a = PSNAllocator(4096, psn_bits=16, idle_ns=100_000)
    calls = chunks(burst, d["keys"], d["ports"], d["hashes"], d["times"])
    q, p = _out(burst, np.int32), _out(burst, np.uint32)

    def run():
        f = a.tag_burst
        for k, po, h, t in calls:
            f(k, po, h, t, q, p)
    return run


def _scheduler(d):
    s = FlowletScheduler(8, n_para=4, smoothing=0.25, t_switch_min_ns=1_000,
                         t_switch_max_ns=100_000, t_switch_init_ns=20_000)
    s.observe_burst(np.arange(8, dtype=np.uint16), np.arange(1, 9, dtype=np.int64) * 1000)
    flows = np.zeros(64, FLOWLET_DTYPE)
    for i in range(64):
        s.start(flows, i, int(d["hashes"][i]), 0)
    return s, flows


def case_scheduler_observe_burst(d, burst):
    s, _ = _scheduler(d)
    calls = chunks(burst, d["cores"], d["delays"])

    def run():
        f = s.observe_burst
        for c, dl in calls:
            f(c, dl)
    return run


def case_scheduler_steer_burst(d, burst):
    s, flows = _scheduler(d)
    index = (d["keys"] % np.uint64(64)).astype(np.int64)
    calls, o = chunks(burst, index, d["times"]), _out(burst, np.uint16)

    def run():
        f = s.steer_burst
        for i, t in calls:
            f(flows, i, t, o)
    return run


def _breakup():
    return Breakup(_countmin(), PSNAllocator(256, idle_ns=1_000_000),
                   FlowletScheduler(8, n_para=4, t_switch_init_ns=20_000), capacity=1024)


def case_breakup_ingress_burst(d, burst):
    b = _breakup()
    calls = chunks(burst, d["keys"], d["hashes"], d["ports"], d["lengths"], d["times"])
    o = _out(burst, META_DTYPE)

    def run():
        f = b.ingress_burst
        for k, h, p, ln, t in calls:
            f(k, h, p, ln, t, None, o)
    return run


def _fed_breakup(d):
    b = _breakup()
    meta = b.ingress_burst(d["keys"], d["hashes"], d["ports"], d["lengths"], d["times"])
    return b, meta


def case_breakup_feedback_burst(d, burst):
    b, meta = _fed_breakup(d)
    calls = chunks(burst, np.ascontiguousarray(meta["core"]), d["times"], d["egress"])

    def run():
        f = b.feedback_burst
        for c, i, e in calls:
            f(c, i, e)
    return run


def case_breakup_feedback_meta(d, burst):
    b, meta = _fed_breakup(d)
    calls = chunks(burst, meta, d["egress"])

    def run():
        f = b.feedback_meta
        for m, e in calls:
            f(m, e)
    return run


def case_reorder_insert_burst(d, burst):
    rb = ReorderBuffer(1 << (len(d["psns"]) - 1).bit_length(), None)   # holds all: no drain
    calls = [(p, h, int(t[0])) for p, h, t in chunks(burst, d["psns"], d["handles"], d["times"])]
    s = _out(burst, np.uint8)

    def run():
        f = rb.insert_burst
        for p, h, t in calls:
            f(p, h, t, None, s)
    return run


def case_reorder_process_burst(d, burst):
    rb = ReorderBuffer(1024, 100_000)
    calls = [(p, h, int(t[0])) for p, h, t in chunks(burst, d["psns"], d["handles"], d["times"])]
    o = _out(burst + 1024, np.uint64)

    def run():
        f = rb.process_burst
        for p, h, t in calls:
            f(p, h, t, o)
    return run


def case_reorder_queues_process_burst(d, burst):
    rq = ReorderQueues(64, 1024, 100_000)
    meta = np.zeros(len(d["psns"]), META_DTYPE)
    meta["handle"] = d["handles"]
    meta["queue"] = np.arange(len(meta)) % 64
    meta["psn"] = np.arange(len(meta)) // 64          # in order per queue
    meta["flags"] = FLAG_PARA
    calls = [(m, int(t[0])) for m, t in chunks(burst, meta, d["times"])]
    o = _out(burst + 64 * 1024, np.uint64)

    def run():
        f = rq.process_burst
        for m, t in calls:
            f(m, t, o)
    return run


def _policy(name):
    return make_policy(name, 8, period_ns=100_000)     # rsspp: rebalances every 10k packets


def _policy_steer(name):
    def factory(d, burst):
        pol = _policy(name)
        calls = chunks(burst, d["keys"], d["hashes"], d["ports"], d["lengths"], d["handles"],
                       d["times"])
        o = _out(burst, META_DTYPE)

        def run():
            f = pol.steer_burst
            for k, h, p, ln, hd, t in calls:
                f(k, h, p, ln, hd, t, o)
        return run
    return factory


def _policy_complete(name):
    # every record steered (untimed), then completed in steering order in
    # calls of `burst` records, all at one time after the last ingress (so
    # both shapes do the same work: same delays fed back, same drains)
    def factory(d, burst):
        pol = _policy(name)
        recs = pol.steer_burst(d["keys"], d["hashes"], d["ports"], d["lengths"], d["handles"],
                               d["times"])
        now = int(d["times"][-1]) + 1_000
        calls = chunks(burst, recs)

        def run():
            f = pol.complete_burst
            for (r,) in calls:
                f(r, now)
        return run
    return factory


#: case name -> factory(data, records_per_call) -> run().  The name is the method.
CASES = {
    "toeplitz_batch": case_toeplitz_batch,
    "rss_hash_batch": case_rss_hash_batch,
    "ToeplitzHasher.hash_batch": case_hasher_hash_batch,
    "ToeplitzHasher.hash_records": case_hasher_hash_records,
    "IndirectionTable.queue_batch": case_reta_queue_batch,
    "CountMinDetector.update_burst (times)": _update_times(_countmin),
    "CountMinDetector.update_burst (one now_ns)": _update_scalar(_countmin_1s),
    "CountMinDetector.estimate_burst": _estimate(_countmin),
    "SpaceSavingDetector.update_burst (times)": _update_times(_spacesaving),
    "SpaceSavingDetector.estimate_burst": _estimate(_spacesaving),
    "ElephantDetector.update_burst (tags only)": _update_times(_tags),
    "ElephantDetector.estimate_burst (tags only)": _estimate(_tags),
    "PSNAllocator.tag_burst": case_psn_tag_burst,
    "FlowletScheduler.observe_burst": case_scheduler_observe_burst,
    "FlowletScheduler.steer_burst": case_scheduler_steer_burst,
    "Breakup.ingress_burst": case_breakup_ingress_burst,
    "Breakup.feedback_burst": case_breakup_feedback_burst,
    "Breakup.feedback_meta": case_breakup_feedback_meta,
    "ReorderBuffer.insert_burst": case_reorder_insert_burst,
    "ReorderBuffer.process_burst": case_reorder_process_burst,
    "ReorderQueues.process_burst": case_reorder_queues_process_burst,
    "RSSPolicy.steer_burst": _policy_steer("rss"),
    "SprayPolicy.steer_burst": _policy_steer("spray"),
    "RSSPPPolicy.steer_burst": _policy_steer("rsspp"),
    "ParaFlowOPolicy.steer_burst": _policy_steer("paraflowo"),
    "RSSPolicy.complete_burst": _policy_complete("rss"),
    "SprayPolicy.complete_burst": _policy_complete("spray"),
    "RSSPPPolicy.complete_burst": _policy_complete("rsspp"),
    "ParaFlowOPolicy.complete_burst": _policy_complete("paraflowo"),
}


# -- the floor: what a Python loop of calls costs before any method runs -------------
#
# A reference, not a library method: ``operator.is_`` is a C function that takes
# the same two arrays as ``IndirectionTable.queue_batch(hashes, out)`` and does
# nothing with them (one pointer compare), so a loop of it costs the
# interpreter's loop step, the unpacking of the views and one C call: the least
# any method taking those arguments can cost per call from Python.  Reported
# as Mpps at 32 records per call (32 / the time of one call); it has no large
# shape.  A method whose Mpps at 65,536 is more than twice this figure cannot
# be within 2x from a Python loop, whatever the method does.

def ref_is_call(d, burst):
    calls, o = chunks(burst, d["hashes"]), _out(burst, np.uint16)

    def run():
        f = operator.is_
        for (h,) in calls:
            f(h, o)
    return run


#: reference name -> factory (32-record shape only; not a library method)
REFERENCES = {
    "reference: operator.is_(hashes, out)": ref_is_call,
}


def measure(names=None, n: int = N, small: int = SMALL, large: int = LARGE,
            repeats: int = 9):
    """``{name: (mpps_small, mpps_large)}``: CPU-time minima over ``repeats``.

    Each repeat times both shapes, alternately, each from a fresh object.
    A name of :data:`REFERENCES` is timed at ``small`` only: ``(mpps, None)``.
    """
    d = data(n)
    best = {name: [float("inf"), float("inf")] for name in (names or CASES)}
    for _ in range(repeats):
        for name, b in best.items():
            ref = name in REFERENCES
            for j, burst in enumerate((small,) if ref else (small, large)):
                run = (REFERENCES[name] if ref else CASES[name])(d, burst)
                t0 = time.thread_time()
                run()
                b[j] = min(b[j], time.thread_time() - t0)
    return {name: (n / b[0] / 1e6, None if name in REFERENCES else n / b[1] / 1e6)
            for name, b in best.items()}


def table(results, rst=False, small=SMALL, large=LARGE) -> str:
    head = ("method", f"Mpps at {small}", f"Mpps at {large:,}", "ratio")
    body = [(name, f"{s:.1f}", "-", "-") if lg is None else
            (name, f"{s:.1f}", f"{lg:.1f}", f"{lg / s:.2f}x") for name, (s, lg) in results.items()]
    if rst:
        lines = [".. list-table::", "   :header-rows: 1", ""]
        for r in [head, *body]:
            lines.append(f"   * - {r[0]}")
            lines.extend(f"     - {c}" for c in r[1:])
        return "\n".join(lines) + "\n"
    w = max(len(r[0]) for r in [head, *body])
    fmt = f"{{:<{w}}}  {{:>10}}  {{:>14}}  {{:>7}}"
    out = [fmt.format(*head)] + [fmt.format(*r) for r in body]
    methods = [(s, lg) for s, lg in results.values() if lg is not None]
    within = sum(lg / s <= 2 for s, lg in methods)
    out.append(f"{within} of {len(methods)} within 2x")
    return "\n".join(out) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("-k", default="", help="only cases whose name contains this")
    p.add_argument("-r", "--repeats", type=int, default=9)
    p.add_argument("--large", type=int, default=65_536,
                   help="records per call of the large shape (default 65536)")
    p.add_argument("--calls", type=int, default=8,
                   help="large calls per case (default 8): N = calls * large")
    p.add_argument("--rst", action="store_true", help="print an rST list-table")
    p.add_argument("--reference", action="store_true",
                   help="add the floor: a loop of a C call that does nothing (REFERENCES)")
    args = p.parse_args(argv)
    names = [c for c in CASES if args.k.lower() in c.lower()]
    if args.reference:
        names += list(REFERENCES)
    res = measure(names, n=args.calls * args.large, large=args.large, repeats=args.repeats)
    sys.stdout.write(table(res, rst=args.rst, large=args.large))
    return 0


# -- pytest-benchmark ------------------------------------------------------------------

if pytest is not None:
    @pytest.mark.benchmark(group="bursts")
    @pytest.mark.parametrize("burst", [SMALL, LARGE], ids=["32", "65536"])
    @pytest.mark.parametrize("name", list(CASES))
    def test_burst(benchmark, name, burst):
        d = data(N)
        benchmark.pedantic(lambda run: run(), setup=lambda: ((CASES[name](d, burst),), {}),
                           rounds=5, iterations=1)
        record_mpps(benchmark, N)


if __name__ == "__main__":
    sys.exit(main())
