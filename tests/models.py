"""Small, obviously-correct pure-Python reference models for the property tests."""

from paraflowo import RSS_DEFAULT_KEY


def toeplitz_reference(data: bytes, key: bytes = RSS_DEFAULT_KEY) -> int:
    """The Toeplitz hash exactly as the Microsoft RSS specification writes it.

    For each bit of the input, from the most significant bit of the first byte,
    if the bit is set XOR the result with the left-most 32 bits of the key; then
    shift the key left by one bit.
    """
    k = int.from_bytes(key, "big")
    key_bits = 8 * len(key)
    result = 0
    for i in range(8 * len(data)):
        if data[i // 8] & (0x80 >> (i % 8)):
            result ^= (k >> (key_bits - 32 - i)) & 0xFFFFFFFF
    return result
