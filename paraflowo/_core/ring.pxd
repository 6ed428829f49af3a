# cython: language_level=3
"""The dataplane's SPSC ring as a Python object (``ring.pyx``).  The C-level
ring itself is the header ``spsc_ring.h`` (``pfo_spsc_*``); this module only
wraps it for tests and study, so it has no cimport API of its own."""
