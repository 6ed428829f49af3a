/* Count-Min sketch kernels of paraflowo._core.detectors: the portable loops,
   the SSE4.1 (and SSE4.1 + BMI2) depth-4 loops, and their run-time dispatch.
   Header-only (static functions): one translation unit, detectors.pyx,
   includes it.  Plain C11, no Python API (counts are ptrdiff_t, the width of
   Py_ssize_t). */
#ifndef PFO_CM_SIMD_H
#define PFO_CM_SIMD_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
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
    __extension__ typedef unsigned __int128 pfo_u128;           /* GCC, Clang */
    pfo_u128 p = (pfo_u128)alo * x;
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
        const uint64_t *amounts, ptrdiff_t n, uint8_t *out, uint64_t *last_est) {
    uint32_t *base[16];
    uint64_t idx[PFO_CM_BLOCK * 16];
    unsigned prv = cur ^ 1u, r;
    uint32_t a = 1, c, m, v;
    uint64_t total = 0, est = 0, e;
    ptrdiff_t i0, j, nb;
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
        uint64_t th, const uint64_t *keys, ptrdiff_t n, uint8_t *out, uint64_t *last_est) {
    uint64_t w2 = (uint64_t)2 << lw, mask = ((uint64_t)1 << lw) - 1;
    const unsigned sh = 64 - lw;
    uint32_t *b0 = cells + cur, *b1 = b0 + w2, *b2 = b1 + w2, *b3 = b2 + w2;
    const ptrdiff_t pd = cur ? -1 : 1;        /* the previous window's slot */
    const uint64_t alo = hp[0], ahi = hp[1], blo = hp[2], bhi = hp[3];
    uint32_t *qs[4 * PFO_CM_BLOCK4];
    uint64_t est = 0;
    ptrdiff_t i0, j, nb;
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
/* One packet on the four cell pairs held in x0, x1 (rows 0, 1 and 2, 3,
   as loaded from q0..q3 below): update them in place with `add` (the
   amount in the current-window lanes: `one` below, or the per-packet
   amount) and return the estimate. */
PFO_SSE41 static inline __attribute__((always_inline)) uint32_t pfo_cm_upd4_sse41(
        __m128i *x0, __m128i *x1, int cons, __m128i add) {
    __m128i a = *x0, b = *x1;
    if (cons) {
        __m128i m = _mm_min_epu32(a, b);
        m = _mm_add_epi32(_mm_min_epu32(m, _mm_shuffle_epi32(m, 0x4E)), add);
        a = _mm_max_epu32(a, m);
        b = _mm_max_epu32(b, m);
    } else {
        a = _mm_add_epi32(a, add);
        b = _mm_add_epi32(b, add);
    }
    *x0 = a;
    *x1 = b;
    a = _mm_min_epu32(_mm_add_epi32(a, _mm_srli_epi64(a, 32)),
                      _mm_add_epi32(b, _mm_srli_epi64(b, 32)));
    a = _mm_min_epu32(a, _mm_shuffle_epi32(a, 0x4E));
    return (uint32_t)_mm_cvtsi128_si32(a);
}
/* The cell pairs of q0, q1 (q2, q3) as one register, and back. */
#define PFO_CM_LOAD2(qa, qb) _mm_castpd_si128(_mm_loadh_pd(_mm_load_sd(qa), qb))
#define PFO_CM_STORE2(qa, qb, x) \
    (_mm_storel_pd(qa, _mm_castsi128_pd(x)), _mm_storeh_pd(qb, _mm_castsi128_pd(x)))
/* One packet on its four cell pairs q0..q3 (rows 0..3): load, update
   with `add`, store the pairs back, return the estimate. */
PFO_SSE41 static inline __attribute__((always_inline)) uint32_t pfo_cm_step4_sse41(
        double *q0, double *q1, double *q2, double *q3, int cons, __m128i add) {
    __m128i x0 = PFO_CM_LOAD2(q0, q1), x1 = PFO_CM_LOAD2(q2, q3);
    uint32_t est = pfo_cm_upd4_sse41(&x0, &x1, cons, add);
    PFO_CM_STORE2(q0, q1, x0);
    PFO_CM_STORE2(q2, q3, x1);
    return est;
}
PFO_SSE41 static inline __attribute__((always_inline)) void pfo_cm_loop4_sse41(
        uint32_t *cells, const uint64_t *hp, int cons, int indep, int runs, unsigned lw,
        unsigned cur, uint64_t th, const uint64_t *keys, ptrdiff_t n, uint8_t *out) {
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
    while (keys != end) {
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
        if (!runs) {
            *out++ = pfo_cm_step4_sse41(q0, q1, q2, q3, cons, one) >= th32;
            keys++;
            continue;
        }
        /* runs: the packets of a run of one key update the pairs in
           registers, stored once after its last packet (each packet's
           estimate is the one it would get alone: the same arithmetic
           on the same values).  Counters only grow, so once a packet of
           the run is an elephant the rest are too: they are counted
           together, k units in one update (k unit updates give max(cur_r,
           mc + k), plain cur_r + k: the update with amount k). */
        {
            const uint64_t key = *keys;
            __m128i x0 = PFO_CM_LOAD2(q0, q1), x1 = PFO_CM_LOAD2(q2, q3);
            uint8_t hot;
            do {
                hot = pfo_cm_upd4_sse41(&x0, &x1, cons, one) >= th32;
                *out++ = hot;
                keys++;
            } while (!hot && keys != end && *keys == key);
            if (hot && keys != end && *keys == key) {
                uint32_t k = 0;
                do {
                    *out++ = 1;
                    keys++;
                    k++;
                } while (keys != end && *keys == key);
                /* k in the current window's lanes: -one masks them; the
                   (int) is modulo 2**32 in GCC and clang, the only
                   compilers of this path */
                pfo_cm_upd4_sse41(&x0, &x1, cons,
                                  _mm_and_si128(_mm_sub_epi32(_mm_setzero_si128(), one),
                                                _mm_set1_epi32((int)k)));
            }
            PFO_CM_STORE2(q0, q1, x0);
            PFO_CM_STORE2(q2, q3, x1);
        }
    }
}
PFO_SSE41 static void pfo_cm_loop4_sse41_cons(
        uint32_t *cells, const uint64_t *hp, unsigned lw, unsigned cur,
        uint64_t th, const uint64_t *keys, ptrdiff_t n, uint8_t *out) {
    pfo_cm_loop4_sse41(cells, hp, 1, 0, 0, lw, cur, th, keys, n, out);
}
PFO_SSE41 static void pfo_cm_loop4_sse41_plain(
        uint32_t *cells, const uint64_t *hp, unsigned lw, unsigned cur,
        uint64_t th, const uint64_t *keys, ptrdiff_t n, uint8_t *out) {
    pfo_cm_loop4_sse41(cells, hp, 0, 0, 0, lw, cur, th, keys, n, out);
}
/* The loops below differ only in the constant flags they pass: each is
   pfo_cm_loop4_sse41 compiled for one (indep, runs) pair and both values
   of cons, under the given target attributes. */
#define PFO_CM_LOOP4_FORM(attrs, name, indep, runs)                             \
    attrs static void name(                                                     \
            uint32_t *cells, const uint64_t *hp, int cons, unsigned lw,         \
            unsigned cur, uint64_t th, const uint64_t *keys, ptrdiff_t n,       \
            uint8_t *out) {                                                     \
        if (cons)                                                               \
            pfo_cm_loop4_sse41(cells, hp, 1, indep, runs, lw, cur, th, keys, n, out); \
        else                                                                    \
            pfo_cm_loop4_sse41(cells, hp, 0, indep, runs, lw, cur, th, keys, n, out); \
    }
/* The fused loops for bursts in which a key often repeats the one before
   it (a simulator's arrivals: an elephant's packets back to back): a run
   of one key is hashed and loaded once, each of its packets updates the
   pairs in registers, and they are stored once.  Same counters and
   verdicts as pfo_cm_loop4_sse41_cons / _plain; on keys that never
   repeat, one compare per packet more. */
PFO_CM_LOOP4_FORM(PFO_SSE41, pfo_cm_loop4_sse41_runs, 0, 1)
/* The same loop with a per-row hash (row_hashes="independent", or
   width > 2**16): four pair-multiply-shifts instead of one 128-bit
   multiply-add-shift.  Where the CPU has BMI2 (pfo_cm_simd == 2) the
   copy built with it runs: its shrx shifts by a variable count in one
   uop (shr by %cl takes two or three) and frees %rcx; about 8 %
   more packets per second. */
PFO_CM_LOOP4_FORM(PFO_SSE41, pfo_cm_loop4i_sse41, 1, 0)
PFO_CM_LOOP4_FORM(__attribute__((target("sse4.1,bmi2"))), pfo_cm_loop4i_sse41_bmi2, 1, 0)
#undef PFO_CM_LOOP4_FORM
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
/* pfo_cm_one4 out of line, for fb 16 or 0: the per-packet fallback (no
   SIMD, or totals near 2**32).  Kept out of pfo_cm_one4_any's callers (its
   four depth-4 copies and their arrays would make them too large for the
   C compiler to inline them in turn: the per-packet update is written once
   and inlined into CountMinDetector.c_update). */
#if defined(__GNUC__) || defined(__clang__)
__attribute__((noinline))
#endif
static uint64_t pfo_cm_one4_cold(
        uint32_t *cells, const uint64_t *hp, unsigned fb, int cons, unsigned lw,
        unsigned sh, unsigned cur, uint64_t key, uint64_t amount) {
    return fb ? pfo_cm_one4(cells, hp, 16, cons, lw, sh, cur, key, amount)
              : pfo_cm_one4(cells, hp, 0, cons, lw, sh, cur, key, amount);
}
/* Depth-4 per-packet count: the SIMD body when the totals (already
   including this packet) rule out 32-bit overflow, else pfo_cm_one4
   (out of line). */
PFO_ALWAYS_INLINE uint64_t pfo_cm_one4_any(
        uint32_t *cells, const uint64_t *hp, unsigned fb, int cons, unsigned lw,
        unsigned sh, unsigned cur, uint64_t key, uint64_t amount, uint64_t t0, uint64_t t1) {
#ifdef PFO_CM_SSE41
    if (t0 < 0xFFFFFFFFu && t1 < 0xFFFFFFFFu && t0 + t1 < 0xFFFFFFFFu && pfo_cm_have_sse41())
        return fb ? pfo_cm_one4_sse41(cells, hp, cons, lw, cur, key, (uint32_t)amount)
                  : pfo_cm_one4i_sse41(cells, hp, cons, lw, cur, key, (uint32_t)amount);
#else
    (void)t0;   /* the totals only choose the SIMD body */
    (void)t1;
#endif
    return pfo_cm_one4_cold(cells, hp, fb, cons, lw, sh, cur, key, amount);
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
   constant depth/stride copies of pfo_cm_loop otherwise.  runs (tested
   once a call): the keys often repeat the one before, and the fused SIMD
   case is pfo_cm_loop4_sse41_runs (the same results). */
PFO_ALWAYS_INLINE uint64_t pfo_cm_kernel4(
        uint32_t *cells, const uint64_t *hp, unsigned fb, int cons, int sat,
        int narrow, unsigned lw, unsigned sh, unsigned cur, uint64_t th, const uint64_t *keys,
        const uint64_t *amounts, ptrdiff_t n, uint8_t *out, uint64_t *last_est, int runs) {
    const int indep = fb == 0;
#ifdef PFO_CM_SSE41
    if (narrow && !amounts && !last_est && pfo_cm_have_sse41()) {
        if (indep) {
            if (pfo_cm_simd == 2)
                pfo_cm_loop4i_sse41_bmi2(cells, hp, cons, lw, cur, th, keys, n, out);
            else
                pfo_cm_loop4i_sse41(cells, hp, cons, lw, cur, th, keys, n, out);
        } else if (runs) {
            pfo_cm_loop4_sse41_runs(cells, hp, cons, lw, cur, th, keys, n, out);
        } else if (cons) {
            pfo_cm_loop4_sse41_cons(cells, hp, lw, cur, th, keys, n, out);
        } else {
            pfo_cm_loop4_sse41_plain(cells, hp, lw, cur, th, keys, n, out);
        }
        return (uint64_t)n;
    }
#else
    (void)narrow;   /* narrow and runs only choose a SIMD loop */
    (void)runs;
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
/* runs: the keys often repeat the one before (a simulator's arrivals: an
   elephant's packets back to back); the fused depth-4 SIMD case is then
   pfo_cm_loop4_sse41_runs, with the same counters, verdicts and return
   value (when to take the SIMD loops is pfo_cm_kernel4's alone). */
static uint64_t pfo_cm_kernel(
        uint32_t *cells, const uint64_t *hp, unsigned depth, unsigned fb, int cons, int sat,
        int narrow, unsigned lw, unsigned sh, unsigned cur, uint64_t th, const uint64_t *keys,
        const uint64_t *amounts, ptrdiff_t n, uint8_t *out, uint64_t *last_est, int runs) {
    if (depth == 4 && fb == 16)
        return pfo_cm_kernel4(cells, hp, 16, cons, sat, narrow, lw, sh, cur, th, keys,
                              amounts, n, out, last_est, runs);
    if (depth == 4 && fb == 0)
        return pfo_cm_kernel4(cells, hp, 0, cons, sat, narrow, lw, sh, cur, th, keys,
                              amounts, n, out, last_est, 0);
    if (cons)
        return pfo_cm_loop(cells, hp, depth, fb, 1, 1, lw, sh, cur, th, keys, amounts, n, out, last_est);
    return pfo_cm_loop(cells, hp, depth, fb, 0, 1, lw, sh, cur, th, keys, amounts, n, out, last_est);
}
/* Zero window slot `slot` of each of the n cells (cells[2 * i + slot]),
   leaving the other slot: one 8-byte AND per cell (memcpy: no aliasing
   question, and a loop the compiler vectorises), where a 4-byte store per
   cell at stride 8 does not vectorise.  Example: slot 1, a cell (7, 9)
   becomes (7, 0). */
static void pfo_cm_clear_slot(uint32_t *cells, uint64_t n, unsigned slot) {
    uint32_t keep[2];
    uint64_t mask, w, i;
    keep[slot] = 0;
    keep[slot ^ 1u] = 0xFFFFFFFFu;
    memcpy(&mask, keep, sizeof mask);
    for (i = 0; i < n; i++) {
        memcpy(&w, cells + 2 * i, sizeof w);
        w &= mask;
        memcpy(cells + 2 * i, &w, sizeof w);
    }
}

#endif /* PFO_CM_SIMD_H */
