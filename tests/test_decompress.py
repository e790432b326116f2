"""decompress.py (bundle → splat file, --info), codec/report.py and render.py's export without -m."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest

from codec import load_npz, save_npz
from codec.report import describe_compressed
from scene.ply_io import export_ply
from scene.ply_io import read_gaussian_ply
from tests.compression_helpers import synthetic_quantized
from training.console import USER_ERROR_EXIT, run_cli

import decompress

CONFIG = {"rd_quality": 40.0, "target_size": "650KB", "iteration": 100,
          "heldout": {"psnr": 31.5, "ssim": 0.9123, "n_views": 8, "views": "virtual"}}


@pytest.fixture(scope="module", params=["range", "deflate"])
def saved(tmp_path_factory, request):
    model = synthetic_quantized(n=300, sh_degree=3, n_block=7)
    d = tmp_path_factory.mktemp("bundle") / "pc_npz"
    report = save_npz(model.encode(dict(CONFIG), input_ply_bytes=123456, codec=request.param), str(d))
    return report


def run(argv):
    return run_cli(decompress.main, argv, "decompress.py")


def test_round_trip_equals_load_npz_and_export(saved, tmp_path):
    out = tmp_path / "out" / "model.ply"
    assert run([saved.bundle_path, "-o", str(out)]) == 0
    ref = tmp_path / "ref.ply"
    export_ply(load_npz(saved.bundle_path), str(ref))
    assert out.read_bytes() == ref.read_bytes()
    got = read_gaussian_ply(out)
    assert got["means"].shape == (saved.n_gaussians, 3) and got["shN"].shape == (saved.n_gaussians, 15, 3)


def test_directory_input_decodes_like_the_bundle(saved, tmp_path):
    assert run([saved.pc_dir, "-o", str(tmp_path / "a.ply")]) == 0
    assert run([saved.bundle_path, "-o", str(tmp_path / "b.ply")]) == 0
    assert (tmp_path / "a.ply").read_bytes() == (tmp_path / "b.ply").read_bytes()


def test_splat_output_without_node(saved, tmp_path):
    from scene.splat_files import read_splat

    out = tmp_path / "m.splat"
    assert run([saved.bundle_path, "-o", str(out)]) == 0
    back = read_splat(out)
    ref = load_npz(saved.bundle_path).arrays()
    assert back["means"].shape[0] == saved.n_gaussians
    np.testing.assert_array_equal(back["means"], ref["means"])


def test_spz_output_through_splat_transform(saved, tmp_path):
    from scene.splat_transform_tool import ToolUnavailable, splat_transform_path
    from scene.splat_files import read_splat

    try:
        splat_transform_path(install=False)
    except ToolUnavailable as exc:
        pytest.skip(f"splat-transform not installed ({exc})")
    out = tmp_path / "m.spz"
    assert run([saved.bundle_path, "-o", str(out), "--spz_version", "3"]) == 0
    back = read_splat(out)
    ref = load_npz(saved.bundle_path).arrays()
    assert back["shN"].shape == ref["shN"].shape
    assert np.abs(back["means"] - ref["means"]).max() <= 2.0 ** -13 + 1e-6


def test_info_prints_every_field(saved, capsys):
    assert run([saved.bundle_path, "--info"]) == 0
    out = capsys.readouterr().out
    version = 6 if "channel_transform" in saved.component_bytes else 2 if "ac_tables" in saved.component_bytes else 1
    for text in (f"version {version}", f"{saved.n_gaussians}", "SH degree 3", "quantizer     vanilla",
                 "quality 40.00", "target size 650KB", "PSNR 31.50 dB", "SSIM 0.9123", "8 virtual views",
                 "geometry", "quantization table", "DC coefficients", "AC opacity", "AC rotation", "AC colour",
                 "AC SH bands", "AC scale", "bits/Gaussian", "total"):
        assert text in out, (text, out)
    assert f"{saved.bundle_bytes:,}".replace(",", " ") in out


def test_info_components_equal_the_encoders_report(saved):
    for path in (saved.bundle_path, saved.pc_dir):
        summary = describe_compressed(path)
        for name, nbytes in saved.component_bytes.items():
            assert summary.component_bytes[name] == nbytes, name
        assert sum(summary.component_bytes.values()) == summary.total_bytes
    assert describe_compressed(saved.bundle_path).total_bytes == saved.bundle_bytes
    assert describe_compressed(saved.pc_dir).total_bytes == saved.dir_bytes


def test_info_json_and_not_recorded(tmp_path, capsys):
    model = synthetic_quantized(n=200, sh_degree=0, n_block=3)
    report = save_npz(model.encode({"iteration": 0}, codec="range"), str(tmp_path / "pc_npz"))
    assert run([report.bundle_path, "--info"]) == 0
    out = capsys.readouterr().out
    assert "PSNR/SSIM not recorded" in out and "rate          not recorded" in out
    assert "AC SH bands" not in out  # SH degree 0 has no f_rest group
    assert run([report.bundle_path, "--info", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["n_gaussians"] == report.n_gaussians and info["heldout"] is None
    assert info["total_bytes"] == report.bundle_bytes
    assert sum(c["bytes"] for c in info["components"].values()) == report.bundle_bytes


def _assert_user_error(argv, out, capsys, match):
    assert run(argv) == USER_ERROR_EXIT
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) >= 1 and err[-1].startswith("decompress.py: error:") and match in err[-1], err
    assert not os.path.exists(out)


def test_bad_inputs_write_nothing(saved, tmp_path, capsys):
    out = str(tmp_path / "out.ply")
    _assert_user_error([str(tmp_path / "absent.bundle"), "-o", out], out, capsys, "does not exist")
    junk = tmp_path / "junk.bundle"
    junk.write_bytes(b"\x00junk, not a zip " * 100)
    _assert_user_error([str(junk), "-o", out], out, capsys, "not a compressed bundle")
    data = open(saved.bundle_path, "rb").read()
    for keep in (0.3, 0.9):
        cut = tmp_path / f"cut{keep}.bundle"
        cut.write_bytes(data[: int(len(data) * keep)])
        _assert_user_error([str(cut), "-o", out], out, capsys, str(cut))
        _assert_user_error([str(cut), "--info"], out, capsys, str(cut))
    _assert_user_error([saved.bundle_path, "-o", str(tmp_path / "out.xyz")], str(tmp_path / "out.xyz"), capsys,
                       "unknown output format")
    _assert_user_error([saved.bundle_path], out, capsys, "nothing to do")
    assert os.listdir(tmp_path) == [p for p in os.listdir(tmp_path) if p.endswith(".bundle")]


def test_failure_keeps_an_existing_output(saved, tmp_path, capsys):
    out = tmp_path / "out.ply"
    out.write_bytes(b"previous")
    cut = tmp_path / "cut.bundle"
    cut.write_bytes(open(saved.bundle_path, "rb").read()[:-100])
    assert run([str(cut), "-o", str(out)]) == USER_ERROR_EXIT
    assert out.read_bytes() == b"previous"


def test_no_node_is_one_clear_error_before_decoding(saved, tmp_path, capsys, monkeypatch):
    from scene import splat_transform_tool

    monkeypatch.setattr(splat_transform_tool.shutil, "which", lambda name: None)
    monkeypatch.setattr("codec.load_npz", lambda *a, **k: pytest.fail("decoded before checking the tool"))
    out = str(tmp_path / "m.sog")
    _assert_user_error([saved.bundle_path, "-o", out], out, capsys, "Node.js")


def test_render_export_without_model_path(saved, tmp_path, capsys):
    import render

    out = tmp_path / "r.ply"
    assert render.main(["--npz", saved.bundle_path, "--export_ply", str(out)]) == 0
    ref = tmp_path / "ref.ply"
    export_ply(load_npz(saved.bundle_path), str(ref))
    assert out.read_bytes() == ref.read_bytes()
    assert run_cli(render.main, ["--npz", saved.bundle_path], "render.py") == USER_ERROR_EXIT
    assert "-m/--model_path is required to render views" in capsys.readouterr().err
