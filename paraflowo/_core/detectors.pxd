# cython: language_level=3
"""Elephant detectors (Count-Min, Space-Saving) and manual tags: the cimport API.

Usage from Cython (the calls run without the GIL)::

    from paraflowo._core.detectors cimport ElephantDetector, CountMinDetector

    cdef ElephantDetector det = CountMinDetector(4096, 4, 1000, 1_000_000)
    cdef bint elephant
    with nogil:
        elephant = det.c_update(key, now_ns, 1)     # virtual: any detector
        est = det.c_estimate(key)

or, in memory the host owns (no Python object; no manual tags)::

    from paraflowo cimport pfo_cm_t, pfo_cm_footprint, pfo_cm_init, pfo_cm_update, PFO_OK

    cdef pfo_cm_t cm                                   # the header: anywhere
    cdef size_t size = pfo_cm_footprint(4096, 4)       # 0: bad parameters
    cdef void* mem = malloc(size)                      # or shm, hugepages, ...
    if pfo_cm_init(&cm, mem, size, 4096, 4, 1000, 1_000_000, True, 0, True) != PFO_OK: ...
    elephant = pfo_cm_update(&cm, key, now_ns, 1)      # same results as the class
    pfo_cm_fini(&cm); free(mem)

(pfo_ss_* the same for Space-Saving.)  ``c_update``, ``c_estimate``,
``c_advance``, ``c_update_burst`` and ``c_forced``
are virtual ``cdef`` methods: a caller holding an :class:`ElephantDetector` reference gets the
subclass's behaviour (Count-Min, Space-Saving, or tags only for the base class).

Contract for every method below:

* Time never goes backwards: ``now_ns >= 0`` and ``now_ns >=`` the last
  ``now_ns`` passed to this detector.  The Python methods check this; Cython
  callers must.  A violation cannot crash or hang: the packet is counted in
  the current window as if it arrived at the latest time seen.
* Counts age out by aligned windows ``[k*window_ns, (k+1)*window_ns)``; the
  detector keeps the current window and the one before it, so a flow that
  stops sending stops being an elephant within two windows.
* A forced tag (``force(key, on)`` in Python) overrides the detector: forced on
  -> True, forced off -> False.  Forced keys are still counted.
* Not thread-safe: one detector per thread, or serialise the calls.  (The
  Python burst methods refuse other Python calls while they run without the
  GIL; nothing guards Cython callers.)
"""

from libc.stdint cimport int32_t, uint8_t, uint32_t, uint64_t
from paraflowo._core._types cimport (
    pfo_ns_first_backwards, pfo_ns_t, PFO_OK, PFO_EINVAL, PFO_ENOSPC, PFO_ALIGN)

cdef enum:
    PFO_CM_MAX_DEPTH = 16    # most Count-Min rows (delta = e**-16 ~ 1.1e-7)
    PFO_TAG_NONE = -1        # c_forced: the key is not forced
    PFO_TAG_OFF = 0          # tag value: forced not elephant
    PFO_TAG_ON = 1           # tag value: forced elephant


# Open-addressing table uint64 key -> int32 value (>= 0), linear probing with
# backward-shift deletion (no tombstones, so probe chains never grow with churn).
# Size is a power of two at least twice the most keys it will hold, so a probe
# always ends at an empty slot.
ctypedef struct pfo_ktab_t:
    uint64_t* keys
    int32_t* vals            # -1: empty slot
    uint32_t mask            # size - 1
    uint32_t count           # keys held


# One Count-Min row hash, pair-multiply-shift over the two 32-bit halves of
# the key x = (x_hi, x_lo):  h(x) = (((a0 + x_hi) * (a1 + x_lo) + b) mod 2**64) >> (64 - l),
# l = log2(width), with a0, a1, b drawn from a seeded SplitMix64 stream.
# Used with row_hashes "independent", and when depth * l > 64.  Otherwise
# ("fused", field_bits > 0) all rows share one 128-bit multiply-add-shift
# H = ((A * x + B) mod 2**128) >> 64 with
# A = (hashes[0].a1, hashes[0].a0), B = (hashes[1].a0, hashes[0].b) as
# (high, low) words, and row r takes bits [r * field_bits, r * field_bits + l)
# of H.  See detectors.pyx for why.
ctypedef struct pfo_cm_hash_t:
    uint64_t a0
    uint64_t a1
    uint64_t b


# Space-Saving summary of one window: `capacity` slots, a min-heap on count.
ctypedef struct pfo_ss_sum_t:
    pfo_ktab_t index         # key -> slot
    uint64_t* slot_key       # [capacity]
    uint64_t* count          # [capacity] counted amount (an overestimate by <= err)
    uint64_t* err            # [capacity] count of the evicted slot when taken over
    uint32_t* heap           # [capacity] slots, heap[0] has the smallest count
    uint32_t* pos            # [capacity] pos[slot] = index of slot in heap
    uint32_t n               # slots in use
    uint32_t capacity
    uint64_t total           # amount counted in this window (saturating)


# ---------------------------------------------------------------------------
# Count-Min in memory the caller owns: pfo_cm_t
# ---------------------------------------------------------------------------
# Memory: this header (sizeof(pfo_cm_t) bytes, anywhere) and
# pfo_cm_footprint(width, depth) = round_up(8 * width * depth, PFO_ALIGN)
# bytes of counters that pfo_cm_init places in the caller's memory: 2 windows
# x depth x width uint32 counters.  Worked: width 4096, depth 4 ->
# 8 * 4096 * 4 = 131072 bytes (128 KiB); width 2, depth 1 -> 16, rounded to 64.  CountMinDetector owns one pfo_cm_t (its `cm` member)
# built through these same calls, so a pfo_cm_t given the same parameters
# gives bit-identical results (the manual tags are the class's, not here).
# The fields are read-only for the caller; only the pfo_cm_* calls write them.
ctypedef struct pfo_cm_t:
    uint32_t* cells          # cells[((r << log2_width) + col) * 2 + w]: row r,
                             # column col, window slot w (cur or cur ^ 1); the
                             # two windows of a cell share a cache line
    pfo_cm_hash_t hashes[PFO_CM_MAX_DEPTH]
    uint32_t width           # power of two in [2, 2**24]
    uint32_t depth           # rows, 1 to PFO_CM_MAX_DEPTH
    uint32_t log2_width
    uint32_t shift           # 64 - log2_width
    uint32_t field_bits      # fused row hash: field stride 64 // depth; 0: per-row hashes
    uint32_t cur             # window slot of the current window: 0 or 1
    int conservative         # 1: conservative update; 0: plain
    uint64_t threshold       # elephant while estimate >= threshold (>= 1)
    uint64_t seed            # seed of the row hashes
    pfo_ns_t window_ns       # window length, 1 to 2**62
    pfo_ns_t last_ns         # latest now_ns seen, -1 before the first
    uint64_t win_end         # current window is [win_end - window_ns, win_end)
    uint64_t totals[2]       # amount counted per window slot (saturating)


cdef size_t pfo_cm_footprint(uint32_t width, uint32_t depth) noexcept nogil
    # Bytes of memory pfo_cm_init needs for a width x depth sketch (two
    # windows): round_up(8 * width * depth, PFO_ALIGN), not counting the
    # pfo_cm_t header.  Returns 0 if the parameters are invalid: width not a
    # power of two in [2, 2**24], or depth outside [1, PFO_CM_MAX_DEPTH].

cdef int pfo_cm_init(pfo_cm_t* cm, void* mem, size_t size, uint32_t width, uint32_t depth,
                     uint64_t threshold, pfo_ns_t window_ns, bint conservative,
                     uint64_t seed, bint fused) noexcept nogil
    # Make cm an empty Count-Min detector whose counters live in mem[0:size]
    # (zeroed here).  threshold >= 1; window_ns in [1, 2**62]; seed: any
    # (same seed, same results); fused: 1 for CountMinDetector's
    # row_hashes="fused" (one shared hash while depth * log2(width) <= 64),
    # 0 for "independent".  Returns PFO_OK; PFO_EINVAL (cm or mem NULL, mem
    # not 8-byte aligned, a parameter out of range: fix the call); or
    # PFO_ENOSPC (size < pfo_cm_footprint(width, depth): give more memory).
    # On an error nothing is written.  Never allocates: the caller owns cm
    # and mem, and frees mem after pfo_cm_fini.  mem must stay at the same
    # address while cm is in use.

cdef void pfo_cm_fini(pfo_cm_t* cm) noexcept nogil
    # End cm's life (its counts are forgotten).  cm is unusable afterwards
    # until pfo_cm_init again; its memory is the caller's to free.
    # pfo_cm_fini(NULL) is a no-op.

cdef bint pfo_cm_update(pfo_cm_t* cm, uint64_t key, pfo_ns_t now_ns,
                        uint64_t amount) noexcept nogil
    # Count `amount` for `key` at `now_ns`; returns 1 if the key is an
    # elephant now (estimate over the current and previous window >=
    # threshold), else 0.  Cannot fail.  Precondition (the caller checks):
    # 0 <= now_ns and now_ns >= cm.last_ns; a violation cannot crash or hang,
    # the packet counts in the current window.

cdef void pfo_cm_update_burst(pfo_cm_t* cm, const uint64_t* keys, const pfo_ns_t* now_ns,
                              Py_ssize_t now_step, const uint64_t* amounts,
                              uint8_t* out, Py_ssize_t n) noexcept nogil
    # out[i] = pfo_cm_update(cm, keys[i], now_ns[i * now_step], amounts[i])
    # for i < n, in order; now_step 0: one time for the burst, 1: per packet
    # (nondecreasing); amounts NULL: 1 per packet.  Same results as the
    # per-packet calls, faster.  Cannot fail.  Precondition as pfo_cm_update.

cdef uint64_t pfo_cm_estimate(const pfo_cm_t* cm, uint64_t key) noexcept nogil
    # Estimated amount of `key` over the current and previous window, as of
    # the last update/advance: never below the true amount.  Cannot fail.

cdef void pfo_cm_advance(pfo_cm_t* cm, pfo_ns_t now_ns) noexcept nogil
    # Let time pass to `now_ns` without counting (rotates windows).
    # Precondition as pfo_cm_update.  Cannot fail.

cdef void pfo_cm_reset(pfo_cm_t* cm) noexcept nogil
    # Clear every counter and the time (last_ns -1).  Cannot fail.


# ---------------------------------------------------------------------------
# Space-Saving in memory the caller owns: pfo_ss_t
# ---------------------------------------------------------------------------
# Memory: this header and pfo_ss_footprint(capacity) bytes that pfo_ss_init
# places in the caller's memory: per window (two), round_up(32 * capacity +
# 12 * slots, PFO_ALIGN) with slots = the smallest power of two >=
# 2 * capacity (the key index, load <= 1/2).  Worked: capacity 1000 ->
# slots 2048 -> 2 * round_up(32000 + 24576, 64) = 2 * 56576 = 113152 bytes.
# SpaceSavingDetector owns one pfo_ss_t (its `ss` member) built through these
# calls: the same parameters give bit-identical results.
ctypedef struct pfo_ss_t:
    pfo_ss_sum_t win[2]      # Space-Saving summary per window slot
    uint32_t capacity        # flows tracked per window, 1 to 2**24
    uint32_t cur             # window slot of the current window: 0 or 1
    uint64_t threshold       # elephant while estimate >= threshold (>= 1)
    pfo_ns_t window_ns       # window length, 1 to 2**62
    pfo_ns_t last_ns         # latest now_ns seen, -1 before the first
    uint64_t win_end         # current window is [win_end - window_ns, win_end)


cdef size_t pfo_ss_footprint(uint32_t capacity) noexcept nogil
    # Bytes of memory pfo_ss_init needs for `capacity` flows per window (the
    # formula above; a multiple of PFO_ALIGN), not counting the pfo_ss_t
    # header.  Returns 0 if capacity is outside [1, 2**24].

cdef int pfo_ss_init(pfo_ss_t* ss, void* mem, size_t size, uint32_t capacity,
                     uint64_t threshold, pfo_ns_t window_ns) noexcept nogil
    # Make ss an empty Space-Saving detector living in mem[0:size].
    # threshold >= 1; window_ns in [1, 2**62].  Returns PFO_OK; PFO_EINVAL
    # (ss or mem NULL, mem not 8-byte aligned, a parameter out of range: fix
    # the call); or PFO_ENOSPC (size < pfo_ss_footprint(capacity): give more
    # memory).  On an error nothing is written.  Never allocates: the caller
    # owns ss and mem, and frees mem after pfo_ss_fini.

cdef void pfo_ss_fini(pfo_ss_t* ss) noexcept nogil
    # End ss's life; its memory is the caller's to free.  pfo_ss_fini(NULL)
    # is a no-op.

cdef bint pfo_ss_update(pfo_ss_t* ss, uint64_t key, pfo_ns_t now_ns,
                        uint64_t amount) noexcept nogil
    # As pfo_cm_update: count, return whether the key is an elephant now
    # (sum of its counts in the two windows' summaries >= threshold).

cdef void pfo_ss_update_burst(pfo_ss_t* ss, const uint64_t* keys, const pfo_ns_t* now_ns,
                              Py_ssize_t now_step, const uint64_t* amounts,
                              uint8_t* out, Py_ssize_t n) noexcept nogil
    # As pfo_cm_update_burst.

cdef uint64_t pfo_ss_estimate(const pfo_ss_t* ss, uint64_t key) noexcept nogil
    # Sum of the key's tracked counts in the two windows, 0 if untracked.

cdef void pfo_ss_advance(pfo_ss_t* ss, pfo_ns_t now_ns) noexcept nogil
    # As pfo_cm_advance.

cdef void pfo_ss_reset(pfo_ss_t* ss) noexcept nogil
    # Clear both windows and the time (last_ns -1).  Cannot fail.


cdef class ElephantDetector:
    # Base class and tags-only detector: c_update returns the forced setting
    # of the key, or False.
    cdef pfo_ktab_t tags            # forced keys -> PFO_TAG_OFF / PFO_TAG_ON
    cdef readonly uint32_t max_tags
    cdef readonly pfo_ns_t last_ns  # latest now_ns seen, -1 before the first
    cdef int busy                   # 0 ready; 1 a burst runs without the GIL;
                                    # -1 not initialised (__init__ not run or failed)

    cdef int _init_tags(self, uint32_t max_tags) except -1
        # (Re)allocate the tag table for max_tags keys and forget the time.
        # 0, or -1 with MemoryError (the old table is then freed).

    cdef bint c_update(self, uint64_t key, pfo_ns_t now_ns, uint64_t amount) noexcept nogil
        # Count `amount` (packets or bytes) for `key` at `now_ns`.
        # Returns True if the key is an elephant now (estimate over the current
        # and previous window >= threshold), after a forced tag: forced on ->
        # True, forced off -> False.  Cannot fail.
        # Precondition: 0 <= now_ns, now_ns >= the last now_ns seen.

    cdef uint64_t c_estimate(self, uint64_t key) noexcept nogil
        # Estimated amount of `key` over the current and previous window, as of
        # the last update/advance (no time passes).  Count-Min: never below the
        # true amount.  Space-Saving: the tracked count(s), 0 if untracked.
        # Base class: 0.  Cannot fail.

    cdef void c_advance(self, pfo_ns_t now_ns) noexcept nogil
        # Let time pass to `now_ns` without counting (rotates windows).
        # Same precondition as c_update.  Cannot fail.

    cdef void c_update_burst(self, const uint64_t* keys, const pfo_ns_t* now_ns,
                             Py_ssize_t now_step, const uint64_t* amounts,
                             uint8_t* out, Py_ssize_t n) noexcept nogil
        # out[i] = c_update(keys[i], now_ns[i * now_step], amounts[i]) for i < n,
        # in order.  now_step 0: one time for the whole burst; 1: per packet
        # (nondecreasing).  amounts NULL: 1 per packet.  out: 0 or 1 per packet.
        # Same result as the per-packet calls.  Cannot fail.

    cdef int c_forced(self, uint64_t key) noexcept nogil
        # The forced setting of `key`: PFO_TAG_ON, PFO_TAG_OFF, or PFO_TAG_NONE
        # (-1) when not forced.  Counts nothing.  Cannot fail.


cdef class CountMinDetector(ElephantDetector):
    # Error bound, worked: width 4096, depth 4, N = 1,000,000 packets counted
    # in the current and previous window.  eps = e / 4096 = 6.64e-4, so an
    # estimate exceeds the true count by more than eps * N = 664 packets with
    # probability at most delta = e**-4 = 1.8 % (proven for row_hashes
    # "independent", measured for "fused"); it is never below it.
    # cm.last_ns mirrors last_ns (the base class's, for the tags' checks).
    cdef pfo_cm_t cm                # the sketch: pfo_cm_*(&det.cm, ...) work on it
    cdef void* _mem                 # private: the counters' memory (owned)
    cdef readonly str row_hashes    # "fused" or "independent" (field_bits 0 always)


cdef void pfo_cm_update_runs(CountMinDetector det, const uint64_t* keys,
                             const pfo_ns_t* now_ns, Py_ssize_t now_step,
                             const uint64_t* amounts, uint8_t* out,
                             Py_ssize_t n) noexcept nogil
    # det.c_update_burst(keys, now_ns, now_step, amounts, out, n) for bursts
    # in which a key often repeats the one before it (a simulator's
    # arrivals: an elephant's packets back to back): the same counters,
    # verdicts (forced tags included) and time; with depth 4, the fused
    # hash and unit amounts, a run of one key is hashed, loaded and stored
    # once.  (On keys that rarely repeat, c_update_burst is faster.)  A
    # plain call, not virtual: det must be a CountMinDetector (not None).
    # Cannot fail.  Precondition as c_update_burst.


cdef class SpaceSavingDetector(ElephantDetector):
    # Python also names it ThresholdDetector (an alias, the same class).
    cdef pfo_ss_t ss                # the summaries: pfo_ss_*(&det.ss, ...) work on it
    cdef void* _mem                 # private: the summaries' memory (owned)
