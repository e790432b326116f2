"""Format version 2 members: range-coded AC codes and a context-coded octree.

| file            | member         | dtype, shape        | content |
|-----------------|----------------|---------------------|---------|
| ``ac.npz``      | ``model``      | uint8 [C]           | entropy model of each channel: 1 geometric (quantized Laplace per block and RAHT weight class), 2 adaptive categorical per weight class (codec/ac_coding.py) |
|                 | ``r_range``    | int32 [C, 2]        | smallest and largest r = code − round(zero point) of each channel |
|                 | ``geometric_k``| int16 [C, B + 12]   | geometric model parameters k_block [B] then k_class [12] (mean |r| = 2^((k_block + k_class)/8)); 0 for adaptive channels |
|                 | ``words``      | int64 [C]           | 32-bit words of each channel's range-coded stream |
|                 | ``stream``     | uint32 [Σ words]    | the streams, channel after channel (zip-stored) |
|                 | ``crc32``      | uint32 [1]          | CRC-32 of the decoded codes ([N − 1, C] little endian) |
| ``geometry.npz``| ``bbox``       | float32 [6]         | min_x, min_y, min_z, max_x, max_y, max_z of the voxel grid |
|                 | ``octree``     | uint32 [K]          | range-coded occupancy bytes, context = the parent's child count (codec/geometry.py; zip-stored) |
|                 | ``frame`` (v4, v6) | float32 [4]     | the coding frame, a unit quaternion w x y z (codec/frame.py) |

Tables are deflated, range-coded streams are stored (DEFLATE cannot shrink them). Version 6 has
the members of version 4; its models' probability tables are integer tables computed by
``codec.entropy.integer_table`` (versions 2–4: constriction's quantization of float weights), and
its AC channels all use model 1.
"""
from __future__ import annotations

import zipfile
from typing import Optional

import numpy as np
import torch

from .ac_coding import AC_MODELS, MODEL_NAMES, AcStreams, code_centres, decode_ac, encode_ac
from .channel_layout import ChannelLayout
from .container import CompressedFormatError, load_npz_arrays, npz_bytes
from .entropy import FLOAT_TABLES, INTEGER_TABLES
from .frame import check_frame
from .geometry import decode_geometry, encode_geometry
from .payload import CompressedPayload

__all__ = ["encode_ac_v2", "decode_ac_v2", "encode_geometry_v2", "decode_geometry_v2", "decode_geometry_v4",
           "entropy_description"]

_LEVEL = 6  # deflate level of the small tables
_AC_MODEL_TEXT = {
    "geometric": "geometric: p(r) ~ theta^|r|, theta = m / (1 + sqrt(1 + m^2)), m = 2^((k_block + k_class) / 8)",
    "adaptive": "adaptive categorical per weight class over [r_min, r_max], counts from 1, chunks 32 * 2^t",
}
_TABLES_TEXT = {
    FLOAT_TABLES: "constriction's Categorical(float64 weights, perfect=False)",
    INTEGER_TABLES: "integer: q_i = 1 + floor(w_i * (2^24 - n) / sum w) (w = floor(theta^|r| * 2^24) or counts), "
                    "the remainder to the first largest weight; the coder gets q - 1 (codec/entropy.py)",
}


def entropy_description(tables: str) -> dict:
    """What the manifest says about the coder and its models, for the version's ``tables``."""
    ids = {name: k for k, name in MODEL_NAMES.items()}
    return {
        "coder": "range coder of constriction (stream.queue.RangeEncoder), 32-bit words, 24-bit probabilities",
        "probability_tables": _TABLES_TEXT[tables],
        "ac_symbols": "r = code - clip(round(zero_point), 0, 2^b - 1); contexts: quantizer block and RAHT weight class "
                      "min(floor(log2(w_L + w_R)) - 1, 11); coded in the stable order of class * n_block + block",
        "ac_models": {str(ids[name]): _AC_MODEL_TEXT[name] for name in AC_MODELS[tables]},
        "geometry": "octree occupancy bytes - 1, adaptive categorical per parent child count (0 = root), counts halved per level",
    }


def encode_ac_v2(payload: CompressedPayload, ac_weight: np.ndarray, tables: str) -> tuple[bytes, dict[str, int], dict]:
    """(``ac.npz`` bytes, per-group stream bytes + ``ac_tables``, model summary for the manifest)."""
    centres = code_centres(payload.zero_point, payload.bits)
    streams = encode_ac(payload.ac_codes, centres, ac_weight, payload.n_block, tables=tables)
    data = npz_bytes(streams.arrays(), zipfile.ZIP_DEFLATED, _LEVEL, stored=("stream",))
    per_channel = streams.channel_bytes()
    components = {"ac_" + g: int(per_channel[s].sum()) for g, s in payload.layout.group_slices().items() if s.stop > s.start}
    components["ac_tables"] = len(data) - int(per_channel.sum())
    counts = np.bincount(streams.model, minlength=max(MODEL_NAMES) + 1)
    summary = {name: int(counts[k]) for k, name in MODEL_NAMES.items() if name in AC_MODELS[tables]}
    return data, components, summary


def decode_ac_v2(raw: bytes, where: str, layout: ChannelLayout, zero_point: np.ndarray, ac_weight: np.ndarray,
                 n_block: int, bits: int, tables: str) -> np.ndarray:
    arrays = load_npz_arrays(raw, where, list(AcStreams.NAMES))
    try:
        return decode_ac(AcStreams(**arrays), code_centres(zero_point, bits), ac_weight, n_block, bits, tables)
    except ValueError as exc:
        raise CompressedFormatError(f"{where}: AC streams do not decode ({exc})") from exc


def encode_geometry_v2(payload: CompressedPayload, bbox: np.ndarray, frame: Optional[np.ndarray], tables: str) -> bytes:
    """``geometry.npz``: bbox and octree, and from version 4 the coding frame."""
    return _geometry_npz(bbox, frame, encode_geometry(payload.coords, payload.depth, tables))


def _geometry_npz(bbox: np.ndarray, frame: Optional[np.ndarray], words: np.ndarray) -> bytes:
    """The ``geometry.npz`` member of a box, an optional frame (version 4 on) and the octree's words."""
    extra = [] if frame is None else [("frame", np.asarray(frame, dtype=np.float32))]
    return npz_bytes([("bbox", bbox), *extra, ("octree", words)], zipfile.ZIP_DEFLATED, _LEVEL, stored=("octree",))


def shifted_geometry_v2(raw: bytes, where: str, delta: np.ndarray) -> bytes:
    """``geometry.npz`` (version 2 on) with its grid box moved by ``delta`` ([3], in the grid's axes: the
    coding frame's from version 4); the octree and the frame are kept as they are."""
    geo = load_npz_arrays(raw, where, ["bbox", "octree", "frame"], optional=("frame",))
    step = np.concatenate([delta, delta]).astype(np.float64)
    bbox = (geo["bbox"].astype(np.float64) + step).astype(np.float32)
    return _geometry_npz(bbox, geo.get("frame"), geo["octree"])


def decode_geometry_v4(raw: bytes, where: str, depth: int, n: int, tables: str) -> tuple[np.ndarray, torch.Tensor, np.ndarray]:
    """(bbox float32 [6], coords [N, 3] int64 in Morton order, frame float32 [4])."""
    frame = check_frame(load_npz_arrays(raw, where, ["frame"])["frame"], where)
    bbox, coords = decode_geometry_v2(raw, where, depth, n, tables)
    return bbox, coords, frame


def decode_geometry_v2(raw: bytes, where: str, depth: int, n: int, tables: str) -> tuple[np.ndarray, torch.Tensor]:
    """(bbox float32 [6], coords [N, 3] int64 in Morton order)."""
    geo = load_npz_arrays(raw, where, ["bbox", "octree"])
    words = geo["octree"]
    if words.dtype != np.uint32 or words.ndim != 1:
        raise CompressedFormatError(f"{where}: octree must be a 1-D uint32 array, got {words.dtype} {list(words.shape)}")
    try:
        coords = decode_geometry(words, depth, n, tables)
    except ValueError as exc:
        raise CompressedFormatError(f"{where}: octree does not decode ({exc})") from exc
    return geo["bbox"], coords
