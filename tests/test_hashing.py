"""Toeplitz RSS hash and indirection table: verification vectors, errors, edge cases."""

import ipaddress
import pickle
import struct

import numpy as np
import pytest

import paraflowo
from paraflowo import (
    IPV4_TUPLE_DTYPE,
    IPV6_TUPLE_DTYPE,
    RSS_DEFAULT_KEY,
    IndirectionTable,
    ToeplitzHasher,
    make_tuples,
    rss_hash,
    rss_hash_batch,
    rss_input,
    toeplitz,
    toeplitz_batch,
)

from models import toeplitz_reference

# Microsoft RSS verification suite: (destination, dst port, source, src port,
# hash of the addresses only, hash with the ports).
VECTORS = [
    ("161.142.100.80", 1766, "66.9.149.187", 2794, 0x323E8FC2, 0x51CCC178),
    ("65.69.140.83", 4739, "199.92.111.2", 14230, 0xD718262A, 0xC626B0EA),
    ("12.22.207.184", 38024, "24.19.198.95", 12898, 0xD2D0A5DE, 0x5C2B394A),
    ("209.142.163.6", 2217, "38.27.205.30", 48228, 0x82989176, 0xAFC7327F),
    ("202.188.127.2", 1303, "153.39.163.191", 44251, 0x5D1809C5, 0x10E828A2),
    ("3ffe:2501:200:3::1", 1766, "3ffe:2501:200:1fff::7", 2794, 0x2CC18CD5, 0x40207D3D),
    ("ff02::1", 4739, "3ffe:501:8::260:97ff:fe40:efab", 14230, 0x0F0C461C, 0xDDE51BBF),
    ("fe80::200:f8ff:fe21:67cf", 38024, "3ffe:1900:4545:3:200:f8ff:fe21:67cf", 44251,
     0x4B61E985, 0x02D1FEEF),
]
IDS = [f"{v[2]}->{v[0]}" for v in VECTORS]


def test_default_key_is_the_standard_key():
    assert RSS_DEFAULT_KEY.hex() == (
        "6d5a56da255b0ec24167253d43a38fb0d0ca2bcb"
        "ae7b30b477cb2da38030f20c6a42b73bbeac01fa")


@pytest.mark.parametrize("dst, dport, src, sport, h_addr, h_ports", VECTORS, ids=IDS)
def test_verification_suite_per_call(dst, dport, src, sport, h_addr, h_ports):
    s, d = ipaddress.ip_address(src).packed, ipaddress.ip_address(dst).packed
    assert toeplitz(s + d) == h_addr
    assert toeplitz(s + d + struct.pack("!HH", sport, dport)) == h_ports
    assert rss_hash(src, dst) == h_addr
    assert rss_hash(src, dst, sport, dport) == h_ports
    # the pure-Python bit-by-bit reference agrees too
    assert toeplitz_reference(s + d + struct.pack("!HH", sport, dport)) == h_ports


@pytest.mark.parametrize("family", [4, 6])
def test_verification_suite_batch(family):
    vs = [v for v in VECTORS if ipaddress.ip_address(v[0]).version == family]
    dst, dport, src, sport, h_addr, h_ports = (list(c) for c in zip(*vs))
    tuples = make_tuples(src, dst, sport, dport)
    assert tuples.dtype == (IPV4_TUPLE_DTYPE if family == 4 else IPV6_TUPLE_DTYPE)
    assert rss_hash_batch(tuples).tolist() == h_ports
    assert rss_hash_batch(tuples, ports=False).tolist() == h_addr
    raw = np.array([list(rss_input(s, d, sp, dp)) for s, d, sp, dp in zip(src, dst, sport, dport)],
                   dtype=np.uint8)
    assert toeplitz_batch(raw).tolist() == h_ports
    assert toeplitz_batch(np.ascontiguousarray(raw[:, : raw.shape[1] - 4])).tolist() == h_addr


def test_tuple_dtypes_lay_out_the_rss_input_first():
    t = make_tuples(["66.9.149.187"], ["161.142.100.80"], [2794], [1766], proto=17)
    assert t.tobytes()[:12] == rss_input("66.9.149.187", "161.142.100.80", 2794, 1766)
    assert (t.itemsize, IPV6_TUPLE_DTYPE.itemsize) == (16, 40)
    assert int(t["proto"][0]) == 17


def test_empty_inputs():
    assert toeplitz(b"") == 0
    assert toeplitz_batch(np.zeros((0, 12), np.uint8)).shape == (0,)
    assert toeplitz_batch(np.zeros((3, 0), np.uint8)).tolist() == [0, 0, 0]
    assert rss_hash_batch(np.zeros(0, IPV4_TUPLE_DTYPE)).shape == (0,)
    assert IndirectionTable(2).queue_batch(np.zeros(0, np.uint32)).shape == (0,)


def test_bytes_like_inputs_and_output_buffer():
    data = rss_input("66.9.149.187", "161.142.100.80", 2794, 1766)
    assert toeplitz(bytearray(data)) == toeplitz(memoryview(data)) == 0x51CCC178
    assert toeplitz(np.frombuffer(data, np.uint8)) == 0x51CCC178
    out = np.zeros(1, np.uint32)
    res = toeplitz_batch(np.frombuffer(data, np.uint8).reshape(1, 12), out=out)
    assert res is out and out[0] == 0x51CCC178


def test_other_keys_and_the_longest_input():
    key = bytes(range(1, 53))              # a 52-byte key (i40e size) hashes 48 bytes
    h = ToeplitzHasher(key)
    assert h.max_input == 48 and h.key == key
    data = bytes(range(200, 248))
    assert h.hash(data) == toeplitz(data, key) == toeplitz_reference(data, key)
    rows = np.frombuffer(data, np.uint8).reshape(1, 48)
    assert toeplitz_batch(rows, key).tolist() == [toeplitz_reference(data, key)]
    assert toeplitz(bytes(36)) == 0 and toeplitz(b"\xff" * 36) == toeplitz_reference(b"\xff" * 36)


def test_hasher_pickles_and_repr():
    h = pickle.loads(pickle.dumps(ToeplitzHasher()))
    assert h.hash(b"\x01\x02\x03\x04") == toeplitz(b"\x01\x02\x03\x04")
    assert "6d5a56da" in repr(h)


# --- indirection table ------------------------------------------------------

def test_reta_default_round_robin_and_settable_entries():
    reta = IndirectionTable(3)
    assert len(reta) == reta.size == 128 and reta.n_queues == 3
    assert reta.entries_array().tolist() == [i % 3 for i in range(128)]
    reta[5] = 0
    assert reta[5] == 0 and reta.queue(5 + 128 * 77) == 0
    reta.set_entries([2] * 128)
    assert set(reta.queue_batch(np.arange(1000, dtype=np.uint32)).tolist()) == {2}
    reta.reset()
    assert reta[5] == 2
    assert pickle.loads(pickle.dumps(reta)).entries_array().tolist() == reta.entries_array().tolist()


def test_reta_uses_the_low_bits_of_the_hash():
    reta = IndirectionTable(4, size=128)
    assert reta.queue(0x51CCC178) == 0x78 % 4
    assert reta.queue(0xFFFFFFFF) == 127 % 4
    assert IndirectionTable(1, size=1).queue(0xDEADBEEF) == 0


# --- bad input: every one names the parameter and the value -------------------

BAD = [
    (lambda: ToeplitzHasher(b"short"), ValueError, "key must be 8 to 64 bytes long (the standard RSS key has 40), got 5 bytes"),
    (lambda: ToeplitzHasher(bytes(65)), ValueError, "got 65 bytes"),
    (lambda: ToeplitzHasher("6d5a56da" * 10), TypeError, "key must be bytes, got str"),
    (lambda: toeplitz(b"x" * 12, key=b"k" * 7), ValueError, "key must be 8 to 64 bytes long"),
    (lambda: toeplitz(b"x" * 12, key=12345), TypeError, "key must be bytes, got int"),
    (lambda: toeplitz(b"x" * 37), ValueError, "data must be at most 36 bytes for a 40-byte key, got 37 bytes"),
    (lambda: toeplitz("abc"), TypeError, "data must be a contiguous bytes-like object, got str"),
    (lambda: toeplitz(12), TypeError, "got int"),
    (lambda: toeplitz_batch([[1, 2, 3]]), TypeError, "data must be a numpy.ndarray of dtype uint8, got list"),
    (lambda: toeplitz_batch(np.zeros((2, 12), np.int32)), TypeError, "data must have dtype uint8, got int32"),
    (lambda: toeplitz_batch(np.zeros(12, np.uint8)), ValueError, "data must be 2-dimensional, got shape (12,)"),
    (lambda: toeplitz_batch(np.zeros((4, 24), np.uint8)[:, ::2]), ValueError, "data must be C-contiguous"),
    (lambda: toeplitz_batch(np.zeros((4, 12), np.uint8).T), ValueError, "data must be C-contiguous"),
    (lambda: toeplitz_batch(np.zeros((2, 40), np.uint8)), ValueError, "data rows must be at most 36 bytes for a 40-byte key, got shape (2, 40)"),
    (lambda: toeplitz_batch(np.zeros((2, 12), np.uint8), out=np.zeros(3, np.uint32)), ValueError, "out must have length 2, got 3"),
    (lambda: toeplitz_batch(np.zeros((2, 12), np.uint8), out=np.zeros(2, np.int64)), TypeError, "out must have dtype uint32, got int64"),
    (lambda: rss_hash_batch(np.zeros(3, np.uint64)), TypeError, "tuples must have dtype IPV4_TUPLE_DTYPE or IPV6_TUPLE_DTYPE, got uint64"),
    (lambda: rss_hash_batch([1, 2]), TypeError, "tuples must be a numpy.ndarray, got list"),
    (lambda: rss_hash_batch(np.zeros(4, IPV4_TUPLE_DTYPE)[::2]), ValueError, "records must be 1-D and C-contiguous"),
    (lambda: rss_input("1.2.3.4", "::1"), ValueError, "src and dst must be of the same IP version, got 1.2.3.4 and ::1"),
    (lambda: rss_input("1.2.3.400", "1.2.3.4"), ValueError, "src must be an IPv4 or IPv6 address, got '1.2.3.400'"),
    (lambda: rss_input(1.5, "1.2.3.4"), TypeError, "src must be an IP address (str, int, bytes or ipaddress), got 1.5"),
    (lambda: rss_input("1.2.3.4", "1.2.3.5", 80), ValueError, "src_port and dst_port must be given together, got 80 and None"),
    (lambda: rss_input("1.2.3.4", "1.2.3.5", 80, 70000), ValueError, "dst_port must be in [0, 2**16 - 1], got 70000"),
    (lambda: make_tuples(["1.2.3.4"], ["1.2.3.5", "1.2.3.6"]), ValueError, "src and dst must have the same length, got 1 and 2"),
    (lambda: make_tuples(["1.2.3.4", "::1"], ["1.2.3.5", "::2"]), ValueError, "all addresses must be IPv4, got ::1"),
    (lambda: make_tuples(["1.2.3.4"], ["1.2.3.5"], [-1]), ValueError, "src_port must be in [0, 65535], got -1"),
    (lambda: make_tuples(["1.2.3.4"], ["1.2.3.5"], proto=[1.5]), TypeError, "proto must be integers, got dtype float64"),
    (lambda: IndirectionTable(4, size=100), ValueError, "size must be a power of two in [1, 2**16], got 100"),
    (lambda: IndirectionTable(4, size=0), ValueError, "size must be a power of two in [1, 2**16], got 0"),
    (lambda: IndirectionTable(4, size=1 << 17), ValueError, "got 131072"),
    (lambda: IndirectionTable(0), ValueError, "n_queues must be in [1, 2**16 - 1], got 0"),
    (lambda: IndirectionTable(4.0), TypeError, "n_queues must be an integer, got 4.0"),
    (lambda: IndirectionTable(True), TypeError, "n_queues must be an integer, got True"),
]


@pytest.mark.parametrize("call, exc, message", BAD, ids=[b[2][:50] for b in BAD])
def test_bad_input(call, exc, message):
    with pytest.raises(exc) as info:
        call()
    assert message in str(info.value)


def test_bad_reta_writes_leave_the_table_unchanged():
    reta = IndirectionTable(4, size=8)
    before = reta.entries_array().tolist()
    with pytest.raises(ValueError, match=r"queue must be in \[0, 3\], got 4"):
        reta[0] = 4
    with pytest.raises(IndexError, match=r"index must be in \[0, 7\], got 8"):
        reta[8] = 1
    with pytest.raises(ValueError, match=r"entries must be in \[0, 3\], got 9"):
        reta.set_entries([0, 1, 2, 3, 9, 1, 2, 3])
    with pytest.raises(ValueError, match=r"entries must have shape \(8,\), got \(3,\)"):
        reta.set_entries([0, 1, 2])
    with pytest.raises(TypeError, match="entries must be integers, got dtype float64"):
        reta.set_entries([0.5] * 8)
    with pytest.raises(ValueError, match=r"hash must be in \[0, 2\*\*32 - 1\], got -1"):
        reta.queue(-1)
    with pytest.raises(ValueError, match=r"hash must be in \[0, 2\*\*32 - 1\], got 4294967296"):
        reta.queue(1 << 32)
    with pytest.raises(TypeError, match="hash must be an integer, got '7'"):
        reta.queue("7")
    with pytest.raises(TypeError, match="hashes must have dtype uint32, got int64"):
        reta.queue_batch(np.zeros(3, np.int64))
    with pytest.raises(ValueError, match="out must have length 3, got 2"):
        reta.queue_batch(np.zeros(3, np.uint32), out=np.zeros(2, np.uint16))
    assert reta.entries_array().tolist() == before


# -- hardening: the exception contract, construction, the thread contract -----------

def test_toeplitz_refuses_non_bytes():
    from paraflowo import toeplitz
    for bad in (None, "abc", 12, memoryview(b"abcdefgh")[::2], [1, 2]):
        with pytest.raises(TypeError, match="^data must be a contiguous bytes-like object, got "):
            toeplitz(bad)
    assert toeplitz(bytearray(8)) == toeplitz(bytes(8)) == toeplitz(memoryview(bytes(8)))
    assert toeplitz(b"") == 0
    with pytest.raises(ValueError, match="^data must be at most 36 bytes"):
        toeplitz(bytes(37))
    k = bytes(range(40))
    assert toeplitz(bytes(8), key=bytearray(k)) == toeplitz(bytes(8), key=k)
    with pytest.raises(TypeError, match="^key must be bytes, got NoneType$"):
        toeplitz(bytes(8), key=None)


def test_hash_records_and_batch_errors():
    from paraflowo import ToeplitzHasher
    h = ToeplitzHasher()
    rec = np.zeros(3, dtype=[("a", ">u4"), ("b", ">u4")])
    with pytest.raises(ValueError, match=r"^length must be in \[0, 8\], got 1180591620717411303424$"):
        h.hash_records(rec, 2**70)
    with pytest.raises(TypeError, match="^length must be an integer, got True$"):
        h.hash_records(rec, True)
    ro = np.zeros(3, np.uint32)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="^out must be writable, got a read-only array$"):
        h.hash_records(rec, 8, out=ro)
    with pytest.raises(ValueError, match="^out must have length 3, got 2$"):
        h.hash_batch(np.zeros((3, 8), np.uint8), out=np.zeros(2, np.uint32))
    with pytest.raises(ValueError, match=r"^data must be 2-dimensional, got shape \(\)$"):
        h.hash_batch(np.zeros((), np.uint8))
    assert h.hash_records(rec[:0], 8).shape == (0,)
    assert h.hash_batch(np.zeros((2, 0), np.uint8)).tolist() == [0, 0]


def test_reta_index_errors_are_value_and_index_errors():
    from paraflowo import IndirectionTable
    from paraflowo._checks import IndexRangeError
    t = IndirectionTable(4, 8)
    for bad in (8, -1, 2**70):
        with pytest.raises(IndexRangeError, match=r"^index must be in \[0, 7\], got "):
            t[bad]
        with pytest.raises(ValueError):
            t[bad] = 1
        with pytest.raises(IndexError):
            t[bad]
    with pytest.raises(ValueError, match=r"^queue must be in \[0, 3\], got 4$"):
        t[0] = 4
    with pytest.raises(ValueError, match=r"^entries must be in \[0, 3\], got 1180591620717411303424$"):
        t.set_entries([2**70] * 8)
    with pytest.raises(ValueError, match=r"^hash must be in \[0, 2\*\*32 - 1\], got 4294967296$"):
        t.queue(2**32)
    assert list(t) == [0, 1, 2, 3, 0, 1, 2, 3]       # iteration stops at the IndexError
    assert t.entries_array().tolist() == [0, 1, 2, 3, 0, 1, 2, 3]


def test_hashing_types_are_safe_without_init():
    from paraflowo import IndirectionTable, ToeplitzHasher
    assert ToeplitzHasher.__new__(ToeplitzHasher).hash(bytes(8)) == ToeplitzHasher().hash(bytes(8))
    with pytest.raises(TypeError):
        IndirectionTable.__new__(IndirectionTable)

    class Reta(IndirectionTable):
        def __init__(self, n):          # skips super().__init__: __cinit__ still ran
            pass

    class Hasher(ToeplitzHasher):
        def __init__(self):
            pass

    assert Reta(4).queue(5) == 1 and len(Reta(4)) == 128
    assert Hasher().hash(bytes(8)) == ToeplitzHasher().hash(bytes(8))


def test_reta_refuses_calls_during_queue_batch():
    from paraflowo import IndirectionTable
    from threadutil import while_busy
    n = 1 << 20
    for _ in range(6):
        t = IndirectionTable(4, 128)
        hashes = np.arange(n, dtype=np.uint32)
        done = {}
        probes = {
            "getitem": lambda: t[0],
            "setitem": lambda: t.__setitem__(0, 1),
            "set_entries": lambda: t.set_entries(np.zeros(128, np.uint16)),
            "reset": lambda: t.reset(),
            "queue": lambda: t.queue(5),
            "entries_array": lambda: t.entries_array(),
        }
        e = np.empty(0, np.uint32)
        outcomes = while_busy(lambda: done.update(q=t.queue_batch(hashes)),
                              lambda: t.queue_batch(e), probes)
        if outcomes is not None:
            break
        n *= 2
    else:
        pytest.fail("queue_batch was never seen running")
    for name, got in outcomes.items():
        assert isinstance(got, RuntimeError), name
        assert str(got) == ("IndirectionTable is in use by another thread (a burst is running "
                            "without the GIL); give each thread its own IndirectionTable")
    assert (done["q"] == hashes % 4).all()


def test_python_helpers_exception_contract():
    from paraflowo import make_tuples, rss_hash_batch
    t = make_tuples(["1.2.3.4"], ["5.6.7.8"], [1], [2])
    for bad in ("no", 1, None):
        with pytest.raises(TypeError, match="^ports must be a bool, got "):
            rss_hash_batch(t, ports=bad)
    assert rss_hash_batch(t, ports=np.bool_(False)).tolist() == rss_hash_batch(t, False).tolist()
    with pytest.raises(TypeError, match="^src must be a sequence of addresses, got int$"):
        make_tuples(5, ["1.2.3.4"])
    with pytest.raises(ValueError, match=r"^src_port must be in \[0, 65535\], got 1180591620717411303424$"):
        make_tuples(["1.2.3.4"], ["5.6.7.8"], [2**70], [1])
    with pytest.raises(ValueError, match=r"^proto must be one integer or 1 of them, got shape \(2,\)$"):
        make_tuples(["1.2.3.4"], ["5.6.7.8"], 1, 2, [6, 17])
    with pytest.raises(TypeError, match="^dst_port must be integers, got dtype bool$"):
        make_tuples(["1.2.3.4"], ["5.6.7.8"], 1, True)
