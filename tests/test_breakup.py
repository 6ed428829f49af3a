"""Breakup: mice, elephants, transitions, fallbacks, feedback, burst == per packet, errors."""

import re

import numpy as np
import pytest

from paraflowo import (
    FLAG_PARA,
    FLOWLET_DTYPE,
    META_DTYPE,
    Breakup,
    CountMinDetector,
    ElephantDetector,
    FlowletScheduler,
    IndirectionTable,
    PSNAllocator,
    ThresholdDetector,
)

from threadutil import while_busy


def make(detector=None, n_queues=16, idle_ns=10_000, n_cores=4, n_para=2, t_switch=1000,
         **kw):
    sched = FlowletScheduler(n_cores, n_para=n_para, t_switch_min_ns=t_switch,
                             t_switch_max_ns=t_switch, t_switch_init_ns=t_switch)
    return Breakup(detector, PSNAllocator(n_queues, psn_bits=16, idle_ns=idle_ns), sched, **kw)


def one(b, key, h, now, length=64, port=0, handle=None):
    m = np.zeros(1, META_DTYPE)
    core = b.ingress(key, h, port, length, now, handle=handle, out=m)
    assert core == m[0]["core"]
    return m[0]


def test_mice_keep_their_rss_queue_untagged():
    b = make()
    reta = b.scheduler.reta
    rng = np.random.default_rng(0)
    for i, h in enumerate(rng.integers(0, 2**32, 200).tolist()):
        r = one(b, key=i % 17, h=h, now=10 * i, length=100 + i)
        assert r["core"] == reta.queue(h)
        assert (r["flags"], r["queue"], r["psn"]) == (0, 0, 0)
        assert (r["handle"], r["ingress_ns"], r["flow_hash"], r["length"]) == (i, 10 * i, h, 100 + i)
    assert (b.packets, b.para_packets, b.para_flows, b.table_full) == (200, 0, 0, 0)


def test_forced_elephant_starts_on_its_rss_core_waits_for_it_then_rotates():
    b = make(t_switch=1000)
    h = 0x51CCC178
    rss = b.scheduler.reta.queue(h)
    assert one(b, 5, h, 0)["flags"] == 0              # a mouse until tagged
    b.detector.force(5, True)
    recs = []
    for t in range(100, 5000, 100):
        if t == 2000:
            # the RSS core finished the first tagged packet (ingress 100): not
            # yet proof that the untagged ones before it are done when they
            # share its time, so the flow still waits
            b.feedback(rss, 100, 1950)
        if t == 2600:
            # it finished a packet that ingressed after the flowlet started
            b.feedback(rss, 200, 2550)
        recs.append(one(b, 5, h, t))
    assert all(r["flags"] & FLAG_PARA for r in recs)
    assert [int(r["psn"]) for r in recs] == list(range(len(recs)))
    assert len({int(r["queue"]) for r in recs}) == 1
    cores = [int(r["core"]) for r in recs]
    reta = b.scheduler.reta
    # the first flowlet stays on the RSS core past t_switch (1000 ns) until
    # the core has caught up; then switches every 1000 ns, in RETA order
    expected = [rss if t < 2600 else reta[(h + 1 + (t - 2600) // 1000) & 127]
                for t in range(100, 5000, 100)]
    assert cores == expected
    assert len(set(cores)) > 1
    assert b.holds == len(range(1100, 2600, 100))      # due (>= 1000 ns) but held
    assert b.scheduler.switches == 3


def test_without_feedback_a_new_elephant_never_leaves_its_rss_core():
    b = make(t_switch=100)
    b.detector.force(5, True)
    cores = {int(one(b, 5, 77, t)["core"]) for t in range(0, 10_000, 50)}
    assert cores == {b.scheduler.reta.queue(77)}
    assert b.scheduler.switches == 0 and b.holds == 198


def test_detected_elephant_becomes_para_after_threshold():
    det = CountMinDetector(1024, 4, threshold=10, window_ns=10**6)
    b = make(det)
    flags = [int(one(b, 42, 0x1234, t)["flags"]) for t in range(0, 200, 10)]
    assert flags == [0] * 9 + [FLAG_PARA] * 11
    assert b.para_flows == 1


def test_leaves_para_only_after_idle():
    b = make(idle_ns=10_000, t_switch=10**6)
    b.detector.force(7, True)
    h = 3
    assert one(b, 7, h, 0)["flags"] == FLAG_PARA
    b.detector.force(7, False)                         # forced off, but still live
    assert one(b, 7, h, 9_999)["flags"] == FLAG_PARA    # idle 9999 < 10000
    assert b.is_para(7, 19_998)
    assert not b.is_para(7, 19_999)
    r = one(b, 7, h, 19_999)                           # idle 10000: a mouse again
    assert r["flags"] == 0 and r["core"] == b.scheduler.reta.queue(h)
    b.detector.force(7, True)
    r = one(b, 7, h, 20_000)                           # para again: same slot, PSNs go on
    assert r["flags"] == FLAG_PARA and r["psn"] == 2
    assert b.para_flows == 2


def test_table_full_stays_plain_rss_and_is_counted():
    b = make(capacity=1, probes=1)
    for k in (1, 2):
        b.detector.force(k, True)
    assert one(b, 1, 10, 0)["flags"] == FLAG_PARA
    r = one(b, 2, 11, 1)
    assert r["flags"] == 0 and r["core"] == b.scheduler.reta.queue(11)
    assert b.table_full == 1
    # once flow 1 has been idle, flow 2 takes the slot
    assert one(b, 2, 11, 10_000)["flags"] == FLAG_PARA
    assert b.table_full == 1


def test_no_free_reorder_queue_stays_plain_rss_and_is_counted():
    b = make(n_queues=1)
    for k in (1, 2):
        b.detector.force(k, True)
    assert one(b, 1, 10, 0)["flags"] == FLAG_PARA
    r = one(b, 2, 11, 1)
    assert r["flags"] == 0 and r["core"] == b.scheduler.reta.queue(11)
    assert b.allocator.fallbacks == 1 and b.table_full == 0
    assert not b.is_para(2, 1)


def test_count_bytes():
    det = ThresholdDetector(64, threshold=3000, window_ns=10**6)
    b = make(det, count="bytes")
    flags = [int(one(b, 9, 1, t, length=1000)["flags"]) for t in range(5)]
    assert flags == [0, 0, FLAG_PARA, FLAG_PARA, FLAG_PARA]
    assert repr(b).endswith("count='bytes')")


def test_n_para_1_is_pure_flow_affinity_with_tags():
    b = make(n_para=1)
    b.detector.force(1, True)
    recs = [one(b, 1, 0xAB, t) for t in range(0, 10**6, 10**4)]
    assert {int(r["core"]) for r in recs} == {b.scheduler.reta.queue(0xAB)}
    assert all(r["flags"] == FLAG_PARA for r in recs)


def test_feedback_feeds_the_scheduler():
    b = make()
    one(b, 1, 2, now=100)                           # feedback is about ingressed packets
    b.feedback(2, 100, 1100)
    assert b.scheduler.t_cpu(2) == 1000
    b.feedback_burst(np.array([0, 2], np.uint16), np.array([0, 5], np.int64),
                     np.array([300, 505], np.int64))
    assert b.scheduler.t_cpu(0) == 300
    assert b.scheduler.samples == 3


def test_feedback_meta_uses_the_records():
    b, ref = make(), make()
    one(b, 1, 2, now=300)
    one(ref, 1, 2, now=300)
    meta = np.zeros(3, META_DTYPE)
    meta["core"] = [1, 3, 1]
    meta["ingress_ns"] = [100, 200, 300]
    egress = np.array([150, 600, 420], np.int64)
    b.feedback_meta(meta, egress)
    ref.feedback_burst(np.array([1, 3, 1], np.uint16), np.array([100, 200, 300], np.int64), egress)
    assert [b.scheduler.t_cpu(c) for c in range(4)] == [ref.scheduler.t_cpu(c) for c in range(4)]
    assert b.scheduler.t_cpu(3) == 400 and b.scheduler.samples == 3
    b.feedback_meta(np.zeros(0, META_DTYPE), np.zeros(0, np.int64))


def _bad_meta(field, value):
    m = np.zeros(2, META_DTYPE)
    m["ingress_ns"] = 10
    m[field][1] = value
    return m


def test_default_detector_is_tags_only():
    b = make()
    assert type(b.detector) is ElephantDetector
    assert b.idle_ns == b.allocator.idle_ns == 10_000
    assert b.meta_dtype == META_DTYPE


def _stream(n, seed):
    rng = np.random.default_rng(seed)
    ranks = np.minimum(rng.zipf(1.3, n), 300).astype(np.uint64)
    keys = ranks * np.uint64(0x9E3779B97F4A7C15)
    hashes = (keys >> np.uint64(32)).astype(np.uint32)
    ports = (ranks % np.uint64(3)).astype(np.uint16)
    lengths = rng.integers(64, 1500, n).astype(np.uint16)
    gaps = rng.integers(0, 40, n)
    gaps[rng.random(n) < 0.002] = 30_000                    # idle gaps: flows leave para
    times = np.cumsum(gaps).astype(np.int64)
    return keys, hashes, ports, lengths, times


def _pipeline(kind):
    det = {"cm": lambda: CountMinDetector(256, 3, 40, 20_000, seed=3),
           "ss": lambda: ThresholdDetector(16, 30_000, 20_000),
           "tags": lambda: None}[kind]()
    sched = FlowletScheduler(4, n_para=3, alpha=0.8, smoothing=0.5, t_switch_min_ns=50,
                             t_switch_max_ns=2000, t_switch_init_ns=300)
    b = Breakup(det, PSNAllocator(4, psn_bits=8, idle_ns=10_000, probes=2), sched,
                capacity=4, probes=2, count="bytes" if kind == "ss" else "packets")
    if kind == "tags":
        for r in (1, 2, 5):
            b.detector.force(r * 0x9E3779B97F4A7C15 % 2**64, True)
    return b


@pytest.mark.parametrize("kind", ["cm", "ss", "tags"])
@pytest.mark.parametrize("with_handles", [False, True])
def test_burst_equals_per_packet(kind, with_handles):
    keys, hashes, ports, lengths, times = _stream(3000, seed=5)
    handles = np.arange(1000, 4000, dtype=np.uint64) if with_handles else None
    a, b = _pipeline(kind), _pipeline(kind)
    out = np.zeros(3000, META_DTYPE)
    ref = np.zeros(3000, META_DTYPE)
    # bursts of 300 (a detector chunk edge inside each); after each, the
    # previous burst's packets complete (the egress feedback), for both
    edges = list(range(0, 3000, 300)) + [3000]
    for lo, hi in zip(edges, edges[1:]):
        a.ingress_burst(keys[lo:hi], hashes[lo:hi], ports[lo:hi], lengths[lo:hi], times[lo:hi],
                        None if handles is None else handles[lo:hi], out=out[lo:hi])
        for i in range(lo, hi):
            b.ingress(int(keys[i]), int(hashes[i]), int(ports[i]), int(lengths[i]),
                      int(times[i]), handle=None if handles is None else int(handles[i]),
                      out=ref, index=i)
        done = out[max(0, lo - 300):lo]
        egress = done["ingress_ns"] + 100 * (1 + done["core"].astype(np.int64))
        a.feedback_meta(done, egress)
        for rec, e in zip(done, egress.tolist()):
            b.feedback(int(rec["core"]), int(rec["ingress_ns"]), e)
    assert out.tobytes() == ref.tobytes()
    counters = ("packets", "para_packets", "para_flows", "table_full", "holds")
    assert [getattr(a, c) for c in counters] == [getattr(b, c) for c in counters]
    assert a.allocator.fallbacks == b.allocator.fallbacks
    assert a.scheduler.switches == b.scheduler.switches
    # the stream exercises every path
    assert a.para_packets > 100 and a.para_flows > 1 and a.scheduler.switches > 5
    assert a.holds > 0
    assert (out["flags"] == 0).sum() > 100
    if kind != "tags":
        assert a.table_full + a.allocator.fallbacks > 0


def test_burst_returns_new_array_and_empty_burst():
    b = make()
    e = np.empty(0, np.uint64)
    out = b.ingress_burst(e, e.astype(np.uint32), e.astype(np.uint16), e.astype(np.uint16),
                          e.astype(np.int64))
    assert out.dtype == META_DTYPE and len(out) == 0
    m = b.ingress_burst(np.array([1], np.uint64), np.array([2], np.uint32),
                        np.array([0], np.uint16), np.array([64], np.uint16),
                        np.array([5], np.int64))
    assert m[0]["handle"] == 0 and m[0]["ingress_ns"] == 5


# -- documented errors ------------------------------------------------------------

def _components():
    return (None, PSNAllocator(4), FlowletScheduler(4))


@pytest.mark.parametrize("change, exc, msg", [
    (dict(detector=5), TypeError, "detector must be an ElephantDetector (or None), got int"),
    (dict(allocator=None), TypeError, "allocator must be a PSNAllocator, got NoneType"),
    (dict(scheduler="s"), TypeError, "scheduler must be a FlowletScheduler, got str"),
    (dict(capacity=0), ValueError, "capacity must be a power of two in [1, 2**24], got 0"),
    (dict(capacity=1000), ValueError, "capacity must be a power of two in [1, 2**24], got 1000"),
    (dict(probes=0), ValueError, "probes must be in [1, 64], got 0"),
    (dict(count="flows"), ValueError, "count must be 'packets' or 'bytes', got 'flows'"),
])
def test_constructor_errors(change, exc, msg):
    d, a, s = _components()
    kw = dict(detector=d, allocator=a, scheduler=s)
    kw.update(change)
    with pytest.raises(exc, match=re.escape(msg)):
        Breakup(**kw)


def _state(b):
    return (b.packets, b.para_packets, b.para_flows, b.table_full, b.allocator.tagged,
            b.scheduler.samples, b.scheduler.switches, b.n_para(1000), b.is_para(1, 1000),
            b.scheduler.t_cpu(0))


M1 = np.zeros(1, META_DTYPE)
RO = np.zeros(2, META_DTYPE)
RO.flags.writeable = False


@pytest.mark.parametrize("call, exc, msg", [
    (lambda b: b.ingress(-1, 0, 0, 64, 200), ValueError, "key must be in [0, 2**64 - 1], got -1"),
    (lambda b: b.ingress(2**64, 0, 0, 64, 200), ValueError, "key must be in [0, 2**64 - 1]"),
    (lambda b: b.ingress(1.0, 0, 0, 64, 200), TypeError, "key must be an integer, got 1.0"),
    (lambda b: b.ingress(1, 2**32, 0, 64, 200), ValueError, "flow_hash must be in [0, 2**32 - 1]"),
    (lambda b: b.ingress(1, 0, 70000, 64, 200), ValueError, "port must be in [0, 2**16 - 1], got 70000"),
    (lambda b: b.ingress(1, 0, 0, 65536, 200), ValueError, "length must be in [0, 2**16 - 1], got 65536"),
    (lambda b: b.ingress(1, 0, 0, 64, 99), ValueError, "now_ns must not go backwards, got 99 after 100"),
    (lambda b: b.ingress(1, 0, 0, 64, -1), ValueError, "now_ns must be in [0, 2**63 - 1], got -1"),
    (lambda b: b.ingress(1, 0, 0, 64, 200, handle=-2), ValueError, "handle must be in [0, 2**64 - 1], got -2"),
    (lambda b: b.ingress(1, 0, 0, 64, 200, out=np.zeros(1, np.int64)), TypeError,
     "out must have dtype"),
    (lambda b: b.ingress(1, 0, 0, 64, 200, out=M1, index=1), ValueError, "index must be in [0, 0], got 1"),
    (lambda b: b.ingress(1, 0, 0, 64, 200, out=RO), ValueError, "out must be writable, got a read-only array"),
    (lambda b: b.ingress(1, 0, 0, 64, 200, out=np.zeros((1, 1), META_DTYPE)), ValueError,
     "out must be 1-dimensional, got shape (1, 1)"),
    (lambda b: b.ingress(1, 0, 0, 64, 200, out=np.zeros(4, META_DTYPE)[::2]), ValueError,
     "out must be C-contiguous"),
    (lambda b: b.ingress_burst(np.zeros(2, np.int64), np.zeros(2, np.uint32), np.zeros(2, np.uint16),
                               np.zeros(2, np.uint16), np.full(2, 200)), TypeError,
     "keys must have dtype uint64, got int64"),
    (lambda b: b.ingress_burst(np.zeros(2, np.uint64), np.zeros(3, np.uint32), np.zeros(2, np.uint16),
                               np.zeros(2, np.uint16), np.full(2, 200)), ValueError,
     "flow_hashes must have length 2, got 3"),
    (lambda b: b.ingress_burst(np.zeros(2, np.uint64), np.zeros(2, np.uint32), np.zeros(2, np.uint16),
                               np.zeros(2, np.uint32), np.full(2, 200)), TypeError,
     "lengths must have dtype uint16, got uint32"),
    (lambda b: b.ingress_burst(np.ones(2, np.uint64), np.zeros(2, np.uint32), np.zeros(2, np.uint16),
                               np.zeros(2, np.uint16), np.array([200, 150])), ValueError,
     "now_ns must not go backwards, got now_ns[1] = 150 after 200"),
    (lambda b: b.ingress_burst(np.ones(2, np.uint64), np.zeros(2, np.uint32), np.zeros(2, np.uint16),
                               np.zeros(2, np.uint16), np.array([50, 150])), ValueError,
     "now_ns must not go backwards, got now_ns[0] = 50 after 100"),
    (lambda b: b.ingress_burst(np.ones(2, np.uint64), np.zeros(2, np.uint32), np.zeros(2, np.uint16),
                               np.zeros(2, np.uint16), np.full(2, 200), handles=np.zeros(2, np.int64)),
     TypeError, "handles must have dtype uint64, got int64"),
    (lambda b: b.ingress_burst(np.ones(2, np.uint64), np.zeros(2, np.uint32), np.zeros(2, np.uint16),
                               np.zeros(2, np.uint16), np.full(2, 200), out=np.zeros(3, META_DTYPE)),
     ValueError, "out must have length 2, got 3"),
    (lambda b: b.feedback(4, 0, 10), ValueError, "core must be in [0, 3], got 4"),
    (lambda b: b.feedback(0, -1, 10), ValueError, "ingress_ns must be in [0, 2**63 - 1], got -1"),
    (lambda b: b.feedback(0, 20, 10), ValueError, "egress_ns must be >= ingress_ns = 20, got 10"),
    (lambda b: b.feedback(0, 0, 2**40 + 1), ValueError, "egress_ns - ingress_ns must be at most 2**40"),
    (lambda b: b.feedback_burst(np.array([0, 9], np.uint16), np.zeros(2, np.int64), np.ones(2, np.int64)),
     ValueError, "cores must be in [0, 3], got cores[1] = 9"),
    (lambda b: b.feedback_burst(np.zeros(2, np.uint16), np.array([0, 5]), np.array([1, 4])),
     ValueError, "egress_ns must be >= ingress_ns, got egress_ns[1] = 4 < 5"),
    (lambda b: b.feedback_burst(np.zeros(2, np.uint16), np.array([0, -5]), np.array([1, 4])),
     ValueError, "ingress_ns must be >= 0, got ingress_ns[1] = -5"),
    (lambda b: b.feedback_burst(np.zeros(2, np.uint16), np.array([0, 0]), np.array([1, 2**41])),
     ValueError, "egress_ns - ingress_ns must be at most 2**40"),
    (lambda b: b.feedback_burst(np.zeros(2, np.uint16), np.array([0, 0]), np.array([1])),
     ValueError, "egress_ns must have length 2, got 1"),
    (lambda b: b.is_para(1, 50), ValueError, "now_ns must not go backwards, got 50 after 100"),
    (lambda b: b.feedback_meta(_bad_meta("core", 4), np.full(2, 20)), ValueError,
     "meta['core'] must be in [0, 3], got meta[1]['core'] = 4"),
    (lambda b: b.feedback_meta(_bad_meta("ingress_ns", -1), np.full(2, 20)), ValueError,
     "meta['ingress_ns'] must be >= 0, got meta[1]['ingress_ns'] = -1"),
    (lambda b: b.feedback_meta(_bad_meta("ingress_ns", 30), np.full(2, 20)), ValueError,
     "egress_ns must be >= meta['ingress_ns'], got egress_ns[1] = 20 < 30"),
    (lambda b: b.feedback_meta(_bad_meta("core", 0), np.array([20, 2**41])), ValueError,
     "egress_ns - meta['ingress_ns'] must be at most 2**40"),
    (lambda b: b.feedback_meta(np.zeros(2, META_DTYPE), np.full(3, 20)), ValueError,
     "egress_ns must have length 2, got 3"),
    (lambda b: b.feedback_meta(np.zeros(2, np.int64), np.full(2, 20)), TypeError,
     "meta must have dtype"),
])
def test_call_errors_leave_state_unchanged(call, exc, msg):
    b = make()
    b.detector.force(1, True)
    b.ingress(1, 0, 0, 64, 100)
    before = _state(b)
    with pytest.raises(exc, match=re.escape(msg)):
        call(b)
    assert _state(b) == before


def test_time_is_shared_with_the_components():
    b = make()
    b.ingress(1, 0, 0, 64, 500)
    with pytest.raises(ValueError, match="now_ns must not go backwards, got 10 after 500"):
        b.allocator.tag(1, 0, 0, 10)
    with pytest.raises(ValueError, match="now_ns must not go backwards"):
        b.scheduler.steer(np.zeros(1, FLOWLET_DTYPE), 0, 10)


def test_reta_changes_steer_mice():
    reta = IndirectionTable(4, size=4)
    b = Breakup(None, PSNAllocator(4), FlowletScheduler(4, reta=reta))
    assert b.ingress(1, 2, 0, 64, 0) == 2
    reta[2] = 0
    assert b.ingress(1, 2, 0, 64, 1) == 0


def test_second_thread_is_refused_while_a_burst_runs():
    # ingress_burst releases the GIL; another thread driving the same Breakup
    # or changing its detector meanwhile gets a RuntimeError.
    import threading

    n = 3_000_000
    b = make(CountMinDetector(1024, 4, 100, 10**6))
    keys = np.random.default_rng(3).integers(0, 5000, n).astype(np.uint64)
    hashes = keys.astype(np.uint32)
    zeros = np.zeros(n, np.uint16)
    times = np.arange(n, dtype=np.int64)
    started = threading.Event()

    def work():
        started.set()
        b.ingress_burst(keys, hashes, zeros, zeros, times)

    e = np.empty(0, np.int64)
    probes = {   # state-neutral calls, refused only while the burst runs
        "Breakup": lambda: b.ingress_burst(e.astype(np.uint64), e.astype(np.uint32),
                                           e.astype(np.uint16), e.astype(np.uint16), e),
        "feedback": lambda: b.feedback_burst(e.astype(np.uint16), e, e),
        "CountMinDetector": lambda: b.detector.unforce(12345),
    }
    worker = threading.Thread(target=work)
    worker.start()
    started.wait()
    seen = set()
    while worker.is_alive():
        for name, call in probes.items():
            try:
                call()
            except RuntimeError as err:
                assert "in use by another thread" in str(err)
                seen.add(name)
    worker.join()
    assert b.packets == n
    assert seen == set(probes)
    for call in probes.values():      # free again
        call()


def _full_state(b, now):
    a, s = b.allocator, b.scheduler
    return (b.packets, b.para_packets, b.para_flows, b.table_full, b.holds, b.n_para(now),
            a.acquired, a.fallbacks, a.tagged, a.n_live(now),
            [a.next_psn(q) for q in range(a.n_queues)], [a.owner(q, now) for q in range(a.n_queues)],
            s.samples, s.switches, s.t_avg, [s.t_cpu(c) for c in range(s.n_cores)],
            [s.t_switch(c) for c in range(s.n_cores)])


def _busy_pipeline():
    """A Breakup with some para_flows and delay samples, up to time 99."""
    b = make(CountMinDetector(1024, 4, 3, 10**6), n_queues=64, idle_ns=10**9)
    keys = np.arange(100, dtype=np.uint64) % 7
    zeros = np.zeros(100, np.uint16)
    meta = b.ingress_burst(keys, keys.astype(np.uint32), zeros, zeros, np.arange(100))
    b.feedback_meta(meta[:50], meta["ingress_ns"][:50] + 500)
    return b


_E = np.empty(0, np.int64)
_COMPONENT_CALLS = {   # valid calls that change the allocator or scheduler of `b`
    "allocator.tag": lambda b, f, t: b.allocator.tag(7, 0, 1, t),
    "allocator.tag_burst": lambda b, f, t: [x.tolist() for x in b.allocator.tag_burst(
        np.array([7, 8], np.uint64), np.zeros(2, np.uint16), np.array([1, 2], np.uint32),
        np.array([t, t + 1]))],
    "scheduler.observe": lambda b, f, t: b.scheduler.observe(1, 500),
    "scheduler.observe_burst": lambda b, f, t: b.scheduler.observe_burst(
        np.array([1, 2], np.uint16), np.array([500, 600])),
    "scheduler.start": lambda b, f, t: b.scheduler.start(f, 0, 9, t),
    "scheduler.steer": lambda b, f, t: b.scheduler.steer(f, 0, t),
    "scheduler.steer_burst": lambda b, f, t: b.scheduler.steer_burst(
        f, np.array([0, 0]), np.array([t, t + 1])).tolist(),
}
_BREAKUP_CALLS = {     # valid calls that change `b`
    "ingress": lambda b, f, t: b.ingress(3, 3, 0, 64, t),
    "ingress_burst": lambda b, f, t: b.ingress_burst(
        np.array([3, 4], np.uint64), np.array([3, 4], np.uint32), np.zeros(2, np.uint16),
        np.zeros(2, np.uint16), np.array([t, t + 1])).tobytes(),
    "feedback": lambda b, f, t: b.feedback(0, 10, 600),
    "feedback_burst": lambda b, f, t: b.feedback_burst(
        np.zeros(2, np.uint16), np.array([10, 11]), np.array([600, 601])),
    "feedback_meta": lambda b, f, t: b.feedback_meta(np.zeros(2, META_DTYPE), np.array([5, 6])),
}


def _breakup_burst(b, kind, n, seed):
    """Arguments of a big `kind` burst on `b` (or one of its components), after time 99."""
    rng = np.random.default_rng(seed)
    if kind == "ingress_burst":
        keys = rng.integers(0, 5000, n).astype(np.uint64)
        zeros = np.zeros(n, np.uint16)
        return b.ingress_burst, (keys, keys.astype(np.uint32), zeros, zeros,
                                 np.arange(1000, 1000 + n, dtype=np.int64))
    if kind == "feedback_burst":
        cores = rng.integers(0, 4, n).astype(np.uint16)
        ingress = rng.integers(0, 100, n)
        return b.feedback_burst, (cores, ingress, ingress + rng.integers(0, 5000, n))
    if kind == "feedback_meta":
        meta = np.zeros(n, META_DTYPE)
        meta["core"] = rng.integers(0, 4, n)
        meta["ingress_ns"] = rng.integers(0, 100, n)
        return b.feedback_meta, (meta, meta["ingress_ns"] + rng.integers(0, 5000, n))
    if kind == "allocator.tag_burst":
        keys = rng.integers(0, 5000, n).astype(np.uint64)
        return b.allocator.tag_burst, (keys, np.zeros(n, np.uint16), keys.astype(np.uint32),
                                       np.arange(1000, 1000 + n, dtype=np.int64))
    if kind == "scheduler.observe_burst":
        return b.scheduler.observe_burst, (rng.integers(0, 4, n).astype(np.uint16),
                                           rng.integers(0, 5000, n))
    assert kind == "scheduler.steer_burst"
    return b.scheduler.steer_burst, (np.zeros(4096, FLOWLET_DTYPE), rng.integers(0, 4096, n),
                                     np.arange(1000, 1000 + n, dtype=np.int64))


def _run_refused(kind, guard, calls, n):
    """Run a `kind` burst on a fresh pipeline, `calls` on it meanwhile; compare with a
    reference pipeline that ran the burst alone.  Returns (outcomes, b, ref, f, ref_f, t)."""
    for attempt in range(3):
        b, ref = _busy_pipeline(), _busy_pipeline()
        f, ref_f = np.zeros(1, FLOWLET_DTYPE), np.zeros(1, FLOWLET_DTYPE)
        burst, args = _breakup_burst(b, kind, n, attempt)
        probes = {name: (lambda c=c: c(b, f, 150)) for name, c in calls.items()}
        # queries at a time after the burst's (a Breakup burst moves its clock)
        probes["queries"] = lambda: (b.is_para(1, 2**40), b.n_para(2**40), b.allocator.next_psn(0),
                                     b.allocator.n_live(2**40), b.scheduler.t_avg,
                                     b.scheduler.t_cpu(0), b.scheduler.t_switch(0))
        outcomes = while_busy(lambda: burst(*args), lambda: guard(b), probes)
        if outcomes is not None:
            break
        n *= 2
    else:
        pytest.fail(f"{kind} was never seen running")
    ref_burst, ref_args = _breakup_burst(ref, kind, n, attempt)
    ref_burst(*ref_args)
    t = 1000 + n
    assert _full_state(b, t) == _full_state(ref, t)
    assert isinstance(outcomes["queries"], tuple)
    return outcomes, b, ref, f, ref_f, t


@pytest.mark.parametrize("kind, n", [("ingress_burst", 1 << 19), ("feedback_burst", 1 << 20),
                                     ("feedback_meta", 1 << 20)])
def test_components_are_refused_to_other_threads_during_a_breakup_burst(kind, n):
    # A Breakup burst marks its allocator and scheduler busy too: a thread
    # that drives them directly meanwhile (or this Breakup) is refused and
    # nothing changes; queries still answer; afterwards all works again.
    def guard(b):
        b.allocator.tag_burst(_E.astype(np.uint64), _E.astype(np.uint16), _E.astype(np.uint32), _E)

    calls = dict(_COMPONENT_CALLS, ingress=_BREAKUP_CALLS["ingress"],
                 feedback=_BREAKUP_CALLS["feedback"])
    outcomes, b, ref, f, ref_f, t = _run_refused(kind, guard, calls, n)
    for name in calls:
        err = outcomes[name]
        assert isinstance(err, RuntimeError), name
        who = {"a": "PSNAllocator", "s": "FlowletScheduler"}.get(name[0], "Breakup")
        assert str(err).startswith(f"{who} is in use by another thread"), (name, err)
    for name, call in dict(_COMPONENT_CALLS, **_BREAKUP_CALLS).items():   # free again
        assert call(b, f, t) == call(ref, ref_f, t), name
        t += 2
    assert _full_state(b, t) == _full_state(ref, t)


@pytest.mark.parametrize("kind, n, who", [
    ("allocator.tag_burst", 1 << 20, "PSNAllocator"),
    ("scheduler.observe_burst", 1 << 21, "FlowletScheduler"),
    ("scheduler.steer_burst", 1 << 21, "FlowletScheduler"),
])
def test_breakup_is_refused_while_another_thread_runs_a_component_burst(kind, n, who):
    # A burst run directly on the allocator or scheduler of a Breakup (from
    # another thread) holds it: the Breakup's calls are refused meanwhile
    # and change nothing.
    def guard(b):
        b.feedback_burst(_E.astype(np.uint16), _E, _E)

    outcomes, b, ref, f, ref_f, t = _run_refused(kind, guard, _BREAKUP_CALLS, n)
    for name in _BREAKUP_CALLS:
        err = outcomes[name]
        assert isinstance(err, RuntimeError), name
        assert str(err) == (f"{who} is in use by another thread (a burst is running without "
                            f"the GIL); give each thread its own {who}"), name
    for name, call in _BREAKUP_CALLS.items():   # free again
        assert call(b, f, t) == call(ref, ref_f, t), name
        t += 2
    assert _full_state(b, t) == _full_state(ref, t)


def test_breakup_refuses_a_detector_whose_init_never_ran():
    from paraflowo import CountMinDetector
    det = CountMinDetector.__new__(CountMinDetector)
    with pytest.raises(RuntimeError, match="CountMinDetector is not initialised"):
        Breakup(det, PSNAllocator(4), FlowletScheduler(2))
