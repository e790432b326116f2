"""The on-disk format of a compressed Gaussian scene: ``save_npz`` / ``load_npz``.

A compressed model is written into ``<out>/point_cloud/iteration_<k>/pc_npz/`` (a directory of
small files, the user's layout) and, next to it, into the single-file bundle
``<out>/point_cloud/iteration_<k>/pc_npz.bundle`` holding the same files byte for byte.

Directory ``pc_npz/`` (format ``raht-gs-npz``, ``FORMAT_VERSION`` = 1); every ``.npz`` is a zip
of ``.npy`` members (numpy's npz, readable with ``np.load(allow_pickle=False)``), written with
fixed timestamps so that equal content gives equal bytes:

| file            | key / member                        | dtype, shape                          | content |
|-----------------|-------------------------------------|---------------------------------------|---------|
| ``manifest.json``| —                                  | UTF-8 JSON (sorted keys)               | ``format``, ``format_version``, ``n_gaussians`` N, ``n_channels`` C, ``sh_degree``, ``channel_names``, ``channel_groups``, ``bits``, ``n_block`` B, ``depth`` d, ``quantizer``, ``codec``, ``configuration`` (the run's settings), ``input_ply_bytes``, ``files`` (bytes + SHA-256 of every other file) |
| ``t.npz``       | ``t``                               | float64 [2 + 2·C·B]                   | d, B, then per channel c (column order, see scene/attribute_layout.py) per block j: scale_{c,j}, zero_point_{c,j} (channel-major, then block). The values are the float32 parameters of the training forward, stored exactly. |
| ``dc.npz``      | ``dc``                              | float32 [C]                           | RAHT DC coefficient (slot 0) of every channel, unquantized |
| ``ac.npz``      | ``opacity``, ``euler``, ``f_dc``, ``f_rest``, ``scale`` | uint8 [C_g·(N−1)] for b = 8; packed uint8 (quant/packing, ⌈C_g·(N−1)·b/8⌉ bytes) for b < 8; uint16 [C_g·(N−1)] for b > 8 | AC codes (RAHT slots 1…N−1) of the C_g channels of each group, channel-major: all N−1 codes of the group's first channel, then the next. One member per group, so the per-group compressed size is exact. Empty groups (``f_rest`` at SH degree 0) are absent. |
| ``geometry.npz``| ``bbox``                            | float32 [6]                           | min_x, min_y, min_z, max_x, max_y, max_z of the voxel grid |
|                 | ``occupancy``                       | uint8 [K]                             | octree occupancy bytes of the N voxels at depth d (raht.encode_occupancy: breadth first, one byte per occupied internal node); decodes to the voxels in Morton order |

Decoding (``load_npz``): voxels ← decode_occupancy(occupancy, d) (Morton order; row i of every
per-Gaussian array); positions = voxel centres min + (c + ½)·Δ from the float32 bbox;
plan ← raht.build_plan(voxels, d); block b of channel c covers AC slots given by
``quant.split_length(N − 1, B)`` (the first (N−1) mod B blocks one longer);
AC ← dequantize_blocks(codes, scale, zero_point) = scale·(code − zero_point);
attributes ← raht_inverse([DC; AC]) [N, C]; rotations: quaternion = euler_to_quat(φ, θ, ψ).

Bundle ``pc_npz.bundle``: a zip archive (members stored, not recompressed) holding
``manifest.json``, ``t.npz``, ``dc.npz``, ``ac.npz``, ``geometry.npz`` in this order, with the
archive comment ``BUNDLE_MAGIC``; fixed timestamps, so it is deterministic too.

Safety: every file is written to a temporary name and renamed; the directory is assembled as
``pc_npz.tmp-XXXX`` and then renamed over the old one (the old one is moved aside first and
deleted after), so an interruption never leaves a half-written ``pc_npz`` where a good one was.
The reader opens arrays with ``allow_pickle=False`` and checks the magic/format name, the version
(a newer version is refused), the SHA-256 of each file, and every length and range; any problem
raises one :class:`CompressedFormatError` (a ``ValueError``) naming the file and the problem.

Version history: 1 — first version (this table).
"""
from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import shutil
import tempfile
import zipfile
import zlib
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np
import torch

from quant.banks import dequantize_blocks
from quant.core import code_range
from quant.packing import pack_codes, packed_nbytes, unpack_codes
from raht import build_plan, decode_occupancy, encode_occupancy, raht_inverse, voxel_centers
from utils.rotations import euler_to_quat

from .attribute_layout import ChannelLayout, layout_for_sh_degree, unpack_attributes
from .ply_io import write_gaussian_ply

logger = logging.getLogger(__name__)

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "BUNDLE_MAGIC",
    "PC_DIR_NAME",
    "BUNDLE_SUFFIX",
    "CODECS",
    "CompressedFormatError",
    "CompressedPayload",
    "SaveReport",
    "DecodedModel",
    "save_npz",
    "load_npz",
    "find_compressed",
    "quant_table",
    "decode_payload",
    "export_ply",
]

FORMAT_NAME = "raht-gs-npz"
FORMAT_VERSION = 1
BUNDLE_MAGIC = b"RAHT-GS-NPZ-BUNDLE/1"
PC_DIR_NAME = "pc_npz"
BUNDLE_SUFFIX = ".bundle"
MANIFEST = "manifest.json"
DATA_FILES = ("t.npz", "dc.npz", "ac.npz", "geometry.npz")
ALL_FILES = (MANIFEST,) + DATA_FILES
#: zip codecs for the members of the ``.npz`` files (all readable by ``np.load``).
CODECS = {
    "deflate": zipfile.ZIP_DEFLATED,
    "store": zipfile.ZIP_STORED,
    "bzip2": zipfile.ZIP_BZIP2,
    "lzma": zipfile.ZIP_LZMA,
}
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)
#: default deflate level of save_npz (see its docstring)
DEFAULT_LEVEL = 1
_MAX_DEPTH = 21


class CompressedFormatError(ValueError):
    """A compressed file that cannot be read: names the file and the problem."""


# --------------------------------------------------------------------------------------------
# payload
# --------------------------------------------------------------------------------------------


def _code_dtype(bits: int):
    return np.uint8 if bits <= 8 else np.uint16


@dataclass
class CompressedPayload:
    """Everything stored in a compressed model (numpy, CPU).

    Attributes:
        depth: octree depth d (1..21).
        n_block: B, quantizer blocks per channel over the N − 1 AC coefficients.
        bits: code bit width b (1..16).
        sh_degree: SH degree of the model (C = 10 + 3·((deg+1)² − 1) channels).
        quantizer: ``"vanilla"`` or ``"lsq"`` (informational; the decoder formula is the same).
        scale, zero_point: [C, B] float32 per (channel, block), exactly as used in training.
        dc: [C] float32 RAHT DC coefficients.
        ac_codes: [N − 1, C] integer codes in [0, 2^b − 1] (uint8 for b ≤ 8, uint16 above).
        coords: [N, 3] int64 voxel coordinates in Morton order (the row order of all arrays).
        bbox_min, bbox_max: [3] float32 grid bounding box.
        config: JSON-serialisable settings of the run (stored in the manifest).
        input_ply_bytes: size of the uncompressed input PLY (for the ratio), or None.
        codec: zip codec of the ``.npz`` members (see ``CODECS``).
    """

    depth: int
    n_block: int
    bits: int
    sh_degree: int
    quantizer: str
    scale: np.ndarray
    zero_point: np.ndarray
    dc: np.ndarray
    ac_codes: np.ndarray
    coords: np.ndarray
    bbox_min: np.ndarray
    bbox_max: np.ndarray
    config: dict = field(default_factory=dict)
    input_ply_bytes: Optional[int] = None
    codec: str = "deflate"

    @property
    def layout(self) -> ChannelLayout:
        return layout_for_sh_degree(self.sh_degree)

    @property
    def n_gaussians(self) -> int:
        return int(self.coords.shape[0])

    @property
    def n_channels(self) -> int:
        return self.layout.n_channels

    def validate(self, where: str = "payload") -> None:
        """Check shapes, dtypes and ranges; raises :class:`CompressedFormatError`."""

        def bad(msg):
            raise CompressedFormatError(f"{where}: {msg}")

        if not isinstance(self.depth, int) or not 1 <= self.depth <= _MAX_DEPTH:
            bad(f"depth must be an integer in 1..{_MAX_DEPTH}, got {self.depth!r}")
        if not isinstance(self.n_block, int) or self.n_block < 1:
            bad(f"n_block must be a positive integer, got {self.n_block!r}")
        if not isinstance(self.bits, int) or not 1 <= self.bits <= 16:
            bad(f"bits must be an integer in 1..16, got {self.bits!r}")
        if self.codec not in CODECS:
            bad(f"codec must be one of {sorted(CODECS)}, got {self.codec!r}")
        layout = self.layout
        c, b = layout.n_channels, self.n_block
        n = self.n_gaussians
        if n < 1:
            bad("the model has no Gaussians")
        if self.coords.shape != (n, 3):
            bad(f"coords must have shape [N, 3], got {self.coords.shape}")
        for name, arr, shape in (
            ("scale", self.scale, (c, b)),
            ("zero_point", self.zero_point, (c, b)),
            ("dc", self.dc, (c,)),
            ("bbox_min", self.bbox_min, (3,)),
            ("bbox_max", self.bbox_max, (3,)),
        ):
            if arr.shape != shape or arr.dtype != np.float32:
                bad(f"{name} must be float32 {list(shape)}, got {arr.dtype} {list(arr.shape)}")
            if not np.isfinite(arr).all():
                bad(f"{name} contains NaN or inf")
        if not (self.scale > 0).all():
            bad("every quantizer scale must be > 0")
        qmax = code_range(self.bits)[1]
        if (self.zero_point < 0).any() or (self.zero_point > qmax).any():
            bad(f"zero points must lie in [0, {qmax}] for {self.bits}-bit codes")
        if not (self.bbox_min <= self.bbox_max).all():
            bad(f"bbox min {self.bbox_min.tolist()} exceeds max {self.bbox_max.tolist()}")
        if self.ac_codes.shape != (n - 1, c):
            bad(f"ac_codes must have shape [N-1, C] = [{n - 1}, {c}], got {list(self.ac_codes.shape)}")
        if self.ac_codes.size and (int(self.ac_codes.min()) < 0 or int(self.ac_codes.max()) > qmax):
            bad(f"AC codes must lie in [0, {qmax}] for {self.bits}-bit codes, got "
                f"[{int(self.ac_codes.min())}, {int(self.ac_codes.max())}]")


def quant_table(depth: int, n_block: int, scale: np.ndarray, zero_point: np.ndarray) -> np.ndarray:
    """The ``t.npz`` vector: float64 [2 + 2·C·B] = [d, B, s₀₀, z₀₀, s₀₁, z₀₁, …] (channel-major)."""
    pairs = np.stack([scale.astype(np.float64), zero_point.astype(np.float64)], axis=-1)  # [C, B, 2]
    return np.concatenate([np.array([depth, n_block], dtype=np.float64), pairs.reshape(-1)])


# --------------------------------------------------------------------------------------------
# deterministic zip writing
# --------------------------------------------------------------------------------------------


def _npy_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.ascontiguousarray(arr), allow_pickle=False)
    return buf.getvalue()


def _zip_bytes(members: list[tuple[str, bytes]], compress_type: int, level: Optional[int], comment: bytes = b"") -> bytes:
    """A zip archive with fixed timestamps/attributes: equal members give equal bytes."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", allowZip64=True) as zf:
        for name, data in members:
            info = zipfile.ZipInfo(name, date_time=_ZIP_DATE)
            info.create_system = 3
            info.external_attr = 0o644 << 16
            info.compress_type = compress_type
            zf.writestr(info, data, compress_type=compress_type, compresslevel=level)
        zf.comment = comment
    return buf.getvalue()


def _npz_bytes(arrays: list[tuple[str, np.ndarray]], codec: str, level: Optional[int]) -> bytes:
    return _zip_bytes([(k + ".npy", _npy_bytes(a)) for k, a in arrays], CODECS[codec], level)


def _write_file_atomic(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file in the same folder and ``os.replace``."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=os.path.basename(path) + ".tmp-", dir=folder)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _jsonable(obj: Any) -> Any:
    """Convert numpy scalars/arrays, tuples and paths into plain JSON types (deterministically)."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, float) and not np.isfinite(obj):
        return repr(obj)
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    return str(obj)


# --------------------------------------------------------------------------------------------
# save
# --------------------------------------------------------------------------------------------


@dataclass
class SaveReport:
    """Sizes of one saved compressed model.

    ``file_bytes``: bytes of each file in ``pc_npz/``; ``component_bytes``: geometry, quant table,
    DC, and the AC codes of each channel group (compressed size of the zip member);
    ``bits_per_gaussian`` and ``ratio`` refer to the bundle (the single file a user ships).
    """

    pc_dir: str
    bundle_path: str
    n_gaussians: int
    file_bytes: dict
    component_bytes: dict
    dir_bytes: int
    bundle_bytes: int
    input_ply_bytes: Optional[int]

    @property
    def bits_per_gaussian(self) -> float:
        return 8.0 * self.bundle_bytes / max(1, self.n_gaussians)

    @property
    def ratio(self) -> Optional[float]:
        """input PLY bytes / bundle bytes (None without an input size)."""
        if not self.input_ply_bytes:
            return None
        return self.input_ply_bytes / self.bundle_bytes

    def as_dict(self) -> dict:
        return {
            "pc_dir": self.pc_dir,
            "bundle": self.bundle_path,
            "n_gaussians": self.n_gaussians,
            "dir_bytes": self.dir_bytes,
            "bundle_bytes": self.bundle_bytes,
            "bits_per_gaussian": self.bits_per_gaussian,
            "input_ply_bytes": self.input_ply_bytes,
            "ratio": self.ratio,
            "file_bytes": dict(self.file_bytes),
            "component_bytes": dict(self.component_bytes),
        }

    def summary(self) -> str:
        ratio = f", ratio {self.ratio:.1f}x vs input PLY ({self.input_ply_bytes} B)" if self.ratio else ""
        return (f"{self.n_gaussians} Gaussians, {self.bundle_bytes} B bundle ({self.dir_bytes} B in pc_npz/), "
                f"{self.bits_per_gaussian:.2f} bits/Gaussian{ratio}")


def _encode_files(payload: CompressedPayload, level: Optional[int]) -> tuple[dict[str, bytes], dict[str, int]]:
    """All file contents of ``pc_npz/`` plus the per-component compressed sizes."""
    payload.validate()
    layout = payload.layout
    n = payload.n_gaussians
    t = quant_table(payload.depth, payload.n_block, payload.scale, payload.zero_point)
    files: dict[str, bytes] = {}
    files["t.npz"] = _npz_bytes([("t", t)], payload.codec, level)
    files["dc.npz"] = _npz_bytes([("dc", payload.dc)], payload.codec, level)
    ac_members = []
    dtype = _code_dtype(payload.bits)
    for group, sl in layout.group_slices().items():
        if sl.stop == sl.start:
            continue
        flat = np.ascontiguousarray(payload.ac_codes[:, sl].T).reshape(-1)  # channel-major
        if payload.bits < 8:
            arr = np.asarray(pack_codes(flat.astype(np.int64), payload.bits), dtype=np.uint8)
        else:
            arr = flat.astype(dtype, copy=False)
        ac_members.append((group, arr))
    files["ac.npz"] = _npz_bytes(ac_members, payload.codec, level)
    occupancy = encode_occupancy(torch.from_numpy(payload.coords), payload.depth)
    bbox = np.concatenate([payload.bbox_min, payload.bbox_max]).astype(np.float32)
    files["geometry.npz"] = _npz_bytes([("bbox", bbox), ("occupancy", occupancy)], payload.codec, level)

    components = {"geometry": len(files["geometry.npz"]), "quant_table": len(files["t.npz"]), "dc": len(files["dc.npz"])}
    with zipfile.ZipFile(io.BytesIO(files["ac.npz"])) as zf:
        for info in zf.infolist():
            components["ac_" + info.filename[: -len(".npy")]] = info.compress_size

    manifest = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "n_gaussians": n,
        "n_channels": layout.n_channels,
        "sh_degree": payload.sh_degree,
        "channel_names": layout.channel_names(),
        "channel_groups": {g: [s.start, s.stop] for g, s in layout.group_slices().items()},
        "bits": payload.bits,
        "n_block": payload.n_block,
        "depth": payload.depth,
        "quantizer": payload.quantizer,
        "codec": payload.codec,
        "code_dtype": np.dtype(dtype).name,
        "code_packing": "quant.packing (LSB first)" if payload.bits < 8 else "none",
        "ac_layout": "per channel group, channel-major: codes of RAHT slots 1..N-1 of each channel",
        "block_split": "quant.split_length(N - 1, n_block): contiguous, first (N-1) mod B blocks one longer",
        "bbox_layout": "min_x, min_y, min_z, max_x, max_y, max_z (float32)",
        "positions": "voxel centres: min + (c + 0.5) * (max - min) / 2^depth in float32",
        "rotation": "Euler ZYX [phi, theta, psi] radians, R = Rz(psi) Ry(theta) Rx(phi)",
        "configuration": _jsonable(payload.config),
        "input_ply_bytes": payload.input_ply_bytes,
        "files": {name: {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()} for name, data in files.items()},
    }
    files = {MANIFEST: (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode("utf-8"), **files}
    return {name: files[name] for name in ALL_FILES}, components


def save_npz(payload: CompressedPayload, pc_dir: str, *, level: Optional[int] = DEFAULT_LEVEL, write_bundle: bool = True) -> SaveReport:
    """Write ``payload`` into the directory ``pc_dir`` (normally ``.../iteration_<k>/pc_npz``)
    and the bundle ``pc_dir + ".bundle"``, atomically (see the module docstring).

    Args:
        payload: the compressed model (validated first).
        pc_dir: target directory; replaced as a whole if it exists.
        level: zip compression level of the ``.npz`` members (deflate 0–9, bzip2 1–9; ignored by
            lzma/store). Default 1: on RAHT codes deflate level 6 is ~1 % smaller but ~2.4× slower
            (scripts/bench_codec.py), and the save of 1M Gaussians should stay under 5 s on 2 cores.
        write_bundle: also write the single-file bundle.

    Returns:
        :class:`SaveReport` with the sizes.
    """
    files, components = _encode_files(payload, level)
    pc_dir = os.path.abspath(pc_dir)
    parent = os.path.dirname(pc_dir)
    os.makedirs(parent, exist_ok=True)
    base = os.path.basename(pc_dir)

    tmp = tempfile.mkdtemp(prefix=base + ".tmp-", dir=parent)
    old = None
    try:
        for name, data in files.items():
            _write_file_atomic(os.path.join(tmp, name), data)
        if os.path.lexists(pc_dir):
            old = tempfile.mkdtemp(prefix=base + ".old-", dir=parent)
            os.rmdir(old)
            os.rename(pc_dir, old)
        os.rename(tmp, pc_dir)
        tmp = None
    except BaseException:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
            if old is not None and not os.path.lexists(pc_dir):
                os.rename(old, pc_dir)  # put the previous good copy back
                old = None
        raise
    finally:
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)

    bundle_path = pc_dir + BUNDLE_SUFFIX
    bundle_bytes = 0
    if write_bundle:
        bundle = _zip_bytes(list(files.items()), zipfile.ZIP_STORED, None, comment=BUNDLE_MAGIC)
        _write_file_atomic(bundle_path, bundle)
        bundle_bytes = len(bundle)
    file_bytes = {name: len(data) for name, data in files.items()}
    report = SaveReport(
        pc_dir=pc_dir,
        bundle_path=bundle_path if write_bundle else "",
        n_gaussians=payload.n_gaussians,
        file_bytes=file_bytes,
        component_bytes=components,
        dir_bytes=sum(file_bytes.values()),
        bundle_bytes=bundle_bytes or sum(file_bytes.values()),
        input_ply_bytes=payload.input_ply_bytes,
    )
    logger.info("save_npz %s: %s", pc_dir, report.summary())
    return report


# --------------------------------------------------------------------------------------------
# load
# --------------------------------------------------------------------------------------------


@dataclass
class DecodedModel:
    """A decoded compressed model.

    Attributes:
        payload: the stored content (save_npz(payload) rewrites identical files).
        manifest: the parsed manifest.
        attributes: [N, C] float32 decoded attribute matrix (scene/attribute_layout.py order),
            the inverse RAHT of [DC; dequantized AC] — what the training forward rendered.
        means: [N, 3] float32 voxel centres.
        source: the path read.
    """

    payload: CompressedPayload
    manifest: dict
    attributes: torch.Tensor
    means: torch.Tensor
    source: str

    @property
    def sh_degree(self) -> int:
        return self.payload.sh_degree

    @property
    def n_gaussians(self) -> int:
        return self.payload.n_gaussians

    def arrays(self) -> dict[str, np.ndarray]:
        """Gaussians in the ply_io dict layout (float32 numpy): ``means`` (voxel centres),
        ``quats`` (unit wxyz from the Euler angles), ``scales`` (log), ``opacities`` (logit),
        ``sh0`` [N,1,3], ``shN`` [N,K−1,3]."""
        parts = unpack_attributes(self.attributes.detach(), self.payload.layout)
        out = {
            "means": self.means,
            "quats": euler_to_quat(parts["euler"]),
            "scales": parts["log_scales"],
            "opacities": parts["logit_opacities"],
            "sh0": parts["sh0"],
            "shN": parts["shN"],
        }
        return {k: np.ascontiguousarray(v.detach().cpu().numpy().astype(np.float32)) for k, v in out.items()}


def find_compressed(path: str) -> str:
    """Resolve ``path`` to a readable compressed model: a ``pc_npz`` directory (holding
    ``manifest.json``), a bundle file, or an ``iteration_<k>`` directory holding ``pc_npz/``.
    ``FileNotFoundError`` otherwise."""
    if os.path.isfile(path):
        return path
    if os.path.isdir(path):
        if os.path.isfile(os.path.join(path, MANIFEST)):
            return path
        sub = os.path.join(path, PC_DIR_NAME)
        if os.path.isfile(os.path.join(sub, MANIFEST)):
            return sub
        if os.path.isfile(sub + BUNDLE_SUFFIX):
            return sub + BUNDLE_SUFFIX
        raise FileNotFoundError(f"{path}: no {MANIFEST} (not a compressed model directory); pass a pc_npz "
                                f"directory, a {PC_DIR_NAME}{BUNDLE_SUFFIX} file or an iteration_<k> folder")
    raise FileNotFoundError(f"compressed model {path!r} does not exist")


def _read_raw_files(path: str) -> tuple[dict[str, bytes], str]:
    """The raw bytes of every file, from a directory or a bundle (label used in messages)."""
    if os.path.isdir(path):
        out = {}
        for name in ALL_FILES:
            fp = os.path.join(path, name)
            if not os.path.isfile(fp):
                raise CompressedFormatError(f"{fp}: missing file (incomplete or foreign compressed directory)")
            with open(fp, "rb") as fh:
                out[name] = fh.read()
        return out, path
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except OSError as exc:
        raise CompressedFormatError(f"{path}: cannot read ({exc})") from exc
    try:
        zf = zipfile.ZipFile(io.BytesIO(raw))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError, OSError) as exc:
        raise CompressedFormatError(
            f"{path}: not a compressed bundle (not a readable zip archive: {exc}); truncated, corrupted "
            f"or a foreign file") from exc
    with zf:
        if zf.comment != BUNDLE_MAGIC:
            # A bundle starts with the local header of its first member, manifest.json; a
            # truncated one can still look like a zip (the stored inner .npz files are zips).
            if raw[:4] == b"PK\x03\x04" and raw[30:30 + len(MANIFEST)] == MANIFEST.encode():
                raise CompressedFormatError(
                    f"{path}: truncated or corrupted bundle (its end, holding the magic "
                    f"{BUNDLE_MAGIC.decode()!r}, is missing or damaged)")
            raise CompressedFormatError(
                f"{path}: foreign file: the bundle magic {BUNDLE_MAGIC.decode()!r} is missing "
                f"(found comment {zf.comment[:40]!r})")
        names = zf.namelist()
        out = {}
        for name in ALL_FILES:
            if name not in names:
                raise CompressedFormatError(f"{path}: member {name} is missing from the bundle")
            try:
                out[name] = zf.read(name)
            except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError) as exc:
                raise CompressedFormatError(f"{path}: member {name} is corrupted or truncated ({exc})") from exc
    return out, path


def _parse_manifest(raw: bytes, label: str) -> dict:
    where = f"{label}/{MANIFEST}" if os.path.isdir(label) else f"{label}:{MANIFEST}"
    try:
        manifest = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CompressedFormatError(f"{where}: not valid JSON ({exc}); corrupted or foreign file") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_NAME:
        found = manifest.get("format") if isinstance(manifest, dict) else type(manifest).__name__
        raise CompressedFormatError(f"{where}: foreign file: format is {found!r}, expected {FORMAT_NAME!r}")
    version = manifest.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise CompressedFormatError(f"{where}: invalid format_version {version!r}")
    if version > FORMAT_VERSION:
        raise CompressedFormatError(
            f"{where}: written by a newer version of the format (format_version {version} > {FORMAT_VERSION} "
            f"supported here); update this code to read it")
    return manifest


def _member_label(label: str, name: str) -> str:
    return os.path.join(label, name) if os.path.isdir(label) else f"{label}:{name}"


def _load_npz_arrays(raw: bytes, where: str, keys: list[str], optional: tuple = ()) -> dict[str, np.ndarray]:
    try:
        with np.load(io.BytesIO(raw), allow_pickle=False) as npz:
            present = set(npz.files)
            missing = [k for k in keys if k not in present and k not in optional]
            if missing:
                raise CompressedFormatError(f"{where}: missing array(s) {missing} (found {sorted(present)})")
            return {k: npz[k] for k in keys if k in present}
    except CompressedFormatError:
        raise
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, KeyError) as exc:
        raise CompressedFormatError(f"{where}: unreadable npz ({type(exc).__name__}: {exc}); truncated or corrupted") from exc


def _require_int(manifest: dict, key: str, where: str, lo: int, hi: int) -> int:
    v = manifest.get(key)
    if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
        raise CompressedFormatError(f"{where}: {key} must be an integer in [{lo}, {hi}], got {v!r}")
    return v


def load_npz(path: str, device: Optional[torch.device | str] = None) -> DecodedModel:
    """Read, validate and decode a compressed model.

    Args:
        path: a ``pc_npz`` directory, a ``pc_npz.bundle`` file or an ``iteration_<k>`` folder.
        device: torch device for the inverse RAHT and the returned tensors (default CPU).

    Returns:
        :class:`DecodedModel`. Raises ``FileNotFoundError`` when nothing is there and
        :class:`CompressedFormatError` (``ValueError``) naming the file and the problem otherwise.
    """
    path = find_compressed(path)
    device = torch.device(device) if device is not None else torch.device("cpu")
    raw, label = _read_raw_files(path)
    manifest = _parse_manifest(raw[MANIFEST], label)
    mwhere = _member_label(label, MANIFEST)

    listed = manifest.get("files")
    if not isinstance(listed, dict):
        raise CompressedFormatError(f"{mwhere}: no 'files' table")
    for name in DATA_FILES:
        entry = listed.get(name)
        where = _member_label(label, name)
        if not isinstance(entry, dict):
            raise CompressedFormatError(f"{mwhere}: no entry for {name}")
        if entry.get("bytes") != len(raw[name]):
            raise CompressedFormatError(
                f"{where}: size {len(raw[name])} B differs from the manifest's {entry.get('bytes')} B "
                f"(truncated or replaced file)")
        if entry.get("sha256") != hashlib.sha256(raw[name]).hexdigest():
            raise CompressedFormatError(f"{where}: SHA-256 mismatch with the manifest (corrupted file)")

    depth = _require_int(manifest, "depth", mwhere, 1, _MAX_DEPTH)
    n_block = _require_int(manifest, "n_block", mwhere, 1, 1 << 31)
    bits = _require_int(manifest, "bits", mwhere, 1, 16)
    sh_degree = _require_int(manifest, "sh_degree", mwhere, 0, 3)
    n = _require_int(manifest, "n_gaussians", mwhere, 1, 1 << 40)
    layout = layout_for_sh_degree(sh_degree)
    c = layout.n_channels
    if manifest.get("n_channels") != c or manifest.get("channel_names") != layout.channel_names():
        raise CompressedFormatError(f"{mwhere}: channel layout does not match SH degree {sh_degree} "
                                    f"(n_channels {manifest.get('n_channels')!r}, expected {c})")
    codec = manifest.get("codec", "deflate")

    where = _member_label(label, "t.npz")
    t = _load_npz_arrays(raw["t.npz"], where, ["t"])["t"]
    if t.dtype != np.float64 or t.shape != (2 + 2 * c * n_block,):
        raise CompressedFormatError(f"{where}: t must be float64 [{2 + 2 * c * n_block}] (2 + 2·C·B with C = {c}, "
                                    f"B = {n_block}), got {t.dtype} {list(t.shape)}")
    if t[0] != depth or t[1] != n_block:
        raise CompressedFormatError(f"{where}: depth/n_block ({t[0]}, {t[1]}) disagree with the manifest ({depth}, {n_block})")
    pairs = t[2:].reshape(c, n_block, 2)
    scale = pairs[..., 0].astype(np.float32)
    zero_point = pairs[..., 1].astype(np.float32)
    if not (np.array_equal(scale.astype(np.float64), pairs[..., 0]) and np.array_equal(zero_point.astype(np.float64), pairs[..., 1])):
        raise CompressedFormatError(f"{where}: quantizer parameters are not float32 values (corrupted table)")

    where = _member_label(label, "dc.npz")
    dc = _load_npz_arrays(raw["dc.npz"], where, ["dc"])["dc"]
    if dc.dtype != np.float32 or dc.shape != (c,):
        raise CompressedFormatError(f"{where}: dc must be float32 [{c}], got {dc.dtype} {list(dc.shape)}")

    where = _member_label(label, "geometry.npz")
    geo = _load_npz_arrays(raw["geometry.npz"], where, ["bbox", "occupancy"])
    bbox, occupancy = geo["bbox"], geo["occupancy"]
    if bbox.dtype != np.float32 or bbox.shape != (6,):
        raise CompressedFormatError(f"{where}: bbox must be float32 [6], got {bbox.dtype} {list(bbox.shape)}")
    if occupancy.dtype != np.uint8 or occupancy.ndim != 1:
        raise CompressedFormatError(f"{where}: occupancy must be a 1-D uint8 array, got {occupancy.dtype} {list(occupancy.shape)}")
    try:
        coords = decode_occupancy(occupancy, depth)
    except ValueError as exc:
        raise CompressedFormatError(f"{where}: octree occupancy does not decode ({exc})") from exc
    if coords.shape[0] != n:
        raise CompressedFormatError(f"{where}: occupancy decodes to {coords.shape[0]} voxels, the manifest says {n}")

    where = _member_label(label, "ac.npz")
    groups = [(g, s) for g, s in layout.group_slices().items() if s.stop > s.start]
    ac_raw = _load_npz_arrays(raw["ac.npz"], where, [g for g, _ in groups])
    dtype = _code_dtype(bits)
    ac_codes = np.empty((n - 1, c), dtype=dtype)
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

    payload = CompressedPayload(
        depth=depth,
        n_block=n_block,
        bits=bits,
        sh_degree=sh_degree,
        quantizer=str(manifest.get("quantizer", "vanilla")),
        scale=scale,
        zero_point=zero_point,
        dc=dc,
        ac_codes=ac_codes,
        coords=coords.numpy().astype(np.int64),
        bbox_min=bbox[:3].copy(),
        bbox_max=bbox[3:].copy(),
        config=manifest.get("configuration", {}),
        input_ply_bytes=manifest.get("input_ply_bytes"),
        codec=codec,
    )
    payload.validate(where=label)
    attributes, means = decode_payload(payload, device)
    return DecodedModel(payload=payload, manifest=manifest, attributes=attributes, means=means, source=path)


def decode_payload(payload: CompressedPayload, device: Optional[torch.device | str] = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(attributes [N, C] float32, means [N, 3] float32) of a payload.

    attributes = raht_inverse([dc; dequantize_blocks(codes, scale, zero_point)]), on ``device``.
    """
    device = torch.device(device) if device is not None else torch.device("cpu")
    coords = torch.from_numpy(payload.coords).to(device)
    plan = build_plan(coords, payload.depth)
    codes = torch.from_numpy(payload.ac_codes.astype(np.int64)).to(device)
    scale = torch.from_numpy(payload.scale).to(device)
    zero_point = torch.from_numpy(payload.zero_point).to(device)
    if codes.shape[0] > 0:
        ac = dequantize_blocks(codes, scale, zero_point)
    else:  # a single voxel: DC only
        ac = torch.zeros((0, payload.n_channels), dtype=torch.float32, device=device)
    coeffs = torch.cat([torch.from_numpy(payload.dc).to(device).unsqueeze(0), ac.to(torch.float32)], dim=0)
    attributes = raht_inverse(coeffs, plan)
    means = voxel_centers(coords, torch.from_numpy(payload.bbox_min), torch.from_numpy(payload.bbox_max), payload.depth)
    return attributes, means.to(device)


def export_ply(decoded: DecodedModel, path: str) -> None:
    """Write the decoded Gaussians as a standard INRIA 3DGS PLY (float32, binary little endian):
    positions at the voxel centres, unit quaternions from the Euler angles, log-scales, logit
    opacities, SH as decoded. Other 3DGS tools open it; rendering it equals the compressed model up
    to the float32 rounding of euler → quaternion (written atomically by scene.ply_io)."""
    write_gaussian_ply(path, decoded.arrays())
