"""Scene readers: COLMAP (``sparse/0`` + ``images/``) and NeRF-synthetic / Blender
(``transforms_{train,test}.json``), into one :class:`SceneData`.

Rules (as the 3DGS reference code, Kerbl et al. 2023):
- **Resolution** (``resolution``): 1, 2, 4 or 8 divide the size (rounded); another positive
  value is a target width; -1 (default) keeps the size unless the image is wider than 1600 px,
  then it is scaled to 1600 px wide. Intrinsics are scaled by W'/W and H'/H.
- **Split**: COLMAP with ``eval=True`` puts every 8th image (sorted by name, indices 0, 8, 16,
  …) in the test set. Blender keeps the split of the two JSON files. Without ``eval`` all
  cameras are training cameras (Blender: train frames then test frames), the test list is empty.
- **Background**: RGBA images are composited on white (``white_background``) or black.
- **Initial points**: COLMAP ``points3D``; Blender ``points3d.ply`` if present, else 100 000
  random points in [-1.3, 1.3]³ with colour 0.5 + C0·u, u ~ U[0, 1/255) (3DGS), seeded.
- **Extent**: 1.1 × max distance of the train camera centres from their mean.
- COLMAP SIMPLE_RADIAL / RADIAL / OPENCV are read as pinhole (distortion ignored, with a
  warning: the images must already be undistorted); other models are an error.

Images are decoded once and kept as uint8 CPU tensors.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from scene.cameras import Camera, focal_from_fov, intrinsics_matrix
from scene.colmap_io import (ColmapCamera, find_model_file, qvec_to_rotmat, read_cameras,
                             read_images, read_points3d)
from utils.sh import SH_C0

logger = logging.getLogger(__name__)

MAX_DEFAULT_WIDTH = 1600
LLFF_HOLD = 8
RANDOM_POINTS = 100_000
RANDOM_CUBE_HALF = 1.3
PINHOLE_MODELS = ("SIMPLE_PINHOLE", "PINHOLE")
DISTORTED_MODELS = ("SIMPLE_RADIAL", "RADIAL", "OPENCV")


@dataclass
class SceneData:
    """Everything a trainer needs from a scene folder.

    Fields:
        train_cameras, test_cameras: lists of :class:`Camera`.
        extent: 3DGS "nerf_normalization" radius, 1.1 × max ‖C_i − mean(C)‖ over train cameras.
        points_xyz: [P, 3] float32 initial points; points_rgb: [P, 3] float32 in [0, 1].
        kind: "colmap" or "blender"; source_path: the folder that was read.
    """

    train_cameras: list
    test_cameras: list
    extent: float
    points_xyz: np.ndarray
    points_rgb: np.ndarray
    kind: str
    source_path: str


# --------------------------------------------------------------------------- helpers


def check_resolution(resolution: int) -> int:
    """Validate the ``-r/--resolution`` value: -1, or a positive integer."""
    if isinstance(resolution, bool) or not isinstance(resolution, (int, np.integer)):
        raise ValueError(f"resolution must be an integer (-1, 1, 2, 4, 8 or a target width), "
                         f"got {resolution!r}")
    if resolution != -1 and resolution <= 0:
        raise ValueError(f"resolution must be -1 (auto), 1, 2, 4, 8 or a target width in "
                         f"pixels, got {resolution}")
    return int(resolution)


def compute_resolution(width: int, height: int, resolution: int = -1,
                       max_width: int = MAX_DEFAULT_WIDTH) -> tuple[int, int]:
    """Output (W', H') for an image of (width, height) under the 3DGS ``-r`` rule.

    - r ∈ {1, 2, 4, 8}: (round(W/r), round(H/r));
    - r = -1: scale s = W/max_width if W > max_width else 1;  other r > 0: s = W/r;
      then (int(W/s), int(H/s)).
    """
    resolution = check_resolution(resolution)
    if resolution in (1, 2, 4, 8):
        return round(width / resolution), round(height / resolution)
    if resolution == -1:
        scale = width / max_width if width > max_width else 1.0
    else:
        scale = width / resolution
    new_w, new_h = int(width / scale), int(height / scale)
    if new_w < 1 or new_h < 1:
        raise ValueError(f"resolution {resolution} turns a {width}×{height} image into "
                         f"{new_w}×{new_h}; choose a larger target width")
    return new_w, new_h


def composite_on_background(rgba: np.ndarray, background: tuple[float, float, float]) -> np.ndarray:
    """[H, W, 4] uint8 straight-alpha RGBA → [H, W, 3] uint8 on a constant background.

    out = round((rgb·a + bg·(255 − a)) / 255) with bg = round(255·background), in integers, so
    it is exact and identical wherever it is used (the demo scene's COLMAP images use it too).
    """
    if rgba.ndim != 3 or rgba.shape[2] != 4 or rgba.dtype != np.uint8:
        raise ValueError(f"expected an [H, W, 4] uint8 RGBA image, got {rgba.dtype} {rgba.shape}")
    rgb = rgba[..., :3].astype(np.int32)
    alpha = rgba[..., 3:4].astype(np.int32)
    bg = np.round(np.asarray(background, dtype=np.float64) * 255.0).astype(np.int32)
    num = rgb * alpha + bg * (255 - alpha)
    return ((num + 127) // 255).astype(np.uint8)


def _load_image_rgb(path: Path, background: tuple[float, float, float]):
    """Decode an image file → PIL RGB image (RGBA / LA composited on ``background``)."""
    from PIL import Image

    try:
        with Image.open(path) as img:
            img.load()
            if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
                rgba = np.asarray(img.convert("RGBA"))
                return Image.fromarray(composite_on_background(rgba, background), "RGB")
            return img.convert("RGB")
    except (OSError, ValueError) as exc:  # PIL.UnidentifiedImageError is an OSError
        raise ValueError(f"cannot read image {path}: {exc}") from exc


def _resize_to_uint8(img, size: tuple[int, int]) -> torch.Tensor:
    """PIL image → [H', W', 3] uint8 tensor, resized with bicubic filtering (as 3DGS)."""
    from PIL import Image

    if img.size != size:
        img = img.resize(size, Image.Resampling.BICUBIC)
    return torch.from_numpy(np.array(img, dtype=np.uint8, copy=True))


def _make_camera(name: str, w2c: np.ndarray, k_full: np.ndarray, full_size: tuple[int, int],
                 img, resolution: int, notes: set) -> Camera:
    """Camera with intrinsics ``k_full`` (given for ``full_size`` = (W, H)) scaled to the
    output size of ``img`` under the resolution rule."""
    img_w, img_h = img.size
    out_w, out_h = compute_resolution(img_w, img_h, resolution)
    if resolution == -1 and out_w != img_w and "downscaled" not in notes:
        notes.add("downscaled")
        logger.info("%s is %dx%d, wider than %d px: images are scaled to %d px wide, as 3DGS "
                    "does; pass -r/--resolution 1 to keep the full size",
                    name, img_w, img_h, MAX_DEFAULT_WIDTH, MAX_DEFAULT_WIDTH)
    k = k_full.copy()
    k[0, :] *= out_w / full_size[0]
    k[1, :] *= out_h / full_size[1]
    k[2, :] = (0.0, 0.0, 1.0)
    return Camera(name=name,
                  world_to_camera=torch.from_numpy(w2c.astype(np.float32)),
                  intrinsics=torch.from_numpy(k.astype(np.float32)),
                  width=out_w, height=out_h,
                  image_uint8=_resize_to_uint8(img, (out_w, out_h)))


def scene_extent(camera_centers: np.ndarray) -> float:
    """3DGS ``getNerfppNorm`` radius: 1.1 × max_i ‖C_i − mean(C)‖ (float64 centres [M, 3]).

    A degenerate set (one camera, or all at one place) gives 0, replaced by 1.0 with a warning."""
    if len(camera_centers) == 0:
        raise ValueError("cannot compute the scene extent without training cameras")
    centers = np.asarray(camera_centers, dtype=np.float64)
    radius = 1.1 * float(np.linalg.norm(centers - centers.mean(axis=0), axis=1).max())
    if radius <= 0:
        logger.warning("all training cameras share one centre; using scene extent 1.0")
        radius = 1.0
    return radius


def _center_of(w2c: np.ndarray) -> np.ndarray:
    return -w2c[:3, :3].T @ w2c[:3, 3]


def read_points_ply(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """A coloured point cloud PLY (x y z red green blue, as 3DGS's ``points3d.ply``) →
    (xyz [P, 3] float32, rgb [P, 3] float32 in [0, 1])."""
    from plyfile import PlyData

    try:
        vertex = PlyData.read(str(path))["vertex"]
        xyz = np.stack([np.asarray(vertex[c], np.float32) for c in ("x", "y", "z")], axis=1)
        rgb = np.stack([np.asarray(vertex[c], np.float32) for c in ("red", "green", "blue")],
                       axis=1)
    except Exception as exc:
        raise ValueError(f"{path}: not a point cloud PLY with x y z red green blue "
                         f"({type(exc).__name__}: {exc})") from exc
    if rgb.size and rgb.max() > 1.0:  # uchar colours
        rgb = rgb / 255.0
    return xyz, rgb.astype(np.float32)


def random_points(n: int = RANDOM_POINTS, half: float = RANDOM_CUBE_HALF, seed: int = 0):
    """3DGS's Blender initialisation: xyz ~ U[-half, half)³, rgb = 0.5 + C0·u, u ~ U[0, 1/255).

    Returns (xyz [n, 3] float32, rgb [n, 3] float32), deterministic for ``seed``."""
    rng = np.random.default_rng(seed)
    xyz = rng.random((n, 3)) * (2 * half) - half
    rgb = rng.random((n, 3)) / 255.0 * SH_C0 + 0.5
    return xyz.astype(np.float32), rgb.astype(np.float32)


# --------------------------------------------------------------------------- COLMAP


def _colmap_intrinsics(cam: ColmapCamera, model_file: Path, warned: set) -> np.ndarray:
    p = cam.params
    if cam.model == "SIMPLE_PINHOLE":
        fx = fy = p[0]
        cx, cy = p[1], p[2]
    elif cam.model == "PINHOLE":
        fx, fy, cx, cy = p[:4]
    elif cam.model in ("SIMPLE_RADIAL", "RADIAL"):
        fx = fy = p[0]
        cx, cy = p[1], p[2]
    elif cam.model == "OPENCV":
        fx, fy, cx, cy = p[:4]
    else:
        raise ValueError(f"{model_file}: camera {cam.camera_id} uses camera model {cam.model}, "
                         f"which is not supported (supported: {', '.join(PINHOLE_MODELS)}, and "
                         f"{', '.join(DISTORTED_MODELS)} read as pinhole); undistort the images "
                         f"with `colmap image_undistorter` and use its sparse model")
    if cam.model in DISTORTED_MODELS and cam.model not in warned:
        warned.add(cam.model)
        logger.warning("%s: camera model %s is read as a pinhole camera and its distortion is "
                       "ignored; the images must already be undistorted "
                       "(colmap image_undistorter)", model_file, cam.model)
    return intrinsics_matrix(float(fx), float(fy), float(cx), float(cy))


def _read_colmap(root: Path, resolution: int, background, eval_split: bool, images_dir: str):
    sparse = root / "sparse" / "0"
    if not sparse.is_dir():
        raise FileNotFoundError(f"{root}: no COLMAP model folder {sparse} "
                                "(expected sparse/0/cameras, images, points3D as .bin or .txt)")
    files = {stem: find_model_file(sparse, stem) for stem in ("cameras", "images", "points3D")}
    for stem, found in files.items():
        if found is None:
            raise FileNotFoundError(f"{sparse}: missing {stem}.bin / {stem}.txt")
    cameras = read_cameras(files["cameras"])
    images = read_images(files["images"])
    if not images:
        raise ValueError(f"{files['images']}: the model has no registered images")
    image_root = root / images_dir
    if not image_root.is_dir():
        raise FileNotFoundError(f"{root}: image folder {image_root} does not exist")
    warned: set = set()
    intrinsics = {}
    cams = []
    for img in sorted(images.values(), key=lambda im: os.path.splitext(im.name)[0]):
        if img.camera_id not in cameras:
            raise ValueError(f"{files['images']}: image {img.name!r} refers to camera "
                             f"{img.camera_id}, which is not in {files['cameras']}")
        col_cam = cameras[img.camera_id]
        if img.camera_id not in intrinsics:
            intrinsics[img.camera_id] = _colmap_intrinsics(col_cam, files["cameras"], warned)
        image_path = image_root / img.name
        if not image_path.is_file():
            raise FileNotFoundError(f"image {img.name!r} listed in {files['images']} is missing: "
                                    f"{image_path} does not exist")
        w2c = np.eye(4)
        w2c[:3, :3] = qvec_to_rotmat(img.qvec)
        w2c[:3, 3] = img.tvec
        pil = _load_image_rgb(image_path, background)
        if pil.size != (col_cam.width, col_cam.height):
            logger.debug("%s is %s, camera %d is %dx%d: intrinsics scaled to the image",
                         image_path, pil.size, col_cam.camera_id, col_cam.width, col_cam.height)
        cams.append((w2c, _make_camera(os.path.splitext(img.name)[0], w2c,
                                       intrinsics[img.camera_id],
                                       (col_cam.width, col_cam.height), pil, resolution,
                                       warned)))
    if eval_split:
        train = [c for i, c in enumerate(cams) if i % LLFF_HOLD != 0]
        test = [c for i, c in enumerate(cams) if i % LLFF_HOLD == 0]
    else:
        train, test = cams, []
    points = read_points3d(files["points3D"])
    if len(points) == 0:
        raise ValueError(f"{files['points3D']}: the model has no 3-D points to start from")
    xyz = points.xyz.astype(np.float32)
    rgb = (points.rgb.astype(np.float32) / 255.0).astype(np.float32)
    return train, test, xyz, rgb


# --------------------------------------------------------------------------- Blender


def _read_json(path: Path) -> dict:
    if not path.is_file():
        raise FileNotFoundError(f"camera file not found: {path}")
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: unreadable JSON ({exc}); fix or re-export the file") from exc
    if not isinstance(data, dict) or "frames" not in data or "camera_angle_x" not in data:
        raise ValueError(f"{path}: a NeRF-synthetic transforms file needs 'camera_angle_x' and "
                         "'frames'")
    return data


def _blender_frame_path(root: Path, file_path: str) -> Path:
    candidate = (root / file_path).resolve() if file_path else root
    for path in (candidate.with_name(candidate.name + ".png"), candidate):
        if path.is_file():
            return path
    raise FileNotFoundError(f"image {file_path!r} listed in the transforms file is missing: "
                            f"neither {candidate}.png nor {candidate} exists")


def _read_blender_split(root: Path, json_path: Path, resolution: int, background,
                        notes: set) -> list:
    data = _read_json(json_path)
    try:
        fov_x = float(data["camera_angle_x"])
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{json_path}: camera_angle_x is not a number") from exc
    cams = []
    for i, frame in enumerate(data["frames"]):
        try:
            c2w = np.array(frame["transform_matrix"], dtype=np.float64)
            file_path = str(frame["file_path"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{json_path}: frame {i} needs 'file_path' and a 4×4 "
                             "'transform_matrix'") from exc
        if c2w.shape != (4, 4):
            raise ValueError(f"{json_path}: frame {i} transform_matrix has shape {c2w.shape}, "
                             "expected 4×4")
        c2w[:3, 1:3] *= -1.0  # OpenGL/Blender camera axes (y up, z back) -> OpenCV
        w2c = np.linalg.inv(c2w)
        image_path = _blender_frame_path(root, file_path)
        pil = _load_image_rgb(image_path, background)
        width, height = pil.size
        focal = focal_from_fov(fov_x, width)  # fy = fx, principal point at the centre (3DGS)
        k_full = intrinsics_matrix(focal, focal, width / 2.0, height / 2.0)
        cams.append((w2c, _make_camera(image_path.stem, w2c, k_full, (width, height), pil,
                                       resolution, notes)))
    return cams


def _read_blender(root: Path, resolution: int, background, eval_split: bool, seed: int,
                  n_random_points: int):
    notes: set = set()
    train = _read_blender_split(root, root / "transforms_train.json", resolution, background,
                                notes)
    test_json = root / "transforms_test.json"
    if test_json.is_file():
        test = _read_blender_split(root, test_json, resolution, background, notes)
    else:
        logger.warning("%s: no transforms_test.json; the scene has no test cameras", root)
        test = []
    if not eval_split:
        train, test = train + test, []
    ply = root / "points3d.ply"
    if ply.is_file():
        xyz, rgb = read_points_ply(ply)
        logger.info("%s: %d initial points from %s", root, len(xyz), ply.name)
    else:
        xyz, rgb = random_points(n_random_points, RANDOM_CUBE_HALF, seed)
        logger.info("%s: no points3d.ply, %d random initial points in [-%.1f, %.1f]^3 (seed %d)",
                    root, n_random_points, RANDOM_CUBE_HALF, RANDOM_CUBE_HALF, seed)
    return train, test, xyz, rgb


# --------------------------------------------------------------------------- entry point


def detect_scene_kind(source_path: str | os.PathLike) -> str:
    """"colmap" (a ``sparse`` folder) or "blender" (``transforms_train.json``); errors otherwise."""
    root = Path(source_path)
    if not root.exists():
        raise FileNotFoundError(f"scene folder does not exist: {root}")
    if not root.is_dir():
        raise FileNotFoundError(f"scene path is not a folder: {root}")
    if (root / "sparse").exists():
        return "colmap"
    if (root / "transforms_train.json").exists():
        return "blender"
    raise FileNotFoundError(f"{root}: not a scene folder: found neither sparse/0 (COLMAP) nor "
                            "transforms_train.json (NeRF-synthetic)")


def load_scene(source_path: str | os.PathLike, resolution: int = -1,
               white_background: bool = False, eval: bool = False, seed: int = 0, *,
               images: str = "images", n_random_points: int = RANDOM_POINTS) -> SceneData:
    """Read a COLMAP or NeRF-synthetic scene folder (auto-detected) into a :class:`SceneData`.

    Args:
        source_path: the scene folder (``-s``).
        resolution: -1 (auto, ≤ 1600 px wide), 1/2/4/8 (divisor) or a target width (``-r``).
        white_background: composite RGBA images on white instead of black (``-w``).
        eval: hold out a test split (``--eval``); see the module docstring for the rule.
        seed: seed of the random initial points (Blender without ``points3d.ply``).
        images: name of the COLMAP image folder (``-i``).
        n_random_points: number of random initial points for Blender scenes.

    Raises:
        FileNotFoundError: missing folder, no ``sparse/0``, missing model file or image.
        ValueError: unreadable JSON / model file, unsupported camera model, bad resolution.
    """
    check_resolution(resolution)
    kind = detect_scene_kind(source_path)
    root = Path(source_path)
    background = (1.0, 1.0, 1.0) if white_background else (0.0, 0.0, 0.0)
    if kind == "colmap":
        train, test, xyz, rgb = _read_colmap(root, resolution, background, eval, images)
    else:
        train, test, xyz, rgb = _read_blender(root, resolution, background, eval, seed,
                                              n_random_points)
    if not train:
        raise ValueError(f"{root}: no training cameras after the split")
    extent = scene_extent(np.stack([_center_of(w2c) for w2c, _ in train]))
    logger.info("%s scene %s: %d train / %d test cameras, %d initial points, extent %.3f",
                kind, root, len(train), len(test), len(xyz), extent)
    return SceneData(train_cameras=[c for _, c in train], test_cameras=[c for _, c in test],
                     extent=extent, points_xyz=np.ascontiguousarray(xyz, dtype=np.float32),
                     points_rgb=np.ascontiguousarray(rgb, dtype=np.float32), kind=kind,
                     source_path=str(root))


def load_checked_scene(source_path: str, *, resolution: Any, white_background: bool, eval: bool, seed: int) -> Any:
    """``load_scene`` plus the checks a run needs (non-empty images, training views)."""
    scene = load_scene(source_path, resolution=resolution, white_background=white_background, eval=eval, seed=seed)
    for cam in list(scene.train_cameras) + list(scene.test_cameras):
        if int(cam.width) < 1 or int(cam.height) < 1:
            raise ValueError(
                f"-r {resolution} makes image {cam.name!r} {cam.width}x{cam.height} pixels (empty); "
                "use a smaller downscale factor or a larger target width"
            )
    if not scene.train_cameras:
        raise ValueError(f"scene {source_path!r} has no training views")
    return scene
