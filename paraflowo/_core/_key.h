/* Flow keys at the Python boundary (see _key.pxd): an exact Python int ->
 * uint64 fast path for the per-packet calls.  Included by Cython-generated C,
 * after Python.h. */
#ifndef PFO_KEY_H
#define PFO_KEY_H
#include <stdint.h>
/* Exact Python int -> uint64 (bits 64) or non-negative int64 (bits 63)
   for the per-packet fast path: 1 and *out on success; 0, with no
   exception set, when o is negative or not below 2**bits (the caller
   then takes the checked path, which names the problem).  On CPython
   3.11 to 3.13 with 30-bit digits the digits are read in place (a flow
   key has three); elsewhere the C API converts. */
#if !defined(Py_LIMITED_API) && !defined(PYPY_VERSION) && defined(PyLong_SHIFT) \
    && PyLong_SHIFT == 30 && PY_VERSION_HEX >= 0x030B0000 && PY_VERSION_HEX < 0x030E0000
#define PFO_PYLONG_DIGITS 1
#endif
static inline int pfo_as_bits(PyObject *o, unsigned bits, uint64_t *out) {
#ifdef PFO_PYLONG_DIGITS
#if PY_VERSION_HEX >= 0x030C0000
    /* lv_tag: digit count << 3 | flag bit | sign (0 positive, 1 zero, 2 negative) */
    uintptr_t tag = ((PyLongObject *)o)->long_value.lv_tag;
    const digit *d = ((PyLongObject *)o)->long_value.ob_digit;
    Py_ssize_t size = (tag & _PyLong_SIGN_MASK) == 0 ? (Py_ssize_t)(tag >> _PyLong_NON_SIZE_BITS)
                    : (tag & _PyLong_SIGN_MASK) == 1 ? 0 : -1;
#else
    /* ob_size: sign * digit count */
    Py_ssize_t size = Py_SIZE(o);
    const digit *d = ((PyLongObject *)o)->ob_digit;
#endif
    switch (size) {
    case 0: *out = 0; return 1;
    case 1: *out = d[0]; return 1;
    case 2: *out = (uint64_t)d[0] | (uint64_t)d[1] << 30; return 1;
    case 3:
        if (d[2] >> (bits - 60))
            return 0;
        *out = (uint64_t)d[0] | (uint64_t)d[1] << 30 | (uint64_t)d[2] << 60;
        return 1;
    default: return 0;            /* negative, or 2**90 and more */
    }
#else
    if (bits == 64) {
        unsigned long long v = PyLong_AsUnsignedLongLong(o);
        if (v == (unsigned long long)-1 && PyErr_Occurred()) {
            PyErr_Clear();
            return 0;
        }
        *out = (uint64_t)v;
        return 1;
    } else {
        int overflow;
        long long v = PyLong_AsLongLongAndOverflow(o, &overflow);
        if (overflow || v < 0) {
            PyErr_Clear();
            return 0;
        }
        *out = (uint64_t)v;
        return 1;
    }
#endif
}

#endif /* PFO_KEY_H */
