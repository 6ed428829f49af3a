/* Integer arithmetic of paraflowo._core.scheduler: the switching interval
   (paper Eq. 2).  Header-only, plain C11, no Python API. */
#ifndef PFO_SCHEDULER_H
#define PFO_SCHEDULER_H

#include <stdint.h>

/* Eq. 2 in integers: floor(a * t_avg^2 / (2^32 * t_cpu * n1)), clamped to
 * [lo, hi].  a <= 2^32, t_avg and t_cpu <= 2^40, n1 < 2^16, so the
 * numerator is < 2^113 and the denominator < 2^89: exact in 128 bits. */
static inline int64_t pfo_sched_eq2(uint64_t a, int64_t t_avg, int64_t t_cpu,
                                    uint32_t n1, int64_t lo, int64_t hi) {
    if (t_avg <= 0) return lo;
    if (t_cpu <= 0) return hi;
    if (t_avg < 65536) {
        /* the usual case (delays under 65 us): a * t_avg^2 < 2^64 and
         * floor(x / (d * 2^32)) = floor(x / d) >> 32, in 64 bits */
        uint64_t q = ((uint64_t)a * (uint64_t)(t_avg * t_avg)) / ((uint64_t)t_cpu * n1) >> 32;
        if (q > (uint64_t)hi) return hi;
        if ((int64_t)q < lo) return lo;
        return (int64_t)q;
    }
#ifdef __SIZEOF_INT128__
    __extension__ typedef unsigned __int128 pfo_u128;           /* GCC, Clang */
    pfo_u128 num = (pfo_u128)a * (uint64_t)t_avg * (uint64_t)t_avg;
    pfo_u128 den = ((pfo_u128)((uint64_t)t_cpu * n1)) << 32;
    pfo_u128 q = num / den;
    if (q > (pfo_u128)hi) return hi;
    if ((int64_t)q < lo) return lo;
    return (int64_t)q;
#else
    /* no 128-bit integers: long double, exact while the numerator fits
     * its mantissa (64 bits on x86) */
    long double q = ((long double)a * t_avg * t_avg) / ((long double)t_cpu * n1 * 4294967296.0L);
    if (q >= (long double)hi) return hi;
    if (q <= (long double)lo) return lo;
    return (int64_t)q;
#endif
}

#endif /* PFO_SCHEDULER_H */
