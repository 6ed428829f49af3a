"""``pfo_sched_observe`` (the delay sample, inlined into its callers) against a model.

The ParaFlowO simulator folds each tagged packet's delay sample into the
scheduler through ``pfo_brk_feedback`` -> ``pfo_sched_observe``, the ``cdef
inline`` that ``FlowletScheduler.c_observe`` also calls (clamp, first sample,
EWMA rounded half away from zero).  Fed through the inline (from a cimporting
module) and through ``observe`` (the method), the smoothed delays, mean and
sample count must equal a plain-Python model's, and so must the Eq. 2
intervals of the twins.
"""

import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import paraflowo as pfo

from cybuild import build_cython_module

SOURCE = """
# cython: boundscheck=False, wraparound=False
from libc.stdint cimport int64_t, uint16_t
from paraflowo._core.scheduler cimport FlowletScheduler, pfo_sched_observe

def feed(FlowletScheduler s, const uint16_t[::1] cores, const int64_t[::1] delays,
         bint inline):
    cdef Py_ssize_t i
    with nogil:
        for i in range(cores.shape[0]):
            if inline:
                pfo_sched_observe(s, cores[i], delays[i])
            else:
                s.c_observe(cores[i], delays[i])
"""

N_CORES = 4


@pytest.fixture(scope="module")
def mod(tmp_path_factory):
    return build_cython_module(tmp_path_factory.mktemp("obsinline"), "obs_inline", SOURCE)


_MAX_DELAY = 1 << 40


def _model(smoothing, samples):
    """Per-core smoothed delay and sample count, in plain Python floats/ints."""
    cpu = {}
    for core, d in samples:
        d = min(max(d, 0), _MAX_DELAY)
        if core not in cpu:
            cpu[core] = d
        else:
            old = cpu[core]
            x = smoothing * float(d - old)
            r = math.trunc(x)
            fr = x - float(r)
            cpu[core] = old + r + (fr >= 0.5) - (fr <= -0.5)
    return cpu


def _state(s):
    return ([s.t_cpu(c) for c in range(N_CORES)], s.t_avg, s.samples,
            [s.t_switch(c) for c in range(N_CORES)])


# delays around the clamps (negative -> 0, above 2**40 -> 2**40) and values
# whose EWMA step lands on exact halves (e.g. 0.5 * odd differences)
_delays = st.one_of(st.integers(-1_000, 20_000),
                    st.integers((1 << 40) - 5, (1 << 40) + 5),
                    st.integers(-(1 << 62), 1 << 62))


@settings(max_examples=150, deadline=None)
@given(smoothing=st.sampled_from([0.125, 0.5, 1.0, 0.3, 0.75, 1e-9]),
       samples=st.lists(st.tuples(st.integers(0, N_CORES - 1), _delays),
                        min_size=1, max_size=60))
def test_inline_observe_and_the_method_equal_the_model(mod, smoothing, samples):
    a = pfo.FlowletScheduler(N_CORES, n_para=3, smoothing=smoothing)
    b = pfo.FlowletScheduler(N_CORES, n_para=3, smoothing=smoothing)
    cores = np.array([c for c, _ in samples], np.uint16)
    delays = np.array([d for _, d in samples], np.int64)
    mod.feed(a, cores, delays, True)
    for c, d in samples:
        b.observe(c, min(max(d, 0), _MAX_DELAY))   # the method refuses what the core clamps
    assert _state(a) == _state(b)
    cpu = _model(smoothing, samples)
    assert [a.t_cpu(c) for c in range(N_CORES)] == [cpu.get(c) for c in range(N_CORES)]
    assert a.t_avg == (sum(cpu.values()) // len(cpu)) and a.samples == len(samples)


def test_half_rounds_away_from_zero(mod):
    # smoothing 0.5, exact halves in both directions
    a = pfo.FlowletScheduler(1, n_para=2, smoothing=0.5)
    mod.feed(a, np.zeros(3, np.uint16), np.array([0, 3, 0], np.int64), True)
    # 0; 0 + round(0.5 * 3) = 0 + 2 = 2; 2 + round(0.5 * -2) = 2 - 1 = 1
    assert a.t_cpu(0) == 1
    b = pfo.FlowletScheduler(1, n_para=2, smoothing=0.5)
    mod.feed(b, np.zeros(3, np.uint16), np.array([5, 0, 0], np.int64), True)
    # 5; 5 + round(-2.5) = 5 - 3 = 2; 2 + round(-1.0) = 1
    assert b.t_cpu(0) == 1
    assert a.samples == b.samples == 3
