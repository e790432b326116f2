"""--target_size lands on the --quality curve: at the bytes of a --quality Q file, the size target chooses
the structure (pruning, octree depth) at about the same quality, not at the coarser quality that the
unpruned model would need (which pruned far more and landed well below the curve). The PSNR of these small
subsamples moves by several dB between neighbouring qualities (one view of a few thousand Gaussians),
so the 0.3 dB criterion is measured on the full captures (scripts/bench_rd.py --image_free)."""
from __future__ import annotations

import json
import os
import zipfile

import numpy as np
import pytest

import compress
from scene.ply_io import write_gaussian_ply
from tests.compression_helpers import one_thread, teacher_arrays

_threads = pytest.fixture(scope="module", autouse=True)(one_thread)

CAPTURES = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "captures")
SMALL = ["--n_views", "8", "--n_heldout_views", "8", "--view_size", "48", "--iterations", "0", "--quiet"]


def _configuration(bundle) -> dict:
    with zipfile.ZipFile(bundle) as zf:
        return json.loads(zf.read("manifest.json"))["configuration"]


def _pair(arrays: dict, folder, quality: float):
    ply = folder / "in.ply"
    write_gaussian_ply(ply, arrays)
    by_quality = folder / "q.bundle"
    assert compress.main([str(ply), "-o", str(by_quality), "--quality", str(quality), *SMALL]) == 0
    target = by_quality.stat().st_size
    by_size = folder / "t.bundle"
    assert compress.main([str(ply), "-o", str(by_size), "--target_size", str(target), *SMALL]) == 0
    return _configuration(by_quality), target, _configuration(by_size), by_size.stat().st_size


def _check(q, target, t, size):
    assert 0.97 * target <= size <= target
    assert abs(t["rd_quality"] - q["rd_quality"]) <= 1.0, (t["rd_quality"], q["rd_quality"])
    assert abs(t["percent"] - q["percent"]) <= 0.02, (t["percent"], q["percent"])
    assert t["depth"] == q["depth"]


def test_target_size_lands_on_the_quality_curve_synthetic(tmp_path):
    arrays = teacher_arrays(1500, 1, seed=8)
    _check(*_pair(arrays, tmp_path, 36.0))


@pytest.mark.skipif(not os.path.isfile(os.path.join(CAPTURES, "massa.sog")), reason=f"{CAPTURES}/massa.sog is absent")
def test_target_size_lands_on_the_quality_curve_capture(tmp_path):
    from scene.splat_files import read_splat

    arrays = read_splat(os.path.join(CAPTURES, "massa.sog"))
    idx = np.sort(np.random.default_rng(0).choice(len(arrays["means"]), size=3000, replace=False))
    _check(*_pair({k: np.asarray(v)[idx] for k, v in arrays.items()}, tmp_path, 40.0))


def test_a_save_the_scores_take_over_the_target_is_fitted_again(tmp_path, monkeypatch):
    """The probes encode a placeholder for the held-out scores; when the real scores take the file over the
    target (here: an empty placeholder and a record padded by about a kilobyte), the save fits again to a
    lower budget and the file is still at most the target."""
    import compression.pipeline as pipeline

    real_record = pipeline.heldout_record
    pad = np.random.default_rng(0).integers(0, 16, 1200).tolist()  # about 1 KB more once deflated

    monkeypatch.setattr(pipeline, "placeholder_heldout", lambda n_views, views, split: {})
    monkeypatch.setattr(pipeline, "heldout_record", lambda *a, **k: {**real_record(*a, **k), "pad": pad})
    ply = tmp_path / "in.ply"
    write_gaussian_ply(ply, teacher_arrays(1500, 1, seed=8))
    out, work = tmp_path / "t.bundle", tmp_path / "work"
    assert compress.main([str(ply), "-o", str(out), "--target_size", "30000", "--work_dir", str(work), *SMALL]) == 0
    metrics = json.load(open(work / pipeline.METRICS_FILE))
    rate = metrics[max(metrics, key=int)]["rate_control"]
    assert rate["fits"] >= 2 and rate["budget"] < 30000 and out.stat().st_size <= 30000, rate
