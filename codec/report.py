"""What a saved compressed model holds, read from its files without decoding the Gaussians.

:func:`describe_compressed` gives the decoder side the size breakdown that ``save_npz`` reports at
encoding time (``SaveReport.component_bytes``), computed from the stored members the same way:

| component | bytes (format v2) | bytes (format v1) |
|---|---|---|
| ``geometry`` | ``geometry.npz`` | ``geometry.npz`` |
| ``quant_table`` | ``t.npz`` | ``t.npz`` |
| ``dc`` | ``dc.npz`` | ``dc.npz`` |
| ``ac_<group>`` (opacity, euler, f_dc, f_rest, scale) | 4 × the 32-bit words of the range-coded streams of the group's channels (``ac.npz`` ``words``) | compressed size of the group's zip member in ``ac.npz`` |
| ``ac_tables`` (v2) | ``ac.npz`` minus the streams: models, ranges, word counts, CRC, zip headers | — |

plus, beyond the encoder's report, ``manifest`` (``manifest.json``; in a bundle its deflated size) and
``container``: every byte
not counted above (the bundle's own zip headers, and in v1 the zip headers inside ``ac.npz``), so
that the components add up to the bytes on disk (a directory counts its five files). Every file is checked against the manifest's size and
SHA-256 first (:class:`CompressedFormatError` otherwise).
"""
from __future__ import annotations

import io
import os
import zipfile
from dataclasses import dataclass, field
from typing import Any, Optional

from .channel_layout import layout_for_sh_degree
from .container import (
    MANIFEST,
    CompressedFormatError,
    find_compressed,
    load_npz_arrays,
    member_label,
    parse_manifest,
    read_model_files,
    verified_files,
)
from .io import TRANSFORM_FILE, VERSIONS

__all__ = ["CompressedSummary", "describe_compressed", "ac_component_bytes", "info_dict", "chunked_info_dict"]


@dataclass
class CompressedSummary:
    """A compressed model's manifest facts and the bytes of each component (see the module table)."""

    path: str
    manifest: dict
    total_bytes: int
    component_bytes: dict = field(default_factory=dict)

    @property
    def n_gaussians(self) -> int:
        return int(self.manifest["n_gaussians"])

    @property
    def format_version(self) -> int:
        return int(self.manifest["format_version"])

    @property
    def configuration(self) -> dict:
        cfg = self.manifest.get("configuration")
        return cfg if isinstance(cfg, dict) else {}

    def bits_per_gaussian(self, nbytes: Optional[int] = None) -> float:
        """8 × ``nbytes`` (default: the total) / N."""
        return 8.0 * (self.total_bytes if nbytes is None else nbytes) / max(1, self.n_gaussians)


def ac_component_bytes(ac_raw: bytes, where: str, version: int, sh_degree: int) -> dict[str, int]:
    """``ac_<group>`` (and v2 ``ac_tables``) bytes of an ``ac.npz``, as the encoder reports them."""
    groups = [(g, s) for g, s in layout_for_sh_degree(sh_degree).group_slices().items() if s.stop > s.start]
    if version >= 2:
        words = load_npz_arrays(ac_raw, where, ["words"])["words"]
        n_channels = layout_for_sh_degree(sh_degree).n_channels
        if words.ndim != 1 or words.shape[0] != n_channels or words.dtype.kind not in "iu":
            raise CompressedFormatError(f"{where}: words must be an integer array [{n_channels}], got "
                                        f"{words.dtype} {list(words.shape)}")
        per_channel = 4 * words.astype("int64")
        out = {"ac_" + g: int(per_channel[s].sum()) for g, s in groups}
        out["ac_tables"] = len(ac_raw) - int(per_channel.sum())
        return out
    try:
        with zipfile.ZipFile(io.BytesIO(ac_raw)) as zf:
            sizes = {info.filename[: -len(".npy")]: info.compress_size for info in zf.infolist()}
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise CompressedFormatError(f"{where}: unreadable npz ({exc})") from None
    return {"ac_" + g: int(sizes.get(g, 0)) for g, _ in groups}


def _member_size(bundle: str, name: str) -> int:
    """Bytes a member takes inside a bundle (compressed: the manifest is deflated, codec/container.py)."""
    with zipfile.ZipFile(bundle) as zf:
        return int(zf.getinfo(name).compress_size)


def describe_compressed(path: str) -> CompressedSummary:
    """Manifest and size breakdown of a ``pc_npz`` directory, a bundle or an ``iteration_<k>`` folder.

    Reads and verifies the files (sizes, SHA-256) but decodes no Gaussian: cheap next to
    ``load_npz``. ``FileNotFoundError`` when nothing is there, :class:`CompressedFormatError`
    naming the file for anything unreadable."""
    path = find_compressed(path)
    raw = read_model_files(path)
    manifest = parse_manifest(raw[MANIFEST], path)
    version = manifest.get("format_version")
    if version not in VERSIONS:
        raise CompressedFormatError(f"{member_label(path, MANIFEST)}: format_version {version!r} is not readable here "
                                    f"(readers for {sorted(VERSIONS)})")
    files = verified_files(raw, manifest, VERSIONS[version].members, path)
    sh_degree = manifest.get("sh_degree")
    if sh_degree not in (0, 1, 2, 3) or not isinstance(manifest.get("n_gaussians"), int):
        raise CompressedFormatError(f"{member_label(path, MANIFEST)}: sh_degree {sh_degree!r} / n_gaussians "
                                    f"{manifest.get('n_gaussians')!r} are not valid")
    components = {"geometry": len(files["geometry.npz"]), "quant_table": len(files["t.npz"]),
                  "dc": len(files["dc.npz"])}
    if TRANSFORM_FILE in files:
        components["channel_transform"] = len(files[TRANSFORM_FILE])
    components.update(ac_component_bytes(files["ac.npz"], member_label(path, "ac.npz"), version, sh_degree))
    components["manifest"] = len(raw[MANIFEST]) if os.path.isdir(path) else _member_size(path, MANIFEST)
    stored = sum(len(data) for data in files.values()) + len(raw[MANIFEST])
    total = stored if os.path.isdir(path) else os.path.getsize(path)
    components["container"] = total - sum(components.values())
    return CompressedSummary(path=path, manifest=manifest, total_bytes=total, component_bytes=components)


def info_dict(summary: Any) -> dict:
    """What a bundle holds as plain data (``decompress.py --info [--json]``, ``compression.api.info``)."""
    m, cfg = summary.manifest, summary.configuration
    n = summary.n_gaussians
    heldout = cfg.get("heldout") if isinstance(cfg.get("heldout"), dict) else None
    return {
        "path": summary.path,
        "format": m.get("format"),
        "format_version": summary.format_version,
        "codec": m.get("codec"),
        "n_gaussians": n,
        "sh_degree": m.get("sh_degree"),
        "quantizer": m.get("quantizer"),
        "bits": m.get("bits"),
        "n_block": m.get("n_block"),
        "depth": m.get("depth"),
        "rate": {key: cfg[key] for key in ("rd_quality", "target_size", "target_bpg") if cfg.get(key) is not None},
        "input_ply_bytes": m.get("input_ply_bytes"),
        "total_bytes": summary.total_bytes,
        "bits_per_gaussian": summary.bits_per_gaussian(),
        "components": {name: {"bytes": b, "bits_per_gaussian": 8.0 * b / n}
                       for name, b in summary.component_bytes.items()},
        "heldout": heldout,
        "coverage": cfg.get("coverage") if isinstance(cfg.get("coverage"), dict) else None,
        "coding_frame": cfg.get("coding_frame"),
    }


def chunked_info_dict(path: str) -> dict:
    """What a chunked file holds (``decompress.py --info``): the index, and per chunk its bytes, count, box
    and what its own manifest reports (format version, quality, held-out fidelity); every chunk's SHA-256
    is checked, nothing is decoded."""
    from .chunked import CHUNKED_FORMAT, CHUNKED_VERSION, chunk_bytes, read_index
    from .container import bundle_members

    index = read_index(path)
    chunks = []
    for i, entry in enumerate(index.chunks):
        label = f"{path} chunk {i}"
        manifest = parse_manifest(bundle_members(chunk_bytes(path, index, i), label)[MANIFEST], label)
        cfg = manifest.get("configuration") if isinstance(manifest.get("configuration"), dict) else {}
        chunks.append({"index": i, "bytes": entry.bytes, "n_gaussians": entry.n_gaussians, "bbox": list(entry.bbox),
                       "format_version": manifest.get("format_version"), "rd_quality": cfg.get("rd_quality"),
                       "depth": manifest.get("depth"),
                       "heldout": cfg.get("heldout") if isinstance(cfg.get("heldout"), dict) else None})
    cfg = index.configuration
    return {
        "path": path,
        "format": CHUNKED_FORMAT,
        "format_version": CHUNKED_VERSION,
        "n_chunks": index.n_chunks,
        "n_gaussians": index.n_gaussians,
        "sh_degree": index.sh_degree,
        "total_bytes": index.total_bytes,
        "index_bytes": index.data_offset,
        "bits_per_gaussian": 8.0 * index.total_bytes / index.n_gaussians,
        "input_ply_bytes": cfg.get("input_ply_bytes"),
        "heldout": cfg.get("heldout") if isinstance(cfg.get("heldout"), dict) else None,
        "chunks": chunks,
        "configuration": cfg,
    }
