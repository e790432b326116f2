"""``save_npz`` / ``load_npz``: a :class:`CompressedPayload` ↔ the files of format version 1, 2, 3, 4 or 6.

All versions share ``manifest.json``, ``t.npz`` and ``dc.npz`` (layout in ``codec/__init__.py``);
``ac.npz`` and ``geometry.npz`` differ (``codec/format_v1.py``, ``codec/format_v2.py``). The payload's
``codec`` picks the version written: ``range`` (default) → 6 (v2 plus ``transform.npz`` and the coding
frame in ``geometry.npz``, with integer probability tables), ``deflate`` → 1; versions 2, 3 and 4, and
version-1 files of the other zip methods (store, bzip2, lzma), are read only. (Version 5 is the chunked
file around bundles: ``codec/chunked.py``.)
The reader dispatches on the manifest's ``format_version``; every byte is checked against the
manifest's SHA-256 before it reaches a decoder.
"""
from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np
import torch

from raht import RahtPlan, build_plan

from .channel_layout import layout_for_sh_degree
from .container import (
    FORMAT_NAME,
    MANIFEST,
    BUNDLE_SUFFIX,
    bundle_bytes,
    CompressedFormatError,
    find_compressed,
    jsonable,
    load_npz_arrays,
    manifest_bytes,
    member_label,
    npz_bytes,
    parse_manifest,
    read_model_files,
    verified_files,
    write_model_files,
)
from .format_v1 import decode_ac_v1, decode_geometry_v1, encode_ac_v1, encode_geometry_v1
from .entropy import FLOAT_TABLES, INTEGER_TABLES
from .format_v2 import (decode_ac_v2, decode_geometry_v2, decode_geometry_v4, encode_ac_v2, encode_geometry_v2,
                        shifted_geometry_v2,
                        entropy_description)
from .frame import IDENTITY_FRAME
from .payload import ENTROPY_CODEC, MAX_DEPTH, ZIP_CODECS, CompressedPayload, DecodedModel, code_dtype, decode_payload, quant_table

logger = logging.getLogger(__name__)

__all__ = ["DATA_FILES", "VERSIONS", "FormatVersion", "TRANSFORM_FILE", "DEFAULT_LEVEL", "SaveReport", "save_npz", "load_npz", "decode_model_files", "encode_files", "bundle_size",
           "shifted_bundle"]

DATA_FILES = ("t.npz", "dc.npz", "ac.npz", "geometry.npz")
#: the channel transform member of format version 3 (``basis`` float32 [C, C], or [0, 0] for the identity)
TRANSFORM_FILE = "transform.npz"

#: default deflate level of the v1 members and of t.npz / dc.npz (see save_npz)
DEFAULT_LEVEL = 1


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


#: the format version each writer produces, by codec name (the only place that decides what is written)
WRITTEN_VERSION = {ENTROPY_CODEC: 6, "deflate": 1}


def _version_of(codec: str) -> int:
    if codec not in WRITTEN_VERSION:
        raise ValueError(f"codec {codec!r} is not written; choose one of {', '.join(WRITTEN_VERSION)}")
    return WRITTEN_VERSION[codec]


def _without_frame(decode_geometry: Callable) -> Callable:
    """A geometry decoder of a version without a coding frame, returning None for it."""
    return lambda raw, where, depth, n, **kwargs: (*decode_geometry(raw, where, depth, n, **kwargs), None)


def _decode_ac_v1(raw, where, layout, *, n, bits, **_):
    return decode_ac_v1(raw, where, layout, n, bits)


def _decode_ac_v2(raw, where, layout, *, zero_point, ac_weight, n_block, bits, tables, **_):
    return decode_ac_v2(raw, where, layout, zero_point, ac_weight(), n_block, bits, tables)


@dataclass(frozen=True)
class FormatVersion:
    """What one format version holds and how it is read."""

    members: tuple  # the data files, in the order the manifest lists them
    codecs: tuple  # the codec names a file of this version may hold
    decode_geometry: Callable  # → (bbox, coords, frame or None)
    decode_ac: Callable
    tables: Optional[str] = None  # the entropy models' probability tables (codec/entropy.py); None: no range coder


def _range_coded(members: tuple, decode_geometry: Callable, tables: str) -> FormatVersion:
    """A range-coded version (2 on) whose models build their probability tables by ``tables``."""
    return FormatVersion(members, (ENTROPY_CODEC,), lambda *a, **k: decode_geometry(*a, tables=tables, **k),
                         lambda *a, **k: _decode_ac_v2(*a, tables=tables, **k), tables)


#: format_version → its members, codecs and decoders: one row per version this code reads; every
#: version ever written stays here (tests/fixtures/v1 … v6 are frozen files of each). Version 3 is
#: version 2 plus the channel transform (``transform.npz``, codec/channel_transform.py); version 4 is 3
#: plus the coding frame (``geometry.npz`` ``frame``, codec/frame.py); version 6 is 4 with integer
#: probability tables (codec/entropy.py) and the geometric AC model only. Version 5 is not a bundle
#: but the chunked file (codec/chunked.py), whose chunks are bundles.
VERSIONS = {
    1: FormatVersion(DATA_FILES, tuple(ZIP_CODECS), _without_frame(decode_geometry_v1), _decode_ac_v1),
    2: _range_coded(DATA_FILES, _without_frame(decode_geometry_v2), FLOAT_TABLES),
    3: _range_coded(DATA_FILES + (TRANSFORM_FILE,), _without_frame(decode_geometry_v2), FLOAT_TABLES),
    4: _range_coded(DATA_FILES + (TRANSFORM_FILE,), decode_geometry_v4, FLOAT_TABLES),
    6: _range_coded(DATA_FILES + (TRANSFORM_FILE,), decode_geometry_v4, INTEGER_TABLES),
}


def encode_files(payload: CompressedPayload, level: Optional[int] = DEFAULT_LEVEL, *,
                 plan: Optional[RahtPlan] = None, cache: Optional[dict] = None) -> tuple[dict[str, bytes], dict[str, int]]:
    """All file contents of ``pc_npz/`` (manifest first) plus the bytes of each component.

    ``plan``: ``raht.build_plan(coords, depth)`` when the caller has it (v2 needs its ``ac_weight``);
    ``cache``: a dict kept between calls on the same voxels (rate control) — the geometry member and
    the plan's weights are encoded once per set of voxels, keyed by a hash of coords, bbox and depth.
    """
    payload.validate()
    layout = payload.layout
    version = _version_of(payload.codec)
    table_method = ZIP_CODECS.get(payload.codec, ZIP_CODECS["deflate"])
    t = quant_table(payload.depth, payload.n_block, payload.scale, payload.zero_point)
    bbox = np.concatenate([payload.bbox_min, payload.bbox_max]).astype(np.float32)
    files = {
        "t.npz": npz_bytes([("t", t)], table_method, level),
        "dc.npz": npz_bytes([("dc", payload.dc)], table_method, level),
    }
    extra: dict = {}
    cache = {} if cache is None else cache
    frame = None
    if version >= 4:
        frame = IDENTITY_FRAME if payload.frame is None else np.asarray(payload.frame, dtype=np.float32)
    elif payload.frame is not None:
        raise ValueError(f"codec {payload.codec!r} writes format version {version}, which has no coding frame; "
                         "use --codec range or --coding_frame world")
    key = (version, level, payload.codec, payload.depth,
           hashlib.sha1(payload.coords.tobytes() + bbox.tobytes() + (b"" if frame is None else frame.tobytes())).hexdigest())
    if cache.get("key") != key:
        cache.clear()
        cache["key"] = key
    if version == 1 and payload.channel_basis is not None:
        raise ValueError(f"codec {payload.codec!r} writes format version 1, which has no channel transform; "
                         "use --codec range or --channel_transform none")
    if version >= 2:
        if "ac_weight" not in cache:
            plan = plan if plan is not None else build_plan(torch.from_numpy(payload.coords), payload.depth)
            cache["ac_weight"] = plan.ac_weight.cpu().numpy()
        tables = VERSIONS[version].tables
        if "geometry" not in cache:
            cache["geometry"] = encode_geometry_v2(payload, bbox, frame, tables)
        files["ac.npz"], ac_components, models = encode_ac_v2(payload, cache["ac_weight"], tables)
        extra = {"entropy": dict(entropy_description(tables), ac_channel_models=models)}
    else:
        if "geometry" not in cache:
            cache["geometry"] = encode_geometry_v1(payload, bbox, level)
        files["ac.npz"], ac_components = encode_ac_v1(payload, level)
        extra = {"code_packing": "quant.packing (LSB first)" if payload.bits < 8 else "none",
                 "ac_layout": "per channel group, channel-major: codes of RAHT slots 1..N-1 of each channel"}
    files["geometry.npz"] = cache["geometry"]
    if version >= 3:
        basis = payload.channel_basis if payload.channel_basis is not None else np.zeros((0, 0), np.float32)
        files[TRANSFORM_FILE] = npz_bytes([("basis", basis)], ZIP_CODECS["deflate"], level)
    components = {"geometry": len(files["geometry.npz"]), "quant_table": len(files["t.npz"]), "dc": len(files["dc.npz"]),
                  **ac_components}
    if TRANSFORM_FILE in files:
        components["channel_transform"] = len(files[TRANSFORM_FILE])
    manifest = {
        "format": FORMAT_NAME,
        "format_version": version,
        "n_gaussians": payload.n_gaussians,
        "n_channels": layout.n_channels,
        "sh_degree": payload.sh_degree,
        "channel_names": layout.channel_names(),
        "channel_groups": {g: [s.start, s.stop] for g, s in layout.group_slices().items()},
        "bits": payload.bits,
        "n_block": payload.n_block,
        "depth": payload.depth,
        "quantizer": payload.quantizer,
        "codec": payload.codec,
        "code_dtype": np.dtype(code_dtype(payload.bits)).name,
        "block_split": "quant.split_length(N - 1, n_block): contiguous, first (N-1) mod B blocks one longer",
        "bbox_layout": "min_x, min_y, min_z, max_x, max_y, max_z (float32)",
        "positions": "voxel centres: min + (c + 0.5) * (max - min) / 2^depth in float32"
                     + (", turned by the coding frame (geometry.npz frame)" if frame is not None else ""),
        "rotation": "Euler ZYX [phi, theta, psi] radians, R = Rz(psi) Ry(theta) Rx(phi)",
        "configuration": jsonable(payload.config),
        "input_ply_bytes": payload.input_ply_bytes,
        **extra,
    }
    if frame is not None:
        manifest["coding_frame"] = ("grid, Euler angles and SH bands in the axes of the unit quaternion geometry.npz frame "
                                    "(w x y z): position = M c, rotation = q_frame * q, SH band l = A_l(M) sh")
    if version >= 3:
        manifest["channel_transform"] = ("none" if payload.channel_basis is None else
                                         "X·B before the RAHT, X = coded·Bᵀ after the inverse (transform.npz basis [C, C] float32)")
    return {MANIFEST: manifest_bytes(manifest, files), **{name: files[name] for name in VERSIONS[version].members}}, components


def bundle_size(payload: CompressedPayload, *, plan: Optional[RahtPlan] = None, cache: Optional[dict] = None,
                level: Optional[int] = DEFAULT_LEVEL) -> int:
    """Exact bytes of the bundle ``save_npz(payload)`` would write, without writing anything."""
    files, _ = encode_files(payload, level, plan=plan, cache=cache)
    return len(bundle_bytes(files))


def save_npz(payload: CompressedPayload, pc_dir: str, *, level: Optional[int] = DEFAULT_LEVEL, write_bundle: bool = True,
             plan: Optional[RahtPlan] = None, cache: Optional[dict] = None) -> SaveReport:
    """Write ``payload`` into the directory ``pc_dir`` (normally ``.../iteration_<k>/pc_npz``)
    and the bundle ``pc_dir + ".bundle"``, atomically (``codec/container.py``).

    Args:
        payload: the compressed model (validated first); ``payload.codec`` picks the version.
        pc_dir: target directory; replaced as a whole if it exists.
        level: deflate level (0–9) of the zip-compressed members. Default 1: on raw RAHT codes (v1) deflate level 6 is ~1 % smaller but
            ~2.4× slower (scripts/bench_codec.py).
        write_bundle: also write the single-file bundle.
        plan, cache: see :func:`encode_files` (speed only; the bytes are the same).

    Returns:
        :class:`SaveReport` with the sizes.
    """
    files, components = encode_files(payload, level, plan=plan, cache=cache)
    pc_dir = os.path.abspath(pc_dir)
    bundle_bytes = write_model_files(files, pc_dir, write_bundle)
    file_bytes = {name: len(data) for name, data in files.items()}
    report = SaveReport(
        pc_dir=pc_dir,
        bundle_path=pc_dir + BUNDLE_SUFFIX if write_bundle else "",
        n_gaussians=payload.n_gaussians,
        file_bytes=file_bytes,
        component_bytes=components,
        dir_bytes=sum(file_bytes.values()),
        bundle_bytes=bundle_bytes or sum(file_bytes.values()),
        input_ply_bytes=payload.input_ply_bytes,
    )
    logger.info("save_npz %s: %s", pc_dir, report.summary())
    return report


def _require_int(manifest: dict, key: str, where: str, lo: int, hi: int) -> int:
    v = manifest.get(key)
    if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
        raise CompressedFormatError(f"{where}: {key} must be an integer in [{lo}, {hi}], got {v!r}")
    return v


def load_npz(path: str, device: Optional[torch.device | str] = None) -> DecodedModel:
    """Read, validate and decode a compressed model (format version 1, 2, 3, 4 or 6).

    Args:
        path: a ``pc_npz`` directory, a ``pc_npz.bundle`` file or an ``iteration_<k>`` folder.
        device: torch device for the inverse RAHT and the returned tensors (default CPU).

    Returns:
        :class:`DecodedModel`. Raises ``FileNotFoundError`` when nothing is there and
        :class:`CompressedFormatError` (``ValueError``) naming the file and the problem otherwise.
    """
    path = find_compressed(path)
    return decode_model_files(read_model_files(path), path, device)


def decode_model_files(raw: dict[str, bytes], label: str, device: Optional[torch.device | str] = None) -> DecodedModel:
    """:func:`load_npz` of the files of one model already in memory (``codec.container.bundle_members``);
    ``label`` names them in errors."""
    device = torch.device(device) if device is not None else torch.device("cpu")
    path = label
    manifest = parse_manifest(raw[MANIFEST], label)
    mwhere = member_label(label, MANIFEST)
    version = manifest["format_version"]
    if version not in VERSIONS:
        raise CompressedFormatError(f"{mwhere}: format_version {version} is not readable here (readers for "
                                    f"{sorted(VERSIONS)}); update this code or re-encode the file")
    spec = VERSIONS[version]
    raw = verified_files(raw, manifest, spec.members, label)

    depth = _require_int(manifest, "depth", mwhere, 1, MAX_DEPTH)
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
    if codec not in spec.codecs:
        raise CompressedFormatError(f"{mwhere}: codec {codec!r} does not belong to format_version {version}")
    decode_geometry, decode_ac = spec.decode_geometry, spec.decode_ac

    where = member_label(label, "t.npz")
    t = load_npz_arrays(raw["t.npz"], where, ["t"])["t"]
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

    where = member_label(label, "dc.npz")
    dc = load_npz_arrays(raw["dc.npz"], where, ["dc"])["dc"]
    if dc.dtype != np.float32 or dc.shape != (c,):
        raise CompressedFormatError(f"{where}: dc must be float32 [{c}], got {dc.dtype} {list(dc.shape)}")

    where = member_label(label, "geometry.npz")
    bbox, coords, frame = decode_geometry(raw["geometry.npz"], where, depth, n)
    if bbox.dtype != np.float32 or bbox.shape != (6,):
        raise CompressedFormatError(f"{where}: bbox must be float32 [6], got {bbox.dtype} {list(bbox.shape)}")

    basis = None
    if version >= 3:
        where = member_label(label, TRANSFORM_FILE)
        basis = load_npz_arrays(raw[TRANSFORM_FILE], where, ["basis"])["basis"]
        if basis.dtype != np.float32 or basis.shape not in ((0, 0), (c, c)):
            raise CompressedFormatError(f"{where}: basis must be float32 [{c}, {c}] or [0, 0], got {basis.dtype} "
                                        f"{list(basis.shape)}")
        basis = basis if basis.size else None

    where = member_label(label, "ac.npz")
    plan = build_plan(coords.to(device), depth)
    ac_codes = decode_ac(raw["ac.npz"], where, layout, n=n, bits=bits, n_block=n_block, zero_point=zero_point,
                         ac_weight=lambda: plan.ac_weight.cpu().numpy())

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
        channel_basis=basis,
        frame=frame,
    )
    payload.validate(where=label)
    attributes, means = decode_payload(payload, device, plan=plan)
    return DecodedModel(payload=payload, manifest=manifest, attributes=attributes, means=means, source=path)


def shifted_bundle(raw: bytes, offset, label: str = "bundle") -> bytes:
    """The bundle ``raw`` (format version 2 on) with every position moved by ``offset`` ([3], world axes):
    its grid box moves by the offset turned into the coding frame; geometry.npz and the manifest's hashes
    are rewritten, every other member is kept byte for byte. For benchmarks: tiled copies of one real file
    at the cost of none of its encoding (``scripts/make_tiled_bundle.py``)."""
    from .container import bundle_members
    from .frame import frame_matrix

    members = bundle_members(raw, label)
    manifest = parse_manifest(members[MANIFEST], label)
    version = manifest["format_version"]
    if version not in VERSIONS or version < 2:
        raise CompressedFormatError(f"{label}: format_version {version}: only range-coded bundles (version 2 on) "
                                    "can be moved")
    where = member_label(label, "geometry.npz")
    delta = np.asarray(offset, dtype=np.float64).reshape(3)
    if version >= 4:
        frame = load_npz_arrays(members["geometry.npz"], where, ["frame"])["frame"]
        delta = frame_matrix(frame).numpy().T @ delta  # world = M·grid, so the grid moves by Mᵀ·offset
    files = {name: data for name, data in members.items() if name != MANIFEST}
    files["geometry.npz"] = shifted_geometry_v2(members["geometry.npz"], where, delta)
    manifest.pop("files", None)
    return bundle_bytes({MANIFEST: manifest_bytes(manifest, files), **files})
