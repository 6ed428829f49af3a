"""The policies driven from Python, one packet at a time, by a model event loop."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from paraflowo import FLAG_DROP, FLAG_PARA
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
