"""Run several policies on identical arrivals and collect their metrics."""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from paraflowo._checks import require_int
from paraflowo._core.breakup import Breakup
from paraflowo._core.detectors import CountMinDetector, ThresholdDetector
from paraflowo._core.psn import PSNAllocator
from paraflowo._core.scheduler import FlowletScheduler
from paraflowo._core.sim import SimCore
from paraflowo.errors import MissingDependency
from paraflowo.hashing import IndirectionTable, rss_hash_batch, rss_input, toeplitz
from paraflowo.metadata import META_SIZE
from paraflowo.reorder import ReorderQueues
from paraflowo.sim.metrics import FLOW_COLUMNS, flow_metrics, policy_metrics
from paraflowo.sim.provenance import provenance as _provenance
from paraflowo.sim.scenario import Scenario
from paraflowo.sim.timeout import (GAIN, SLICE, AdaptiveTimeout, derived_idle_ns,
                                   derived_window, longest_wait_ns)
from paraflowo.sim.traffic import Chunk, FlowTable, Traffic, make_flows

__all__ = ["POLICY_NAMES", "SimulationResult", "simulate", "PolicyUnavailable",
           "RECORD_METRICS"]

#: Policies the simulator knows, in the order they are reported.
POLICY_NAMES = ("rss", "paraflowo", "spray", "rsspp")


#: Metric columns of :meth:`SimulationResult.to_records` (and of sweep tables), in
#: order: the JSON names, ``core_utilization`` flattened as ``util_max`` /
#: ``util_min`` / ``util_spread`` and ``latency_ns`` as ``latency_ns_p50``...
RECORD_METRICS = ("util_max", "util_min", "util_spread", "packets", "completed", "released",
                  "drops", "alert_bins", "latency_ns_p50", "latency_ns_p99",
                  "latency_ns_p999", "out_of_order", "flows_out_of_order", "reordered_ratio",
                  "reorder_extent_max", "reorder_extent_mean", "n3_reordered",
                  "extent_capped")


def _pandas(what: str):
    try:
        import pandas
    except ImportError:
        raise MissingDependency(what, "pandas", "sweep") from None
    return pandas


class PolicyUnavailable(ValueError):
    """A known policy that this build cannot run."""


@dataclass
class SimulationResult:
    """What :func:`simulate` returns: the scenario, metrics per policy, timing."""

    scenario: dict
    policies: dict[str, dict]
    timing: dict[str, dict] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    provenance: dict = field(default_factory=dict)
    #: per policy, the per-flow table (:data:`paraflowo.sim.metrics.FLOW_COLUMNS`)
    flows: dict[str, dict[str, list]] = field(default_factory=dict, repr=False)

    def to_dict(self, timing: bool = True) -> dict:
        """The JSON shape: ``{"scenario", "policies", "notes", "provenance", "timing"}``.

        ``timing`` (wall-clock seconds, the CPU seconds spent generating the
        arrivals, and per policy the CPU seconds of its event loop and the
        simulation rate, packets per CPU second) is the
        only part that differs between two runs of the same seed and command
        line; pass ``timing=False`` to leave it out.  ``provenance`` (see
        :func:`paraflowo.sim.provenance.provenance`) says what produced it.
        """
        out = {"scenario": self.scenario, "policies": self.policies, "notes": self.notes,
               "provenance": self.provenance}
        if timing:
            out["timing"] = self.timing
        return out

    def to_records(self) -> list[dict]:
        """One tidy row per policy: ``scenario``, ``policy``, ``seed``, then
        :data:`RECORD_METRICS` (plain Python ints and floats).

        Examples
        --------
        >>> from paraflowo.sim import load_scenario, simulate
        >>> r = simulate(load_scenario("paper-fig7").with_duration(0.05), ["rss", "spray"])
        >>> [(row["policy"], row["drops"]) for row in r.to_records()]
        [('rss', 0), ('spray', 0)]
        """
        rows = []
        for name, m in self.policies.items():
            util = m["core_utilization"]
            row = {"scenario": self.scenario["name"], "policy": name,
                   "seed": int(self.scenario["seed"]),
                   "util_max": max(util), "util_min": min(util),
                   "util_spread": round(max(util) - min(util), 6)}
            for k in RECORD_METRICS[3:]:
                if k.startswith("latency_ns_"):
                    row[k] = m["latency_ns"][k[len("latency_ns_"):]]
                else:
                    row[k] = m[k]
            rows.append(row)
        return rows

    def to_frame(self):
        """:meth:`to_records` as a pandas DataFrame (needs the ``sweep`` extra)."""
        pd = _pandas("SimulationResult.to_frame")
        return pd.DataFrame.from_records(self.to_records())

    def flow_records(self) -> list[dict]:
        """The per-flow table, FlowMonitor-style: one row per (policy, flow)
        with ``policy`` then :data:`paraflowo.sim.metrics.FLOW_COLUMNS`."""
        rows = []
        for name, cols in self.flows.items():
            for i in range(len(cols["flow"])):
                rows.append({"policy": name, **{c: cols[c][i] for c in FLOW_COLUMNS}})
        return rows

    def flow_frame(self):
        """:meth:`flow_records` as a pandas DataFrame (needs the ``sweep`` extra)."""
        pd = _pandas("SimulationResult.flow_frame")
        return pd.DataFrame.from_records(self.flow_records(),
                                         columns=("policy",) + FLOW_COLUMNS)

    def to_json(self, timing: bool = True) -> str:
        return json.dumps(self.to_dict(timing), indent=1, sort_keys=False)

    def table(self) -> str:
        """A readable table: one row per policy, a legend, the ParaFlowO counters, the notes.

        ``delivered Mpps`` is network throughput (packets that left egress per
        simulated second, against the ``offered`` load of the arrivals);
        ``sim Mpps`` is the simulator's own speed (simulated packets per CPU
        second of the policy's event loop), not a property of the network.
        """
        sc = self.scenario
        cores = sc["cores"]
        dur = sc["duration_s"]
        offered = sc["packets"] / dur / 1e6 if dur > 0 else 0.0
        width = 6 * min(cores["count"], 8) + 1
        lines = [
            f"scenario {sc['name']}: {cores['count']} cores "
            f"({'/'.join(f'{m:g}' for m in cores['service_mpps'])} Mpps each, "
            f"{cores['service']}), {dur:g} s, {sc['n_flows']} flows, "
            f"{sc['packets']:,} packets: offered load {offered:.4g} Mpps",
            f"{'policy':<10} {'core utilization %':<{width}} "
            f"{'max%':>5} {'alerts':>9} {'drops':>9} {'p50 us':>8} {'p99 us':>8} "
            f"{'p99.9 us':>9} {'out-of-order':>12} {'delivered Mpps':>14} {'sim Mpps':>8}",
        ]
        n_bins = None
        for name, m in self.policies.items():
            util = m["core_utilization"]
            shown = " ".join(f"{100 * u:5.1f}" for u in util[:8]) + (" ..." if len(util) > 8
                                                                    else "")
            n_bins = len(m["utilization_bins"])
            lat = m["latency_ns"]
            mpps = self.timing.get(name, {}).get("mpps", float("nan"))
            delivered = m.get("delivered_mpps", float("nan"))
            lines.append(
                f"{name:<10} {shown:<{width}} {100 * max(util):5.1f} "
                f"{m['alert_bins']:>4}/{n_bins:<4} {m['drops']:>9,} {lat['p50'] / 1e3:8.2f} "
                f"{lat['p99'] / 1e3:8.2f} {lat['p999'] / 1e3:9.2f} {m['out_of_order']:>12,} "
                f"{delivered:14.4g} {mpps:8.1f}")
        lines.append(
            f"legend: core utilization = busy share of each core; alerts = time bins in which "
            f"a core exceeded {100 * sc['alert_threshold']:g} % busy / all bins; out-of-order "
            f"= packets leaving after a later packet of their flow; delivered Mpps = packets "
            f"out of egress per simulated second; sim Mpps = the simulator's speed (simulated "
            f"packets per CPU second), not network throughput; wall clock "
            f"{self.timing.get('wall_s', 0):.1f} s on {self.timing.get('workers', 1)} "
            f"thread(s)")
        for name, m in self.policies.items():
            if m.get("paraflowo"):
                lines.extend(_paraflowo_lines(name, m["paraflowo"]))
            if m.get("rsspp"):
                r = m["rsspp"]
                lines.append(f"{name}: {r['rebalances']:,} rebalances moved "
                             f"{r['migrations']:,} indirection-table entries")
        lines.extend(f"note: {n}" for n in self.notes)
        return "\n".join(lines)


def _paraflowo_lines(name: str, p: dict) -> list[str]:
    """The ParaFlowO counters in words, and their one-line legend."""
    t = p.get("timeout", {})
    if t.get("mode") == "auto":
        tmo = (f"timeout derived from core delays: {t['final_us']:,.0f} us at the end "
               f"({t['min_us']:,.0f} to {t['max_us']:,.0f})")
    else:
        tmo = (f"timeout {t['final_us']:g} us (fixed)" if t.get("final_us")
               else "no timeout")
    n = p.get("flows_split", p["para_flows"])
    again = p["para_flows"] - n
    return [
        f"{name}: {n:,} flow{'s'[:n != 1]} split "
        f"({p['para_packets']:,} packets, "
        + (f"split again {again:,} time{'s'[:again != 1]} after idling, " if again > 0 else "")
        + f"{p['flowlet_switches']:,} flowlet switches); reorder: peak {p['peak_held']:,} "
        f"held, {p['timeouts']:,} timeouts, {p['forwarded_late']:,} forwarded late, "
        f"{p['tombstones']:,} drop tombstones; {tmo}",
        f"  ({name} counters: flows split = flows the detector marked as elephants, spread "
        f"over cores in flowlets (split again: a split flow idle for [paraflowo] idle_ms "
        f"returned to its RSS core, then was marked again); timeouts = times a reorder queue stopped waiting for a "
        f"missing packet; forwarded late = packets that came after that; drop tombstones = "
        f"RX-queue drops skipped at once; peak held = most packets waiting for reorder)",
    ]


def _hints(policies: dict, flows: FlowTable, scenario: Scenario) -> list[str]:
    """One line per thing a user should change: the knob to turn, by its name."""
    out = []
    p = policies.get("paraflowo")
    if p is None:
        return out
    x = p["paraflowo"]
    cfg = scenario.paraflowo
    if x["para_flows"] == 0:
        top = float(flows.rate_pps.max(initial=0.0))
        out.append(f"paraflowo never split a flow: the largest flow ({top:,.0f} pps) stays "
                   f"below the detector's threshold_pps ({cfg['threshold_pps']:,.0f}); lower "
                   f"[paraflowo] threshold_pps to split it")
    if x["forwarded_late"] > 0 and x["timeouts"] == 0:
        out.append(f"paraflowo: {x['forwarded_late']:,} packets came after the reorder window "
                   f"had slid past them (window = {x['window']:,}); raise [paraflowo] window "
                   f"(a power of two, at most 2**(psn_bits - 1))")
    if x["timeouts"] > 0:
        if cfg["timeout_us"] is None:
            out.append(f"paraflowo: {x['timeouts']:,} reorder timeouts fired with the derived "
                       f"timeout; set [paraflowo] timeout_us above the cores' worst delay "
                       f"(the timeout ended at {x['timeout']['final_us']:,.0f} us)")
        else:
            out.append(f"paraflowo: {x['timeouts']:,} reorder timeouts fired "
                       f"(timeout_us = {cfg['timeout_us']:g}); raise [paraflowo] timeout_us, "
                       f"or leave it out to derive it from the measured core delays")
    return out


def _engine(name: str, scenario: Scenario, flows: FlowTable, reta: IndirectionTable,
            n_bins: int, bin_ns: int) -> SimCore:
    """The policy's SimCore (a derived reorder timeout stays at its cap: no updates)."""
    return _build(name, scenario, flows, reta, n_bins, bin_ns)[0]


def _build(name: str, scenario: Scenario, flows: FlowTable, reta: IndirectionTable,
           n_bins: int, bin_ns: int):
    """The policy's SimCore, and its AdaptiveTimeout (ParaFlowO without timeout_us)."""
    cores = scenario.cores
    mean = np.array([1e3 / m for m in cores.service_mpps])      # ns per packet
    svc = np.maximum(1, np.rint(mean)).astype(np.int64)
    para = auto = None
    if name == "paraflowo":
        para, auto = _paraflowo_components(scenario, flows, reta, mean)
    eng = SimCore(name, svc, cores.rx_queue, flows.hashes, n_bins, bin_ns, reta,
                  exponential=cores.service == "exponential", service_mean=mean,
                  period_ns=max(1, int(round(scenario.rsspp_period_s * 1e9))),
                  target_load=scenario.rsspp_target_load,
                  imbalance=scenario.rsspp_imbalance,
                  paraflowo=para)
    return eng, auto, para


def _paraflowo_components(scenario: Scenario, flows: FlowTable,
                          reta: IndirectionTable, service_ns) -> tuple[dict, AdaptiveTimeout | None]:
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
    exponential = scenario.cores.service == "exponential"
    longest_ns = longest_wait_ns(service_ns, scenario.cores.rx_queue, exponential)
    idle_ns = (derived_idle_ns(longest_ns) if cfg["idle_ms"] is None
               else max(1, int(round(cfg["idle_ms"] * 1e6))))
    alloc = PSNAllocator(cfg["n_queues"], cfg["psn_bits"], idle_ns)
    us = lambda k: int(round(cfg[k] * 1e3))                      # noqa: E731
    sched = FlowletScheduler(n_cores, cfg["n_para"] or n_cores, cfg["alpha"], reta,
                             cfg["smoothing"], us("t_switch_min_us"), us("t_switch_max_us"),
                             us("t_switch_init_us"))
    auto = None
    window = cfg["window"]
    if window is None:
        peak = float((flows.rate_pps * (1 + flows.jitter) if flows.peak_pps is None
                      else flows.peak_pps).max(initial=0.0))
        window = derived_window(peak, longest_ns, cfg["psn_bits"], cfg["n_queues"])
    if cfg["timeout_us"] is None:
        rq = ReorderQueues(cfg["n_queues"], window, None, cfg["psn_bits"])
        auto = AdaptiveTimeout(sched, rq, list(service_ns), scenario.cores.rx_queue,
                               exponential)
    else:
        rq = ReorderQueues(cfg["n_queues"], window, us("timeout_us") or None,
                           cfg["psn_bits"])
    brk = Breakup(det, alloc, sched, cfg["table_size"])
    key = (flows.hashes.astype(np.uint64) << np.uint64(32)) | np.arange(
        len(flows), dtype=np.uint64)
    return {"breakup": brk, "reorder": rq,
            "flow_key": key, "flow_len": flows.packet_bytes,
            "notify_drops": cfg["notify_drops"], "reorder_enabled": cfg["reorder"]}, auto


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
        "flows_split": int(np.count_nonzero(detect >= 0)),
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


def _derive_in_loop(eng: SimCore, auto: AdaptiveTimeout) -> None:
    """Let the engine apply ``auto``'s formula itself, every SLICE arrivals.

    The same timeouts as calling ``auto.update()`` between runs of SLICE
    arrivals (the loop never leaves C for it); :func:`_sync_auto` copies the
    outcome back for ``auto.summary()``.
    """
    eng.derive_timeout(auto.cap_ns, auto.floor_ns, GAIN, SLICE)


def _sync_auto(eng: SimCore, auto: AdaptiveTimeout) -> None:
    auto.value_ns, auto.low_ns, auto.high_ns, auto.changes = eng.derived_timeout()


#: Chunks the generator may run ahead of the slowest policy (memory: ~3 MB each).
LEAD = 4


def _run_policies(engines: dict, produce: Callable, workers: int, seconds: dict,
                  done: Callable[[int], None] | None) -> int:
    """Feed every chunk of ``produce()`` to every engine; return the arrivals fed.

    Each policy runs its chunks in order in its own thread, at most
    ``workers`` of them at a time (a semaphore; their loops release the GIL),
    with no barrier between chunks: a fast policy runs ahead of a slow one by
    up to :data:`LEAD` chunks, so the cores stay busy when the policies'
    speeds differ.  The calling thread generates the chunks meanwhile.  Every
    engine sees the same chunks in the same order whatever the interleaving,
    so the results do not depend on ``workers``.  ``done(end_ns)`` is called
    (from the calling thread) as each chunk is finished by every policy.
    """
    names = list(engines)
    cond = threading.Condition()
    gate = threading.Semaphore(workers)
    buf: dict[int, tuple] = {}          # chunk index -> (chunk, expd)
    state = {"produced": 0, "eof": False, "error": None}
    finished = [0] * len(names)         # per policy: chunks done

    def policy(i: int, name: str) -> None:
        eng = engines[name]
        k = 0
        try:
            while True:
                with cond:
                    while (k >= state["produced"] and not state["eof"]
                           and state["error"] is None):
                        cond.wait()
                    if state["error"] is not None or k >= state["produced"]:
                        return
                    chunk, expd = buf[k][0], buf[k][1]
                with gate:
                    dt = _timed_run(eng, chunk.times, chunk.flows, expd)
                with cond:
                    seconds[name] += dt
                    finished[i] = k + 1
                    cond.notify_all()
                k += 1
        except BaseException as e:      # handed to the calling thread
            with cond:
                state["error"] = e
                cond.notify_all()

    threads = [threading.Thread(target=policy, args=(i, n), daemon=True,
                                name=f"paraflowo-sim-{n}") for i, n in enumerate(names)]
    for t in threads:
        t.start()
    total = 0
    reported = 0
    try:
        while True:
            with cond:
                while (state["error"] is None and not state["eof"]
                       and state["produced"] - min(finished) >= LEAD):
                    cond.wait()
                if state["error"] is not None or state["eof"]:
                    break
            chunk, expd = produce()
            with cond:
                if chunk is None:
                    state["eof"] = True
                else:
                    buf[state["produced"]] = (chunk, expd)
                    state["produced"] += 1
                    total += len(chunk.times)
                cond.notify_all()
            reported = _report(cond, buf, finished, reported, done)
        while True:
            with cond:
                if state["error"] is not None or min(finished) >= state["produced"]:
                    break
                cond.wait(0.05)
            reported = _report(cond, buf, finished, reported, done)
    finally:
        with cond:
            if state["error"] is None and not state["eof"]:
                state["error"] = RuntimeError("simulation interrupted")
            cond.notify_all()
        for t in threads:
            t.join()
    if state["error"] is not None:
        raise state["error"]
    _report(cond, buf, finished, reported, done)
    return total


def _report(cond, buf: dict, finished: list, reported: int, done) -> int:
    """Call ``done`` for the chunks every policy finished since ``reported``; free them."""
    with cond:
        upto = min(finished)
        ends = []
        while reported < upto:
            ends.append(buf.pop(reported)[0].end_ns)
            reported += 1
    if done is not None:
        for end in ends:
            done(end)
    return reported


def _check_simulate_args(scenario, policies, trace, progress, workers, trace_path=None,
                         command=None) -> None:
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
    if trace_path is not None:
        if not isinstance(trace_path, (str, os.PathLike)):
            raise TypeError(f"trace_path must be a str or os.PathLike, got {trace_path!r}")
        if not os.path.isfile(trace_path):     # hashed into the provenance at the end
            raise ValueError(f"trace_path must name an existing file, got {trace_path!r}")
    if command is not None and not isinstance(command, str) and (
            isinstance(command, bytes) or not hasattr(command, "__iter__")
            or not all(isinstance(a, str) for a in command)):
        raise TypeError(f"command must be a str or a sequence of str, got {command!r}")


def simulate(scenario: Scenario, policies: Sequence[str] = POLICY_NAMES, *,
             trace=None, progress: Callable[[int, int], None] | None = None,
             workers: int | None = None, trace_path=None,
             command=None) -> SimulationResult:
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
    trace_path : str or pathlib.Path, optional
        The capture ``trace`` was read from, recorded (with its SHA-256) in
        the result's provenance.
    command : str or sequence of str, optional
        The command line recorded in the provenance (default ``sys.argv``).

    Returns
    -------
    SimulationResult

    Raises
    ------
    TypeError
        ``scenario`` not a :class:`Scenario`, ``trace`` not a ``Trace``,
        ``policies`` a single string, ``progress`` not callable, ``workers``
        not an integer, ``trace_path`` not a path, ``command`` not a str or
        a sequence of str.
    ValueError
        An unknown or unavailable policy, an empty policy list, a scenario
        without ``[[flows]]`` and no ``trace``, ``workers`` outside
        ``[1, 2**16]``, or a ``trace_path`` that is not an existing file.

    Examples
    --------
    >>> from paraflowo.sim import load_scenario, simulate
    >>> s = load_scenario("paper-fig7").with_duration(0.2)
    >>> r = simulate(s, ["rss", "spray"])
    >>> r.policies["rss"]["drops"], r.policies["spray"]["out_of_order"] > 0
    (0, True)
    """
    _check_simulate_args(scenario, policies, trace, progress, workers, trace_path, command)
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
        if not scenario.flows:
            raise ValueError(f"scenario {scenario.name} has no [[flows]]: give flow groups, "
                             f"or replay a capture (trace=, the command's --pcap)")
        flows = make_flows(scenario, rng_flows)
        if scenario.cores.rss_fields == "l3":
            flows.hashes = rss_hash_batch(flows.tuples, ports=False)
        duration_ns = int(round(scenario.duration_s * 1e9))
        source = Traffic(flows, duration_ns, int(round(scenario.jitter_period_s * 1e9)),
                         rng_traffic)
        chunks = iter(source.chunks())
    else:
        flows = trace.flow_table()
        if scenario.cores.rss_fields == "l3":
            flows.hashes = np.array([toeplitz(rss_input(k[0], k[1])) for k in trace.keys],
                                    dtype=np.uint32)
        duration_ns = trace.duration_ns
        if scenario.duration_s * 1e9 < duration_ns:
            duration_ns = int(round(scenario.duration_s * 1e9))
        chunks = iter(trace.chunks(duration_ns))
        notes.extend(trace.notes)
    bin_ns = max(1, int(round(scenario.bin_s * 1e9)))
    n_bins = max(1, -(-duration_ns // bin_ns))
    reta = IndirectionTable(scenario.cores.count, scenario.cores.reta_size)
    built = {p: _build(p, scenario, flows, reta, n_bins, bin_ns) for p in policies}
    engines = {p: b[0] for p, b in built.items()}
    autos = {p: b[1] for p, b in built.items()}
    for p, auto in autos.items():
        if auto is not None:
            _derive_in_loop(engines[p], auto)
    seconds = {p: 0.0 for p in policies}
    exponential = scenario.cores.service == "exponential"
    if workers is None:
        workers = min(len(engines), os.cpu_count() or 1)
    workers = max(1, min(int(workers), len(engines)))
    gen = {"s": 0.0}
    wall0 = time.perf_counter()

    def produce():
        # the next chunk and its service draws, consuming the random streams
        # in the same order as ever; timed in CPU seconds of this thread, as
        # the policies' loops are (its wall time also counts the waits for a
        # core, three threads sharing two: paper-fig7, 1.2-1.5 s for 0.75 s)
        t0 = time.thread_time()
        chunk = next(chunks, None)
        expd = None
        if chunk is not None and exponential:
            expd = rng_service.standard_exponential(len(chunk.times))
        gen["s"] += time.thread_time() - t0
        return chunk, expd

    total = _run_policies(engines, produce, workers, seconds,
                          None if progress is None else
                          (lambda end: progress(min(end, duration_ns), duration_ns)))
    out = {}
    flow_tables: dict = {}
    timing: dict = {"wall_s": 0.0, "generate_s": round(gen["s"], 4), "workers": workers}
    for p, eng in engines.items():
        t0 = time.thread_time()
        eng.flush()
        seconds[p] += time.thread_time() - t0
        fst = eng.flow_stats()
        m = policy_metrics(eng.stats(), duration_ns, bin_ns, scenario.alert_threshold, fst)
        flow_tables[p] = flow_metrics(fst, flows.group, flows.labels)
        if p == "rsspp":
            st = eng.stats()
            m["rsspp"] = {"rebalances": st["rebalances"], "migrations": st["migrations"],
                          "balanced_periods": st["balanced_periods"]}
        if p == "paraflowo":
            m["paraflowo"] = _paraflowo_metrics(eng, flows)
            auto = autos[p]
            if auto is not None:
                _sync_auto(eng, auto)
            m["paraflowo"]["timeout"] = (auto.summary() if auto is not None else
                                         {"mode": "fixed",
                                          "final_us": scenario.paraflowo["timeout_us"]})
            m["paraflowo"]["window"] = int(built[p][2]["reorder"].buffers[0].window)
            m["paraflowo"]["idle_ms"] = built[p][2]["breakup"].idle_ns / 1e6
        m["offered_mpps"] = round(m["packets"] / duration_ns * 1e3, 6)
        m["delivered_mpps"] = round(m["released"] / duration_ns * 1e3, 6)
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
    notes.extend(_hints(out, flows, scenario))
    prov = _provenance(command, [trace_path] if trace_path is not None else [])
    return SimulationResult(sc, out, timing, notes, prov, flow_tables)
