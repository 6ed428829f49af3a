"""The thread contract of the reorder side: a call during a GIL-free burst is refused.

ReorderBuffer, ReorderQueues and MetadataCache take no lock: one object per
thread.  While a burst runs without the GIL in one thread, every call on the
object from another thread raises RuntimeError at once, and changes nothing.
"""

import numpy as np
import pytest

from paraflowo import FLAG_PARA, MetadataCache, ReorderBuffer, ReorderQueues, empty_meta

from threadutil import while_busy


def _msg(who):
    return (f"{who} is in use by another thread (a burst is running without the GIL); "
            f"give each thread its own {who}")


def _swapped(n):
    psns = np.arange(n, dtype=np.uint32)
    psns[0:n - 1:2], psns[1::2] = psns[1::2].copy(), psns[0:n - 1:2].copy()
    return psns


def test_reorder_buffer_refuses_calls_during_a_burst():
    n = 1 << 16
    for _ in range(8):
        rb = ReorderBuffer(1024, 1000)
        psns, handles = _swapped(n), np.arange(n, dtype=np.uint64)
        out = np.empty(n, np.uint64)
        e32, e64 = np.empty(0, np.uint32), np.empty(0, np.uint64)
        done = {}
        probes = {
            "insert": lambda: rb.insert(0, 0, 0),
            "drain": lambda: rb.drain(0),
            "drain_into": lambda: rb.drain_into(0, np.empty(4, np.uint64)),
            "flush": lambda: rb.flush(),
            "insert_burst": lambda: rb.insert_burst(e32, e64, 0),
            "insert_burst(status_out)": lambda: rb.insert_burst(e32, e64, 0, None,
                                                                np.empty(0, np.uint8)),
            "stats": lambda: rb.stats,
            "held": lambda: rb.held,
            "next_deadline": lambda: rb.next_deadline,
        }
        outcomes = while_busy(
            lambda: done.update(k=rb.process_burst(psns, handles, 0, out, drain_every=2)),
            lambda: rb.process_burst(e32, e64, 0, e64.copy()), probes)
        if outcomes is not None:
            break
        n *= 2
    else:
        pytest.fail("process_burst was never seen running")
    for name, got in outcomes.items():
        assert isinstance(got, RuntimeError) and str(got) == _msg("ReorderBuffer"), name
    assert done["k"] == n                                           # the burst was intact
    assert out.tolist() == np.argsort(psns).tolist()
    s = rb.stats
    assert (s.inserted, s.released, s.held) == (n, n, 0)
    assert rb.insert(n, 7, 1).name == "BUFFERED"                    # free again afterwards


def test_reorder_queues_refuse_calls_during_a_burst_parts_too():
    n = 1 << 16
    for _ in range(8):
        rq = ReorderQueues(4, 1024, 1000)
        m = empty_meta(n)
        m["handle"] = np.arange(n)
        m["queue"] = np.arange(n) % 4
        m["psn"] = _swapped(n // 4)[np.arange(n) // 4]
        m["flags"] = FLAG_PARA
        out = np.empty(n, np.uint64)
        done = {}
        empty = empty_meta(0)
        part = rq.buffers[1]
        probes = {
            "insert": lambda: rq.insert(0, 0, 0, 0),
            "drain": lambda: rq.drain(0),
            "drain_into": lambda: rq.drain_into(0, np.empty(4, np.uint64)),
            "flush": lambda: rq.flush(),
            "set_timeout": lambda: rq.set_timeout(5),
            "stats": lambda: rq.stats,
            "held": lambda: rq.held,
            "part.stats": lambda: part.stats,
            "part.held": lambda: part.held,
        }
        outcomes = while_busy(
            lambda: done.update(k=rq.process_burst(m, 0, out, drain_every=2)),
            lambda: rq.process_burst(empty, 0, np.empty(0, np.uint64)), probes)
        if outcomes is not None:
            break
        n *= 2
    else:
        pytest.fail("process_burst was never seen running")
    for name, got in outcomes.items():
        who = "ReorderQueues"
        assert isinstance(got, RuntimeError) and str(got) == _msg(who), name
    assert done["k"] == n and sorted(out.tolist()) == list(range(n))
    s = rq.stats
    assert (s.inserted, s.released, s.held) == (n, n, 0)


def test_metadata_cache_refuses_calls_while_its_queues_burst():
    c = MetadataCache(n_queues=1, window=1024, timeout_ns=1000, n_slots=4, slot_bytes=64)
    c.receive(b"x", 0, 1, 0)
    # its parts cannot be driven directly: no packet behind the cache's back
    with pytest.raises(ValueError, match="^ReorderQueues is a read-only part of a "
                                         "MetadataCache; use MetadataCache.receive$"):
        c.queues.insert(0, 0, 5, 0)
    with pytest.raises(ValueError, match="^PacketStore is a read-only part of a "
                                         "MetadataCache; use MetadataCache.receive$"):
        c.store.put(b"y")
    assert c.store.n_used == 1 and c.queues.held == 1
