"""The real LLFF "fern" scene beside the repository (../shared/data/fern, see its README there):
read through the project's scene readers with --eval, as the README's fern commands use it."""
from __future__ import annotations

import logging
import os

import pytest
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FERN = os.path.join(ROOT, "..", "shared", "data", "fern")
FERN_PLY = os.path.join(ROOT, "..", "shared", "data", "fern_3dgs", "point_cloud.ply")

pytestmark = pytest.mark.skipif(
    not os.path.isdir(os.path.join(FERN, "sparse", "0")),
    reason=f"real scene not found at {os.path.normpath(FERN)} (data lives outside the repository; "
           "see the README's 'A real scene: fern')")

F_FULL, CX_FULL, CY_FULL = 407.5657916101, 252.0, 189.0  # cameras.txt, SIMPLE_RADIAL 504x378


def _assert_intrinsics(cam, scale: float) -> None:
    k = cam.intrinsics.to(torch.float64)
    expected = torch.tensor([[F_FULL * scale, 0.0, CX_FULL * scale], [0.0, F_FULL * scale, CY_FULL * scale],
                             [0.0, 0.0, 1.0]], dtype=torch.float64)
    torch.testing.assert_close(k, expected, atol=1e-4, rtol=0)


def test_fern_full_resolution_with_eval(caplog):
    from scene.dataset_readers import load_scene

    with caplog.at_level(logging.WARNING, logger="scene.dataset_readers"):
        scene = load_scene(FERN, eval=True)
    assert scene.kind == "colmap"
    assert len(scene.train_cameras) == 17 and len(scene.test_cameras) == 3
    assert [c.name for c in scene.test_cameras] == ["image000", "image008", "image016"]  # every 8th
    assert len(scene.points_xyz) == 10_091 and scene.points_rgb.shape == (10_091, 3)
    for cam in scene.train_cameras + scene.test_cameras:
        assert (cam.width, cam.height) == (504, 378)
        _assert_intrinsics(cam, 1.0)
    # the photos are not undistorted: SIMPLE_RADIAL is read as pinhole, with the warning
    assert any("SIMPLE_RADIAL" in r.getMessage() for r in caplog.records)


def test_fern_as_train_py_reads_it():
    """``-s ../shared/data/fern -r 2 --eval`` through train.py's flags and scene loader."""
    import train as train_script

    cfg = train_script.config_from_args(train_script.make_parser().parse_args(
        ["-s", FERN, "-r", "2", "--eval", "-m", os.path.join(ROOT, "output", "unused")]))
    scene = train_script.load_training_scene(cfg.model, seed=0)
    assert len(scene.train_cameras) == 17 and len(scene.test_cameras) == 3
    for cam in scene.train_cameras + scene.test_cameras:
        assert (cam.width, cam.height) == (252, 189)
        _assert_intrinsics(cam, 0.5)
    assert len(scene.points_xyz) == 10_091


@pytest.mark.skipif(not os.path.isfile(FERN_PLY), reason=f"{os.path.normpath(FERN_PLY)} not found")
def test_fern_pretrained_ply_passes_the_init_ply_check():
    from scene.ply_io import check_gaussian_ply

    info = check_gaussian_ply(FERN_PLY)
    assert (info.layout, info.n_gaussians, info.sh_degree) == ("inria", 128_452, 3)
