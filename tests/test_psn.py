"""PSNAllocator: examples (exhaustion, idle release, wrap-around) and every documented error."""

import numpy as np
import pytest

from paraflowo import PSNAllocator

from threadutil import while_busy


def _home(port, h, n_queues):
    """pfo_psn_home in Python (murmur3 finaliser of h ^ port * 0x9e3779b1)."""
    m = 0xFFFFFFFF
    x = (h ^ (port * 0x9E3779B1)) & m
    x ^= x >> 16
    x = (x * 0x85EBCA6B) & m
    x ^= x >> 13
    x = (x * 0xC2B2AE35) & m
    x ^= x >> 16
    return x & (n_queues - 1)


def test_home_queue_matches_documented_mix():
    a = PSNAllocator(256, idle_ns=10)
    for key, (port, h) in enumerate([(0, 0), (1, 0x51CCC178), (65535, 0xFFFFFFFF), (7, 12345)]):
        q, psn = a.tag(key, port, h, 0)
        assert (q, psn) == (_home(port, h, 256), 0)


def test_psns_increment_per_packet_and_per_queue():
    a = PSNAllocator(16, psn_bits=32, idle_ns=1000)
    q1 = [a.tag(1, 0, 100, t) for t in range(5)]
    assert [p for _, p in q1] == [0, 1, 2, 3, 4]
    assert len({q for q, _ in q1}) == 1
    assert a.tagged == 5 and a.acquired == 1 and a.fallbacks == 0


def test_wrap_around_at_psn_bits():
    a = PSNAllocator(1, psn_bits=8, idle_ns=10**9)
    psns = [a.tag(9, 0, 0, t)[1] for t in range(260)]
    assert psns[:256] == list(range(256))
    assert psns[256:] == [0, 1, 2, 3]
    assert a.next_psn(0) == 4


def test_wrap_around_32_bits():
    a = PSNAllocator(1, psn_bits=32, idle_ns=10)
    # drive the counter near the top through the public API: a burst of 2**8
    keys = np.full(300, 5, np.uint64)
    a.tag_burst(keys, np.zeros(300, np.uint16), np.zeros(300, np.uint32), np.zeros(300, np.int64))
    assert a.next_psn(0) == 300
    b = PSNAllocator(1, psn_bits=8)
    assert [b.tag(0, 0, 0, 0)[1] for _ in range(258)][-3:] == [255, 0, 1]


def test_exhaustion_falls_back_and_is_counted():
    a = PSNAllocator(2, idle_ns=100, probes=2)
    assert a.tag(1, 0, 0, 0)[0] >= 0
    assert a.tag(2, 0, 0, 0)[0] >= 0
    assert a.tag(3, 0, 0, 10) == (-1, 0)           # both queues live: plain RSS
    assert a.tag(3, 0, 0, 20) == (-1, 0)
    assert a.fallbacks == 2
    assert a.tagged == 2                            # no PSN consumed by a fallback
    assert a.n_live(20) == 2


def test_probing_is_bounded():
    # 4 queues but one probe: a second flow with the same home falls back
    a = PSNAllocator(4, idle_ns=100, probes=1)
    q, _ = a.tag(1, 0, 0, 0)
    assert a.tag(2, 0, 0, 0) == (-1, 0)
    # with 4 probes the same pair finds the next queue
    b = PSNAllocator(4, idle_ns=100, probes=4)
    qs = [b.tag(k, 0, 0, 0)[0] for k in range(4)]
    assert sorted(qs) == [0, 1, 2, 3]
    assert qs == [(qs[0] + i) % 4 for i in range(4)]
    assert b.tag(99, 0, 0, 0) == (-1, 0)


def test_idle_release_and_psn_sequence_continues():
    a = PSNAllocator(1, psn_bits=16, idle_ns=1000)
    for t in range(0, 50, 10):                      # flow 1: PSNs 0..4, last at 40
        a.tag(1, 0, 0, t)
    assert a.tag(2, 0, 0, 1039) == (-1, 0)          # idle 999 ns: still flow 1's
    assert a.owner(0, 1039) == 1
    assert a.owner(0, 1040) is None                 # idle 1000 ns: free
    assert a.tag(2, 0, 0, 1040) == (0, 5)           # reused, sequence continues
    assert a.owner(0, 1040) == 2
    assert a.acquired == 2
    # the old owner is now the one without a queue
    assert a.tag(1, 0, 0, 1041) == (-1, 0)


def test_owner_keeps_its_queue_after_idle_if_nobody_took_it():
    a = PSNAllocator(1, idle_ns=10)
    assert a.tag(1, 0, 0, 0) == (0, 0)
    assert a.tag(1, 0, 0, 1000) == (0, 1)
    assert a.acquired == 1


def test_key_extremes():
    a = PSNAllocator(2, idle_ns=10)
    assert a.tag(0, 0, 0, 0)[0] >= 0
    assert a.tag(2**64 - 1, 0, 0, 0)[0] >= 0
    assert a.tag(2**64 - 1, 0, 0, 0)[1] == 1
    assert a.owner(a.tag(0, 0, 0, 1)[0], 1) == 0


def test_burst_equals_per_packet():
    rng = np.random.default_rng(3)
    n = 3000
    keys = rng.integers(0, 40, n).astype(np.uint64)
    hashes = (keys * 2654435761 % 2**32).astype(np.uint32)
    ports = (keys % 3).astype(np.uint16)
    times = np.cumsum(rng.integers(0, 7, n)).astype(np.int64)
    a, b = PSNAllocator(16, psn_bits=8, idle_ns=50, probes=3), PSNAllocator(16, psn_bits=8, idle_ns=50, probes=3)
    q, p = a.tag_burst(keys, ports, hashes, times)
    ref = [b.tag(int(k), int(po), int(h), int(t)) for k, po, h, t in zip(keys, ports, hashes, times)]
    assert q.tolist() == [r[0] for r in ref]
    assert p.tolist() == [r[1] for r in ref]
    assert (a.acquired, a.fallbacks, a.tagged) == (b.acquired, b.fallbacks, b.tagged)
    assert (q < 0).any() and (q >= 0).any()
    # preallocated outputs are used as given
    qo, po = np.empty(0, np.int32), np.empty(0, np.uint32)
    e = np.empty(0, np.uint64)
    assert a.tag_burst(e, e.astype(np.uint16), e.astype(np.uint32), e.astype(np.int64), qo, po)[0] is qo


def test_repr():
    assert repr(PSNAllocator(8, psn_bits=16, idle_ns=5, probes=2)) == (
        "PSNAllocator(n_queues=8, psn_bits=16, idle_ns=5, probes=2)")


# -- documented errors: type + message, state unchanged ------------------------

@pytest.mark.parametrize("kwargs, exc, msg", [
    (dict(n_queues=0), ValueError, "n_queues must be a power of two in [1, 2**16], got 0"),
    (dict(n_queues=3), ValueError, "n_queues must be a power of two in [1, 2**16], got 3"),
    (dict(n_queues=2**17), ValueError, "n_queues must be a power of two"),
    (dict(n_queues=4.0), TypeError, "n_queues must be an integer, got 4.0"),
    (dict(n_queues=4, psn_bits=7), ValueError, "psn_bits must be in [8, 32], got 7"),
    (dict(n_queues=4, psn_bits=33), ValueError, "psn_bits must be in [8, 32], got 33"),
    (dict(n_queues=4, idle_ns=0), ValueError, "idle_ns must be in [1, 2**62], got 0"),
    (dict(n_queues=4, idle_ns=-5), ValueError, "idle_ns must be in [1, 2**62], got -5"),
    (dict(n_queues=4, probes=0), ValueError, "probes must be in [1, 64], got 0"),
    (dict(n_queues=4, probes=65), ValueError, "probes must be in [1, 64], got 65"),
])
def test_constructor_errors(kwargs, exc, msg):
    with pytest.raises(exc, match=_re(msg)):
        PSNAllocator(**kwargs)


def _re(s):
    import re
    return re.escape(s)


def _state(a, now_ns=100):
    return (a.acquired, a.fallbacks, a.tagged, [a.next_psn(q) for q in range(a.n_queues)],
            [a.owner(q, now_ns) for q in range(a.n_queues)])


@pytest.mark.parametrize("args, exc, msg", [
    ((-1, 0, 0, 100), ValueError, "key must be in [0, 2**64 - 1], got -1"),
    ((2**64, 0, 0, 100), ValueError, "key must be in [0, 2**64 - 1], got 18446744073709551616"),
    (("k", 0, 0, 100), TypeError, "key must be an integer, got 'k'"),
    ((1, 65536, 0, 100), ValueError, "port must be in [0, 2**16 - 1], got 65536"),
    ((1, -1, 0, 100), ValueError, "port must be in [0, 2**16 - 1], got -1"),
    ((1, 0, 2**32, 100), ValueError, "flow_hash must be in [0, 2**32 - 1], got 4294967296"),
    ((1, 0, 1.5, 100), TypeError, "flow_hash must be an integer, got 1.5"),
    ((1, 0, 0, -1), ValueError, "now_ns must be in [0, 2**63 - 1], got -1"),
    ((1, 0, 0, 49), ValueError, "now_ns must not go backwards, got 49 after 50"),
    ((1, 0, 0, None), TypeError, "now_ns must be an integer, got None"),
])
def test_tag_errors_leave_state_unchanged(args, exc, msg):
    a = PSNAllocator(4, idle_ns=1000)
    a.tag(1, 0, 0, 50)
    before = _state(a)
    with pytest.raises(exc, match=_re(msg)):
        a.tag(*args)
    assert _state(a) == before


def _burst_args(n=3):
    return dict(keys=np.arange(n, dtype=np.uint64), ports=np.zeros(n, np.uint16),
                flow_hashes=np.zeros(n, np.uint32), now_ns=np.arange(50, 50 + n, dtype=np.int64))


@pytest.mark.parametrize("change, exc, msg", [
    (dict(keys=np.arange(3, dtype=np.int64)), TypeError, "keys must have dtype uint64, got int64"),
    (dict(ports=[0, 0, 0]), TypeError, "ports must be a numpy.ndarray of dtype uint16, got list"),
    (dict(flow_hashes=np.zeros(3, np.uint64)), TypeError, "flow_hashes must have dtype uint32, got uint64"),
    (dict(now_ns=np.zeros(3, np.int32)), TypeError, "now_ns must have dtype int64, got int32"),
    (dict(keys=np.arange(4, dtype=np.uint64)), ValueError, "ports must have length 4, got 3"),
    (dict(keys=np.arange(6, dtype=np.uint64)[::2]), ValueError, "keys must be C-contiguous"),
    (dict(now_ns=np.array([50, 52, 51], np.int64)), ValueError, "now_ns must not go backwards, got now_ns[2] = 51 after 52"),
    (dict(now_ns=np.array([49, 52, 53], np.int64)), ValueError, "now_ns must not go backwards, got now_ns[0] = 49 after 50"),
    (dict(now_ns=np.array([-1, 52, 53], np.int64)), ValueError, "now_ns must be >= 0, got now_ns[0] = -1"),
    (dict(queues=np.empty(3, np.int64)), TypeError, "queues must have dtype int32, got int64"),
    (dict(psns=np.empty(2, np.uint32)), ValueError, "psns must have length 3, got 2"),
])
def test_tag_burst_errors_leave_state_unchanged(change, exc, msg):
    a = PSNAllocator(4, idle_ns=1000)
    a.tag(1, 0, 0, 50)
    before = _state(a)
    args = _burst_args()
    args.update(change)
    with pytest.raises(exc, match=_re(msg)):
        a.tag_burst(**args)
    assert _state(a) == before


def test_query_errors():
    a = PSNAllocator(4, idle_ns=1000)
    a.tag(1, 0, 0, 50)
    with pytest.raises(ValueError, match=_re("queue must be in [0, 3], got 4")):
        a.owner(4, 60)
    with pytest.raises(ValueError, match=_re("queue must be in [0, 3], got -1")):
        a.next_psn(-1)
    with pytest.raises(ValueError, match=_re("now_ns must not go backwards, got 10 after 50")):
        a.n_live(10)


def test_second_thread_is_refused_while_tag_burst_runs():
    # tag_burst releases the GIL; tag and tag_burst from another thread are
    # refused meanwhile (nothing changes), the queries still answer, and the
    # allocator works again once the burst is over.
    n = 1 << 20
    for attempt in range(3):
        a, ref = PSNAllocator(1024, idle_ns=10**9), PSNAllocator(1024, idle_ns=10**9)
        q0 = a.tag(1, 0, 5, 10)[0]
        ref.tag(1, 0, 5, 10)
        keys = np.random.default_rng(attempt).integers(0, 5000, n).astype(np.uint64)
        burst = (keys, np.zeros(n, np.uint16), keys.astype(np.uint32),
                 np.arange(1000, 1000 + n, dtype=np.int64))
        small = _burst_args()             # times 50..52: valid before the burst
        empty = {k: v[:0] for k, v in small.items()}
        results = {}
        mutators = {
            "tag": lambda x: x.tag(7, 0, 123, 20),
            "tag_burst": lambda x: x.tag_burst(**small),
        }
        probes = {name: (lambda f=f: f(a)) for name, f in mutators.items()}
        probes.update({
            "owner": lambda: a.owner(q0, 20),
            "next_psn": lambda: a.next_psn(q0),
            "n_live": lambda: a.n_live(20),
        })
        outcomes = while_busy(lambda: results.update(out=a.tag_burst(*burst)),
                               lambda: a.tag_burst(**empty), probes)
        if outcomes is not None:
            break
        n *= 2
    else:
        pytest.fail("tag_burst was never seen running")
    for name in mutators:
        assert isinstance(outcomes[name], RuntimeError), name
        assert str(outcomes[name]) == (
            "PSNAllocator is in use by another thread (a burst is running without "
            "the GIL); give each thread its own PSNAllocator")
    assert outcomes["owner"] == 1 and 1 <= outcomes["next_psn"] <= n + 1
    assert 1 <= outcomes["n_live"] <= 1024
    expected = ref.tag_burst(*burst)
    for got, want in zip(results["out"], expected):
        np.testing.assert_array_equal(got, want)
    assert _state(a, 2 * n) == _state(ref, 2 * n)
    later = {"tag": lambda x: x.tag(7, 0, 123, 2 * n),
             "tag_burst": lambda x: [v.tolist() for v in x.tag_burst(
                 **dict(small, now_ns=np.arange(3, dtype=np.int64) + 2 * n))]}
    for name, call in later.items():          # free again: same as the reference
        assert call(a) == call(ref), name
    assert _state(a, 2 * n + 2) == _state(ref, 2 * n + 2)
