"""PacketStore and MetadataCache: the store, backpressure, and Eq. 3 against measured bytes."""

import pytest

from paraflowo import (
    META_SIZE,
    MetadataCache,
    PacketStore,
    PacketStoreFull,
    ReorderStatus,
    reorder_memory,
)

B, L, D, X, F = (ReorderStatus.BUFFERED, ReorderStatus.LATE, ReorderStatus.DUPLICATE,
                 ReorderStatus.DROPPED, ReorderStatus.FULL)


def test_store_put_get_take_free():
    s = PacketStore(3, 16)
    hs = [s.put(bytes([i]) * (i + 1)) for i in range(3)]
    assert hs == [0, 1, 2]
    assert (s.n_used, s.n_free, s.bytes_used, s.peak_used) == (3, 0, 6, 3)
    assert s.next_handle is None
    with pytest.raises(PacketStoreFull, match="packet store is full"):
        s.put(b"x")
    assert (s.n_used, s.bytes_used) == (3, 6)
    assert s.get(1) == b"\x01\x01" and s.length(1) == 2
    s.free(1)
    assert s.next_handle == 1
    assert s.put(bytearray(b"abc")) == 1
    assert s.take(1) == b"abc"
    assert s.take(0) == b"\x00" and s.take(2) == b"\x02\x02\x02"
    assert (s.n_used, s.bytes_used, s.peak_used) == (0, 0, 3)
    assert repr(s) == "PacketStore(n_slots=3, slot_bytes=16)"


def test_store_errors_leave_state_unchanged():
    s = PacketStore(2, 4)
    s.put(b"ab")
    before = (s.n_used, s.bytes_used, s.next_handle)
    cases = [
        (lambda: s.put(b"12345"), ValueError, "data must be at most slot_bytes=4 bytes long, got 5"),
        (lambda: s.put(12), TypeError, "data must be a contiguous bytes-like object, got int"),
        (lambda: s.get(1), ValueError, r"handle must be a slot in use, got 1 \(free\)"),
        (lambda: s.free(1), ValueError, "handle must be a slot in use"),
        (lambda: s.take(2), ValueError, r"handle must be in \[0, 1\], got 2"),
        (lambda: s.get(-1), ValueError, "handle must be in"),
        (lambda: s.get("0"), TypeError, "handle must be an integer"),
    ]
    for fn, exc, frag in cases:
        with pytest.raises(exc, match=frag):
            fn()
        assert (s.n_used, s.bytes_used, s.next_handle) == before
    with pytest.raises(ValueError, match="n_slots must be in"):
        PacketStore(0, 10)
    with pytest.raises(ValueError, match="slot_bytes must be in"):
        PacketStore(10, 0)


def test_cache_releases_packets_in_order_and_frees_slots():
    c = MetadataCache(n_queues=2, window=8, timeout_ns=100, n_slots=8, slot_bytes=64)
    assert c.receive(b"q0p1", 0, 1, 0) is B
    assert c.receive(b"q1p0", 1, 0, 0) is B
    assert c.receive(b"q0p0", 0, 0, 0) is B
    assert c.receive(b"q0p0-again", 0, 0, 0) is D          # not stored
    assert c.receive(b"q0p2", 0, 2, 0, dropped=True) is X  # tombstone, not stored
    assert c.store.n_used == 3
    assert sorted(c.drain(1)) == sorted([b"q0p0", b"q0p1", b"q1p0"])
    assert c.store.n_used == 0 and (c.meta_bytes_held, c.full_bytes_held) == (0, 0)
    assert c.receive(b"late", 0, 1, 2) is L
    assert c.store.n_used == 0


def test_cache_full_store_is_backpressure():
    c = MetadataCache(1, 16, None, n_slots=2, slot_bytes=16)
    assert c.receive(b"2", 0, 2, 0) is B
    assert c.receive(b"1", 0, 1, 0) is B
    before = (c.queues.stats, c.store.n_used, c.full_bytes_held)
    assert c.receive(b"0", 0, 0, 0) is F                   # store full: nothing changed
    assert (c.queues.stats, c.store.n_used, c.full_bytes_held) == before
    assert c.drain(0) == []                                # 0 missing: nothing to free
    assert c.flush() == [b"1", b"2"]                       # teardown frees the slots
    assert c.receive(b"3", 0, 3, 0) is B
    assert c.drain(0) == [b"3"]


def test_cache_errors_leave_state_unchanged():
    c = MetadataCache(2, 8, 10, n_slots=4, slot_bytes=8)
    c.receive(b"x", 0, 1, 5)
    before = (c.queues.stats, c.store.n_used, c.full_bytes_held, c.meta_bytes_held)
    cases = [
        ((b"x" * 9, 0, 0, 5), ValueError, "packet must be at most slot_bytes=8 bytes long, got 9"),
        ((None, 0, 0, 5), TypeError, "packet must be a contiguous bytes-like object"),
        ((b"x", 2, 0, 5), ValueError, r"queue must be in \[0, 1\], got 2"),
        ((b"x", 0, -1, 5), ValueError, "psn must be in"),
        ((b"x", 0, 0, 4), ValueError, "now_ns must not go backwards"),
    ]
    for args, exc, frag in cases:
        with pytest.raises(exc, match=frag):
            c.receive(*args)
        assert (c.queues.stats, c.store.n_used, c.full_bytes_held, c.meta_bytes_held) == before
    with pytest.raises(ValueError, match="meta_bytes must be in"):
        MetadataCache(1, 8, 1, 4, 8, meta_bytes=0)


def _run_head_late_pattern(cache, window, late, size, blocks):
    """In each block of `window` PSNs the first arrives after the next `late` ones."""
    now = 0
    for b in range(blocks):
        base = b * window
        order = list(range(base + 1, base + 1 + late)) + [base] + \
            list(range(base + 1 + late, base + window))
        for p in order:
            now += 1
            assert cache.receive(bytes(size), 0, p, now) is B
            cache.drain(now)
    assert cache.store.n_used == 0 and cache.full_bytes_held == 0


@pytest.mark.parametrize(
    "window, p_oo, packet_bytes, meta_bytes",
    [
        (256, 0.125, 500, 64),        # 32 packets held at once
        (250, 0.10, 500, 64),         # the paper's p_oo and P (25 held)
        (256, 0.125, 1500, META_SIZE),
    ],
)
def test_eq3_matches_the_bytes_the_cache_held(window, p_oo, packet_bytes, meta_bytes):
    late = round(window * p_oo)
    assert late == window * p_oo
    wexp = max(window - 1, 1).bit_length()
    cache = MetadataCache(1, 1 << wexp, None, n_slots=window, slot_bytes=packet_bytes,
                          meta_bytes=meta_bytes)
    _run_head_late_pattern(cache, window, late, packet_bytes, blocks=3)
    model = reorder_memory(window, p_oo, packet_bytes, meta_bytes=meta_bytes)
    assert cache.peak_full_bytes == model.full_bytes
    assert cache.peak_meta_bytes == model.meta_bytes
    assert cache.saving == pytest.approx(model.saving)
    # the buffer itself also held the head packet for an instant (insert, then drain)
    assert cache.queues.stats.peak_held == late + 1


def test_paper_example_numbers():
    # the paper's worked example (Eq. 3), with the cache measuring it
    cache = MetadataCache(1, 256, None, n_slots=256, slot_bytes=1500, meta_bytes=64)
    _run_head_late_pattern(cache, 256, 25, 500, blocks=2)      # ~10 % of 256
    assert cache.peak_full_bytes == 25 * 500 and cache.peak_meta_bytes == 25 * 64
    assert round(100 * cache.saving, 1) == 87.2
    assert repr(cache) == ("MetadataCache(n_queues=1, window=256, timeout_ns=None, n_slots=256, "
                           "slot_bytes=1500, psn_bits=32, meta_bytes=64)")


# -- hardening: handles never issued, bytes-like, one clock, read-only parts --------

def test_store_refuses_handles_never_issued_and_non_bytes():
    s = PacketStore(4, 16)
    h = s.put(b"abc")
    for bad in (3, 4, 2**40):
        with pytest.raises(ValueError, match="^handle must be"):
            s.get(bad)
        with pytest.raises(ValueError, match="^handle must be"):
            s.free(bad)
    with pytest.raises(TypeError, match="^handle must be an integer, got True$"):
        s.get(True)
    for bad in (None, "abc", 5, memoryview(b"abcdef")[::2]):
        with pytest.raises(TypeError, match="^data must be a contiguous bytes-like object"):
            s.put(bad)
    assert s.put(bytearray(b"")) == 1 and s.length(1) == 0
    assert (s.n_used, s.get(h)) == (2, b"abc")


def test_cache_one_clock_and_checks_even_when_full():
    c = MetadataCache(n_queues=2, window=8, timeout_ns=100, n_slots=1, slot_bytes=64)
    assert c.receive(b"a", 0, 1, 50) is ReorderStatus.BUFFERED
    before = c.store.n_used, c.queues.held, c.meta_bytes_held
    # the store is full now, but a bad call is still an error, not FULL
    with pytest.raises(ValueError, match=r"^now_ns must not go backwards, got 40 after 50$"):
        c.receive(b"b", 1, 0, 40)
    with pytest.raises(ValueError, match=r"^psn must be in \[0, 2\*\*32 - 1\], got 4294967296$"):
        c.receive(b"b", 1, 2**32, 60)
    with pytest.raises(TypeError, match="^packet must be a contiguous bytes-like object, "
                                        "got NoneType$"):
        c.receive(None, 1, 0, 60)
    assert c.receive(b"b", 1, 0, 60) is ReorderStatus.FULL
    assert (c.store.n_used, c.queues.held, c.meta_bytes_held) == before
    c2 = MetadataCache(n_queues=2, window=8, timeout_ns=100, n_slots=4, slot_bytes=64)
    c2.receive(b"a", 0, 1, 50)
    with pytest.raises(ValueError, match=r"^now_ns must not go backwards, got 40 after 50$"):
        c2.receive(b"b", 1, 0, 40)                 # another queue: the same clock


def test_cache_parts_are_read_only():
    c = MetadataCache(n_queues=1, window=8, timeout_ns=100, n_slots=4, slot_bytes=64)
    c.receive(b"a", 0, 1, 0)
    part = r"^%s is a read-only part of a MetadataCache; use MetadataCache\.%s$"
    calls = [
        (lambda: c.queues.insert(0, 0, 3, 0), "ReorderQueues", "receive"),
        (lambda: c.queues.drain(0), "ReorderQueues", "drain"),
        (lambda: c.queues.flush(), "ReorderQueues", "flush"),
        (lambda: c.store.put(b"x"), "PacketStore", "receive"),
        (lambda: c.store.free(0), "PacketStore", "drain"),
        (lambda: c.store.take(0), "PacketStore", "drain"),
        (lambda: c.queues.buffers[0].insert(0, 3, 0), "ReorderBuffer", None),
    ]
    for call, who, use in calls:
        with pytest.raises(ValueError, match="read-only part" if use is None else part % (who, use)):
            call()
    assert c.store.get(0) == b"a" and c.queues.held == 1     # reads are fine
    assert c.receive(b"b", 0, 0, 1) is ReorderStatus.BUFFERED
    assert c.drain(1) == [b"b", b"a"] and c.store.n_used == 0


def test_construction_without_init_is_refused_not_a_crash():
    for cls in (PacketStore, MetadataCache):
        with pytest.raises(TypeError):
            cls.__new__(cls)
        with pytest.raises(TypeError):
            type("Sub", (cls,), {})
