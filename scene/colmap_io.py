"""Read and write COLMAP sparse models (``cameras``, ``images``, ``points3D``), binary and text.

The file layouts are COLMAP's (``src/colmap/scene/reconstruction_io``), all little endian:

| file | binary record | text line |
|---|---|---|
| cameras.bin | u64 count; per camera: i32 id, i32 model_id, u64 width, u64 height, f64 × n_params | ``ID MODEL W H PARAMS…`` |
| images.bin | u64 count; per image: i32 id, f64 qw qx qy qz, f64 tx ty tz, i32 camera_id, name + NUL, u64 n2d, (f64 x, f64 y, i64 point3D_id) × n2d | ``ID QW QX QY QZ TX TY TZ CAMERA_ID NAME`` then ``X Y POINT3D_ID …`` (the second line may be empty) |
| points3D.bin | u64 count; per point: u64 id, f64 x y z, u8 r g b, f64 error, u64 track_len, (i32 image_id, i32 point2D_idx) × track_len | ``ID X Y Z R G B ERROR IMAGE_ID POINT2D_IDX …`` |

``qvec`` (w, x, y, z) and ``tvec`` are the world-to-camera rotation and translation
(x_cam = R(q)·x_world + t). Text floats are written with ``repr`` so text ↔ binary is exact.

Camera models (id: name, number of parameters) follow COLMAP; which ones a scene loader accepts
is decided in ``scene.dataset_readers``. An id outside the table is an error here.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from utils.files import write_bytes_atomic

# COLMAP camera models: id -> (name, number of parameters)
CAMERA_MODELS: dict[int, tuple[str, int]] = {
    0: ("SIMPLE_PINHOLE", 3),
    1: ("PINHOLE", 4),
    2: ("SIMPLE_RADIAL", 4),
    3: ("RADIAL", 5),
    4: ("OPENCV", 8),
    5: ("OPENCV_FISHEYE", 8),
    6: ("FULL_OPENCV", 12),
    7: ("FOV", 5),
    8: ("SIMPLE_RADIAL_FISHEYE", 4),
    9: ("RADIAL_FISHEYE", 5),
    10: ("THIN_PRISM_FISHEYE", 12),
}
CAMERA_MODEL_IDS: dict[str, int] = {name: mid for mid, (name, _) in CAMERA_MODELS.items()}


@dataclass
class ColmapCamera:
    """One COLMAP camera: ``params`` [n] float64 in the model's order (e.g. fx fy cx cy)."""

    camera_id: int
    model: str
    width: int
    height: int
    params: np.ndarray


@dataclass
class ColmapImage:
    """One registered image: world-to-camera ``qvec`` [4] (w, x, y, z) and ``tvec`` [3] (float64),
    its 2-D keypoints ``xys`` [K, 2] float64 and their ``point3d_ids`` [K] int64 (-1: none)."""

    image_id: int
    qvec: np.ndarray
    tvec: np.ndarray
    camera_id: int
    name: str
    xys: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), np.float64))
    point3d_ids: np.ndarray = field(default_factory=lambda: np.zeros((0,), np.int64))


@dataclass
class ColmapPoints:
    """All 3-D points: ``ids`` [P] int64, ``xyz`` [P, 3] float64, ``rgb`` [P, 3] uint8,
    ``errors`` [P] float64, ``track_lengths`` [P] int64 and the concatenated tracks
    ``tracks`` [sum(track_lengths), 2] int32 (image_id, point2D_idx)."""

    ids: np.ndarray
    xyz: np.ndarray
    rgb: np.ndarray
    errors: np.ndarray
    track_lengths: np.ndarray
    tracks: np.ndarray

    @staticmethod
    def empty() -> "ColmapPoints":
        return ColmapPoints(np.zeros(0, np.int64), np.zeros((0, 3)), np.zeros((0, 3), np.uint8),
                            np.zeros(0), np.zeros(0, np.int64), np.zeros((0, 2), np.int32))

    def __len__(self) -> int:
        return int(self.ids.shape[0])


# --------------------------------------------------------------------------- rotations


def qvec_to_rotmat(qvec: np.ndarray) -> np.ndarray:
    """[3, 3] rotation of a quaternion (w, x, y, z), normalised first (float64)."""
    q = np.asarray(qvec, dtype=np.float64)
    q = q / np.linalg.norm(q)
    w, x, y, z = q
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
        [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
        [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
    ])


def rotmat_to_qvec(rot: np.ndarray) -> np.ndarray:
    """Unit quaternion (w, x, y, z), w ≥ 0, of a [3, 3] rotation matrix (float64).

    Shepperd's method: pick the largest of (trace, R00, R11, R22) as the pivot so the square
    root is taken of a number ≥ 1 and the division is well conditioned."""
    r = np.asarray(rot, dtype=np.float64)
    tr = r[0, 0] + r[1, 1] + r[2, 2]
    pivots = [tr, r[0, 0], r[1, 1], r[2, 2]]
    k = int(np.argmax(pivots))
    if k == 0:
        s = 2.0 * np.sqrt(1.0 + tr)
        q = [0.25 * s, (r[2, 1] - r[1, 2]) / s, (r[0, 2] - r[2, 0]) / s, (r[1, 0] - r[0, 1]) / s]
    elif k == 1:
        s = 2.0 * np.sqrt(1.0 + r[0, 0] - r[1, 1] - r[2, 2])
        q = [(r[2, 1] - r[1, 2]) / s, 0.25 * s, (r[0, 1] + r[1, 0]) / s, (r[0, 2] + r[2, 0]) / s]
    elif k == 2:
        s = 2.0 * np.sqrt(1.0 + r[1, 1] - r[0, 0] - r[2, 2])
        q = [(r[0, 2] - r[2, 0]) / s, (r[0, 1] + r[1, 0]) / s, 0.25 * s, (r[1, 2] + r[2, 1]) / s]
    else:
        s = 2.0 * np.sqrt(1.0 + r[2, 2] - r[0, 0] - r[1, 1])
        q = [(r[1, 0] - r[0, 1]) / s, (r[0, 2] + r[2, 0]) / s, (r[1, 2] + r[2, 1]) / s, 0.25 * s]
    q = np.array(q, dtype=np.float64)
    if q[0] < 0:
        q = -q
    return q / np.linalg.norm(q)


# --------------------------------------------------------------------------- binary reading


class _Cursor:
    """Sequential little-endian reader over a bytes buffer; truncation → ValueError with path."""

    def __init__(self, buf: bytes, path: Path):
        self.buf, self.path, self.off = buf, path, 0

    def read(self, fmt: str) -> tuple:
        size = struct.calcsize("<" + fmt)
        if self.off + size > len(self.buf):
            raise ValueError(f"{self.path}: file is truncated at byte {self.off} "
                             f"(needs {size} more bytes); re-export the COLMAP model")
        vals = struct.unpack_from("<" + fmt, self.buf, self.off)
        self.off += size
        return vals

    def read_cstring(self) -> str:
        end = self.buf.find(b"\x00", self.off)
        if end < 0:
            raise ValueError(f"{self.path}: unterminated image name at byte {self.off}")
        raw = self.buf[self.off:end]
        self.off = end + 1
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ValueError(f"{self.path}: image name at byte {self.off} is not UTF-8") from exc

    def take(self, n_bytes: int) -> bytes:
        if self.off + n_bytes > len(self.buf):
            raise ValueError(f"{self.path}: file is truncated at byte {self.off} "
                             f"(needs {n_bytes} more bytes); re-export the COLMAP model")
        out = self.buf[self.off:self.off + n_bytes]
        self.off += n_bytes
        return out

    def finish(self) -> None:
        if self.off != len(self.buf):
            raise ValueError(f"{self.path}: {len(self.buf) - self.off} unexpected trailing bytes")


def _read_bytes(path: Path) -> bytes:
    if not path.is_file():
        raise FileNotFoundError(f"COLMAP file not found: {path}")
    return path.read_bytes()


def _model_from_id(model_id: int, path: Path, camera_id: int) -> tuple[str, int]:
    if model_id not in CAMERA_MODELS:
        raise ValueError(f"{path}: camera {camera_id} has unknown camera model id {model_id}; "
                         f"known ids are 0–10 ({', '.join(n for n, _ in CAMERA_MODELS.values())})")
    return CAMERA_MODELS[model_id]


def read_cameras_binary(path: str | os.PathLike) -> dict[int, ColmapCamera]:
    """cameras.bin → {camera_id: ColmapCamera}."""
    path = Path(path)
    cur = _Cursor(_read_bytes(path), path)
    (count,) = cur.read("Q")
    cameras = {}
    for _ in range(count):
        camera_id, model_id, width, height = cur.read("iiQQ")
        name, n_params = _model_from_id(model_id, path, camera_id)
        params = np.array(cur.read("d" * n_params), dtype=np.float64)
        cameras[camera_id] = ColmapCamera(camera_id, name, int(width), int(height), params)
    cur.finish()
    return cameras


_POINT2D_DTYPE = np.dtype([("x", "<f8"), ("y", "<f8"), ("id", "<i8")])


def read_images_binary(path: str | os.PathLike) -> dict[int, ColmapImage]:
    """images.bin → {image_id: ColmapImage}."""
    path = Path(path)
    cur = _Cursor(_read_bytes(path), path)
    (count,) = cur.read("Q")
    images = {}
    for _ in range(count):
        vals = cur.read("idddddddi")
        image_id, camera_id = vals[0], vals[8]
        name = cur.read_cstring()
        (n2d,) = cur.read("Q")
        rec = np.frombuffer(cur.take(n2d * _POINT2D_DTYPE.itemsize), dtype=_POINT2D_DTYPE)
        xys = np.stack([rec["x"], rec["y"]], axis=1).astype(np.float64)
        images[image_id] = ColmapImage(image_id, np.array(vals[1:5]), np.array(vals[5:8]),
                                       camera_id, name, xys.reshape(-1, 2),
                                       rec["id"].astype(np.int64))
    cur.finish()
    return images


def read_points3d_binary(path: str | os.PathLike) -> ColmapPoints:
    """points3D.bin → ColmapPoints (tracks gathered with one numpy index, not per point)."""
    path = Path(path)
    buf = _read_bytes(path)
    cur = _Cursor(buf, path)
    (count,) = cur.read("Q")
    ids = np.empty(count, np.int64)
    xyz = np.empty((count, 3), np.float64)
    rgb = np.empty((count, 3), np.uint8)
    errors = np.empty(count, np.float64)
    lengths = np.empty(count, np.int64)
    starts = np.empty(count, np.int64)
    for i in range(count):
        pid, x, y, z, r, g, b, err, track_len = cur.read("QdddBBBdQ")
        ids[i], xyz[i], rgb[i], errors[i], lengths[i] = pid, (x, y, z), (r, g, b), err, track_len
        starts[i] = cur.off
        cur.take(8 * track_len)
    cur.finish()
    total = int(lengths.sum())
    if total:
        # byte index of every int32 in the tracks: start of its point + offset inside the track
        word_starts = np.repeat(starts, 2 * lengths)
        first_word = np.repeat(np.cumsum(2 * lengths) - 2 * lengths, 2 * lengths)
        byte_idx = word_starts + 4 * (np.arange(2 * total) - first_word)
        raw = np.frombuffer(buf, dtype=np.uint8)
        words = raw[byte_idx[:, None] + np.arange(4)].copy().view("<i4").reshape(-1)
        tracks = words.reshape(total, 2).astype(np.int32)
    else:
        tracks = np.zeros((0, 2), np.int32)
    return ColmapPoints(ids, xyz, rgb, errors, lengths, tracks)


# --------------------------------------------------------------------------- text reading


def _data_lines(path: Path) -> list[tuple[int, str]]:
    """(line number, text) of all lines that are not comments; blank lines are kept."""
    if not path.is_file():
        raise FileNotFoundError(f"COLMAP file not found: {path}")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not a UTF-8 text file ({exc})") from exc
    return [(i + 1, line.rstrip("\r\n")) for i, line in enumerate(text.split("\n"))
            if not line.lstrip().startswith("#")]


def _parse_error(path: Path, lineno: int, what: str) -> ValueError:
    return ValueError(f"{path}:{lineno}: cannot parse {what}; is this a COLMAP text model?")


def read_cameras_text(path: str | os.PathLike) -> dict[int, ColmapCamera]:
    """cameras.txt → {camera_id: ColmapCamera}."""
    path = Path(path)
    cameras = {}
    for lineno, line in _data_lines(path):
        elems = line.split()
        if not elems:
            continue
        try:
            camera_id, model, width, height = int(elems[0]), elems[1], int(elems[2]), int(elems[3])
            params = np.array([float(v) for v in elems[4:]], dtype=np.float64)
        except (ValueError, IndexError) as exc:
            raise _parse_error(path, lineno, "camera line") from exc
        if model not in CAMERA_MODEL_IDS:
            raise ValueError(f"{path}:{lineno}: camera {camera_id} has unknown camera model "
                             f"{model!r}; known models: {', '.join(CAMERA_MODEL_IDS)}")
        n_params = CAMERA_MODELS[CAMERA_MODEL_IDS[model]][1]
        if params.size != n_params:
            raise ValueError(f"{path}:{lineno}: camera model {model} needs {n_params} "
                             f"parameters, found {params.size}")
        cameras[camera_id] = ColmapCamera(camera_id, model, width, height, params)
    return cameras


def read_images_text(path: str | os.PathLike) -> dict[int, ColmapImage]:
    """images.txt → {image_id: ColmapImage} (two lines per image; the second may be empty)."""
    path = Path(path)
    lines = _data_lines(path)
    images = {}
    i = 0
    while i < len(lines):
        lineno, line = lines[i]
        elems = line.split()
        if not elems:
            i += 1
            continue
        try:
            image_id = int(elems[0])
            qvec = np.array([float(v) for v in elems[1:5]])
            tvec = np.array([float(v) for v in elems[5:8]])
            camera_id = int(elems[8])
            name = " ".join(elems[9:])
        except (ValueError, IndexError) as exc:
            raise _parse_error(path, lineno, "image line") from exc
        if not name or qvec.size != 4 or tvec.size != 3:
            raise _parse_error(path, lineno, "image line")
        pts_line = lines[i + 1][1] if i + 1 < len(lines) else ""
        pts = pts_line.split()
        if len(pts) % 3:
            raise _parse_error(path, lineno + 1, "2-D points (X Y POINT3D_ID triples)")
        try:
            xs = np.array([float(v) for v in pts[0::3]], dtype=np.float64)
            ys = np.array([float(v) for v in pts[1::3]], dtype=np.float64)
            pids = np.array([int(v) for v in pts[2::3]], dtype=np.int64)
        except ValueError as exc:
            raise _parse_error(path, lineno + 1, "2-D points") from exc
        images[image_id] = ColmapImage(image_id, qvec, tvec, camera_id, name,
                                       np.stack([xs, ys], axis=1).reshape(-1, 2), pids)
        i += 2
    return images


def read_points3d_text(path: str | os.PathLike) -> ColmapPoints:
    """points3D.txt → ColmapPoints."""
    path = Path(path)
    ids, xyz, rgb, errors, lengths, tracks = [], [], [], [], [], []
    for lineno, line in _data_lines(path):
        elems = line.split()
        if not elems:
            continue
        try:
            ids.append(int(elems[0]))
            xyz.append([float(v) for v in elems[1:4]])
            rgb.append([int(v) for v in elems[4:7]])
            errors.append(float(elems[7]))
            track = [int(v) for v in elems[8:]]
        except (ValueError, IndexError) as exc:
            raise _parse_error(path, lineno, "point line") from exc
        if len(xyz[-1]) != 3 or len(rgb[-1]) != 3 or len(track) % 2:
            raise _parse_error(path, lineno, "point line")
        lengths.append(len(track) // 2)
        tracks.extend(track)
    if not ids:
        return ColmapPoints.empty()
    return ColmapPoints(np.array(ids, np.int64), np.array(xyz, np.float64),
                        np.array(rgb, np.int64).clip(0, 255).astype(np.uint8),
                        np.array(errors, np.float64), np.array(lengths, np.int64),
                        np.array(tracks, np.int32).reshape(-1, 2))


# --------------------------------------------------------------------------- dispatch


def read_cameras(path: str | os.PathLike) -> dict[int, ColmapCamera]:
    """cameras.bin or cameras.txt, chosen by the suffix."""
    path = Path(path)
    return read_cameras_binary(path) if path.suffix == ".bin" else read_cameras_text(path)


def read_images(path: str | os.PathLike) -> dict[int, ColmapImage]:
    """images.bin or images.txt, chosen by the suffix."""
    path = Path(path)
    return read_images_binary(path) if path.suffix == ".bin" else read_images_text(path)


def read_points3d(path: str | os.PathLike) -> ColmapPoints:
    """points3D.bin or points3D.txt, chosen by the suffix."""
    path = Path(path)
    return read_points3d_binary(path) if path.suffix == ".bin" else read_points3d_text(path)


def find_model_file(sparse_dir: str | os.PathLike, stem: str) -> Path | None:
    """``<sparse_dir>/<stem>.bin`` if it exists (binary is preferred), else ``.txt``, else None."""
    for ext in (".bin", ".txt"):
        candidate = Path(sparse_dir) / f"{stem}{ext}"
        if candidate.is_file():
            return candidate
    return None


# --------------------------------------------------------------------------- writing


def _atomic_write(path: Path, data: bytes) -> None:
    write_bytes_atomic(path, data)


def write_cameras_binary(path: str | os.PathLike, cameras: dict[int, ColmapCamera]) -> None:
    parts = [struct.pack("<Q", len(cameras))]
    for cam in cameras.values():
        model_id = CAMERA_MODEL_IDS[cam.model]
        n_params = CAMERA_MODELS[model_id][1]
        params = np.asarray(cam.params, np.float64).reshape(-1)
        if params.size != n_params:
            raise ValueError(f"camera {cam.camera_id}: {cam.model} needs {n_params} parameters, "
                             f"got {params.size}")
        parts.append(struct.pack("<iiQQ", cam.camera_id, model_id, cam.width, cam.height))
        parts.append(params.astype("<f8").tobytes())
    _atomic_write(Path(path), b"".join(parts))


def write_images_binary(path: str | os.PathLike, images: dict[int, ColmapImage]) -> None:
    parts = [struct.pack("<Q", len(images))]
    for img in images.values():
        parts.append(struct.pack("<idddddddi", img.image_id, *np.asarray(img.qvec, float),
                                 *np.asarray(img.tvec, float), img.camera_id))
        parts.append(img.name.encode("utf-8") + b"\x00")
        rec = np.empty(len(img.point3d_ids), dtype=_POINT2D_DTYPE)
        rec["x"], rec["y"], rec["id"] = img.xys[:, 0], img.xys[:, 1], img.point3d_ids
        parts.append(struct.pack("<Q", len(rec)))
        parts.append(rec.tobytes())
    _atomic_write(Path(path), b"".join(parts))


def write_points3d_binary(path: str | os.PathLike, points: ColmapPoints) -> None:
    parts = [struct.pack("<Q", len(points))]
    offsets = np.concatenate([[0], np.cumsum(points.track_lengths)]).astype(np.int64)
    for i in range(len(points)):
        parts.append(struct.pack("<QdddBBBdQ", int(points.ids[i]), *points.xyz[i].tolist(),
                                 *points.rgb[i].tolist(), float(points.errors[i]),
                                 int(points.track_lengths[i])))
        parts.append(points.tracks[offsets[i]:offsets[i + 1]].astype("<i4").tobytes())
    _atomic_write(Path(path), b"".join(parts))


def _fmt(values) -> str:
    return " ".join(repr(float(v)) for v in values)


def write_cameras_text(path: str | os.PathLike, cameras: dict[int, ColmapCamera]) -> None:
    lines = ["# Camera list with one line of data per camera:",
             "#   CAMERA_ID, MODEL, WIDTH, HEIGHT, PARAMS[]",
             f"# Number of cameras: {len(cameras)}"]
    for cam in cameras.values():
        lines.append(f"{cam.camera_id} {cam.model} {cam.width} {cam.height} {_fmt(cam.params)}")
    _atomic_write(Path(path), ("\n".join(lines) + "\n").encode("utf-8"))


def write_images_text(path: str | os.PathLike, images: dict[int, ColmapImage]) -> None:
    lines = ["# Image list with two lines of data per image:",
             "#   IMAGE_ID, QW, QX, QY, QZ, TX, TY, TZ, CAMERA_ID, NAME",
             "#   POINTS2D[] as (X, Y, POINT3D_ID)",
             f"# Number of images: {len(images)}"]
    for img in images.values():
        lines.append(f"{img.image_id} {_fmt(img.qvec)} {_fmt(img.tvec)} {img.camera_id} {img.name}")
        lines.append(" ".join(f"{float(x)!r} {float(y)!r} {int(p)}"
                              for (x, y), p in zip(img.xys, img.point3d_ids)))
    _atomic_write(Path(path), ("\n".join(lines) + "\n").encode("utf-8"))


def write_points3d_text(path: str | os.PathLike, points: ColmapPoints) -> None:
    lines = ["# 3D point list with one line of data per point:",
             "#   POINT3D_ID, X, Y, Z, R, G, B, ERROR, TRACK[] as (IMAGE_ID, POINT2D_IDX)",
             f"# Number of points: {len(points)}"]
    offsets = np.concatenate([[0], np.cumsum(points.track_lengths)]).astype(np.int64)
    for i in range(len(points)):
        track = points.tracks[offsets[i]:offsets[i + 1]].reshape(-1)
        r, g, b = (int(v) for v in points.rgb[i])
        fields = [str(int(points.ids[i])), _fmt(points.xyz[i]), f"{r} {g} {b}",
                  repr(float(points.errors[i]))] + [str(int(v)) for v in track]
        lines.append(" ".join(fields))
    _atomic_write(Path(path), ("\n".join(lines) + "\n").encode("utf-8"))


def write_model(sparse_dir: str | os.PathLike, cameras: dict[int, ColmapCamera],
                images: dict[int, ColmapImage], points: ColmapPoints, ext: str = ".bin") -> None:
    """Write cameras/images/points3D``ext`` (``.bin`` or ``.txt``) into ``sparse_dir``."""
    sparse_dir = Path(sparse_dir)
    if ext == ".bin":
        write_cameras_binary(sparse_dir / "cameras.bin", cameras)
        write_images_binary(sparse_dir / "images.bin", images)
        write_points3d_binary(sparse_dir / "points3D.bin", points)
    elif ext == ".txt":
        write_cameras_text(sparse_dir / "cameras.txt", cameras)
        write_images_text(sparse_dir / "images.txt", images)
        write_points3d_text(sparse_dir / "points3D.txt", points)
    else:
        raise ValueError(f"unknown COLMAP model extension {ext!r}; use '.bin' or '.txt'")
