"""train.py / render.py / training/: a short real run on a tiny generated scene (CPU).

One module-scoped run (32×32 default scene, 14 train + 2 test views, 60 iterations with
densification) serves the learning, resume and render tests; the opacity reset is tested on its
own (test_densification_keeps_optimizer_state_aligned), since a reset inside a 60-iteration run
would mask the learning signal.
"""

from __future__ import annotations

import json
import math
import os

import numpy as np
import pytest
import torch

import render as render_script
import train as train_script
from training.console import run_cli

BASE_ITERATIONS = 60
CKPT_ITERATION = 37  # the next 5 iterations contain a densification step (40), whose splits draw random numbers
SCHEDULE = [
    "--sh_interval", "20",
    "--densify_from_iter", "10",
    "--densify_until_iter", "50",
    "--densification_interval", "10",
    "--opacity_reset_interval", "1000",
    "--position_lr_max_steps", str(BASE_ITERATIONS),
    "--seed", "3",
    "--quiet",
]


@pytest.fixture(scope="module")
def tiny_scene(tmp_path_factory):
    from scene.demo_scene import make_demo_scene

    path = tmp_path_factory.mktemp("scene") / "tiny"
    make_demo_scene(path, fmt="colmap", seed=1, n_views=16, size=32, supersample=2, n_points=600)
    return str(path)


def _cfg(argv):
    return train_script.config_from_args(train_script.make_parser().parse_args(argv))


@pytest.fixture(scope="module")
def base_run(tiny_scene, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("runs") / "base")
    argv = ["-s", tiny_scene, "-m", out, "--eval", "--iterations", str(BASE_ITERATIONS),
            "--test_iterations", "0", "--save_iterations", "30",
            "--checkpoint_iterations", str(CKPT_ITERATION)] + SCHEDULE
    outcome = train_script.train(_cfg(argv), progress=False)
    return out, outcome


def _constant_colour_psnr(cameras) -> float:
    """Mean PSNR of the best constant-colour image (per-channel mean of each view)."""
    values = []
    for cam in cameras:
        gt = cam.image()
        const = gt.mean(dim=(0, 1), keepdim=True).expand_as(gt)
        values.append(float(-10.0 * torch.log10(((const - gt) ** 2).mean())))
    return sum(values) / len(values)


def test_short_run_learns(base_run):
    out, outcome = base_run
    result = outcome.result
    losses = [result.losses[k] for k in sorted(result.losses)]
    assert len(losses) == BASE_ITERATIONS
    assert np.mean(losses[-10:]) < 0.8 * np.mean(losses[:10])
    ev = result.evaluations
    assert set(ev) >= {0, BASE_ITERATIONS}
    const_psnr = _constant_colour_psnr(outcome.scene.test_cameras)
    final = ev[BASE_ITERATIONS]["test"]["PSNR"]
    assert final > ev[0]["test"]["PSNR"] + 1.5, (final, ev[0]["test"]["PSNR"])
    assert final > const_psnr + 3.0, (final, const_psnr)
    # outputs in the 3DGS layout
    for k in (30, BASE_ITERATIONS):
        assert os.path.isfile(os.path.join(out, "point_cloud", f"iteration_{k}", "point_cloud.ply"))
    assert os.path.isfile(os.path.join(out, f"chkpnt{CKPT_ITERATION}.pth"))
    cfg = json.load(open(os.path.join(out, "cfg_args.json")))
    assert cfg["model"]["source_path"] == os.path.abspath(outcome.scene.source_path)
    assert cfg["optimization"]["densification_interval"] == 10
    assert open(os.path.join(out, "cfg_args")).read().startswith("Namespace(")
    assert any(name.startswith("events.out.tfevents") for name in os.listdir(os.path.join(out, "tb")))
    # the SH warm-up reached degree 3 at iteration 60 (every 20 iterations)
    assert outcome.model.active_sh_degree == 3


def test_tensorboard_tags(base_run):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out, _ = base_run
    acc = EventAccumulator(os.path.join(out, "tb"))
    acc.Reload()
    scalars = set(acc.Tags()["scalars"])
    assert {"train/l1", "train/loss", "train/psnr", "test/psnr", "test/ssim", "train/num_gaussians",
            "train/iter_time", "train/memory_rss_mib"} <= scalars
    assert any(t.startswith("test_view_0/") for t in acc.Tags()["images"])


def test_resume_reproduces_next_five_losses(base_run, tiny_scene, tmp_path):
    out, outcome = base_run
    ckpt = os.path.join(out, f"chkpnt{CKPT_ITERATION}.pth")
    argv = ["-s", tiny_scene, "-m", str(tmp_path / "resumed"), "--eval",
            "--iterations", str(CKPT_ITERATION + 5), "--test_iterations", "--save_iterations",
            "--start_checkpoint", ckpt] + SCHEDULE
    resumed = train_script.train(_cfg(argv), progress=False).result
    assert resumed.start_iteration == CKPT_ITERATION
    expected = [outcome.result.losses[k] for k in range(CKPT_ITERATION + 1, CKPT_ITERATION + 6)]
    got = [resumed.losses[k] for k in range(CKPT_ITERATION + 1, CKPT_ITERATION + 6)]
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=0)


def test_render_reproduces_logged_test_psnr(base_run):
    out, _ = base_run
    assert render_script.main(["-m", out, "--skip_train", "--quiet"]) == 0
    results = json.load(open(os.path.join(out, "results.json")))
    logged = json.load(open(os.path.join(out, "training_metrics.json")))
    key = f"ours_{BASE_ITERATIONS}"
    assert "train" not in results[key] and "LPIPS" not in results[key]["test"]
    assert abs(results[key]["test"]["PSNR"] - logged[str(BASE_ITERATIONS)]["test"]["PSNR"]) < 0.01
    assert abs(results[key]["test"]["SSIM"] - logged[str(BASE_ITERATIONS)]["test"]["SSIM"]) < 1e-4
    renders = os.listdir(os.path.join(out, "test", key, "renders"))
    assert sorted(renders) == sorted(os.listdir(os.path.join(out, "test", key, "gt"))) and len(renders) == 2
    # an earlier iteration can be chosen explicitly
    assert render_script.main(["-m", out, "--iteration", "30", "--skip_train", "--no_images", "--quiet"]) == 0
    assert "ours_30" in json.load(open(os.path.join(out, "results.json")))


def test_densification_keeps_optimizer_state_aligned(tiny_scene):
    from arguments import OptimizationParams
    from scene.dataset_readers import load_scene
    from scene.gaussian_model import GaussianModel
    from training.densify import Densifier
    from training.optim import build_optimizers
    from training.rendering import render_gaussians

    torch.manual_seed(0)
    scene = load_scene(tiny_scene, eval=True)
    model = GaussianModel.from_points(scene.points_xyz[:300], scene.points_rgb[:300], sh_degree=1)
    opt = OptimizationParams(iterations=12, densify_from_iter=2, densify_until_iter=12, densification_interval=4,
                             opacity_reset_interval=8, densify_grad_threshold=1e-5).resolved()
    optimizers = build_optimizers(model.params, opt, scene.extent)
    densifier = Densifier(opt, scene.extent)
    densifier.check(model.params, optimizers)
    bg = torch.zeros(3)
    counts = [model.num_gaussians]
    for it in range(1, 13):
        cam = scene.train_cameras[it % len(scene.train_cameras)]
        out = render_gaussians(model, cam, bg, "torch")
        densifier.pre_backward(model.params, optimizers, it, out["info"])
        (out["image"] - cam.image()).abs().mean().backward()
        for o in optimizers.values():
            o.step()
            o.zero_grad(set_to_none=True)
        event = densifier.post_backward(model.params, optimizers, it, out["info"])
        counts.append(model.num_gaussians)
        for key, param in model.params.items():
            group = optimizers[key].param_groups
            assert len(group) == 1 and group[0]["params"][0] is param
            state = optimizers[key].state[param]
            assert state["exp_avg"].shape == param.shape and state["exp_avg_sq"].shape == param.shape
        if it in (4, 8):
            assert event.refined
        if it == 8:  # our opacity reset (gsplat 1.5.3's own never fires)
            assert event.opacity_reset
            assert float(torch.sigmoid(model.params["opacities"].detach()).max()) <= 0.01 + 1e-6
            assert float(optimizers["opacities"].state[model.params["opacities"]]["exp_avg"].abs().max()) == 0.0
        else:
            assert not event.opacity_reset
    assert counts[4] > counts[0]  # grew at iteration 4


def test_gsplat_153_reset_bug_is_why_we_reset():
    """DefaultStrategy 1.5.3 alone leaves opacities untouched at a reset step (documented bug)."""
    from gsplat.strategy import DefaultStrategy

    strat = DefaultStrategy(refine_start_iter=10_000, reset_every=5, refine_stop_iter=100)
    n = 4
    params = torch.nn.ParameterDict({
        "means": torch.nn.Parameter(torch.zeros(n, 3)), "scales": torch.nn.Parameter(torch.zeros(n, 3)),
        "quats": torch.nn.Parameter(torch.tensor([[1.0, 0, 0, 0]] * n)),
        "opacities": torch.nn.Parameter(torch.full((n,), 3.0)),
    })
    optimizers = {k: torch.optim.Adam([p], lr=0.0) for k, p in params.items()}
    state = strat.initialize_state()
    means2d = torch.zeros(1, n, 2, requires_grad=True)
    means2d.grad = torch.zeros(1, n, 2)
    info = {"width": 8, "height": 8, "n_cameras": 1, "radii": torch.ones(1, n, 2, dtype=torch.int32),
            "gaussian_ids": None, "means2d": means2d}
    strat.step_post_backward(params, optimizers, state, 5, info)
    assert float(params["opacities"].detach().min()) == 3.0
    from training.densify import reset_opacities

    reset_opacities(params, optimizers, 0.01)
    assert math.isclose(float(torch.sigmoid(params["opacities"].detach()).max()), 0.01, rel_tol=1e-5)


@pytest.mark.gpu
def test_gsplat_training_on_cuda(tiny_scene, tmp_path):
    """The same short run on CUDA with gsplat: learns, densifies, and render.py agrees with train.py."""
    out = str(tmp_path / "gpu")
    argv = ["-s", tiny_scene, "-m", out, "--eval", "--iterations", str(BASE_ITERATIONS), "--backend", "gsplat",
            "--device", "cuda", "--test_iterations", "0", "--checkpoint_iterations", str(CKPT_ITERATION)] + SCHEDULE
    outcome = train_script.train(_cfg(argv), progress=False)
    assert outcome.backend == "gsplat" and outcome.model.params["means"].is_cuda
    ev = outcome.result.evaluations
    assert ev[BASE_ITERATIONS]["test"]["PSNR"] > ev[0]["test"]["PSNR"] + 1.5
    assert outcome.result.num_gaussians != ev[0]["num_gaussians"]  # densification ran
    assert render_script.main(["-m", out, "--skip_train", "--quiet"]) == 0
    results = json.load(open(os.path.join(out, "results.json")))
    assert abs(results[f"ours_{BASE_ITERATIONS}"]["test"]["PSNR"] - ev[BASE_ITERATIONS]["test"]["PSNR"]) < 0.01


# ----------------------------------------------------------------------------- bad input


def _run_train(argv, capsys):
    code = run_cli(train_script.main, argv, "train.py")
    err = capsys.readouterr().err.strip().splitlines()
    return code, err


def test_missing_or_unreadable_init_ply(tiny_scene, tmp_path, capsys):
    out = tmp_path / "run"
    code, err = _run_train(["-s", tiny_scene, "-m", str(out), "--init_ply", str(tmp_path / "nope.ply"), "--quiet"], capsys)
    assert code == 2 and err[-1].startswith("train.py: error:") and "nope.ply" in err[-1]
    assert not out.exists()
    bad = tmp_path / "bad.ply"
    bad.write_bytes(b"ply\nformat binary_little_endian 1.0\nelement vertex 3\nend_header\n\x00")
    code, err = _run_train(["-s", tiny_scene, "-m", str(out), "--init_ply", str(bad), "--quiet"], capsys)
    assert code == 2 and "bad.ply" in err[-1]
    assert not out.exists()


def test_init_ply_is_checked_before_the_scene_is_read(tiny_scene, tmp_path, capsys, monkeypatch):
    """A bad --init_ply fails from its header alone: one line, exit 2, the images never read."""
    from plyfile import PlyData, PlyElement

    from compressed_ply_encoder import write_compressed_ply
    from scene.ply_io import property_names, write_gaussian_ply

    def no_scene(*args, **kwargs):
        raise ValueError("SCENE-WAS-READ")

    monkeypatch.setattr(train_script, "load_training_scene", no_scene)
    rng = np.random.default_rng(0)
    arrays = {"means": rng.normal(size=(5, 3)), "quats": rng.normal(size=(5, 4)),
              "scales": rng.normal(size=(5, 3)), "opacities": rng.normal(size=5),
              "sh0": rng.normal(size=(5, 1, 3)), "shN": np.zeros((5, 3, 3))}
    good = tmp_path / "good.ply"
    write_gaussian_ply(good, arrays)
    truncated = tmp_path / "truncated.ply"
    truncated.write_bytes(good.read_bytes()[:-7])
    empty = tmp_path / "empty.ply"
    PlyData([PlyElement.describe(np.zeros(0, dtype=[(p, "<f4") for p in property_names(1)]), "vertex")]).write(str(empty))
    points = tmp_path / "points.ply"
    PlyData([PlyElement.describe(np.zeros(3, dtype=[(p, "<f4") for p in ("x", "y", "z", "red")]), "vertex")]).write(str(points))
    (tmp_path / "text.ply").write_text("hello\n")
    out = tmp_path / "run"
    cases = {"typo.ply": "does not exist", "truncated.ply": "truncated", "empty.ply": "zero vertices",
             "points.ply": "'red'", "text.ply": "not a PLY file"}
    for name, needle in cases.items():
        code, err = _run_train(["-s", tiny_scene, "-m", str(out), "--init_ply", str(tmp_path / name), "--quiet"], capsys)
        assert code == 2 and len(err) == 1, (name, err)
        assert err[0].startswith("train.py: error: --init_ply:") and name in err[0] and needle in err[0], err
        assert not out.exists()
    # good files (INRIA and SuperSplat compressed) pass the check and reach the scene loader
    compressed = tmp_path / "good.compressed.ply"
    write_compressed_ply(compressed, {k: v.astype(np.float32) for k, v in arrays.items()})
    for path in (good, compressed):
        code, err = _run_train(["-s", tiny_scene, "-m", str(out), "--init_ply", str(path), "--quiet"], capsys)
        assert code == 2 and "SCENE-WAS-READ" in err[-1], err


def test_init_ply_typo_from_the_command_line(tiny_scene, tmp_path):
    import subprocess
    import sys

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = tmp_path / "run"
    proc = subprocess.run([sys.executable, os.path.join(root, "train.py"), "-s", tiny_scene, "-m", str(out),
                           "--init_ply", str(tmp_path / "point_clud.ply")],
                          capture_output=True, text=True, timeout=120, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"train.py: error: --init_ply: {tmp_path / 'point_clud.ply'} does not exist; pass a Gaussian splat PLY "
        "(a 3DGS point_cloud.ply or a SuperSplat .compressed.ply)"]
    assert not out.exists()


def test_missing_or_unreadable_checkpoint(tiny_scene, tmp_path, capsys):
    out = tmp_path / "run"
    code, err = _run_train(["-s", tiny_scene, "-m", str(out), "--start_checkpoint", str(tmp_path / "c.pth")], capsys)
    assert code == 2 and "c.pth" in err[-1] and not out.exists()
    junk = tmp_path / "junk.pth"
    # random bytes (once they made the unpickler raise IndexError) and a pickle that stops mid-tuple
    for data in [os.urandom(256)] + [np.random.default_rng(s).integers(0, 256, 256).astype(np.uint8).tobytes()
                                     for s in range(20)] + [b"\x80\x02(K\x01\x86."]:
        junk.write_bytes(data)
        code, err = _run_train(["-s", tiny_scene, "-m", str(out), "--start_checkpoint", str(junk)], capsys)
        assert code == 2 and "junk.pth" in err[-1] and not out.exists()
    other = tmp_path / "other.pth"
    torch.save({"hello": torch.zeros(2)}, other)
    code, err = _run_train(["-s", tiny_scene, "-m", str(out), "--start_checkpoint", str(other)], capsys)
    assert code == 2 and "not a train.py checkpoint" in err[-1] and not out.exists()


def test_output_folder_of_another_scene_is_refused(tiny_scene, tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    cfg_text = json.dumps({"version": 1, "model": {"source_path": "/somewhere/else"}})
    (out / "cfg_args.json").write_text(cfg_text)
    code, err = _run_train(["-s", tiny_scene, "-m", str(out), "--iterations", "1"], capsys)
    assert code == 2 and "another scene" in err[-1]
    assert (out / "cfg_args.json").read_text() == cfg_text
    assert sorted(os.listdir(out)) == ["cfg_args.json"]


def test_resolution_that_empties_images(tmp_path, capsys):
    from PIL import Image

    scene = tmp_path / "wide"
    (scene / "train").mkdir(parents=True)
    Image.fromarray(np.full((4, 64, 4), 200, np.uint8)).save(scene / "train" / "a.png")
    doc = {"camera_angle_x": 0.8, "frames": [{"file_path": "./train/a", "transform_matrix": np.eye(4).tolist()}]}
    (scene / "transforms_train.json").write_text(json.dumps(doc))
    (scene / "transforms_test.json").write_text(json.dumps({"camera_angle_x": 0.8, "frames": []}))
    out = tmp_path / "run"
    for r in ("3", "0"):
        code, err = _run_train(["-s", str(scene), "-m", str(out), "-r", r, "--quiet"], capsys)
        assert code == 2 and len(err) >= 1 and "resolution" in err[-1], err
        assert not out.exists()


def test_help_lists_field_comments(capsys):
    with pytest.raises(SystemExit):
        train_script.make_parser().parse_args(["--help"])
    text = capsys.readouterr().out
    assert "--densify_grad_threshold" in text and "mean screen-space gradient" in text
    assert "-s SOURCE_PATH, --source_path SOURCE_PATH" in text


def test_every_config_field_has_a_help_comment():
    import dataclasses

    import arguments

    for cls in train_script.CONFIG_GROUPS:
        comments = arguments._field_comments(cls)
        missing = [f.name for f in dataclasses.fields(cls) if not comments.get(f.name)]
        assert not missing, f"{cls.__name__} fields without a '# help' comment: {missing}"


def test_schedule_scales_with_iterations():
    from arguments import OptimizationParams

    full = OptimizationParams().resolved()
    assert (full.densify_from_iter, full.densify_until_iter, full.opacity_reset_interval) == (500, 15_000, 3_000)
    assert full.position_lr_max_steps == 30_000
    short = OptimizationParams(iterations=3_000).resolved()
    assert (short.densify_from_iter, short.densify_until_iter, short.opacity_reset_interval) == (50, 1_500, 300)
    explicit = OptimizationParams(iterations=3_000, densify_until_iter=2_000).resolved()
    assert explicit.densify_until_iter == 2_000


def test_position_lr_schedule():
    from arguments import OptimizationParams
    from training.optim import position_lr

    opt = OptimizationParams(iterations=1000).resolved()
    assert math.isclose(position_lr(0, opt, 2.0), 1.6e-4 * 2.0, rel_tol=1e-12)
    assert math.isclose(position_lr(1000, opt, 2.0), 1.6e-6 * 2.0, rel_tol=1e-12)
    assert math.isclose(position_lr(500, opt, 1.0), math.sqrt(1.6e-4 * 1.6e-6), rel_tol=1e-12)  # geometric midpoint
    assert position_lr(5000, opt, 1.0) == position_lr(1000, opt, 1.0)


def test_camera_order_is_a_permutation_per_epoch():
    from training.sampling import camera_index

    n = 7
    for epoch in range(3):
        seen = [camera_index(5, epoch * n + k, n) for k in range(1, n + 1)]
        assert sorted(seen) == list(range(n))
    assert [camera_index(5, k, n) for k in range(1, n + 1)] != [camera_index(5, k, n) for k in range(n + 1, 2 * n + 1)]
    assert [camera_index(5, k, n) for k in range(1, 15)] != [camera_index(6, k, n) for k in range(1, 15)]
