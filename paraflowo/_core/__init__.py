"""Compiled cores of the ParaFlowO components (Cython).

Python users import from :mod:`paraflowo`; Cython users ``cimport`` the
``.pxd`` files of this package (see the docs' "Cython API" page).
"""
