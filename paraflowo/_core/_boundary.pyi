# The boundary module has no Python API: its functions are cimported by the
# other extension modules (see _boundary.pxd).
