"""Read and write Gaussian splats in the INRIA 3DGS PLY layout.

One ``vertex`` element, float32, ``binary_little_endian``, properties in this order:

| properties | meaning | in memory |
|---|---|---|
| x y z | centre | ``means [N,3]`` |
| nx ny nz | unused normals (written as 0, optional on read) | — |
| f_dc_0..2 | SH band 0 (raw) | ``sh0 [N,1,3]`` |
| f_rest_0..3(K−1)−1 | SH bands 1..d, **channel-major**: f_rest_j = shN[:, j mod (K−1), j div (K−1)] | ``shN [N,K−1,3]`` |
| opacity | logit opacity | ``opacities [N]`` |
| scale_0..2 | log scales | ``scales [N,3]`` |
| rot_0..3 | unnormalised quaternion w x y z | ``quats [N,4]`` |

K = (d+1)² for SH degree d ∈ {0, 1, 2, 3}, so there are 0, 9, 24 or 45 ``f_rest`` properties.
Raw (pre-activation) values are stored; a write followed by a read is bit-exact.
Files without normals (e.g. ``gsplat.export_splats(format="ply")``) and files with the
properties in another order are read too; missing or unexpected properties are an error.

Reading also accepts SuperSplat / PlayCanvas compressed PLY (``*.compressed.ply``: elements
``chunk``, ``vertex`` with ``packed_*``, optional ``sh``), decoded by ``scene.compressed_ply``
into the same arrays. The layout is chosen by property names; an unknown one is an error that
lists the properties found and both layouts expected. Logit opacities of ±inf (written by 8-bit
opacity decoders for α = 1 / 0) are clamped to ±20 with a warning; NaN anywhere and ±inf in any
other property stay an error (or are dropped with ``sanitize=True``). ``check_gaussian_ply``
checks a file from its header alone, before heavy work.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from scene import compressed_ply
from scene.ply_header import PlyElementInfo, binary_data_bytes, read_ply_header
from utils.files import atomic_target, write_bytes_atomic

logger = logging.getLogger(__name__)

GAUSSIAN_KEYS = ("means", "quats", "scales", "opacities", "sh0", "shN")
_SCALAR_PROPS = ["x", "y", "z", "f_dc_0", "f_dc_1", "f_dc_2", "opacity",
                 "scale_0", "scale_1", "scale_2", "rot_0", "rot_1", "rot_2", "rot_3"]
_NORMAL_PROPS = ["nx", "ny", "nz"]
OPACITY_LOGIT_LIMIT = 20.0  # ±inf logit opacities are read as ±this (sigmoid(20) = 1 in float32)
LAYOUT_INRIA = "inria"
LAYOUT_COMPRESSED = "compressed"


@dataclass(frozen=True)
class PlyInfo:
    """What a Gaussian PLY header says: ``layout`` (``"inria"`` or ``"compressed"``), count, SH degree."""

    layout: str
    n_gaussians: int
    sh_degree: int


def sh_degree_from_rest(n_rest: int) -> int:
    """SH degree d from the number of ``f_rest`` values: n_rest = 3·((d+1)² − 1), d ≤ 3."""
    for degree in range(4):
        if 3 * ((degree + 1) ** 2 - 1) == n_rest:
            return degree
    raise ValueError(f"{n_rest} f_rest values do not match any SH degree 0–3 "
                     "(expected 0, 9, 24 or 45)")


def property_names(sh_degree: int, with_normals: bool = True) -> list[str]:
    """PLY property names of the INRIA layout for ``sh_degree``, in file order."""
    n_rest = 3 * ((sh_degree + 1) ** 2 - 1)
    names = ["x", "y", "z"] + (_NORMAL_PROPS if with_normals else [])
    names += [f"f_dc_{i}" for i in range(3)] + [f"f_rest_{i}" for i in range(n_rest)]
    names += ["opacity"] + [f"scale_{i}" for i in range(3)] + [f"rot_{i}" for i in range(4)]
    return names


def _check_arrays(arrays: dict) -> tuple[int, int]:
    """Validate shapes of a Gaussian dict; returns (N, K−1)."""
    missing = [k for k in GAUSSIAN_KEYS if k not in arrays]
    if missing:
        raise ValueError(f"Gaussian arrays lack keys {missing}; need {list(GAUSSIAN_KEYS)}")
    n = int(np.shape(arrays["means"])[0])
    sh_n = np.shape(arrays["shN"])
    expected = {"means": (n, 3), "quats": (n, 4), "scales": (n, 3), "opacities": (n,),
                "sh0": (n, 1, 3)}
    for key, shape in expected.items():
        if tuple(np.shape(arrays[key])) != shape:
            raise ValueError(f"Gaussian array {key!r} has shape {tuple(np.shape(arrays[key]))}, "
                             f"expected {shape}")
    if len(sh_n) != 3 or sh_n[0] != n or sh_n[2] != 3:
        raise ValueError(f"Gaussian array 'shN' has shape {tuple(sh_n)}, expected ({n}, K-1, 3)")
    try:
        sh_degree_from_rest(3 * int(sh_n[1]))
    except ValueError:
        raise ValueError(f"Gaussian array 'shN' has {sh_n[1]} coefficients per channel; expected "
                         "(d+1)²−1 ∈ {0, 3, 8, 15} for SH degree d = 0..3") from None
    return n, int(sh_n[1])


def _as_float32(x) -> np.ndarray:
    if hasattr(x, "detach"):  # torch tensor
        x = x.detach().cpu().numpy()
    return np.ascontiguousarray(np.asarray(x), dtype=np.float32)


def write_gaussian_ply(path: str | os.PathLike, arrays: dict) -> None:
    """Write ``arrays`` (the ``read_gaussian_ply`` dict; numpy or torch) as an INRIA 3DGS PLY.

    float32, binary little endian, normals 0. The file is written to a temporary name in the
    same folder and renamed, so a reader never sees a half-written file. Non-finite values are
    written as they are (with a warning): ``read_gaussian_ply`` clamps ±inf opacities and, with
    ``sanitize=True``, drops the other rows."""
    n, n_rest_coeffs = _check_arrays(arrays)
    degree = sh_degree_from_rest(3 * n_rest_coeffs)
    write_bytes_atomic(Path(path), _ply_header(n, degree) + _ply_rows(arrays, path))


def write_gaussian_ply_parts(path: str | os.PathLike, n_total: int, sh_degree: int, parts) -> None:
    """Write the INRIA 3DGS PLY of ``n_total`` Gaussians given as an iterable of ``read_gaussian_ply``
    dicts (``parts``, e.g. the chunks of a chunked file, decoded one at a time): the same bytes as
    :func:`write_gaussian_ply` of their concatenation, with one part in memory at a time; atomic (a
    failure in any part leaves nothing at ``path``)."""
    written = 0
    with atomic_target(path) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(_ply_header(n_total, sh_degree))
            for arrays in parts:
                n, n_rest_coeffs = _check_arrays(arrays)
                if sh_degree_from_rest(3 * n_rest_coeffs) != sh_degree:
                    raise ValueError(f"{path}: a part has SH degree {sh_degree_from_rest(3 * n_rest_coeffs)}, "
                                     f"the file {sh_degree}")
                fh.write(_ply_rows(arrays, path))
                written += n
            if written != n_total:
                raise ValueError(f"{path}: the parts hold {written} Gaussians, the header says {n_total}")
            fh.flush()
            os.fsync(fh.fileno())


def _ply_header(n: int, degree: int) -> bytes:
    header = ["ply", "format binary_little_endian 1.0", f"element vertex {n}"]
    header += [f"property float {name}" for name in property_names(degree)] + ["end_header"]
    return ("\n".join(header) + "\n").encode("ascii")


def _ply_rows(arrays: dict, path) -> bytes:
    """The binary rows of ``arrays`` in the INRIA column order."""
    n, n_rest_coeffs = _check_arrays(arrays)
    a = {k: _as_float32(arrays[k]) for k in GAUSSIAN_KEYS}
    # f_rest is channel-major in the file: [N, K-1, 3] -> [N, 3, K-1] -> flat
    rest = a["shN"].transpose(0, 2, 1).reshape(n, -1)
    columns = [a["means"], np.zeros((n, 3), np.float32), a["sh0"].reshape(n, 3), rest,
               a["opacities"].reshape(n, 1), a["scales"], a["quats"]]
    table = np.concatenate(columns, axis=1).astype("<f4", copy=False)
    assert table.shape[1] == len(property_names(sh_degree_from_rest(3 * n_rest_coeffs)))
    bad = int((~np.isfinite(table).all(axis=1)).sum())
    if bad:
        logger.warning("%s: writing %d Gaussians with NaN/Inf values; reading clamps +/-inf "
                       "opacities and needs sanitize=True to drop the other rows", path, bad)
    return np.ascontiguousarray(table).tobytes()


def _inria_degree(vertex: PlyElementInfo | None, elements: list[PlyElementInfo], path) -> int:
    """Validate the INRIA layout of the ``vertex`` element by property names; returns the SH degree."""
    alternative = f"or a SuperSplat/PlayCanvas compressed PLY ({compressed_ply.layout_description()})"
    if vertex is None:
        raise ValueError(f"{path}: PLY has no 'vertex' element (elements: {[e.name for e in elements]}); "
                         f"expected an INRIA 3DGS PLY (vertex with {property_names(3)}) {alternative}")
    props = vertex.names
    n_rest = len([p for p in props if p.startswith("f_rest_")])
    try:
        degree = sh_degree_from_rest(n_rest)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None
    expected = set(_SCALAR_PROPS) | {f"f_rest_{i}" for i in range(n_rest)}
    missing = sorted(expected - set(props))
    unexpected = sorted(set(props) - expected - set(_NORMAL_PROPS))
    if missing or unexpected:
        raise ValueError(f"{path}: not a Gaussian splat PLY: vertex properties {props}: missing "
                         f"properties {missing}, unexpected properties {unexpected}; expected the "
                         f"INRIA 3DGS layout {property_names(degree)} (normals optional) {alternative}")
    return degree


def identify_layout(elements: list[PlyElementInfo], path: str | os.PathLike) -> PlyInfo:
    """Which Gaussian layout a PLY with these elements holds (by property names), or ValueError
    naming the file, the properties found and those expected; zero Gaussians is an error too."""
    if compressed_ply.looks_compressed(elements):
        n, degree = compressed_ply.check_layout(elements, path)
        layout = LAYOUT_COMPRESSED
    else:
        vertex = next((e for e in elements if e.name == "vertex"), None)
        degree = _inria_degree(vertex, elements, path)
        n, layout = vertex.count, LAYOUT_INRIA
    if n == 0:
        raise ValueError(f"{path}: the PLY has zero vertices; nothing to load")
    return PlyInfo(layout=layout, n_gaussians=n, sh_degree=degree)


def check_gaussian_ply(path: str | os.PathLike) -> PlyInfo:
    """Header-only check that ``path`` is a Gaussian splat PLY :func:`read_gaussian_ply` can load.

    Reads at most the header (and the file size), so it costs milliseconds whatever the file's
    size: existence (``FileNotFoundError``), PLY header, layout by property names, at least one
    Gaussian, and for binary files a size that holds all the rows (``ValueError`` naming the file).
    Values (NaN, …) are checked only by the full read."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist; pass a Gaussian splat PLY (a 3DGS "
                                "point_cloud.ply or a SuperSplat .compressed.ply)")
    header = read_ply_header(path)
    info = identify_layout(list(header.elements), path)
    need = binary_data_bytes(header)
    have = path.stat().st_size - header.data_offset
    if need is not None and have < need:
        raise ValueError(f"{path}: truncated PLY: the header declares {need} bytes of data, the file "
                         f"holds {have}; copy or export the file again")
    return info


def _clamp_infinite_opacities(opacities: np.ndarray, path) -> None:
    """Replace ±inf logit opacities in place by ±OPACITY_LOGIT_LIMIT and log how many.

    Decoders of 8-bit opacity (SuperSplat's compressed PLY, converted by splat-transform) write
    logit(1) = +inf for fully opaque Gaussians (and logit(0) = −inf); sigmoid(±20) is 1 / 0 to
    float32 precision, so the clamp keeps what they render and keeps training finite."""
    infinite = np.isinf(opacities)
    n_inf = int(infinite.sum())
    if not n_inf:
        return
    n_pos = int((opacities[infinite] > 0).sum())
    opacities[infinite] = np.copysign(OPACITY_LOGIT_LIMIT, opacities[infinite])
    logger.warning("%s: %d of %d Gaussians have an infinite logit opacity (%d +inf = opaque, %d -inf "
                   "= transparent, as 8-bit opacity decoders write them); clamped to +/-%g",
                   path, n_inf, len(opacities), n_pos, n_inf - n_pos, OPACITY_LOGIT_LIMIT)


def _inria_arrays(data: np.ndarray, n: int, n_rest: int) -> dict[str, np.ndarray]:
    """The ``vertex`` structured array of an INRIA PLY → the Gaussian dict (float32 copies)."""

    def cols(names: list[str]) -> np.ndarray:
        if not names:
            return np.zeros((n, 0), np.float32)
        return np.stack([np.asarray(data[name], dtype=np.float32) for name in names], axis=1)

    k = n_rest // 3
    shN = np.empty((n, k, 3), np.float32)  # filled in place: no second copy of the largest array
    for c in range(3):  # the file's f_rest is channel-major: f_rest_{c*K + j} is coefficient j of channel c
        for j in range(k):
            shN[:, j, c] = data[f"f_rest_{c * k + j}"]
    return {
        "means": cols(["x", "y", "z"]),
        "quats": cols([f"rot_{i}" for i in range(4)]),
        "scales": cols([f"scale_{i}" for i in range(3)]),
        "opacities": cols(["opacity"])[:, 0].copy(),
        "sh0": cols([f"f_dc_{i}" for i in range(3)]).reshape(n, 1, 3),
        "shN": shN,
    }


#: rows per block of :func:`_inria_arrays_in_blocks` (about 60 MB of an SH-3 file)
READ_BLOCK_ROWS = 1 << 18


def _direct_inria_rows(path: Path):
    """``(data offset, row dtype, count, f_rest count)`` of a binary INRIA PLY whose first element is
    ``vertex`` with scalar properties only (the rows lie at a known offset and are read in blocks), or
    None (ASCII, compressed, list properties or another element first: plyfile reads those)."""
    try:
        header = read_ply_header(path)
    except ValueError:
        return None  # plyfile's read gives the error its usual wording
    if header.format == "ascii" or not header.elements or header.elements[0].name != "vertex":
        return None
    vertex = header.elements[0]
    if any(code == "list" for _, code in vertex.properties) or compressed_ply.looks_compressed(list(header.elements)):
        return None
    info = identify_layout(list(header.elements), path)
    order = "<" if header.format == "binary_little_endian" else ">"
    dtype = np.dtype([(name, order + code) for name, code in vertex.properties])
    return header.data_offset, dtype, info.n_gaussians, 3 * ((info.sh_degree + 1) ** 2 - 1)


def _inria_arrays_in_blocks(path: Path, offset: int, dtype: np.dtype, n: int, n_rest: int) -> dict[str, np.ndarray]:
    """The Gaussian dict of the ``n`` rows at ``offset``, read :data:`READ_BLOCK_ROWS` at a time into the
    output arrays: the memory is the arrays and one block (plyfile's memory map keeps every page of the
    file resident beside the arrays, twice the input's size at millions of Gaussians)."""
    k = n_rest // 3
    out = {"means": np.empty((n, 3), np.float32), "quats": np.empty((n, 4), np.float32),
           "scales": np.empty((n, 3), np.float32), "opacities": np.empty(n, np.float32),
           "sh0": np.empty((n, 1, 3), np.float32), "shN": np.empty((n, k, 3), np.float32)}
    with open(path, "rb") as fh:
        fh.seek(offset)
        for start in range(0, n, READ_BLOCK_ROWS):
            rows = np.fromfile(fh, dtype=dtype, count=min(READ_BLOCK_ROWS, n - start))
            if len(rows) < min(READ_BLOCK_ROWS, n - start):
                raise ValueError(f"{path}: truncated PLY: the header declares {n} vertices, the file holds "
                                 f"{start + len(rows)}; copy or export the file again")
            for key, values in _inria_arrays(rows, len(rows), n_rest).items():
                out[key][start:start + len(rows)] = values
    return out


def _element_info(element) -> PlyElementInfo:
    """plyfile's ``PlyElement`` → :class:`PlyElementInfo` (the header parser's description)."""
    props = tuple((p.name, "list" if hasattr(p, "len_dtype") else
                   f"{np.dtype(p.val_dtype).kind}{np.dtype(p.val_dtype).itemsize}")
                  for p in element.properties)
    return PlyElementInfo(element.name, int(element.count), props)


def read_gaussian_ply(path: str | os.PathLike, sanitize: bool = False) -> dict[str, np.ndarray]:
    """Read a Gaussian splat PLY (INRIA 3DGS, or SuperSplat/PlayCanvas compressed) into float32
    arrays (raw values, see the module table).

    Returns ``{"means" [N,3], "quats" [N,4] (raw wxyz), "scales" [N,3] (log),
    "opacities" [N] (logit), "sh0" [N,1,3], "shN" [N,K−1,3]}`` (coefficient-major).

    ±inf logit opacities are clamped to ±20 with a warning. Errors (ValueError naming the file):
    not a PLY, an unknown layout (the message lists the properties found and those expected), an
    ``f_rest`` count that is no SH degree, zero vertices, rows with NaN anywhere or ±inf in another
    property (unless ``sanitize=True``, which drops those rows and logs how many).
    """
    from plyfile import PlyData  # lazy: only needed when reading

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Gaussian PLY not found: {path}")
    direct = _direct_inria_rows(path)
    if direct is not None:
        out = _inria_arrays_in_blocks(path, *direct)
        out = finalize_gaussians(out, path, sanitize)
        logger.debug("%s: read %d Gaussians (inria, in blocks)", path, len(out["opacities"]))
        return out
    try:
        ply = PlyData.read(str(path))
    except Exception as exc:  # plyfile raises several types for corrupt input
        raise ValueError(f"{path}: not a readable PLY file ({type(exc).__name__}: {exc})") from exc
    info = identify_layout([_element_info(e) for e in ply.elements], path)
    n, degree = info.n_gaussians, info.sh_degree
    if info.layout == LAYOUT_COMPRESSED:
        sh = ply["sh"].data if any(e.name == "sh" for e in ply.elements) else None
        out = compressed_ply.decode(ply["chunk"].data, ply["vertex"].data, sh)
    else:
        out = _inria_arrays(ply["vertex"].data, n, 3 * ((degree + 1) ** 2 - 1))
    out = finalize_gaussians(out, path, sanitize)
    logger.debug("%s: read %d Gaussians (%s), SH degree %d", path, len(out["opacities"]), info.layout,
                 degree)
    return out


def finalize_gaussians(out: dict[str, np.ndarray], path, sanitize: bool = False) -> dict[str, np.ndarray]:
    """The value checks every splat reader ends with (PLY here, SPZ / SOG / .splat in
    ``scene.splat_files``): ±inf logit opacities clamped to ±20 with a warning; rows with NaN
    anywhere or ±inf elsewhere are a ValueError naming ``path`` (or, with ``sanitize``, dropped
    with a warning). Returns contiguous float32 arrays."""
    out = {k: np.asarray(v, dtype=np.float32) for k, v in out.items()}
    n = len(out["opacities"])
    _clamp_infinite_opacities(out["opacities"], path)
    finite = np.ones(n, dtype=bool)
    for value in out.values():
        finite &= np.isfinite(value.reshape(n, -1)).all(axis=1)
    n_bad = int(n - finite.sum())
    if n_bad:
        if not sanitize:
            raise ValueError(f"{path}: {n_bad} of {n} Gaussians have NaN/Inf values; fix the file "
                             "or load it with sanitize=True (--sanitize) to drop those rows")
        if n_bad == n:
            raise ValueError(f"{path}: all {n} Gaussians have NaN/Inf values; nothing to load")
        logger.warning("%s: dropped %d of %d Gaussians with NaN/Inf values (sanitize)",
                       path, n_bad, n)
        out = {k: v[finite] for k, v in out.items()}
    return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in out.items()}


def export_ply(decoded, path: str) -> None:
    """Write a decoded compressed model (``codec.DecodedModel``) as a standard INRIA 3DGS PLY (float32,
    binary little endian, atomic): positions, unit quaternions, log-scales, logit opacities and SH in world
    axes, as decoded. Other 3DGS tools open it; rendering it equals the compressed model up to float32
    rounding of the rotations."""
    write_gaussian_ply(path, decoded.arrays())
