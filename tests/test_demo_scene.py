"""The built-in demo scene: determinism, split, content, point cloud vs images, CLI."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from scene import colmap_io
from scene.dataset_readers import load_scene
from scene.demo_scene import demo_split, generate_demo, view_name, write_blender
from scene_fixtures import build_tiny_scenes

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return build_tiny_scenes(tmp_path_factory.mktemp("demo"))


def test_split_and_names():
    train, test = demo_split(64)
    assert len(train) == 56 and len(test) == 8 and test == list(range(0, 64, 8))
    # the COLMAP --eval rule (sorted names, every 8th from 0) picks exactly the test views
    names = sorted(view_name(k) for k in range(64))
    assert [i for i, n in enumerate(names) if i % 8 == 0] == [names.index(view_name(k)) for k in test]
    for bad in (0, 12, 60):
        with pytest.raises(ValueError, match="multiple of 8"):
            demo_split(bad)


def test_deterministic_per_seed(tmp_path):
    kwargs = dict(n_views=8, size=24, supersample=1, n_points=100)
    a, b = generate_demo(seed=3, **kwargs), generate_demo(seed=3, **kwargs)
    assert all(np.array_equal(x, y) for x, y in zip(a.rgba, b.rgba))
    assert np.array_equal(a.points.xyz, b.points.xyz) and np.array_equal(a.points.rgb, b.points.rgb)
    write_blender(a, tmp_path / "a")
    write_blender(b, tmp_path / "b")
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    assert len(files) == 8 + 3
    for rel in files:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel
    c = generate_demo(seed=4, **kwargs)
    assert not np.array_equal(a.rgba[1], c.rgba[1])
    assert not np.array_equal(a.c2ws[1], c.c2ws[1])


def test_images_show_textured_objects(tiny):
    scene = load_scene(tiny["blender"], eval=True)
    assert len(scene.train_cameras) == 14 and len(scene.test_cameras) == 2
    from PIL import Image

    for cam in scene.train_cameras[:4]:
        rgba = np.asarray(Image.open(tiny["blender"] / "train" / f"{cam.name}.png"))
        alpha = rgba[..., 3]
        assert 0.3 < (alpha == 255).mean() < 0.98  # objects and some empty background
        img = cam.image()[torch.from_numpy(alpha == 255)]
        assert img.std(dim=0).min() > 0.05  # textured, not flat
        assert img.mean() > 0.15  # lit
    # neighbouring views differ (the camera moves)
    a, b = scene.train_cameras[0].image_uint8, scene.train_cameras[1].image_uint8
    assert (a.float() - b.float()).abs().mean() > 5


def _project(cam, xyz: np.ndarray):
    w2c = cam.world_to_camera.double().numpy()
    k = cam.intrinsics.double().numpy()
    p = xyz @ w2c[:3, :3].T + w2c[:3, 3]
    uv = p[:, :2] / p[:, 2:] * np.array([k[0, 0], k[1, 1]]) + k[:2, 2]
    return uv, p[:, 2]


def test_points_agree_with_images_and_observations(tiny):
    """The sparse points project onto pixels of their own colour, at their 2-D observations."""
    sparse = tiny["colmap"] / "sparse" / "0"
    points = colmap_io.read_points3d(sparse / "points3D.bin")
    images = colmap_io.read_images(sparse / "images.bin")
    scene = load_scene(tiny["colmap"])
    cams = {c.name: c for c in scene.train_cameras}
    id_to_row = {int(pid): i for i, pid in enumerate(points.ids)}
    assert points.track_lengths.min() >= 2 and len(points) == 400
    colour_err, reproj = [], []
    for img in images.values():
        cam = cams[os.path.splitext(img.name)[0]]
        rows = np.array([id_to_row[int(p)] for p in img.point3d_ids])
        uv, z = _project(cam, points.xyz[rows])
        assert (z > 0).all()
        reproj.append(np.linalg.norm(uv - img.xys, axis=1))
        pix = np.floor(img.xys).astype(int)
        seen = cam.image_uint8.numpy()[pix[:, 1], pix[:, 0]].astype(float)
        colour_err.append(np.abs(seen - points.rgb[rows]).mean(axis=1))
    reproj = np.concatenate(reproj)
    colour_err = np.concatenate(colour_err)
    assert reproj.max() < 0.5  # 2 mm of point noise is well under a pixel at 64 px
    assert np.median(colour_err) < 12  # uint8 levels; texture detail below a pixel differs
    assert np.mean(colour_err < 40) > 0.85
    # errors stored in points3D are the mean reprojection errors
    assert np.all(points.errors < 0.5) and np.all(points.errors > 0)


def test_colmap_images_are_the_blender_images_on_black(tiny):
    from PIL import Image

    from scene.dataset_readers import composite_on_background

    rgba = np.asarray(Image.open(tiny["blender"] / "test" / "view_008.png"))
    rgb = np.asarray(Image.open(tiny["colmap"] / "images" / "view_008.png"))
    assert rgb.shape == (64, 64, 3)
    assert np.array_equal(rgb, composite_on_background(rgba, (0.0, 0.0, 0.0)))


def test_scikit_image_photos_are_bundled():
    """The textures come from files inside the scikit-image wheel (no download needed)."""
    import skimage

    data_dir = Path(skimage.__file__).parent / "data"
    for name in ("astronaut.png", "coffee.png", "chelsea.png", "rocket.jpg", "ihc.png",
                 "brick.png", "grass.png"):
        assert (data_dir / name).is_file(), name


def test_cli(tmp_path, capsys):
    out = tmp_path / "scene"
    args = ["--out", str(out), "--format", "colmap", "--n_views", "8", "--size", "16",
            "--supersample", "1", "--n_points", "50", "--seed", "2"]
    res = subprocess.run([sys.executable, str(ROOT / "scripts" / "make_demo_scene.py")] + args,
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert (out / "sparse" / "0" / "images.bin").is_file() and (out / "demo_scene.json").is_file()
    assert len(list((out / "images").glob("*.png"))) == 8
    # a bad value: one line on stderr and exit status 1 (in-process, to save a start-up)
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_demo_scene",
                                                  ROOT / "scripts" / "make_demo_scene.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    capsys.readouterr()
    assert script.main(args[:-8] + ["--n_views", "10"]) == 1
    err = capsys.readouterr().err
    assert "error:" in err and "multiple of 8" in err
