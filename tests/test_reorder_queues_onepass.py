"""ReorderQueues.process_burst against its definition: insert every record
(``insert``), then drain (``drain_into``), chunk by chunk (hypothesis).

``process_burst`` takes a one-pass path when no queue has two records in a
chunk (each queue is visited right after its insert) and the two-pass path
otherwise; both must give exactly what the definition gives: the same outputs
in the same order (across queues too), the same queues, statuses, statistics,
heads and deadlines, including when the output is too short.
"""

import numpy as np
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from paraflowo import FLAG_DROP, FLAG_PARA, ReorderQueues, ReorderStatus, empty_meta

FULL = int(ReorderStatus.FULL)
PASSED = int(ReorderStatus.PASSED)


def _reference(rq, m, now, cap, every):
    # process_burst's definition through the per-record and drain methods
    n = len(m)
    out = np.zeros(cap, np.uint64)
    oq = np.zeros(cap, np.int32)
    status = []
    every = n if every <= 0 or every > n else every
    k, i = 0, 0
    while True:
        j = n if n - i <= every else i + every
        for r in m[i:j]:
            if r["flags"] & FLAG_PARA:
                s = int(rq.insert(int(r["queue"]), int(r["psn"]), int(r["handle"]), now,
                                  bool(r["flags"] & FLAG_DROP)))
                assume(s != FULL)       # process_burst makes room first: not modelled here
                status.append(s)
            else:
                out[k], oq[k] = r["handle"], -1
                k += 1
                status.append(PASSED)
        end = cap - (n - j)             # room left for the pass-throughs still to come
        k += rq.drain_into(now, out[k:end], oq[k:end])
        i = j
        if i >= n:
            return k, out[:k].tolist(), oq[:k].tolist(), status


def _state(rq):
    return (tuple(rq.stats), rq.held, rq.n_active, rq.next_deadline, rq.last_ns,
            [tuple(b.stats) for b in rq.buffers], [b.head for b in rq.buffers],
            [b.next_deadline for b in rq.buffers])


record = st.tuples(
    st.integers(0, 1000),                        # queue (mod n_queues)
    st.sampled_from(["next", "next", "next", "next", "ahead", "far", "late", "dup"]),
    st.integers(1, 70),                          # how far ahead / behind
    st.booleans(),                               # tagged (mostly: see below)
    st.integers(0, 19),                          # < 1: tombstone
)


@settings(max_examples=300, deadline=None)
@given(
    n_queues=st.sampled_from([1, 2, 5, 16, 40]),
    wexp=st.integers(1, 5),
    timeout=st.sampled_from([None, 0, 3, 40]),
    spread=st.booleans(),
    # 12-bit PSNs, or 32-bit ones from just before the wrap (process_burst
    # compiles its loops apart for 32-bit PSNs: no mask)
    width=st.sampled_from([(12, 0), (32, 2**32 - 40)]),
    bursts=st.lists(st.tuples(st.lists(record, max_size=40),
                              st.sampled_from([0, 0, 1, 2, 50]),   # time step
                              st.sampled_from([0, 0, 1, 3, 8]),    # drain_every
                              st.integers(-1, 12)),                # output room: -1 ample
                    min_size=1, max_size=12),
    # without out_queue and status_out: the form the vSwitch (and every speed
    # figure) uses, compiled apart; out then needs room for len(meta) + held
    plain=st.booleans(),
)
def test_process_burst_equals_insert_then_drain(n_queues, wexp, timeout, spread, width,
                                                bursts, plain):
    w = 1 << wexp
    bits, first = width
    rq = ReorderQueues(n_queues, w, timeout, psn_bits=bits, first_psn=first)
    ref = ReorderQueues(n_queues, w, timeout, psn_bits=bits, first_psn=first)
    nxt = [0] * n_queues
    now, h0 = 0, 0
    for b, (recs, dt, every, room) in enumerate(bursts):
        now += dt
        m = empty_meta(len(recs))
        for i, (q, kind, d, tagged, drop) in enumerate(recs):
            # spread: queue i of the burst (one record per queue: the one-pass path)
            q = (i + b) % n_queues if spread else q % n_queues
            p = {"next": nxt[q], "ahead": nxt[q] + d % (2 * w), "far": nxt[q] + w + d,
                 "late": nxt[q] - 1 - d % 4, "dup": nxt[q] - 1}[kind]
            if kind == "next":
                nxt[q] += 1
            elif kind == "far":
                nxt[q] = p + 1
            m[i] = (h0 + i, 0, (first + p) % (1 << bits), 0, q, 0, 0,
                    (FLAG_PARA if tagged or i % 3 else 0) | (FLAG_DROP if drop < 1 else 0))
        h0 += len(recs)
        if plain:
            cap = len(m) + ref.held + (8 * w * n_queues if room < 0 else room)
        else:
            cap = len(m) + (ref.held + 8 * w * n_queues if room < 0 else room)
        want_k, want_out, want_oq, want_st = _reference(ref, m, now, cap, every)
        out = np.zeros(cap, np.uint64)
        if plain:
            k = rq.process_burst(m, now, out, drain_every=every)
        else:
            oq = np.zeros(cap, np.int32)
            st_out = np.zeros(len(m), np.uint8)
            k = rq.process_burst(m, now, out, oq, st_out, drain_every=every)
            assert oq[:k].tolist() == want_oq
            assert st_out.tolist() == want_st
        assert k == want_k
        assert out[:k].tolist() == want_out
        assert _state(rq) == _state(ref)
    # the rest, and the timeouts still to come, the same too
    now += 100
    h, q = rq.drain(now)
    hr, qr = ref.drain(now)
    assert (h.tolist(), q.tolist()) == (hr.tolist(), qr.tolist())
    h, q = rq.flush()
    hr, qr = ref.flush()
    assert (h.tolist(), q.tolist()) == (hr.tolist(), qr.tolist())
    assert _state(rq) == _state(ref)


def _burst(rq, ref, recs, now):
    # one process_burst of (queue, psn) records, checked against _reference
    m = empty_meta(len(recs))
    for i, (q, p) in enumerate(recs):
        m[i] = (1000 * now + i, 0, p, 0, q, 0, 0, FLAG_PARA)
    cap = len(m) + ref.held
    status = [int(ref.insert(q, p, 1000 * now + i, now)) for i, (q, p) in enumerate(recs)]
    assert FULL not in status
    wo = np.zeros(cap, np.uint64)
    woq = np.zeros(cap, np.int32)
    wk = ref.drain_into(now, wo, woq)
    want = (wk, wo[:wk].tolist(), woq[:wk].tolist(), status)
    out = np.zeros(cap, np.uint64)
    oq = np.zeros(cap, np.int32)
    st_out = np.zeros(len(m), np.uint8)
    k = rq.process_burst(m, now, out, oq, st_out)
    assert (k, out[:k].tolist(), oq[:k].tolist(), st_out.tolist()) == want
    assert _state(rq) == _state(ref)


def test_one_pass_into_a_queue_that_left_the_active_set():
    # A queue leaves the active set when a drain empties it or on flush; a
    # later displaced record (inside the window, not at the head) held in it
    # by the one-pass path must bring it back, with its timeout: its cached
    # deadline from before must not pass for a live one.
    for how in ("emptied", "flush"):
        rq = ReorderQueues(4, 16, 100, psn_bits=12)
        ref = ReorderQueues(4, 16, 100, psn_bits=12)
        _burst(rq, ref, [(0, 2), (1, 0)], 0)           # queue 0 holds PSN 2: deadline 100
        if how == "emptied":
            _burst(rq, ref, [(0, 0)], 10)
            _burst(rq, ref, [(0, 1), (2, 0)], 20)      # releases 1, 2: queue 0 empty
        else:
            assert rq.flush()[0].tolist() == ref.flush()[0].tolist() == [0]   # PSN 2
        assert rq.n_active == ref.n_active == 0
        _burst(rq, ref, [(0, 5), (3, 0)], 30)          # held, a hole at 3, 4
        assert rq.n_active == 1
        _burst(rq, ref, [(1, 1)], 200)                 # the timeout of queue 0 is due
        assert rq.buffers[0].stats.timeouts == 1
        assert rq.n_active == 0
