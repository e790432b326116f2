"""Virtual cameras (scene/virtual_cameras.py) and views (compression/views.py): the layout follows the
shape, the cameras see the Gaussians, no camera stands inside a Gaussian's core, targets are float renders."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from compression.views import view_schedule, virtual_views
from scene.gaussian_model import GaussianModel
from scene.transform import random_rotation
from scene.virtual_cameras import (FrameParams, evaluation_cameras, fitting_cameras, frustum_coverage, place_cameras,
                                    push_out_of_cores, scene_frame)
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


def _camera_centres(cams) -> np.ndarray:
    return np.stack([-w[:3, :3].T @ w[:3, 3] for w, _ in cams])


@pytest.mark.parametrize("kind,shape", [("ball", "sphere"), ("tall", "orbit"), ("forward", "forward")])
def test_shape_evidence_follows_the_shape(kind, shape):
    x = _cloud(kind)
    frame = scene_frame(x, np.full(len(x), 0.8))
    assert frame.shape == shape and frame.layout == "auto"
    if shape == "forward":  # the front's cameras look towards the far tail (+z)
        assert frame.forward_axis[2] > 0.9
    if shape == "orbit":
        assert abs(frame.axes[1, 0]) > 0.9  # e1 is the long (y) axis
    assert np.allclose(frame.axes.T @ frame.axes, np.eye(3), atol=1e-9) and np.linalg.det(frame.axes) > 0


@pytest.mark.parametrize("kind", ["ball", "tall", "forward"])
def test_default_views_see_every_side(kind):
    """Whatever the shape, the default fitting cameras stand on both sides of every principal axis
    (a figure on a ground strip is seen from above and below, an upright thin object from front and back)."""
    x = _cloud(kind)
    w = np.full(len(x), 0.8)
    frame = scene_frame(x, w)
    cams, info = fitting_cameras(frame, 32, 64, 48, x, w)
    rel = (_camera_centres(cams) - frame.centre) @ frame.axes  # frame coordinates
    for k in range(3):
        assert (rel[:, k] > 0.5 * frame.radius).sum() >= 4 and (rel[:, k] < -0.5 * frame.radius).sum() >= 4
    assert info["coverage"] >= 0.99
    dist = np.linalg.norm(rel, axis=1)
    assert dist.max() > 1.5 * dist.min()  # two distances
    if kind == "forward":  # the front is weighted with extra views, not made exclusive
        assert info["n_front"] == 8 and len(cams) == 40
    # the camera centres stand outside the core box
    assert not np.any(np.all((rel >= frame.core_lo) & (rel <= frame.core_hi), axis=1))


def test_forward_and_orbit_only_by_request():
    x = _cloud("forward")
    frame = scene_frame(x, np.full(len(x), 0.8), layout="forward")
    cams = place_cameras(frame, 16, 64, 48)
    along = (_camera_centres(cams) - frame.centre) @ frame.forward_axis
    assert np.all(along < 0)  # all on the near side: the layout the user asked for


def test_frame_and_views_turn_with_the_content():
    x = np.random.default_rng(3).normal(size=(4000, 3)) * np.array([0.3, 1.0, 0.55]) + np.array([1.0, -2.0, 0.5])
    x[:200] += np.array([0.4, 2.0, 0.6])  # an asymmetric part: the axes' signs are defined
    w = np.full(len(x), 0.8)
    rot = random_rotation(7)
    a, b = scene_frame(x, w), scene_frame(x @ rot.T, w)
    assert np.allclose(rot @ a.centre, b.centre, atol=0.05)
    assert np.allclose(rot @ a.axes, b.axes, atol=0.02)
    ca, _ = fitting_cameras(a, 16, 64, 48, x, w)
    cb, _ = fitting_cameras(b, 16, 64, 48, x @ rot.T, w)
    assert np.allclose(_camera_centres(ca) @ rot.T, _camera_centres(cb), atol=0.1)
    ea = evaluation_cameras(a, 8, 64, 48)
    eb = evaluation_cameras(b, 8, 64, 48)
    assert np.allclose(_camera_centres(ea) @ rot.T, _camera_centres(eb), atol=0.1)


def test_held_out_views_do_not_depend_on_the_layout_and_differ_from_fitting_ones():
    x = _cloud("forward")
    w = np.full(len(x), 0.8)
    held = {layout: _camera_centres(evaluation_cameras(scene_frame(x, w, layout=layout), 16, 32, 24))
            for layout in ("auto", "forward", "orbit", "sphere")}
    for layout in ("forward", "orbit", "sphere"):
        assert np.allclose(held[layout], held["auto"])
    frame = scene_frame(x, w)
    rel = held["auto"] - frame.centre
    dist = np.linalg.norm(rel, axis=1)
    assert np.isclose(dist[8:].mean() / dist[:8].mean(), FrameParams().near_factor)
    fit = _camera_centres(fitting_cameras(frame, 32, 32, 24, x, w)[0])
    for c in held["auto"]:
        assert np.min(np.linalg.norm(fit - c, axis=1)) > 1e-3


def test_distant_content_adds_views_until_covered():
    x = _cloud("ball")
    far = np.random.default_rng(1).normal(size=(600, 3))
    far = 12.0 * far / np.linalg.norm(far, axis=1, keepdims=True)  # a thin shell far out: 13 % of the opacity
    x = np.concatenate([x, far])
    w = np.full(len(x), 0.8)
    frame = scene_frame(x, w, layout="sphere")
    cams, info = fitting_cameras(frame, 4, 64, 48, x, w)  # few views: gaps between them
    plain, _ = frustum_coverage(x, w, place_cameras(frame, 4, 64, 48), 64, 48)
    assert plain < 0.99 and info["n_coverage"] > 0 and info["coverage"] >= 0.99
    assert len(cams) == 4 + info["n_coverage"]


def test_a_surrounding_scene_gets_views_from_inside():
    rng = np.random.default_rng(2)
    obj = rng.normal(size=(3000, 3)) * 0.5
    shell = rng.normal(size=(3000, 3))
    shell = 20.0 * shell / np.linalg.norm(shell, axis=1, keepdims=True)  # a room around the object
    x = np.concatenate([obj, shell])
    w = np.full(len(x), 0.8)
    frame = scene_frame(x, w)
    assert frame.surrounds and not scene_frame(_cloud("ball"), np.full(4000, 0.8)).surrounds
    cams, info = fitting_cameras(frame, 16, 64, 48, x, w)
    assert info["n_inside"] == 4
    inside = _camera_centres(cams[-4:]) if info["n_coverage"] == 0 else None
    if inside is not None:
        assert np.allclose(inside, frame.centre)


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
    assert views.description["frustum_coverage"] > 0.99


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


def test_near_views_stand_outside_the_content():
    """A near view zooms in (the content fills the frame) but is never taken from inside the content: along
    its axis it stands beyond 99 % of the opaque Gaussians, with a margin (here the arms reach out beyond the
    bare near distance)."""
    rng = np.random.default_rng(4)
    body = rng.normal(size=(4000, 3)) * np.array([0.3, 1.0, 0.3])
    arms = rng.normal(size=(300, 3)) * 0.2 + np.array([4.0, 0.0, 0.0]) * rng.choice([-1.0, 1.0], size=(300, 1))
    x = np.concatenate([body, arms])
    w = np.full(len(x), 0.8)
    frame = scene_frame(x, w)

    def outside(cams) -> list:
        ok = []
        for w2c, _ in cams:
            c = -w2c[:3, :3].T @ w2c[:3, 3]
            toward = (c - frame.centre) / np.linalg.norm(c - frame.centre)
            ok.append(np.linalg.norm(c - frame.centre) >= np.quantile((x - frame.centre) @ toward, 0.99) + 0.2 * frame.radius)
        return ok

    assert all(outside(evaluation_cameras(frame, 16, 64, 48, means=x, opacities=w)))
    assert all(outside(fitting_cameras(frame, 32, 64, 48, x, w)[0]))
    assert not all(outside(evaluation_cameras(frame, 16, 64, 48)))  # the bare near distance: inside the arms' reach


def test_fitting_views_are_rolled_so_both_sides_of_the_frame_lie_along_the_long_axis():
    """Without rolls every sphere view had e1 along the frame's short side, and what lies beyond the core
    along e1 was cropped from all of them; the golden-angle rolls put e1 along the wide side too."""
    import math

    from scene.virtual_cameras import FrameParams, fitting_cameras, scene_frame

    rng = np.random.default_rng(3)
    means = rng.normal(size=(4000, 3)) * [3.0, 1.0, 0.6]
    op = np.ones(len(means))
    frame = scene_frame(means, op)
    e1 = frame.axes[:, 0]

    def image_angles(params):
        cams, _ = fitting_cameras(frame, 32, 320, 240, means, op, params=params)
        out = []
        for w2c, _k in cams:
            x, y = float(w2c[0, :3] @ e1), float(w2c[1, :3] @ e1)
            if math.hypot(x, y) > 0.5:  # e1 well inside the image plane
                out.append(math.degrees(math.atan2(abs(y), abs(x))))  # 0: along the wide side, 90: the short side
        return np.array(out)

    rolled = image_angles(FrameParams())
    assert (rolled < 20).sum() >= 3 and (rolled > 70).sum() >= 3
    unrolled = image_angles(FrameParams(fitting_roll=False))
    assert (unrolled < 20).sum() == 0  # the blind spot the rolls close
