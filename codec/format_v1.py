"""Format version 1 members: raw AC codes and raw octree occupancy bytes inside zip-compressed ``.npz``.

| file            | member                                   | dtype, shape | content |
|-----------------|------------------------------------------|--------------|---------|
| ``ac.npz``      | ``opacity``, ``euler``, ``f_dc``, ``f_rest``, ``scale`` | uint8 [C_g·(N−1)] for b = 8; packed uint8 (quant/packing, ⌈C_g·(N−1)·b/8⌉ bytes) for b < 8; uint16 [C_g·(N−1)] for b > 8 | AC codes (RAHT slots 1…N−1) of the C_g channels of each group, channel-major. Empty groups (``f_rest`` at SH degree 0) are absent. |
| ``geometry.npz``| ``bbox``                                 | float32 [6]  | min_x, min_y, min_z, max_x, max_y, max_z of the voxel grid |
|                 | ``occupancy``                            | uint8 [K]    | octree occupancy bytes of the N voxels at depth d (``raht.encode_occupancy``) |

Every member uses the payload's zip method (``--codec deflate``; files written with store, bzip2 or lzma
are read the same way).
"""
from __future__ import annotations

import io
import zipfile
from typing import Optional

import numpy as np
import torch

from quant.packing import pack_codes, packed_nbytes, unpack_codes
from raht import decode_occupancy, encode_occupancy

from .channel_layout import ChannelLayout
from .container import CompressedFormatError, load_npz_arrays, npz_bytes
from .payload import ZIP_CODECS, CompressedPayload, code_dtype

__all__ = ["encode_ac_v1", "decode_ac_v1", "encode_geometry_v1", "decode_geometry_v1"]


def _groups(layout: ChannelLayout):
    return [(g, s) for g, s in layout.group_slices().items() if s.stop > s.start]


def encode_ac_v1(payload: CompressedPayload, level: Optional[int]) -> tuple[bytes, dict[str, int]]:
    """(``ac.npz`` bytes, compressed bytes of each group's member)."""
    members = []
    for group, sl in _groups(payload.layout):
        flat = np.ascontiguousarray(payload.ac_codes[:, sl].T).reshape(-1)  # channel-major
        if payload.bits < 8:
            arr = np.asarray(pack_codes(flat.astype(np.int64), payload.bits), dtype=np.uint8)
        else:
            arr = flat.astype(code_dtype(payload.bits), copy=False)
        members.append((group, arr))
    data = npz_bytes(members, ZIP_CODECS[payload.codec], level)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        components = {"ac_" + info.filename[: -len(".npy")]: info.compress_size for info in zf.infolist()}
    return data, components


def decode_ac_v1(raw: bytes, where: str, layout: ChannelLayout, n: int, bits: int) -> np.ndarray:
    groups = _groups(layout)
    ac_raw = load_npz_arrays(raw, where, [g for g, _ in groups])
    dtype = code_dtype(bits)
    ac_codes = np.empty((n - 1, layout.n_channels), dtype=dtype)
    for g, sl in groups:
        arr = ac_raw[g]
        count = (sl.stop - sl.start) * (n - 1)
        if bits < 8:
            expected = packed_nbytes(count, bits)
            if arr.dtype != np.uint8 or arr.shape != (expected,):
                raise CompressedFormatError(f"{where}: {g} must be packed uint8 [{expected}], got {arr.dtype} {list(arr.shape)}")
            flat = np.asarray(unpack_codes(arr, bits, count)).astype(dtype)
        else:
            if arr.dtype != dtype or arr.shape != (count,):
                raise CompressedFormatError(f"{where}: {g} must be {np.dtype(dtype).name} [{count}] "
                                            f"({sl.stop - sl.start} channels × (N−1) = {n - 1}), got {arr.dtype} {list(arr.shape)}")
            flat = arr
        ac_codes[:, sl] = flat.reshape(sl.stop - sl.start, n - 1).T
    return ac_codes


def encode_geometry_v1(payload: CompressedPayload, bbox: np.ndarray, level: Optional[int]) -> bytes:
    occupancy = encode_occupancy(torch.from_numpy(payload.coords), payload.depth)
    return npz_bytes([("bbox", bbox), ("occupancy", occupancy)], ZIP_CODECS[payload.codec], level)


def decode_geometry_v1(raw: bytes, where: str, depth: int, n: int) -> tuple[np.ndarray, torch.Tensor]:
    """(bbox float32 [6], coords [N, 3] int64 in Morton order)."""
    geo = load_npz_arrays(raw, where, ["bbox", "occupancy"])
    occupancy = geo["occupancy"]
    if occupancy.dtype != np.uint8 or occupancy.ndim != 1:
        raise CompressedFormatError(f"{where}: occupancy must be a 1-D uint8 array, got {occupancy.dtype} {list(occupancy.shape)}")
    try:
        coords = decode_occupancy(occupancy, depth)
    except ValueError as exc:
        raise CompressedFormatError(f"{where}: octree occupancy does not decode ({exc})") from exc
    if coords.shape[0] != n:
        raise CompressedFormatError(f"{where}: occupancy decodes to {coords.shape[0]} voxels, the manifest says {n}")
    return geo["bbox"], coords
