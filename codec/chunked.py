"""The chunked file (format version 5): independent spatial chunks behind an index, for scenes of millions.

A scene too large for one octree and one RAHT is split into spatially compact chunks
(``compression/chunking.py``); each chunk is compressed on its own into a complete bundle (format 1–4,
``codec/io.py``), so it decodes without the others. The file puts an index first, so that a client can
read it with one small request and then fetch chunks with HTTP Range requests in any order:

| bytes | content |
|---|---|
| 0–15 | magic ``RAHT-GS-CHUNKS/1`` (ASCII) |
| 16–19 | L, the index length in bytes (uint32 little endian) |
| 20 … 20+L−1 | the index: UTF-8 JSON (sorted keys), below |
| 20+L … 20+L+31 | SHA-256 of bytes 0 … 20+L−1 (magic, length and index) |
| 20+L+32 … end | the chunks' bundles, one after another in index order, nothing between or after |

The index: ``format`` = ``"raht-gs-chunks"``, ``format_version`` = 5, ``n_gaussians`` (the sum over
the chunks), ``sh_degree`` (every chunk's), ``chunks``: per chunk ``offset`` (from the start of the file)
and ``bytes`` of its bundle, ``n_gaussians``, ``bbox`` [x0, y0, z0, x1, y1, z1] (world axes, float32
values: the box of its decoded positions) and ``sha256`` (hex) of its bundle; ``configuration``: the
run's settings and results (free-form). The index checksum protects the index; each chunk's SHA-256
protects its bundle, its manifest included (a bundle's manifest lists the SHA-256 of its other members).

A reader checks the magic, the index checksum, the index's fields, and that the chunks tile the rest of
the file exactly, before it decodes anything; then per chunk the SHA-256, the bundle (every check of
``codec.load_npz``), and that the decoded count, SH degree and positions agree with the index. Any problem
is one :class:`~codec.container.CompressedFormatError` naming the file and the chunk;
:func:`load_chunks` with ``partial=True`` decodes the chunks that are sound and reports the others.

A scene of one chunk is written as a plain bundle (no index), so small scenes are unchanged.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import struct
from dataclasses import dataclass, field
from typing import Any, Iterator, Optional, Sequence

import numpy as np
import torch

from .container import CompressedFormatError, bundle_members, jsonable

__all__ = ["CHUNKED_MAGIC", "CHUNKED_FORMAT", "CHUNKED_VERSION", "ChunkEntry", "ChunkedIndex", "chunked_bytes",
           "is_chunked", "is_chunked_bytes", "read_index", "parse_index", "chunk_bytes", "decode_chunk",
           "load_chunks", "iter_chunks", "ChunkResult"]

CHUNKED_MAGIC = b"RAHT-GS-CHUNKS/1"
CHUNKED_FORMAT = "raht-gs-chunks"
CHUNKED_VERSION = 5
_HEADER = len(CHUNKED_MAGIC) + 4
_DIGEST = 32
#: the largest index a reader accepts (about 100 bytes a chunk: ample for 100k chunks)
MAX_INDEX_BYTES = 64 << 20
#: decoded positions may lie this share of the box's diagonal outside it (float32 rounding of the turn)
BBOX_SLACK = 1e-5


@dataclass(frozen=True)
class ChunkEntry:
    """One chunk of the index."""

    offset: int
    bytes: int
    n_gaussians: int
    bbox: tuple  # (x0, y0, z0, x1, y1, z1), world axes
    sha256: str

    def as_dict(self) -> dict:
        return {"offset": self.offset, "bytes": self.bytes, "n_gaussians": self.n_gaussians,
                "bbox": [float(v) for v in self.bbox], "sha256": self.sha256}


@dataclass
class ChunkedIndex:
    """The parsed index of a chunked file."""

    n_gaussians: int
    sh_degree: int
    chunks: list[ChunkEntry]
    configuration: dict = field(default_factory=dict)
    data_offset: int = 0  # where the first chunk starts
    total_bytes: int = 0  # the file's size the index describes

    @property
    def n_chunks(self) -> int:
        return len(self.chunks)


def _float32_box(bbox: Sequence[float]) -> tuple:
    box = np.asarray(bbox, dtype=np.float32).reshape(6)
    return tuple(float(v) for v in box)


def chunked_bytes(bundles: Sequence[bytes], counts: Sequence[int], bboxes: Sequence[Sequence[float]],
                  sh_degree: int, configuration: Optional[dict] = None) -> bytes:
    """The chunked file of ``bundles`` (each a complete bundle), with their decoded counts and boxes."""
    if not bundles or not (len(bundles) == len(counts) == len(bboxes)):
        raise ValueError("a chunked file needs at least one chunk, with one count and one box per bundle")
    # the index's length depends on the offsets, which depend on its length: fix the point by iteration
    length = 0
    for _ in range(8):
        offset = _HEADER + length + _DIGEST
        chunks = []
        for data, n, box in zip(bundles, counts, bboxes):
            chunks.append(ChunkEntry(offset, len(data), int(n), _float32_box(box), hashlib.sha256(data).hexdigest()))
            offset += len(data)
        index = {"format": CHUNKED_FORMAT, "format_version": CHUNKED_VERSION, "n_gaussians": int(sum(counts)),
                 "sh_degree": int(sh_degree), "chunks": [c.as_dict() for c in chunks],
                 "configuration": jsonable(configuration or {})}
        raw = json.dumps(index, sort_keys=True, separators=(",", ":")).encode("utf-8")
        if len(raw) == length:
            break
        length = len(raw)
    else:  # pragma: no cover - the length settles after two rounds (offsets change by whole digits only)
        raise RuntimeError("the chunk index length did not settle")
    head = CHUNKED_MAGIC + struct.pack("<I", length) + raw
    return head + hashlib.sha256(head).digest() + b"".join(bundles)


def is_chunked_bytes(head: bytes) -> bool:
    """Whether bytes (at least the first 16) start a chunked file."""
    return bytes(head[:len(CHUNKED_MAGIC)]) == CHUNKED_MAGIC


def is_chunked(path: str) -> bool:
    """Whether the file at ``path`` is a chunked file (a directory never is)."""
    try:
        with open(path, "rb") as fh:
            return is_chunked_bytes(fh.read(len(CHUNKED_MAGIC)))
    except (IsADirectoryError, PermissionError, FileNotFoundError):
        return False


def _require(cond: bool, where: str, what: str) -> None:
    if not cond:
        raise CompressedFormatError(f"{where}: {what}")


def _int_field(d: dict, key: str, where: str, lo: int, hi: int) -> int:
    v = d.get(key)
    _require(isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi, where,
             f"{key} must be an integer in [{lo}, {hi}], got {v!r}")
    return v


def parse_index(head: bytes, total_bytes: int, label: str) -> ChunkedIndex:
    """The index of a chunked file from its first bytes (at least through the checksum), every field checked;
    ``total_bytes``: the file's size (the chunks must end exactly there)."""
    where = f"{label} (chunk index)"
    _require(is_chunked_bytes(head), label, f"not a chunked file (the magic {CHUNKED_MAGIC.decode()!r} is missing)")
    _require(len(head) >= _HEADER, where, "truncated before the index length")
    (length,) = struct.unpack("<I", head[len(CHUNKED_MAGIC):_HEADER])
    _require(0 < length <= MAX_INDEX_BYTES, where, f"index length {length} B is not in [1, {MAX_INDEX_BYTES}]")
    end = _HEADER + length + _DIGEST
    _require(len(head) >= end and total_bytes >= end, where,
             f"the file ends inside the index ({min(len(head), total_bytes)} of {end} B): truncated")
    _require(hashlib.sha256(head[:_HEADER + length]).digest() == head[_HEADER + length:end], where,
             "checksum mismatch (the index or its length is corrupted)")
    try:
        index = json.loads(head[_HEADER:_HEADER + length].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:  # cannot pass the checksum unless written so
        raise CompressedFormatError(f"{where}: not valid JSON ({exc})") from exc
    _require(isinstance(index, dict) and index.get("format") == CHUNKED_FORMAT, where,
             f"format must be {CHUNKED_FORMAT!r}")
    version = index.get("format_version")
    _require(isinstance(version, int) and not isinstance(version, bool), where, f"invalid format_version {version!r}")
    _require(version <= CHUNKED_VERSION, where, f"written by a newer version of the format (format_version {version} > "
                                                f"{CHUNKED_VERSION} supported here); update this code to read it")
    _require(version == CHUNKED_VERSION, where, f"format_version {version} is not a chunked version")
    sh_degree = _int_field(index, "sh_degree", where, 0, 3)
    n_total = _int_field(index, "n_gaussians", where, 1, 1 << 40)
    raw_chunks = index.get("chunks")
    _require(isinstance(raw_chunks, list) and len(raw_chunks) >= 1, where, "chunks must be a non-empty list")
    chunks = []
    offset = end
    for i, c in enumerate(raw_chunks):
        cw = f"{where} chunk {i}"
        _require(isinstance(c, dict), cw, "not an object")
        off = _int_field(c, "offset", cw, 0, 1 << 50)
        size = _int_field(c, "bytes", cw, 1, 1 << 50)
        n = _int_field(c, "n_gaussians", cw, 1, 1 << 40)
        _require(off == offset, cw, f"starts at byte {off}, expected {offset} (chunks follow the index without gaps)")
        box = c.get("bbox")
        _require(isinstance(box, list) and len(box) == 6 and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                                                   and math.isfinite(v) for v in box), cw,
                 f"bbox must be 6 finite numbers, got {box!r}")
        _require(all(box[k] <= box[k + 3] for k in range(3)), cw, f"bbox {box} has a minimum above its maximum")
        digest = c.get("sha256")
        _require(isinstance(digest, str) and len(digest) == 64 and all(ch in "0123456789abcdef" for ch in digest), cw,
                 "sha256 must be 64 lowercase hex digits")
        chunks.append(ChunkEntry(off, size, n, tuple(float(v) for v in box), digest))
        offset += size
    _require(offset == total_bytes, where, f"the chunks end at byte {offset} but the file has {total_bytes} B "
                                           f"({'truncated' if offset > total_bytes else 'trailing bytes'})")
    _require(sum(c.n_gaussians for c in chunks) == n_total, where,
             f"n_gaussians {n_total} is not the sum over the chunks ({sum(c.n_gaussians for c in chunks)})")
    config = index.get("configuration", {})
    _require(isinstance(config, dict), where, "configuration must be an object")
    return ChunkedIndex(n_gaussians=n_total, sh_degree=sh_degree, chunks=chunks, configuration=config,
                        data_offset=end, total_bytes=total_bytes)


def read_index(path: str) -> ChunkedIndex:
    """The checked index of the chunked file at ``path`` (reads only the head of the file)."""
    total = os.path.getsize(path)
    with open(path, "rb") as fh:
        head = fh.read(_HEADER)
        if is_chunked_bytes(head) and len(head) == _HEADER:
            (length,) = struct.unpack("<I", head[len(CHUNKED_MAGIC):])
            head += fh.read(min(length, MAX_INDEX_BYTES) + _DIGEST)
    return parse_index(head, total, path)


def chunk_bytes(path: str, index: ChunkedIndex, i: int) -> bytes:
    """The bundle of chunk ``i``, its SHA-256 checked."""
    if not 0 <= i < index.n_chunks:
        raise IndexError(f"{path}: chunk {i} does not exist (the file has {index.n_chunks})")
    entry = index.chunks[i]
    with open(path, "rb") as fh:
        fh.seek(entry.offset)
        data = fh.read(entry.bytes)
    where = f"{path} chunk {i}"
    _require(len(data) == entry.bytes, where, f"truncated ({len(data)} of {entry.bytes} B)")
    _require(hashlib.sha256(data).hexdigest() == entry.sha256, where, "SHA-256 mismatch with the index (corrupted chunk)")
    return data


def decode_chunk(data: bytes, entry: ChunkEntry, sh_degree: int, label: str, device=None):
    """The :class:`~codec.payload.DecodedModel` of one chunk's bundle, checked against its index entry."""
    from .io import decode_model_files

    decoded = decode_model_files(bundle_members(data, label), label, device)
    _require(decoded.n_gaussians == entry.n_gaussians, label,
             f"holds {decoded.n_gaussians} Gaussians, the index says {entry.n_gaussians}")
    _require(decoded.sh_degree == sh_degree, label, f"SH degree {decoded.sh_degree}, the index says {sh_degree}")
    means = decoded.means.detach().cpu().to(torch.float64)
    lo = torch.tensor(entry.bbox[:3], dtype=torch.float64)
    hi = torch.tensor(entry.bbox[3:], dtype=torch.float64)
    slack = BBOX_SLACK * max(float(torch.linalg.norm(hi - lo)), 1e-6)
    outside = int(((means < lo - slack) | (means > hi + slack)).any(dim=1).sum())
    _require(outside == 0, label, f"{outside} decoded positions lie outside the index's bbox {list(entry.bbox)}")
    return decoded


@dataclass
class ChunkResult:
    """One chunk of :func:`load_chunks`: its number, the decoded model, or the error that stopped it."""

    index: int
    model: Any = None
    error: Optional[str] = None


def iter_chunks(path: str, which: Optional[Sequence[int]] = None, partial: bool = False,
                device=None, index: Optional[ChunkedIndex] = None) -> Iterator[ChunkResult]:
    """Decode the chunks ``which`` (default all, in file order) one at a time (bounded memory). A damaged
    chunk raises one error naming it, or with ``partial`` is yielded with its ``error`` and the rest go on.
    A damaged index always raises (nothing can be located without it)."""
    index = index or read_index(path)
    for i in (range(index.n_chunks) if which is None else which):
        try:
            data = chunk_bytes(path, index, i)
            model = decode_chunk(data, index.chunks[i], index.sh_degree, f"{path} chunk {i}", device)
        except CompressedFormatError as exc:
            if not partial:
                raise
            yield ChunkResult(i, error=str(exc))
            continue
        yield ChunkResult(i, model=model)


def load_chunks(path: str, which: Optional[Sequence[int]] = None, partial: bool = False, device=None) -> list[ChunkResult]:
    """Every result of :func:`iter_chunks` in a list."""
    return list(iter_chunks(path, which, partial, device))
