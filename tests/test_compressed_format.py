"""codec/: layout of both written versions, exact round trips, determinism, atomicity, bad input."""
import io
import json
import os
import zipfile

import numpy as np
import pytest
import torch

import codec.container as container
from compression.attributes import QuantizedGaussians
from quant.granularity import split_length
from codec import BUNDLE_MAGIC, FORMAT_VERSION, CompressedFormatError, load_npz, save_npz
from scene.ply_io import export_ply
from tests.compression_helpers import one_thread, rewrite_npz_member, synthetic_quantized

_one_thread = pytest.fixture(autouse=True, scope="module")(one_thread)


def _eval_quantized(model: QuantizedGaussians) -> torch.Tensor:
    model.eval()
    with torch.no_grad():
        return model.quantized_attributes()


def _files(d):
    out = {}
    for name in sorted(os.listdir(d)):
        with open(os.path.join(d, name), "rb") as fh:
            out[name] = fh.read()
    return out


@pytest.fixture(scope="module", params=["range", "deflate"])
def saved(tmp_path_factory, request):
    """The same model saved as format v2 (range, the default) and v1 (deflate)."""
    model = synthetic_quantized(n=300, sh_degree=3, n_block=7)
    d = tmp_path_factory.mktemp("fmt") / "iteration_5" / "pc_npz"
    report = save_npz(model.encode({"run": "test", "percent": 0.2}, input_ply_bytes=123456, codec=request.param), str(d))
    return model, str(d), report


def test_t_npz_layout_and_length(saved):
    model, d, _ = saved
    with np.load(os.path.join(d, "t.npz"), allow_pickle=False) as z:
        assert z.files == ["t"]
        t = z["t"]
    c, b = 55, model.n_block
    assert t.dtype == np.float64 and t.shape == (2 + 2 * c * b,)
    assert t[0] == model.depth and t[1] == b
    scale, zp = model.bank.qparams()
    pairs = t[2:].reshape(c, b, 2)
    # channel-major, then block: (scale, zero point) of quantizer c*B + j
    assert np.array_equal(pairs[..., 0], scale.numpy().astype(np.float64))
    assert np.array_equal(pairs[..., 1], zp.numpy().astype(np.float64))
    assert pairs[3, 2, 0] == scale[3, 2].item()


def test_ac_codes_uint8_channel_major_and_manifest(saved):
    model, d, report = saved
    n = model.n_gaussians
    payload = model.encode()
    if json.load(open(os.path.join(d, "manifest.json")))["format_version"] >= 2:
        pytest.skip("the raw code layout is format version 1; v2 and v3 are checked in test_v2_layout_and_manifest")
    with np.load(os.path.join(d, "ac.npz"), allow_pickle=False) as z:
        assert sorted(z.files) == sorted(["opacity", "euler", "f_dc", "f_rest", "scale"])
        assert all(z[k].dtype == np.uint8 for k in z.files)
        assert z["f_rest"].shape == (45 * (n - 1),)
        # channel-major: first the N-1 codes of euler_phi, then euler_theta, ...
        assert np.array_equal(z["euler"][: n - 1], payload.ac_codes[:, 1])
        assert np.array_equal(z["euler"][n - 1: 2 * (n - 1)], payload.ac_codes[:, 2])
    with open(os.path.join(d, "manifest.json")) as fh:
        manifest = json.load(fh)
    assert manifest["format"] == "raht-gs-npz" and manifest["format_version"] == 1 and manifest["codec"] == "deflate"
    assert manifest["n_gaussians"] == n and manifest["n_channels"] == 55 and manifest["bits"] == 8
    assert manifest["channel_names"][:4] == ["opacity", "euler_phi", "euler_theta", "euler_psi"]
    assert manifest["channel_names"][7] == "f_rest_0" and manifest["channel_names"][-1] == "scale_2"
    assert manifest["configuration"] == {"run": "test", "percent": 0.2}
    with np.load(os.path.join(d, "dc.npz"), allow_pickle=False) as z:
        assert z["dc"].dtype == np.float32 and z["dc"].shape == (55,)
    with np.load(os.path.join(d, "geometry.npz"), allow_pickle=False) as z:
        assert z["bbox"].dtype == np.float32 and z["bbox"].shape == (6,)
        assert z["occupancy"].dtype == np.uint8
    # sizes reported are the real file sizes
    assert report.file_bytes == {k: len(v) for k, v in _files(d).items()}
    assert report.bundle_bytes == os.path.getsize(d + ".bundle")
    assert report.bits_per_gaussian == pytest.approx(8 * report.bundle_bytes / n)
    assert report.ratio == pytest.approx(123456 / report.bundle_bytes)


def test_v2_layout_and_manifest(saved):
    """The entropy-coded layout: version 6 = version 2 + the channel transform member + the coding frame,
    with integer probability tables and geometric AC models only."""
    model, d, report = saved
    manifest = json.load(open(os.path.join(d, "manifest.json")))
    if manifest["format_version"] == 1:
        pytest.skip("v1 layout is checked in test_ac_codes_uint8_channel_major_and_manifest")
    n = model.n_gaussians
    assert manifest["format_version"] == FORMAT_VERSION == 6 and manifest["codec"] == "range"
    with np.load(os.path.join(d, "transform.npz"), allow_pickle=False) as z:  # no transform: an empty basis
        assert z.files == ["basis"] and z["basis"].dtype == np.float32 and z["basis"].shape == (0, 0)
    assert manifest["channel_transform"] == "none"
    assert manifest["entropy"]["ac_channel_models"] == {"geometric": 55}
    assert manifest["entropy"]["probability_tables"].startswith("integer")
    with np.load(os.path.join(d, "ac.npz"), allow_pickle=False) as z:
        assert sorted(z.files) == sorted(["model", "r_range", "geometric_k", "words", "stream", "crc32"])
        assert z["stream"].dtype == np.uint32 and int(z["words"].sum()) == z["stream"].size
        assert z["geometric_k"].shape == (55, model.n_block + 12)
        stream_bytes = 4 * z["words"]
    with zipfile.ZipFile(os.path.join(d, "ac.npz")) as zf:
        assert zf.getinfo("stream.npy").compress_type == zipfile.ZIP_STORED
        assert zf.getinfo("r_range.npy").compress_type == zipfile.ZIP_DEFLATED
    with np.load(os.path.join(d, "geometry.npz"), allow_pickle=False) as z:
        assert sorted(z.files) == ["bbox", "frame", "octree"] and z["octree"].dtype == np.uint32
        assert z["frame"].dtype == np.float32 and z["frame"].tolist() == [1.0, 0.0, 0.0, 0.0]  # no frame given: the identity
    with np.load(os.path.join(d, "t.npz"), allow_pickle=False) as z:
        assert z["t"].shape == (2 + 2 * 55 * model.n_block,)  # t.npz unchanged from v1
    comp = report.component_bytes
    assert comp["ac_f_rest"] == int(stream_bytes[7:52].sum()) and comp["ac_opacity"] == int(stream_bytes[0])
    assert sum(v for k, v in comp.items() if k.startswith("ac_")) == report.file_bytes["ac.npz"]
    assert report.file_bytes == {k: len(v) for k, v in _files(d).items()}
    assert load_npz(d).payload.codec == "range"
    assert np.array_equal(load_npz(d).payload.ac_codes, model.encode().ac_codes)


def test_decoded_equals_training_quantized_attributes(saved):
    model, d, _ = saved
    expected = _eval_quantized(model)
    dec = load_npz(d)
    assert torch.equal(dec.attributes, expected)  # same device, same ops: bit for bit
    assert torch.equal(dec.means, model.means)
    # block layout as documented: split_length(N-1, B)
    sizes = split_length(model.n_gaussians - 1, model.n_block)
    assert sum(sizes) == model.n_gaussians - 1 and len(sizes) == model.n_block


def test_bundle_and_directory_decode_identically(saved):
    _, d, _ = saved
    a, b = load_npz(d), load_npz(d + ".bundle")
    assert torch.equal(a.attributes, b.attributes) and torch.equal(a.means, b.means)
    with zipfile.ZipFile(d + ".bundle") as zf:
        assert zf.comment == BUNDLE_MAGIC
        for name, data in _files(d).items():
            assert zf.read(name) == data
    # the iteration folder resolves to pc_npz too
    assert torch.equal(load_npz(os.path.dirname(d)).attributes, a.attributes)


def test_save_load_save_is_byte_identical(saved, tmp_path):
    _, d, _ = saved
    dec = load_npz(d + ".bundle")
    d2 = tmp_path / "pc_npz"
    save_npz(dec.payload, str(d2))
    assert _files(d) == _files(str(d2))
    with open(d + ".bundle", "rb") as f1, open(str(d2) + ".bundle", "rb") as f2:
        assert f1.read() == f2.read()


@pytest.mark.parametrize("bits,dtype", [(4, np.uint8), (12, np.uint16)])
def test_other_bit_widths_round_trip_v1(tmp_path, bits, dtype):
    model = synthetic_quantized(n=120, sh_degree=0, n_block=3, bits=bits, seed=2)
    d = tmp_path / "pc_npz"
    save_npz(model.encode(codec="deflate"), str(d))
    n = model.n_gaussians
    with np.load(d / "ac.npz", allow_pickle=False) as z:
        assert "f_rest" not in z.files  # SH degree 0: no higher bands
        arr = z["f_dc"]
        assert arr.dtype == dtype
        assert arr.shape == (((3 * (n - 1)) * bits + 7) // 8,) if bits < 8 else (3 * (n - 1),)
    dec = load_npz(str(d))
    assert dec.attributes.shape == (n, 10)
    assert torch.equal(dec.attributes, _eval_quantized(model))
    assert np.array_equal(dec.payload.ac_codes, model.encode().ac_codes)


@pytest.mark.parametrize("bits", [1, 2, 3, 4, 5, 7, 8, 9, 12, 16])
def test_every_bit_width_round_trips_in_the_entropy_coded_format(tmp_path, bits):
    model = synthetic_quantized(n=120, sh_degree=0, n_block=3, bits=bits, seed=2)
    d = tmp_path / "pc_npz"
    payload = model.encode()
    save_npz(payload, str(d))
    dec = load_npz(str(d))
    assert dec.manifest["format_version"] == FORMAT_VERSION
    assert dec.payload.ac_codes.dtype == (np.uint8 if bits <= 8 else np.uint16)
    assert np.array_equal(dec.payload.ac_codes, payload.ac_codes)
    assert torch.equal(dec.attributes, _eval_quantized(model))


def test_lsq_payload_round_trip(tmp_path):
    model = synthetic_quantized(n=150, sh_degree=1, n_block=4, quantizer="lsq", seed=3)
    d = tmp_path / "pc_npz"
    save_npz(model.encode(), str(d))
    dec = load_npz(str(d))
    assert dec.manifest["quantizer"] == "lsq"
    assert torch.equal(dec.attributes, _eval_quantized(model))


def test_codecs_decode_the_same(tmp_path):
    model = synthetic_quantized(n=200, sh_degree=1, n_block=4, seed=4)
    ref = None
    for codec in ("range", "deflate"):
        d = tmp_path / codec / "pc_npz"
        save_npz(model.encode(codec=codec), str(d))
        dec = load_npz(str(d))
        assert dec.manifest["codec"] == codec
        ref = dec.attributes if ref is None else ref
        assert torch.equal(dec.attributes, ref)
    # the other zip methods are no longer written, but format-1 files that use them are still read
    with pytest.raises(ValueError, match="not written"):
        save_npz(model.encode(codec="lzma"), str(tmp_path / "lzma" / "pc_npz"))
    deflated = tmp_path / "deflate" / "pc_npz"
    for method_name, method in (("lzma", zipfile.ZIP_LZMA), ("bzip2", zipfile.ZIP_BZIP2), ("store", zipfile.ZIP_STORED)):
        d = tmp_path / method_name / "pc_npz"
        d.mkdir(parents=True)
        files = {}
        for name in sorted(os.listdir(deflated)):
            data = (deflated / name).read_bytes()
            if name.endswith(".npz"):
                buf = io.BytesIO()
                with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(buf, "w", method) as dst:
                    for info in src.infolist():
                        dst.writestr(info.filename, src.read(info.filename))
                data = buf.getvalue()
            files[name] = data
        manifest = json.loads(files.pop("manifest.json"))
        manifest["codec"] = method_name
        manifest.pop("files")
        from codec.container import manifest_bytes

        files = {"manifest.json": manifest_bytes(manifest, files), **files}
        for name, data in files.items():
            (d / name).write_bytes(data)
        dec = load_npz(str(d))
        assert dec.manifest["codec"] == method_name and torch.equal(dec.attributes, ref)


def test_export_ply_readable_by_project_reader_and_plyfile(saved, tmp_path):
    from plyfile import PlyData

    from scene.ply_io import read_gaussian_ply
    from utils.rotations import euler_to_quat

    model, d, _ = saved
    dec = load_npz(d)
    path = tmp_path / "decoded.ply"
    export_ply(dec, str(path))
    arrays = read_gaussian_ply(str(path))
    assert arrays["means"].shape == (model.n_gaussians, 3)
    assert np.array_equal(arrays["means"], dec.means.numpy())
    assert np.array_equal(arrays["opacities"], dec.attributes[:, 0].numpy())
    assert np.allclose(arrays["quats"], euler_to_quat(dec.attributes[:, 1:4]).numpy())
    ply = PlyData.read(str(path))
    names = [p.name for p in ply["vertex"].properties]
    assert names[:3] == ["x", "y", "z"] and "f_rest_44" in names and "rot_3" in names
    assert ply["vertex"].count == model.n_gaussians


# ------------------------------------------------------------------------------- bad input

def _rewrite_member(bundle_path, name, data):
    with zipfile.ZipFile(bundle_path) as zf:
        members = [(n, zf.read(n)) for n in zf.namelist()]
        comment = zf.comment
    members = [(n, data if n == name else d) for n, d in members]
    with zipfile.ZipFile(bundle_path, "w") as zf:
        for n, d in members:
            zf.writestr(n, d)
        zf.comment = comment


@pytest.fixture
def fresh(tmp_path):
    model = synthetic_quantized(n=100, sh_degree=1, n_block=3, seed=5)
    d = tmp_path / "iteration_1" / "pc_npz"
    save_npz(model.encode(), str(d))
    return model, str(d)


def test_missing_path_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_npz(str(tmp_path / "nope"))
    with pytest.raises(FileNotFoundError, match="manifest.json"):
        load_npz(str(tmp_path))


def test_truncated_bundle(fresh):
    _, d = fresh
    b = d + ".bundle"
    data = open(b, "rb").read()
    with open(b, "wb") as fh:
        fh.write(data[: len(data) // 2])
    with pytest.raises(CompressedFormatError, match=r"pc_npz\.bundle.*(not a compressed bundle|truncated)"):
        load_npz(b)


def test_every_truncation_of_the_bundle_is_refused(fresh):
    _, d = fresh
    b = d + ".bundle"
    data = open(b, "rb").read()
    for frac in (0.0, 0.05, 0.2, 0.35, 0.5, 0.65, 0.8, 0.95, 0.999):
        with open(b, "wb") as fh:
            fh.write(data[: int(len(data) * frac)])
        with pytest.raises(CompressedFormatError, match=r"pc_npz\.bundle"):
            load_npz(b)


def test_foreign_files(fresh, tmp_path):
    _, d = fresh
    other = tmp_path / "foreign.zip"
    with zipfile.ZipFile(other, "w") as zf:
        zf.writestr("x.txt", "hello")
    with pytest.raises(CompressedFormatError, match="foreign.zip: foreign file"):
        load_npz(str(other))
    text = tmp_path / "notes.bundle"
    text.write_text("just text")
    with pytest.raises(CompressedFormatError, match="notes.bundle: not a compressed bundle"):
        load_npz(str(text))
    # a directory whose manifest names another format
    m = os.path.join(d, "manifest.json")
    manifest = json.load(open(m))
    manifest["format"] = "something-else"
    open(m, "w").write(json.dumps(manifest))
    with pytest.raises(CompressedFormatError, match="manifest.json: foreign file"):
        load_npz(d)


def test_newer_version_refused(fresh):
    _, d = fresh
    m = os.path.join(d, "manifest.json")
    manifest = json.load(open(m))
    manifest["format_version"] = FORMAT_VERSION + 1
    open(m, "w").write(json.dumps(manifest))
    with pytest.raises(CompressedFormatError, match="newer version"):
        load_npz(d)


def test_corrupted_file_in_directory(fresh):
    _, d = fresh
    p = os.path.join(d, "ac.npz")
    data = bytearray(open(p, "rb").read())
    data[len(data) // 2] ^= 0xFF
    open(p, "wb").write(bytes(data))
    with pytest.raises(CompressedFormatError, match=r"ac\.npz: SHA-256 mismatch"):
        load_npz(d)


def test_truncated_file_in_directory(fresh):
    _, d = fresh
    p = os.path.join(d, "geometry.npz")
    data = open(p, "rb").read()
    open(p, "wb").write(data[:-10])
    with pytest.raises(CompressedFormatError, match=r"geometry\.npz: size .* differs"):
        load_npz(d)


def test_missing_file_in_directory(fresh):
    _, d = fresh
    os.unlink(os.path.join(d, "t.npz"))
    with pytest.raises(CompressedFormatError, match=r"t\.npz: missing file"):
        load_npz(d)


def test_inconsistent_sizes_detected_even_with_matching_hash(fresh):
    """A well-formed but inconsistent file (e.g. another writer's bug) is refused, not misread."""
    model, d = fresh
    with np.load(os.path.join(d, "t.npz")) as z:
        t = z["t"]
    rewrite_npz_member(d, "t.npz", {"t": t[:-2]})
    with pytest.raises(CompressedFormatError, match=r"t\.npz: t must be float64"):
        load_npz(d)


def test_corrupted_member_in_bundle(fresh):
    _, d = fresh
    b = d + ".bundle"
    data = bytearray(open(os.path.join(d, "dc.npz"), "rb").read())
    data[-30] ^= 0x55
    _rewrite_member(b, "dc.npz", bytes(data))
    with pytest.raises(CompressedFormatError, match=r"pc_npz\.bundle:dc\.npz: (SHA-256|size)"):
        load_npz(b)


def test_interrupted_save_keeps_previous_copy(fresh, monkeypatch):
    model, d = fresh
    before = _files(d)
    before_bundle = open(d + ".bundle", "rb").read()
    model.log_scale.data += 0.5  # different content
    calls = {"n": 0}
    real = container.write_file_atomic

    def flaky(path, data):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt("simulated interruption")
        real(path, data)

    monkeypatch.setattr(container, "write_file_atomic", flaky)
    with pytest.raises(KeyboardInterrupt):
        save_npz(model.encode(), d)
    assert _files(d) == before
    assert open(d + ".bundle", "rb").read() == before_bundle
    parent = os.path.dirname(d)
    assert sorted(os.listdir(parent)) == ["pc_npz", "pc_npz.bundle"]  # no temporary leftovers
    monkeypatch.setattr(container, "write_file_atomic", real)
    save_npz(model.encode(), d)  # a complete save replaces it
    assert _files(d) != before
    assert torch.equal(load_npz(d).attributes, _eval_quantized(model))


def test_invalid_payload_refused_at_save(tmp_path):
    model = synthetic_quantized(n=80, sh_degree=0, n_block=2, seed=6)
    payload = model.encode()
    payload.dc[0] = np.nan
    with pytest.raises(ValueError, match="dc contains NaN"):
        save_npz(payload, str(tmp_path / "pc_npz"))
    assert not os.path.exists(tmp_path / "pc_npz")
