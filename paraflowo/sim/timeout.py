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

    timeout = clamp(GAIN * max_i T_cpu,i, FLOOR_NS, cap)
    cap     = (rx_queue + 1) * max_i service_ns_i   (x2 for exponential service)

``GAIN = 4`` covers the EWMA's lag while a queue fills (weight 1/8 per
sample) and the growth between two updates.  ``cap`` is the longest a packet
can spend in a full drop-tail RX queue plus its own service, so no longer
timeout is ever needed; it is also the timeout before the first sample.
``FLOOR_NS`` (100 us) keeps a burst of short delays from arming a hair
trigger.  Worked numbers: 4 cores of 15 kpps (service 66,667 ns), rx_queue
4096: cap = 4097 * 66,667 ns = 273 ms; with the slowest core's ``T_cpu`` at
20 ms the timeout is 80 ms.  On paper-fig7's ~1 Mpps cores (service 971 to
1,031 ns): cap = 4.2 ms, and sojourn times of a few us give the floor,
100 us.
"""

from __future__ import annotations

__all__ = ["AdaptiveTimeout", "GAIN", "FLOOR_NS", "SLICE"]

#: Timeout = GAIN x the largest smoothed per-core delay.
GAIN = 4
#: Lower clamp of the derived timeout, ns.
FLOOR_NS = 100_000
#: Arrivals between two updates of the derived timeout.
SLICE = 2048


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
        self.scheduler = scheduler
        self.reorder = reorder
        self.n_cores = len(service_ns)
        self.cap_ns = max(FLOOR_NS, int((rx_queue + 1) * max(service_ns)
                                        * (2 if exponential else 1)))
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
        return min(self.cap_ns, max(FLOOR_NS, GAIN * max(seen)))

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
