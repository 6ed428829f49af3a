# cython: language_level=3
"""The C declarations of ``spsc_ring.h`` (the dataplane's single-producer /
single-consumer ring, back-off, clocks, atomics and the spin NFs' busy work),
once, for ``ring.pyx``, ``nf.pyx`` and ``dataplane.pyx``.  Private: not part
of the public cimport surface."""

from libc.stdint cimport int64_t, uint32_t, uint64_t

cdef extern from "spsc_ring.h" nogil:
    ctypedef struct pfo_spsc_t:
        pass
    size_t pfo_spsc_footprint(uint32_t capacity)
    pfo_spsc_t* pfo_spsc_init(void* mem, uint32_t capacity)
    uint32_t pfo_spsc_push_burst(pfo_spsc_t* r, const void* recs, uint32_t n)
    uint32_t pfo_spsc_pop_burst(pfo_spsc_t* r, void* recs, uint32_t n)
    uint64_t pfo_spsc_count(pfo_spsc_t* r)
    int64_t pfo_now_ns()
    int64_t pfo_thread_cpu_ns()
    uint64_t pfo_ld64(const uint64_t* p)
    void pfo_st64(uint64_t* p, uint64_t v)
    int pfo_flag_get(const int* p)
    void pfo_flag_set(int* p, int v)
    ctypedef struct pfo_backoff_t:
        uint32_t spins
        int64_t sleep_ns
        int64_t max_sleep_ns
    void pfo_backoff_reset(pfo_backoff_t* b)
    void pfo_backoff_idle(pfo_backoff_t* b)
    int64_t pfo_backoff_next(const pfo_backoff_t* b)
    void pfo_thread_timer_slack(unsigned long ns)
    void pfo_nap_ns(int64_t ns)
    void* pfo_spsc_aligned(size_t n)
    void pfo_add64(uint64_t* p, uint64_t v)
    uint64_t pfo_claim64(uint64_t* p, uint64_t key)
    uint64_t pfo_spin_chain(uint64_t x, uint64_t n)
    const int PFO_SPSC_REC_BYTES
