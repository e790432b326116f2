"""The JavaScript decoder (web/) against load_npz: ``node web/decode.mjs`` on bundles written by the
Python encoder (several sizes down to 2 voxels, SH degrees 0–3, 8- and 16-bit codes, 1, 2 and more
blocks per channel, rd and vanilla
quantizers, with and without a channel transform, the frozen v2 and v3 fixtures).

Codes and voxels must be identical bit for bit; decoded floats equal up to float32 rounding of the
steps whose arithmetic differs (docs in web/README.md): the channel transform (float64 sums here,
a float32 BLAS product in torch), sin/cos of the quaternions. Damaged bundles give one error line and
exit code 2, never a PLY.

Needs ``node`` and ``web/node_modules`` (``make test-web`` installs them); skipped otherwise.
"""
from __future__ import annotations

import os
import shutil
import subprocess

import numpy as np
import pytest
import torch

from codec import load_npz, save_npz
from codec.frame import is_identity
from scene.ply_io import export_ply
from scripts.compare_web_decoder import ply_table
from tests.compression_helpers import one_thread, synthetic_quantized

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WEB = os.path.join(ROOT, "web")
NODE = shutil.which("node")
HAVE_DEPS = os.path.isdir(os.path.join(WEB, "node_modules", "fflate"))
pytestmark = pytest.mark.skipif(NODE is None or not HAVE_DEPS,
                                reason="needs node and web/node_modules (run `make test-web`)")
_threads = pytest.fixture(scope="module", autouse=True)(one_thread)


def _node_decode(bundle: str, tmp_path, name: str = "js"):
    ply, codes = str(tmp_path / f"{name}.ply"), str(tmp_path / f"{name}.codes")
    res = subprocess.run([NODE, os.path.join(WEB, "decode.mjs"), bundle, "-o", ply, "--codes", codes, "--quiet"],
                         capture_output=True, text=True, timeout=120)
    return res, ply, codes


def _check_equal(bundle: str, tmp_path) -> None:
    res, ply, codes_path = _node_decode(bundle, tmp_path)
    assert res.returncode == 0, res.stderr
    dec = load_npz(bundle)
    n, c = dec.payload.n_gaussians, dec.payload.n_channels
    raw = np.fromfile(codes_path, dtype=np.uint8)
    code_bytes = dec.payload.ac_codes.astype(dec.payload.ac_codes.dtype.newbyteorder("<")).tobytes()
    # codes bit for bit, then the voxel coordinates (Morton order) exactly
    assert raw[:len(code_bytes)].tobytes() == code_bytes
    coords = np.frombuffer(raw[len(code_bytes):].tobytes(), dtype="<i4").reshape(n, 3)
    assert np.array_equal(coords, dec.payload.coords)
    ref_ply = str(tmp_path / "python.ply")
    export_ply(dec, ref_ply)
    names_js, js = ply_table(ply)
    names_py, py = ply_table(ref_ply)
    assert names_js == names_py
    assert js.shape == py.shape == (n, len(names_py))
    pos = slice(0, 3)
    if is_identity(dec.payload.frame):
        assert np.array_equal(js[:, pos], py[:, pos])  # voxel centres: the same float32 operations
    else:  # turned by the frame's matrix, whose float64 entries may differ in the last bit: 1 float32 ulp
        assert np.allclose(js[:, pos], py[:, pos], rtol=2 * np.finfo(np.float32).eps, atol=0)
    quat = slice(len(names_py) - 4, len(names_py))
    rest = [i for i in range(3, len(names_py) - 4)]
    scale = np.abs(py[:, rest]).max(axis=0) + 1.0
    # attributes: the inverse RAHT in the same float32 order; the transform and summation order may differ
    # by float32 rounding, which the inverse RAHT can carry over a few levels: a few ulps of the column's scale
    assert np.all(np.abs(js[:, rest] - py[:, rest]) <= 64 * np.finfo(np.float32).eps * scale)
    assert np.abs(js[:, quat] - py[:, quat]).max() <= 1e-5  # sin/cos of two libraries, float32 result
    if dec.payload.channel_basis is None:
        # without a transform every attribute follows the same float32 operations as torch on x86 (fused
        # multiply-adds included): all but rare double-rounding cases are equal to the last bit
        assert np.mean(js[:, rest] == py[:, rest]) >= 0.99


@pytest.mark.parametrize("sh_degree, n, bits, n_block, quantizer, klt", [
    (0, 200, 16, 5, "rd", True),
    (1, 120, 16, 7, "rd", True),
    (2, 90, 8, 3, "vanilla", False),
    (3, 64, 16, 2, "rd", True),
    (3, 300, 8, 9, "vanilla", True),
    (0, 1, 16, 1, "rd", False),  # the smallest model: 2 random points, one block
    (1, 40, 8, 1, "vanilla", False),
    (2, 40, 16, 2, "rd", False),
])
def test_js_decoder_reproduces_load_npz(tmp_path, sh_degree, n, bits, n_block, quantizer, klt):
    from compression.channel_basis import fit_channel_basis

    model = synthetic_quantized(n=n, sh_degree=sh_degree, n_block=n_block, bits=bits, quantizer=quantizer,
                                seed=sh_degree * 7 + n)
    if klt and model.n_gaussians > 1:
        model.channel_basis = fit_channel_basis(model.attributes().detach(), model.layout)
        model.calibrate()
    pc = str(tmp_path / "m" / "pc_npz")
    save_npz(model.encode(codec="range"), pc)
    _check_equal(pc + ".bundle", tmp_path)


@pytest.mark.parametrize("sh_degree, seed, klt", [(0, 1, False), (1, 2, False), (3, 3, False), (3, 4, True), (2, 5, True)])
def test_js_decoder_turns_the_coding_frame_back(tmp_path, sh_degree, seed, klt):
    """Format 4 with a coding frame: positions, rotations and SH bands turned as load_npz turns them (with a
    channel transform the JavaScript decoder folds the bands' turn into its basis)."""
    from compression.channel_basis import fit_channel_basis
    from scene.transform import random_rotation
    from utils.rotations import euler_to_quat, rotmat_to_euler

    model = synthetic_quantized(n=90, sh_degree=sh_degree, n_block=3, bits=16, quantizer="rd", seed=seed)
    if klt:
        model.channel_basis = fit_channel_basis(model.attributes().detach(), model.layout)
        model.calibrate()
    q = euler_to_quat(rotmat_to_euler(torch.as_tensor(random_rotation(seed)))).numpy().astype(np.float32)
    pc = str(tmp_path / "m" / "pc_npz")
    save_npz(model.encode(codec="range", frame=q / np.linalg.norm(q)), pc)
    _check_equal(pc + ".bundle", tmp_path)


@pytest.mark.parametrize("fixture", ["v2/rd16", "v2/vanilla8", "v3/rd16_klt", "v3/vanilla8", "v4/rd16_klt_frame",
                                     "v4/vanilla8", "v6/rd16_klt_frame", "v6/vanilla8"])
def test_js_decoder_reads_the_frozen_fixtures(tmp_path, fixture):
    _check_equal(os.path.join(ROOT, "tests", "fixtures", fixture, "pc_npz.bundle"), tmp_path)


def test_js_decoder_refuses_version_1_by_name(tmp_path):
    bundle = os.path.join(ROOT, "tests", "fixtures", "v1", "bits8", "pc_npz.bundle")
    if not os.path.isfile(bundle):
        pytest.skip("no v1 fixture bundle")
    res, ply, _ = _node_decode(bundle, tmp_path)
    assert res.returncode == 2 and "format_version 1" in res.stderr and not os.path.exists(ply)


def test_js_decoder_damaged_input_one_error_no_output(tmp_path):
    model = synthetic_quantized(n=80, sh_degree=1, n_block=3, bits=16, quantizer="rd", seed=3)
    pc = str(tmp_path / "m" / "pc_npz")
    save_npz(model.encode(codec="range"), pc)
    good = open(pc + ".bundle", "rb").read()
    cases = {
        "truncated": good[: len(good) // 2],
        "foreign": b"not a bundle at all" * 10,
        "flipped": bytearray(good),
    }
    # flip one byte inside the last member's data (a SHA-256 must catch it)
    cases["flipped"][len(good) // 2] ^= 0x40
    for name, data in cases.items():
        path = tmp_path / f"{name}.bundle"
        path.write_bytes(bytes(data))
        res, ply, _ = _node_decode(str(path), tmp_path, name)
        assert res.returncode == 2, (name, res.stdout, res.stderr)
        lines = [line for line in res.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("decode.mjs: error:"), (name, res.stderr)
        assert not os.path.exists(ply)


@pytest.mark.parametrize("frame", [[2.0, 0.0, 0.0, 0.0], [float("nan"), 0.0, 0.0, 1.0]])
def test_js_decoder_refuses_the_frame_python_refuses(tmp_path, frame):
    """A bundle whose coding frame is not a unit quaternion (hashes rewritten to match): both decoders
    give one clear error, neither writes a PLY."""
    import io
    import json

    from codec.container import MANIFEST, bundle_bytes, manifest_bytes, read_model_files
    from codec import CompressedFormatError

    model = synthetic_quantized(n=60, sh_degree=1, n_block=2, bits=16, quantizer="rd", seed=8)
    pc = str(tmp_path / "m" / "pc_npz")
    save_npz(model.encode(codec="range"), pc)
    files = read_model_files(pc + ".bundle")
    with np.load(io.BytesIO(files["geometry.npz"])) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["frame"] = np.array(frame, dtype=np.float32)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    files["geometry.npz"] = buf.getvalue()
    manifest = json.loads(files.pop(MANIFEST))
    manifest.pop("files")
    bad = tmp_path / "bad.bundle"
    bad.write_bytes(bundle_bytes({MANIFEST: manifest_bytes(manifest, files), **files}))
    with pytest.raises(CompressedFormatError, match="not a unit quaternion"):
        load_npz(str(bad))
    res, ply, _ = _node_decode(str(bad), tmp_path, "bad")
    assert res.returncode == 2 and "not a unit quaternion" in res.stderr and not os.path.exists(ply)


def _chunked_file(tmp_path, n_chunks: int = 3) -> str:
    """A chunked file of ``n_chunks`` synthetic bundles (SH 1, one with a coding frame)."""
    from codec.chunked import chunked_bytes

    bundles, counts, boxes = [], [], []
    for i in range(n_chunks):
        model = synthetic_quantized(n=70 + 10 * i, sh_degree=1, n_block=3, bits=16, quantizer="rd", seed=20 + i)
        frame = np.array([0.8, 0.0, 0.6, 0.0], np.float32) if i == 1 else None
        pc = str(tmp_path / f"c{i}" / "pc_npz")
        save_npz(model.encode(codec="range", frame=frame), pc)
        bundles.append(open(pc + ".bundle", "rb").read())
        dec = load_npz(pc + ".bundle")
        means = dec.means.numpy()
        counts.append(dec.n_gaussians)
        boxes.append(np.concatenate([means.min(0), means.max(0)]))
    path = tmp_path / "scene.bundle"
    path.write_bytes(chunked_bytes(bundles, counts, boxes, 1, {"note": "test"}))
    return str(path)


@pytest.mark.parametrize("frozen", [False, True])
def test_js_decoder_reads_a_chunked_file_as_python_does(tmp_path, frozen):
    import decompress as cli

    path = os.path.join(ROOT, "tests", "fixtures", "v5", "chunks.bundle") if frozen else _chunked_file(tmp_path)
    threads = ["--helpers", "0"] if frozen else ["--helpers", "2"]  # one chunk at a time; three at once, in any order
    res = subprocess.run([NODE, os.path.join(WEB, "decode.mjs"), path, "-o", str(tmp_path / "js.ply"), *threads],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and ("2 chunks" if frozen else "3 chunks") in res.stdout, res.stderr
    assert ("1 chunk at a time" if frozen else "3 chunks at a time") in res.stdout, res.stdout
    assert cli.main([path, "-o", str(tmp_path / "py.ply")]) == 0
    names_js, js = ply_table(str(tmp_path / "js.ply"))
    names_py, py = ply_table(str(tmp_path / "py.ply"))
    assert names_js == names_py and js.shape == py.shape
    assert np.allclose(js, py, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("damage, message", [
    ("chunk", "chunk 1: SHA-256 mismatch"),
    ("index", "checksum mismatch"),
    ("truncated", "truncated"),
    ("bbox", "minimum above"),
    ("count", "not the sum"),
    ("version", "newer version"),
])
def test_js_decoder_refuses_the_chunked_files_python_refuses(tmp_path, damage, message):
    from codec import CompressedFormatError
    from codec.chunked import load_chunks, read_index
    from tests.test_chunked import _resigned

    path = _chunked_file(tmp_path)
    raw = open(path, "rb").read()
    index = read_index(path)
    if damage == "chunk":
        bad = bytearray(raw)
        bad[index.chunks[1].offset + 100] ^= 0x08
        bad = bytes(bad)
    elif damage == "index":
        bad = raw[:30] + bytes([raw[30] ^ 0x20]) + raw[31:]
    elif damage == "truncated":
        bad = raw[:-1]
    elif damage == "bbox":
        bad = _resigned(raw, lambda ix: ix["chunks"][2].update(bbox=[1, 0, 0, 0, 1, 1]))
    elif damage == "count":
        bad = _resigned(raw, lambda ix: ix.update(n_gaussians=ix["n_gaussians"] - 1))
    else:
        bad = _resigned(raw, lambda ix: ix.update(format_version=6))
    bad_path = tmp_path / "bad.bundle"
    bad_path.write_bytes(bad)
    with pytest.raises(CompressedFormatError, match=message):
        load_chunks(str(bad_path))
    res = subprocess.run([NODE, os.path.join(WEB, "decode.mjs"), str(bad_path), "-o", str(tmp_path / "bad.ply")],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 2 and message in res.stderr and not os.path.exists(tmp_path / "bad.ply"), res.stderr
    assert not [f for f in os.listdir(tmp_path) if f.startswith(".bad.ply")]  # nor a half-written temporary file


def _t_edit(value):
    def edit(arrays):
        arrays["t"][2] = value  # the first step of the first channel
    return edit


@pytest.mark.parametrize("member, edit, message", [
    ("dc.npz", lambda a: a["dc"].__setitem__(0, np.nan), "dc contains NaN or inf"),
    ("dc.npz", lambda a: a["dc"].__setitem__(2, np.inf), "dc contains NaN or inf"),
    ("geometry.npz", lambda a: a["bbox"].__setitem__(1, np.nan), "bbox_min contains NaN or inf"),
    ("geometry.npz", lambda a: a["bbox"].__setitem__(3, a["bbox"][0] - 1.0), "exceeds max"),
    ("transform.npz", lambda a: a["basis"].__setitem__((0, 0), np.nan), "channel_basis must be finite"),
    ("transform.npz", lambda a: a["basis"].__setitem__((4, 4), 0.5), "not orthonormal"),
    ("t.npz", _t_edit(0.0), "every quantizer scale must be > 0"),
    ("t.npz", _t_edit(-0.25), "every quantizer scale must be > 0"),
])
def test_js_decoder_refuses_the_values_python_refuses(tmp_path, member, edit, message):
    """A bundle whose values are wrong but whose hashes match (tests.compression_helpers.rewrite_npz_member):
    both decoders give one clear error with the same words, and neither writes a PLY."""
    import io

    from codec import CompressedFormatError
    from codec.container import bundle_bytes, read_model_files
    from compression.channel_basis import fit_channel_basis
    from tests.compression_helpers import rewrite_npz_member

    model = synthetic_quantized(n=60, sh_degree=1, n_block=2, bits=16, quantizer="rd", seed=9)
    model.channel_basis = fit_channel_basis(model.attributes().detach(), model.layout)
    model.calibrate()
    pc = str(tmp_path / "m" / "pc_npz")
    save_npz(model.encode(codec="range"), pc)
    files = read_model_files(pc)
    with np.load(io.BytesIO(files[member])) as z:
        arrays = {k: z[k].copy() for k in z.files}
    edit(arrays)
    rewrite_npz_member(pc, member, arrays)
    bad = tmp_path / "bad.bundle"
    bad.write_bytes(bundle_bytes(read_model_files(pc)))
    with pytest.raises(CompressedFormatError, match=message):
        load_npz(str(bad))
    res, ply, _ = _node_decode(str(bad), tmp_path, "bad")
    assert res.returncode == 2 and message in res.stderr and not os.path.exists(ply), res.stderr


def test_js_decoder_checks_the_manifest_crc(tmp_path):
    """The manifest is the one member no SHA-256 covers: a CRC-32 that disagrees with it (here the recorded
    one changed, in the local header and the central directory) is refused by both decoders."""
    import struct

    from codec import CompressedFormatError

    model = synthetic_quantized(n=50, sh_degree=0, n_block=2, bits=16, quantizer="rd", seed=10)
    pc = str(tmp_path / "m" / "pc_npz")
    save_npz(model.encode(codec="range"), pc)
    raw = bytearray(open(pc + ".bundle", "rb").read())
    assert raw[30:30 + len("manifest.json")] == b"manifest.json"  # the first member
    (crc,) = struct.unpack("<I", raw[14:18])
    raw[14:18] = struct.pack("<I", crc ^ 1)
    eocd = raw.rfind(b"PK\x05\x06")
    (first,) = struct.unpack("<I", raw[eocd + 16:eocd + 20])  # the central directory's first entry: the manifest's
    assert raw[first + 46:first + 46 + len("manifest.json")] == b"manifest.json"
    raw[first + 16:first + 20] = struct.pack("<I", crc ^ 1)
    bad = tmp_path / "bad.bundle"
    bad.write_bytes(bytes(raw))
    with pytest.raises(CompressedFormatError, match="corrupted or truncated"):
        load_npz(str(bad))
    res, ply, _ = _node_decode(str(bad), tmp_path, "bad")
    assert res.returncode == 2 and "manifest.json is corrupted or truncated" in res.stderr and not os.path.exists(ply), res.stderr
