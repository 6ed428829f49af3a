"""The simulator's cimport API: a freshly compiled module feeds SimCore without the GIL."""

import numpy as np

from paraflowo import IndirectionTable, SimCore

from cybuild import build_cython_module

SOURCE = """
# cython: boundscheck=False, wraparound=False
from libc.stdint cimport int16_t, int32_t, int64_t
from paraflowo._core.sim cimport SimCore, pfo_sim_hist_index, PFO_SIM_RSS, PFO_SIM_HIST_LEN

def drive(SimCore core, const int64_t[::1] times, const int32_t[::1] flows,
          int16_t[::1] tr_core, int64_t[::1] tr_finish):
    cdef Py_ssize_t n = times.shape[0], h = n // 2
    with nogil:
        # two chunks, then drain every queue to egress
        core.c_run(&times[0], &flows[0], NULL, h, &tr_core[0], &tr_finish[0])
        core.c_run(&times[h], &flows[h], NULL, n - h, &tr_core[h], &tr_finish[h])
        core.c_flush()
    return core.policy == PFO_SIM_RSS

def hist_index(long long v):
    return pfo_sim_hist_index(v), PFO_SIM_HIST_LEN
"""


def test_cimport_sim_nogil(tmp_path):
    mod = build_cython_module(tmp_path, "use_sim", SOURCE)
    core = SimCore("rss", np.array([1000], np.int64), 2, np.array([7], np.uint32), 1,
                   10**9, IndirectionTable(1))
    times = np.array([0, 0, 0, 0, 2500, 5000], np.int64)
    tc, tf = np.empty(6, np.int16), np.empty(6, np.int64)
    assert mod.drive(core, times, np.zeros(6, np.int32), tc, tf) is True
    # rx_queue 2: one in service + 2 waiting; the 4th simultaneous arrival drops
    assert tf.tolist() == [1000, 2000, 3000, -1, 4000, 6000]
    assert tc.tolist() == [0, 0, 0, -1, 0, 0]
    st = core.stats()
    assert st["completed"].sum() == 5 and st["dropped"].sum() == 1
    assert mod.hist_index(1000) == (1000, 2048 + 53 * 1024)
    assert mod.hist_index(5000)[0] == 2048 + 1024 + 226
