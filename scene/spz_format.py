"""Decode Niantic SPZ files (``*.spz``, versions 2, 3 and 4) into the ``ply_io`` arrays.

Container. Versions 2 and 3: the whole file is one gzip stream; inside it a 16-byte header and
then the attribute blocks, one after the other. Version 4: a 32-byte plain header, a table of
contents, and one Zstandard frame per attribute block (nothing is gzipped). All little endian.

| bytes (v2/v3, after gunzip) | v4 | field |
|---|---|---|
| 0–3 | 0–3 | magic ``NGSP`` (u32 0x5053474E) |
| 4–7 | 4–7 | version u32 (1 = float16 positions, not read here; 2, 3, 4) |
| 8–11 | 8–11 | N, number of Gaussians, u32 |
| 12 | 12 | SH degree d u8 (0–3 read here; 4 exists and is refused) |
| 13 | 13 | fractional bits F of the fixed-point positions, u8 |
| 14 | 14 | flags u8 (bit 0: trained with antialiasing) |
| 15 | 15 | reserved (v4: number of streams S, 5 without SH, 6 with) |
| — | 16–19 | v4: byte offset of the table of contents u32 (then reserved up to 32) |
| — | TOC | v4: S × (compressed bytes u64, uncompressed bytes u64), then the S Zstandard frames |

Attribute blocks (in this order; v4: one stream each, SH stream absent at d = 0):

| block | bytes | decoding |
|---|---|---|
| positions | 9·N: x y z as signed 24-bit integers | ``means = int24 / 2^F`` |
| alphas | N | ``opacities = logit(u / 255)`` (u = 255 gives +inf: clamped to +20 by the reader) |
| colours | 3·N | ``sh0 = (u / 255 − 0.5) / 0.15`` (SPZ's colour scale, not SH_C0) |
| scales | 3·N | ``scales (log) = u / 16 − 10`` |
| rotations | v2: 3·N: x y z | ``xyz = u / 127.5 − 1``, ``w = √max(0, 1 − |xyz|²)`` |
| | v3, v4: 4·N: u32 smallest-three | bits 31–30: index L of the largest of (x, y, z, w); then, from the low bits, for the other indices in *descending* order, 10 bits each: 9-bit magnitude m and a sign bit: ``±m / 511 / √2``; the largest ``√max(0, 1 − Σ)`` |
| SH | N·3·((d+1)² − 1), per Gaussian coefficient-major, colour inner | ``shN = (u − 128) / 128`` |

Coordinates are read as stored (the spec's "unspecified" system, as splat-transform reads and
writes them): a file made from a 3DGS PLY decodes to that PLY's frame.
"""
from __future__ import annotations

import gzip
import io
import logging
import struct
import zlib

import numpy as np

logger = logging.getLogger(__name__)

__all__ = ["SPZ_MAGIC", "SpzHeader", "read_spz_header", "decode_spz"]

SPZ_MAGIC = 0x5053474E  # b"NGSP" little endian
GZIP_MAGIC = b"\x1f\x8b"
_HEADER_V3 = 16
_HEADER_V4 = 32
_COLOR_SCALE = 0.15
_SH_COEFFS = (0, 3, 8, 15, 24)
_FLAG_ANTIALIASED = 0x1


class SpzHeader:
    """The fields of an SPZ header (see the module table)."""

    def __init__(self, version: int, n_gaussians: int, sh_degree: int, fractional_bits: int,
                 flags: int, n_streams: int = 0, toc_offset: int = 0):
        self.version = version
        self.n_gaussians = n_gaussians
        self.sh_degree = sh_degree
        self.fractional_bits = fractional_bits
        self.flags = flags
        self.n_streams = n_streams
        self.toc_offset = toc_offset

    @property
    def antialiased(self) -> bool:
        return bool(self.flags & _FLAG_ANTIALIASED)

    def block_sizes(self) -> list[int]:
        """Bytes of each attribute block, in file order (the SH block only at d > 0)."""
        n = self.n_gaussians
        sizes = [9 * n, n, 3 * n, 3 * n, (3 if self.version == 2 else 4) * n]
        if self.sh_degree > 0:
            sizes.append(3 * _SH_COEFFS[self.sh_degree] * n)
        return sizes


def _parse_header(raw: bytes, path) -> SpzHeader:
    if len(raw) < _HEADER_V3:
        raise ValueError(f"{path}: truncated SPZ file: {len(raw)} bytes of header, expected 16; "
                         "copy or export the file again")
    magic, version, n, degree, frac, flags, reserved = struct.unpack_from("<IIIBBBB", raw, 0)
    if magic != SPZ_MAGIC:
        raise ValueError(f"{path}: not an SPZ file (magic {raw[:4]!r}, expected b'NGSP')")
    if version == 1:
        raise ValueError(f"{path}: SPZ version 1 (float16 positions) is not supported; re-save it "
                         "as version 3 or 4 (e.g. splat-transform IN.spz OUT.spz)")
    if not 2 <= version <= 4:
        raise ValueError(f"{path}: SPZ version {version} is not supported (versions 2, 3, 4 are); "
                         "update this reader or convert the file with splat-transform")
    if degree > 3:
        raise ValueError(f"{path}: SPZ SH degree {degree} is not supported (0–3 are); drop the "
                         "higher band when converting (splat-transform -H 3)")
    if n == 0:
        raise ValueError(f"{path}: the SPZ file holds zero Gaussians; nothing to load")
    if version >= 4:
        if len(raw) < _HEADER_V4:
            raise ValueError(f"{path}: truncated SPZ file: {len(raw)} bytes, a version-4 header "
                             "needs 32; copy or export the file again")
        (toc,) = struct.unpack_from("<I", raw, 16)
        return SpzHeader(version, n, degree, frac, flags, n_streams=reserved, toc_offset=toc)
    return SpzHeader(version, n, degree, frac, flags)


def gunzip_prefix(data: bytes, path, limit: int = -1) -> bytes:
    """The gzip stream's content (its first ``limit`` bytes when given: then ``data`` may be only
    the beginning of the file); ValueError naming ``path`` if it does not decode."""
    try:
        if limit >= 0:
            with gzip.GzipFile(fileobj=io.BytesIO(data)) as fh:
                return fh.read(limit)
        return gzip.decompress(data)
    except (EOFError, OSError, zlib.error) as exc:
        raise ValueError(f"{path}: truncated or corrupted SPZ file (the gzip stream does not "
                         f"decode: {exc}); copy or export the file again") from None


def read_spz_header(data: bytes, path) -> SpzHeader:
    """The header of the SPZ file whose bytes begin with ``data`` (cheap: gunzips 16 bytes)."""
    raw = gunzip_prefix(data, path, _HEADER_V3) if data[:2] == GZIP_MAGIC else data[:_HEADER_V4]
    return _parse_header(raw, path)


def _blocks_v3(raw: bytes, header: SpzHeader, path) -> list[bytes]:
    sizes = header.block_sizes()
    need = _HEADER_V3 + sum(sizes)
    if len(raw) < need:
        raise ValueError(f"{path}: truncated SPZ file: {len(raw)} bytes after gunzip, the header "
                         f"({header.n_gaussians} Gaussians, SH degree {header.sh_degree}) needs "
                         f"{need}; copy or export the file again")
    out, offset = [], _HEADER_V3
    for size in sizes:
        out.append(raw[offset:offset + size])
        offset += size
    return out


def _blocks_v4(data: bytes, header: SpzHeader, path) -> list[bytes]:
    import zstandard  # lazy: only version 4 needs it

    sizes = header.block_sizes()
    if header.n_streams != len(sizes) or header.toc_offset < _HEADER_V4:
        raise ValueError(f"{path}: corrupted SPZ version-4 header ({header.n_streams} streams at "
                         f"offset {header.toc_offset}; expected {len(sizes)} streams after byte 32)")
    start = header.toc_offset + 16 * len(sizes)
    if len(data) < start:
        raise ValueError(f"{path}: truncated SPZ file: {len(data)} bytes, its table of contents "
                         f"ends at byte {start}; copy or export the file again")
    out, offset = [], start
    decompressor = zstandard.ZstdDecompressor()
    names = ("positions", "alphas", "colours", "scales", "rotations", "SH")
    for i, size in enumerate(sizes):
        packed, unpacked = struct.unpack_from("<QQ", data, header.toc_offset + 16 * i)
        if unpacked != size:
            raise ValueError(f"{path}: corrupted SPZ file: stream {names[i]} declares {unpacked} "
                             f"bytes, {header.n_gaussians} Gaussians need {size}")
        if offset + packed > len(data):
            raise ValueError(f"{path}: truncated SPZ file: stream {names[i]} ends at byte "
                             f"{offset + packed}, the file has {len(data)}; copy or export it again")
        try:
            block = decompressor.decompress(data[offset:offset + packed], max_output_size=size)
        except zstandard.ZstdError as exc:
            raise ValueError(f"{path}: corrupted SPZ file: stream {names[i]} does not decode "
                             f"({exc})") from None
        if len(block) != size:
            raise ValueError(f"{path}: corrupted SPZ file: stream {names[i]} decodes to "
                             f"{len(block)} bytes, expected {size}")
        out.append(block)
        offset += packed
    return out


def _int24(block: bytes, n: int) -> np.ndarray:
    b = np.frombuffer(block, np.uint8).reshape(n, 3, 3).astype(np.int32)
    v = b[..., 0] | (b[..., 1] << 8) | (b[..., 2] << 16)
    return np.where(v & 0x800000, v - (1 << 24), v)


def _rotations_v3(block: bytes, n: int) -> np.ndarray:
    """[N, 4] wxyz from smallest-three u32 (stored component order x, y, z, w)."""
    packed = np.frombuffer(block, "<u4").astype(np.uint32)
    largest = (packed >> 30).astype(np.int64)
    xyzw = np.zeros((n, 4), np.float64)
    rest = packed.copy()
    total = np.zeros(n, np.float64)
    for j in (3, 2, 1, 0):  # the low bits hold the highest remaining index
        take = largest != j
        mag = (rest & 511).astype(np.float64)
        neg = ((rest >> 9) & 1).astype(bool)
        value = np.sqrt(0.5) * mag / 511.0
        value = np.where(neg, -value, value)
        xyzw[take, j] = value[take]
        total += np.where(take, value * value, 0.0)
        rest = np.where(take, rest >> 10, rest)
    xyzw[np.arange(n), largest] = np.sqrt(np.maximum(0.0, 1.0 - total))
    return xyzw[:, [3, 0, 1, 2]]


def _rotations_v2(block: bytes, n: int) -> np.ndarray:
    xyz = np.frombuffer(block, np.uint8).reshape(n, 3).astype(np.float64) / 127.5 - 1.0
    w = np.sqrt(np.maximum(0.0, 1.0 - (xyz * xyz).sum(axis=1)))
    return np.concatenate([w[:, None], xyz], axis=1)


def decode_spz(data: bytes, path) -> dict[str, np.ndarray]:
    """The ``ply_io`` dict (float32; opacities may hold ±inf for α = 0 / 1) of an SPZ file's bytes."""
    if data[:2] == GZIP_MAGIC:
        raw = gunzip_prefix(data, path)
        header = _parse_header(raw, path)
        if header.version >= 4:
            raise ValueError(f"{path}: corrupted SPZ file: a gzip stream holding version "
                             f"{header.version} (version 4 is not gzipped)")
        blocks = _blocks_v3(raw, header, path)
    else:
        header = _parse_header(data, path)
        if header.version < 4:
            raise ValueError(f"{path}: corrupted SPZ file: version {header.version} must be gzipped")
        blocks = _blocks_v4(data, header, path)
    n, degree = header.n_gaussians, header.sh_degree
    if header.antialiased:
        logger.info("%s: SPZ flags a model trained with antialiasing (mip filter); rendered here as a "
                    "standard 3DGS", path)
    positions, alphas, colours, scales, rotations = blocks[:5]
    u = lambda b: np.frombuffer(b, np.uint8).astype(np.float64)  # noqa: E731
    with np.errstate(divide="ignore"):
        a = u(alphas) / 255.0
        opacities = np.log(a) - np.log1p(-a)
    k1 = _SH_COEFFS[degree]
    sh_n = ((u(blocks[5]) - 128.0) / 128.0).reshape(n, k1, 3) if degree else np.zeros((n, 0, 3))
    quats = _rotations_v2(rotations, n) if header.version == 2 else _rotations_v3(rotations, n)
    return {
        "means": _int24(positions, n) / float(1 << header.fractional_bits),
        "quats": quats,
        "scales": u(scales).reshape(n, 3) / 16.0 - 10.0,
        "opacities": opacities,
        "sh0": ((u(colours).reshape(n, 1, 3) / 255.0) - 0.5) / _COLOR_SCALE,
        "shN": sh_n,
    }
