"""Hypothesis properties of the hashing primitives against the reference model."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from paraflowo import (
    IndirectionTable,
    ToeplitzHasher,
    make_tuples,
    rss_hash,
    rss_hash_batch,
    toeplitz,
    toeplitz_batch,
)

from models import toeplitz_reference

keys = st.binary(min_size=8, max_size=64)
lengths = st.sampled_from([0, 1, 4, 8, 12, 13, 32, 36])


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_batch_equals_per_call_row_by_row(data):
    n = data.draw(st.integers(0, 40))
    length = data.draw(lengths)
    rows = data.draw(arrays(np.uint8, (n, length)))
    hashes = toeplitz_batch(rows)
    assert hashes.dtype == np.uint32 and hashes.shape == (n,)
    assert hashes.tolist() == [toeplitz(bytes(r)) for r in rows]


@settings(max_examples=60, deadline=None)
@given(key=keys, data=st.data())
def test_tables_equal_the_bitwise_definition_for_any_key(key, data):
    payload = data.draw(st.binary(min_size=0, max_size=len(key) - 4))
    assert toeplitz(payload, key) == toeplitz_reference(payload, key)
    rows = np.frombuffer(payload, np.uint8).reshape(1, len(payload))
    assert ToeplitzHasher(key).hash_batch(rows).tolist() == [toeplitz_reference(payload, key)]


@settings(max_examples=60, deadline=None)
@given(
    k=st.integers(0, 16),
    n_queues=st.integers(1, 0xFFFF),
    hashes=st.lists(st.integers(0, 0xFFFFFFFF), max_size=50),
    seed=st.integers(0, 2**32 - 1),
)
def test_reta_lookup_is_the_masked_index_for_any_hash(k, n_queues, hashes, seed):
    size = 1 << k
    reta = IndirectionTable(n_queues, size)
    entries = np.random.default_rng(seed).integers(0, n_queues, size)
    reta.set_entries(entries)
    h = np.array(hashes, dtype=np.uint32)
    expected = [int(entries[x & (size - 1)]) for x in hashes]
    assert [reta.queue(x) for x in hashes] == expected
    assert reta.queue_batch(h).tolist() == expected


ipv4 = st.integers(0, 2**32 - 1)
ipv6 = st.binary(min_size=16, max_size=16)
port = st.integers(0, 0xFFFF)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(ipv4, ipv4, port, port), min_size=1, max_size=20), st.booleans())
def test_ipv4_tuple_batch_equals_per_flow(flows, ports):
    src, dst, sp, dp = (list(c) for c in zip(*flows))
    t = make_tuples(src, dst, sp, dp)
    expected = [rss_hash(s, d, a, b) if ports else rss_hash(s, d) for s, d, a, b in flows]
    assert rss_hash_batch(t, ports=ports).tolist() == expected


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(ipv6, ipv6, port, port), min_size=1, max_size=10), st.booleans())
def test_ipv6_tuple_batch_equals_per_flow(flows, ports):
    src, dst, sp, dp = (list(c) for c in zip(*flows))
    t = make_tuples(src, dst, sp, dp)
    expected = [rss_hash(s, d, a, b) if ports else rss_hash(s, d) for s, d, a, b in flows]
    assert rss_hash_batch(t, ports=ports).tolist() == expected
