"""Read the header of a PLY file without reading its data (a cheap check before heavy work).

The header is the ASCII text from the ``ply`` magic line up to ``end_header``::

    ply
    format binary_little_endian 1.0
    element vertex 3
    property float x
    property list uchar int vertex_indices
    end_header

:func:`read_ply_header` returns its format and, per element, the count and the properties with
a numpy-style type code (``"f4"``, ``"u4"``, ``"u1"``, …; ``"list"`` for list properties), plus
the byte offset where the data starts, so a caller can compare the file size with what a binary
layout needs (:func:`binary_data_bytes`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

MAX_HEADER_BYTES = 1 << 20  # a splat PLY header is a few kB; stop looking after 1 MiB

# PLY scalar type names (both spellings of the spec) -> numpy-style type codes
_TYPE_CODES = {
    "char": "i1", "int8": "i1", "uchar": "u1", "uint8": "u1",
    "short": "i2", "int16": "i2", "ushort": "u2", "uint16": "u2",
    "int": "i4", "int32": "i4", "uint": "u4", "uint32": "u4",
    "float": "f4", "float32": "f4", "double": "f8", "float64": "f8",
}
FORMATS = ("ascii", "binary_little_endian", "binary_big_endian")


@dataclass(frozen=True)
class PlyElementInfo:
    """One ``element`` of a PLY header: name, row count, ``(property name, type code)`` pairs."""

    name: str
    count: int
    properties: tuple[tuple[str, str], ...]

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.properties]

    def type_of(self, prop: str) -> str | None:
        return dict(self.properties).get(prop)


@dataclass(frozen=True)
class PlyHeader:
    """A parsed PLY header: ``format`` (one of :data:`FORMATS`), elements, data offset in bytes."""

    format: str
    elements: tuple[PlyElementInfo, ...]
    data_offset: int

    def element(self, name: str) -> PlyElementInfo | None:
        return next((e for e in self.elements if e.name == name), None)


def type_code(ply_type: str) -> str:
    """Numpy-style code of a PLY scalar type name (``"float"`` → ``"f4"``); ValueError if unknown."""
    try:
        return _TYPE_CODES[ply_type]
    except KeyError:
        raise ValueError(f"unknown PLY property type {ply_type!r} "
                         f"(known: {', '.join(sorted(_TYPE_CODES))})") from None


def read_ply_header(path: str | os.PathLike) -> PlyHeader:
    """Parse the header of the PLY file ``path`` (reads at most :data:`MAX_HEADER_BYTES`).

    Errors: ``FileNotFoundError`` when the file is missing; ``ValueError`` naming the file when it
    does not start with ``ply``, has no ``end_header``, an unknown format or type, or a malformed
    ``element`` / ``property`` line.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"PLY file not found: {path}")
    with open(path, "rb") as fh:
        head = fh.read(MAX_HEADER_BYTES)
    if not head.startswith(b"ply"):
        raise ValueError(f"{path}: not a PLY file (it does not start with 'ply'; "
                         f"first bytes {head[:16]!r})")
    end = head.find(b"end_header")
    if end < 0:
        raise ValueError(f"{path}: PLY header has no 'end_header' within the first "
                         f"{MAX_HEADER_BYTES} bytes; the file is truncated or not a PLY")
    line_end = head.find(b"\n", end)
    if line_end < 0:
        raise ValueError(f"{path}: PLY header ends without a newline after 'end_header' "
                         "(the file is truncated)")
    text = head[:end].decode("ascii", errors="replace")
    fmt = None
    elements: list[tuple[str, int, list[tuple[str, str]]]] = []
    for number, raw in enumerate(text.splitlines()[1:], start=2):
        words = raw.split()
        if not words or words[0] in ("comment", "obj_info"):
            continue
        try:
            if words[0] == "format":
                fmt = words[1]
                if fmt not in FORMATS:
                    raise ValueError(f"unknown format {fmt!r} (expected one of {', '.join(FORMATS)})")
            elif words[0] == "element":
                count = int(words[2])
                if count < 0:
                    raise ValueError(f"negative element count {count}")
                elements.append((words[1], count, []))
            elif words[0] == "property":
                if not elements:
                    raise ValueError("property before any element")
                if words[1] == "list":
                    type_code(words[2]), type_code(words[3])  # validates both
                    elements[-1][2].append((words[4], "list"))
                else:
                    elements[-1][2].append((words[2], type_code(words[1])))
            else:
                raise ValueError(f"unknown keyword {words[0]!r}")
        except (IndexError, ValueError) as exc:
            detail = str(exc) if isinstance(exc, ValueError) and str(exc) else "too few words"
            raise ValueError(f"{path}: bad PLY header line {number} {raw.strip()!r}: {detail}") from None
    if fmt is None:
        raise ValueError(f"{path}: PLY header has no 'format' line")
    return PlyHeader(format=fmt,
                     elements=tuple(PlyElementInfo(n, c, tuple(p)) for n, c, p in elements),
                     data_offset=line_end + 1)


def binary_data_bytes(header: PlyHeader) -> int | None:
    """Bytes of data a binary PLY with this header holds, or None (ASCII or list properties)."""
    if header.format == "ascii":
        return None
    total = 0
    for element in header.elements:
        if any(code == "list" for _, code in element.properties):
            return None
        total += element.count * sum(int(code[1:]) for _, code in element.properties)
    return total
