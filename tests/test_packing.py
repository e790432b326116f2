"""quant.packing: b-bit codes ↔ bytes."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import quant.packing as packing
from quant import pack_codes, packed_nbytes, unpack_codes


def test_hand_layouts():
    # 4 bits: two codes per byte, first code in the low nibble
    assert pack_codes([1, 2, 3], 4).tolist() == [0x21, 0x03]
    # 2 bits: c0 | c1 << 2 | c2 << 4 | c3 << 6
    assert pack_codes([1, 2, 3, 0, 1], 2).tolist() == [0b00111001, 0b01]
    # 3 bits straddle bytes: 5 | 3 << 3 | 7 << 6 = 477 = 0x1DD
    assert pack_codes([5, 3, 7], 3).tolist() == [0xDD, 0x01]
    # 1 bit: LSB first
    assert pack_codes([1, 0, 0, 0, 0, 0, 0, 1, 1], 1).tolist() == [0x81, 0x01]
    # 8 bits: the codes themselves
    assert pack_codes([0, 255, 7], 8).tolist() == [0, 255, 7]


@pytest.mark.parametrize("bits", range(1, 9))
@pytest.mark.parametrize("count", [0, 1, 7, 8, 9, 1001])
def test_round_trip_and_byte_count(bits, count):
    rng = np.random.default_rng(bits * 1000 + count)
    codes = rng.integers(0, 2 ** bits, size=count)
    packed = pack_codes(codes, bits)
    assert packed.dtype == np.uint8
    assert packed.size == packed_nbytes(count, bits) == -(-count * bits // 8)
    out = unpack_codes(packed, bits, count)
    assert out.dtype == np.uint8 and np.array_equal(out, codes)
    assert np.array_equal(unpack_codes(packed.tobytes(), bits, count), codes)


@pytest.mark.parametrize("bits", [2, 3, 4, 5, 8])
def test_signed_round_trip(bits):
    lo, hi = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    codes = np.arange(lo, hi + 1).repeat(3)
    out = unpack_codes(pack_codes(codes, bits, signed=True), bits, codes.size, signed=True)
    assert out.dtype == np.int8 and np.array_equal(out, codes)


def test_torch_input_and_2d_arrays():
    t = torch.randint(0, 16, (13, 7), dtype=torch.uint8)
    packed = pack_codes(t, 4)
    assert packed.size == (13 * 7 + 1) // 2
    assert np.array_equal(unpack_codes(packed, 4, 91).reshape(13, 7), t.numpy())


@pytest.mark.parametrize("bits", [3, 5, 6, 7])
def test_chunked_path_matches(monkeypatch, bits):
    rng = np.random.default_rng(bits)
    codes = rng.integers(0, 2 ** bits, size=1237)
    whole = pack_codes(codes, bits)
    monkeypatch.setattr(packing, "_CHUNK_CODES", 16)
    chunked = pack_codes(codes, bits)
    assert np.array_equal(whole, chunked)
    assert np.array_equal(unpack_codes(chunked, bits, codes.size), codes)


def test_errors():
    with pytest.raises(ValueError, match="does not fit"):
        pack_codes([0, 16], 4)
    with pytest.raises(ValueError, match="does not fit"):
        pack_codes([-1], 4)
    with pytest.raises(ValueError, match="does not fit"):
        pack_codes([8], 4, signed=True)
    with pytest.raises(ValueError, match="1..8"):
        pack_codes([1], 9)
    with pytest.raises(ValueError, match="integer"):
        pack_codes(np.array([0.5]), 4)
    packed = pack_codes(np.arange(10) % 8, 3)
    with pytest.raises(ValueError, match="truncated"):
        unpack_codes(packed[:-1], 3, 10)
    with pytest.raises(ValueError, match="exactly"):
        unpack_codes(np.concatenate([packed, [0]]).astype(np.uint8), 3, 10)


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 8), st.data())
def test_property_round_trip(bits, data):
    codes = data.draw(st.lists(st.integers(0, 2 ** bits - 1), max_size=200))
    packed = pack_codes(np.array(codes, dtype=np.int64), bits)
    assert packed.size == packed_nbytes(len(codes), bits)
    assert unpack_codes(packed, bits, len(codes)).tolist() == codes
