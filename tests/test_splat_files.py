"""Splat files in and out (scene/splat_files.py, spz_format, sog_format, dot_splat, splat_export).

The fixtures in tests/fixtures/splat_formats/ were made by scripts/make_splat_fixtures.py: two random
models written as SPZ v2/v3/v4, SOG, compressed PLY and .splat, and each file decoded to a PLY by
PlayCanvas's splat-transform 3.7.0 (``expected_*.ply``), the reference the reader is compared with.
No test here needs Node.js except the splat-transform writer round trip (skipped without it).
"""
from __future__ import annotations

import gzip
import logging
import os
import shutil
import struct
import zipfile

import numpy as np
import pytest

from scene.gaussian_model import GaussianModel
from scene.ply_io import read_gaussian_ply, write_gaussian_ply
from scene.splat_files import FORMATS, check_splat_file, detect_format, read_splat
from utils.sh import SH_C0

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "splat_formats")
CAPTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data", "captures")
ENCODED = ["sh0.spz", "sh0.v3.spz", "sh0.v2.spz", "sh0.sog", "sh0.compressed.ply", "sh0.splat",
           "sh3.spz", "sh3.v3.spz", "sh3.v2.spz", "sh3.sog", "sh3.compressed.ply"]
FORMAT_OF = {"spz": "spz", "sog": "sog", "ply": "compressed_ply", "splat": "splat"}


def fixture(name: str) -> str:
    return os.path.join(FIXTURES, name)


def expected(name: str) -> dict:
    return read_gaussian_ply(fixture("expected_" + name.replace(".", "_") + ".ply"))


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-np.asarray(x, np.float64)))


def unit(q):
    q = np.asarray(q, np.float64)
    return q / np.linalg.norm(q, axis=1, keepdims=True)


def quat_distance(a, b):
    """max over Gaussians of min(|â − b̂|∞, |â + b̂|∞): q and −q are the same rotation."""
    a, b = unit(a), unit(b)
    return float(np.minimum(np.abs(a - b).max(1), np.abs(a + b).max(1)).max())


# ---------------------------------------------------------------------------- reference decoding


@pytest.mark.parametrize("name", ENCODED)
def test_read_equals_splat_transform_decoding(name):
    """Same formulas as splat-transform in float64, rounded to float32: equal up to one float32 ulp
    (JS and numpy exp/log may differ in the last float64 bit). Opacities compared activated:
    splat-transform clamps α to [1e-6, 1 − 1e-6] before the logit, we map α = 0 / 1 to ∓/±20.
    .splat quaternions: the reader uses antimatter15's (u − 128)/128, splat-transform u/127.5 − 1,
    a raw difference ≤ 255·0.5/(128·127.5) = 0.0078 before normalisation."""
    got, ref = read_splat(fixture(name)), expected(name)
    assert {k: v.shape for k, v in got.items()} == {k: v.shape for k, v in ref.items()}
    assert all(v.dtype == np.float32 for v in got.values())
    for key in ("means", "scales", "sh0", "shN"):
        np.testing.assert_allclose(got[key], ref[key], rtol=2e-7, atol=1e-7, err_msg=key)
    np.testing.assert_allclose(sigmoid(got["opacities"]), sigmoid(ref["opacities"]), rtol=0, atol=1.1e-6)
    if name.endswith(".splat"):
        assert quat_distance(got["quats"], ref["quats"]) < 0.008
    else:
        np.testing.assert_allclose(got["quats"], ref["quats"], rtol=2e-7, atol=1e-7)
    GaussianModel.from_arrays(got)  # the dict the model takes


@pytest.mark.parametrize("name", ["sh0.spz", "sh0.v3.spz", "sh0.v2.spz", "sh3.spz", "sh3.v2.spz", "sh0.splat"])
def test_decoded_values_within_the_formats_quantization_of_the_source(name):
    """Independent of splat-transform: the decoded model is the source model within half a step of
    each format's quantizer (SPZ: 2^-12 positions, 1/16 log-scales, 8-bit α, colour and SH)."""
    src = read_gaussian_ply(fixture(name.split(".")[0] + ".ply"))
    got = read_splat(fixture(name))
    if name.endswith(".splat"):
        np.testing.assert_array_equal(got["means"], src["means"])
        np.testing.assert_allclose(got["scales"], src["scales"], atol=1e-5)
        colour_step, colour_scale = 0.5 / 255, SH_C0
        assert quat_distance(got["quats"], src["quats"]) <= 0.5 / 128 * 2 + 1e-6
    else:
        assert np.abs(got["means"] - src["means"]).max() <= 2.0 ** -13 + 1e-6
        assert np.abs(got["scales"] - src["scales"]).max() <= 1 / 32 + 1e-6
        colour_step, colour_scale = 0.5 / 255, 0.15
        if ".v2." in name:  # x y z to 8 bits (step 1/127.5), w = √(1 − |xyz|²): |dw| ≤ |xyz|·|dxyz| / w
            rows = np.abs(unit(src["quats"])[:, 0]) > 0.3
            assert quat_distance(got["quats"][rows], src["quats"][rows]) < 0.03
        else:  # smallest three: 9 bits of magnitude over [0, 1/√2]
            assert quat_distance(got["quats"], src["quats"]) < 0.003
        # SH: u = round(128·x + 128); this script's v2 keeps 8 bits, the v3/v4 writer (Niantic's packer
        # inside splat-transform) rounds u again to buckets of 8 (band 1, 5 bits) or 16 (4 bits)
        inside = np.abs(src["shN"]) < 0.99
        sh_error = 0.5 / 128 if ".v2." in name else 8.5 / 128
        assert np.abs(got["shN"] - src["shN"])[inside].max(initial=0) <= sh_error + 1e-6
    assert np.abs(sigmoid(got["opacities"]) - sigmoid(src["opacities"])).max() <= 0.5 / 255 + 1e-6
    inside = np.abs(src["sh0"] * colour_scale) < 0.49
    assert np.abs(got["sh0"] - src["sh0"])[inside].max() <= colour_step / colour_scale + 1e-5


@pytest.mark.parametrize("name", ENCODED)
def test_detect_format_and_check(name):
    fmt = FORMAT_OF[name.rsplit(".", 1)[1]]
    assert detect_format(fixture(name)) == fmt
    info = check_splat_file(fixture(name))
    ref = expected(name)
    assert (info.format, info.n_gaussians, info.sh_degree) == (fmt, len(ref["opacities"]),
                                                              {0: 0, 3: 1, 8: 2, 15: 3}[ref["shN"].shape[1]])


def test_detect_format_plain_ply_and_names():
    assert detect_format(fixture("sh3.ply")) == "ply"
    assert check_splat_file(fixture("sh3.ply")).sh_degree == 3
    assert set(FORMATS) == {"ply", "compressed_ply", "spz", "sog", "sog_meta", "splat"}


def test_magic_wins_over_the_extension(tmp_path):
    p = tmp_path / "really_a_sog.ply.bin"
    shutil.copy(fixture("sh0.sog"), p)
    assert detect_format(p) == "sog"
    p = tmp_path / "spz_named.splat"
    shutil.copy(fixture("sh0.v3.spz"), p)
    assert detect_format(p) == "spz"


def test_unzipped_sog_folder_and_meta_json(tmp_path):
    with zipfile.ZipFile(fixture("sh3.sog")) as zf:
        zf.extractall(tmp_path / "scene")
    zipped = read_splat(fixture("sh3.sog"))
    for p in (tmp_path / "scene", tmp_path / "scene" / "meta.json"):
        assert detect_format(p) == "sog_meta"
        assert check_splat_file(p).n_gaussians == 64
        back = read_splat(p)
        for key in zipped:
            np.testing.assert_array_equal(back[key], zipped[key])
    os.remove(tmp_path / "scene" / "sh0.webp")
    with pytest.raises(ValueError, match="sh0.webp"):
        check_splat_file(tmp_path / "scene")


# ---------------------------------------------------------------------------- errors


def one_line_error(path, call=read_splat, match=None):
    with pytest.raises(ValueError) as info:
        call(path)
    msg = str(info.value)
    assert "\n" not in msg and str(path) in msg, msg
    if match:
        assert match in msg, msg
    return msg


@pytest.mark.parametrize("suffix", [".ply", ".spz", ".sog", ".splat", ".compressed.ply"])
def test_empty_file(tmp_path, suffix):
    p = tmp_path / f"empty{suffix}"
    p.write_bytes(b"")
    one_line_error(p, match="empty")
    one_line_error(p, check_splat_file, match="empty")


def test_unknown_format_and_missing_file(tmp_path):
    p = tmp_path / "scene.bin"
    p.write_bytes(b"\x00\x01garbage" * 20)
    one_line_error(p, match="unknown file format")
    p = tmp_path / "scene.spz"
    p.write_bytes(b"not an spz at all")
    one_line_error(p, match="name says spz")
    with pytest.raises(FileNotFoundError):
        read_splat(tmp_path / "absent.spz")
    with pytest.raises(ValueError, match="meta.json"):
        read_splat(tmp_path)  # a folder that is no SOG


@pytest.mark.parametrize("name", ["sh3.spz", "sh3.v3.spz", "sh0.v2.spz"])
@pytest.mark.parametrize("keep", [0.1, 0.5, 0.97])
def test_truncated_spz(tmp_path, name, keep):
    data = open(fixture(name), "rb").read()
    p = tmp_path / name
    p.write_bytes(data[: max(4, int(len(data) * keep))])
    one_line_error(p, match="SPZ")


def test_spz_v4_truncated_is_caught_by_the_cheap_check(tmp_path):
    data = open(fixture("sh3.spz"), "rb").read()
    p = tmp_path / "cut.spz"
    p.write_bytes(data[:-10])
    one_line_error(p, check_splat_file, match="truncated")


def test_corrupted_spz_stream(tmp_path):
    data = bytearray(open(fixture("sh3.spz"), "rb").read())
    data[-40:-20] = bytes(20)
    p = tmp_path / "bad.spz"
    p.write_bytes(bytes(data))
    one_line_error(p, match="SPZ")


def test_spz_header_errors(tmp_path):
    raw = gzip.decompress(open(fixture("sh0.v3.spz"), "rb").read())
    for patch, match in ((struct.pack("<I", 9), "version 9"), (struct.pack("<I", 1), "version 1")):
        p = tmp_path / "v.spz"
        p.write_bytes(gzip.compress(raw[:4] + patch + raw[8:]))
        one_line_error(p, match=match)
    p = tmp_path / "deg4.spz"
    p.write_bytes(gzip.compress(raw[:12] + b"\x04" + raw[13:]))
    one_line_error(p, match="SH degree 4")


@pytest.mark.parametrize("keep", [0.05, 0.5, 0.99])
def test_truncated_sog(tmp_path, keep):
    data = open(fixture("sh3.sog"), "rb").read()
    p = tmp_path / "cut.sog"
    p.write_bytes(data[: int(len(data) * keep)])
    one_line_error(p, match="SOG")


def test_sog_without_meta_or_texture_or_version(tmp_path):
    p = tmp_path / "nometa.sog"
    with zipfile.ZipFile(p, "w") as zf:
        zf.writestr("means_l.webp", b"x")
    one_line_error(p, match="without meta.json")
    with zipfile.ZipFile(fixture("sh0.sog")) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    p = tmp_path / "missing.sog"
    with zipfile.ZipFile(p, "w") as zf:
        for n, data in members.items():
            if n != "quats.webp":
                zf.writestr(n, data)
    one_line_error(p, match="quats.webp")
    p = tmp_path / "badwebp.sog"
    with zipfile.ZipFile(p, "w") as zf:
        for n, data in members.items():
            zf.writestr(n, b"RIFF1234WEBPjunk" if n == "scales.webp" else data)
    one_line_error(p, match="scales.webp")
    p = tmp_path / "legacy.sog"
    with zipfile.ZipFile(p, "w") as zf:
        zf.writestr("meta.json", b'{"means": {"shape": [10, 3]}}')
    one_line_error(p, match="version 1")


def test_truncated_splat(tmp_path):
    data = open(fixture("sh0.splat"), "rb").read()
    p = tmp_path / "cut.splat"
    p.write_bytes(data[:-5])
    one_line_error(p, match="multiple")
    one_line_error(p, check_splat_file, match="multiple")


def test_ply_without_gaussian_properties(tmp_path):
    p = tmp_path / "points.ply"
    header = "ply\nformat binary_little_endian 1.0\nelement vertex 2\nproperty float x\nproperty float y\n" \
             "property float z\nend_header\n"
    p.write_bytes(header.encode() + np.zeros(6, "<f4").tobytes())
    one_line_error(p, match="not a Gaussian splat PLY")
    one_line_error(p, check_splat_file, match="not a Gaussian splat PLY")


def test_bundle_is_pointed_to_decompress(tmp_path):
    p = tmp_path / "model.bundle"
    with zipfile.ZipFile(p, "w") as zf:
        zf.writestr("manifest.json", "{}")
    one_line_error(p, match="decompress.py")


def _splat_records(n: int, seed: int = 0) -> np.ndarray:
    from scene.dot_splat import SPLAT_DTYPE

    rng = np.random.default_rng(seed)
    rec = np.zeros(n, SPLAT_DTYPE)
    rec["position"] = rng.normal(size=(n, 3))
    rec["scale"] = rng.uniform(0.01, 0.1, size=(n, 3))
    rec["rgba"] = rng.integers(1, 255, size=(n, 4))
    rec["rot"] = rng.integers(0, 256, size=(n, 4))
    return rec


def test_nan_is_an_error_unless_sanitize(tmp_path):
    rec = _splat_records(10)
    rec["position"][3, 1] = np.nan
    p = tmp_path / "nan.splat"
    p.write_bytes(rec.tobytes())
    one_line_error(p, match="NaN")
    back = read_splat(p, sanitize=True)
    assert len(back["opacities"]) == 9
    arrays = read_splat(fixture("sh3.ply"))
    arrays["shN"][5, 2, 1] = np.nan
    q = tmp_path / "nan.ply"
    write_gaussian_ply(q, arrays)
    one_line_error(q, match="NaN")
    assert len(read_splat(q, sanitize=True)["opacities"]) == 63


def test_opaque_and_transparent_alpha_clamped_with_a_warning(tmp_path, caplog):
    rec = _splat_records(4)
    rec["rgba"][0, 3], rec["rgba"][1, 3] = 255, 0
    p = tmp_path / "alpha.splat"
    p.write_bytes(rec.tobytes())
    with caplog.at_level(logging.WARNING):
        out = read_splat(p)
    assert out["opacities"][0] == 20.0 and out["opacities"][1] == -20.0
    assert np.isfinite(out["opacities"]).all()
    assert "infinite logit opacity" in caplog.text


# ---------------------------------------------------------------------------- writers


def test_write_splat_native_round_trip(tmp_path, caplog):
    from scene.splat_export import write_splat

    src = read_gaussian_ply(fixture("sh3.ply"))
    p = tmp_path / "out" / "model.splat"
    with caplog.at_level(logging.WARNING):
        assert write_splat(src, p) == "splat"
    assert "SH degree 0 only" in caplog.text
    assert p.stat().st_size == 32 * 64 and detect_format(p) == "splat"
    back = read_splat(p)
    np.testing.assert_array_equal(back["means"], src["means"])
    assert quat_distance(back["quats"], src["quats"]) <= 0.5 / 128 * 2 + 1e-6
    assert back["shN"].shape == (64, 0, 3)
    assert [f for f in os.listdir(p.parent)] == ["model.splat"]  # no temporary left behind


def test_write_splat_ply_is_lossless(tmp_path):
    from scene.splat_export import write_splat

    src = read_gaussian_ply(fixture("sh3.ply"))
    write_splat(src, tmp_path / "m.ply")
    back = read_splat(tmp_path / "m.ply")
    for key in src:
        np.testing.assert_array_equal(back[key], src[key])


def test_write_splat_errors_leave_nothing(tmp_path, monkeypatch):
    from scene import splat_export, splat_transform_tool

    src = read_gaussian_ply(fixture("sh0.ply"))
    with pytest.raises(ValueError, match="unknown output format"):
        splat_export.write_splat(src, tmp_path / "m.xyz")
    monkeypatch.setattr(splat_transform_tool.shutil, "which", lambda name: None)
    with pytest.raises(ValueError, match="Node.js"):
        splat_export.write_splat(src, tmp_path / "m.spz")
    assert os.listdir(tmp_path) == []
    # a failing tool run keeps the previous file and leaves no temporary
    monkeypatch.undo()
    out = tmp_path / "m.sog"
    out.write_bytes(b"previous")
    monkeypatch.setattr(splat_export, "check_writable", lambda *a, **k: "sog")

    def failing(args, **kwargs):
        open(args[-1], "wb").write(b"half")
        raise ValueError("splat-transform failed (exit 1): boom")

    monkeypatch.setattr(splat_export, "run_splat_transform", failing)
    with pytest.raises(ValueError, match="boom"):
        splat_export.write_splat(src, out)
    assert out.read_bytes() == b"previous" and os.listdir(tmp_path) == ["m.sog"]


def _tool_or_skip():
    from scene.splat_transform_tool import ToolUnavailable, splat_transform_path

    try:
        return splat_transform_path(install=False)
    except ToolUnavailable as exc:
        pytest.skip(f"splat-transform not installed ({exc}); scripts/make_splat_fixtures.py installs it")


@pytest.mark.parametrize("ext", [".spz", ".compressed.ply"])
def test_write_through_splat_transform(tmp_path, ext):
    _tool_or_skip()
    from scene.splat_export import write_splat

    src = read_gaussian_ply(fixture("sh3.ply"))
    p = tmp_path / f"m{ext}"
    write_splat(src, p)
    assert sorted(os.listdir(tmp_path)) == [p.name]
    back = read_splat(p)
    assert back["shN"].shape == src["shN"].shape
    # 8-bit α; the compressed PLY reorders the Gaussians (sorted values keep the bound of a matching)
    err = np.sort(sigmoid(back["opacities"])) - np.sort(sigmoid(src["opacities"]))
    assert np.abs(err).max() <= 0.5 / 255 + 1e-6


# ---------------------------------------------------------------------------- real files


REAL = {"donut.ply": ("ply", 45624), "angel.compressed.ply": ("compressed_ply", 71377),
        "narcissus.sog": ("sog", 101275), "st-peter.sog": ("sog", 133618), "massa.sog": ("sog", 58649)}


@pytest.mark.skipif(not os.path.isdir(CAPTURES), reason=f"{CAPTURES} (shared data, real captures) is absent")
@pytest.mark.parametrize("name", sorted(REAL))
def test_real_captures_counts_match_their_readme(name):
    path = os.path.join(CAPTURES, name)
    fmt, count = REAL[name]
    assert detect_format(path) == fmt
    info = check_splat_file(path)
    assert (info.n_gaussians, info.sh_degree) == (count, 0)
    out = read_splat(path)
    assert out["means"].shape == (count, 3) and out["shN"].shape == (count, 0, 3)
    assert all(np.isfinite(v).all() for v in out.values())
    assert np.abs(np.linalg.norm(out["quats"], axis=1) - 1).max() < 0.01 or fmt == "ply"
