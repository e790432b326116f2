"""codec/: the compressed format of a Gaussian scene — container, versions, entropy models, geometry.

A compressed model is written into ``<out>/point_cloud/iteration_<k>/pc_npz/`` (a directory of
small files, the user's layout) and, next to it, into the single-file bundle
``<out>/point_cloud/iteration_<k>/pc_npz.bundle`` holding the same files byte for byte (a zip with the
archive comment ``BUNDLE_MAGIC`` and fixed timestamps, deterministic; ``manifest.json`` deflated, the
other members stored — readers take either method for any member).

Format ``raht-gs-npz``; every ``.npz`` is a zip of ``.npy`` members readable with
``np.load(allow_pickle=False)``, written with fixed timestamps so that equal content gives equal bytes.

| file            | key / member | dtype, shape          | content |
|-----------------|--------------|-----------------------|---------|
| ``manifest.json``| —           | UTF-8 JSON (sorted keys) | ``format``, ``format_version``, ``n_gaussians`` N, ``n_channels`` C, ``sh_degree``, ``channel_names``, ``channel_groups``, ``bits``, ``n_block`` B, ``depth`` d, ``quantizer``, ``codec``, ``configuration`` (the run's settings), ``input_ply_bytes``, v2: ``entropy`` (coder, models, the count of channels per AC model), ``files`` (bytes + SHA-256 of every other file) |
| ``t.npz``       | ``t``        | float64 [2 + 2·C·B]   | d, B, then per channel c (column order, codec/channel_layout.py) per block j: scale_{c,j}, zero_point_{c,j} (channel-major, then block); the float32 parameters of the training forward, stored exactly |
| ``dc.npz``      | ``dc``       | float32 [C]           | RAHT DC coefficient (slot 0) of every channel, unquantized |
| ``ac.npz``      | v1: raw codes per channel group (codec/format_v1.py); v2: range-coded streams per channel and their models (codec/format_v2.py, codec/ac_coding.py) | | AC codes of RAHT slots 1…N−1 |
| ``geometry.npz``| ``bbox`` float32 [6] + v1: ``occupancy`` uint8 octree bytes; v2–v6: ``octree`` uint32 range-coded octree (codec/geometry.py); v4, v6: ``frame`` float32 [4] | | the N voxels at depth d, decoded in Morton order (row i of every per-Gaussian array); the coding frame, a unit quaternion w x y z (codec/frame.py) |
| ``transform.npz`` (v3, v4, v6) | ``basis`` | float32 [C, C] or [0, 0] | the orthonormal channel basis B (codec/channel_transform.py), or none |

Decoding (``load_npz``): voxels ← geometry (Morton order); positions = voxel centres
min + (c + ½)·Δ from the float32 bbox; plan ← raht.build_plan(voxels, d); block j of channel c
covers the AC slots given by ``quant.split_length(N − 1, B)`` (the first (N−1) mod B blocks one
longer); AC ← dequantize_blocks(codes, scale, zero_point) = scale·(code − zero_point);
attributes ← raht_inverse([DC; AC]) [N, C], times Bᵀ when v3/v4/v6 store a basis; rotations:
quaternion = euler_to_quat(φ, θ, ψ). Versions 4 and 6 then turn the content out of its coding frame F
(codec/frame.py): position = M·centre, quaternion = q_F ⊗ q, SH bands 1..3 = A_l(M)·sh.

Safety: every file and the directory are written atomically (codec/container.py); the reader
uses ``allow_pickle=False``, checks the format name, the version (a newer one is refused), the
size and SHA-256 of every file before decoding anything, and every length and range after; any
problem raises one :class:`CompressedFormatError` (a ``ValueError``) naming the file.

Version history:

| format_version | written by | AC codes | geometry |
|---|---|---|---|
| 1 | ``--codec deflate`` (files with store, bzip2 or lzma members are read too) | raw uint8 / packed / uint16 per channel group in a zip-compressed npz | octree occupancy bytes, zip-compressed |
| 2 | ``--codec range`` until format 3 | range-coded per channel: geometric or adaptive model, contexts block × RAHT weight class | range-coded octree, context = parent's child count |
| 3 | ``--codec range`` until format 4 | as 2, on the channels X·B of a stored orthonormal basis B (``transform.npz``; KLT of f_dc and f_rest) | as 2 |
| 4 | ``--codec range`` until format 6 | as 3 | as 2, in the coding frame stored in ``geometry.npz`` (``frame``): the content's own axes, so a turned copy codes alike |
| 5 | ``compress.py`` without photos on more than ``--chunk_size`` Gaussians | chunks, each a complete bundle (version 4, from format 6 on version 6) | per chunk (``codec/chunked.py``: an index with each chunk's byte range, box, count and SHA-256, checksummed) |
| 6 | ``--codec range`` (default) | as 4, geometric model only, with integer probability tables the codec computes (``codec/entropy.py``) | as 4, integer tables |

All five bundle versions are read, and the chunked files of version 5 (``codec.chunked.load_chunks``;
``load_npz`` reads one bundle). The version a file gets is its writer's (``codec.io.WRITTEN_VERSION``, by codec
name); the reader dispatches on ``format_version`` through one table (``codec.io.VERSIONS``), and a frozen
file of each version (``tests/fixtures/v1``, ``v2``, ``v3``, ``v4``, ``v5``, ``v6``, made by ``scripts/make_format_fixture.py``; v1's by commit 12573d9)
must keep decoding bit-exactly.
"""
from .channel_layout import ChannelLayout, layout_for_sh_degree, pack_attributes, unpack_attributes
from .container import (
    BUNDLE_MAGIC,
    BUNDLE_SUFFIX,
    FORMAT_NAME,
    FORMAT_VERSION,
    MANIFEST,
    PC_DIR_NAME,
    CompressedFormatError,
    find_compressed,
)
from .io import DATA_FILES, DEFAULT_LEVEL, SaveReport, bundle_size, encode_files, load_npz, save_npz
from .payload import CODECS, ENTROPY_CODEC, WRITTEN_CODECS, ZIP_CODECS, CompressedPayload, DecodedModel, decode_payload, quant_table

__all__ = [
    "BUNDLE_MAGIC",
    "BUNDLE_SUFFIX",
    "CODECS",
    "ChannelLayout",
    "CompressedFormatError",
    "CompressedPayload",
    "DATA_FILES",
    "DEFAULT_LEVEL",
    "DecodedModel",
    "ENTROPY_CODEC",
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "MANIFEST",
    "PC_DIR_NAME",
    "SaveReport",
    "WRITTEN_CODECS",
    "ZIP_CODECS",
    "bundle_size",
    "decode_payload",
    "encode_files",
    "find_compressed",
    "layout_for_sh_degree",
    "load_npz",
    "pack_attributes",
    "quant_table",
    "save_npz",
    "unpack_attributes",
]
