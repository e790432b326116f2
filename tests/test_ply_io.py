"""INRIA 3DGS PLY: exact layout, bit-exact round trips, gsplat export, error handling."""
from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

from scene.ply_io import (GAUSSIAN_KEYS, property_names, read_gaussian_ply, sh_degree_from_rest,
                          write_gaussian_ply)


def random_arrays(n: int, degree: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    k1 = (degree + 1) ** 2 - 1
    # wide dynamic range, including subnormal-ish and huge magnitudes, to catch any conversion
    scale = np.exp(rng.uniform(-30, 30, size=(n, 1))).astype(np.float32)
    return {
        "means": (rng.normal(size=(n, 3)) * scale).astype(np.float32),
        "quats": rng.normal(size=(n, 4)).astype(np.float32),
        "scales": rng.normal(-4, 1, size=(n, 3)).astype(np.float32),
        "opacities": rng.normal(0, 3, size=n).astype(np.float32),
        "sh0": rng.normal(size=(n, 1, 3)).astype(np.float32),
        "shN": rng.normal(0, 0.2, size=(n, k1, 3)).astype(np.float32),
    }


def _bits(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a).view(np.uint32)


@pytest.mark.parametrize("degree", [0, 1, 2, 3])
def test_round_trip_is_bit_exact(tmp_path, degree):
    arrays = random_arrays(257, degree, seed=degree)
    path = tmp_path / f"deg{degree}.ply"
    write_gaussian_ply(path, arrays)
    back = read_gaussian_ply(path)
    assert set(back) == set(GAUSSIAN_KEYS)
    for key in GAUSSIAN_KEYS:
        assert back[key].dtype == np.float32 and back[key].shape == arrays[key].shape, key
        assert np.array_equal(_bits(back[key]), _bits(arrays[key])), key
    # writing what was read gives the same bytes
    again = tmp_path / "again.ply"
    write_gaussian_ply(again, back)
    assert again.read_bytes() == path.read_bytes()


@pytest.mark.parametrize("degree", [0, 3])
def test_file_layout_is_inria(tmp_path, degree):
    from plyfile import PlyData

    n = 11
    arrays = random_arrays(n, degree, seed=7)
    path = tmp_path / "g.ply"
    write_gaussian_ply(path, arrays)
    raw = path.read_bytes()
    header_end = raw.index(b"end_header\n") + len(b"end_header\n")
    header = raw[:header_end].decode("ascii").splitlines()
    names = property_names(degree)
    assert header == (["ply", "format binary_little_endian 1.0", f"element vertex {n}"]
                      + [f"property float {p}" for p in names] + ["end_header"])
    assert len(raw) - header_end == n * 4 * len(names)
    n_rest = 3 * ((degree + 1) ** 2 - 1)
    assert len(names) == 17 + n_rest  # x y z, nx ny nz, f_dc ×3, f_rest, opacity, scale ×3, rot ×4
    # decode the payload independently: little-endian float32 rows in property order
    table = np.frombuffer(raw[header_end:], dtype="<f4").reshape(n, len(names))
    col = {name: table[:, i] for i, name in enumerate(names)}
    assert np.array_equal(col["nx"], np.zeros(n)) and np.array_equal(col["nz"], np.zeros(n))
    assert np.array_equal(col["opacity"], arrays["opacities"])
    assert np.array_equal(col["rot_0"], arrays["quats"][:, 0])
    assert np.array_equal(col["scale_2"], arrays["scales"][:, 2])
    k1 = n_rest // 3
    for j in range(n_rest):  # channel-major f_rest
        assert np.array_equal(col[f"f_rest_{j}"], arrays["shN"][:, j % k1, j // k1]), j
    # plyfile (an independent reader) agrees
    vertex = PlyData.read(str(path))["vertex"]
    assert np.array_equal(vertex["f_dc_1"], arrays["sh0"][:, 0, 1])


def test_sh_degree_from_rest():
    assert [sh_degree_from_rest(n) for n in (0, 9, 24, 45)] == [0, 1, 2, 3]
    for bad in (3, 10, 48):
        with pytest.raises(ValueError, match="SH degree"):
            sh_degree_from_rest(bad)


@pytest.mark.parametrize("degree", [0, 3])
def test_gsplat_export_splats_loads_back(tmp_path, degree):
    from gsplat import export_splats

    arrays = random_arrays(100, degree, seed=3)
    arrays["means"] = np.random.default_rng(0).normal(size=(100, 3)).astype(np.float32)
    t = {k: torch.from_numpy(v) for k, v in arrays.items()}
    path = tmp_path / "gsplat.ply"
    export_splats(t["means"], t["scales"], t["quats"], t["opacities"], t["sh0"], t["shN"],
                  format="ply", save_to=str(path))
    assert b"property float nx" not in path.read_bytes()[:2000]  # gsplat writes no normals
    back = read_gaussian_ply(path)
    for key in GAUSSIAN_KEYS:
        assert np.array_equal(_bits(back[key]), _bits(arrays[key])), key


def test_gsplat_export_and_ours_render_the_same(tmp_path):
    """A gsplat-exported PLY and our PLY of the same splats load to models that render alike."""
    from gsplat import export_splats

    from scene.gaussian_model import GaussianModel
    from scene_fixtures import small_camera
    from training.rendering import render_gaussians

    arrays = random_arrays(60, 1, seed=5)
    rng = np.random.default_rng(1)
    arrays["means"] = rng.uniform(-0.5, 0.5, size=(60, 3)).astype(np.float32)
    arrays["scales"] = np.log(rng.uniform(0.05, 0.15, size=(60, 3))).astype(np.float32)
    t = {k: torch.from_numpy(v) for k, v in arrays.items()}
    export_splats(t["means"], t["scales"], t["quats"], t["opacities"], t["sh0"], t["shN"],
                  format="ply", save_to=str(tmp_path / "a.ply"))
    write_gaussian_ply(tmp_path / "b.ply", arrays)
    cam = small_camera()
    out_a = render_gaussians(GaussianModel.from_ply(tmp_path / "a.ply"), cam, None, backend="torch")
    out_b = render_gaussians(GaussianModel.from_ply(tmp_path / "b.ply"), cam, None, backend="torch")
    assert out_a["alpha"].max() > 0.1  # the splats are in view
    assert torch.equal(out_a["image"], out_b["image"])


def test_non_finite_rows(tmp_path, caplog):
    arrays = random_arrays(20, 2)
    arrays["means"][3, 1] = np.nan
    arrays["shN"][7, 4, 2] = np.inf
    arrays["opacities"][11] = np.nan
    arrays["scales"][13, 0] = -np.inf  # inf is clamped only in the opacity
    arrays["opacities"][15] = np.inf  # clamped, not dropped
    path = tmp_path / "bad.ply"
    with caplog.at_level(logging.WARNING, logger="scene.ply_io"):
        write_gaussian_ply(path, arrays)
    assert any("5 Gaussians with NaN/Inf" in r.getMessage() for r in caplog.records)
    with pytest.raises(ValueError, match="4 of 20 Gaussians have NaN/Inf") as err:
        read_gaussian_ply(path)
    assert str(path) in str(err.value) and "sanitize" in str(err.value)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="scene.ply_io"):
        back = read_gaussian_ply(path, sanitize=True)
    assert any("dropped 4 of 20" in r.getMessage() for r in caplog.records)
    keep = np.setdiff1d(np.arange(20), [3, 7, 11, 13])
    expected = dict(arrays, opacities=np.where(np.isinf(arrays["opacities"]), 20.0,
                                               arrays["opacities"]).astype(np.float32))
    for key in GAUSSIAN_KEYS:
        assert np.array_equal(back[key], expected[key][keep]), key


def test_infinite_opacities_are_clamped(tmp_path, caplog):
    """logit(1) = +inf / logit(0) = -inf from 8-bit opacity decoders: clamped to ±20, counted."""
    arrays = random_arrays(30, 1, seed=4)
    arrays["opacities"][[2, 5, 9]] = np.inf
    arrays["opacities"][17] = -np.inf
    path = tmp_path / "opaque.ply"
    write_gaussian_ply(path, arrays)
    with caplog.at_level(logging.WARNING, logger="scene.ply_io"):
        back = read_gaussian_ply(path)
    messages = [r.getMessage() for r in caplog.records if "infinite logit opacity" in r.getMessage()]
    assert len(messages) == 1 and "4 of 30" in messages[0] and "3 +inf" in messages[0] \
        and "1 -inf" in messages[0] and str(path) in messages[0]
    assert back["opacities"][[2, 5, 9]].tolist() == [20.0, 20.0, 20.0]
    assert back["opacities"][17] == -20.0
    others = np.setdiff1d(np.arange(30), [2, 5, 9, 17])
    assert np.array_equal(back["opacities"][others], arrays["opacities"][others])
    for key in ("means", "quats", "scales", "sh0", "shN"):
        assert np.array_equal(back[key], arrays[key]), key
    assert torch.sigmoid(torch.tensor(back["opacities"][2])) == 1.0  # fully opaque as before
    # through the model as train.py loads --init_ply: every Gaussian kept, all finite
    from scene.gaussian_model import GaussianModel

    model = GaussianModel.from_ply(path)
    assert model.num_gaussians == 30 and torch.isfinite(model.params["opacities"]).all()
    # NaN opacity stays an error
    arrays["opacities"][3] = np.nan
    write_gaussian_ply(path, arrays)
    with pytest.raises(ValueError, match="1 of 30 Gaussians have NaN/Inf"):
        read_gaussian_ply(path)


def test_all_rows_bad(tmp_path):
    arrays = random_arrays(4, 0)
    arrays["opacities"][:] = np.nan
    write_gaussian_ply(tmp_path / "nan.ply", arrays)
    with pytest.raises(ValueError, match="all 4 Gaussians"):
        read_gaussian_ply(tmp_path / "nan.ply", sanitize=True)


def _write_custom_ply(path, fields: list[str], n: int) -> None:
    from plyfile import PlyData, PlyElement

    data = np.zeros(n, dtype=[(f, "f4") for f in fields])
    PlyData([PlyElement.describe(data, "vertex")]).write(str(path))


def test_wrong_property_sets(tmp_path):
    good = property_names(1)
    cases = {
        "missing": [p for p in good if p != "rot_3"],
        "extra": good + ["filter_3D"],
        "rest10": property_names(0) + [f"f_rest_{i}" for i in range(10)],
    }
    for name, fields in cases.items():
        path = tmp_path / f"{name}.ply"
        _write_custom_ply(path, fields, 3)
        with pytest.raises(ValueError) as err:
            read_gaussian_ply(path)
        assert str(path) in str(err.value)
    assert "rot_3" in str(pytest.raises(ValueError, read_gaussian_ply, tmp_path / "missing.ply").value)
    assert "filter_3D" in str(pytest.raises(ValueError, read_gaussian_ply, tmp_path / "extra.ply").value)
    assert "SH degree" in str(pytest.raises(ValueError, read_gaussian_ply, tmp_path / "rest10.ply").value)
    # properties in another order (and float64) are fine
    shuffled = list(reversed(good))
    _write_custom_ply(tmp_path / "reordered.ply", shuffled, 2)
    assert read_gaussian_ply(tmp_path / "reordered.ply")["shN"].shape == (2, 3, 3)


def test_zero_vertices_and_garbage(tmp_path):
    _write_custom_ply(tmp_path / "empty.ply", property_names(3), 0)
    with pytest.raises(ValueError, match="zero vertices"):
        read_gaussian_ply(tmp_path / "empty.ply")
    (tmp_path / "junk.ply").write_bytes(b"this is not a ply file\n")
    with pytest.raises(ValueError, match="not a readable PLY") as err:
        read_gaussian_ply(tmp_path / "junk.ply")
    assert "junk.ply" in str(err.value)
    with pytest.raises(FileNotFoundError):
        read_gaussian_ply(tmp_path / "missing.ply")


def test_truncated_file(tmp_path):
    path = tmp_path / "g.ply"
    write_gaussian_ply(path, random_arrays(10, 1))
    path.write_bytes(path.read_bytes()[:-30])
    with pytest.raises(ValueError, match="g.ply"):
        read_gaussian_ply(path)


def test_write_is_atomic_and_validates(tmp_path):
    path = tmp_path / "g.ply"
    arrays = random_arrays(5, 1)
    write_gaussian_ply(path, arrays)
    before = path.read_bytes()
    bad = dict(arrays, quats=arrays["quats"][:, :3])
    with pytest.raises(ValueError, match="quats"):
        write_gaussian_ply(path, bad)
    with pytest.raises(ValueError, match="shN"):
        write_gaussian_ply(path, dict(arrays, shN=np.zeros((5, 2, 3), np.float32)))
    assert path.read_bytes() == before  # a failed write leaves the old file
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.ply"]  # no temp files left
    # torch tensors are accepted as well
    write_gaussian_ply(path, {k: torch.from_numpy(v) for k, v in arrays.items()})
    assert path.read_bytes() == before


def test_header_check_without_reading_the_data(tmp_path):
    from plyfile import PlyData

    from scene.ply_io import check_gaussian_ply

    path = tmp_path / "g.ply"
    write_gaussian_ply(path, random_arrays(40, 2))
    info = check_gaussian_ply(path)
    assert (info.layout, info.n_gaussians, info.sh_degree) == ("inria", 40, 2)
    text = tmp_path / "ascii.ply"  # ASCII files pass too (no size check possible)
    PlyData(PlyData.read(str(path)).elements, text=True).write(str(text))
    assert check_gaussian_ply(text).n_gaussians == 40
    raw = path.read_bytes()
    (tmp_path / "short.ply").write_bytes(raw[:-1])
    with pytest.raises(ValueError, match="truncated PLY") as err:
        check_gaussian_ply(tmp_path / "short.ply")
    assert "short.ply" in str(err.value)
    (tmp_path / "cut.ply").write_bytes(raw[:30])  # inside the header
    with pytest.raises(ValueError, match="end_header"):
        check_gaussian_ply(tmp_path / "cut.ply")
    (tmp_path / "typo.ply").write_bytes(raw.replace(b"property float opacity", b"property flaot opacity"))
    with pytest.raises(ValueError, match="flaot") as err:
        check_gaussian_ply(tmp_path / "typo.ply")
    assert "line" in str(err.value)
    (tmp_path / "png.ply").write_bytes(b"\x89PNG\r\n\x1a\n" + raw)
    with pytest.raises(ValueError, match="not a PLY file"):
        check_gaussian_ply(tmp_path / "png.ply")
    with pytest.raises(FileNotFoundError, match="nope.ply"):
        check_gaussian_ply(tmp_path / "nope.ply")
    # the same layout errors as the full reader
    _write_custom_ply(tmp_path / "missing.ply", [p for p in property_names(1) if p != "rot_3"], 3)
    with pytest.raises(ValueError, match="rot_3"):
        check_gaussian_ply(tmp_path / "missing.ply")
    _write_custom_ply(tmp_path / "empty.ply", property_names(0), 0)
    with pytest.raises(ValueError, match="zero vertices"):
        check_gaussian_ply(tmp_path / "empty.ply")


@pytest.mark.parametrize("byte_order", ["<", ">"])
def test_block_reader_equals_plyfile(tmp_path, monkeypatch, byte_order):
    """A binary INRIA PLY is read in blocks of rows (not through plyfile's memory map): the same arrays,
    bit for bit, across block edges, in either byte order, with normals, float64 and an element after it."""
    from plyfile import PlyData, PlyElement

    import scene.ply_io as ply_io

    arrays = random_arrays(23, 3, seed=5)
    path = tmp_path / "g.ply"
    write_gaussian_ply(path, arrays)
    data = PlyData.read(str(path))["vertex"].data
    fields = [(name, byte_order + ("f8" if name == "opacity" else "f4")) for name in data.dtype.names]
    other = np.zeros(data.shape, dtype=fields)
    for name in data.dtype.names:
        other[name] = data[name]
    extra = np.zeros(2, dtype=[("a", "u1")])
    order = "<" if byte_order == "<" else ">"
    mixed = tmp_path / "mixed.ply"
    PlyData([PlyElement.describe(other, "vertex"), PlyElement.describe(extra, "extra")], byte_order=order).write(str(mixed))
    assert ply_io._direct_inria_rows(mixed) is not None
    monkeypatch.setattr(ply_io, "READ_BLOCK_ROWS", 7)
    blocks = read_gaussian_ply(mixed)
    monkeypatch.setattr(ply_io, "_direct_inria_rows", lambda p: None)
    whole = read_gaussian_ply(mixed)
    for key in GAUSSIAN_KEYS:
        assert blocks[key].flags.c_contiguous and blocks[key].dtype == np.float32, key
        assert np.array_equal(_bits(blocks[key]), _bits(whole[key])), key
        assert np.array_equal(_bits(blocks[key]), _bits(arrays[key])), key


def test_block_reader_truncated(tmp_path, monkeypatch):
    import scene.ply_io as ply_io

    path = tmp_path / "g.ply"
    write_gaussian_ply(path, random_arrays(10, 1))
    path.write_bytes(path.read_bytes()[:-30])
    monkeypatch.setattr(ply_io, "READ_BLOCK_ROWS", 4)
    with pytest.raises(ValueError, match="truncated PLY.*declares 10 vertices, the file holds 9"):
        read_gaussian_ply(path)
