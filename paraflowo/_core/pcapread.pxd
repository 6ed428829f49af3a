"""Capture reading (issue 16): the pcap and pcapng walks and the frame decoder, the cimport API."""

from libc.stdint cimport uint8_t, uint32_t, uint64_t, int64_t


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


# Bytes of a flow key record (pfo_pcap_keys): version (0 flowless, 4, 6),
# src and dst (16 bytes each, an IPv4 address in the first 4), sport and
# dport (big-endian), proto.
cdef enum:
    PFO_PCAP_KEY_LEN = 38


cdef Py_ssize_t pfo_pcap_keys(const uint8_t* buf, const int64_t* off, const int64_t* cap,
                              const int64_t* link, Py_ssize_t n, uint8_t* keys,
                              int64_t* rest) noexcept nogil
    # The flow key of each of n frames: frame i is cap[i] bytes at buf +
    # off[i], of link type link[i] (1 Ethernet with up to two 802.1Q/802.1ad/
    # QinQ tags, 113 Linux cooked, 12/14/101/228/229 raw IP; others have no
    # 5-tuple).  Writes record i to keys + 38 * i, which the caller zeroed:
    # IPv4 or IPv6 addresses and protocol, and the first 4 bytes of a TCP or
    # UDP header when captured (a packet cut by the snap length after its IP
    # header, as tcpdump -s 128 cuts, is keyed here); all zeros (flowless) for ARP and other
    # non-IP frames, IPv4 fragments past the first, unknown link types and
    # frames too short for their link header.  Frames it leaves to a full
    # decoder (802.3/LLC, MPLS, PPPoE, a third VLAN tag, IPv6 extension
    # headers, IP headers inconsistent with or cut by the capture) keep a
    # zero record and their index goes to rest.  Returns how many went to
    # rest (<= n).  Preconditions: off[i] + cap[i] <= the buffer's size.


# Why pfo_pcapng_walk stopped.
cdef enum:
    PFO_PCAPNG_END = 0        # *off reached size: the file is done
    PFO_PCAPNG_FULL = 1       # cap packets written: call again from *off
    PFO_PCAPNG_BLOCK = 2      # the block at *off is for the caller: a section
                              # header, an interface description, or a damaged,
                              # cut or inconsistent block (the caller reports it)


cdef Py_ssize_t pfo_pcapng_walk(const uint8_t* buf, Py_ssize_t size, Py_ssize_t* off,
                                bint big_endian, uint32_t n_ifaces, uint32_t snap0,
                                int64_t* iface, uint64_t* ticks, int64_t* data,
                                int64_t* caplen, int64_t* origlen, Py_ssize_t cap,
                                int* why) noexcept nogil
    # Walk the blocks of one pcapng section from byte *off: each Enhanced (6),
    # obsolete (2) or Simple (3) Packet Block that is whole and consistent
    # (its interface < n_ifaces, its frame inside the block) gives one packet:
    # its interface (-1 for a Simple Packet Block, which has no timestamp and
    # belongs to interface 0, whose snap length snap0 (0: none) bounds it),
    # its raw timestamp (high << 32 | low, in its interface's units), the
    # offset and captured length of its frame, its original length.  Other
    # block types are skipped.  Returns the packets written (<= cap) and
    # sets *why (PFO_PCAPNG_*) and *off to where it stopped.
    # Worked example: an EPB of 1,600 bytes at byte 100 (frame of 1,514
    # bytes) gives data 128 (100 + 8 + 20), and the next block is at 1,700.
    # Preconditions: *off >= 0; buf holds size bytes; the outputs hold cap.
