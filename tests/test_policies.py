"""The policies driven from Python, one packet at a time, by a model event loop."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from paraflowo import FLAG_DROP, FLAG_PARA, META_DTYPE
from paraflowo.dataplane import make_policy


def fifo_cores(policy, flows, service, rng, drop_every=0):
    """A plain event loop: packets of `flows` (flow id per packet) arrive 1 us
    apart; core c serves its FIFO in service[c] ns per packet.  Returns the
    handles in egress order."""
    n_cores = policy.n_cores
    queues = [[] for _ in range(n_cores)]
    free_at = [0] * n_cores
    out, t = [], 0
    pending = list(enumerate(flows))
    events = []                                  # (finish time, core, record)
    while pending or any(queues) or events:
        # next arrival or next completion, whichever comes first
        t_arr = t + 1000 if pending else None
        t_done = min(e[0] for e in events) if events else None
        if t_arr is not None and (t_done is None or t_arr <= t_done):
            t = t_arr
            h, f = pending.pop(0)
            m = policy.steer(1000 + f, (f * 2654435761) & 0xFFFFFFFF, 0, 100, h, t)
            if drop_every and h % drop_every == 0:
                m["flags"] |= FLAG_DROP
            c = int(m["core"])
            if not queues[c] and free_at[c] <= t:
                events.append((t + service[c], c, m))
                free_at[c] = t + service[c]
            else:
                queues[c].append(m)
        else:
            e = min(events, key=lambda e: e[0])
            events.remove(e)
            t = max(t, e[0])
            out += policy.complete(e[2], t)
            c = e[1]
            if queues[c]:
                m = queues[c].pop(0)
                events.append((t + service[c], c, m))
                free_at[c] = t + service[c]
    out += policy.flush()
    return out


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 400), n_flows=st.integers(1, 4), seed=st.integers(0, 2**16),
       policy=st.sampled_from(["rss", "paraflowo", "rsspp", "spray"]),
       drop_every=st.sampled_from([0, 7]))
def test_every_packet_leaves_once_and_in_order_per_flow(n, n_flows, seed, policy, drop_every):
    rng = np.random.default_rng(seed)
    flows = rng.integers(0, n_flows, n).tolist()
    service = [int(s) for s in rng.integers(500, 3000, 2)]
    # the window (4096) exceeds the packets in flight (<= 400): no LATE possible
    p = (make_policy(policy, 2, threshold=4, n_queues=8, t_switch_init_ns=1000)
         if policy == "paraflowo" else make_policy(policy, 2, period_ns=20_000))
    out = fifo_cores(p, flows, service, rng, drop_every)
    kept = [h for h in range(n) if not (drop_every and h % drop_every == 0)]
    assert sorted(out) == kept                         # once each, drops never
    if policy in ("rss", "paraflowo"):
        for f in range(n_flows):
            mine = [h for h in out if flows[h] == f]
            assert mine == sorted(mine)
    st_ = p.stats()
    assert st_["steered"] == st_["completed"] == n and st_["emitted"] == len(kept)


def test_paraflowo_spreads_an_elephant_and_tags_it():
    p = make_policy("paraflowo", 2, threshold=4, t_switch_init_ns=1000)
    rng = np.random.default_rng(1)
    out = fifo_cores(p, [0] * 2000, [1500, 1500], rng)
    assert out == list(range(2000))
    s = p.stats()
    assert s["para_packets"] > 1900 and s["switches"] > 10
    # 10 s later the flow has been idle past idle_ns: a new packet is untagged
    m = p.steer(1000, 0, 0, 100, 5000, 10**10)
    assert not m["flags"] & FLAG_PARA and p.ready(m)


def test_python_calls_check_their_arguments_and_leave_the_policy_unchanged():
    p = make_policy("paraflowo", 2)
    m = p.steer(1, 2, 0, 64, 0, 1000)
    with pytest.raises(ValueError, match=r"now_ns must be >= the last time given \(1000\), "
                                         r"got 999"):
        p.steer(1, 2, 0, 64, 1, 999)
    with pytest.raises(ValueError, match=r"length must be in \[0, 2\*\*16 - 1\], got 70000"):
        p.steer(1, 2, 0, 70000, 1, 1000)
    with pytest.raises(TypeError, match=r"key must be an integer, got 'k'"):
        p.steer("k", 2, 0, 64, 1, 1000)
    bad = m.copy()
    bad["core"] = 5
    with pytest.raises(ValueError, match=r"record core must be in \[0, 1\], got 5"):
        p.complete(bad, 2000)
    late = m.copy()
    late["ingress_ns"] = 5000
    with pytest.raises(ValueError, match=r"record ingress_ns must be in \[0, now_ns=2000\]"):
        p.complete(late, 2000)
    assert p.stats()["steered"] == 1 and p.stats()["completed"] == 0
    assert p.complete(m, 2000) == [0] and p.next_deadline is None


@pytest.mark.parametrize("policy", ["rss", "spray", "paraflowo", "rsspp"])
def test_bursts_equal_the_per_packet_calls(policy):
    rng = np.random.default_rng(5)
    n = 600
    keys = rng.integers(1, 5, n).astype(np.uint64) * np.uint64(1000)
    hashes = (keys * np.uint64(2654435761) & np.uint64(0xFFFFFFFF)).astype(np.uint32)
    ports = np.zeros(n, np.uint16)
    lengths = rng.integers(64, 1500, n).astype(np.uint16)
    handles = np.arange(n, dtype=np.uint64)
    times = np.arange(n, dtype=np.int64) * 1000
    kw = {"threshold": 4, "t_switch_init_ns": 1000} if policy == "paraflowo" else {}
    a, b = make_policy(policy, 2, **kw), make_policy(policy, 2, **kw)
    recs = a.steer_burst(keys, hashes, ports, lengths, handles, times)
    one = [b.steer(int(keys[i]), int(hashes[i]), 0, int(lengths[i]), i, int(times[i]))
           for i in range(n)]
    assert recs.tobytes() == np.array(one, dtype=recs.dtype).tobytes()
    # complete in core-FIFO order, in two bursts at two times
    order = sorted(range(n), key=lambda i: (int(recs[i]["core"]), i))
    t1, t2 = n * 1000 + 10, n * 1000 + 20
    first, second = recs[order[: n // 2]], recs[order[n // 2:]]
    got = list(a.complete_burst(first, t1)) + list(a.complete_burst(second, t2))
    want = [h for r in first for h in b.complete(r, t1)]
    want += [h for r in second for h in b.complete(r, t2)]
    assert got == want
    assert list(a.flush()) == list(b.flush())


def test_burst_errors_name_the_index_and_change_nothing():
    p = make_policy("paraflowo", 2)
    z = np.zeros(3, np.uint64)
    args = (z, np.zeros(3, np.uint32), np.zeros(3, np.uint16), np.zeros(3, np.uint16), z)
    with pytest.raises(ValueError, match=r"now_ns must be nondecreasing and >= the last time "
                                         r"given \(0\), got 5 at index 2"):
        p.steer_burst(*args, np.array([7, 9, 5], np.int64))
    with pytest.raises(TypeError, match=r"now_ns must have dtype int64, got int32"):
        p.steer_burst(*args, np.array([7, 9, 5], np.int32))
    with pytest.raises(ValueError, match=r"arrays must have the same length"):
        p.steer_burst(z[:2], *args[1:], np.array([1, 2, 3], np.int64))
    assert p.stats()["steered"] == 0
    recs = p.steer_burst(*args, np.array([1, 2, 3], np.int64))
    recs["core"][1] = 9
    with pytest.raises(ValueError, match=r"records core must be in \[0, 1\], got 9 at index 1"):
        p.complete_burst(recs, 10)
    assert p.stats()["completed"] == 0


# -- bursts of any size (both sides of the 256 records at which they release the GIL) --

SIZES = [1, 31, 32, 255, 256, 257, 600]


def _inputs(n, seed=11):
    rng = np.random.default_rng(seed)
    keys = rng.integers(1, 6, n).astype(np.uint64) * np.uint64(1000)
    hashes = (keys * np.uint64(2654435761) & np.uint64(0xFFFFFFFF)).astype(np.uint32)
    return (keys, hashes, rng.integers(0, 4, n).astype(np.uint16),
            rng.integers(64, 1500, n).astype(np.uint16), np.arange(n, dtype=np.uint64),
            np.cumsum(rng.integers(0, 300, n)).astype(np.int64))


def _make(policy):
    if policy == "paraflowo":
        return make_policy(policy, 2, threshold=4, t_switch_init_ns=1000, n_queues=8)
    return make_policy(policy, 2, period_ns=20_000)


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("policy", ["rss", "spray", "paraflowo", "rsspp"])
def test_bursts_of_any_size_equal_the_per_packet_calls(policy, size):
    n = 600
    ins = _inputs(n)
    a, b = _make(policy), _make(policy)
    out = np.empty(size, META_DTYPE)
    parts = []
    for i in range(0, n, size):
        cut = [x[i:i + size] for x in ins]
        o = out[:len(cut[0])]
        got = a.steer_burst(*cut, o) if i % (2 * size) else a.steer_burst(*cut)
        assert (got is o) == bool(i % (2 * size))
        parts.append(got.copy())
    recs = np.concatenate(parts)
    one = [b.steer(*(int(x[i]) for x in ins)) for i in range(n)]
    assert recs.tobytes() == np.array(one, dtype=META_DTYPE).tobytes()
    # complete in core-FIFO order, every 7th dropped, in bursts of `size`
    recs["flags"][::7] |= FLAG_DROP
    order = sorted(range(n), key=lambda i: (int(recs[i]["core"]), i))
    t0 = int(ins[5][-1])
    got, want = [], []
    for j, i in enumerate(range(0, n, size)):
        chunk = recs[order[i:i + size]]
        got += list(a.complete_burst(chunk, t0 + j))
        want += [h for r in chunk for h in b.complete(r, t0 + j)]
    assert got == want
    assert list(a.flush()) == list(b.flush())
    assert a.stats() == b.stats()


@pytest.mark.parametrize("size", [1, 32, 255, 256, 600])
def test_complete_burst_returns_more_handles_than_records_when_a_hole_fills(size):
    # One elephant, its tagged records completed with the first one last: the
    # last burst releases everything held before it (more handles than it has
    # records; this once overflowed the burst's output array).
    n = 600
    a, b = (make_policy("paraflowo", 2, threshold=1, t_switch_init_ns=1000) for _ in "ab")
    ins = (np.full(n, 1000, np.uint64), np.full(n, 7, np.uint32), np.zeros(n, np.uint16),
           np.full(n, 64, np.uint16), np.arange(n, dtype=np.uint64),
           np.arange(n, dtype=np.int64) * 10)
    recs = a.steer_burst(*ins)
    b.steer_burst(*ins)
    assert (recs["flags"] & FLAG_PARA).all() and len(set(recs["queue"].tolist())) == 1
    late = recs[1:size + 1]
    t = n * 10
    got = list(a.complete_burst(late, t)) + list(a.complete_burst(recs[:1], t + 1))
    want = [h for r in late for h in b.complete(r, t)] + b.complete(recs[0], t + 1)
    assert got == want == list(range(min(size + 1, 256)))
    assert a.stats() == b.stats()
    assert list(a.flush()) == list(b.flush())


def test_steer_burst_out_is_checked_before_anything_changes():
    p = make_policy("rss", 2)
    ins = _inputs(3)
    for bad, err, msg in [
        (np.empty(2, META_DTYPE), ValueError, r"out must have length 3, got 2"),
        (np.empty(3, np.uint64), TypeError, r"out must have dtype"),
        (np.empty(6, META_DTYPE)[::2], ValueError, r"out must be C-contiguous"),
        ([0, 0, 0], TypeError, r"out must be a numpy.ndarray"),
    ]:
        with pytest.raises(err, match=msg):
            p.steer_burst(*ins, bad)
    ro = np.zeros(3, META_DTYPE)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match=r"out must be writable, got a read-only array"):
        p.steer_burst(*ins, ro)
    assert p.stats()["steered"] == 0 and not ro.tobytes().strip(b"\0")
    with pytest.raises(ValueError, match=r"^arrays must have the same length, got keys=2, "
                                         r"hashes=3, ports=3, lengths=3, handles=3, "
                                         r"now_ns=3$"):
        p.steer_burst(ins[0][:2], *ins[1:])
    assert p.stats()["steered"] == 0
    assert p.steer_burst(*ins).tobytes() == make_policy("rss", 2).steer_burst(
        *ins, np.zeros(3, META_DTYPE)).tobytes()


@pytest.mark.parametrize("n", [3, 300])
def test_complete_burst_errors_name_the_first_bad_record(n):
    p = make_policy("rss", 2)
    recs = p.steer_burst(*_inputs(n))
    t = int(recs["ingress_ns"][-1])
    bad = recs.copy()
    bad["core"][[1, 2]] = [4, 3]
    with pytest.raises(ValueError, match=r"records core must be in \[0, 1\], got 4 at index 1"):
        p.complete_burst(bad, t)
    bad = recs.copy()
    bad["ingress_ns"][2] = t + 5
    with pytest.raises(ValueError, match=rf"records ingress_ns must be in \[0, now_ns={t}\], "
                                         rf"got {t + 5} at index 2"):
        p.complete_burst(bad, t)
    with pytest.raises(TypeError, match=r"records must have dtype"):
        p.complete_burst(np.zeros(n, np.uint64), t)
    with pytest.raises(ValueError, match=rf"now_ns must be >= the last time given \({t}\), "
                                         rf"got {t - 1}"):
        p.complete_burst(recs, t - 1)
    assert p.stats()["completed"] == 0
    assert list(p.complete_burst(recs, t)) == list(range(n))


@pytest.mark.parametrize("size", [32, 300])
def test_policy_bursts_release_their_arrays(size):
    import sys
    p = make_policy("paraflowo", 2)
    ins = _inputs(size)
    out = np.empty(size, META_DTYPE)
    before = [sys.getrefcount(x) for x in (*ins, out)]
    recs = p.steer_burst(*ins, out)
    assert recs is out
    with pytest.raises(ValueError):
        p.steer_burst(*ins, out[:1])
    with pytest.raises(ValueError):
        p.steer_burst(*ins)                   # times before the last given
    p.complete_burst(recs, int(ins[5][-1]))
    with pytest.raises(ValueError):
        p.complete_burst(recs, 0)
    del recs
    assert [sys.getrefcount(x) for x in (*ins, out)] == before
