"""Elephant detectors: windowed Count-Min and Space-Saving, with manual tags."""

cimport cython
from cpython.buffer cimport Py_buffer
from libc.stdlib cimport calloc, free
from libc.stdint cimport UINT32_MAX, UINT64_MAX, int32_t, int64_t, uint8_t, uint32_t, uint64_t
from libc.string cimport memset

from paraflowo._core._key cimport pfo_key
from paraflowo._core._types cimport pfo_fmix64
from paraflowo._core._boundary cimport (
    PFO_OPTIONAL, PFO_UINT64_MAX, PFO_WRITABLE, pfo_bind, pfo_bound, pfo_check_len, pfo_enter,
    pfo_leave,
    pfo_len, pfo_not_backwards, pfo_raise_backwards, pfo_raise_busy, pfo_raise_uninit,
    pfo_release, pfo_time, pfo_uint)

import math

import numpy as np

from paraflowo._checks import require_int, require_pow2

cdef extern from *:
    """
    #include <stdint.h>
    /* SplitMix64 (Steele, Lea, Flood 2014): the seed stream for every hash. */
    static inline uint64_t pfo_splitmix64(uint64_t *state) {
        uint64_t z = (*state += 0x9E3779B97F4A7C15ULL);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
        return z ^ (z >> 31);
    }

    /* ---- Count-Min kernel ------------------------------------------------
       cells[((r << lw) + col) * 2 + w]: row r, column col, window slot w.
       hp: the hash parameters, PFO_CM_MAX_DEPTH triples (a0, a1, b) -- the
       layout of pfo_cm_hash_t[PFO_CM_MAX_DEPTH].  fb: the fused field stride
       (below), 0 for per-row hashes.

       Fused hash (fb > 0, when depth * l <= 64, l = log2(width)): one
       multiply-add-shift in 128-bit arithmetic (Dietzfelbinger 1996),
           H = ((A * x + B) mod 2**128) >> 64,
       A = hp[1] * 2**64 + hp[0], B = hp[3] * 2**64 + hp[2] (uniform on
       [2**128] from the seeded SplitMix64 stream), x the 64-bit key; row r
       takes the l-bit field  col_r = (H >> (r * fb)) & (width - 1)  with
       fb = floor(64 / depth) >= l (fields do not overlap).  Cost: two
       multiplications per key instead of one per row.  Used only with
       row_hashes="fused" (the default).
       Why it is enough: for u-bit keys and w-bit arithmetic, multiply-add-shift
       with A, B uniform on [2**w] keeping the top L bits is strongly universal
       when w >= u + L - 1 (here 128 >= 64 + 64 - 1): for keys x != y the pair
       (H(x), H(y)) is uniform on [2**64]**2.  So is every choice of bits of
       it: the 2 * depth fields of two distinct keys are uniform and mutually
       independent.  Hence, exactly as for independent per-row hashes, each
       row is a strongly universal hash on its own (two keys collide in row r
       with probability exactly 1/width: the Count-Min eps = e/width per row),
       and for every pair of keys the collisions in different rows are
       independent (a pair collides in all rows with probability
       width**-depth) -- unlike a CRC with per-row seeds, whose collisions
       repeat in every row.  What it does not give: the rows are one draw,
       not depth independent draws, so the errors of one key's rows (sums
       over all other keys) are not proven independent; the textbook step
       delta = e**-depth multiplies the rows' failure probabilities and uses
       that.  Measured on skewed and adversarial streams the failure rate
       stays below e**-depth (tests/test_detector_accuracy.py); where a proof
       is required, the per-row family below has it.

       Per-row hash (fb = 0, depth * l > 64): pair-multiply-shift (Thorup,
       "High speed hashing for integers and strings", 2015) over the 32-bit
       halves of the key, in 64-bit arithmetic, one multiplication per row:
           col = (((a0 + x_hi) * (a1 + x_lo) + b) mod 2**64) >> (64 - l)
       Expanded, the product is a0*x_lo + a1*x_hi + (x_hi*x_lo + a0*a1): a
       vector multiply-shift plus a key-only offset and a key-independent one
       absorbed by the uniform b.  For keys x != y, the difference of the two
       pre-shift values is uniform over a coset of 2**k Z with k <= 31 (k:
       trailing zeros of the differing half), so for l <= 33 (64 >= 32 + l - 1)
       the pair (h(x), h(y)) is uniform on [2**l]**2: the family is strongly
       universal and two keys collide with probability exactly 1/width.  Rows
       draw independent (a0, a1, b), so their hash functions are independent
       and the full Count-Min bound holds as proven.  row_hashes="independent"
       takes this family at every size (fb = 0 always); depth 4 then runs
       the same loops as the fused hash with four of these in place of H
       (pfo_cm_loop4, pfo_cm_loop4_sse41 with indep = 1).
       Worked example: a0 = 1, a1 = 2, b = 0, l = 12, key = 2**32 + 7:
       (1 + 1) * (2 + 7) = 18; 18 >> 52 = 0.  Random 64-bit a0, a1, b spread
       such small products over all columns. */
    /* True or False (a new reference) without a branch on b: the estimate
       behind b arrives late (hash, then four loads), and a mispredicted
       branch on it would stall the caller until it does. */
    static inline PyObject *pfo_bool(int b) {
        static PyObject *const bools[2] = {Py_False, Py_True};
        PyObject *r = bools[b != 0];
        Py_INCREF(r);
        return r;
    }
    #if defined(__GNUC__) || defined(__clang__)
    #define PFO_ALWAYS_INLINE static inline __attribute__((always_inline))
    #else
    #define PFO_ALWAYS_INLINE static inline
    #endif
    #if defined(__GNUC__) || defined(__clang__)
    #define PFO_PREFETCH(p) __builtin_prefetch((p), 1)
    #else
    #define PFO_PREFETCH(p) ((void)0)
    #endif
    PFO_ALWAYS_INLINE uint64_t pfo_cm_col(const uint64_t *h, uint64_t key, unsigned sh) {
        return ((h[0] + (key >> 32)) * (h[1] + (uint32_t)key) + h[2]) >> sh;
    }
    /* H = ((A * x + B) mod 2**128) >> 64, A = (ahi, alo), B = (bhi, blo). */
    PFO_ALWAYS_INLINE uint64_t pfo_cm_h128(uint64_t alo, uint64_t ahi, uint64_t blo,
                                           uint64_t bhi, uint64_t x) {
    #if defined(__SIZEOF_INT128__)
        unsigned __int128 p = (unsigned __int128)alo * x;
        uint64_t lo = (uint64_t)p + blo;                           /* carry: lo < blo */
        return (uint64_t)(p >> 64) + (lo < blo) + ahi * x + bhi;
    #else
        uint64_t a0 = (uint32_t)alo, a1 = alo >> 32, x0 = (uint32_t)x, x1 = x >> 32;
        uint64_t p00 = a0 * x0, p01 = a0 * x1, p10 = a1 * x0, p11 = a1 * x1;
        uint64_t mid = (p00 >> 32) + (uint32_t)p01 + (uint32_t)p10;
        uint64_t lo = (mid << 32) | (uint32_t)p00;
        uint64_t hi = p11 + (p01 >> 32) + (p10 >> 32) + (mid >> 32);
        uint64_t s = lo + blo;
        return hi + (s < lo) + ahi * x + bhi;
    #endif
    }
    /* Column of row r (0 <= r < depth) for key; fused or per-row (see above). */
    PFO_ALWAYS_INLINE uint64_t pfo_cm_colr(const uint64_t *hp, unsigned fb, unsigned lw,
                                           unsigned sh, uint64_t H, uint64_t key, unsigned r) {
        if (fb)
            return (H >> (r * fb)) & ((1ull << lw) - 1);
        return pfo_cm_col(hp + 3 * r, key, sh);
    }
    PFO_ALWAYS_INLINE uint64_t pfo_cm_fused(const uint64_t *hp, unsigned fb, uint64_t key) {
        return fb ? pfo_cm_h128(hp[0], hp[1], hp[2], hp[3], key) : 0;
    }
    /* Blocks of PFO_CM_BLOCK packets: first hash every key of the block and
       prefetch its counters, then update them, so the counters' cache misses
       overlap instead of stalling one packet at a time.  sat = 0 is allowed
       only when no counter can reach 2**32 - 1 in this call (the caller
       checks the window total: no counter exceeds it). */
    #define PFO_CM_BLOCK 16
    PFO_ALWAYS_INLINE uint64_t pfo_cm_loop(
            uint32_t *cells, const uint64_t *hp, unsigned depth, unsigned fb, int cons, int sat,
            unsigned lw, unsigned sh, unsigned cur, uint64_t th, const uint64_t *keys,
            const uint64_t *amounts, Py_ssize_t n, uint8_t *out, uint64_t *last_est) {
        uint32_t *base[16];
        uint64_t idx[PFO_CM_BLOCK * 16];
        unsigned prv = cur ^ 1u, r;
        uint32_t a = 1, c, m, v;
        uint64_t total = 0, est = 0, e;
        Py_ssize_t i0, j, nb;
        for (r = 0; r < depth; r++)
            base[r] = cells + (((uint64_t)r << lw) << 1);
        for (i0 = 0; i0 < n; i0 += PFO_CM_BLOCK) {
            nb = n - i0 < PFO_CM_BLOCK ? n - i0 : PFO_CM_BLOCK;
            for (j = 0; j < nb; j++) {
                uint64_t key = keys[i0 + j], H = pfo_cm_fused(hp, fb, key);
                for (r = 0; r < depth; r++) {
                    uint64_t col = pfo_cm_colr(hp, fb, lw, sh, H, key, r) << 1;
                    idx[j * depth + r] = col;
                    PFO_PREFETCH(base[r] + col);
                }
            }
            for (j = 0; j < nb; j++) {
                const uint64_t *ix = idx + j * depth;
                if (amounts) {
                    uint64_t amt = amounts[i0 + j], t2 = total + amt;
                    a = amt < 0xFFFFFFFFu ? (uint32_t)amt : 0xFFFFFFFFu;
                    total = t2 >= total ? t2 : UINT64_MAX;
                }
                est = UINT64_MAX;
                if (!cons) {
                    for (r = 0; r < depth; r++) {
                        uint32_t *q = base[r] + ix[r];
                        c = q[cur] + a;
                        if (sat) c = c < a ? 0xFFFFFFFFu : c;
                        q[cur] = c;
                        e = (uint64_t)c + q[prv];
                        est = e < est ? e : est;
                    }
                } else {
                    /* Conservative update (Estan & Varghese 2002): raise each
                       row's current-window counter only up to (min over rows)
                       + amount.  Every counter stays >= the true count of
                       every key mapped to it (no undercount), and none exceeds
                       the plain update's counter. */
                    uint32_t vals[16];
                    m = 0xFFFFFFFFu;
                    for (r = 0; r < depth; r++) {
                        vals[r] = base[r][ix[r] + cur];    /* rows never share a cell */
                        m = vals[r] < m ? vals[r] : m;
                    }
                    c = m + a;
                    if (sat) c = c < a ? 0xFFFFFFFFu : c;
                    for (r = 0; r < depth; r++) {
                        uint32_t *q = base[r] + ix[r];
                        v = vals[r] < c ? c : vals[r];     /* branch-free */
                        q[cur] = v;
                        e = (uint64_t)v + q[prv];
                        est = e < est ? e : est;
                    }
                }
                if (out) out[i0 + j] = est >= th;
            }
        }
        if (last_est) *last_est = est;
        return amounts ? total : (uint64_t)n;
    }
    /* The hot case: depth 4, fused hash with 16-bit fields (width <= 2**16)
       or (indep) per-row hashes at any width, unit amounts, no counter can
       saturate.  (On x86-64 with SSE4.1, while
       no estimate can reach 2**32 - 1, pfo_cm_loop4_sse41 below runs
       instead.)  Same arithmetic as pfo_cm_loop with the row loops unrolled, fixed shifts (a shift by a variable count
       costs several uops on x86-64 without BMI2) and the window slot a
       constant.  Blocks of PFO_CM_BLOCK4 packets: hash, prefetch and keep
       the four counter addresses, then update.  Conservative unit update:
       max(a, min + 1) = a + (a < min + 1), i.e. the rows at the minimum get
       +1. */
    #define PFO_CM_BLOCK4 8
    PFO_ALWAYS_INLINE uint64_t pfo_cm_loop4(
            uint32_t *cells, const uint64_t *hp, int cons, int indep, unsigned lw, unsigned cur,
            uint64_t th, const uint64_t *keys, Py_ssize_t n, uint8_t *out, uint64_t *last_est) {
        uint64_t w2 = (uint64_t)2 << lw, mask = ((uint64_t)1 << lw) - 1;
        const unsigned sh = 64 - lw;
        uint32_t *b0 = cells + cur, *b1 = b0 + w2, *b2 = b1 + w2, *b3 = b2 + w2;
        const Py_ssize_t pd = cur ? -1 : 1;        /* the previous window's slot */
        const uint64_t alo = hp[0], ahi = hp[1], blo = hp[2], bhi = hp[3];
        uint32_t *qs[4 * PFO_CM_BLOCK4];
        uint64_t est = 0;
        Py_ssize_t i0, j, nb;
        for (i0 = 0; i0 < n; i0 += PFO_CM_BLOCK4) {
            nb = n - i0 < PFO_CM_BLOCK4 ? n - i0 : PFO_CM_BLOCK4;
            for (j = 0; j < nb; j++) {
                uint32_t *q0, *q1, *q2, *q3;
                if (indep) {                       /* per-row hashes (any width) */
                    uint64_t key = keys[i0 + j];
                    q0 = b0 + 2 * pfo_cm_col(hp, key, sh); q1 = b1 + 2 * pfo_cm_col(hp + 3, key, sh);
                    q2 = b2 + 2 * pfo_cm_col(hp + 6, key, sh); q3 = b3 + 2 * pfo_cm_col(hp + 9, key, sh);
                } else {
                    uint64_t H = pfo_cm_h128(alo, ahi, blo, bhi, keys[i0 + j]);
                    q0 = b0 + 2 * (H & mask); q1 = b1 + 2 * ((H >> 16) & mask);
                    q2 = b2 + 2 * ((H >> 32) & mask); q3 = b3 + 2 * ((H >> 48) & mask);
                }
                qs[4 * j] = q0; qs[4 * j + 1] = q1; qs[4 * j + 2] = q2; qs[4 * j + 3] = q3;
                PFO_PREFETCH(q0); PFO_PREFETCH(q1); PFO_PREFETCH(q2); PFO_PREFETCH(q3);
            }
            for (j = 0; j < nb; j++) {
                uint32_t *q0 = qs[4 * j], *q1 = qs[4 * j + 1], *q2 = qs[4 * j + 2], *q3 = qs[4 * j + 3];
                uint32_t v0, v1, v2, v3;
                uint64_t e0, e1, e2, e3;
                if (!cons) {
                    v0 = q0[0] + 1; v1 = q1[0] + 1; v2 = q2[0] + 1; v3 = q3[0] + 1;
                } else {
                    uint32_t a0 = q0[0], a1 = q1[0], a2 = q2[0], a3 = q3[0];
                    uint32_t m01 = a0 < a1 ? a0 : a1, m23 = a2 < a3 ? a2 : a3;
                    uint32_t c = (m01 < m23 ? m01 : m23) + 1;
                    v0 = a0 + (a0 < c); v1 = a1 + (a1 < c); v2 = a2 + (a2 < c); v3 = a3 + (a3 < c);
                }
                q0[0] = v0; q1[0] = v1; q2[0] = v2; q3[0] = v3;
                e0 = (uint64_t)v0 + q0[pd]; e1 = (uint64_t)v1 + q1[pd];
                e2 = (uint64_t)v2 + q2[pd]; e3 = (uint64_t)v3 + q3[pd];
                e0 = e0 < e1 ? e0 : e1;
                e2 = e2 < e3 ? e2 : e3;
                est = e0 < e2 ? e0 : e2;
                if (out) out[i0 + j] = est >= th;
            }
        }
        if (last_est) *last_est = est;
        return (uint64_t)n;
    }
    /* The hot case again, four rows at a time in SSE4.1 registers (x86-64
       with SSE4.1, chosen at run time; everything else runs pfo_cm_loop4).
       Precondition: no estimate can reach 2**32 - 1 in this call (the
       caller checks both windows' totals plus n), so the sums cur + prev
       and the compare with the threshold are 32-bit, and no counter
       saturates.  The two window slots of row r's cell are one 8-byte word:
       x0 = (row 0 pair, row 1 pair), x1 = (row 2 pair, row 3 pair), slot w
       of each pair in lane w.  `one` has 1 in the current-window lanes.
         plain:         x += one
         conservative:  m = per-lane min(x0, x1), then min with the other
                        half: lanes cur hold min_r(cur_r) = mc, lanes prev
                        hold min_r(prev_r) = mp; x = max(x, m + one).  Cur
                        lanes: max(cur_r, mc + 1) (the unit update above);
                        prev lanes: max(prev_r, mp) = prev_r, unchanged.
         estimate:      each pair's lanes summed (x + (x >> 32) per 64-bit
                        word), then the min of the four sums.
       The pairs are stored back whole (the previous slot unchanged).  The
       min/max run on vector ports, where the scalar loop's cmov/adc chains
       all compete for the same two integer ports: 57 instructions per
       packet conservative, 52 plain (88 and 85 in pfo_cm_loop4), and about
       1.5x the packet rate. */
    #if defined(__x86_64__) && defined(__GNUC__)
    #include <immintrin.h>
    #define PFO_CM_SSE41 1
    #define PFO_SSE41 __attribute__((target("sse4.1")))
    /* One packet on its four cell pairs q0..q3 (rows 0..3): update with
       `add` (the amount in the current-window lanes: `one` below, or the
       per-packet amount), store the pairs back, return the estimate. */
    PFO_SSE41 static inline __attribute__((always_inline)) uint32_t pfo_cm_step4_sse41(
            double *q0, double *q1, double *q2, double *q3, int cons, __m128i add) {
        __m128i x0 = _mm_castpd_si128(_mm_loadh_pd(_mm_load_sd(q0), q1));
        __m128i x1 = _mm_castpd_si128(_mm_loadh_pd(_mm_load_sd(q2), q3));
        if (cons) {
            __m128i m = _mm_min_epu32(x0, x1);
            m = _mm_add_epi32(_mm_min_epu32(m, _mm_shuffle_epi32(m, 0x4E)), add);
            x0 = _mm_max_epu32(x0, m);
            x1 = _mm_max_epu32(x1, m);
        } else {
            x0 = _mm_add_epi32(x0, add);
            x1 = _mm_add_epi32(x1, add);
        }
        _mm_storel_pd(q0, _mm_castsi128_pd(x0)); _mm_storeh_pd(q1, _mm_castsi128_pd(x0));
        _mm_storel_pd(q2, _mm_castsi128_pd(x1)); _mm_storeh_pd(q3, _mm_castsi128_pd(x1));
        x0 = _mm_min_epu32(_mm_add_epi32(x0, _mm_srli_epi64(x0, 32)),
                           _mm_add_epi32(x1, _mm_srli_epi64(x1, 32)));
        x0 = _mm_min_epu32(x0, _mm_shuffle_epi32(x0, 0x4E));
        return (uint32_t)_mm_cvtsi128_si32(x0);
    }
    PFO_SSE41 static inline __attribute__((always_inline)) void pfo_cm_loop4_sse41(
            uint32_t *cells, const uint64_t *hp, int cons, int indep, unsigned lw, unsigned cur,
            uint64_t th, const uint64_t *keys, Py_ssize_t n, uint8_t *out) {
        uint64_t w2 = (uint64_t)2 << lw, mask = ((uint64_t)1 << lw) - 1;
        const unsigned sh = 64 - lw;
        uint32_t *b0 = cells, *b1 = b0 + w2, *b2 = b1 + w2, *b3 = b2 + w2;
        /* fused: A, B from hp[0..3]; per-row (indep): the 12 parameters
           (a0, a1, b) of rows 0 to 3 -- hoisted, the compiler cannot tell
           that the counter stores never write them */
        const uint64_t h0 = hp[0], h1 = hp[1], h2 = hp[2], h3 = hp[3];
        const uint64_t h4 = indep ? hp[4] : 0, h5 = indep ? hp[5] : 0, h6 = indep ? hp[6] : 0;
        const uint64_t h7 = indep ? hp[7] : 0, h8 = indep ? hp[8] : 0, h9 = indep ? hp[9] : 0;
        const uint64_t h10 = indep ? hp[10] : 0, h11 = indep ? hp[11] : 0;
        const __m128i one = cur ? _mm_set_epi32(1, 0, 1, 0) : _mm_set_epi32(0, 1, 0, 1);
        const uint32_t th32 = th < 0xFFFFFFFFu ? (uint32_t)th : 0xFFFFFFFFu;
        const uint64_t *end = keys + n;
        for (; keys != end; keys++, out++) {
            double *q0, *q1, *q2, *q3;
            if (indep) {
                uint64_t x = *keys, xh = x >> 32, xl = (uint32_t)x;
                q0 = (double *)(b0 + 2 * (((h0 + xh) * (h1 + xl) + h2) >> sh));
                q1 = (double *)(b1 + 2 * (((h3 + xh) * (h4 + xl) + h5) >> sh));
                q2 = (double *)(b2 + 2 * (((h6 + xh) * (h7 + xl) + h8) >> sh));
                q3 = (double *)(b3 + 2 * (((h9 + xh) * (h10 + xl) + h11) >> sh));
            } else {
                uint64_t H = pfo_cm_h128(h0, h1, h2, h3, *keys);
                q0 = (double *)(b0 + 2 * (H & mask)); q1 = (double *)(b1 + 2 * ((H >> 16) & mask));
                q2 = (double *)(b2 + 2 * ((H >> 32) & mask)); q3 = (double *)(b3 + 2 * ((H >> 48) & mask));
            }
            *out = pfo_cm_step4_sse41(q0, q1, q2, q3, cons, one) >= th32;
        }
    }
    PFO_SSE41 static void pfo_cm_loop4_sse41_cons(
            uint32_t *cells, const uint64_t *hp, unsigned lw, unsigned cur,
            uint64_t th, const uint64_t *keys, Py_ssize_t n, uint8_t *out) {
        pfo_cm_loop4_sse41(cells, hp, 1, 0, lw, cur, th, keys, n, out);
    }
    PFO_SSE41 static void pfo_cm_loop4_sse41_plain(
            uint32_t *cells, const uint64_t *hp, unsigned lw, unsigned cur,
            uint64_t th, const uint64_t *keys, Py_ssize_t n, uint8_t *out) {
        pfo_cm_loop4_sse41(cells, hp, 0, 0, lw, cur, th, keys, n, out);
    }
    /* The same loop with a per-row hash (row_hashes="independent", or
       width > 2**16): four pair-multiply-shifts instead of one 128-bit
       multiply-add-shift.  Where the CPU has BMI2 (pfo_cm_simd == 2) the
       copy built with it runs: its shrx shifts by a variable count in one
       uop (shr by %cl takes two or three) and frees %rcx; about 8 %
       more packets per second. */
    PFO_SSE41 static void pfo_cm_loop4i_sse41(
            uint32_t *cells, const uint64_t *hp, int cons, unsigned lw, unsigned cur,
            uint64_t th, const uint64_t *keys, Py_ssize_t n, uint8_t *out) {
        if (cons)
            pfo_cm_loop4_sse41(cells, hp, 1, 1, lw, cur, th, keys, n, out);
        else
            pfo_cm_loop4_sse41(cells, hp, 0, 1, lw, cur, th, keys, n, out);
    }
    __attribute__((target("sse4.1,bmi2"))) static void pfo_cm_loop4i_sse41_bmi2(
            uint32_t *cells, const uint64_t *hp, int cons, unsigned lw, unsigned cur,
            uint64_t th, const uint64_t *keys, Py_ssize_t n, uint8_t *out) {
        if (cons)
            pfo_cm_loop4_sse41(cells, hp, 1, 1, lw, cur, th, keys, n, out);
        else
            pfo_cm_loop4_sse41(cells, hp, 0, 1, lw, cur, th, keys, n, out);
    }
    /* One packet of amount a in the same registers (the per-packet path),
       same precondition: the window totals, this packet included, stay
       below 2**32 - 1.  `av` has a in the current-window lanes; the
       conservative step max(x, min + av) is the scalar max(v, m + a).
       Returns the estimate. */
    PFO_SSE41 static inline __attribute__((always_inline)) uint32_t pfo_cm_one4_sse41_body(
            uint32_t *cells, const uint64_t *hp, int cons, int indep, unsigned lw, unsigned cur,
            uint64_t key, uint32_t a) {
        uint64_t w2 = (uint64_t)2 << lw, mask = ((uint64_t)1 << lw) - 1;
        double *q0, *q1, *q2, *q3;
        if (indep) {
            unsigned sh = 64 - lw;
            q0 = (double *)(cells + 2 * pfo_cm_col(hp, key, sh));
            q1 = (double *)(cells + w2 + 2 * pfo_cm_col(hp + 3, key, sh));
            q2 = (double *)(cells + 2 * w2 + 2 * pfo_cm_col(hp + 6, key, sh));
            q3 = (double *)(cells + 3 * w2 + 2 * pfo_cm_col(hp + 9, key, sh));
        } else {
            uint64_t H = pfo_cm_h128(hp[0], hp[1], hp[2], hp[3], key);
            q0 = (double *)(cells + 2 * (H & mask));
            q1 = (double *)(cells + w2 + 2 * ((H >> 16) & mask));
            q2 = (double *)(cells + 2 * w2 + 2 * ((H >> 32) & mask));
            q3 = (double *)(cells + 3 * w2 + 2 * ((H >> 48) & mask));
        }
        const __m128i av = cur ? _mm_set_epi32((int)a, 0, (int)a, 0)
                               : _mm_set_epi32(0, (int)a, 0, (int)a);
        return pfo_cm_step4_sse41(q0, q1, q2, q3, cons, av);
    }
    PFO_SSE41 static uint32_t pfo_cm_one4_sse41(
            uint32_t *cells, const uint64_t *hp, int cons, unsigned lw, unsigned cur,
            uint64_t key, uint32_t a) {
        return pfo_cm_one4_sse41_body(cells, hp, cons, 0, lw, cur, key, a);
    }
    PFO_SSE41 static uint32_t pfo_cm_one4i_sse41(
            uint32_t *cells, const uint64_t *hp, int cons, unsigned lw, unsigned cur,
            uint64_t key, uint32_t a) {
        return pfo_cm_one4_sse41_body(cells, hp, cons, 1, lw, cur, key, a);
    }
    #endif
    /* Whether the depth-4 burst loop and per-packet body may use SIMD: -1
       until the CPU is asked, then 0 (no), 1 (SSE4.1) or 2 (SSE4.1 and
       BMI2); tests lower it (_simd_loops) to check the portable code and
       the SSE4.1-only copies on the same machine. */
    static int pfo_cm_simd = -1;
    static inline int pfo_cm_have_sse41(void) {
    #ifdef PFO_CM_SSE41
        if (pfo_cm_simd < 0)
            pfo_cm_simd = !__builtin_cpu_supports("sse4.1") ? 0
                        : __builtin_cpu_supports("bmi2") ? 2 : 1;
        return pfo_cm_simd;
    #else
        return 0;
    #endif
    }
    /* One packet (the per-packet paths): no block, same arithmetic as
       pfo_cm_loop with saturation.  Returns the estimate after counting. */
    PFO_ALWAYS_INLINE uint64_t pfo_cm_one_d(
            uint32_t *cells, const uint64_t *hp, unsigned depth, unsigned fb, int cons,
            unsigned lw, unsigned sh, unsigned cur, uint64_t key, uint64_t amount) {
        uint32_t *p[16];
        uint32_t vals[16];
        unsigned prv = cur ^ 1u, r;
        uint32_t a = amount < 0xFFFFFFFFu ? (uint32_t)amount : 0xFFFFFFFFu, c, m = 0xFFFFFFFFu, v;
        uint64_t est = UINT64_MAX, e, H = pfo_cm_fused(hp, fb, key);
        for (r = 0; r < depth; r++) {
            p[r] = cells + ((((uint64_t)r << lw) + pfo_cm_colr(hp, fb, lw, sh, H, key, r)) << 1);
            vals[r] = p[r][cur];
            m = vals[r] < m ? vals[r] : m;
        }
        c = m + a;
        c = c < a ? 0xFFFFFFFFu : c;
        for (r = 0; r < depth; r++) {
            if (cons) {
                v = vals[r] < c ? c : vals[r];
            } else {
                v = vals[r] + a;
                v = v < a ? 0xFFFFFFFFu : v;
            }
            p[r][cur] = v;
            e = (uint64_t)v + p[r][prv];
            est = e < est ? e : est;
        }
        return est;
    }
    static uint64_t pfo_cm_one(
            uint32_t *cells, const uint64_t *hp, unsigned depth, unsigned fb, int cons,
            unsigned lw, unsigned sh, unsigned cur, uint64_t key, uint64_t amount) {
        return cons ? pfo_cm_one_d(cells, hp, depth, fb, 1, lw, sh, cur, key, amount)
                    : pfo_cm_one_d(cells, hp, depth, fb, 0, lw, sh, cur, key, amount);
    }
    /* pfo_cm_one for depth 4, inlined into the caller (the per-packet
       Python path: no call, constant depth and stride).  fb: 16 (fused
       hash) or 0 (per-row hashes), a constant at every call. */
    PFO_ALWAYS_INLINE uint64_t pfo_cm_one4(
            uint32_t *cells, const uint64_t *hp, unsigned fb, int cons, unsigned lw,
            unsigned sh, unsigned cur, uint64_t key, uint64_t amount) {
        return cons ? pfo_cm_one_d(cells, hp, 4, fb, 1, lw, sh, cur, key, amount)
                    : pfo_cm_one_d(cells, hp, 4, fb, 0, lw, sh, cur, key, amount);
    }
    /* Depth-4 per-packet count: the SIMD body when the totals (already
       including this packet) rule out 32-bit overflow, else pfo_cm_one4. */
    PFO_ALWAYS_INLINE uint64_t pfo_cm_one4_any(
            uint32_t *cells, const uint64_t *hp, unsigned fb, int cons, unsigned lw,
            unsigned sh, unsigned cur, uint64_t key, uint64_t amount, uint64_t t0, uint64_t t1) {
    #ifdef PFO_CM_SSE41
        if (t0 < 0xFFFFFFFFu && t1 < 0xFFFFFFFFu && t0 + t1 < 0xFFFFFFFFu && pfo_cm_have_sse41())
            return fb ? pfo_cm_one4_sse41(cells, hp, cons, lw, cur, key, (uint32_t)amount)
                      : pfo_cm_one4i_sse41(cells, hp, cons, lw, cur, key, (uint32_t)amount);
    #endif
        return pfo_cm_one4(cells, hp, fb, cons, lw, sh, cur, key, amount);
    }
    /* Estimate of key over both windows (no counting). */
    static uint64_t pfo_cm_est(const uint32_t *cells, const uint64_t *hp, unsigned depth,
                               unsigned fb, unsigned lw, unsigned sh, uint64_t key) {
        uint64_t est = UINT64_MAX, e, H = pfo_cm_fused(hp, fb, key);
        const uint32_t *p;
        unsigned r;
        for (r = 0; r < depth; r++) {
            p = cells + ((((uint64_t)r << lw) + pfo_cm_colr(hp, fb, lw, sh, H, key, r)) << 1);
            e = (uint64_t)p[0] + p[1];
            est = e < est ? e : est;
        }
        return est;
    }
    /* Depth 4 (the common case) gets its own copies, for each hash scheme
       (fb 16: fused, fb 0: per-row; a constant): the SIMD loop or
       pfo_cm_loop4 for unit amounts that cannot overflow any counter, and
       constant depth/stride copies of pfo_cm_loop otherwise. */
    PFO_ALWAYS_INLINE uint64_t pfo_cm_kernel4(
            uint32_t *cells, const uint64_t *hp, unsigned fb, int cons, int sat,
            int narrow, unsigned lw, unsigned sh, unsigned cur, uint64_t th, const uint64_t *keys,
            const uint64_t *amounts, Py_ssize_t n, uint8_t *out, uint64_t *last_est) {
        const int indep = fb == 0;
    #ifdef PFO_CM_SSE41
        if (narrow && !amounts && !last_est && pfo_cm_have_sse41()) {
            if (indep) {
                if (pfo_cm_simd == 2)
                    pfo_cm_loop4i_sse41_bmi2(cells, hp, cons, lw, cur, th, keys, n, out);
                else
                    pfo_cm_loop4i_sse41(cells, hp, cons, lw, cur, th, keys, n, out);
            } else if (cons) {
                pfo_cm_loop4_sse41_cons(cells, hp, lw, cur, th, keys, n, out);
            } else {
                pfo_cm_loop4_sse41_plain(cells, hp, lw, cur, th, keys, n, out);
            }
            return (uint64_t)n;
        }
    #endif
        if (!sat && !amounts) {
            if (cons)
                return cur ? pfo_cm_loop4(cells, hp, 1, indep, lw, 1, th, keys, n, out, last_est)
                           : pfo_cm_loop4(cells, hp, 1, indep, lw, 0, th, keys, n, out, last_est);
            return cur ? pfo_cm_loop4(cells, hp, 0, indep, lw, 1, th, keys, n, out, last_est)
                       : pfo_cm_loop4(cells, hp, 0, indep, lw, 0, th, keys, n, out, last_est);
        }
        if (cons)
            return pfo_cm_loop(cells, hp, 4, fb, 1, 1, lw, sh, cur, th, keys, amounts, n, out, last_est);
        return pfo_cm_loop(cells, hp, 4, fb, 0, 1, lw, sh, cur, th, keys, amounts, n, out, last_est);
    }
    static uint64_t pfo_cm_kernel(
            uint32_t *cells, const uint64_t *hp, unsigned depth, unsigned fb, int cons, int sat,
            int narrow, unsigned lw, unsigned sh, unsigned cur, uint64_t th, const uint64_t *keys,
            const uint64_t *amounts, Py_ssize_t n, uint8_t *out, uint64_t *last_est) {
        if (depth == 4 && fb == 16)
            return pfo_cm_kernel4(cells, hp, 16, cons, sat, narrow, lw, sh, cur, th, keys,
                                  amounts, n, out, last_est);
        if (depth == 4 && fb == 0)
            return pfo_cm_kernel4(cells, hp, 0, cons, sat, narrow, lw, sh, cur, th, keys,
                                  amounts, n, out, last_est);
        if (cons)
            return pfo_cm_loop(cells, hp, depth, fb, 1, 1, lw, sh, cur, th, keys, amounts, n, out, last_est);
        return pfo_cm_loop(cells, hp, depth, fb, 0, 1, lw, sh, cur, th, keys, amounts, n, out, last_est);
    }
    """
    int pfo_cm_simd
    int pfo_cm_have_sse41() noexcept nogil
    object pfo_bool(bint b)
    uint64_t pfo_splitmix64(uint64_t* state) noexcept nogil
    uint64_t pfo_cm_kernel(uint32_t* cells, const uint64_t* hp, unsigned depth, unsigned fb,
                           int cons, int sat, int narrow, unsigned lw, unsigned sh, unsigned cur,
                           uint64_t th, const uint64_t* keys, const uint64_t* amounts,
                           Py_ssize_t n, uint8_t* out, uint64_t* last_est) noexcept nogil
    uint64_t pfo_cm_one(uint32_t* cells, const uint64_t* hp, unsigned depth, unsigned fb,
                        int cons, unsigned lw, unsigned sh, unsigned cur, uint64_t key,
                        uint64_t amount) noexcept nogil
    uint64_t pfo_cm_one4(uint32_t* cells, const uint64_t* hp, unsigned fb, int cons,
                         unsigned lw, unsigned sh, unsigned cur, uint64_t key,
                         uint64_t amount) noexcept nogil
    uint64_t pfo_cm_one4_any(uint32_t* cells, const uint64_t* hp, unsigned fb, int cons,
                             unsigned lw, unsigned sh, unsigned cur, uint64_t key,
                             uint64_t amount, uint64_t t0, uint64_t t1) noexcept nogil
    uint64_t pfo_cm_est(const uint32_t* cells, const uint64_t* hp, unsigned depth,
                        unsigned fb, unsigned lw, unsigned sh, uint64_t key) noexcept nogil

cdef enum:
    _MAX_TAGS = 1 << 24
    _MAX_CAPACITY = 1 << 24
    _MAX_WIDTH = 1 << 24

_U64_MAX = (1 << 64) - 1
_ROW_HASHES = {"fused": "fused", "independent": "independent"}
_MAX_NS = (1 << 63) - 1
_MAX_WINDOW_NS = 1 << 62


# ---------------------------------------------------------------------------
# pfo_ktab_t: uint64 key -> int32 value, linear probing, backward-shift delete
# ---------------------------------------------------------------------------

cdef int _ktab_alloc(pfo_ktab_t* t, uint32_t max_keys) except -1:
    # Size: the smallest power of two >= 2 * max(max_keys, 1), so load <= 1/2.
    cdef uint64_t size = 2
    while size < 2 * <uint64_t>max_keys:
        size <<= 1
    t.keys = <uint64_t*>calloc(size, sizeof(uint64_t))
    t.vals = <int32_t*>calloc(size, sizeof(int32_t))
    if t.keys is NULL or t.vals is NULL:
        _ktab_free(t)
        raise MemoryError(f"cannot allocate a key table of {size} slots")
    t.mask = <uint32_t>(size - 1)
    _ktab_clear(t)
    return 0


cdef void _ktab_free(pfo_ktab_t* t) noexcept nogil:
    free(t.keys)
    free(t.vals)
    t.keys = NULL
    t.vals = NULL
    t.count = 0


cdef void _ktab_clear(pfo_ktab_t* t) noexcept nogil:
    # -1 in every byte is -1 as int32: every slot empty.
    if t.vals is not NULL:
        memset(t.vals, 0xFF, (<size_t>t.mask + 1) * sizeof(int32_t))
    t.count = 0


cdef inline uint32_t _ktab_find(const pfo_ktab_t* t, uint64_t key) noexcept nogil:
    # Slot holding `key`, or the empty slot that ends its probe chain.
    cdef uint32_t i = <uint32_t>pfo_fmix64(key) & t.mask
    while t.vals[i] >= 0 and t.keys[i] != key:
        i = (i + 1) & t.mask
    return i


cdef inline int32_t _ktab_get(const pfo_ktab_t* t, uint64_t key) noexcept nogil:
    return t.vals[_ktab_find(t, key)]


cdef inline void _ktab_put(pfo_ktab_t* t, uint64_t key, int32_t val) noexcept nogil:
    # Precondition: the key is present, or the table holds fewer keys than planned.
    cdef uint32_t i = _ktab_find(t, key)
    if t.vals[i] < 0:
        t.count += 1
        t.keys[i] = key
    t.vals[i] = val


cdef bint _ktab_del(pfo_ktab_t* t, uint64_t key) noexcept nogil:
    # Remove key; returns whether it was present.  Backward-shift deletion: each
    # later entry of the run moves into the hole unless its home slot lies
    # cyclically in (hole, entry], so every remaining key stays reachable.
    cdef uint32_t i = _ktab_find(t, key), j, home
    if t.vals[i] < 0:
        return False
    j = i
    while True:
        j = (j + 1) & t.mask
        if t.vals[j] < 0:
            break
        home = <uint32_t>pfo_fmix64(t.keys[j]) & t.mask
        if ((j - home) & t.mask) >= ((j - i) & t.mask):
            # home is at or before the hole: move the entry into the hole
            t.keys[i] = t.keys[j]
            t.vals[i] = t.vals[j]
            i = j
    t.vals[i] = -1
    t.count -= 1
    return True


# ---------------------------------------------------------------------------
# Input checks shared by the Python methods
# ---------------------------------------------------------------------------

def _simd_loops(enabled=None, *, bmi2=True):
    """Test hook: whether Count-Min may use its SIMD code (None: just ask).

    Covers the depth-4 burst loop and per-packet body.  Returns the previous
    setting.  ``False`` forces the portable code, so tests can compare both
    on one machine; ``True`` enables the SIMD code only if the CPU has it,
    and with ``bmi2=False`` only its SSE4.1 copies (not the per-row-hash
    loop built for BMI2).  Not thread-safe; not public API.
    """
    global pfo_cm_simd
    cdef int before = pfo_cm_have_sse41()
    if enabled is not None:
        pfo_cm_simd = -1
        if not enabled or not pfo_cm_have_sse41():
            pfo_cm_simd = 0
        elif not bmi2 and pfo_cm_simd > 1:
            pfo_cm_simd = 1
    return bool(before)


cdef inline uint64_t _key(object key) except? 0:
    return pfo_key("key", key)


cdef inline int _ready(ElephantDetector d) except -1:
    # The first check of every method that touches the detector's memory:
    # busy == 0 is the one compare of the success path.  Burst calls release
    # the GIL, and a second thread must not use the same detector meanwhile (no
    # locks on the hot path: one detector per thread); busy == -1 until an
    # __init__ has completed (Cls.__new__(Cls), a subclass that skips
    # super().__init__, or an __init__ that raised).
    if d.busy == 0:
        return 0
    if d.busy < 0:
        return pfo_raise_uninit(d)
    return pfo_raise_busy(d)


cdef inline int _reinit(ElephantDetector d) except -1:
    # __init__ may run again on a detector, but not during its burst.  An
    # __init__ checks every argument first (an error leaves the detector as it
    # was), then sets busy = -1 while it (re)allocates and 0 when done.
    if d.busy > 0:
        pfo_raise_busy(d)
    return 0


cdef inline pfo_ns_t _time(ElephantDetector d, object now_ns) except? -1:
    cdef pfo_ns_t t = pfo_time("now_ns", now_ns)
    pfo_not_backwards("now_ns", t, d.last_ns)
    return t


cdef object _u64 = np.dtype(np.uint64)
cdef object _i64 = np.dtype(np.int64)
cdef object _bool = np.dtype(np.bool_)
cdef object _ndarray = np.ndarray


cdef inline uint64_t _sat_add64(uint64_t a, uint64_t b) noexcept nogil:
    cdef uint64_t s = a + b
    return s if s >= a else UINT64_MAX


cdef class ElephantDetector:
    """Manual elephant tags, and the base class of every detector.

    On its own it is the tags-only detector: a key is an elephant exactly when
    an operator forced it on.  :class:`CountMinDetector` and
    :class:`ThresholdDetector` add a measured count; a forced setting overrides
    what they measure.

    Parameters
    ----------
    max_tags : int, default 1024
        Most keys that can be forced at once, 0 to 2**24.  The tag table has
        fixed memory (12 bytes per slot, ``2 * max_tags`` rounded up to a power
        of two slots).

    Raises
    ------
    TypeError
        If ``max_tags`` is not an integer.
    ValueError
        If ``max_tags`` is out of range.

    Notes
    -----
    A tag lookup costs nothing while no key is forced, and one hash probe
    otherwise.  Objects are not thread-safe; the ``nogil`` Cython API is
    documented in ``detectors.pxd``.

    Examples
    --------
    >>> from paraflowo import ElephantDetector
    >>> tags = ElephantDetector(max_tags=4)
    >>> tags.update(7, now_ns=0)
    False
    >>> tags.force(7, True)
    >>> tags.update(7, now_ns=10), tags.forced(7), tags.forced(8)
    (True, True, None)
    >>> tags.unforce(7)
    True
    """

    def __cinit__(self, *args, **kwargs):
        self.last_ns = -1
        self.busy = -1      # not initialised until an __init__ completes

    def __init__(self, *, max_tags=1024):
        _reinit(self)
        m = require_int("max_tags", max_tags, 0, _MAX_TAGS)
        self.busy = -1
        self._init_tags(m)
        self.busy = 0

    cdef int _init_tags(self, uint32_t max_tags) except -1:
        _ktab_free(&self.tags)
        _ktab_alloc(&self.tags, max_tags)
        self.max_tags = max_tags
        self.last_ns = -1
        return 0

    def __dealloc__(self):
        _ktab_free(&self.tags)

    def __repr__(self):
        return f"ElephantDetector(max_tags={self.max_tags})"

    # -- virtual core -------------------------------------------------------

    cdef bint c_update(self, uint64_t key, pfo_ns_t now_ns, uint64_t amount) noexcept nogil:
        if now_ns > self.last_ns:
            self.last_ns = now_ns
        return self.tags.count != 0 and _ktab_get(&self.tags, key) == PFO_TAG_ON

    cdef uint64_t c_estimate(self, uint64_t key) noexcept nogil:
        return 0

    cdef void c_advance(self, pfo_ns_t now_ns) noexcept nogil:
        if now_ns > self.last_ns:
            self.last_ns = now_ns

    cdef void c_update_burst(self, const uint64_t* keys, const pfo_ns_t* now_ns,
                             Py_ssize_t now_step, const uint64_t* amounts,
                             uint8_t* out, Py_ssize_t n) noexcept nogil:
        cdef Py_ssize_t i
        if amounts is NULL:
            for i in range(n):
                out[i] = self.c_update(keys[i], now_ns[i * now_step], 1)
        else:
            for i in range(n):
                out[i] = self.c_update(keys[i], now_ns[i * now_step], amounts[i])

    cdef int c_forced(self, uint64_t key) noexcept nogil:
        cdef int32_t v
        if self.tags.count == 0:
            return PFO_TAG_NONE
        v = _ktab_get(&self.tags, key)
        return PFO_TAG_NONE if v < 0 else v

    # -- tags ----------------------------------------------------------------

    def force(self, key, on):
        """Force ``key`` to be an elephant (``on=True``) or not (``on=False``).

        Overrides the detector for this key until :meth:`unforce`.  Forcing a
        key that is already forced changes its setting.

        Raises
        ------
        TypeError
            If ``key`` is not an integer or ``on`` is not a bool.
        ValueError
            If ``key`` is outside ``[0, 2**64 - 1]``, or the tag table already
            holds ``max_tags`` keys and ``key`` is not one of them (nothing is
            changed: unforce a key or build the detector with a larger
            ``max_tags``).
        """
        _ready(self)
        cdef uint64_t k = _key(key)
        if not isinstance(on, (bool, np.bool_)):
            raise TypeError(f"on must be a bool, got {on!r}")
        if _ktab_get(&self.tags, k) < 0 and self.tags.count >= self.max_tags:
            raise ValueError(
                f"tag table is full: max_tags={self.max_tags} keys are already forced; "
                f"unforce one or use a larger max_tags, got key {k}")
        _ktab_put(&self.tags, k, PFO_TAG_ON if on else PFO_TAG_OFF)

    def unforce(self, key):
        """Remove the forced setting of ``key``; return whether it had one.

        Raises
        ------
        TypeError, ValueError
            If ``key`` is not an integer in ``[0, 2**64 - 1]``.
        """
        _ready(self)
        return _ktab_del(&self.tags, _key(key))

    def forced(self, key):
        """The forced setting of ``key``: True, False, or None when not forced.

        Raises
        ------
        TypeError, ValueError
            If ``key`` is not an integer in ``[0, 2**64 - 1]``.
        """
        _ready(self)
        cdef int32_t v = _ktab_get(&self.tags, _key(key))
        return None if v < 0 else v == PFO_TAG_ON

    def clear_tags(self):
        """Remove every forced setting."""
        _ready(self)
        _ktab_clear(&self.tags)

    @property
    def n_forced(self):
        """Number of keys currently forced on or off."""
        return self.tags.count

    # -- Python API ------------------------------------------------------------

    # A plain method descriptor (binding=False) is called with less overhead
    # than a cyfunction; the clinic-style signature keeps inspect.signature.
    @cython.binding(False)
    @cython.embedsignature.format("clinic")
    def update(self, key, now_ns, amount=1):
        """Count ``amount`` for ``key`` at ``now_ns``; return whether it is an elephant.

        Parameters
        ----------
        key : int
            Flow key in ``[0, 2**64 - 1]`` (a hash of the 5-tuple, for example).
        now_ns : int
            Current time in ns, ``>= 0`` and never below the last time seen.
        amount : int, default 1
            What to count: 1 per packet, or the packet's length in bytes;
            ``[0, 2**64 - 1]``.

        Returns
        -------
        bool
            True if the flow is an elephant now: its estimate over the current
            and previous window is at least ``threshold``, unless a forced tag
            says otherwise.

        Raises
        ------
        TypeError
            If an argument is not an integer.
        ValueError
            If ``key`` or ``amount`` is outside ``[0, 2**64 - 1]``, ``now_ns``
            is negative or earlier than the last time seen.  Nothing is counted.
        """
        _ready(self)
        cdef uint64_t k = _key(key)
        cdef pfo_ns_t t = pfo_time("now_ns", now_ns)
        cdef uint64_t a = pfo_uint("amount", amount, 0, PFO_UINT64_MAX)
        pfo_not_backwards("now_ns", t, self.last_ns)
        return pfo_bool(self.c_update(k, t, a))

    def estimate(self, key):
        """Estimated amount of ``key`` over the current and previous window.

        The estimate is as of the last update or :meth:`advance`; call
        :meth:`advance` first to let time pass without counting.

        Raises
        ------
        TypeError, ValueError
            If ``key`` is not an integer in ``[0, 2**64 - 1]``.
        """
        _ready(self)
        return self.c_estimate(_key(key))

    def estimate_burst(self, keys, out=None):
        """:meth:`estimate` of each key of a ``uint64`` array (no time passes).

        Parameters
        ----------
        keys : numpy.ndarray
            1-D C-contiguous ``uint64`` flow keys.
        out : numpy.ndarray, optional
            1-D C-contiguous ``uint64`` array of the same length to write into.

        Returns
        -------
        numpy.ndarray
            ``uint64`` estimates (``out`` if given).

        Raises
        ------
        TypeError, ValueError
            As :meth:`update_burst`, for ``keys`` and ``out``.
        """
        _ready(self)
        cdef Py_buffer kb, ob
        cdef Py_ssize_t i, n
        cdef const uint64_t* kp
        cdef uint64_t* op
        ob.shape = NULL
        pfo_bind(&kb, keys, "keys", _u64, 0)
        try:
            n = pfo_len(&kb)
            if out is None:
                out = np.empty(n, dtype=np.uint64)
            pfo_bind(&ob, out, "out", _u64, PFO_WRITABLE)
            pfo_check_len("out", pfo_len(&ob), n, n)
            kp = <const uint64_t*>kb.buf
            op = <uint64_t*>ob.buf
            pfo_enter(&self.busy, self)
            try:
                with nogil:
                    for i in range(n):
                        op[i] = self.c_estimate(kp[i])
            finally:
                pfo_leave(&self.busy)
        finally:
            pfo_release(&kb)
            pfo_release(&ob)
        return out

    def advance(self, now_ns):
        """Let time pass to ``now_ns`` without counting (ages out old windows).

        Raises
        ------
        TypeError, ValueError
            If ``now_ns`` is not an integer, is negative, or is earlier than
            the last time seen.
        """
        _ready(self)
        self.c_advance(_time(self, now_ns))

    def update_burst(self, keys, now_ns, amounts=None, out=None):
        """Count a burst of packets; return the elephant flag of each.

        Identical, packet by packet, to calling :meth:`update` in order.

        Parameters
        ----------
        keys : numpy.ndarray
            1-D C-contiguous ``uint64`` flow keys.
        now_ns : int or numpy.ndarray
            One time for the whole burst, or a 1-D C-contiguous ``int64`` array
            of per-packet times (nondecreasing, the first not below the last
            time seen).
        amounts : numpy.ndarray, optional
            1-D C-contiguous ``uint64`` amounts; 1 per packet when omitted.
        out : numpy.ndarray, optional
            1-D C-contiguous ``bool`` array of the same length to write into.

        Returns
        -------
        numpy.ndarray
            ``bool`` elephant flags (``out`` if given).

        Raises
        ------
        TypeError
            If an array is not a numpy array of the stated dtype, or a scalar
            ``now_ns`` is not an integer.
        ValueError
            Arrays not 1-D and C-contiguous, of different lengths, or times that
            are negative, decrease, or start below the last time seen.  Nothing
            is counted.
        RuntimeError
            If another thread is running a burst on this detector.

        Notes
        -----
        Runs without the GIL; meanwhile, calls that change this detector from
        other threads raise :class:`RuntimeError` (give each thread its own).  With one ``now_ns`` for the burst, windows
        rotate once per burst; with per-packet times, one comparison per packet.
        """
        _ready(self)
        cdef Py_buffer kb, tb, ab, ob
        cdef Py_ssize_t n, bad, step = 0
        cdef pfo_ns_t t0
        cdef const pfo_ns_t* tp = &t0
        tb.shape = ab.shape = ob.shape = NULL
        pfo_bind(&kb, keys, "keys", _u64, 0)
        try:
            n = pfo_len(&kb)
            if isinstance(now_ns, _ndarray):
                pfo_bind(&tb, now_ns, "now_ns", _i64, 0)
                pfo_check_len("now_ns", pfo_len(&tb), n, n)
                tp = <const pfo_ns_t*>tb.buf
                step = 1
                t0 = self.last_ns if self.last_ns > 0 else 0
                with nogil:
                    bad = pfo_ns_first_backwards(tp, n, t0)
                if bad >= 0:
                    if tp[bad] < 0:
                        raise ValueError(f"now_ns must be >= 0, got now_ns[{bad}] = {tp[bad]}")
                    pfo_raise_backwards("now_ns", tp[bad],
                                        self.last_ns if bad == 0 else tp[bad - 1], bad)
            else:
                t0 = _time(self, now_ns)
            pfo_bind(&ab, amounts, "amounts", _u64, PFO_OPTIONAL)
            if pfo_bound(&ab):
                pfo_check_len("amounts", pfo_len(&ab), n, n)
            if out is None:
                out = np.empty(n, dtype=np.bool_)
            pfo_bind(&ob, out, "out", _bool, PFO_WRITABLE)
            pfo_check_len("out", pfo_len(&ob), n, n)
            if n == 0:
                if step == 0:
                    self.c_advance(t0)
                return out
            pfo_enter(&self.busy, self)
            try:
                with nogil:
                    self.c_update_burst(<const uint64_t*>kb.buf, tp, step,
                                        <const uint64_t*>ab.buf, <uint8_t*>ob.buf, n)
            finally:
                pfo_leave(&self.busy)
            return out
        finally:
            pfo_release(&kb)
            pfo_release(&tb)
            pfo_release(&ab)
            pfo_release(&ob)


cdef inline bint _tag_override(ElephantDetector d, uint64_t key, bint measured) noexcept nogil:
    cdef int32_t v
    if d.tags.count == 0:
        return measured
    v = _ktab_get(&d.tags, key)
    return measured if v < 0 else v == PFO_TAG_ON


# ---------------------------------------------------------------------------
# Count-Min
# ---------------------------------------------------------------------------

cdef void _cm_advance(CountMinDetector d, pfo_ns_t now_ns) noexcept nogil:
    # Rotate to the window holding now_ns: windows are [k*W, (k+1)*W).  If
    # now_ns is in the next window, the current becomes the previous and the
    # old previous is cleared; if it is two or more windows ahead, both clear.
    cdef uint64_t start, i, ncells
    cdef uint32_t* c
    if now_ns > d.last_ns:
        d.last_ns = now_ns
    if now_ns < 0 or <uint64_t>now_ns < d.win_end:
        return
    start = <uint64_t>(now_ns - now_ns % d.window_ns)
    ncells = <uint64_t>d.width * d.depth
    if start == d.win_end:
        d.cur ^= 1
        c = d.cells + d.cur
        for i in range(ncells):
            c[2 * i] = 0
    else:
        memset(d.cells, 0, ncells * 2 * sizeof(uint32_t))
        d.totals[d.cur ^ 1] = 0
    d.totals[d.cur] = 0
    d.win_end = start + <uint64_t>d.window_ns


cdef inline uint64_t _cm_count(CountMinDetector d, uint64_t key, uint64_t amount) noexcept nogil:
    # Count amount for key in the current window (per packet); return the
    # estimate over both windows, min over rows of (current + previous).
    d.totals[d.cur] = _sat_add64(d.totals[d.cur], amount)
    return pfo_cm_one(d.cells, <const uint64_t*>d.hashes, d.depth, d.field_bits,
                      d.conservative, d.log2_width, d.shift, d.cur, key, amount)


cdef inline uint64_t _cm_kernel(CountMinDetector d, const uint64_t* keys,
                                const uint64_t* amounts, Py_ssize_t n, uint8_t* out,
                                uint64_t* last_est) noexcept nogil:
    # Count keys[i] (amounts[i], or 1 if amounts is NULL) for i < n in the
    # current window; out[i] = estimate >= threshold (if out is not NULL);
    # *last_est = estimate of the last key (if last_est is not NULL).
    # Returns the amount counted (saturating).  The time is the caller's.
    # Unit amounts cannot overflow a counter while the window total stays
    # below 2**32 - 1 (no counter exceeds its window's total).
    # Narrow: no estimate (current + previous counter, each at most its
    # window's total) can reach 2**32 - 1 in this call, so the depth-4 SIMD
    # loop may sum and compare in 32 bits.
    cdef int sat = amounts is not NULL or d.totals[d.cur] + <uint64_t>n >= UINT32_MAX
    cdef int narrow = (amounts is NULL and d.totals[0] < UINT32_MAX and d.totals[1] < UINT32_MAX
                       and d.totals[0] + d.totals[1] + <uint64_t>n < UINT32_MAX)
    return pfo_cm_kernel(d.cells, <const uint64_t*>d.hashes, d.depth, d.field_bits,
                         d.conservative, sat, narrow,
                         d.log2_width, d.shift, d.cur, d.threshold, keys, amounts, n,
                         out, last_est)


cdef class CountMinDetector(ElephantDetector):
    """Windowed Count-Min sketch over 64-bit flow keys: is this flow an elephant?

    Parameters
    ----------
    width : int
        Counters per row, a power of two in [2, 2**24].  The error per estimate
        is at most ``epsilon * N`` with ``epsilon = e / width``.
    depth : int
        Rows, 1 to 16.  The bound fails with probability at most
        ``delta = e**-depth`` (proven for independent row hashes; see
        ``row_hashes``).
    threshold : int
        A flow is an elephant while its estimate is at least this, 1 to 2**64 - 1
        (packets, or bytes if you pass lengths as ``amount``).
    window_ns : int
        Window length in ns, 1 to 2**62.  Windows are aligned:
        ``[k * window_ns, (k + 1) * window_ns)``.
    conservative : bool, default True
        Conservative update: raise only the counters that are at the minimum.
        Never less accurate than the plain update, usually much more.
    seed : int, default 0
        Seed of the row hashes, 0 to 2**64 - 1.  Same seed, same results.
    max_tags : int, default 1024
        Most keys that can be forced at once (see :class:`ElephantDetector`).
    row_hashes : {"fused", "independent"}, default "fused"
        ``"fused"``: one shared hash for all rows while
        ``depth * log2(width) <= 64`` (fastest), per-row hashes for larger
        sketches.  ``"independent"``: an independently drawn hash per row at
        every size, for which ``delta = e**-depth`` is proven.  See
        **Hashes**.  Read back as the :attr:`row_hashes` attribute.

    Raises
    ------
    TypeError
        If an argument is not an integer (``conservative``: not a bool;
        ``row_hashes``: not a str).
    ValueError
        If ``width`` is not a power of two in range, another argument is out
        of range, or ``row_hashes`` is neither ``"fused"`` nor
        ``"independent"``.

    Notes
    -----
    **What is counted.**  Two sketches of ``depth x width`` 32-bit counters
    (saturating), one for the current window and one for the previous.
    :meth:`estimate` is ``min`` over rows of (current + previous counter), i.e.
    the Count-Min estimate of the key's amount over the two windows.  With
    ``N`` the amount counted in the two windows (:attr:`window_totals`) and
    ``f`` the key's true amount in them, ``f <= estimate`` always, and
    ``estimate <= f + epsilon * N`` with probability at least ``1 - delta``,
    ``epsilon = e / width``, ``delta = e**-depth`` (see **Hashes** for which
    part is proven for which ``row_hashes``).  Example: width 4096,
    depth 4, 1,000,000 packets in the two windows: epsilon * N = 664 packets,
    failing with probability e**-4 = 1.8 %.

    **Ageing.**  A flow that stops sending stops being an elephant within two
    windows: once time reaches the window after next, both sketches have been
    cleared of its packets.  A steady flow of rate ``R`` has an estimate
    between ``R * window_ns`` and ``2 * R * window_ns``.

    **Hashes.**  Two schemes, chosen with ``row_hashes``; both draw their
    parameters from a SplitMix64 stream seeded with ``seed``.

    *Per-row* (``"independent"``, and ``"fused"`` when
    ``depth * log2(width) > 64``): each row has its own pair-multiply-shift
    hash with independently drawn ``a0, a1, b``; row ``r`` maps the key's
    32-bit halves ``(x_hi, x_lo)`` to the top ``log2(width)`` bits of
    ``((a0 + x_hi) * (a1 + x_lo) + b) mod 2**64`` (strongly universal for
    widths up to ``2**33``).  The rows are independent draws, so the whole
    textbook bound is proven: ``epsilon = e / width`` with
    ``delta = e**-depth``.  One multiplication per row.

    *Fused* (``"fused"``, the default, when ``depth * log2(width) <= 64``:
    depth 4 up to width ``2**16``): one strongly universal hash serves all
    rows, ``H = ((A * x + B) mod 2**128) >> 64`` (multiply-add-shift) with
    ``A, B`` 128-bit, and row ``r`` takes the ``log2(width)``-bit field of
    ``H`` at bit ``r * (64 // depth)``.  Proven: each row on its own is
    strongly universal (two keys collide in it with probability exactly
    ``1 / width``, so each row exceeds ``f + epsilon * N`` with probability
    at most ``1/e``), and for every pair of keys the collisions in different
    rows are independent (``width**-depth`` in all rows) -- unlike one linear
    hash (a CRC) with different seeds, whose collisions repeat in every row.
    Not proven: the rows are fields of one draw, so the step that multiplies
    the rows' failure probabilities into ``delta = e**-depth`` is not covered;
    it is measured (failure rates stay below ``delta``; see the component
    docs).  Two multiplications per key for all rows.

    Speed, depth 4, width 4096, unit bursts (1 Mi packets, shared 2-core
    Xeon, mean / fastest round): fused about 240 / 250 Mpps conservative
    and 260 / 280 plain; independent about 190 / 205 and 215 / 220.  Per
    packet from Python both run at about 29 / 30 Mpps.  Where
    ``"fused"`` already uses per-row hashes, ``"independent"`` gives the
    same results.

    **Cost.**  ``8 * width * depth`` bytes of counters; per packet, one hash
    (or ``depth``) and one cache line per row.  Window rotation clears one
    sketch.

    Examples
    --------
    >>> import numpy as np
    >>> from paraflowo import CountMinDetector
    >>> det = CountMinDetector(width=1024, depth=4, threshold=3, window_ns=1000)
    >>> [det.update(42, now_ns=t) for t in (0, 10, 20)]
    [False, False, True]
    >>> det.estimate(42)
    3
    >>> det.advance(2000)            # two windows later: aged out
    >>> det.estimate(42)
    0
    >>> det.update_burst(np.array([5, 5, 5, 6], dtype=np.uint64), now_ns=2100)
    array([False, False,  True, False])
    """

    def __init__(self, width, depth, threshold, window_ns, conservative=True, seed=0,
                 *, max_tags=1024, row_hashes="fused"):
        _reinit(self)
        w = require_pow2("width", width, 2, _MAX_WIDTH)
        d = require_int("depth", depth, 1, PFO_CM_MAX_DEPTH)
        th = require_int("threshold", threshold, 1, _U64_MAX)
        win = require_int("window_ns", window_ns, 1, _MAX_WINDOW_NS)
        if not isinstance(conservative, (bool, np.bool_)):
            raise TypeError(f"conservative must be a bool, got {conservative!r}")
        s = require_int("seed", seed, 0, _U64_MAX)
        m = require_int("max_tags", max_tags, 0, _MAX_TAGS)
        if not isinstance(row_hashes, str):
            raise TypeError(f"row_hashes must be a str, got {row_hashes!r}")
        if row_hashes not in _ROW_HASHES:
            raise ValueError(
                f"row_hashes must be 'fused' or 'independent', got {row_hashes!r}")
        cells = <uint32_t*>calloc(<size_t>w * d * 2, sizeof(uint32_t))
        if cells is NULL:
            raise MemoryError(f"cannot allocate {8 * w * d} bytes of counters")
        self.busy = -1
        try:
            self._init_tags(m)
        except MemoryError:
            free(cells)
            raise
        free(self.cells)
        self.cells = cells
        self.width = w
        self.depth = d
        self.threshold = th
        self.window_ns = win
        self.conservative = bool(conservative)
        self.seed = s
        self.row_hashes = _ROW_HASHES[row_hashes]    # the interned name
        self.log2_width = w.bit_length() - 1
        self.shift = 64 - self.log2_width
        # fused hash when asked for and every row's field fits in the 64
        # output bits; per-row hashes otherwise (the parameters are drawn
        # the same way either way, so "independent" equals "fused" wherever
        # "fused" falls back to per-row hashes)
        self.field_bits = (64 // d if row_hashes == "fused" and d * self.log2_width <= 64
                           else 0)
        cdef uint64_t state = s
        cdef uint32_t r
        for r in range(PFO_CM_MAX_DEPTH):
            self.hashes[r].a0 = pfo_splitmix64(&state)
            self.hashes[r].a1 = pfo_splitmix64(&state)
            self.hashes[r].b = pfo_splitmix64(&state)
        self.cur = 0
        self.win_end = 0
        self.totals[0] = self.totals[1] = 0
        self.busy = 0

    def __dealloc__(self):
        free(self.cells)

    def __repr__(self):
        return (f"CountMinDetector(width={self.width}, depth={self.depth}, "
                f"threshold={self.threshold}, window_ns={self.window_ns}, "
                f"conservative={bool(self.conservative)}, seed={self.seed}, "
                f"row_hashes={self.row_hashes!r})")

    cdef bint c_update(self, uint64_t key, pfo_ns_t now_ns, uint64_t amount) noexcept nogil:
        cdef uint64_t est
        if <uint64_t>now_ns >= self.win_end:
            _cm_advance(self, now_ns)
        self.last_ns = now_ns if now_ns > self.last_ns else self.last_ns
        if self.depth == 4 and self.field_bits == 16:
            # _cm_count, with the depth-4 kernel inlined here (no call)
            self.totals[self.cur] = _sat_add64(self.totals[self.cur], amount)
            est = pfo_cm_one4_any(self.cells, <const uint64_t*>self.hashes, 16,
                                  self.conservative, self.log2_width, self.shift, self.cur,
                                  key, amount, self.totals[0], self.totals[1])
        elif self.depth == 4 and self.field_bits == 0:
            # the same with per-row hashes
            self.totals[self.cur] = _sat_add64(self.totals[self.cur], amount)
            est = pfo_cm_one4_any(self.cells, <const uint64_t*>self.hashes, 0,
                                  self.conservative, self.log2_width, self.shift, self.cur,
                                  key, amount, self.totals[0], self.totals[1])
        else:
            est = _cm_count(self, key, amount)
        return _tag_override(self, key, est >= self.threshold)

    cdef uint64_t c_estimate(self, uint64_t key) noexcept nogil:
        return pfo_cm_est(self.cells, <const uint64_t*>self.hashes, self.depth,
                          self.field_bits, self.log2_width, self.shift, key)

    cdef void c_advance(self, pfo_ns_t now_ns) noexcept nogil:
        _cm_advance(self, now_ns)

    cdef void c_update_burst(self, const uint64_t* keys, const pfo_ns_t* now_ns,
                             Py_ssize_t now_step, const uint64_t* amounts,
                             uint8_t* out, Py_ssize_t n) noexcept nogil:
        cdef Py_ssize_t i, j, lo, mid
        cdef pfo_ns_t t
        cdef uint64_t total
        if now_step == 0:
            # one time for the burst: rotate once, then one tight loop
            _cm_advance(self, now_ns[0])
            total = _cm_kernel(self, keys, amounts, n, out, NULL)
            self.totals[self.cur] = _sat_add64(self.totals[self.cur], total)
        else:
            # per-packet times: cut the burst at window boundaries
            i = 0
            while i < n:
                t = now_ns[i]
                if <uint64_t>t >= self.win_end:
                    _cm_advance(self, t)
                # first j > i with now_ns[j] >= win_end (n if none): times are
                # nondecreasing, so check the last one, then bisect.  (Times
                # that go backwards, against the contract, still give some j
                # in (i, n]: no crash, no hang.)
                if <uint64_t>now_ns[n - 1] < self.win_end:
                    j = n
                else:
                    lo = i + 1
                    j = n - 1
                    while lo < j:
                        mid = lo + (j - lo) // 2
                        if <uint64_t>now_ns[mid] >= self.win_end:
                            j = mid
                        else:
                            lo = mid + 1
                total = _cm_kernel(self, keys + i, NULL if amounts is NULL else amounts + i,
                                   j - i, out + i, NULL)
                self.totals[self.cur] = _sat_add64(self.totals[self.cur], total)
                i = j
            if n and now_ns[n - 1] > self.last_ns:
                self.last_ns = now_ns[n - 1]
        if self.tags.count:
            for i in range(n):
                out[i] = _tag_override(self, keys[i], out[i])

    # -- Python-level extras ------------------------------------------------

    @property
    def epsilon(self):
        """Relative error bound ``e / width`` (times the two windows' total)."""
        if self.busy < 0:
            pfo_raise_uninit(self)
        return math.e / self.width

    @property
    def delta(self):
        """Probability ``e**-depth`` that an estimate exceeds its bound."""
        return math.exp(-<double>self.depth)

    @property
    def window_totals(self):
        """Amount counted in the (current, previous) window."""
        return (self.totals[self.cur], self.totals[self.cur ^ 1])

    @property
    def error_bound(self):
        """``epsilon * N``: the additive error bound of :meth:`estimate` now."""
        return self.epsilon * (self.totals[0] + self.totals[1])

    @property
    def nbytes(self):
        """Memory held by the counters, in bytes."""
        return 8 * self.width * self.depth

    def reset(self):
        """Clear every counter and the time (tags are kept)."""
        _ready(self)
        memset(self.cells, 0, <size_t>self.width * self.depth * 2 * sizeof(uint32_t))
        self.cur = 0
        self.win_end = 0
        self.totals[0] = self.totals[1] = 0
        self.last_ns = -1


# ---------------------------------------------------------------------------
# Space-Saving
# ---------------------------------------------------------------------------

cdef int _ss_alloc(pfo_ss_t* s, uint32_t capacity) except -1:
    _ktab_alloc(&s.index, capacity)
    s.slot_key = <uint64_t*>calloc(capacity, sizeof(uint64_t))
    s.count = <uint64_t*>calloc(capacity, sizeof(uint64_t))
    s.err = <uint64_t*>calloc(capacity, sizeof(uint64_t))
    s.heap = <uint32_t*>calloc(capacity, sizeof(uint32_t))
    s.pos = <uint32_t*>calloc(capacity, sizeof(uint32_t))
    s.capacity = capacity
    s.n = 0
    s.total = 0
    if (s.slot_key is NULL or s.count is NULL or s.err is NULL or s.heap is NULL
            or s.pos is NULL):
        _ss_free(s)
        raise MemoryError(f"cannot allocate a Space-Saving summary of {capacity} flows")
    return 0


cdef void _ss_free(pfo_ss_t* s) noexcept nogil:
    _ktab_free(&s.index)
    free(s.slot_key)
    free(s.count)
    free(s.err)
    free(s.heap)
    free(s.pos)
    s.slot_key = s.count = s.err = NULL
    s.heap = s.pos = NULL
    s.n = 0


cdef void _ss_clear(pfo_ss_t* s) noexcept nogil:
    _ktab_clear(&s.index)
    s.n = 0
    s.total = 0


cdef inline void _ss_sift_down(pfo_ss_t* s, uint32_t i) noexcept nogil:
    # The count of heap[i] grew: move it down until both children are larger.
    cdef uint32_t n = s.n, c, slot = s.heap[i]
    cdef uint64_t v = s.count[slot]
    while True:
        c = 2 * i + 1
        if c >= n:
            break
        if c + 1 < n and s.count[s.heap[c + 1]] < s.count[s.heap[c]]:
            c += 1
        if s.count[s.heap[c]] >= v:
            break
        s.heap[i] = s.heap[c]
        s.pos[s.heap[i]] = i
        i = c
    s.heap[i] = slot
    s.pos[slot] = i


cdef inline void _ss_sift_up(pfo_ss_t* s, uint32_t i) noexcept nogil:
    cdef uint32_t p, slot = s.heap[i]
    cdef uint64_t v = s.count[slot]
    while i > 0:
        p = (i - 1) >> 1
        if s.count[s.heap[p]] <= v:
            break
        s.heap[i] = s.heap[p]
        s.pos[s.heap[i]] = i
        i = p
    s.heap[i] = slot
    s.pos[slot] = i


cdef uint64_t _ss_add(pfo_ss_t* s, uint64_t key, uint64_t amount) noexcept nogil:
    # Space-Saving (Metwally, Agrawal, El Abbadi 2005), weighted: a tracked key
    # adds amount; a new key takes a free slot, or, when full, the slot with
    # the smallest count m, starting from m + amount (error m).  Invariants:
    # count >= true amount of the slot's key since it was taken; m <= total /
    # capacity; so every key with true amount > total / capacity is tracked.
    cdef int32_t slot = _ktab_get(&s.index, key)
    cdef uint64_t m
    s.total = _sat_add64(s.total, amount)
    if slot >= 0:
        s.count[slot] = _sat_add64(s.count[slot], amount)
        _ss_sift_down(s, s.pos[slot])
        return s.count[slot]
    if s.n < s.capacity:
        slot = <int32_t>s.n
        s.slot_key[slot] = key
        s.count[slot] = amount
        s.err[slot] = 0
        s.heap[s.n] = <uint32_t>slot
        s.pos[slot] = s.n
        s.n += 1
        _ktab_put(&s.index, key, slot)
        _ss_sift_up(s, s.n - 1)
        return amount
    slot = <int32_t>s.heap[0]
    m = s.count[slot]
    _ktab_del(&s.index, s.slot_key[slot])
    _ktab_put(&s.index, key, slot)
    s.slot_key[slot] = key
    s.err[slot] = m
    s.count[slot] = _sat_add64(m, amount)
    _ss_sift_down(s, 0)
    return s.count[slot]


cdef inline uint64_t _ss_get(const pfo_ss_t* s, uint64_t key) noexcept nogil:
    cdef int32_t slot = _ktab_get(&s.index, key)
    return 0 if slot < 0 else s.count[slot]


cdef inline void _ss_advance(ThresholdDetector d, pfo_ns_t now_ns) noexcept nogil:
    cdef uint64_t start
    if now_ns > d.last_ns:
        d.last_ns = now_ns
    if now_ns < 0 or <uint64_t>now_ns < d.win_end:
        return
    start = <uint64_t>(now_ns - now_ns % d.window_ns)
    if start == d.win_end:
        d.cur ^= 1
        _ss_clear(&d.ss[d.cur])
    else:
        _ss_clear(&d.ss[0])
        _ss_clear(&d.ss[1])
    d.win_end = start + <uint64_t>d.window_ns


cdef class ThresholdDetector(ElephantDetector):
    """Exact per-flow counters with Space-Saving replacement, windowed.

    Parameters
    ----------
    capacity : int
        Flows tracked per window, 1 to 2**24.  Up to ``capacity`` distinct
        flows per window are counted exactly; beyond that, a new flow replaces
        the flow with the smallest count (Space-Saving), so every flow whose
        amount in the window exceeds ``total / capacity`` is always tracked.
    threshold : int
        A flow is an elephant while its count over the current and previous
        window is at least this, 1 to 2**64 - 1.
    window_ns : int
        Window length in ns, 1 to 2**62 (aligned windows, as
        :class:`CountMinDetector`).
    max_tags : int, default 1024
        Most keys that can be forced at once (see :class:`ElephantDetector`).

    Raises
    ------
    TypeError
        If an argument is not an integer.
    ValueError
        If an argument is out of range.

    Notes
    -----
    **What is counted.**  One Space-Saving summary per window (current and
    previous).  :meth:`estimate` is the sum of the key's counts in the two
    summaries (0 where untracked).  In each window: while at most
    ``capacity`` flows have been seen, counts are exact; after that, a tracked
    count overestimates by at most its slot's ``error`` (the count it took
    over), and that is at most ``total / capacity``.

    **Cost.**  56 to 80 bytes per ``capacity`` slot per window.  Per packet one hash
    probe per window and a heap sift (``O(log capacity)`` when counts reorder,
    usually one comparison).

    Examples
    --------
    >>> from paraflowo import ThresholdDetector
    >>> det = ThresholdDetector(capacity=2, threshold=3, window_ns=1000)
    >>> [det.update(k, now_ns=0) for k in (1, 1, 2, 3, 1)]
    [False, False, False, False, True]
    >>> det.estimate(1), det.estimate(2), det.estimate(3)   # 3 replaced 2
    (3, 0, 2)
    """

    def __init__(self, capacity, threshold, window_ns, *, max_tags=1024):
        _reinit(self)
        cap = require_int("capacity", capacity, 1, _MAX_CAPACITY)
        th = require_int("threshold", threshold, 1, _U64_MAX)
        win = require_int("window_ns", window_ns, 1, _MAX_WINDOW_NS)
        m = require_int("max_tags", max_tags, 0, _MAX_TAGS)
        self.busy = -1
        _ss_free(&self.ss[0])
        _ss_free(&self.ss[1])
        _ss_alloc(&self.ss[0], cap)
        _ss_alloc(&self.ss[1], cap)
        self._init_tags(m)
        self.capacity = cap
        self.threshold = th
        self.window_ns = win
        self.cur = 0
        self.win_end = 0
        self.busy = 0

    def __dealloc__(self):
        _ss_free(&self.ss[0])
        _ss_free(&self.ss[1])

    def __repr__(self):
        return (f"ThresholdDetector(capacity={self.capacity}, threshold={self.threshold}, "
                f"window_ns={self.window_ns})")

    cdef bint c_update(self, uint64_t key, pfo_ns_t now_ns, uint64_t amount) noexcept nogil:
        cdef uint64_t est
        if <uint64_t>now_ns >= self.win_end:
            _ss_advance(self, now_ns)
        self.last_ns = now_ns if now_ns > self.last_ns else self.last_ns
        est = _sat_add64(_ss_add(&self.ss[self.cur], key, amount),
                         _ss_get(&self.ss[self.cur ^ 1], key))
        return _tag_override(self, key, est >= self.threshold)

    cdef uint64_t c_estimate(self, uint64_t key) noexcept nogil:
        return _sat_add64(_ss_get(&self.ss[0], key), _ss_get(&self.ss[1], key))

    cdef void c_advance(self, pfo_ns_t now_ns) noexcept nogil:
        _ss_advance(self, now_ns)

    @property
    def window_totals(self):
        """Amount counted in the (current, previous) window."""
        return (self.ss[self.cur].total, self.ss[self.cur ^ 1].total)

    def tracked(self, key):
        """Whether ``key`` holds a slot in the current window's summary.

        Raises
        ------
        TypeError, ValueError
            If ``key`` is not an integer in ``[0, 2**64 - 1]``.
        """
        _ready(self)
        return _ktab_get(&self.ss[self.cur].index, _key(key)) >= 0

    def items(self):
        """The current window's summary: ``(keys, counts, errors)`` arrays.

        ``counts - errors <= true amount <= counts`` for each tracked key.
        """
        _ready(self)
        cdef const pfo_ss_t* s = &self.ss[self.cur]
        keys = np.empty(s.n, dtype=np.uint64)
        counts = np.empty(s.n, dtype=np.uint64)
        errors = np.empty(s.n, dtype=np.uint64)
        cdef uint64_t[::1] kv = keys, cv = counts, ev = errors
        cdef uint32_t i
        for i in range(s.n):
            kv[i] = s.slot_key[i]
            cv[i] = s.count[i]
            ev[i] = s.err[i]
        return keys, counts, errors

    def reset(self):
        """Clear both windows and the time (tags are kept)."""
        _ready(self)
        _ss_clear(&self.ss[0])
        _ss_clear(&self.ss[1])
        self.cur = 0
        self.win_end = 0
        self.last_ns = -1
