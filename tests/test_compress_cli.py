"""compress.py end to end on a tiny splat: virtual views, the bundle, its manifest (held-out scores,
file names only, same bytes twice), decompress.py back to a PLY, and bad input (exit 2, nothing at -o)."""
from __future__ import annotations

import json
import os
import zipfile

import numpy as np
import pytest

import compress
from codec import load_npz
from scene.ply_io import read_gaussian_ply, write_gaussian_ply
from tests.compression_helpers import one_thread, teacher_arrays
from training.console import run_cli

_threads = pytest.fixture(scope="module", autouse=True)(one_thread)

TINY = ["--n_views", "3", "--n_heldout_views", "2", "--view_size", "24", "--iterations", "2", "--quiet",
        "--depth", "8", "--n_block", "4"]


@pytest.fixture(scope="module")
def splat(tmp_path_factory):
    folder = tmp_path_factory.mktemp("in")
    path = folder / "tiny.ply"
    write_gaussian_ply(path, teacher_arrays(200, 1, seed=4))
    return path


@pytest.fixture(scope="module")
def compressed(splat, tmp_path_factory):
    out = tmp_path_factory.mktemp("out") / "tiny.bundle"
    assert compress.main([str(splat), "-o", str(out), *TINY]) == 0
    return out


def _manifest(bundle) -> dict:
    with zipfile.ZipFile(bundle) as zf:
        return json.loads(zf.read("manifest.json"))


def test_writes_a_decodable_bundle_with_held_out_scores(compressed, capsys):
    decoded = load_npz(str(compressed))
    assert decoded.payload.n_gaussians > 100
    conf = _manifest(compressed)["configuration"]
    held = conf["heldout"]
    assert held["views"] == "virtual" and held["n_views"] == 2
    assert 10.0 < held["psnr"] < 999.9999 and 0.0 < held["ssim"] <= 1.0
    assert conf["views"]["layout"] == "auto" and conf["views"]["shape"] in ("forward", "orbit", "sphere")
    assert held["psnr_worst"] <= held["psnr"] and held["psnr_8bit"] is not None
    assert 0.99 <= conf["coverage"]["in_view"] <= 1.0 and 0.0 < conf["coverage"]["seen"] <= 1.0
    assert conf["sensitivity"] == "hutchinson" and conf["prune"] == "rd" and 0.0 <= conf["percent"] < 0.5


def test_manifest_has_file_names_only_and_bytes_repeat(splat, compressed, tmp_path):
    raw = compressed.read_bytes()
    assert str(splat.parent).encode() not in raw and str(compressed.parent).encode() not in raw
    assert _manifest(compressed)["configuration"]["input_ply"] == "tiny.ply"
    again = tmp_path / "again.bundle"
    assert compress.main([str(splat), "-o", str(again), *TINY]) == 0
    assert again.read_bytes() == raw


def test_summary_names_sizes_fidelity_and_stages(splat, tmp_path, capsys):
    out = tmp_path / "s.bundle"
    compress.main([str(splat), "-o", str(out), *TINY])
    text = capsys.readouterr().out
    assert f"-> {out}: {out.stat().st_size} B" in text
    assert "held-out layout-independent virtual views" in text and "PSNR" in text and "SSIM" in text
    assert "worst view" in text and "8-bit" in text and "inside a fitting view" in text
    assert "Gaussians: 200 in" in text
    for stage in ("views", "setup", "fine-tuning", "total"):
        assert stage in text


def test_decompress_restores_it_without_a_training_folder(compressed, tmp_path):
    import decompress

    out = tmp_path / "restored.ply"
    assert decompress.main([str(compressed), "-o", str(out)]) == 0
    arrays = read_gaussian_ply(out)
    decoded = load_npz(str(compressed))
    assert arrays["means"].shape[0] == decoded.payload.n_gaussians
    np.testing.assert_allclose(np.sort(arrays["means"][:, 0]), np.sort(decoded.means[:, 0].numpy()), atol=1e-6)


def _bad(path, tmp_path, capsys, *extra):
    out = tmp_path / "never.bundle"
    code = run_cli(compress.main, [str(path), "-o", str(out), *TINY, *extra], "compress.py")
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("compress.py")]
    assert code == 2 and not out.exists()
    assert len(err) == 1 and err[0].startswith("compress.py: error:")  # one line, no traceback
    assert not [p for p in os.listdir(tmp_path) if p.startswith("compress-")]  # no work folder left
    return err[0]


def test_bad_inputs_are_one_line_exit_2_and_nothing_written(tmp_path, capsys):
    empty = tmp_path / "empty.ply"
    empty.write_bytes(b"")
    _bad(empty, tmp_path, capsys)
    unknown = tmp_path / "x.bin"
    unknown.write_bytes(b"\x00\x01junk" * 10)
    _bad(unknown, tmp_path, capsys)
    _bad(tmp_path / "missing.ply", tmp_path, capsys)
    nan = tmp_path / "nan.ply"
    arrays = teacher_arrays(50, 0, seed=1)
    arrays["means"][3, 0] = np.nan
    write_gaussian_ply(nan, arrays)
    assert "NaN" in _bad(nan, tmp_path, capsys)
    not_gauss = tmp_path / "points.ply"
    not_gauss.write_bytes(b"ply\nformat binary_little_endian 1.0\nelement vertex 1\nproperty float x\nend_header\n"
                          + np.zeros(1, np.float32).tobytes())
    _bad(not_gauss, tmp_path, capsys)


def test_bad_flags(splat, tmp_path, capsys):
    assert "views" in _bad(splat, tmp_path, capsys, "--views", "cube")
    assert "folder" in _bad(splat, tmp_path, capsys, "-s", str(tmp_path / "no_scene"))


def test_output_is_not_replaced_on_failure(tmp_path, capsys):
    out = tmp_path / "keep.bundle"
    out.write_bytes(b"good")
    bad = tmp_path / "bad.ply"
    bad.write_bytes(b"ply\n")
    code = run_cli(compress.main, [str(bad), "-o", str(out), *TINY], "compress.py")
    assert code == 2 and out.read_bytes() == b"good"
