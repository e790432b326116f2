"""The container of a compressed model: files, manifest, versions, bundle, atomic writes.

Knows bytes and files, nothing about what the arrays mean (``codec/format_v1.py`` and
``codec/format_v2.py`` do). A model is a set of named files (``manifest.json`` first), written as
the directory ``pc_npz/`` and as one zip bundle ``pc_npz.bundle`` holding the same bytes.

- ``.npz`` files are numpy zips written with fixed timestamps, so equal content gives equal bytes;
  each member has its own zip method (format v2 stores range-coded streams, deflates tables).
- The manifest is UTF-8 JSON (sorted keys) with ``format``, ``format_version`` and a ``files``
  table (bytes + SHA-256 of every other file); :func:`verified_files` checks it before any byte
  reaches a decoder.
- Writes are atomic: every file through a temporary name and ``os.replace``; the directory is
  assembled as ``pc_npz.tmp-XXXX`` and renamed over the old one, which is moved aside first and
  deleted after. Temporary folders of that exact pattern left by a killed save are removed by the
  next save into the same folder.
"""
from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import re
import shutil
import tempfile
import zipfile
import zlib
from typing import Any, Optional

import numpy as np

from utils.files import write_bytes_atomic

logger = logging.getLogger(__name__)

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "BUNDLE_MAGIC",
    "MANIFEST",
    "PC_DIR_NAME",
    "BUNDLE_SUFFIX",
    "CompressedFormatError",
    "npz_bytes",
    "zip_bytes",
    "write_file_atomic",
    "write_model_files",
    "bundle_bytes",
    "find_compressed",
    "read_model_files",
    "bundle_members",
    "parse_manifest",
    "verified_files",
    "load_npz_arrays",
    "member_label",
    "manifest_bytes",
    "jsonable",
]

FORMAT_NAME = "raht-gs-npz"
#: newest version written and read here (see the version table in codec/__init__.py)
FORMAT_VERSION = 6
BUNDLE_MAGIC = b"RAHT-GS-NPZ-BUNDLE/1"
PC_DIR_NAME = "pc_npz"
BUNDLE_SUFFIX = ".bundle"
MANIFEST = "manifest.json"
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)


class CompressedFormatError(ValueError):
    """A compressed file that cannot be read: names the file and the problem."""


# ------------------------------------------------------------------------------ writing


def _npy_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.ascontiguousarray(arr), allow_pickle=False)
    return buf.getvalue()


def zip_bytes(members: list[tuple[str, bytes, int]], level: Optional[int] = None, comment: bytes = b"") -> bytes:
    """A zip archive of ``(name, data, zip method)`` with fixed timestamps: equal members give equal bytes."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", allowZip64=True) as zf:
        for name, data, method in members:
            info = zipfile.ZipInfo(name, date_time=_ZIP_DATE)
            info.create_system = 3
            info.external_attr = 0o644 << 16
            info.compress_type = method
            zf.writestr(info, data, compress_type=method, compresslevel=level)
        zf.comment = comment
    return buf.getvalue()


def npz_bytes(arrays: list[tuple[str, np.ndarray]], method: int, level: Optional[int] = None,
              stored: tuple[str, ...] = ()) -> bytes:
    """A deterministic ``.npz``: every member with zip ``method``, those named in ``stored`` uncompressed."""
    return zip_bytes([(k + ".npy", _npy_bytes(a), zipfile.ZIP_STORED if k in stored else method) for k, a in arrays], level)


def write_file_atomic(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (``utils.files.write_bytes_atomic``)."""
    write_bytes_atomic(path, data)


def _remove_stale_temporaries(parent: str, base: str) -> None:
    """Delete ``<base>.tmp-XXXXXXXX`` / ``<base>.old-XXXXXXXX`` folders (mkdtemp's names) left by an
    interrupted save; nothing else is touched."""
    pattern = re.compile(re.escape(base) + r"\.(tmp|old)-[A-Za-z0-9_]{8}")
    for name in os.listdir(parent):
        path = os.path.join(parent, name)
        if pattern.fullmatch(name) and os.path.isdir(path) and not os.path.islink(path):
            logger.info("removing %s, left by an interrupted save", path)
            shutil.rmtree(path, ignore_errors=True)


def write_model_files(files: dict[str, bytes], pc_dir: str, write_bundle: bool = True) -> int:
    """Write ``files`` as the directory ``pc_dir`` and (optionally) the bundle ``pc_dir + .bundle``,
    atomically. Returns the bundle's size (0 without a bundle)."""
    pc_dir = os.path.abspath(pc_dir)
    parent = os.path.dirname(pc_dir)
    os.makedirs(parent, exist_ok=True)
    base = os.path.basename(pc_dir)
    _remove_stale_temporaries(parent, base)
    tmp = tempfile.mkdtemp(prefix=base + ".tmp-", dir=parent)
    old = None
    try:
        for name, data in files.items():
            write_file_atomic(os.path.join(tmp, name), data)
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
    if not write_bundle:
        return 0
    bundle = bundle_bytes(files)
    write_file_atomic(pc_dir + BUNDLE_SUFFIX, bundle)
    return len(bundle)


#: bundle members deflated (the others are stored: npz files deflate their own small arrays, and range-coded
#: streams do not shrink): the manifest is JSON text; deflating it saves 1.3-3.1 kB per file
DEFLATED_MEMBERS = ("manifest.json",)


def bundle_bytes(files: dict[str, bytes]) -> bytes:
    """The single-file bundle of ``files``: a zip with the comment ``BUNDLE_MAGIC``, the manifest deflated
    and the other members stored."""
    return zip_bytes([(name, data, zipfile.ZIP_DEFLATED if name in DEFLATED_MEMBERS else zipfile.ZIP_STORED)
                      for name, data in files.items()], level=9, comment=BUNDLE_MAGIC)


def jsonable(obj: Any) -> Any:
    """Convert numpy scalars/arrays, tuples and paths into plain JSON types (deterministically)."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, float) and not np.isfinite(obj):
        return repr(obj)
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    return str(obj)


def manifest_bytes(manifest: dict, files: dict[str, bytes]) -> bytes:
    """The manifest with the ``files`` table (bytes, SHA-256) of ``files`` added, as UTF-8 JSON."""
    manifest = dict(manifest)
    manifest["files"] = {name: {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()} for name, data in files.items()}
    return (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode("utf-8")


# ------------------------------------------------------------------------------ reading


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


def member_label(label: str, name: str) -> str:
    """``dir/name`` for a directory, ``bundle:name`` for a bundle (used in error messages)."""
    return os.path.join(label, name) if os.path.isdir(label) else f"{label}:{name}"


def read_model_files(path: str) -> dict[str, bytes]:
    """Raw bytes of every file of a model directory or bundle (``manifest.json`` included)."""
    if os.path.isdir(path):
        out = {}
        for name in sorted(os.listdir(path)):
            fp = os.path.join(path, name)
            if os.path.isfile(fp) and ".tmp-" not in name:
                with open(fp, "rb") as fh:
                    out[name] = fh.read()
        if MANIFEST not in out:
            raise CompressedFormatError(f"{os.path.join(path, MANIFEST)}: missing file (incomplete or foreign compressed directory)")
        return out
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except OSError as exc:
        raise CompressedFormatError(f"{path}: cannot read ({exc})") from exc
    return bundle_members(raw, path)


def bundle_members(raw: bytes, label: str) -> dict[str, bytes]:
    """Raw bytes of every member of a bundle held in memory (``manifest.json`` included); ``label`` names
    it in errors (a path, or a chunk of a chunked file)."""
    from .chunked import is_chunked_bytes

    if is_chunked_bytes(raw):
        raise CompressedFormatError(f"{label}: a chunked file (format 5, several independent chunks), not one bundle: "
                                    f"decode it with codec.chunked.load_chunks, compression.api.decompress or decompress.py")
    try:
        zf = zipfile.ZipFile(io.BytesIO(raw))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError, OSError) as exc:
        raise CompressedFormatError(
            f"{label}: not a compressed bundle (not a readable zip archive: {exc}); truncated, corrupted "
            f"or a foreign file") from exc
    with zf:
        if zf.comment != BUNDLE_MAGIC:
            # A bundle starts with the local header of its first member, manifest.json; a
            # truncated one can still look like a zip (the stored inner .npz files are zips).
            if raw[:4] == b"PK\x03\x04" and raw[30:30 + len(MANIFEST)] == MANIFEST.encode():
                raise CompressedFormatError(
                    f"{label}: truncated or corrupted bundle (its end, holding the magic "
                    f"{BUNDLE_MAGIC.decode()!r}, is missing or damaged)")
            raise CompressedFormatError(
                f"{label}: foreign file: the bundle magic {BUNDLE_MAGIC.decode()!r} is missing "
                f"(found comment {zf.comment[:40]!r})")
        out = {}
        for name in zf.namelist():
            try:
                out[name] = zf.read(name)
            except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError) as exc:
                raise CompressedFormatError(f"{label}: member {name} is corrupted or truncated ({exc})") from exc
    if MANIFEST not in out:
        raise CompressedFormatError(f"{label}: member {MANIFEST} is missing from the bundle")
    return out


def parse_manifest(raw: bytes, label: str) -> dict:
    """The manifest as a dict, after checking the format name and that its version is readable here."""
    where = member_label(label, MANIFEST)
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


def verified_files(raw: dict[str, bytes], manifest: dict, names: tuple[str, ...], label: str) -> dict[str, bytes]:
    """The data files ``names``, each present and matching the manifest's size and SHA-256."""
    mwhere = member_label(label, MANIFEST)
    listed = manifest.get("files")
    if not isinstance(listed, dict):
        raise CompressedFormatError(f"{mwhere}: no 'files' table")
    out = {}
    for name in names:
        where = member_label(label, name)
        if name not in raw:
            kind = "member" if not os.path.isdir(label) else "file"
            raise CompressedFormatError(f"{where}: missing {kind} (incomplete or foreign compressed model)")
        entry = listed.get(name)
        if not isinstance(entry, dict):
            raise CompressedFormatError(f"{mwhere}: no entry for {name}")
        if entry.get("bytes") != len(raw[name]):
            raise CompressedFormatError(
                f"{where}: size {len(raw[name])} B differs from the manifest's {entry.get('bytes')} B "
                f"(truncated or replaced file)")
        if entry.get("sha256") != hashlib.sha256(raw[name]).hexdigest():
            raise CompressedFormatError(f"{where}: SHA-256 mismatch with the manifest (corrupted file)")
        out[name] = raw[name]
    return out


def load_npz_arrays(raw: bytes, where: str, keys: list[str], optional: tuple = ()) -> dict[str, np.ndarray]:
    """Arrays ``keys`` of an ``.npz`` (``allow_pickle=False``); one clear error for anything unreadable."""
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
