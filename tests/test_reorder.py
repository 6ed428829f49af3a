"""ReorderBuffer and ReorderQueues: behaviour, DPDK rte_reorder scenarios, errors."""

import re
import sys

import numpy as np
import pytest

from paraflowo import (
    FLAG_DROP,
    FLAG_PARA,
    META_DTYPE,
    ReorderBuffer,
    ReorderQueues,
    ReorderStats,
    ReorderStatus,
    empty_meta,
)

B, L, D, X, F = (ReorderStatus.BUFFERED, ReorderStatus.LATE, ReorderStatus.DUPLICATE,
                 ReorderStatus.DROPPED, ReorderStatus.FULL)
NO_TIMEOUT = None


def conserved(rb):
    s = rb.stats
    return s.inserted == s.released + s.dropped + s.late + s.duplicates + s.held


# -- basic semantics ---------------------------------------------------------------

def test_in_order_passes_straight_through():
    rb = ReorderBuffer(8, NO_TIMEOUT)
    out = []
    for p in range(100):
        assert rb.insert(p, 1000 + p, p) is B
        out += rb.drain(p).tolist()
    assert out == [1000 + p for p in range(100)]
    assert rb.stats == ReorderStats(100, 100, 0, 0, 0, 0, 0, 0, 0, 1)


def test_head_starts_at_first_psn_and_is_never_learned():
    rb = ReorderBuffer(8, NO_TIMEOUT)
    assert rb.insert(3, 3, 0) is B          # 0..2 missing: held, not taken as the start
    assert rb.drain(0).tolist() == []
    for p in (2, 0, 1):
        rb.insert(p, p, 0)
    assert rb.drain(0).tolist() == [0, 1, 2, 3]


def test_duplicate_and_late():
    rb = ReorderBuffer(8, NO_TIMEOUT)
    assert rb.insert(1, 11, 0) is B
    assert rb.insert(1, 12, 0) is D         # held again: rejected, the first one is kept
    assert rb.insert(0, 10, 0) is B
    assert rb.drain(0).tolist() == [10, 11]
    assert rb.insert(0, 13, 0) is L         # behind the head
    s = rb.stats
    assert (s.inserted, s.released, s.late, s.duplicates, s.held) == (4, 2, 1, 1, 0)


def test_drop_flag_tombstone_is_passed_over():
    rb = ReorderBuffer(8, NO_TIMEOUT)
    assert rb.insert(1, 11, 0, dropped=True) is X
    assert rb.insert(2, 12, 0) is B
    assert rb.drain(0).tolist() == []       # 0 missing
    assert rb.insert(1, 99, 0) is D         # the tombstone holds the slot
    assert rb.insert(0, 10, 0) is B
    assert rb.drain(0).tolist() == [10, 12]
    s = rb.stats
    assert (s.dropped, s.released, s.duplicates, s.skipped) == (1, 2, 1, 0)
    assert conserved(rb)


def test_timeout_rule_uses_earliest_inserted_packet():
    rb = ReorderBuffer(16, timeout_ns=100)
    rb.insert(5, 5, 10)                     # 0..4 missing; 5 inserted at t=10
    rb.insert(9, 9, 50)                     # 6..8 missing; 9 inserted at t=50
    assert rb.drain(109).tolist() == []     # 5 waited 99 ns
    assert rb.next_deadline == 110
    assert rb.drain(110).tolist() == [5]    # 5 waited 100: skip 0..4; 9 is young
    assert rb.head == 6 and rb.next_deadline == 150
    assert rb.drain(150).tolist() == [9]
    s = rb.stats
    assert (s.skipped, s.timeouts, s.held) == (5 + 3, 2, 0)
    assert rb.next_deadline is None


def test_timeout_releases_run_behind_skipped_hole():
    rb = ReorderBuffer(16, timeout_ns=10)
    for p in (1, 2, 3, 5, 6):
        rb.insert(p, p, 0)
    rb.insert(4, 4, 5)
    # at 10 the earliest packets (t=0) are due: skip 0, release 1..6 (4 arrived)
    assert rb.drain(10).tolist() == [1, 2, 3, 4, 5, 6]
    assert rb.stats.skipped == 1 and rb.stats.timeouts == 1


def test_timeout_zero_releases_everything_on_each_drain():
    rb = ReorderBuffer(8, timeout_ns=0)
    rb.insert(3, 3, 7)
    rb.insert(1, 1, 7)
    assert rb.drain(7).tolist() == [1, 3]


def test_too_far_ahead_advances_window_nothing_lost():
    rb = ReorderBuffer(4, NO_TIMEOUT)
    for p in (0, 2, 3):
        rb.insert(p, p, 0)
    assert rb.insert(9, 9, 0) is B          # head -> 6: 0, 2, 3 to the ready queue
    assert rb.head == 6
    s = rb.stats
    assert s.held == 4 and s.skipped == 3   # 1, 4, 5 passed over
    assert rb.drain(0).tolist() == [0, 2, 3]
    assert rb.insert(5, 5, 0) is L
    assert rb.insert(6, 6, 0) is B
    assert rb.insert(7, 7, 0) is B
    assert rb.insert(8, 8, 0) is B
    assert rb.drain(0).tolist() == [6, 7, 8, 9]
    assert conserved(rb)


def test_full_when_ready_queue_cannot_take_more_then_recovers():
    rb = ReorderBuffer(4, NO_TIMEOUT)
    for p in range(4):
        rb.insert(p, p, 0)
    assert rb.insert(7, 7, 0) is B          # 0..3 to ready (full: 4)
    for p in (4, 5, 6):
        rb.insert(p, p, 0)
    before = rb.stats
    assert rb.insert(11, 11, 0) is F        # would move 4..7 with ready full
    after = rb.stats
    assert after._replace(full=0) == before._replace(full=0) and after.full == 1
    assert rb.drain(0).tolist() == [0, 1, 2, 3, 4, 5, 6, 7]
    assert rb.insert(11, 11, 0) is B
    assert rb.flush().tolist() == [11]
    assert conserved(rb)


def test_flush_releases_everything_in_psn_order_skipping_holes():
    rb = ReorderBuffer(16, NO_TIMEOUT)
    for p in (9, 3, 5, 12):
        rb.insert(p, p, 0)
    rb.insert(14, 14, 0, dropped=True)
    assert rb.flush().tolist() == [3, 5, 9, 12]
    assert rb.head == 15 and rb.held == 0
    assert rb.insert(13, 13, 0) is L
    assert rb.flush().tolist() == []


def test_drain_into_small_buffer_loses_nothing():
    rb = ReorderBuffer(16, timeout_ns=5)
    for p in (1, 2, 3, 4, 5, 6, 7):
        rb.insert(p, p, 0)
    out = np.zeros(3, np.uint64)
    got = []
    while True:
        n = rb.drain_into(10, out)
        got += out[:n].tolist()
        if n < len(out):
            break
    assert got == [1, 2, 3, 4, 5, 6, 7]
    assert conserved(rb) and rb.held == 0


def test_psn_bits_8_wraps():
    rb = ReorderBuffer(16, NO_TIMEOUT, psn_bits=8, first_psn=250)
    psns = [(250 + i) % 256 for i in range(20)]       # 250..255, 0..13
    st = [rb.insert(p, p, 0) for p in reversed(psns)]
    # 13 is 19 ahead: the head moves to 254; then 12..254 fit, 253..250 are late
    assert st == [B] * 16 + [L] * 4
    assert rb.flush().tolist() == psns[4:]
    assert rb.head == 14


def test_handles_full_uint64_range():
    rb = ReorderBuffer(4, NO_TIMEOUT)
    rb.insert(1, 2**64 - 1, 0)
    rb.insert(0, 0, 0)
    assert rb.drain(0).tolist() == [0, 2**64 - 1]


def test_repr_and_properties():
    rb = ReorderBuffer(1024, 50_000, psn_bits=16, first_psn=7)
    assert repr(rb) == "ReorderBuffer(window=1024, timeout_ns=50000, psn_bits=16, first_psn=7)"
    assert (rb.window, rb.timeout_ns, rb.psn_bits, rb.head, rb.held) == (1024, 50_000, 16, 7, 0)
    assert rb.nbytes == 32 * 1024
    assert ReorderBuffer(2, None).timeout_ns is None


# -- DPDK rte_reorder unit-test scenarios (app/test/test_reorder.c), as behaviour ---------

@pytest.mark.parametrize("size", [0, 1, 3, 1000, 2**25])
def test_dpdk_create_invalid_size(size):
    with pytest.raises(ValueError, match="window must be a power of two"):
        ReorderBuffer(size, 100)


def test_dpdk_insert():
    # DPDK: size 4; 0..3 fill the order buffer; seqn 4 moves them to the ready
    # buffer; seqn 8 fails with ENOSPC (ready full); seqn 12 fails (ERANGE).
    # Ours: 4 advances the window by one (0 to the ready queue); 8 would pass
    # four held packets with room for three: FULL, nothing changed, drain and
    # retry; 12 is ahead (not late) and advances the window again.
    rb = ReorderBuffer(4, NO_TIMEOUT)
    assert [rb.insert(p, p, 0) for p in range(4)] == [B] * 4
    assert rb.insert(4, 4, 0) is B and rb.head == 1
    assert rb.insert(8, 8, 0) is F and rb.head == 1
    assert rb.drain(0).tolist() == [0, 1, 2, 3, 4]
    assert rb.insert(8, 8, 0) is B
    assert rb.insert(12, 12, 0) is B and rb.head == 9
    assert rb.drain(0).tolist() == [8]
    assert rb.flush().tolist() == [12]
    assert conserved(rb)


def test_dpdk_drain():
    # DPDK: size 4: drain of an empty buffer gives 0; insert 1 ... (DPDK
    # learns its start from seqn 1 and drains it at once; ours waits for 0).
    rb = ReorderBuffer(4, NO_TIMEOUT)
    assert rb.drain(0).tolist() == []
    rb.insert(1, 1, 0)
    assert rb.drain(0).tolist() == []       # the head (0) is missing
    rb.insert(0, 0, 0)
    assert rb.drain(0).tolist() == [0, 1]
    for p in (2, 3, 4, 7):                  # 7 moves the window to [4, 8)
        rb.insert(p, p, 0)
    assert rb.drain(0).tolist() == [2, 3, 4]
    assert rb.drain(0).tolist() == []       # 5, 6 missing: 7 stays
    assert rb.flush().tolist() == [7]


def test_dpdk_drain_up_to_seqn():
    # DPDK's rte_reorder_drain_up_to_seqn(b, ..., 4) releases everything below
    # 4 whatever the holes.  Ours does the same when a later PSN pushes the
    # window past it, or when the hole times out.
    rb = ReorderBuffer(4, NO_TIMEOUT)
    for p in (0, 1, 3):
        rb.insert(p, p, 0)
    rb.insert(7, 7, 0)                      # window -> [4, 8): below 4 is released
    assert rb.drain(0).tolist() == [0, 1, 3]
    assert rb.stats.skipped == 1            # 2 (4..7 are the new window)
    timed = ReorderBuffer(8, timeout_ns=10)
    for p in (0, 1, 3):
        timed.insert(p, p, 0)
    assert timed.drain(5).tolist() == [0, 1]
    assert timed.drain(10).tolist() == [3]


def test_dpdk_set_start_sequence():
    # rte_reorder_min_seqn_set: ours is first_psn, fixed at creation
    rb = ReorderBuffer(8, NO_TIMEOUT, first_psn=100)
    assert rb.insert(99, 99, 0) is L
    for p in (102, 100, 101):
        rb.insert(p, p, 0)
    assert rb.drain(0).tolist() == [100, 101, 102]


def test_regression_dpdk_window4_insert_0_to_5_drains_all():
    # DPDK (window 4): insert 0..5, drain gives 0 1 2 4 5 (3 lost when the
    # ready ring filled).  Ours gives all six.
    rb = ReorderBuffer(4, NO_TIMEOUT)
    assert [rb.insert(p, p, 0) for p in range(6)] == [B] * 6
    assert rb.drain(0).tolist() == [0, 1, 2, 3, 4, 5]
    assert conserved(rb) and rb.held == 0


def test_regression_drain_across_2_32_wrap():
    rb = ReorderBuffer(8, NO_TIMEOUT, first_psn=2**32 - 4)
    psns = [(2**32 - 4 + i) % 2**32 for i in range(8)]
    for p in reversed(psns):
        assert rb.insert(p, p, 0) is B
    assert rb.drain(0).tolist() == psns
    assert rb.head == 4
    assert rb.insert(2**32 - 1, 1, 0) is L


def test_regression_no_stall_at_end_of_stream():
    # DPDK: packets behind a hole at the end of a stream are stuck forever.
    rb = ReorderBuffer(1024, timeout_ns=1000)
    for p in range(1, 50):
        rb.insert(p, p, 0)
    assert rb.drain(999).tolist() == []
    assert rb.drain(1000).tolist() == list(range(1, 50))


# -- errors: type + message, state unchanged ----------------------------------------

@pytest.mark.parametrize(
    "kwargs, exc, fragment",
    [
        (dict(window=1000, timeout_ns=1), ValueError, "window must be a power of two in [2, 2**24], got 1000"),
        (dict(window=256, timeout_ns=1, psn_bits=8), ValueError, "window must be a power of two in [2, 128], got 256"),
        (dict(window=8.0, timeout_ns=1), TypeError, "window must be an integer"),
        (dict(window=8, timeout_ns=-1), ValueError, "timeout_ns must be in [0,"),
        (dict(window=8, timeout_ns=1.5), TypeError, "timeout_ns must be an integer"),
        (dict(window=8, timeout_ns=1, psn_bits=7), ValueError, "psn_bits must be in [8, 32], got 7"),
        (dict(window=8, timeout_ns=1, psn_bits=33), ValueError, "psn_bits must be in [8, 32], got 33"),
        (dict(window=8, timeout_ns=1, psn_bits=8, first_psn=256), ValueError, "first_psn must be in [0, 255], got 256"),
        (dict(window=8, timeout_ns=1, first_psn=-1), ValueError, "first_psn must be in"),
    ],
)
def test_constructor_errors(kwargs, exc, fragment):
    with pytest.raises(exc, match=fragment.replace("[", r"\[").replace("*", r"\*")):
        ReorderBuffer(**kwargs)


def _state(rb):
    return rb.stats, rb.head, rb.held, rb.last_ns


@pytest.mark.parametrize(
    "args, exc, fragment",
    [
        ((256, 1, 10), ValueError, "psn must be in [0, 255], got 256"),
        ((-1, 1, 10), ValueError, "psn must be in [0, 255], got -1"),
        ((1.0, 1, 10), TypeError, "psn must be an integer, got 1.0"),
        ((1, -1, 10), ValueError, "handle must be in [0, 2**64 - 1], got -1"),
        ((1, 2**64, 10), ValueError, "handle must be in [0, 2**64 - 1], got 18446744073709551616"),
        ((1, "h", 10), TypeError, "handle must be an integer"),
        ((1, 1, -5), ValueError, "now_ns must be in [0, 2**63 - 1], got -5"),
        ((1, 1, 2**63), ValueError, "now_ns must be in [0, 2**63 - 1]"),
        ((1, 1, 1.5), TypeError, "now_ns must be an integer, got 1.5"),
        ((1, 1, 9), ValueError, "now_ns must not go backwards, got 9 after 10"),
        ((1, 1, 10, "yes"), TypeError, "dropped must be a bool, got 'yes'"),
    ],
)
def test_insert_errors_leave_state_unchanged(args, exc, fragment):
    rb = ReorderBuffer(8, 100, psn_bits=8)
    rb.insert(3, 3, 10)
    before = _state(rb)
    with pytest.raises(exc, match=fragment.replace("[", r"\[").replace("*", r"\*")):
        rb.insert(*args)
    assert _state(rb) == before


def test_drain_errors():
    rb = ReorderBuffer(8, 100)
    rb.insert(1, 1, 10)
    before = _state(rb)
    with pytest.raises(ValueError, match="now_ns must not go backwards, got 9 after 10"):
        rb.drain(9)
    with pytest.raises(ValueError, match="now_ns must be in"):
        rb.drain(-1)
    with pytest.raises(TypeError, match="now_ns must be an integer"):
        rb.drain(None)
    with pytest.raises(TypeError, match="out must have dtype uint64, got int64"):
        rb.drain_into(20, np.zeros(4, np.int64))
    with pytest.raises(ValueError, match="now_ns must not go backwards"):
        rb.drain_into(9, np.zeros(4, np.uint64))
    assert _state(rb) == before


def test_burst_errors_leave_state_unchanged():
    rb = ReorderBuffer(8, 100, psn_bits=8)
    rb.insert(3, 3, 10)
    before = _state(rb)
    p = np.array([1, 2], np.uint32)
    h = np.array([1, 2], np.uint64)
    cases = [
        ((p.astype(np.int64), h, 20), TypeError, "psns must have dtype uint32, got int64"),
        ((p, h.astype(np.uint32), 20), TypeError, "handles must have dtype uint64, got uint32"),
        ((p, h[:1], 20), ValueError, "psns and handles must have the same length, got 2 and 1"),
        ((np.array([1, 300], np.uint32), h, 20), ValueError, r"psns must be in \[0, 2\*\*8 - 1\], got 300 at index 1"),
        ((p, h, 5), ValueError, "now_ns must not go backwards, got 5 after 10"),
        ((np.zeros((2, 2), np.uint32)[:, 0], h, 20), ValueError, "psns must be C-contiguous"),
        ((list(p), h, 20), TypeError, "psns must be a numpy.ndarray"),
    ]
    for args, exc, frag in cases:
        with pytest.raises(exc, match=frag):
            rb.insert_burst(*args)
        assert _state(rb) == before
        # with status_out and no dropped flags (the call a dataplane makes):
        # the same error, nothing inserted, no status written, no reference
        # kept on any argument
        st = np.full(2, 0xAA, np.uint8)
        refs = [sys.getrefcount(a) for a in (*args[:2], st)]
        with pytest.raises(exc, match=frag):
            rb.insert_burst(*args, None, st)
        assert [sys.getrefcount(a) for a in (*args[:2], st)] == refs
        assert _state(rb) == before and st.tolist() == [0xAA, 0xAA]
    ro = np.zeros(2, np.uint8)
    ro.flags.writeable = False
    for bad, exc, frag in [
        (np.zeros(1, np.uint8), ValueError, "status_out must have length 2, got 1"),
        (np.zeros(3, np.uint8), ValueError, "status_out must have length 2, got 3"),
        (np.zeros(2, np.int8), TypeError, "status_out must have dtype uint8, got int8"),
        (np.zeros(2, np.uint8)[::-1], ValueError, "status_out must be C-contiguous"),
        (np.zeros(2, np.uint8).reshape(1, 2), ValueError, "status_out must be 1-dimensional"),
        (ro, ValueError, "status_out must be writable, got a read-only array"),
        ([0, 0], TypeError, "status_out must be a numpy.ndarray of dtype uint8, got list"),
    ]:
        with pytest.raises(exc, match=frag):
            rb.insert_burst(p, h, 20, None, bad)
        assert _state(rb) == before
    with pytest.raises(TypeError, match="now_ns must be an integer"):
        rb.insert_burst(p, h, 2.0, None, np.zeros(2, np.uint8))
    with pytest.raises(ValueError, match="dropped must have length 2, got 3"):
        rb.insert_burst(p, h, 20, dropped=np.zeros(3, np.uint8))
    with pytest.raises(TypeError, match="dropped must have dtype uint8, got int32"):
        rb.insert_burst(p, h, 20, dropped=np.zeros(2, np.int32))
    with pytest.raises(ValueError, match="status_out must have length 2, got 1"):
        rb.insert_burst(p, h, 20, status_out=np.zeros(1, np.uint8))
    with pytest.raises(TypeError, match="out must have dtype uint64"):
        rb.process_burst(p, h, 20, out=np.zeros(4, np.int64))
    assert _state(rb) == before


def test_burst_paths_match_per_packet():
    a, b, c = (ReorderBuffer(8, 50) for _ in range(3))
    psns = np.array([3, 1, 0, 2, 9, 4, 4, 1, 20], np.uint32)
    handles = np.arange(100, 100 + len(psns), dtype=np.uint64)
    dropped = np.zeros(len(psns), bool)
    dropped[5] = True
    per = [a.insert(int(p), int(h), 7, bool(d)) for p, h, d in zip(psns, handles, dropped)]
    st = b.insert_burst(psns, handles, 7, dropped=dropped)
    assert st.tolist() == [int(s) for s in per]
    out = np.zeros(32, np.uint64)
    st2 = np.zeros(len(psns), np.uint8)
    n = c.process_burst(psns, handles, 7, out, dropped=dropped.view(np.uint8), status_out=st2)
    assert st2.tolist() == st.tolist()
    assert out[:n].tolist() == a.drain(7).tolist() == b.drain(7).tolist()
    assert a.stats == b.stats == c.stats


@pytest.mark.parametrize("n", [1, 32, 255, 256, 300])
def test_insert_burst_into_status_out_matches_per_packet(n):
    # insert_burst(psns, handles, now, None, status_out), the call a
    # dataplane makes, with and without the GIL (PFO_NOGIL_MIN), equals
    # per-packet inserts and the call without status_out (statuses, FULL
    # included, and state)
    rng = np.random.default_rng(n)
    psns = rng.integers(0, 3 * n + 40, n).astype(np.uint32)     # late, duplicate, full too
    handles = np.arange(n, dtype=np.uint64)
    a, b, c = (ReorderBuffer(64, 50) for _ in range(3))
    for rb in (a, b, c):
        rb.insert(5, 99, 1)
    per = [int(a.insert(int(p), int(h), 7)) for p, h in zip(psns, handles)]
    st = np.full(n, 0xAA, np.uint8)
    assert b.insert_burst(psns, handles, 7, None, st) is st
    assert st.tolist() == per == c.insert_burst(psns, handles, 7).tolist()
    assert _state(a) == _state(b) == _state(c)
    assert a.drain(7).tolist() == b.drain(7).tolist() == c.drain(7).tolist()


# -- ReorderQueues ---------------------------------------------------------------

def _meta(rows):
    m = empty_meta(len(rows))
    for i, (q, psn, h, flags) in enumerate(rows):
        m[i] = (h, 0, psn, 0, q, 0, 64, flags)
    return m


def test_queues_route_pass_through_and_order_per_queue():
    rq = ReorderQueues(4, 8, 100)
    P = FLAG_PARA
    m = _meta([(0, 1, 11, P), (2, 0, 20, P), (0, 0, 10, P), (3, 5, 99, 0), (2, 2, 22, P),
               (1, 0, 30, P | FLAG_DROP), (1, 1, 31, P)])
    out = np.zeros(16, np.uint64)
    oq = np.zeros(16, np.int32)
    st = np.zeros(len(m), np.uint8)
    n = rq.process_burst(m, 5, out, oq, st)
    got = {}
    for h, q in zip(out[:n].tolist(), oq[:n].tolist()):
        got.setdefault(q, []).append(h)
    assert got == {-1: [99], 0: [10, 11], 2: [20], 1: [31]}
    assert st.tolist() == [0, 0, 0, ReorderStatus.PASSED, 0, ReorderStatus.DROPPED, 0]
    assert rq.held == 1 and rq.n_active == 1           # only queue 2 (22 waits for 1)
    assert rq.next_deadline == 105
    h, q = rq.drain(105)
    assert h.tolist() == [22] and q.tolist() == [2]
    assert rq.n_active == 0 and rq.next_deadline is None
    s = rq.stats
    assert s.inserted == s.released + s.dropped + s.late + s.duplicates + s.held


def test_queues_per_packet_insert_and_flush():
    rq = ReorderQueues(3, 4, None, psn_bits=16)
    assert rq.insert(2, 1, 7, 0) is B
    assert rq.insert(0, 3, 5, 0) is B
    assert rq.drain(0)[0].tolist() == []
    h, q = rq.flush()
    assert sorted(zip(q.tolist(), h.tolist())) == [(0, 5), (2, 7)]
    assert rq.held == 0 and rq.n_active == 0
    assert repr(rq) == "ReorderQueues(n_queues=3, window=4, timeout_ns=None, psn_bits=16, first_psn=0)"


def test_queues_small_out_loses_nothing():
    rq = ReorderQueues(2, 16, 10)
    m = _meta([(q, p, 100 * q + p, FLAG_PARA) for q in range(2) for p in range(1, 7)])
    out = np.zeros(len(m), np.uint64)
    assert rq.process_burst(m, 0, out) == 0           # PSN 0 missing in both
    small = np.zeros(5, np.uint64)
    got = []
    while (n := rq.drain_into(10, small)) > 0:
        got += small[:n].tolist()
    assert sorted(got) == sorted(m["handle"].tolist())
    assert [h for h in got if h < 100] == [1, 2, 3, 4, 5, 6]
    assert rq.held == 0 and rq.n_active == 0


def test_queues_errors_leave_state_unchanged():
    rq = ReorderQueues(2, 8, 100, psn_bits=8)
    rq.insert(0, 1, 1, 50)
    before = rq.stats, rq.held
    out = np.zeros(8, np.uint64)
    cases = [
        (_meta([(0, 0, 1, FLAG_PARA), (2, 0, 1, FLAG_PARA)]), 60, out, ValueError,
         r"meta\['queue'\] must be in \[0, 1\], got 2 at index 1"),
        (_meta([(1, 256, 1, FLAG_PARA)]), 60, out, ValueError,
         r"meta\['psn'\] must be in \[0, 2\*\*8 - 1\], got 256 at index 0"),
        (_meta([(1, 0, 1, FLAG_PARA)]), 40, out, ValueError, "now_ns must not go backwards"),
        (np.zeros(2, np.uint64), 60, out, TypeError, "meta must have dtype"),
        (_meta([(1, 0, 1, 0)] * 3), 60, out[:2], ValueError, "out must have length >= "),
    ]
    for m, t, o, exc, frag in cases:
        with pytest.raises(exc, match=frag):
            rq.process_burst(m, t, o)
        assert (rq.stats, rq.held) == before
    with pytest.raises(ValueError, match=r"queue must be in \[0, 1\], got 5"):
        rq.insert(5, 0, 0, 60)
    with pytest.raises(ValueError, match="n_queues must be in"):
        ReorderQueues(0, 8, 1)
    with pytest.raises(ValueError, match="now_ns must not go backwards"):
        rq.drain(10)
    assert (rq.stats, rq.held) == before
    assert META_DTYPE.itemsize == 32


def test_queues_idle_timeouts_fire_exactly_when_due():
    rq = ReorderQueues(1000, 8, timeout_ns=100)
    for q in range(1000):
        assert rq.insert(q, 1, q, now_ns=q) is B       # PSN 0 missing everywhere
    assert rq.n_active == 1000 and rq.next_deadline == 100
    got = []
    for t in range(1000, 1200, 7):
        h, q = rq.drain(t)
        assert (h == q).all()
        got += h.tolist()
        assert sorted(got) == list(range(min(1000, t - 100 + 1)))   # exactly the due ones
        assert rq.held == 1000 - len(got)
    assert rq.n_active == 0
    assert rq.stats.timeouts == 1000 and rq.next_deadline is None



def test_process_burst_errors_leave_state_unchanged():
    # the fast path (no flags, no statuses) falls back to the full checks
    rb = ReorderBuffer(8, 100, psn_bits=8)
    rb.insert(3, 3, 10)
    before = _state(rb)
    p = np.array([1, 2], np.uint32)
    h = np.array([1, 2], np.uint64)
    out = np.zeros(8, np.uint64)
    cases = [
        ((p.astype(np.int32), h, 20, out), TypeError, "psns must have dtype uint32, got int32"),
        ((p, h.astype(np.int64), 20, out), TypeError, "handles must have dtype uint64, got int64"),
        ((p, h[:1], 20, out), ValueError, "psns and handles must have the same length"),
        ((np.array([1, 256], np.uint32), h, 20, out), ValueError,
         r"psns must be in \[0, 2\*\*8 - 1\], got 256 at index 1"),
        ((p, h, 9, out), ValueError, "now_ns must not go backwards, got 9 after 10"),
        ((p, h, -1, out), ValueError, "now_ns must be in"),
        ((np.zeros((2, 2), np.uint32)[:, 0], h, 20, out), ValueError, "psns must be C-contiguous"),
        ((p, h, 20, out[::2]), ValueError, "out must be C-contiguous"),
        ((p, h, 20, out.astype(np.int64)), TypeError, "out must have dtype uint64, got int64"),
        ((p.tolist(), h, 20, out), TypeError, "psns must be a numpy.ndarray"),
    ]
    for args, exc, frag in cases:
        with pytest.raises(exc, match=frag):
            rb.process_burst(*args)
        assert _state(rb) == before
    with pytest.raises(ValueError, match="drain_every must be in"):
        rb.process_burst(p, h, 20, out, drain_every=-1)
    with pytest.raises(TypeError, match="drain_every must be an integer"):
        rb.process_burst(p, h, 20, out, drain_every=1.0)
    assert _state(rb) == before
    assert rb.process_burst(p, h, 20, out, drain_every=2**63) == 0   # 0 missing: nothing out
    assert rb.held == 3


def test_queues_process_burst_fast_path_errors():
    rq = ReorderQueues(2, 8, 100)
    rq.insert(0, 1, 1, 50)
    before = rq.stats, rq.held
    m = _meta([(0, 0, 5, FLAG_PARA), (1, 0, 6, FLAG_PARA)])
    out = np.zeros(8, np.uint64)
    cases = [
        ((m, 60, out, np.zeros(8, np.int64)), TypeError, "out_queue must have dtype int32"),
        ((m, 60, out, np.zeros(7, np.int32)), ValueError, "out_queue must have length 8, got 7"),
        ((m, 60, out[:1]), ValueError, "out must have length >= "),
        ((m, 60, out.astype(np.int64)), TypeError, "out must have dtype uint64"),
        ((m[::-1], 60, out), ValueError, "meta must be C-contiguous"),
        ((m, 40, out), ValueError, "now_ns must not go backwards"),
        ((m.view(np.uint8), 60, out), TypeError, "meta must have dtype"),
    ]
    for args, exc, frag in cases:
        with pytest.raises(exc, match=frag):
            rq.process_burst(*args)
        assert (rq.stats, rq.held) == before
    oq = np.zeros(8, np.int32)
    n = rq.process_burst(m, 60, out, oq)
    assert sorted(zip(oq[:n].tolist(), out[:n].tolist())) == [(0, 1), (0, 5), (1, 6)]


# -- hardening: one clock, read-only parts, no silent refusal, the boundary --------

def test_queues_one_clock_for_every_queue():
    rq = ReorderQueues(2, 8, 100)
    assert rq.insert(0, 1, 1, 50) is B
    before = rq.stats, rq.held, rq.last_ns
    assert rq.last_ns == 50
    with pytest.raises(ValueError, match=r"^now_ns must not go backwards, got 40 after 50$"):
        rq.insert(1, 0, 2, 40)                      # another queue: the same clock
    with pytest.raises(ValueError, match=r"^now_ns must not go backwards, got 40 after 50$"):
        rq.process_burst(_meta([(1, 0, 2, FLAG_PARA)]), 40, np.zeros(8, np.uint64))
    with pytest.raises(ValueError, match=r"^now_ns must not go backwards, got 49 after 50$"):
        rq.drain(49)
    assert (rq.stats, rq.held, rq.last_ns) == before
    assert rq.insert(1, 0, 2, 50) is B


def test_queues_parts_are_read_only():
    rq = ReorderQueues(2, 8, 100)
    b = rq.buffers[0]
    assert isinstance(rq.buffers, tuple)
    msg = r"^ReorderBuffer is a read-only part of a ReorderQueues; use ReorderQueues\.%s$"
    p, h, out = np.zeros(1, np.uint32), np.zeros(1, np.uint64), np.zeros(4, np.uint64)
    calls = {
        "insert": lambda: b.insert(0, 1, 0),
        "drain": lambda: b.drain(0),
        "drain_into": lambda: b.drain_into(0, out),
        "flush": lambda: b.flush(),
        "process_burst": lambda: b.insert_burst(p, h, 0),
    }
    st = np.zeros(1, np.uint8)
    with pytest.raises(ValueError, match=msg % "process_burst"):
        b.insert_burst(p, h, 0, None, st)                 # with status_out too
    for use, call in calls.items():
        with pytest.raises(ValueError, match=msg % use):
            call()
    with pytest.raises(ValueError, match=msg % "process_burst"):
        b.process_burst(p, h, 0, out)
    assert b.stats.inserted == 0 and b.held == 0 and b.window == 8   # reads are fine
    rq.insert(0, 1, 7, 0)
    assert b.held == 1 and rq.flush()[0].tolist() == [7]


def test_process_burst_short_out_needs_status_out_and_reports_full():
    # window 2: PSN 0 is missing; 3, 5, 7, 9 each push the window on
    psns = np.array([1, 3, 5, 7, 9], np.uint32)
    handles = np.array([11, 13, 15, 17, 19], np.uint64)
    rb = ReorderBuffer(2, None)
    with pytest.raises(ValueError, match=r"^out must have length >= 5 \(len\(psns\) \+ held; "
                                         r"or pass status_out"):
        rb.process_burst(psns, handles, 0, np.zeros(1, np.uint64))
    assert rb.stats == ReorderStats(0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    st = np.zeros(5, np.uint8)
    out = np.zeros(1, np.uint64)
    n = rb.process_burst(psns, handles, 0, out, status_out=st)
    assert (n, out.tolist()) == (1, [11])          # room for one: 7 was made room for
    assert st.tolist() == [B, B, B, B, F]          # 9 refused, and reported
    assert conserved(rb) and rb.stats.full == 1 and rb.held == 3
    assert rb.flush().tolist() == [13, 15, 17]
    # with room for everything no packet is refused, with or without statuses
    rb = ReorderBuffer(2, None)
    out = np.zeros(5, np.uint64)
    n = rb.process_burst(psns, handles, 0, out)
    assert out[:n].tolist() == [11, 13, 15, 17] and conserved(rb)
    assert rb.stats.full == 0 and rb.held == 1
    assert rb.flush().tolist() == [19]


def test_queues_process_burst_short_out_needs_status_out():
    rq = ReorderQueues(1, 2, None)
    m = _meta([(0, p, 10 + p, FLAG_PARA) for p in (1, 3, 5, 7, 9)])
    with pytest.raises(ValueError, match=r"^out must have length >= 5 \(len\(meta\) \+ held"):
        rq.process_burst(m[:], 0, np.zeros(4, np.uint64))
    st = np.zeros(5, np.uint8)
    out = np.zeros(5, np.uint64)
    n = rq.process_burst(m, 0, out, status_out=st)
    assert st.tolist() == [B] * 5 and out[:n].tolist() == [11, 13, 15, 17]
    s = rq.stats
    assert s.inserted == s.released + s.held and s.full == 0


@pytest.mark.parametrize("bad, exc, msg", [
    (np.zeros((), np.uint32), ValueError, "psns must be 1-dimensional, got shape ()"),
    (np.zeros((2, 2), np.uint32), ValueError, "psns must be 1-dimensional, got shape (2, 2)"),
    (np.zeros(2, np.uint32).astype(">u4"), TypeError, "psns must have dtype uint32, got >u4"),
    (None, TypeError, "psns must be a numpy.ndarray of dtype uint32, got NoneType"),
])
def test_burst_array_shapes_and_kinds(bad, exc, msg):
    rb = ReorderBuffer(8, 100)
    with pytest.raises(exc, match="^" + re.escape(msg) + "$"):
        rb.process_burst(bad, np.zeros(2, np.uint64), 0, np.zeros(8, np.uint64))
    with pytest.raises(exc, match="^" + re.escape(msg) + "$"):
        rb.insert_burst(bad, np.zeros(2, np.uint64), 0)
    ro = np.zeros(8, np.uint64)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="^out must be writable, got a read-only array$"):
        rb.process_burst(np.zeros(2, np.uint32), np.zeros(2, np.uint64), 0, ro)
    with pytest.raises(ValueError, match="^out must be writable, got a read-only array$"):
        rb.drain_into(0, ro)
    assert rb.stats.inserted == 0


def test_edges_accepted():
    rb = ReorderBuffer(2, 0, psn_bits=32, first_psn=2**32 - 1)
    assert rb.insert(np.uint32(2**32 - 1), 2**64 - 1, 2**63 - 1) is B
    assert rb.drain(np.int64(2**63 - 1)).tolist() == [2**64 - 1]
    e32, e64 = np.zeros(0, np.uint32), np.zeros(0, np.uint64)
    assert rb.insert_burst(e32, e64, 2**63 - 1).tolist() == []
    assert rb.process_burst(e32, e64, 2**63 - 1, e64.copy(), drain_every=2**100) == 0
    rq = ReorderQueues(0xFFFF, 2, None, psn_bits=8)
    assert rq.insert(0xFFFF - 1, 1, 1, 0) is B
    m = _meta([(0xFFFF, 0, 1, FLAG_PARA)])
    with pytest.raises(ValueError, match=r"meta\['queue'\] must be in \[0, 65534\], got 65535"):
        rq.process_burst(m, 0, np.zeros(8, np.uint64))
    with pytest.raises(ValueError, match=r"^queue must be in \[0, 65534\], got 65535$"):
        rq.insert(0xFFFF, 0, 1, 0)
    with pytest.raises(ValueError, match=r"^queue must be in \[0, 65534\], got 1180591620717411303424$"):
        rq.insert(2**70, 0, 1, 0)
    with pytest.raises(TypeError, match=r"^queue must be an integer, got True$"):
        rq.insert(True, 0, 1, 0)


def test_construction_without_init_is_refused_not_a_crash():
    for cls in (ReorderBuffer, ReorderQueues):
        with pytest.raises(TypeError):
            cls.__new__(cls)
        with pytest.raises(TypeError):
            type("Sub", (cls,), {})


def test_parts_hold_no_reference_cycle():
    import sys
    from paraflowo import MetadataCache
    rq = ReorderQueues(2, 8, 100)
    part = rq.buffers[1]
    assert sys.getrefcount(rq) == 2             # only `rq`: the parts do not point back
    c = MetadataCache(1, 8, 100, 4, 16)
    assert sys.getrefcount(c) == 2
    del rq                                      # freed at once; the part stays usable
    with pytest.raises(ValueError, match="read-only part of a ReorderQueues"):
        part.insert(0, 0, 0)
    assert part.held == 0 and part.stats.inserted == 0


@pytest.mark.parametrize("handle", [0, 1, 2**30 - 1, 2**30, 2**31, 2**40 + 5, 2**60 + 7,
                                    2**62, 2**63 - 1, 2**63, 2**64 - 1])
def test_integer_fast_and_slow_paths_agree(handle):
    # the boundary converts small ints without a call, larger ones by the C API,
    # the rest (beyond int64, numpy scalars) by the checked path: same values
    for h in (handle, np.uint64(handle)):
        rb = ReorderBuffer(8, None)
        assert rb.insert(0, h, handle >> 2) is B
        assert rb.drain(handle >> 2).tolist() == [handle]
        assert rb.last_ns == handle >> 2
    for bad in (-1, -(2**40), -(2**62), -(2**64), 2**64, 2**90):
        with pytest.raises(ValueError, match=rf"^handle must be in \[0, 2\*\*64 - 1\], got {bad}$"):
            ReorderBuffer(8, None).insert(0, bad, 0)
        with pytest.raises(ValueError, match=r"^now_ns must be in \[0, 2\*\*63 - 1\], got "):
            ReorderBuffer(8, None).insert(0, 0, bad if bad < 0 else 2**63 + bad)


def test_queues_out_shorter_than_meta_is_refused_even_with_status_out():
    rq = ReorderQueues(1, 8, None)
    m = _meta([(0, 0, 1, 0), (0, 1, 2, FLAG_PARA)])
    with pytest.raises(ValueError, match=r"^out must have length >= 2, got 1$"):
        rq.process_burst(m, 0, np.zeros(1, np.uint64), status_out=np.zeros(2, np.uint8))
    assert rq.stats.inserted == 0
