"""train.py --per_block_quant and render.py on the compressed files: the closed loop."""
import json
import os

import numpy as np

import pytest
import torch

import render as render_script
import train as train_script
from tests.compression_helpers import one_thread
from training.console import run_cli

_one_thread = pytest.fixture(autouse=True, scope="module")(one_thread)

COMMON = ["--eval", "--depth", "10", "--n_block", "8", "--backend", "torch", "--device", "cpu", "--quiet",
          "--lr_multiplier", "1.0"]


@pytest.fixture(scope="module")
def tiny_scene(tmp_path_factory):
    from scene.demo_scene import make_demo_scene

    path = tmp_path_factory.mktemp("scene") / "tiny"
    make_demo_scene(path, fmt="colmap", seed=1, n_views=16, size=32, supersample=2, n_points=600)
    return str(path)


@pytest.fixture(scope="module")
def run(tiny_scene, tmp_path_factory):
    """Pre-training (no --init_ply) → compression → 20 fine-tuning iterations, saves at 0, 10, 20."""
    out = str(tmp_path_factory.mktemp("runs") / "comp")
    argv = ["-s", tiny_scene, "-m", out, "--per_block_quant", "--pretrain_iterations", "150",
            "--iterations", "20", "--test_iterations", "10"] + COMMON
    assert train_script.main(argv) == 0
    with open(os.path.join(out, "compression_metrics.json")) as fh:
        metrics = json.load(fh)
    return out, metrics


def _render(argv):
    assert render_script.main(argv) == 0


def test_outputs_layout(run):
    out, metrics = run
    assert sorted(int(k) for k in metrics) == [0, 10, 20]
    for k in (0, 10, 20):
        d = os.path.join(out, "point_cloud", f"iteration_{k}", "pc_npz")
        assert sorted(os.listdir(d)) == ["ac.npz", "dc.npz", "geometry.npz", "manifest.json", "t.npz", "transform.npz"]
        assert os.path.isfile(d + ".bundle")
    # the pre-trained PLY it started from, the resolved configuration and the setup log
    assert os.path.isfile(os.path.join(out, "point_cloud", "iteration_150", "point_cloud.ply"))
    cfg = json.load(open(os.path.join(out, "cfg_args.json")))
    assert cfg["compression"]["n_block"] == 8 and cfg["compression"]["depth"] == 10
    # 150 pre-training iterations never raise the SH degree above 0: only the bands in use are coded
    man = json.load(open(os.path.join(out, "point_cloud", "iteration_20", "pc_npz", "manifest.json")))
    assert man["sh_degree"] == 0 and man["n_channels"] == 10
    assert man["format_version"] == 6 and man["codec"] == "range"  # the closed loop below runs on v6 files
    setup = json.load(open(os.path.join(out, "compression_setup.json")))
    names = [s["name"] for s in setup["steps"]]
    assert names[0] == "prune" and "rd_structure" in names and "importance" not in names  # --prune rd by default
    size = metrics["20"]["size"]
    assert size["ratio"] > 1 and size["input_ply_bytes"] == os.path.getsize(
        os.path.join(out, "point_cloud", "iteration_150", "point_cloud.ply"))
    assert os.path.isdir(os.path.join(out, "tb"))


@pytest.mark.parametrize("k", [0, 10])
def test_closed_loop_render_matches_logged_psnr(run, k):
    out, metrics = run
    _render(["-m", out, "--iteration", str(k), "--skip_train", "--no_images", "--quiet"])
    results = json.load(open(os.path.join(out, "results.json")))
    entry = results[f"ours_{k}"]
    assert entry["compressed"] is True
    assert abs(entry["test"]["PSNR"] - metrics[str(k)]["PSNR"]) < 0.01
    assert abs(entry["test"]["SSIM"] - metrics[str(k)]["SSIM"]) < 1e-4
    assert entry["size"]["bundle_bytes"] == metrics[str(k)]["size"]["bundle_bytes"]


def test_finetuning_improves_over_iteration_0(run):
    _, metrics = run
    assert metrics["20"]["PSNR"] > metrics["0"]["PSNR"]


def test_render_defaults_to_latest_compressed_and_bundle_path(run):
    out, metrics = run
    _render(["-m", out, "--skip_train", "--no_images", "--quiet"])
    results = json.load(open(os.path.join(out, "results.json")))
    assert abs(results["ours_20"]["test"]["PSNR"] - metrics["20"]["PSNR"]) < 0.01
    bundle = os.path.join(out, "point_cloud", "iteration_10", "pc_npz.bundle")
    _render(["-m", out, "--npz", bundle, "--skip_train", "--no_images", "--quiet"])
    results = json.load(open(os.path.join(out, "results.json")))
    assert abs(results["ours_10"]["test"]["PSNR"] - metrics["10"]["PSNR"]) < 0.01


def test_export_ply_renders_like_the_compressed_model(run, tmp_path):
    from plyfile import PlyData

    from compression.evaluate import evaluate_gaussians, source_gaussians
    from scene.gaussian_model import GaussianModel
    from scene.ply_io import read_gaussian_ply

    out, metrics = run
    ply = tmp_path / "decoded.ply"
    _render(["-m", out, "--iteration", "20", "--skip_train", "--no_images", "--quiet", "--export_ply", str(ply)])
    arrays = read_gaussian_ply(str(ply))
    assert PlyData.read(str(ply))["vertex"].count == arrays["means"].shape[0] == metrics["20"]["size"]["n_gaussians"]
    model = GaussianModel.from_ply(str(ply))
    scene = train_script.load_training_scene(
        train_script.config_from_args(train_script.make_parser().parse_args(
            ["-s", json.load(open(os.path.join(out, "cfg_args.json")))["model"]["source_path"], "--eval"])).model, 0)
    ev = evaluate_gaussians(source_gaussians(model), model.max_sh_degree, scene.test_cameras,
                            background=torch.zeros(3), backend="torch")
    assert abs(ev.psnr - metrics["20"]["PSNR"]) < 0.05


def test_reuses_existing_ply_and_given_ply_path_alias(run, tiny_scene, tmp_path, caplog):
    out, _ = run
    # a second run in the same folder finds the pre-trained PLY instead of training again
    argv = ["-s", tiny_scene, "-m", out, "--per_block_quant", "--iterations", "0", "--no-setup_eval"] + COMMON
    caplog.set_level("INFO")
    assert train_script.main(argv) == 0
    assert any("iteration_150/point_cloud.ply" in r.getMessage() and "using" in r.getMessage() for r in caplog.records)
    # --given_ply_path == --init_ply, into a fresh folder, with LSQ and per-channel quantization
    ply = os.path.join(out, "point_cloud", "iteration_150", "point_cloud.ply")
    out2 = str(tmp_path / "alias")
    argv = ["-s", tiny_scene, "-m", out2, "--per_channel_quant", "--given_ply_path", ply, "--iterations", "3",
            "--quantizer", "lsq", "--no-setup_eval"] + [a for a in COMMON if a not in ("--n_block", "8")]
    assert train_script.main(argv) == 0
    man = json.load(open(os.path.join(out2, "point_cloud", "iteration_3", "pc_npz", "manifest.json")))
    assert man["n_block"] == 1 and man["quantizer"] == "lsq"
    assert not os.path.exists(os.path.join(out2, "point_cloud", "iteration_150"))  # no pre-training


def test_bad_input_is_one_clear_error(run, tiny_scene, tmp_path, capsys):
    out, _ = run
    # compression flags without a compression mode
    code = run_cli(train_script.main, ["-s", tiny_scene, "-m", str(tmp_path / "x"), "--n_block", "4", "--quiet"], "train.py")
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and "--per_block_quant" in err[-1]
    # a corrupted compressed file: render.py names it
    d = tmp_path / "copy"
    import shutil

    shutil.copytree(os.path.join(out, "point_cloud", "iteration_10", "pc_npz"), d / "pc_npz")
    with open(d / "pc_npz" / "ac.npz", "r+b") as fh:
        fh.seek(40)
        fh.write(b"\x00\x01\x02")
    code = run_cli(render_script.main, ["-m", out, "--npz", str(d / "pc_npz"), "--no_images", "--quiet"], "render.py")
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and "ac.npz" in err[-1] and "SHA-256" in err[-1]


def test_tensorboard_compression_tags(run):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out, _ = run
    acc = EventAccumulator(os.path.join(out, "tb"), size_guidance={"scalars": 0, "images": 0})
    acc.Reload()
    scalars = set(acc.Tags()["scalars"])
    for tag in ("compress/test_psnr", "compress/test_ssim", "compress/bytes", "compress/bits_per_gaussian",
                "compress/ratio", "compress_bytes/geometry", "compress_bytes/ac_f_dc", "quant_rmse/euler",
                "quant_rmse_channel/opacity", "compress/train_loss", "compress_setup/psnr_prune",
                "compress/clipped_codes", "compress/rd_quality", "compress/rd_kappa", "compress_bytes/ac_tables"):
        assert tag in scalars, tag
    assert {0, 10, 20} <= {e.step for e in acc.Scalars("compress/test_psnr")}
    assert any(t.startswith("compress_view_0") for t in acc.Tags()["images"])


@pytest.fixture(scope="module")
def target_run(run, tiny_scene, tmp_path_factory):
    """The same pre-trained PLY compressed with --target_size 115 % of the default run's last file (a tiny
    model's files are mostly manifest and tables, so the room below the default is small)."""
    out, metrics = run
    ply = os.path.join(out, "point_cloud", "iteration_150", "point_cloud.ply")
    target = int(1.15 * metrics["20"]["size"]["bundle_bytes"])
    out2 = str(tmp_path_factory.mktemp("runs") / "target")
    argv = ["-s", tiny_scene, "-m", out2, "--per_block_quant", "--init_ply", ply, "--iterations", "10",
            "--test_iterations", "5", "--target_size", f"{target}B", "--no-setup_eval"] + COMMON
    assert train_script.main(argv) == 0
    with open(os.path.join(out2, "compression_metrics.json")) as fh:
        return out2, json.load(fh), target


def test_target_size_every_save_within_three_percent_below(target_run):
    out, metrics, target = target_run
    assert sorted(int(k) for k in metrics) == [0, 5, 10]
    for k, entry in metrics.items():
        size = entry["size"]["bundle_bytes"]
        assert 0.97 * target <= size <= target, (k, size, target)
        assert size == os.path.getsize(os.path.join(out, "point_cloud", f"iteration_{k}", "pc_npz.bundle"))
        assert entry["rate_control"]["target"] == target and entry["clipped_codes"] == 0
        # a save whose deflated scores took it over was fitted again, to a lower budget
        assert 1 <= entry["rate_control"]["fits"] <= 3 and entry["rate_control"]["budget"] <= target
        man = json.load(open(os.path.join(out, "point_cloud", f"iteration_{k}", "pc_npz", "manifest.json")))
        assert man["quantizer"] == "rd" and man["configuration"]["rd_quality"] == pytest.approx(entry["rd"]["quality"])


def test_closed_loop_with_target_size(target_run):
    out, metrics, _ = target_run
    for k in (5, 10):
        _render(["-m", out, "--iteration", str(k), "--skip_train", "--no_images", "--quiet"])
        entry = json.load(open(os.path.join(out, "results.json")))[f"ours_{k}"]
        assert abs(entry["test"]["PSNR"] - metrics[str(k)]["PSNR"]) < 0.01
        assert entry["size"]["bundle_bytes"] == metrics[str(k)]["size"]["bundle_bytes"]


def test_unreachable_target_is_one_clear_error(run, tiny_scene, tmp_path, capsys):
    out, _ = run
    ply = os.path.join(out, "point_cloud", "iteration_150", "point_cloud.ply")
    argv = ["-s", tiny_scene, "-m", str(tmp_path / "tiny_target"), "--per_block_quant", "--init_ply", ply,
            "--iterations", "0", "--target_size", "300B", "--no-setup_eval"] + COMMON
    code = run_cli(train_script.main, argv, "train.py")
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and "below the smallest file" in err[-1] and "--depth" in err[-1]


def test_result_does_not_depend_on_how_often_one_saves(run, tiny_scene, tmp_path):
    """Saving at 0, 5, 10, 15 and 20 or only at 0 and 20 gives the same final model."""
    from codec import load_npz

    out, _ = run
    ply = os.path.join(out, "point_cloud", "iteration_150", "point_cloud.ply")
    finals = []
    for name, extra in (("often", ["--test_iterations", "5", "10", "15"]), ("rarely", [])):
        folder = str(tmp_path / name)
        argv = ["-s", tiny_scene, "-m", folder, "--per_block_quant", "--init_ply", ply, "--iterations", "20"]
        assert train_script.main(argv + extra + COMMON) == 0
        finals.append(load_npz(os.path.join(folder, "point_cloud", "iteration_20", "pc_npz.bundle")))
    assert os.path.exists(os.path.join(str(tmp_path / "often"), "point_cloud", "iteration_10"))
    assert np.array_equal(finals[0].payload.ac_codes, finals[1].payload.ac_codes)
    assert torch.equal(finals[0].attributes, finals[1].attributes)
