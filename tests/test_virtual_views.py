"""Virtual cameras (scene/virtual_cameras.py) and views (compression/views.py): the layout follows the
shape, the cameras see the Gaussians, no camera stands inside a Gaussian's core, targets are float renders."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from compression.views import in_frustum, view_schedule, virtual_views
from scene.gaussian_model import GaussianModel
from scene.virtual_cameras import FrameParams, place_cameras, push_out_of_cores, scene_frame
from tests.compression_helpers import one_thread, teacher_arrays

_threads = pytest.fixture(scope="module", autouse=True)(one_thread)


def _cloud(kind: str, n: int = 4000, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if kind == "ball":
        x = rng.normal(size=(n, 3))
    elif kind == "tall":  # a statue: one axis 3x longer
        x = rng.normal(size=(n, 3)) * np.array([0.3, 1.0, 0.3])
    elif kind == "forward":  # a slab in front of the cameras with a far background tail along +z
        x = rng.normal(size=(n, 3)) * np.array([4.0, 3.0, 1.0]) + np.array([0.0, 0.0, 20.0])
        far = rng.normal(size=(n // 30, 3)) * np.array([10.0, 8.0, 3.0]) + np.array([0.0, 0.0, 45.0])
        x = np.concatenate([x, far])
    else:
        raise ValueError(kind)
    return x


@pytest.mark.parametrize("kind,layout", [("ball", "sphere"), ("tall", "orbit"), ("forward", "forward")])
def test_layout_follows_the_shape(kind, layout):
    x = _cloud(kind)
    frame = scene_frame(x, np.full(len(x), 0.8))
    assert frame.layout == layout
    if layout == "forward":  # cameras look towards the far tail (+z), i.e. they stand on the near side
        assert frame.view_axis[2] > 0.9
    if layout == "orbit":
        assert abs(frame.view_axis[1]) > 0.9


@pytest.mark.parametrize("kind", ["ball", "tall", "forward"])
def test_cameras_see_most_gaussians(kind):
    x = _cloud(kind)
    frame = scene_frame(x, np.full(len(x), 0.8))
    cams = place_cameras(frame, 16, 64, 48)
    means = torch.from_numpy(x).float()
    from scene.cameras import Camera

    seen = torch.zeros(len(x))
    for w2c, k in cams:
        cam = Camera("v", torch.from_numpy(w2c).float(), torch.from_numpy(k).float(), 64, 48,
                     torch.zeros(48, 64, 3, dtype=torch.uint8))
        seen += in_frustum(means, cam).float()
    core = torch.from_numpy(np.all((x >= frame.core_lo) & (x <= frame.core_hi), axis=1))
    # most core Gaussians inside most frusta
    assert float((seen[core] / len(cams) > 0.5).float().mean()) > 0.9
    # the camera centres stand outside the core box
    for w2c, _ in cams:
        c = -w2c[:3, :3].T @ w2c[:3, 3]
        assert not np.all((c >= frame.core_lo) & (c <= frame.core_hi))


def test_held_out_directions_differ_from_fitting_ones():
    x = _cloud("ball")
    frame = scene_frame(x, np.full(len(x), 0.8))
    fit = place_cameras(frame, 32, 32, 24, phase=0.5)
    held = place_cameras(frame, 8, 32, 24, phase=0.0)
    fit_c = np.stack([-w[:3, :3].T @ w[:3, 3] for w, _ in fit])
    for w, _ in held:
        c = -w[:3, :3].T @ w[:3, 3]
        assert np.min(np.linalg.norm(fit_c - c, axis=1)) > 1e-3


def test_no_camera_inside_a_gaussian_core():
    x = _cloud("ball", n=400)
    frame = scene_frame(x, np.full(len(x), 0.8))
    cams = place_cameras(frame, 8, 32, 24)
    # put a big opaque Gaussian around the first camera
    c0 = -cams[0][0][:3, :3].T @ cams[0][0][:3, 3]
    means = torch.from_numpy(np.concatenate([x, c0[None]])).float()
    n = len(means)
    quats = torch.tensor([[1.0, 0.0, 0.0, 0.0]]).repeat(n, 1)
    log_scales = torch.full((n, 3), -3.0)
    log_scales[-1] = float(np.log(0.5))
    opac = torch.full((n,), 0.9)
    moved_cams, moved = push_out_of_cores(cams, frame, means, quats, log_scales, opac, FrameParams())
    assert moved == 1
    for w2c, _ in moved_cams:
        c = -w2c[:3, :3].T @ w2c[:3, 3]
        d = (torch.from_numpy(c).float() - means) / log_scales.exp()
        assert float(d.square().sum(dim=1).min()) >= FrameParams().core_sigma ** 2


def test_virtual_views_targets_are_float_renders_of_the_original():
    model = GaussianModel.from_arrays(teacher_arrays(300, 1, seed=3))
    views = virtual_views(model, view_schedule(model.num_gaussians, n_views=4, n_heldout=2, long_side=32),
                          background=torch.zeros(3), backend="torch")
    assert len(views.train_cameras) == 4 and len(views.test_cameras) == 2 and views.kind == "virtual"
    cam = views.test_cameras[0]
    img = cam.image()
    assert img.dtype == torch.float32 and img.shape == (24, 32, 3)
    assert not torch.equal(img, cam.image_uint8.float() / 255.0)  # not rounded to 8 bits
    assert float(img.max()) > 0.0
    assert views.description["in_frustum_median"] > 0.5


def test_schedule_scales_with_the_scene():
    small, big = view_schedule(50_000), view_schedule(500_000)
    assert (small.n_views, small.long_side, small.iterations) == (32, 320, 100)
    assert big.long_side < small.long_side and big.iterations < small.iterations and big.n_views <= small.n_views
    assert view_schedule(500_000, long_side=100, iterations=7, n_views=3).long_side == 100
    with pytest.raises(ValueError):
        view_schedule(1000, n_views=0)


def test_bad_layout_is_a_clear_error():
    with pytest.raises(ValueError, match="layout"):
        scene_frame(np.zeros((10, 3)), np.ones(10), layout="cube")
