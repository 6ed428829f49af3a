/* The common case of pfo_bind (paraflowo._core._boundary), in C: an exact
   numpy.ndarray of the expected dtype object, 1-D, C-contiguous (and
   writable when asked) is bound by reading its fields, without a buffer
   request.  numpy's buffer export, its release and the `arr.dtype` test
   cost about 350 instructions per array (buffer-info lookup and compare,
   format and shape bookkeeping); this costs about 60 with the call
   (callgrind), which matters when a burst is 32 records.

   The binding holds a reference to the array, as a buffer export would: it
   is what keeps numpy's resize() from moving the data (numpy counts
   references, not exports).  pfo_release (in _boundary.h) drops it.

   _boundary.pyx includes it for pfo_bind_array, and _boundary.pxd for the
   inline test of pfo_bind (pfo_bind_inline), so every module that cimports
   _boundary is built with numpy's include directory.  It uses numpy's
   header-only field accessors and no function of numpy's C API table, so no
   import_array() is needed. */
#ifndef PFO_BIND_H
#define PFO_BIND_H

#define NPY_NO_DEPRECATED_API NPY_2_0_API_VERSION
#define NPY_TARGET_VERSION NPY_2_0_API_VERSION   /* the descriptor's elsize field */
#include "numpy/ndarraytypes.h"
#include "_boundary.h"

/* numpy's private NPY_ARRAY_WARN_ON_WRITE flag (1 << 31): an array that
   warns when written to is left to the buffer request, which warns. */
#define PFO_NPY_WARN_ON_WRITE 0x80000000u

/* Bind b to arr if arr (an exact numpy.ndarray: the caller checked its type)
   has dtype object `dtype` (NULL: any dtype of nonzero size that holds no
   Python objects), `ndim` dimensions (1 or 2), is C-contiguous and
   (writable != 0) writable: 1, with b filled as a buffer request would (buf,
   obj with a new reference, len, itemsize, ndim, shape, strides) and
   b->internal set to PFO_BIND_REF.  Else 0 and b untouched: the caller takes
   its slow path. */
static inline int pfo_bind_ref(Py_buffer *b, PyObject *arr, PyObject *dtype, int ndim,
                               int writable)
{
    PyArrayObject *a = (PyArrayObject *)arr;
    PyArray_Descr *d = PyArray_DESCR(a);
    unsigned int flags = (unsigned int)PyArray_FLAGS(a);
    unsigned int need = NPY_ARRAY_C_CONTIGUOUS | (writable ? NPY_ARRAY_WRITEABLE : 0);
    if (PyArray_NDIM(a) != ndim || (flags & need) != need
            || (writable && (flags & PFO_NPY_WARN_ON_WRITE)))
        return 0;
    if (dtype != NULL ? (PyObject *)d != dtype
                      : (d->elsize <= 0 || (d->flags & NPY_ITEM_HASOBJECT)))
        return 0;
    Py_INCREF(arr);
    b->obj = arr;
    b->buf = PyArray_DATA(a);
    b->itemsize = d->elsize;
    b->len = PyArray_DIMS(a)[0] * (ndim == 2 ? PyArray_DIMS(a)[1] : 1) * d->elsize;
    b->readonly = !writable;
    b->ndim = ndim;
    b->format = NULL;
    b->shape = PyArray_DIMS(a);
    b->strides = PyArray_STRIDES(a);
    b->suboffsets = NULL;
    b->internal = PFO_BIND_REF;
    return 1;
}

/* numpy.ndarray, as this module has seen it: NULL until pfo_bind_learn
   records it (one copy per module: the header is included by each).  The
   type is learnt from a binding by reference made by pfo_bind_array, which
   tests `type(arr) is numpy.ndarray` itself; nothing else writes it, always
   under the GIL and always the same value. */
static PyTypeObject *pfo_ndarray_type = NULL;

/* pfo_bind's common case inline, without the call into _boundary (about 20
   instructions fewer per array, callgrind): 1 and b bound as pfo_bind_ref
   does, if arr is an exact numpy.ndarray (once this module has learnt the
   type) with dtype object `dtype`, 1-D, C-contiguous and (writable != 0)
   writable; else 0 and b untouched (the caller calls pfo_bind_array). */
static inline int pfo_bind_inline(Py_buffer *b, PyObject *arr, PyObject *dtype, int writable)
{
    return Py_TYPE(arr) == pfo_ndarray_type && pfo_bind_ref(b, arr, dtype, 1, writable);
}

/* After pfo_bind_array: if it bound arr by reference (so arr's type is
   numpy.ndarray), remember the type for pfo_bind_inline. */
static inline void pfo_bind_learn(const Py_buffer *b, PyObject *arr)
{
    if (b->shape != NULL && b->internal == PFO_BIND_REF)
        pfo_ndarray_type = Py_TYPE(arr);
}

/* Retype a new array of records: give arr, a new C-contiguous array of a
   plain void dtype (np.empty(n, np.dtype((np.void, k)))) that only the caller
   holds, the dtype object `descr` (k bytes per item, no Python objects)
   instead: 1; else 0 and arr unchanged (the caller creates it with `descr`,
   slower).  Why: numpy 2 prepares a zero-fill loop for every new array of a
   structured dtype, walking its fields through the Python API (about 5,000
   instructions for np.empty(32, META_DTYPE), callgrind), and none for a plain
   void one.  This is what numpy's own dtype setter does once its checks pass
   (same item size, no objects, data aligned for the new dtype); numpy reads
   the dtype's item size and flags when it frees the array, both the same. */
static inline int pfo_retype_new(PyObject *arr, PyObject *descr)
{
    PyArrayObject_fields *f = (PyArrayObject_fields *)arr;
    PyArray_Descr *d = (PyArray_Descr *)descr;
    PyArray_Descr *old = f->descr;
    if (Py_REFCNT(arr) != 1 || f->base != NULL || !(f->flags & NPY_ARRAY_OWNDATA)
            || old->type_num != NPY_VOID || old->elsize != d->elsize || d->elsize <= 0
            || (d->flags & NPY_ITEM_HASOBJECT) || d->alignment <= 0
            || ((uintptr_t)f->data % (uintptr_t)d->alignment) != 0)
        return 0;
    Py_INCREF(d);
    f->descr = d;
    Py_DECREF(old);
    return 1;
}

#endif /* PFO_BIND_H */
