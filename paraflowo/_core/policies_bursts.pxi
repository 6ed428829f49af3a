# The burst methods' loops and their output buffer (included by policies.pyx:
# module functions, private, not in the .pxd).

cdef void _steer_loop(Policy p, const Py_buffer* b, Py_ssize_t n) noexcept nogil:
    # steer_burst's work over its bound arrays: keys, hashes, ports, lengths,
    # handles, now_ns, out
    cdef const uint64_t* kv = <const uint64_t*>b[0].buf
    cdef const uint32_t* hv = <const uint32_t*>b[1].buf
    cdef const uint16_t* pv = <const uint16_t*>b[2].buf
    cdef const uint16_t* lv = <const uint16_t*>b[3].buf
    cdef const uint64_t* dv = <const uint64_t*>b[4].buf
    cdef const int64_t* tv = <const int64_t*>b[5].buf
    cdef pfo_meta_t* m = <pfo_meta_t*>b[6].buf
    cdef Py_ssize_t i
    for i in range(n):
        p.c_steer(kv[i], hv[i], pv[i], lv[i], tv[i], dv[i], &m[i])


cdef enum:
    _CB_STEP = 256      # slots given to each c_complete call (as complete() does)
    _CB_LOCAL = 1024    # complete_burst's handles on the stack (8 KB) before the heap


ctypedef struct _Handles:
    # complete_burst's output: buf[0:w] written, cap slots (heap: buf is malloc'd)
    pfo_handle_t* buf
    Py_ssize_t cap
    Py_ssize_t w
    bint heap


cdef bint _room(_Handles* h, Py_ssize_t need) noexcept nogil:
    # At least `need` free slots (grows the buffer); False if out of memory.
    cdef Py_ssize_t cap = h.cap
    cdef pfo_handle_t* nb
    if cap - h.w >= need:
        return True
    while cap - h.w < need:
        cap *= 2
    nb = <pfo_handle_t*>malloc(cap * sizeof(pfo_handle_t))
    if nb == NULL:
        return False
    memcpy(nb, h.buf, h.w * sizeof(pfo_handle_t))
    if h.heap:
        free(h.buf)
    h.buf = nb
    h.cap = cap
    h.heap = True
    return True


cdef Py_ssize_t _complete_loop(Policy p, const pfo_meta_t* src, Py_ssize_t n, pfo_ns_t now,
                               _Handles* h) noexcept nogil:
    # c_complete each record in order (a copy: the interface takes a mutable
    # record); -1, or the index of the first record not completed when the
    # output could not grow.
    cdef pfo_meta_t rec
    cdef Py_ssize_t i, k
    cdef int more
    for i in range(n):
        rec = src[i]
        more = 1
        while more:
            if not _room(h, _CB_STEP):
                return i
            k = 0
            more = p.c_complete(&rec, now, h.buf + h.w, _CB_STEP, &k)
            h.w += k
    return -1


cdef Py_ssize_t _first_bad_core(const pfo_meta_t* m, Py_ssize_t n, uint32_t n_cores) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(n):
        if m[i].core >= n_cores:
            return i
    return -1


cdef Py_ssize_t _first_bad_ingress(const pfo_meta_t* m, Py_ssize_t n, pfo_ns_t now) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(n):
        if m[i].ingress_ns < 0 or m[i].ingress_ns > now:
            return i
    return -1


cdef object _handles_array(const _Handles* h):
    # A new uint64 array of h.buf[0:w].
    arr = _np_empty(h.w, _U64)
    cdef Py_buffer b
    pfo_bind(&b, arr, "out", _U64, PFO_WRITABLE)
    memcpy(b.buf, h.buf, h.w * sizeof(pfo_handle_t))
    pfo_release(&b)
    return arr
