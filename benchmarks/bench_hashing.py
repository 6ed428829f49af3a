"""Hashing throughput: Toeplitz per call from Python and per batch, RETA per batch."""

import numpy as np
import pytest

from paraflowo import IndirectionTable, ToeplitzHasher, make_tuples, rss_hash_batch, toeplitz, toeplitz_batch

from benchutil import packets

N_BATCH = packets(4_000_000, 20_000)
N_CALLS = packets(200_000, 2_000)

RNG = np.random.default_rng(2026)
ROWS12 = RNG.integers(0, 256, size=(N_BATCH, 12), dtype=np.uint8)       # IPv4 with ports
ROWS36 = RNG.integers(0, 256, size=(N_BATCH // 4, 36), dtype=np.uint8)  # IPv6 with ports
OUT = np.empty(N_BATCH, dtype=np.uint32)
KEYS = [bytes(r) for r in ROWS12[:N_CALLS]]


@pytest.mark.benchmark(group="hashing")
def test_toeplitz_batch_ipv4(benchmark, mpps):
    benchmark(toeplitz_batch, ROWS12, out=OUT)
    assert OUT[:4].tolist() == [toeplitz(bytes(r)) for r in ROWS12[:4]]
    mpps(N_BATCH)


@pytest.mark.benchmark(group="hashing")
def test_toeplitz_batch_ipv6(benchmark, mpps):
    out = OUT[: len(ROWS36)]
    benchmark(toeplitz_batch, ROWS36, out=out)
    mpps(len(ROWS36))


@pytest.mark.benchmark(group="hashing")
def test_rss_hash_batch_ipv4_tuples(benchmark, mpps):
    n = N_BATCH // 4
    tuples = make_tuples([], [])
    tuples = np.zeros(n, dtype=tuples.dtype)
    tuples["src_ip"] = RNG.integers(0, 2**32, n, dtype=np.uint32)
    tuples["dst_ip"] = RNG.integers(0, 2**32, n, dtype=np.uint32)
    tuples["src_port"] = RNG.integers(0, 65536, n, dtype=np.uint16)
    tuples["dst_port"] = 443
    benchmark(rss_hash_batch, tuples, out=OUT[:n])
    mpps(n)


@pytest.mark.benchmark(group="hashing")
def test_toeplitz_per_call(benchmark, mpps):
    def run():
        for k in KEYS:
            toeplitz(k)

    benchmark(run)
    mpps(len(KEYS))


@pytest.mark.benchmark(group="hashing")
def test_hasher_method_per_call(benchmark, mpps):
    h = ToeplitzHasher()
    hash_ = h.hash

    def run():
        for k in KEYS:
            hash_(k)

    benchmark(run)
    mpps(len(KEYS))


@pytest.mark.benchmark(group="hashing")
def test_reta_queue_batch(benchmark, mpps):
    reta = IndirectionTable(8)
    hashes = toeplitz_batch(ROWS12)
    out = np.empty(len(hashes), dtype=np.uint16)
    benchmark(reta.queue_batch, hashes, out=out)
    mpps(len(hashes))
