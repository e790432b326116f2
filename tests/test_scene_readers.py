"""Scene readers: COLMAP (binary / text) and NeRF-synthetic, on the tiny generated demo scene."""
from __future__ import annotations

import json
import logging
import shutil
import struct

import numpy as np
import pytest
import torch
from PIL import Image

from scene import colmap_io
from scene.cameras import Camera
from scene.dataset_readers import (composite_on_background, compute_resolution, load_scene,
                                   random_points, scene_extent)
from scene_fixtures import build_tiny_scenes, copy_scene


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return build_tiny_scenes(tmp_path_factory.mktemp("tiny_scene"))


@pytest.fixture(scope="module")
def loaded(tiny):
    return {fmt: load_scene(tiny[fmt], eval=True) for fmt in ("blender", "colmap")}


def _by_name(scene):
    return {c.name: c for c in scene.train_cameras + scene.test_cameras}


def _assert_same_cameras(a, b, atol=1e-6):
    assert [c.name for c in a.train_cameras] == [c.name for c in b.train_cameras]
    assert [c.name for c in a.test_cameras] == [c.name for c in b.test_cameras]
    cams_b = _by_name(b)
    for ca in a.train_cameras + a.test_cameras:
        cb = cams_b[ca.name]
        assert ca.world_to_camera.dtype == torch.float32
        torch.testing.assert_close(ca.world_to_camera, cb.world_to_camera, atol=atol, rtol=0)
        torch.testing.assert_close(ca.intrinsics, cb.intrinsics, atol=atol, rtol=0)
        assert (ca.width, ca.height) == (cb.width, cb.height)
        assert torch.equal(ca.image_uint8, cb.image_uint8)


# --------------------------------------------------------------------------- both formats


def test_blender_and_colmap_give_the_same_cameras(loaded):
    blender, colmap = loaded["blender"], loaded["colmap"]
    assert (blender.kind, colmap.kind) == ("blender", "colmap")
    _assert_same_cameras(blender, colmap)
    assert [c.name for c in colmap.test_cameras] == ["view_000", "view_008"]
    assert len(colmap.train_cameras) == 14
    assert blender.extent == pytest.approx(colmap.extent, abs=1e-9)


def test_without_eval_all_cameras_train(tiny):
    for fmt in ("blender", "colmap"):
        scene = load_scene(tiny[fmt], eval=False)
        assert scene.test_cameras == []
        assert sorted(c.name for c in scene.train_cameras) == [f"view_{k:03d}" for k in range(16)]


def test_extent_is_3dgs_radius(loaded):
    scene = loaded["colmap"]
    centers = []
    for cam in scene.train_cameras:
        w2c = cam.world_to_camera.double()
        centers.append((-w2c[:3, :3].T @ w2c[:3, 3]).numpy())
    centers = np.stack(centers)
    expected = 1.1 * np.linalg.norm(centers - centers.mean(0), axis=1).max()
    assert scene.extent == pytest.approx(expected, rel=1e-6)
    assert scene_extent(np.zeros((1, 3))) == 1.0  # degenerate: fallback


def test_camera_conventions(loaded):
    cam = loaded["colmap"].train_cameras[0]
    assert cam.image_uint8.dtype == torch.uint8 and cam.image_uint8.device.type == "cpu"
    img = cam.image()
    assert img.dtype == torch.float32 and img.shape == (64, 64, 3)
    assert torch.equal(img, cam.image_uint8.float() / 255.0)
    # the camera centre maps to the origin of camera space
    c = torch.cat([cam.camera_center, torch.ones(1)])
    assert torch.allclose((cam.world_to_camera @ c)[:3], torch.zeros(3), atol=1e-5)
    assert cam.intrinsics[0, 2] == 32.0 and cam.intrinsics[1, 2] == 32.0
    with pytest.raises(ValueError, match="image must be uint8"):
        Camera("x", cam.world_to_camera, cam.intrinsics, 64, 64, torch.zeros(64, 63, 3, dtype=torch.uint8))


# --------------------------------------------------------------------------- COLMAP specifics


def test_colmap_text_and_binary_agree(tiny, tmp_path):
    sparse = tiny["colmap"] / "sparse" / "0"
    cams_b = colmap_io.read_cameras(sparse / "cameras.bin")
    cams_t = colmap_io.read_cameras(sparse / "cameras.txt")
    assert cams_b.keys() == cams_t.keys()
    for k in cams_b:
        assert cams_b[k].model == cams_t[k].model == "PINHOLE"
        assert np.array_equal(cams_b[k].params, cams_t[k].params)
    imgs_b = colmap_io.read_images(sparse / "images.bin")
    imgs_t = colmap_io.read_images(sparse / "images.txt")
    assert imgs_b.keys() == imgs_t.keys() and len(imgs_b) == 16
    for k in imgs_b:
        a, b = imgs_b[k], imgs_t[k]
        assert a.name == b.name and a.camera_id == b.camera_id
        assert np.array_equal(a.qvec, b.qvec) and np.array_equal(a.tvec, b.tvec)
        assert np.array_equal(a.xys, b.xys) and np.array_equal(a.point3d_ids, b.point3d_ids)
    pts_b = colmap_io.read_points3d(sparse / "points3D.bin")
    pts_t = colmap_io.read_points3d(sparse / "points3D.txt")
    assert len(pts_b) > 100
    for field in ("ids", "xyz", "rgb", "errors", "track_lengths", "tracks"):
        assert np.array_equal(getattr(pts_b, field), getattr(pts_t, field)), field
    # the loaded scenes agree exactly too
    text_only = copy_scene(tiny["colmap"], tmp_path / "text_only")
    for f in (text_only / "sparse" / "0").glob("*.bin"):
        f.unlink()
    a, b = load_scene(tiny["colmap"], eval=True), load_scene(text_only, eval=True)
    _assert_same_cameras(a, b, atol=0)
    assert np.array_equal(a.points_xyz, b.points_xyz) and np.array_equal(a.points_rgb, b.points_rgb)


def test_colmap_binary_rewrite_is_byte_identical(tiny, tmp_path):
    sparse = tiny["colmap"] / "sparse" / "0"
    cams = colmap_io.read_cameras(sparse / "cameras.bin")
    imgs = colmap_io.read_images(sparse / "images.bin")
    pts = colmap_io.read_points3d(sparse / "points3D.bin")
    colmap_io.write_model(tmp_path, cams, imgs, pts, ".bin")
    for name in ("cameras.bin", "images.bin", "points3D.bin"):
        assert (tmp_path / name).read_bytes() == (sparse / name).read_bytes(), name
    # tracks are consistent with the 2-D observations they point to
    offsets = np.concatenate([[0], np.cumsum(pts.track_lengths)])
    for i in range(0, len(pts), 37):
        for image_id, idx in pts.tracks[offsets[i]:offsets[i + 1]]:
            assert imgs[int(image_id)].point3d_ids[idx] == pts.ids[i]


def test_colmap_points_are_the_initial_points(tiny, loaded):
    pts = colmap_io.read_points3d(tiny["colmap"] / "sparse" / "0" / "points3D.bin")
    scene = loaded["colmap"]
    assert scene.points_xyz.dtype == np.float32 and scene.points_rgb.dtype == np.float32
    assert np.array_equal(scene.points_xyz, pts.xyz.astype(np.float32))
    assert np.allclose(scene.points_rgb, pts.rgb / 255.0)


def test_binary_preferred_over_text(tiny, tmp_path):
    scene_dir = copy_scene(tiny["colmap"], tmp_path / "s")
    txt = scene_dir / "sparse" / "0" / "cameras.txt"
    cams = colmap_io.read_cameras(txt)
    for cam in cams.values():
        cam.params = cam.params * 2.0
    colmap_io.write_cameras_text(txt, cams)
    scene = load_scene(scene_dir)
    fx_bin = colmap_io.read_cameras(scene_dir / "sparse" / "0" / "cameras.bin")[1].params[0]
    assert scene.train_cameras[0].intrinsics[0, 0].item() == pytest.approx(fx_bin)


def _rewrite_camera_model(scene_dir, model, params):
    path = scene_dir / "sparse" / "0" / "cameras.bin"
    cams = colmap_io.read_cameras(path)
    for cam in cams.values():
        cam.model, cam.params = model, np.asarray(params, dtype=np.float64)
    colmap_io.write_cameras_binary(path, cams)
    (scene_dir / "sparse" / "0" / "cameras.txt").unlink(missing_ok=True)


def test_simple_pinhole_and_distorted_models(tiny, tmp_path, caplog):
    pinhole = load_scene(tiny["colmap"]).train_cameras[0].intrinsics
    f, c = pinhole[0, 0].item(), pinhole[0, 2].item()
    for model, params, warns in (("SIMPLE_PINHOLE", [f, c, c], False),
                                 ("SIMPLE_RADIAL", [f, c, c, 0.01], True),
                                 ("RADIAL", [f, c, c, 0.01, -0.002], True),
                                 ("OPENCV", [f, f, c, c, 0.01, 0.0, 0.0, 0.0], True)):
        scene_dir = copy_scene(tiny["colmap"], tmp_path / model)
        _rewrite_camera_model(scene_dir, model, params)
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="scene.dataset_readers"):
            scene = load_scene(scene_dir)
        torch.testing.assert_close(scene.train_cameras[0].intrinsics, pinhole, atol=1e-5, rtol=0)
        warnings = [r.getMessage() for r in caplog.records if "undistorted" in r.getMessage()]
        assert len(warnings) == (1 if warns else 0), (model, warnings)
        if warns:
            assert model in warnings[0]


def test_resolution_rule():
    assert compute_resolution(1000, 600, 1) == (1000, 600)
    assert compute_resolution(1000, 600, 2) == (500, 300)
    assert compute_resolution(1001, 601, 4) == (250, 150)
    assert compute_resolution(1000, 600, 8) == (125, 75)
    assert compute_resolution(1000, 600, -1) == (1000, 600)
    assert compute_resolution(3200, 2400, -1) == (1600, 1200)  # 3DGS: > 1600 px wide is downscaled
    assert compute_resolution(4000, 3000, -1) == (1600, 1200)
    assert compute_resolution(1000, 600, 300) == (300, 180)  # a target width
    for bad in (0, -2, 2.5, "2", True):
        with pytest.raises(ValueError, match="resolution"):
            compute_resolution(1000, 600, bad)


def test_load_with_resolution_scales_images_and_intrinsics(tiny, loaded):
    for fmt in ("colmap", "blender"):
        full = _by_name(loaded[fmt])
        half = load_scene(tiny[fmt], resolution=2, eval=True)
        for cam in half.train_cameras + half.test_cameras:
            ref = full[cam.name]
            assert (cam.width, cam.height) == (32, 32) and cam.image_uint8.shape == (32, 32, 3)
            torch.testing.assert_close(cam.intrinsics[:2], ref.intrinsics[:2] / 2, atol=1e-5, rtol=0)
            assert torch.equal(cam.world_to_camera, ref.world_to_camera)
            # a smooth downscale keeps the mean colour
            assert abs(cam.image().mean().item() - ref.image().mean().item()) < 0.01
    target = load_scene(tiny["colmap"], resolution=48)
    assert target.train_cameras[0].width == 48
    with pytest.raises(ValueError, match="resolution"):
        load_scene(tiny["colmap"], resolution=0)


# --------------------------------------------------------------------------- Blender specifics


def test_background_compositing(tiny):
    black = _by_name(load_scene(tiny["blender"], eval=True))
    white = _by_name(load_scene(tiny["blender"], white_background=True, eval=True))
    rgba = np.asarray(Image.open(tiny["blender"] / "train" / "view_001.png"))
    assert rgba.shape == (64, 64, 4)
    alpha = rgba[..., 3]
    assert (alpha == 0).any() and (alpha == 255).any()
    b, w = black["view_001"].image_uint8.numpy(), white["view_001"].image_uint8.numpy()
    assert (b[alpha == 0] == 0).all() and (w[alpha == 0] == 255).all()
    assert np.array_equal(b[alpha == 255], rgba[alpha == 255][:, :3])
    assert np.array_equal(w[alpha == 255], rgba[alpha == 255][:, :3])
    edge = (alpha > 0) & (alpha < 255)  # anti-aliased edges (2×2 rays per pixel)
    assert edge.any()
    a = alpha[edge][:, None] / 255.0
    rgb = rgba[edge][:, :3] / 255.0
    assert np.abs(b[edge] / 255.0 - rgb * a).max() <= 0.5 / 255 + 1e-9
    assert np.abs(w[edge] / 255.0 - (rgb * a + 1 - a)).max() <= 0.5 / 255 + 1e-9
    # integer compositing equals the float formula to within rounding
    rng = np.random.default_rng(0)
    rand = rng.integers(0, 256, size=(50, 50, 4), dtype=np.uint8)
    bg = (0.2, 0.5, 1.0)
    bg_q = np.round(np.array(bg) * 255) / 255  # the background is quantised to 1/255
    ref = rand[..., :3] / 255.0 * (rand[..., 3:] / 255.0) + bg_q * (1 - rand[..., 3:] / 255.0)
    out = composite_on_background(rand, bg)
    assert np.abs(out / 255.0 - ref).max() <= 0.5 / 255 + 1e-9


def test_random_initial_points(tiny, loaded):
    scene = loaded["blender"]
    assert scene.points_xyz.shape == (100_000, 3)
    assert np.abs(scene.points_xyz).max() <= 1.3
    assert scene.points_xyz.min(0).max() < -1.25 and scene.points_xyz.max(0).min() > 1.25
    assert np.all((scene.points_rgb >= 0.5) & (scene.points_rgb <= 0.5 + 0.2821 / 255 + 1e-6))
    xyz0, _ = random_points(1000, seed=0)
    assert np.array_equal(xyz0, random_points(1000, seed=0)[0])
    assert not np.array_equal(xyz0, random_points(1000, seed=1)[0])
    assert np.array_equal(load_scene(tiny["blender"], seed=0).points_xyz, scene.points_xyz)


def test_blender_points3d_ply_is_used(tiny, tmp_path):
    from plyfile import PlyData, PlyElement

    scene_dir = copy_scene(tiny["blender"], tmp_path / "b")
    vert = np.zeros(5, dtype=[("x", "f4"), ("y", "f4"), ("z", "f4"),
                              ("red", "u1"), ("green", "u1"), ("blue", "u1")])
    vert["x"] = np.arange(5)
    vert["red"] = 255
    PlyData([PlyElement.describe(vert, "vertex")]).write(str(scene_dir / "points3d.ply"))
    scene = load_scene(scene_dir)
    assert np.array_equal(scene.points_xyz[:, 0], np.arange(5, dtype=np.float32))
    assert np.array_equal(scene.points_rgb[:, 0], np.ones(5, np.float32))


# --------------------------------------------------------------------------- bad input


def test_missing_folder(tmp_path):
    missing = tmp_path / "nope"
    with pytest.raises(FileNotFoundError, match="does not exist") as err:
        load_scene(missing)
    assert str(missing) in str(err.value)


def test_folder_without_scene(tmp_path):
    with pytest.raises(FileNotFoundError, match="transforms_train.json"):
        load_scene(tmp_path)


def test_no_sparse_0(tiny, tmp_path):
    scene_dir = copy_scene(tiny["colmap"], tmp_path / "s")
    shutil.move(scene_dir / "sparse" / "0", scene_dir / "sparse" / "1")
    with pytest.raises(FileNotFoundError, match="sparse/0"):
        load_scene(scene_dir)


def test_missing_model_file(tiny, tmp_path):
    scene_dir = copy_scene(tiny["colmap"], tmp_path / "s")
    for ext in (".bin", ".txt"):
        (scene_dir / "sparse" / "0" / f"images{ext}").unlink()
    with pytest.raises(FileNotFoundError, match="images.bin"):
        load_scene(scene_dir)


def test_listed_image_absent(tiny, tmp_path):
    for fmt, rel in (("colmap", "images/view_005.png"), ("blender", "train/view_005.png")):
        scene_dir = copy_scene(tiny[fmt], tmp_path / fmt)
        (scene_dir / rel).unlink()
        with pytest.raises(FileNotFoundError, match="view_005") as err:
            load_scene(scene_dir)
        assert "missing" in str(err.value)


def test_unreadable_json(tiny, tmp_path):
    scene_dir = copy_scene(tiny["blender"], tmp_path / "b")
    path = scene_dir / "transforms_train.json"
    path.write_text('{"camera_angle_x": 0.7, "frames": [', encoding="utf-8")
    with pytest.raises(ValueError, match="unreadable JSON") as err:
        load_scene(scene_dir)
    assert str(path) in str(err.value)
    path.write_text(json.dumps({"frames": []}), encoding="utf-8")
    with pytest.raises(ValueError, match="camera_angle_x"):
        load_scene(scene_dir)


def test_unknown_and_unsupported_camera_models(tiny, tmp_path):
    scene_dir = copy_scene(tiny["colmap"], tmp_path / "fisheye")
    _rewrite_camera_model(scene_dir, "OPENCV_FISHEYE", [50, 50, 32, 32, 0, 0, 0, 0])
    with pytest.raises(ValueError, match="OPENCV_FISHEYE.*not supported") as err:
        load_scene(scene_dir)
    assert "cameras.bin" in str(err.value)

    # a model id COLMAP does not have
    path = scene_dir / "sparse" / "0" / "cameras.bin"
    path.write_bytes(struct.pack("<QiiQQ", 1, 1, 42, 64, 64) + struct.pack("<4d", 50, 50, 32, 32))
    with pytest.raises(ValueError, match="unknown camera model id 42") as err:
        load_scene(scene_dir)
    assert str(path) in str(err.value)

    text_dir = copy_scene(tiny["colmap"], tmp_path / "text")
    for f in (text_dir / "sparse" / "0").glob("*.bin"):
        f.unlink()
    (text_dir / "sparse" / "0" / "cameras.txt").write_text("1 WEIRD_CAM 64 64 50 50 32 32\n")
    with pytest.raises(ValueError, match="unknown camera model 'WEIRD_CAM'"):
        load_scene(text_dir)


def test_truncated_binary_model(tiny, tmp_path):
    scene_dir = copy_scene(tiny["colmap"], tmp_path / "s")
    path = scene_dir / "sparse" / "0" / "images.bin"
    path.write_bytes(path.read_bytes()[:-7])
    with pytest.raises(ValueError, match="truncated") as err:
        load_scene(scene_dir)
    assert str(path) in str(err.value)


def test_rotation_quaternion_round_trip():
    rng = np.random.default_rng(1)
    for _ in range(200):
        q = rng.normal(size=4)
        q = q / np.linalg.norm(q) * np.sign(q[0])
        rot = colmap_io.qvec_to_rotmat(q)
        assert np.allclose(rot @ rot.T, np.eye(3), atol=1e-12)
        assert np.linalg.det(rot) == pytest.approx(1.0)
        assert np.allclose(colmap_io.rotmat_to_qvec(rot), q, atol=1e-12)
    for rot in (np.diag([1.0, -1, -1]), np.diag([-1.0, 1, -1]), np.diag([-1.0, -1, 1])):
        assert np.allclose(colmap_io.qvec_to_rotmat(colmap_io.rotmat_to_qvec(rot)), rot, atol=1e-12)
