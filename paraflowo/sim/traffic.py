"""Synthetic traffic: seeded flows with 5-tuples, arrivals generated in chunks.

Every policy sees the same arrivals: the runner generates each chunk once and
hands it to every policy.  Arrivals are integer nanoseconds.

* Poisson flows: in an interval of length T at rate r, the number of arrivals
  is Poisson(r T) and their times are uniform in the interval (the exact
  conditional law of a Poisson process), floored to the nanosecond.
* Constant-rate flows: evenly spaced, with a random phase per flow.
* Jitter: a flow with ``jitter = j`` redraws its rate uniformly in
  ``[r (1 - j), r (1 + j)]`` at every multiple of ``jitter_period_s``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np

from paraflowo._core.sim import sort_arrivals
from paraflowo.hashing import IPV4_TUPLE_DTYPE, rss_hash_batch
from paraflowo.sim.scenario import Scenario

__all__ = ["FlowTable", "make_flows", "Traffic", "Chunk"]

#: Arrivals per generated chunk (memory stays bounded: ~20 bytes per arrival; small
#: enough to stay in cache, large enough to amortise the numpy calls).
CHUNK_PACKETS = 1 << 18

_EMPTY = np.zeros(0, dtype=np.int64)


@dataclass
class FlowTable:
    """Per-flow arrays: 5-tuples, hashes, base rates, jitter, kind, sizes, labels."""

    tuples: np.ndarray          # IPV4_TUPLE_DTYPE
    hashes: np.ndarray          # uint32 Toeplitz hashes
    rate_pps: np.ndarray        # float64 base rate
    jitter: np.ndarray          # float64
    constant: np.ndarray        # bool: evenly spaced arrivals
    packet_bytes: np.ndarray    # uint16
    group: np.ndarray           # int32: index of the [[flows]] group
    labels: list[str]           # per group
    peak_pps: np.ndarray | None = None   # float64 busiest 10 ms of each flow (traces)

    def __len__(self) -> int:
        return len(self.hashes)


def make_flows(scenario: Scenario, rng: np.random.Generator) -> FlowTable:
    """Expand the scenario's flow groups into per-flow arrays with random 5-tuples."""
    n = sum(g.count for g in scenario.flows)
    tuples = np.zeros(n, dtype=IPV4_TUPLE_DTYPE)
    # 10.0.0.0/8 clients to 192.168.0.0/16 servers, random ephemeral ports, TCP
    tuples["src_ip"] = (10 << 24) | rng.integers(1, 1 << 24, n)
    tuples["dst_ip"] = (192 << 24) | (168 << 16) | rng.integers(1, 1 << 16, n)
    tuples["src_port"] = rng.integers(1024, 65536, n)
    tuples["dst_port"] = rng.choice(np.array([80, 443, 53, 8080, 5201]), n)
    tuples["proto"] = 6
    rate = np.empty(n)
    jitter = np.empty(n)
    constant = np.empty(n, dtype=bool)
    size = np.empty(n, dtype=np.uint16)
    group = np.empty(n, dtype=np.int32)
    i = 0
    for gi, g in enumerate(scenario.flows):
        s = slice(i, i + g.count)
        if isinstance(g.rate_pps, tuple):
            rate[s] = rng.uniform(g.rate_pps[0], g.rate_pps[1], g.count)
        else:
            rate[s] = g.rate_pps
        jitter[s] = g.jitter
        constant[s] = g.arrivals == "constant"
        size[s] = g.packet_bytes
        group[s] = gi
        i += g.count
    labels = [g.name or f"flows[{gi}]" for gi, g in enumerate(scenario.flows)]
    return FlowTable(tuples, rss_hash_batch(tuples), rate, jitter, constant, size, group,
                     labels)


@dataclass
class Chunk:
    """One chunk of arrivals: times (int64 ns, sorted), flow ids (int32)."""

    times: np.ndarray
    flows: np.ndarray
    end_ns: int                  # the chunk covers [previous end_ns, end_ns)


class Traffic:
    """Generate the arrivals of ``flows`` over ``[0, duration_ns)`` in sorted chunks.

    Parameters
    ----------
    flows : FlowTable
    duration_ns, jitter_period_ns : int
    rng : numpy.random.Generator
        Draws every arrival; the sequence of chunks is a pure function of it.
    """

    def __init__(self, flows: FlowTable, duration_ns: int, jitter_period_ns: int,
                 rng: np.random.Generator) -> None:
        self.flows = flows
        self.duration_ns = int(duration_ns)
        self.jitter_period_ns = int(jitter_period_ns)
        self.rng = rng
        total = float(flows.rate_pps.sum() * (1 + flows.jitter.max(initial=0)))
        # chunk length: about CHUNK_PACKETS arrivals, at least 1 us
        self.chunk_ns = max(1000, int(CHUNK_PACKETS / max(total, 1e-9) * 1e9))
        self.flow_bits = max(1, int(len(flows) - 1).bit_length())
        if self.flow_bits > 30:
            raise ValueError(f"flows must number at most 2**30, got {len(flows)}")
        # packed sort keys (offset << flow_bits | flow) must fit in 63 bits
        self.chunk_ns = min(self.chunk_ns, 1 << (62 - self.flow_bits))
        self.expected_packets = float(flows.rate_pps.sum()) * self.duration_ns / 1e9

    def chunks(self) -> Iterator[Chunk]:
        """Yield the chunks in time order."""
        f = self.flows
        rng = self.rng
        rate = f.rate_pps.copy()
        jit = f.jitter > 0
        const_idx = np.flatnonzero(f.constant)
        pois_idx = np.flatnonzero(~f.constant)
        self._pois_ids = pois_idx.astype(np.int64)
        self._u = np.empty(0)
        # constant-rate flows: next arrival (float ns), random phase in one period
        next_c = rng.random(len(const_idx)) * 1e9 / f.rate_pps[const_idx]
        t = 0
        next_jit = 0
        while t < self.duration_ns:
            end = min(t + self.chunk_ns, self.duration_ns)
            parts_t: list[np.ndarray] = []
            parts_f: list[np.ndarray] = []
            a = t
            while a < end:
                if a >= next_jit:
                    if jit.any():
                        j = f.jitter[jit]
                        rate[jit] = f.rate_pps[jit] * (1 + rng.uniform(-j, j))
                    next_jit += self.jitter_period_ns
                b = min(end, next_jit)
                tt, ff = self._interval(a, b, rate, pois_idx, const_idx, next_c)
                parts_t.append(tt)
                parts_f.append(ff)
                a = b
            times = np.concatenate(parts_t) if len(parts_t) > 1 else parts_t[0]
            flows = np.concatenate(parts_f) if len(parts_f) > 1 else parts_f[0]
            yield Chunk(times, flows, end)
            t = end

    def _interval(self, a: int, b: int, rate: np.ndarray, pois_idx: np.ndarray,
                  const_idx: np.ndarray, next_c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rng = self.rng
        span = b - a
        counts = rng.poisson(rate[pois_idx] * (span / 1e9))
        # the uniform draws go into a buffer kept across intervals (the same
        # values as rng.random(m): fresh memory each time cost page faults);
        # sort_arrivals is done with them when it returns
        m = int(counts.sum())
        if len(self._u) < m:
            self._u = np.empty(max(m, 2 * len(self._u)))
        u = self._u[:m]
        rng.random(out=u)
        if len(const_idx):
            period = 1e9 / rate[const_idx]
            k = np.maximum(0, np.ceil((b - next_c) / period)).astype(np.int64)
            base = np.repeat(next_c - a, k)
            step = np.repeat(period, k)
            starts = np.repeat(np.cumsum(k) - k, k)
            kk = np.arange(int(k.sum())) - starts
            coff = np.clip(np.floor(base + kk * step).astype(np.int64), 0, span - 1)
            cfid = np.repeat(const_idx.astype(np.int64), k)
            next_c += k * period
        else:
            coff = cfid = _EMPTY
        # offsets floor(u * span) packed with the flow as (offset << flow_bits | flow)
        # and radix sorted in the compiled core: ties in time go to the lower flow id
        return sort_arrivals(u, counts, self._pois_ids, coff, cfid, span, a, self.flow_bits)
