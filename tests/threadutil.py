"""Run a burst in a thread and probe the object while the burst holds it."""

import threading


def while_busy(burst, guard, probes):
    """Run ``burst()`` in a thread and each of ``probes`` while it runs.

    Waits until ``guard()`` (a call that changes nothing) is refused, i.e. the
    burst holds the object; then runs the probes, keeping each result or
    exception; then checks that ``guard()`` is still refused.  The busy flag is
    cleared only when the burst ends, so every probe ran during the burst.
    Returns the outcomes, or None if the burst ended too soon (retry bigger).
    """
    worker = threading.Thread(target=burst)
    worker.start()
    try:
        while worker.is_alive():
            try:
                guard()
            except RuntimeError:
                break
        else:
            return None
        outcomes = {}
        for name, call in probes.items():
            try:
                outcomes[name] = call()
            except Exception as err:
                outcomes[name] = err
        try:
            guard()
        except RuntimeError:
            return outcomes
        return None
    finally:
        worker.join()
