"""Capture reading (issue 16): the record walk of a classic pcap file, the cimport API."""

from libc.stdint cimport uint8_t, int64_t


cdef Py_ssize_t pfo_pcap_walk(const uint8_t* buf, Py_ssize_t size, Py_ssize_t* off,
                              bint big_endian, int64_t* out, Py_ssize_t cap) noexcept nogil
    # Follow the chain of pcap record headers from byte *off of buf (size
    # bytes): write the data offset (record start + 16) of each whole record
    # to out, at most cap of them.  Returns the number written; *off is left
    # where the walk stopped:
    #   - at size: the file ended on a record boundary (done);
    #   - at a record that does not fit (a partial header, or caplen past the
    #     end): the capture is truncated there (report it; done);
    #   - after cap records: call again with the same *off.
    # Worked example: records of caplen 60 and 1514 from byte 24 give offsets
    # 40 and 116 (24 + 16 + 60 = 100, then 100 + 16), and *off = 1630.
    # Preconditions: 0 <= *off; buf holds size bytes; out holds cap entries.
