"""Run several policies on identical arrivals and collect their metrics."""

from __future__ import annotations

import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from paraflowo._checks import require_int
from paraflowo._core.breakup import Breakup
from paraflowo._core.detectors import CountMinDetector, ThresholdDetector
from paraflowo._core.psn import PSNAllocator
from paraflowo._core.scheduler import FlowletScheduler
from paraflowo._core.sim import SimCore
from paraflowo.hashing import IndirectionTable
from paraflowo.metadata import META_SIZE
from paraflowo.reorder import ReorderQueues
from paraflowo.sim.metrics import policy_metrics
from paraflowo.sim.scenario import Scenario
from paraflowo.sim.traffic import Chunk, FlowTable, Traffic, make_flows

__all__ = ["POLICY_NAMES", "SimulationResult", "simulate", "PolicyUnavailable"]

#: Policies the simulator knows, in the order they are reported.
POLICY_NAMES = ("rss", "paraflowo", "spray", "rsspp")


class PolicyUnavailable(ValueError):
    """A known policy that this build cannot run."""


@dataclass
class SimulationResult:
    """What :func:`simulate` returns: the scenario, metrics per policy, timing."""

    scenario: dict
    policies: dict[str, dict]
    timing: dict[str, dict] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def to_dict(self, timing: bool = True) -> dict:
        """The JSON shape: ``{"scenario", "policies", "timing", "notes"}``.

        ``timing`` (wall-clock seconds, and per policy the CPU seconds of its
        event loop and the simulation rate, packets per CPU second) is the
        only part that differs between two runs of the same seed; pass
        ``timing=False`` to leave it out.
        """
        out = {"scenario": self.scenario, "policies": self.policies, "notes": self.notes}
        if timing:
            out["timing"] = self.timing
        return out

    def to_json(self, timing: bool = True) -> str:
        return json.dumps(self.to_dict(timing), indent=1, sort_keys=False)

    def table(self) -> str:
        """A readable table: one row per policy."""
        sc = self.scenario
        cores = sc["cores"]
        lines = [
            f"scenario {sc['name']}: {cores['count']} cores "
            f"({'/'.join(f'{m:g}' for m in cores['service_mpps'])} Mpps, "
            f"{cores['service']}), {sc['duration_s']:g} s, {sc['n_flows']} flows, "
            f"{sc['packets']:,} packets",
            f"{'policy':<10} {'core utilization %':<{6 * min(cores['count'], 8) + 1}} "
            f"{'max%':>5} {'alerts':>9} {'drops':>9} {'p50 us':>8} {'p99 us':>8} "
            f"{'p99.9 us':>9} {'out-of-order':>12} {'Mpps':>6}",
        ]
        n_bins = None
        for name, m in self.policies.items():
            util = m["core_utilization"]
            shown = " ".join(f"{100 * u:5.1f}" for u in util[:8]) + (" ..." if len(util) > 8
                                                                    else "")
            n_bins = len(m["utilization_bins"])
            lat = m["latency_ns"]
            mpps = self.timing.get(name, {}).get("mpps", float("nan"))
            lines.append(
                f"{name:<10} {shown:<{6 * min(len(util), 8) + 1}} {100 * max(util):5.1f} "
                f"{m['alert_bins']:>4}/{n_bins:<4} {m['drops']:>9,} {lat['p50'] / 1e3:8.2f} "
                f"{lat['p99'] / 1e3:8.2f} {lat['p999'] / 1e3:9.2f} {m['out_of_order']:>12,} "
                f"{mpps:6.1f}")
        for name, m in self.policies.items():
            extra = m.get("paraflowo") or m.get("rsspp")
            if extra:
                lines.append(f"{name}: " + ", ".join(f"{k} {v}" for k, v in extra.items()
                                                     if not isinstance(v, (list, dict))))
        lines.append(f"alerts: time bins in which a core exceeded "
                     f"{100 * sc['alert_threshold']:g} % busy; Mpps: simulated packets per "
                     f"CPU second of the policy's event loop; wall clock "
                     f"{self.timing.get('wall_s', 0):.1f} s on {self.timing.get('workers', 1)} "
                     f"thread(s)")
        lines.extend(f"note: {n}" for n in self.notes)
        return "\n".join(lines)


def _engine(name: str, scenario: Scenario, flows: FlowTable, reta: IndirectionTable,
            n_bins: int, bin_ns: int):
    cores = scenario.cores
    mean = np.array([1e3 / m for m in cores.service_mpps])      # ns per packet
    svc = np.maximum(1, np.rint(mean)).astype(np.int64)
    return SimCore(name, svc, cores.rx_queue, flows.hashes, n_bins, bin_ns, reta,
                   exponential=cores.service == "exponential", service_mean=mean,
                   period_ns=max(1, int(round(scenario.rsspp_period_s * 1e9))),
                   paraflowo=_paraflowo_components(scenario, flows, reta)
                   if name == "paraflowo" else None)


def _paraflowo_components(scenario: Scenario, flows: FlowTable,
                          reta: IndirectionTable) -> dict:
    """The library's own ingress and egress components, configured from [paraflowo]."""
    cfg = scenario.paraflowo
    n_cores = scenario.cores.count
    window_ns = max(1, int(round(cfg["detector_window_s"] * 1e9)))
    threshold = max(1, int(round(cfg["threshold_pps"] * cfg["detector_window_s"])))
    if cfg["detector"] == "countmin":
        det = CountMinDetector(cfg["cm_width"], cfg["cm_depth"], threshold, window_ns,
                               cfg["conservative"], scenario.seed,
                               row_hashes=cfg["cm_row_hashes"])
    else:
        det = ThresholdDetector(cfg["capacity"], threshold, window_ns)
    idle_ns = max(1, int(round(cfg["idle_ms"] * 1e6)))
    alloc = PSNAllocator(cfg["n_queues"], cfg["psn_bits"], idle_ns)
    us = lambda k: int(round(cfg[k] * 1e3))                      # noqa: E731
    sched = FlowletScheduler(n_cores, cfg["n_para"] or n_cores, cfg["alpha"], reta,
                             cfg["smoothing"], us("t_switch_min_us"), us("t_switch_max_us"),
                             us("t_switch_init_us"))
    timeout = us("timeout_us") or None
    rq = ReorderQueues(cfg["n_queues"], cfg["window"], timeout, cfg["psn_bits"])
    brk = Breakup(det, alloc, sched, cfg["table_size"])
    key = (flows.hashes.astype(np.uint64) << np.uint64(32)) | np.arange(
        len(flows), dtype=np.uint64)
    return {"breakup": brk, "reorder": rq,
            "flow_key": key, "flow_len": flows.packet_bytes,
            "notify_drops": cfg["notify_drops"]}


def _paraflowo_metrics(eng: SimCore, flows: FlowTable) -> dict:
    st = eng.paraflowo_stats()
    r = st["reorder"]
    first, detect = st["flow_first_ns"], st["flow_detect_ns"]
    groups = {}
    for gi, label in enumerate(flows.labels):
        idx = np.flatnonzero(flows.group == gi)
        hit = idx[detect[idx] >= 0]
        groups[label] = {"flows": int(len(idx)), "detected": int(len(hit)),
                         "time_to_detect_ns": [int(detect[i] - first[i]) for i in hit[:32]]}
    return {
        "timeouts": int(r.timeouts),
        "late": int(r.late),
        "skipped_psns": int(r.skipped),
        "tombstones": int(r.dropped),
        "peak_held": int(st["peak_held"]),
        "peak_bytes_metadata": int(st["peak_held"]) * META_SIZE,
        "peak_bytes_full": int(st["peak_bytes_full"]),
        "packet_store_peak_slots": int(st["store_peak_used"]),
        "para_packets": int(st["para_packets"]),
        "para_flows": int(st["para_flows"]),
        "fallbacks": int(st["fallbacks"]),
        "flowlet_switches": int(st["switches"]),
        "first_flowlet_holds": int(st["holds"]),
        "forwarded_late": int(st["forwarded_late"]),
        "released_at_end": int(st["flushed_at_end"]),
        "store_bypass_errors": int(st["fast_unreleased"]),
        "detection": groups,
    }


def paraflowo_available() -> str | None:
    """None when the paraflowo policy can run, else why not (always None here)."""
    return None


def _timed_run(eng: SimCore, times: np.ndarray, flows: np.ndarray, expd) -> float:
    t0 = time.thread_time()
    eng.run(times, flows, expd)
    return time.thread_time() - t0


def _check_simulate_args(scenario, policies, trace, progress, workers) -> None:
    """The argument kinds of :func:`simulate` (the house messages of ``_checks``)."""
    from paraflowo.sim.pcap import Trace
    if not isinstance(scenario, Scenario):
        raise TypeError(f"scenario must be a Scenario, got {type(scenario).__name__}")
    if trace is not None and not isinstance(trace, Trace):
        raise TypeError(f"trace must be a paraflowo.sim.pcap.Trace or None, got {trace!r}")
    if isinstance(policies, (str, bytes)) or not hasattr(policies, "__iter__"):
        raise TypeError(f"policies must be a sequence of policy names, got {policies!r}")
    if progress is not None and not callable(progress):
        raise TypeError(f"progress must be callable or None, got {progress!r}")
    if workers is not None:
        require_int("workers", workers, 1, 1 << 16)


def simulate(scenario: Scenario, policies: Sequence[str] = POLICY_NAMES, *,
             trace=None, progress: Callable[[int, int], None] | None = None,
             workers: int | None = None) -> SimulationResult:
    """Run ``policies`` on the scenario's traffic (the same arrivals for each).

    Parameters
    ----------
    scenario : Scenario
        Cores, flows, duration, seed (see :func:`load_scenario`).
    policies : sequence of str
        Any of ``"rss"``, ``"paraflowo"``, ``"spray"``, ``"rsspp"``.
    trace : paraflowo.sim.pcap.Trace, optional
        Arrivals and 5-tuples read from a capture; replaces the scenario's flows.
    progress : callable, optional
        Called as ``progress(done_ns, total_ns)`` after each chunk.
    workers : int, optional
        Threads running the policies side by side (their event loops release
        the GIL); default: one per policy, at most the number of CPUs.  The
        results do not depend on it.

    Returns
    -------
    SimulationResult

    Raises
    ------
    TypeError
        ``scenario`` not a :class:`Scenario`, ``trace`` not a ``Trace``,
        ``policies`` a single string,
        ``progress`` not callable, ``workers`` not an integer.
    ValueError
        An unknown or unavailable policy, an empty policy list, or
        ``workers`` outside ``[1, 2**16]``.

    Examples
    --------
    >>> from paraflowo.sim import load_scenario, simulate
    >>> s = load_scenario("paper-fig7").with_duration(0.2)
    >>> r = simulate(s, ["rss", "spray"])
    >>> r.policies["rss"]["drops"], r.policies["spray"]["out_of_order"] > 0
    (0, True)
    """
    _check_simulate_args(scenario, policies, trace, progress, workers)
    policies = list(policies)
    if not policies:
        raise ValueError("policies must name at least one policy, got none")
    for p in policies:
        if p not in POLICY_NAMES:
            raise ValueError(f"unknown policy {p!r} (known: {', '.join(POLICY_NAMES)})")
    if len(set(policies)) != len(policies):
        raise ValueError(f"policies must not repeat, got {','.join(policies)}")
    if "paraflowo" in policies:
        why = paraflowo_available()
        if why:
            raise PolicyUnavailable(why)
    seeds = np.random.SeedSequence(scenario.seed).spawn(3)
    rng_flows, rng_traffic, rng_service = (np.random.default_rng(s) for s in seeds)
    notes: list[str] = []
    if trace is None:
        flows = make_flows(scenario, rng_flows)
        duration_ns = int(round(scenario.duration_s * 1e9))
        source = Traffic(flows, duration_ns, int(round(scenario.jitter_period_s * 1e9)),
                         rng_traffic)
        chunks = iter(source.chunks())
    else:
        flows = trace.flow_table()
        duration_ns = trace.duration_ns
        if scenario.duration_s * 1e9 < duration_ns:
            duration_ns = int(round(scenario.duration_s * 1e9))
        chunks = iter(trace.chunks(duration_ns))
        notes.extend(trace.notes)
    bin_ns = max(1, int(round(scenario.bin_s * 1e9)))
    n_bins = max(1, -(-duration_ns // bin_ns))
    reta = IndirectionTable(scenario.cores.count, scenario.cores.reta_size)
    engines = {p: _engine(p, scenario, flows, reta, n_bins, bin_ns) for p in policies}
    seconds = {p: 0.0 for p in policies}
    exponential = scenario.cores.service == "exponential"
    if workers is None:
        workers = min(len(engines), os.cpu_count() or 1)
    workers = max(1, min(int(workers), len(engines)))
    pool = ThreadPoolExecutor(workers) if workers > 1 else None
    total = 0
    gen = {"s": 0.0}
    wall0 = time.perf_counter()

    def produce():
        # the next chunk and its service draws; runs one chunk ahead of the
        # policies, in its own thread (numpy releases the GIL while it fills
        # and sorts), consuming the random streams in the same order as ever
        t0 = time.perf_counter()
        chunk = next(chunks, None)
        expd = None
        if chunk is not None and exponential:
            expd = rng_service.standard_exponential(len(chunk.times))
        gen["s"] += time.perf_counter() - t0
        return chunk, expd

    feeder = ThreadPoolExecutor(1)
    try:
        nxt = feeder.submit(produce)
        while True:
            chunk, expd = nxt.result()
            if chunk is None:
                break
            nxt = feeder.submit(produce)
            total += len(chunk.times)
            # each policy's loop runs without the GIL: with workers > 1 they run
            # side by side, on the same (read-only) chunk
            if pool is None:
                for p, eng in engines.items():
                    seconds[p] += _timed_run(eng, chunk.times, chunk.flows, expd)
            else:
                futs = {p: pool.submit(_timed_run, eng, chunk.times, chunk.flows, expd)
                        for p, eng in engines.items()}
                for p, f in futs.items():
                    seconds[p] += f.result()
            if progress is not None:
                progress(min(chunk.end_ns, duration_ns), duration_ns)
    finally:
        feeder.shutdown(cancel_futures=True)
        if pool is not None:
            pool.shutdown()
    out = {}
    timing: dict = {"wall_s": 0.0, "generate_s": round(gen["s"], 4), "workers": workers}
    for p, eng in engines.items():
        t0 = time.thread_time()
        eng.flush()
        seconds[p] += time.thread_time() - t0
        m = policy_metrics(eng.stats(), duration_ns, bin_ns, scenario.alert_threshold)
        if p == "rsspp":
            st = eng.stats()
            m["rsspp"] = {"rebalances": st["rebalances"], "migrations": st["migrations"]}
        if p == "paraflowo":
            m["paraflowo"] = _paraflowo_metrics(eng, flows)
        out[p] = m
        timing[p] = {"cpu_s": round(seconds[p], 4),
                     "mpps": round(total / seconds[p] / 1e6, 2) if seconds[p] > 0 else 0.0}
    timing["wall_s"] = round(time.perf_counter() - wall0, 4)
    sc = scenario.to_dict()
    sc.update(duration_s=duration_ns / 1e9, n_flows=len(flows), packets=total,
              source="pcap" if trace is not None else "synthetic",
              flow_rss_hash=[f"0x{int(h):08x}" for h in flows.hashes[:8]])
    labels = {}
    for gi, label in enumerate(flows.labels):
        idx = np.flatnonzero(flows.group == gi)
        if len(idx):
            labels[label] = {"flows": int(len(idx)),
                             "core_rss": sorted({int(reta.queue(int(flows.hashes[i])))
                                                 for i in idx[:16]})}
    sc["groups"] = labels
    return SimulationResult(sc, out, timing, notes)
