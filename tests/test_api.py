"""The Python API (compression/api.py): compress Gaussians or a splat file to bundle bytes and back."""
from __future__ import annotations

import os

import numpy as np
import pytest

from codec import CompressedFormatError
from compression.api import SPLAT_KEYS, compress, decompress, info
from scene.ply_io import write_gaussian_ply
from tests.compression_helpers import one_thread, teacher_arrays

_threads = pytest.fixture(scope="module", autouse=True)(one_thread)

SMALL = dict(n_views=6, n_heldout_views=4, view_size=48, iterations=0)
CAPTURE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "..", "shared", "data", "captures",
                       "massa.sog")


def _check_round_trip(splats: dict, data: bytes) -> dict:
    out = decompress(data)
    assert sorted(out) == sorted(SPLAT_KEYS)
    n = out["means"].shape[0]
    assert 1 <= n <= splats["means"].shape[0]
    assert out["quats"].shape == (n, 4) and out["scales"].shape == (n, 3) and out["opacities"].shape == (n,)
    assert out["sh0"].shape == (n, 1, 3) and out["shN"].shape == (n,) + splats["shN"].shape[1:]
    assert all(v.dtype == np.float32 and np.isfinite(v).all() for v in out.values())
    # every decoded Gaussian sits near an input one (voxel centres of the content, turned back to world axes)
    from scipy.spatial import cKDTree

    extent = float(np.ptp(splats["means"], axis=0).max())
    dist, _ = cKDTree(splats["means"]).query(out["means"])
    assert float(np.median(dist)) < 0.01 * extent and float(dist.max()) < 0.1 * extent
    return out


def test_compress_arrays_round_trip(tmp_path):
    splats = teacher_arrays(400, 1, seed=2)
    data = compress(splats, quality=58, **SMALL)
    assert isinstance(data, bytes) and data[:2] == b"PK"
    out = _check_round_trip(splats, data)
    meta = info(data)
    assert meta["format_version"] == 6 and meta["n_gaussians"] == out["means"].shape[0]
    assert meta["heldout"]["n_views"] == 4 and meta["total_bytes"] == len(data)
    # a file path gives the same bytes as the arrays it holds
    ply = tmp_path / "in.ply"
    write_gaussian_ply(ply, splats)
    again = compress(str(ply), quality=58, **SMALL)
    assert len(again) == pytest.approx(len(data), rel=0.01)


def test_api_errors_are_clear():
    with pytest.raises(TypeError, match="unknown setting"):
        compress(teacher_arrays(10, 0, seed=1), qualty=40)
    with pytest.raises(ValueError, match="lack"):
        compress({"means": np.zeros((3, 3), np.float32)})
    with pytest.raises(CompressedFormatError):
        decompress(b"not a bundle" * 20)
    nan = teacher_arrays(10, 0, seed=1)
    nan["scales"][3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN or inf"):
        compress(nan)


@pytest.mark.skipif(not os.path.isfile(CAPTURE), reason="no ../shared/data/captures/massa.sog beside the repository")
def test_a_capture_round_trips():
    from scene.splat_files import read_splat

    arrays = read_splat(CAPTURE)
    keep = np.random.default_rng(0).choice(arrays["means"].shape[0], 3000, replace=False)
    splats = {k: arrays[k][keep] for k in SPLAT_KEYS}
    data = compress(splats, **SMALL)
    _check_round_trip(splats, data)
    assert info(data)["heldout"]["psnr"] > 35.0
