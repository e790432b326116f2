"""The scene-level entry points of the compressed format: ``save_npz`` / ``load_npz`` and PLY export.

The format itself (layout table, versions, entropy models, geometry coding, container) lives in
the ``codec`` package; this module keeps the names the trainer, render.py and users call, and
adds :func:`export_ply`, which needs the scene's PLY writer.
"""
from __future__ import annotations

from codec import (  # noqa: F401  (re-exported entry points)
    BUNDLE_MAGIC,
    BUNDLE_SUFFIX,
    CODECS,
    FORMAT_NAME,
    FORMAT_VERSION,
    PC_DIR_NAME,
    CompressedFormatError,
    CompressedPayload,
    DecodedModel,
    SaveReport,
    decode_payload,
    find_compressed,
    load_npz,
    quant_table,
    save_npz,
)

from .ply_io import write_gaussian_ply

__all__ = [
    "BUNDLE_MAGIC",
    "BUNDLE_SUFFIX",
    "CODECS",
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "PC_DIR_NAME",
    "CompressedFormatError",
    "CompressedPayload",
    "DecodedModel",
    "SaveReport",
    "decode_payload",
    "export_ply",
    "find_compressed",
    "load_npz",
    "quant_table",
    "save_npz",
]


def export_ply(decoded: DecodedModel, path: str) -> None:
    """Write the decoded Gaussians as a standard INRIA 3DGS PLY (float32, binary little endian):
    positions at the voxel centres, unit quaternions from the Euler angles, log-scales, logit
    opacities, SH as decoded. Other 3DGS tools open it; rendering it equals the compressed model up
    to the float32 rounding of euler → quaternion (written atomically by scene.ply_io)."""
    write_gaussian_ply(path, decoded.arrays())
