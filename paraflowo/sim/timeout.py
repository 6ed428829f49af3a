"""The default reorder timeout: derived from the measured per-core delays.

A reorder queue holds a packet until the packets before it in its flow have
left their cores.  A packet sent to core *a* at ``t0`` and the next one sent
to core *b* at ``t1 >= t0`` leave at ``t0 + D_a`` and ``t1 + D_b``: the second
waits at most ``D_a - D_b - (t1 - t0) < D_a``, less than the sojourn time
(queueing + service) of the slowest core.  A timeout shorter than that skips
PSNs that are only late, not lost, and puts packets out of order; a fixed
500 us is right on ~1 Mpps cores (sojourn times of tens of us) and wrong on
15 kpps cores (tens of ms).

So, unless ``timeout_us`` is given, the simulator sets every reorder queue's
timeout from the scheduler's smoothed delays ``T_cpu,i`` (the EWMA of Eq. 2,
fed by every tagged packet at egress), after every :data:`SLICE` arrivals::

    timeout = clamp(GAIN * max_i T_cpu,i, floor, cap)
    floor   = max(FLOOR_NS, FLOOR_SERVICES * max_i service_ns_i)
    cap     = (rx_queue + 1) * max_i service_ns_i   (x2 for exponential service)

``GAIN = 16`` covers the EWMA's lag while a queue fills (weight 1/8 per
sample) and the tail of exponential service (a sojourn above 16 times its
mean has probability about e**-16).  ``cap`` is the longest a packet can
spend in a full drop-tail RX queue plus its own service, so no longer timeout
is ever needed; it is also the timeout before the first sample.  The floor
keeps a run of short delays from arming a hair trigger.  Worked numbers: 4
cores of 15 kpps (service 66,667 ns), rx_queue 4096: cap = 4097 * 66,667 ns
= 273 ms, floor = 32 * 66,667 ns = 2.1 ms; with the slowest core's ``T_cpu``
at 3 ms the timeout is 48 ms.  On paper-fig7's ~1 Mpps cores (service 971 to
1,031 ns): cap = 4.2 ms, and sojourn times of a few us give the floor,
100 us.
"""

from __future__ import annotations

import numpy as np

from paraflowo._checks import require_int, require_number, require_positive

__all__ = ["AdaptiveTimeout", "GAIN", "FLOOR_NS", "FLOOR_SERVICES", "IDLE_FLOOR_NS", "SLICE",
           "WINDOW_BUDGET", "derived_idle_ns", "derived_window", "longest_wait_ns"]

#: Timeout = GAIN x the largest smoothed per-core delay.
GAIN = 16
#: Lower clamp of the derived timeout, ns (also at least FLOOR_SERVICES service times).
FLOOR_NS = 100_000
#: The floor is at least this many service times of the slowest core.
FLOOR_SERVICES = 32
#: Arrivals between two updates of the derived timeout.
SLICE = 2048


#: Largest time these helpers take or return, ns (the simulator's time bound).
MAX_NS = 1 << 62


def _service_times(service_ns) -> list[float]:
    """``service_ns`` checked: a non-empty sequence of positive finite ns, at most 2**36."""
    if isinstance(service_ns, (str, bytes)) or not hasattr(service_ns, "__len__"):
        raise TypeError(f"service_ns must be a sequence of numbers, got {service_ns!r}")
    if len(service_ns) == 0:
        raise ValueError("service_ns must hold at least one core, got none")
    out = []
    for i, v in enumerate(service_ns):
        x = require_positive(f"service_ns[{i}]", v)
        if x > 1 << 36:
            raise ValueError(f"service_ns[{i}] must be at most 2**36 ns, got {v!r}")
        out.append(x)
    return out


def _flag(name: str, v) -> bool:
    if not isinstance(v, (bool, np.bool_)) and not (isinstance(v, int) and v in (0, 1)):
        raise TypeError(f"{name} must be a bool, got {v!r}")
    return bool(v)


def longest_wait_ns(service_ns, rx_queue: int, exponential: bool) -> int:
    """The cap: (rx_queue + 1) service times of the slowest core (x2 if exponential).

    ``service_ns``: a sequence of positive service times, ns (at most 2**36
    each); ``rx_queue`` in ``[1, 2**24]``; ``exponential`` a bool.  Raises
    :class:`TypeError` / :class:`ValueError` naming the argument otherwise.
    """
    slowest = max(_service_times(service_ns))
    q = require_int("rx_queue", rx_queue, 1, 1 << 24)
    return max(1, int((q + 1) * slowest * (2 if _flag("exponential", exponential) else 1)))


#: Lower bound of the derived ``idle_ms``, ns (the fixed default before it was derived).
IDLE_FLOOR_NS = 10_000_000


def derived_idle_ns(longest_ns: int) -> int:
    """The default idle time after which a para_flow leaves: ``max(10 ms, longest wait)``.

    ``longest_ns`` is :func:`longest_wait_ns`.  A flow that leaves para_flow
    while some of its packets still wait on a core goes back to its RSS core
    (untagged, or as a new first flowlet on a new PSN queue): its next packets
    can overtake the old ones, which no reorder queue holds any more.  And an
    elephant whose bursts are further apart than ``idle`` is split again at
    every burst, each time as a first flowlet held on its RSS core
    (:attr:`~paraflowo.Breakup.holds`), so it is never spread and that core
    overflows.  Both happened with a fixed 10 ms on 15 kpps cores (the
    longest wait 273 ms): a bursty 35 kpps TCP elephant lost a third of its
    packets there and put some out of order, where spraying lost none.  On
    ~1 Mpps cores (longest wait 4.2 ms) the 10 ms floor is the value.
    """
    return max(IDLE_FLOOR_NS, require_int("longest_ns", longest_ns, 0, MAX_NS))


#: Reorder slots (all queues together) a derived window may use: 2**20 slots,
#: 32 MiB of reorder buffers.
WINDOW_BUDGET = 1 << 20


def derived_window(rate_pps: float, wait_ns: float, psn_bits: int, n_queues: int) -> int:
    """The default ``window``: the fastest flow's packets during the longest wait.

    ``rate_pps``: the fastest flow's peak rate (synthetic: rate x (1 + jitter);
    a capture: its busiest 10 ms, see ``Trace.peak_pps``).

    A packet of a flow can be overtaken by every packet of that flow sent
    while it waits on its core, at most ``wait_ns`` (:func:`longest_wait_ns`);
    a window shorter than that slides over it and puts it out of order.  The
    next power of two, at least 1024, at most ``2**(psn_bits - 1)`` and
    :data:`WINDOW_BUDGET` slots over the ``n_queues`` queues.

    Worked numbers: a 40 kpps elephant on 15 kpps cores (rx_queue 4096,
    longest wait 273 ms) has 10,925 packets in flight: window 16,384.  On
    paper-fig7 (0.85 Mpps at the jitter's peak, longest wait 4.2 ms): 3,590,
    window 4,096.
    """
    rate = require_number("rate_pps", rate_pps)
    if not 0 <= rate <= 1e12:
        raise ValueError(f"rate_pps must be in [0, 1e12], got {rate_pps!r}")
    wait_ns = require_number("wait_ns", wait_ns)
    if not 0 <= wait_ns <= MAX_NS:
        raise ValueError(f"wait_ns must be in [0, 2**62], got {wait_ns!r}")
    psn_bits = require_int("psn_bits", psn_bits, 8, 32)
    n_queues = require_int("n_queues", n_queues, 1, 1 << 16)
    need = int(rate * wait_ns / 1e9) + 1
    w = 1 << max(10, (need - 1).bit_length())
    top = min(1 << (psn_bits - 1), max(1024, WINDOW_BUDGET // max(1, n_queues)))
    return max(1 << min(10, psn_bits - 1), min(w, 1 << (top.bit_length() - 1)))


class AdaptiveTimeout:
    """Keep a :class:`~paraflowo.reorder.ReorderQueues`' timeout at the formula above.

    Parameters
    ----------
    scheduler : FlowletScheduler
        Whose ``t_cpu(core)`` gives the smoothed delay of each core.
    reorder : ReorderQueues
        Whose timeout is set (``set_timeout``).
    service_ns : sequence of float
        Mean service time of each core, ns.
    rx_queue : int
        RX queue length (packets) of each core.
    exponential : bool
        Exponential service times (the cap doubles).
    """

    def __init__(self, scheduler, reorder, service_ns, rx_queue: int,
                 exponential: bool) -> None:
        if not callable(getattr(scheduler, "t_cpu", None)):
            raise TypeError(f"scheduler must have a t_cpu(core) method (a FlowletScheduler), "
                            f"got {type(scheduler).__name__}")
        if not callable(getattr(reorder, "set_timeout", None)):
            raise TypeError(f"reorder must have a set_timeout(ns) method (a ReorderQueues), "
                            f"got {type(reorder).__name__}")
        self.scheduler = scheduler
        self.reorder = reorder
        self.n_cores = len(_service_times(service_ns))
        slowest = max(service_ns)
        self.cap_ns = longest_wait_ns(service_ns, rx_queue, exponential)
        self.floor_ns = min(self.cap_ns, max(FLOOR_NS, int(FLOOR_SERVICES * slowest)))
        self.value_ns = self.cap_ns
        self.low_ns = self.high_ns = self.value_ns
        self.changes = 0
        reorder.set_timeout(self.value_ns)

    def target(self) -> int | None:
        """The formula's timeout from the current delays; None before any sample."""
        delays = [self.scheduler.t_cpu(c) for c in range(self.n_cores)]
        seen = [d for d in delays if d is not None]
        if not seen:
            return None
        return min(self.cap_ns, max(self.floor_ns, GAIN * max(seen)))

    def update(self) -> None:
        """Apply :meth:`target` (when it moved by more than 1/8 of the current value)."""
        t = self.target()
        if t is None or abs(t - self.value_ns) * 8 <= self.value_ns:
            return
        self.reorder.set_timeout(t)
        self.value_ns = t
        self.low_ns = min(self.low_ns, t)
        self.high_ns = max(self.high_ns, t)
        self.changes += 1

    def summary(self) -> dict:
        """``{"mode", "final_us", "min_us", "max_us", "cap_us", "changes"}``."""
        return {"mode": "auto", "final_us": self.value_ns / 1e3, "min_us": self.low_ns / 1e3,
                "max_us": self.high_ns / 1e3, "cap_us": self.cap_ns / 1e3,
                "changes": self.changes}
