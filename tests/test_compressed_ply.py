"""SuperSplat / PlayCanvas compressed PLY as input: hand-packed codes, round trips within the
quantisation step, the dispatch of the PLY reader, the header check and clear errors."""
from __future__ import annotations

import logging
import math

import numpy as np
import pytest
import torch

from compressed_ply_encoder import C0, encode, write_compressed_ply
from scene.ply_io import GAUSSIAN_KEYS, check_gaussian_ply, read_gaussian_ply

SQRT2 = math.sqrt(2.0)


def random_arrays(n: int, degree: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    k1 = (degree + 1) ** 2 - 1
    return {
        "means": rng.normal(0, 3, size=(n, 3)).astype(np.float32),
        "quats": rng.normal(size=(n, 4)).astype(np.float32),
        "scales": rng.normal(-4, 1, size=(n, 3)).astype(np.float32),
        "opacities": rng.normal(0, 2, size=n).astype(np.float32),
        "sh0": rng.uniform(-1.7, 1.7, size=(n, 1, 3)).astype(np.float32),  # colours in [0.02, 0.98]
        "shN": rng.uniform(-3.9, 3.9, size=(n, k1, 3)).astype(np.float32),
    }


def _one_chunk(names_values: dict) -> np.ndarray:
    chunk = np.zeros(1, dtype=[(k, "<f4") for k in names_values])
    chunk[0] = tuple(names_values.values())
    return chunk


CHUNK = {"min_x": -1, "min_y": 0, "min_z": 10, "max_x": 1, "max_y": 2, "max_z": 12,
         "min_scale_x": -5, "min_scale_y": -4, "min_scale_z": -3,
         "max_scale_x": -1, "max_scale_y": 0, "max_scale_z": 1,
         "min_r": 0.0, "min_g": 0.2, "min_b": 0.4, "max_r": 1.0, "max_g": 0.6, "max_b": 0.8}


def test_hand_packed_codes_decode_to_the_documented_values(tmp_path, caplog):
    """Codes packed by hand from the format description, values worked out from its formulas."""
    vertex = np.zeros(3, dtype=[(k, "<u4") for k in
                                ("packed_position", "packed_rotation", "packed_scale", "packed_color")])
    vertex[0] = ((2047 << 21) | (0 << 11) | 1023,           # x = max, y = min, z = 1023/2047
                 (1 << 30) | (800 << 20) | (300 << 10) | 511,  # largest is rot_1
                 (0 << 21) | (1023 << 11) | 2047,           # scale: min, max, max
                 (255 << 24) | (0 << 16) | (51 << 8) | 255)   # r = max, g = min, b = 0.2, alpha = 1
    vertex[1] = (0, (3 << 30) | (511 << 20) | (511 << 10) | 511, 0, 128)  # alpha = 128/255
    vertex[2] = (0, 0, 0, 0)  # alpha = 0
    sh = np.zeros(3, dtype=[(f"f_rest_{i}", "u1") for i in range(9)])
    sh["f_rest_0"] = [0, 255, 128]
    sh["f_rest_1"] = [255, 1, 254]
    sh["f_rest_3"] = [128, 0, 0]
    path = tmp_path / "hand.compressed.ply"
    write_compressed_ply(path, elements={"chunk": _one_chunk(CHUNK), "vertex": vertex, "sh": sh})
    with caplog.at_level(logging.WARNING, logger="scene.ply_io"):
        g = read_gaussian_ply(path)
    assert set(g) == set(GAUSSIAN_KEYS) and g["shN"].shape == (3, 3, 3)
    np.testing.assert_allclose(g["means"][0], [1.0, 0.0, 10.0 + 2.0 * 1023 / 2047], rtol=0, atol=1e-6)
    np.testing.assert_allclose(g["means"][1], [-1.0, 0.0, 10.0], atol=1e-6)
    np.testing.assert_allclose(g["scales"][0], [-5.0, 0.0, 1.0], atol=1e-6)
    a, b, c = ((800 / 1023 - 0.5) * SQRT2, (300 / 1023 - 0.5) * SQRT2, (511 / 1023 - 0.5) * SQRT2)
    np.testing.assert_allclose(g["quats"][0], [a, math.sqrt(1 - a * a - b * b - c * c), b, c], atol=1e-6)
    s = (511 / 1023 - 0.5) * SQRT2
    np.testing.assert_allclose(g["quats"][1], [s, s, s, math.sqrt(1 - 3 * s * s)], atol=1e-6)
    np.testing.assert_allclose(g["sh0"][0, 0], [(1.0 - 0.5) / C0, (0.2 - 0.5) / C0, (0.48 - 0.5) / C0],
                               atol=1e-5)
    # alpha 1 -> logit +inf -> clamped to 20; alpha 0 -> -inf -> -20; 128/255 -> its logit
    assert g["opacities"][0] == 20.0 and g["opacities"][2] == -20.0
    assert g["opacities"][1] == pytest.approx(-math.log(255 / 128 - 1), abs=1e-6)
    assert any("2 of 3 Gaussians have an infinite logit opacity" in r.getMessage() for r in caplog.records)
    # SH: 0 -> -4, 255 -> +4, v -> ((v + 0.5)/256 - 0.5)·8; f_rest_j = shN[:, j mod 3, j div 3]
    np.testing.assert_allclose(g["shN"][:, 0, 0], [-4.0, 4.0, (128.5 / 256 - 0.5) * 8], atol=1e-6)
    np.testing.assert_allclose(g["shN"][:, 1, 0], [4.0, (1.5 / 256 - 0.5) * 8, (254.5 / 256 - 0.5) * 8],
                               atol=1e-6)
    np.testing.assert_allclose(g["shN"][:, 0, 1], [(128.5 / 256 - 0.5) * 8, -4.0, -4.0], atol=1e-6)
    info = check_gaussian_ply(path)
    assert (info.layout, info.n_gaussians, info.sh_degree) == ("compressed", 3, 1)


def _assert_within_quantisation(orig: dict, back: dict, enc: dict, chunk_colors: bool) -> None:
    r = enc["ranges"]
    for key, bits in (("means", (11, 10, 11)), ("scales", (11, 10, 11))):
        step = (r[key][:, 1] - r[key][:, 0]) / (np.array([2.0 ** b - 1 for b in bits]))
        err = np.abs(back[key].astype(np.float64) - orig[key])
        assert (err <= step / 2 * 1.001 + 2e-6 * (1 + np.abs(orig[key]))).all(), key
        assert err.max() > 0  # really quantised
    colour_step = (r["colors"][:, 1] - r["colors"][:, 0]) / 255.0
    err = np.abs(back["sh0"][:, 0].astype(np.float64) - orig["sh0"][:, 0])
    assert (err <= colour_step / 2 / C0 * 1.001 + 1e-5).all()
    sig = lambda x: 1.0 / (1.0 + np.exp(-np.asarray(x, np.float64)))  # noqa: E731
    assert np.abs(sig(back["opacities"]) - sig(orig["opacities"])).max() <= 0.5 / 255 + 1e-6
    q = orig["quats"] / np.linalg.norm(orig["quats"], axis=1, keepdims=True)
    qb = back["quats"].astype(np.float64)
    assert np.allclose(np.linalg.norm(qb, axis=1), 1.0, atol=1e-6)
    sign = np.sign((q * qb).sum(axis=1, keepdims=True))
    # small components: half a 10-bit step of [-1/√2, 1/√2]; the largest follows from them
    assert np.abs(sign * qb - q).max() <= 2.2e-3
    if orig["shN"].shape[1]:
        assert np.abs(back["shN"].astype(np.float64) - orig["shN"]).max() <= 1 / 64 + 1e-6


@pytest.mark.parametrize("degree,chunk_colors", [(3, True), (1, True), (0, True), (2, False)])
def test_round_trip_within_the_quantisation_step(tmp_path, degree, chunk_colors):
    orig = random_arrays(600, degree, seed=degree)  # 3 chunks, the last one partial
    path = tmp_path / "scene.compressed.ply"
    enc = write_compressed_ply(path, orig, chunk_colors=chunk_colors)
    back = read_gaussian_ply(path)
    assert {k: v.shape for k, v in back.items()} == {k: v.shape for k, v in orig.items()}
    assert all(v.dtype == np.float32 for v in back.values())
    _assert_within_quantisation({k: v.astype(np.float64) for k, v in orig.items()}, back, enc,
                                chunk_colors)
    info = check_gaussian_ply(path)
    assert (info.layout, info.n_gaussians, info.sh_degree) == ("compressed", 600, degree)


def test_compressed_ply_loads_as_a_model(tmp_path):
    from scene.gaussian_model import GaussianModel

    orig = random_arrays(300, 3, seed=9)
    orig["opacities"][:7] = 30.0  # sigmoid -> 1.0 -> alpha code 255 -> +inf in the decoder
    path = tmp_path / "m.compressed.ply"
    write_compressed_ply(path, orig)
    model = GaussianModel.from_ply(path)
    assert model.num_gaussians == 300 and model.max_sh_degree == 3
    assert torch.equal(model.params["opacities"][:7], torch.full((7,), 20.0))
    assert all(torch.isfinite(p).all() for p in model.params.values())


def _fields(a: np.ndarray, names: list[str]) -> np.ndarray:
    """A packed copy of some fields of a structured array (plyfile rejects padded views)."""
    out = np.zeros(len(a), dtype=[(n, a.dtype[n]) for n in names])
    for n in names:
        out[n] = a[n]
    return out


def _write(path, chunk, vertex, sh=None):
    write_compressed_ply(path, elements={"chunk": chunk, "vertex": vertex, "sh": sh})


def test_bad_compressed_layouts_are_clear_errors(tmp_path):
    enc = encode(random_arrays(300, 1, seed=2))
    chunk, vertex, sh = enc["chunk"], enc["vertex"], enc["sh"]
    cases = {
        "chunks": (chunk[:1], vertex, sh, "1 chunks for 300 Gaussians"),
        "packed": (chunk, _fields(vertex, ["packed_position", "packed_rotation", "packed_color"]), sh,
                   "vertex properties ['packed_position', 'packed_rotation', 'packed_color']"),
        "float": (chunk, vertex.astype([(n, "<f4") for n in vertex.dtype.names]), sh, "not uint32"),
        "sh_count": (chunk, vertex, _fields(sh, [f"f_rest_{i}" for i in range(8)]), "sh properties"),
        "sh_rows": (chunk, vertex, sh[:299], "299 sh rows for 300 vertices"),
        "chunk_props": (_fields(chunk, ["min_x", "max_x"]), vertex, sh, "chunk properties ['min_x', 'max_x']"),
    }
    for name, (c, v, s, needle) in cases.items():
        path = tmp_path / f"{name}.ply"
        _write(path, c, v, s)
        for reader in (read_gaussian_ply, check_gaussian_ply):
            with pytest.raises(ValueError) as err:
                reader(path)
            message = str(err.value)
            assert str(path) in message and needle in message, (name, message)
            assert "packed_position packed_rotation packed_scale packed_color" in message  # expected


def test_unknown_layout_lists_found_and_expected(tmp_path):
    from plyfile import PlyData, PlyElement

    points = np.zeros(4, dtype=[(k, "<f4") for k in ("x", "y", "z")] + [(k, "u1") for k in ("red", "green", "blue")])
    path = tmp_path / "points3d.ply"
    PlyData([PlyElement.describe(points, "vertex")]).write(str(path))
    for reader in (read_gaussian_ply, check_gaussian_ply):
        with pytest.raises(ValueError) as err:
            reader(path)
        message = str(err.value)
        assert "['x', 'y', 'z', 'red', 'green', 'blue']" in message  # found
        assert "rot_3" in message and "packed_position" in message  # expected, both layouts


def test_properties_are_read_by_name_not_position(tmp_path):
    enc = encode(random_arrays(260, 1, seed=5))
    write_compressed_ply(tmp_path / "a.ply", elements=enc)
    shuffled = {"chunk": _fields(enc["chunk"], list(reversed(enc["chunk"].dtype.names))),
                "vertex": _fields(enc["vertex"], list(reversed(enc["vertex"].dtype.names))),
                "sh": _fields(enc["sh"], list(reversed(enc["sh"].dtype.names)))}
    write_compressed_ply(tmp_path / "b.ply", elements=shuffled)
    a, b = read_gaussian_ply(tmp_path / "a.ply"), read_gaussian_ply(tmp_path / "b.ply")
    for key in GAUSSIAN_KEYS:
        assert np.array_equal(a[key], b[key]), key
