"""GaussianModel: 3DGS initialisation from points, PLY round trip, gsplat compatibility."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from scene.gaussian_model import MIN_DIST2, GaussianModel, mean_sq_knn_distance
from utils.sh import SH_C0


def brute_force_knn_d2(xyz: np.ndarray, k: int = 3) -> np.ndarray:
    d2 = ((xyz[:, None, :].astype(np.float64) - xyz[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(d2, np.inf)
    return np.sort(d2, axis=1)[:, :k].mean(axis=1)


def test_knn_methods_match_brute_force():
    rng = np.random.default_rng(0)
    xyz = rng.normal(size=(300, 3)).astype(np.float32)
    xyz[10] = xyz[11]  # an exact duplicate counts as distance 0
    ref = brute_force_knn_d2(xyz)
    for method in ("kdtree", "cdist", "auto"):
        got = mean_sq_knn_distance(torch.from_numpy(xyz), method=method, chunk_size=64).numpy()
        np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-9, err_msg=method)
    assert mean_sq_knn_distance(torch.zeros(1, 3)).tolist() == [0.0]
    two = mean_sq_knn_distance(torch.tensor([[0.0, 0, 0], [3.0, 4, 0]]))
    assert two.tolist() == [25.0, 25.0]  # fewer than 3 neighbours: mean over those there are


def test_from_points_initialisation():
    rng = np.random.default_rng(1)
    xyz = rng.uniform(-1, 1, size=(500, 3)).astype(np.float32)
    rgb = rng.uniform(0, 1, size=(500, 3)).astype(np.float32)
    xyz[:4] = xyz[0]  # four identical points: distance 0 to 3 neighbours -> clamped
    model = GaussianModel.from_points(xyz, rgb, sh_degree=3)
    assert model.num_gaussians == 500 and model.max_sh_degree == 3 and model.active_sh_degree == 0
    assert isinstance(model.params, torch.nn.ParameterDict)
    assert set(model.params.keys()) == {"means", "quats", "scales", "opacities", "sh0", "shN"}
    assert torch.equal(model.means, torch.from_numpy(xyz))
    expected = np.log(np.sqrt(np.maximum(brute_force_knn_d2(xyz), MIN_DIST2)))
    np.testing.assert_allclose(model.log_scales.detach().numpy(), np.repeat(expected[:, None], 3, 1),
                               rtol=1e-5, atol=1e-5)
    assert model.log_scales[0, 0].item() == pytest.approx(0.5 * np.log(MIN_DIST2), rel=1e-6)
    assert torch.equal(model.quats_wxyz, torch.tensor([1.0, 0, 0, 0]).expand(500, 4))
    torch.testing.assert_close(model.opacities_act, torch.full((500,), 0.1))
    torch.testing.assert_close(model.params["sh0"][:, 0] * SH_C0 + 0.5, torch.from_numpy(rgb))
    assert model.params["shN"].shape == (500, 15, 3) and not model.params["shN"].any()
    assert model.sh_coeffs.shape == (500, 16, 3)
    torch.testing.assert_close(model.scales_act, torch.exp(model.log_scales))
    torch.testing.assert_close(model.quats_normalized.norm(dim=-1), torch.ones(500))


def test_from_points_errors():
    with pytest.raises(ValueError, match="xyz"):
        GaussianModel.from_points(np.zeros((0, 3)), np.zeros((0, 3)))
    with pytest.raises(ValueError, match="rgb shape"):
        GaussianModel.from_points(np.zeros((4, 3)), np.zeros((3, 3)))
    with pytest.raises(ValueError, match="sh_degree"):
        GaussianModel.from_points(np.zeros((4, 3)), np.zeros((4, 3)), sh_degree=4)


@pytest.mark.parametrize("degree", [0, 2])
def test_ply_round_trip(tmp_path, degree):
    rng = np.random.default_rng(degree)
    model = GaussianModel.from_points(rng.normal(size=(50, 3)), rng.uniform(size=(50, 3)),
                                      sh_degree=degree)
    with torch.no_grad():
        model.params["shN"].normal_()
        model.params["quats"].normal_()
    model.save_ply(tmp_path / "m.ply")
    back = GaussianModel.from_ply(tmp_path / "m.ply")
    assert back.max_sh_degree == degree and back.active_sh_degree == degree
    for key in model.params:
        assert torch.equal(back.params[key], model.params[key]), key
    arrays = back.to_arrays()
    again = GaussianModel.from_arrays(arrays, active_sh_degree=0)
    assert again.active_sh_degree == 0
    arrays["means"][:] = 0  # to_arrays / from_arrays copy
    assert not torch.equal(again.means, torch.zeros_like(again.means))
    assert again.to("cpu") is again


def test_params_work_with_gsplat_default_strategy():
    from gsplat import DefaultStrategy

    rng = np.random.default_rng(2)
    model = GaussianModel.from_points(rng.normal(size=(20, 3)), rng.uniform(size=(20, 3)))
    optimizers = {k: torch.optim.Adam([p], lr=1e-3) for k, p in model.params.items()}
    DefaultStrategy().check_sanity(model.params, optimizers)


def test_render_convenience_matches_renderer():
    from gaussian_renderer import render
    from scene_fixtures import small_camera
    from training.rendering import render_gaussians

    rng = np.random.default_rng(3)
    model = GaussianModel.from_points(rng.uniform(-0.5, 0.5, size=(40, 3)),
                                      rng.uniform(size=(40, 3)), sh_degree=1)
    model.active_sh_degree = 1
    cam = small_camera()
    bg = torch.tensor([0.0, 0.0, 1.0])
    out = render_gaussians(model, cam, bg, backend="torch")
    ref = render(model.means, model.quats_wxyz, model.scales_act, model.opacities_act, cam,
                 sh_coeffs=model.sh_coeffs, sh_degree=1, background=bg, backend="torch")
    assert out["image"].shape == (32, 32, 3)
    assert torch.equal(out["image"], ref["image"])
    assert out["alpha"].max() > 0.2
