"""Run the example after building it: ``python setup.py build_ext --inplace && python run.py``."""

import numpy as np

import paraflowo as pfo
import pipeline

rng = np.random.default_rng(7)
n = 4000
# one elephant (key 1) among mice, 1 packet every 100 ns
keys = np.where(rng.random(n) < 0.5, 1, rng.integers(2, 500, n)).astype(np.uint64)
hashes = (keys * np.uint64(0x9E3779B1) % np.uint64(2**32)).astype(np.uint32)
lengths = np.full(n, 1500, np.uint16)
times = np.arange(n, dtype=np.int64) * 100

b = pfo.Breakup(pfo.CountMinDetector(1024, 4, 50, 100_000), pfo.PSNAllocator(16),
                pfo.FlowletScheduler(4, n_para=4))
meta, order = pipeline.run(b, keys, hashes, lengths, times, window=1024, timeout_ns=1_000_000,
                           service_ns=10, burst=32)
para = meta["flags"] & pfo.FLAG_PARA != 0
print(f"{n} packets, {para.sum()} tagged, cores of key 1: {np.unique(meta['core'][keys == 1])}")
print(f"{len(order)} left egress; key 1 in order: "
      f"{bool(np.all(np.diff(order[keys[order] == 1].astype(np.int64)) > 0))}")
