"""The slow paths of the boundary checks (see _boundary.pxd for the API).

Everything here runs only when an argument is not the common well-formed
case: it finds out what is wrong and raises the error in the house wording
of :mod:`paraflowo._checks`, or, for a well-formed but unusual argument (an
ndarray subclass, a numpy integer scalar, an equal but distinct dtype
object), accepts it.
"""

from cpython.buffer cimport (
    PyBUF_C_CONTIGUOUS, PyBUF_SIMPLE, PyBUF_WRITABLE, PyBuffer_Release, PyObject_GetBuffer)
from libc.stdint cimport int64_t, uint64_t

import numpy as np

from paraflowo._checks import in_use_error, require_array, require_int

cdef extern from "_bind.h":
    bint pfo_bind_ref(Py_buffer* b, object arr, void* dtype, int ndim, int writable) noexcept

cdef object _ndarray = np.ndarray


cdef int pfo_bind_array(Py_buffer* b, object arr, str name, object dtype,
                        int flags) except -1:
    # the common case: bound by reference, a few loads and compares (_bind.h);
    # the rest is a separate function, so that this one stays small
    if type(arr) is _ndarray and pfo_bind_ref(b, arr, <void*>dtype, 1, flags & PFO_WRITABLE):
        return 0
    return _bind_array_slow(b, arr, name, dtype, flags)


cdef int _bind_array_slow(Py_buffer* b, object arr, str name, object dtype,
                          int flags) except -1:
    cdef int bflags = PyBUF_C_CONTIGUOUS
    if flags & PFO_WRITABLE:
        bflags |= PyBUF_WRITABLE
    b.shape = NULL
    if type(arr) is _ndarray and arr.dtype is dtype:
        # not the fast path's case, but still one buffer request (e.g. a
        # 2-D array of the right dtype: the request tells ndim)
        try:
            PyObject_GetBuffer(arr, b, bflags)
        except Exception:
            b.shape = NULL
        else:
            if b.ndim == 1 and b.shape != NULL:
                return 0
            PyBuffer_Release(b)
            b.shape = NULL
    # something is off (or unusual): check in the order of the messages
    if arr is None and flags & PFO_OPTIONAL:
        return 0
    require_array(name, arr, dtype)       # type, dtype, ndim == 1, C-contiguous
    if flags & PFO_WRITABLE and not arr.flags.writeable:
        raise ValueError(f"{name} must be writable, got a read-only array")
    try:
        PyObject_GetBuffer(arr, b, bflags)
    except (BufferError, ValueError, TypeError) as err:
        b.shape = NULL
        raise ValueError(f"{name} must be a 1-D C-contiguous array, got {err}") from None
    if b.ndim != 1 or b.shape == NULL:
        PyBuffer_Release(b)
        b.shape = NULL
        raise ValueError(f"{name} must be 1-dimensional, got shape {arr.shape}")
    return 0


cdef bint pfo_try_bind(Py_buffer* b, object arr, object dtype, int ndim, int flags) noexcept:
    b.buf = NULL
    b.shape = NULL
    if type(arr) is not _ndarray:
        return False
    return pfo_bind_ref(b, arr, NULL if dtype is None else <void*>dtype, ndim,
                        flags & PFO_WRITABLE)


cdef Py_ssize_t _one = 1


cdef int pfo_bind_bytes(Py_buffer* b, object data, str name) except -1:
    b.shape = NULL
    try:
        PyObject_GetBuffer(data, b, PyBUF_SIMPLE)
    except (TypeError, BufferError, ValueError):
        b.shape = NULL
        raise TypeError(f"{name} must be a contiguous bytes-like object, "
                        f"got {type(data).__name__}") from None
    # PyBUF_SIMPLE leaves shape NULL: point it at a dummy so that pfo_bound
    # and pfo_release see a held buffer (pfo_len is then 1: use b.len)
    b.shape = &_one
    return 0


cdef int pfo_raise_len(str name, Py_ssize_t got, Py_ssize_t lo, Py_ssize_t hi) except -1:
    if lo == hi:
        raise ValueError(f"{name} must have length {lo}, got {got}")
    if hi < 0:
        raise ValueError(f"{name} must have length >= {lo}, got {got}")
    raise ValueError(f"{name} must have length in [{lo}, {hi}], got {got}")


cdef int64_t pfo_int_slow(str name, object v, int64_t lo, int64_t hi) except? -1:
    return require_int(name, v, lo, hi)


cdef uint64_t pfo_uint_slow(str name, object v, uint64_t lo, uint64_t hi) except? 0:
    return require_int(name, v, lo, hi)


cdef int pfo_raise_backwards(str name, pfo_ns_t now, pfo_ns_t last,
                             Py_ssize_t index) except -1:
    if index < 0:
        raise ValueError(f"{name} must not go backwards, got {now} after {last}")
    raise ValueError(f"{name} must not go backwards, got {name}[{index}] = {now} after {last}")


cdef str _name(object obj):
    # the type name of obj, or obj itself if it is already a name
    return obj if type(obj) is str else type(obj).__name__


cdef int pfo_raise_busy(object obj) except -1:
    what = _name(obj)
    raise in_use_error(what, what)


cdef int pfo_raise_uninit(object obj) except -1:
    what = type(obj).__name__
    raise RuntimeError(f"{what} is not initialised: {what}.__init__ was not called "
                       f"(a subclass must call super().__init__)")


cdef int pfo_raise_part(object part, object owner, str use) except -1:
    raise ValueError(f"{_name(part)} is a read-only part of a {_name(owner)}; use {use}")
