# Included by detectors.pyx: the key table shared by manual tags and
# Space-Saving.

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
