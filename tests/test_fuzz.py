"""The fuzz of every public entry point (tests/fuzz_driver.py), in child processes.

A segfault, an abort or a hang in the package fails this test (with the call that
did it and the child's faulthandler traceback) instead of killing pytest.  The
default run is short; ``PARAFLOWO_FUZZ_EXAMPLES`` raises the number of hypothesis
examples per target and ``PARAFLOWO_FUZZ_SEED`` replays one run.
"""

import os
import random

import pytest

import fuzz_driver

EXAMPLES = int(os.environ.get("PARAFLOWO_FUZZ_EXAMPLES", "25"))
SEED = int(os.environ.get("PARAFLOWO_FUZZ_SEED", str(random.randrange(2**32))))


def _render(findings):
    lines = []
    for f in sorted(findings, key=lambda f: (f["target"], f["kind"])):
        lines.append(f"{f['kind']:9} {f['target']}: {f['detail']}\n          e.g. {f['example'][:200]}")
        if f.get("stderr"):
            lines.append("          child stderr (tail):\n" + f["stderr"][-800:])
    return "\n".join(lines)


def test_fuzz_every_public_entry():
    calls, findings = fuzz_driver.supervise(EXAMPLES, SEED, call_timeout=20.0, total_timeout=500.0)
    assert calls > 40 * EXAMPLES, f"the fuzz made only {calls} calls"  # ~100 per example
    assert not findings, (f"fuzz (PARAFLOWO_FUZZ_SEED={SEED}, {calls} calls) broke the "
                          f"exception contract:\n{_render(findings)}")


# --- the driver itself: its detectors must be able to fail -----------------


def test_driver_flags_wrong_exception_silent_acceptance_message_and_state():
    fz = fuzz_driver.Fuzzer(None, 20.0)

    def wrong_type(x):
        raise KeyError(x)

    def silent(x):
        return 0

    def unnamed(x):
        raise ValueError("bad")

    def fine(x):
        raise ValueError(f"x must be small, got {x}")

    class Counter:
        n = 0

        def bump(self, x):
            self.n += 1
            raise ValueError(f"x must be small, got {x}")

    fuzz_driver.PROPS[Counter] = ("n",)
    c = Counter()
    fz.call("wrong_type", wrong_type, [1], {}, ["x"], [])
    fz.call("silent", silent, [None], {}, ["x"], ["x: None"])
    fz.call("unnamed", unnamed, [1.5], {}, ["x"], [])
    fz.call("fine", fine, [1.5], {}, ["x"], [])
    fz.call("Counter.bump", c.bump, [1], {}, ["x"], [], obj=c)
    kinds = {(f["target"], f["kind"]) for f in fz.findings.values()}
    assert kinds == {("wrong_type", "exc-type"), ("silent", "accepted"),
                     ("unnamed", "message"), ("Counter.bump", "state")}


FAKE_DRIVER = """
import ctypes, sys, time
log = sys.argv[sys.argv.index("--log") + 1]
with open(log, "a") as f:
    f.write("#target boom\\nboom\\tboom(1)\\n")
if "{how}" == "crash":
    ctypes.string_at(0)
time.sleep(60)
"""


@pytest.mark.parametrize("how", ["crash", "hang"])
def test_supervisor_reports_a_crash_or_hang_with_its_call(tmp_path, how):
    fake = tmp_path / "fake_driver.py"
    fake.write_text(FAKE_DRIVER.format(how=how))
    calls, findings = fuzz_driver.supervise(1, 0, total_timeout=3.0, driver=str(fake))
    assert [(f["target"], f["kind"], f["example"]) for f in findings] == [("boom", how, "boom(1)")]
    if how == "crash":
        assert "Fatal Python error" in findings[0]["stderr"]
