/* Inline helpers of paraflowo._core._boundary (the Python boundary shared by
   the components): word-size limits, the value of a small exact int, a
   branch-free bool, and the release of a bound buffer.
   Header-only; uses the Python C API (the including module includes
   Python.h first, as Cython does). */
#ifndef PFO_BOUNDARY_H
#define PFO_BOUNDARY_H

#define PFO_INT64_MAX ((long long)0x7fffffffffffffffLL)
#define PFO_UINT64_MAX ((unsigned long long)0xffffffffffffffffULL)
/* The value of an exact int in one machine word, without a call: 1 and
   *out set for the common small values (|v| < 2**30, one digit), else 0
   (then ask PyLong_AsLongLongAndOverflow). */
static inline int pfo_small_int(PyObject *v, long long *out) {
#if PY_VERSION_HEX >= 0x030C0000
    if (!PyUnstable_Long_IsCompact((PyLongObject *)v)) return 0;
    *out = (long long)PyUnstable_Long_CompactValue((PyLongObject *)v);
    return 1;
#else
    Py_ssize_t size = Py_SIZE(v);
    if (size == 0) { *out = 0; return 1; }
    if (size == 1) { *out = (long long)((PyLongObject *)v)->ob_digit[0]; return 1; }
    if (size == -1) { *out = -(long long)((PyLongObject *)v)->ob_digit[0]; return 1; }
    if (size == 2) {
        *out = (long long)((PyLongObject *)v)->ob_digit[0]
             | ((long long)((PyLongObject *)v)->ob_digit[1] << PyLong_SHIFT);
        return 1;
    }
    return 0;
#endif
}

/* True or False (a new reference) without a branch on b: where b arrives
   late (a detector's estimate: hash, then four loads), a mispredicted branch
   on it would stall the caller until it does. */
static inline PyObject *pfo_bool(int b) {
    static PyObject *const bools[2] = {Py_False, Py_True};
    PyObject *r = bools[b != 0];
    Py_INCREF(r);
    return r;
}

/* b->internal of a buffer bound by reference (pfo_bind's fast path, in
   _bind.h): the array itself is held, not a buffer export.  An exporter
   stores NULL or a real pointer there, never 1. */
#define PFO_BIND_REF ((void *)1)

/* Release what pfo_bind or pfo_bind_bytes holds in b (nothing if b->shape is
   NULL): the reference of a fast-path binding, else the buffer export. */
static inline void pfo_release_c(Py_buffer *b) {
    if (b->shape == NULL) return;
    if (b->internal == PFO_BIND_REF) {      /* obj is the array: not NULL */
        PyObject *obj = b->obj;
        b->obj = NULL;
        Py_DECREF(obj);
    } else {
        PyBuffer_Release(b);
    }
    b->shape = NULL;
}

#endif /* PFO_BOUNDARY_H */
