"""Sub-byte packing of b-bit integer codes (b = 1…8) into a uint8 byte stream, and back.

Layout: a little-endian bit stream. Code i occupies stream bits ``[i·b, (i+1)·b)``, its least
significant bit first; stream bit k is bit ``k mod 8`` of byte ``k div 8``. Hence for b = 4 two
codes share a byte, the first in the low nibble (``byte = c0 | c1 << 4``); for b = 2 four codes
(``c0 | c1 << 2 | c2 << 4 | c3 << 6``); for b = 8 the bytes are the codes; for b = 3, 5, 6, 7
codes straddle byte boundaries. Unused high bits of the last byte are 0. The packed size is the
real byte count ``ceil(count · b / 8)`` (``packed_nbytes``).

Unsigned codes must lie in ``[0, 2^b − 1]``; with ``signed=True`` codes in
``[−2^(b−1), 2^(b−1) − 1]`` are stored in b-bit two's complement and sign-extended on unpacking.
Everything is vectorized numpy (no Python loop over codes); long streams are processed in chunks
of whole bytes to bound temporary memory.
"""
from __future__ import annotations

import numpy as np
import torch

__all__ = ["packed_nbytes", "pack_codes", "unpack_codes", "unpack_codes_torch", "TORCH_UNPACK_BITS"]

#: bit widths whose codes never straddle a byte, so ``unpack_codes_torch`` can unpack them on any device
TORCH_UNPACK_BITS = (2, 4)

_CHUNK_CODES = 1 << 20  # a multiple of 8, so every chunk starts on a byte boundary


def _check_bits(bits) -> int:
    if isinstance(bits, bool) or int(bits) != bits or not 1 <= int(bits) <= 8:
        raise ValueError(f"pack/unpack supports 1..8 bits per code, got {bits!r}")
    return int(bits)


def packed_nbytes(count: int, bits: int) -> int:
    """Bytes needed for ``count`` codes of ``bits`` bits: ``ceil(count · bits / 8)``."""
    bits = _check_bits(bits)
    if int(count) != count or count < 0:
        raise ValueError(f"count must be a non-negative integer, got {count!r}")
    return (int(count) * bits + 7) // 8


def _to_numpy(codes) -> np.ndarray:
    if hasattr(codes, "detach") and hasattr(codes, "cpu"):  # a torch tensor, without importing torch
        codes = codes.detach().cpu().numpy()
    arr = np.asarray(codes)
    if arr.dtype.kind not in "iub":
        if arr.dtype.kind == "f" and arr.size and not np.all(np.isfinite(arr) & (arr == np.round(arr))):
            raise ValueError("codes must be integers; got non-integer float values")
        if arr.dtype.kind != "f":
            raise ValueError(f"codes must be an integer array, got dtype {arr.dtype}")
    return arr.reshape(-1)


def pack_codes(codes, bits: int, signed: bool = False) -> np.ndarray:
    """Pack b-bit codes into ``np.ndarray uint8 [ceil(n·b/8)]`` (layout in the module docstring).

    Args:
        codes: integer array-like or torch tensor, any shape (flattened in C order).
        bits: 1..8.
        signed: codes are two's-complement values in ``[−2^(b−1), 2^(b−1) − 1]``.
    Raises ``ValueError`` for a code outside its range (naming the offending value).
    """
    bits = _check_bits(bits)
    arr = _to_numpy(codes)
    n = arr.size
    if signed:
        lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    else:
        lo, hi = 0, (1 << bits) - 1
    if n:
        amin, amax = arr.min(), arr.max()
        if amin < lo or amax > hi:
            bad = amin if amin < lo else amax
            raise ValueError(f"code {bad} does not fit in {bits} {'signed' if signed else 'unsigned'} bits "
                             f"(allowed {lo}..{hi})")
    u = (arr.astype(np.int64) & ((1 << bits) - 1)).astype(np.uint8)
    if bits == 8:
        return u.copy()
    out = np.empty(packed_nbytes(n, bits), dtype=np.uint8)
    if 8 % bits == 0:  # 1, 2, 4: k codes per byte, no straddling
        k = 8 // bits
        full = (n // k) * k
        body = u[:full].reshape(-1, k).astype(np.uint16)
        shifts = (np.arange(k, dtype=np.uint16) * bits)
        out[: full // k] = np.bitwise_or.reduce(body << shifts, axis=1).astype(np.uint8)
        if full < n:
            tail = u[full:].astype(np.uint16)
            out[-1] = np.bitwise_or.reduce(tail << shifts[: n - full]).astype(np.uint8)
        return out
    shifts = np.arange(bits, dtype=np.uint8)
    for start in range(0, n, _CHUNK_CODES):
        chunk = u[start:start + _CHUNK_CODES]
        bitplane = ((chunk[:, None] >> shifts) & 1).astype(np.uint8).reshape(-1)
        packed = np.packbits(bitplane, bitorder="little")
        b0 = start * bits // 8
        out[b0:b0 + packed.size] = packed
    return out


def unpack_codes(packed, bits: int, count: int, signed: bool = False) -> np.ndarray:
    """Inverse of ``pack_codes``: ``count`` codes as ``np.ndarray [count]``.

    dtype uint8 (int8 with ``signed=True``). ``packed`` must hold exactly
    ``packed_nbytes(count, bits)`` bytes, else ``ValueError`` (truncated or oversized stream).
    """
    bits = _check_bits(bits)
    nbytes = packed_nbytes(count, bits)
    buf = np.frombuffer(packed, dtype=np.uint8) if isinstance(packed, (bytes, bytearray, memoryview)) \
        else np.asarray(packed)
    if buf.dtype != np.uint8:
        raise ValueError(f"packed codes must be uint8 bytes, got dtype {buf.dtype}")
    buf = buf.reshape(-1)
    if buf.size != nbytes:
        raise ValueError(f"packed stream has {buf.size} bytes but {count} codes of {bits} bits need "
                         f"exactly {nbytes}; the data is truncated or does not belong to this layout")
    count = int(count)
    if bits == 8:
        u = buf.copy()
    elif 8 % bits == 0:
        k = 8 // bits
        shifts = (np.arange(k, dtype=np.uint8) * bits)
        u = ((buf[:, None] >> shifts) & ((1 << bits) - 1)).astype(np.uint8).reshape(-1)[:count]
    else:
        u = np.empty(count, dtype=np.uint8)
        weights = (1 << np.arange(bits, dtype=np.uint16)).astype(np.uint16)
        for start in range(0, count, _CHUNK_CODES):
            stop = min(count, start + _CHUNK_CODES)
            b0, b1 = start * bits // 8, (stop * bits + 7) // 8
            bitplane = np.unpackbits(buf[b0:b1], bitorder="little")[: (stop - start) * bits]
            u[start:stop] = (bitplane.reshape(-1, bits).astype(np.uint16) @ weights).astype(np.uint8)
    if not signed:
        return u
    sign = np.uint8(1 << (bits - 1))
    s = u.astype(np.int16)
    s = np.where(u & sign, s - (1 << bits), s)
    return s.astype(np.int8)


def unpack_codes_torch(packed: torch.Tensor, bits: int, count: int, signed: bool) -> torch.Tensor:
    """Tensor-op inverse of :func:`pack_codes` for b ∈ {2, 4} (codes never straddle a byte).

    Byte j holds codes j·k … j·k + k − 1 (k = 8/b), code i in bits ``[(i mod k)·b, (i mod k + 1)·b)``
    — the layout of this module. Signed codes are sign-extended from b bits.

    Args:
        packed: uint8 [⌈count·b/8⌉] on any device.
    Returns:
        [count] codes on ``packed``'s device: int8 when ``signed`` (sign-extended with
        (u XOR 2^(b−1)) − 2^(b−1)), else uint8.
    """
    if bits not in TORCH_UNPACK_BITS:
        raise ValueError(f"unpack_codes_torch supports bits in {TORCH_UNPACK_BITS}, got {bits}")
    if packed.dtype != torch.uint8 or packed.dim() != 1 or packed.numel() != packed_nbytes(count, bits):
        raise ValueError(f"packed codes must be uint8 [{packed_nbytes(count, bits)}] for {count} codes "
                         f"of {bits} bits, got {packed.dtype} {tuple(packed.shape)}")
    mask = (1 << bits) - 1
    lanes = [packed & mask] + [(packed >> shift) & mask for shift in range(bits, 8, bits)]
    u = torch.stack(lanes, dim=1).reshape(-1)[:count]
    if signed:
        half = 1 << (bits - 1)
        return (u ^ half).to(torch.int8) - half
    return u
