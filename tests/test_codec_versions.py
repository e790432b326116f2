"""Format versions and damage: committed v1 and v2 files still load; every mutation of a v1 or v3 file
(bit flip, byte overwrite, truncation, insertion) is refused with one CompressedFormatError naming
the file, or leaves the decoded scene bit-identical; interrupted saves leave no litter."""
import os
import shutil

import numpy as np
import pytest
import torch

from codec import FORMAT_VERSION, CompressedFormatError, load_npz, save_npz
from codec.io import WRITTEN_VERSION
from tests.compression_helpers import one_thread, synthetic_quantized

_one_thread = pytest.fixture(autouse=True, scope="module")(one_thread)
FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "v1")


@pytest.mark.parametrize("bits,path", [(8, "bits8/pc_npz"), (8, "bits8/pc_npz.bundle"), (4, "bits4/pc_npz.bundle")])
def test_committed_v1_fixture_still_loads(bits, path):
    """Written by the code of commit 12573d9 (its script: scripts/make_v1_fixture.py in commit 13f0b9b)."""
    dec = load_npz(os.path.join(FIXTURES, path))
    expected = np.load(os.path.join(FIXTURES, f"expected_{bits}.npz"))
    assert dec.manifest["format_version"] == 1 and dec.manifest["codec"] == "deflate" and dec.payload.bits == bits
    assert np.array_equal(dec.payload.ac_codes, expected["ac_codes"])
    assert np.array_equal(dec.attributes.numpy(), expected["attributes"])
    assert np.array_equal(dec.means.numpy(), expected["means"])


@pytest.mark.parametrize("version", [4, 6])
@pytest.mark.parametrize("name,quantizer,bits,klt,frame", [("rd16_klt_frame", "rd", 16, True, True),
                                                           ("vanilla8", "vanilla", 8, False, False)])
def test_committed_v4_and_v6_fixtures_still_load(version, name, quantizer, bits, klt, frame):
    """Frozen v4 bytes (scripts/make_format_fixture.py): version 3 plus the coding frame; v6: version 4
    with integer probability tables (codec/entropy.py) and geometric AC models only."""
    folder = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", f"v{version}")
    dec = load_npz(os.path.join(folder, name, "pc_npz.bundle"))
    expected = np.load(os.path.join(folder, f"expected_{name}.npz"))
    assert dec.manifest["format_version"] == version and dec.manifest["codec"] == "range"
    if version >= 6:
        assert set(dec.manifest["entropy"]["ac_channel_models"]) == {"geometric"}
    assert dec.payload.bits == bits and dec.payload.quantizer == quantizer
    assert (dec.payload.channel_basis is not None) == klt
    assert np.array_equal(dec.payload.frame, expected["frame"])
    assert (dec.payload.frame.tolist() != [1.0, 0.0, 0.0, 0.0]) == frame
    assert np.array_equal(dec.payload.ac_codes, expected["ac_codes"])
    assert np.array_equal(dec.attributes.numpy(), expected["attributes"])
    assert np.array_equal(dec.means.numpy(), expected["means"])
    world = dec.arrays()
    assert np.array_equal(world["quats"], expected["quats"]) and np.array_equal(world["shN"], expected["shN"])


FIXTURES_V2 = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "v2")


@pytest.mark.parametrize("name,quantizer,bits", [("rd16", "rd", 16), ("vanilla8", "vanilla", 8)])
def test_committed_v2_fixture_still_loads(name, quantizer, bits):
    """Frozen v2 bytes (scripts/make_format_fixture.py at commit 18a7948, then make_v2_fixture.py)."""
    dec = load_npz(os.path.join(FIXTURES_V2, name, "pc_npz.bundle"))
    expected = np.load(os.path.join(FIXTURES_V2, f"expected_{name}.npz"))
    assert dec.manifest["format_version"] == 2 and dec.manifest["codec"] == "range"
    assert dec.payload.bits == bits and dec.payload.quantizer == quantizer
    assert np.array_equal(dec.payload.ac_codes, expected["ac_codes"])
    assert np.array_equal(dec.attributes.numpy(), expected["attributes"])
    assert np.array_equal(dec.means.numpy(), expected["means"])


FIXTURES_V3 = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "v3")


@pytest.mark.parametrize("name,quantizer,bits,klt", [("rd16_klt", "rd", 16, True), ("vanilla8", "vanilla", 8, False)])
def test_committed_v3_fixture_still_loads(name, quantizer, bits, klt):
    """Frozen v3 bytes (scripts/make_format_fixture.py): version 2 plus the channel transform member."""
    dec = load_npz(os.path.join(FIXTURES_V3, name, "pc_npz.bundle"))
    expected = np.load(os.path.join(FIXTURES_V3, f"expected_{name}.npz"))
    assert dec.manifest["format_version"] == 3 and dec.manifest["codec"] == "range"
    assert dec.payload.bits == bits and dec.payload.quantizer == quantizer
    assert (dec.payload.channel_basis is not None) == klt
    if klt:
        assert np.array_equal(dec.payload.channel_basis, expected["basis"])
    assert np.array_equal(dec.payload.ac_codes, expected["ac_codes"])
    assert np.array_equal(dec.attributes.numpy(), expected["attributes"])
    assert np.array_equal(dec.means.numpy(), expected["means"])


def test_v1_fixture_rewritten_in_the_current_version_decodes_identically(tmp_path):
    dec = load_npz(os.path.join(FIXTURES, "bits8", "pc_npz.bundle"))
    dec.payload.codec = "range"
    save_npz(dec.payload, str(tmp_path / "pc_npz"))
    now = load_npz(str(tmp_path / "pc_npz.bundle"))
    assert now.manifest["format_version"] == WRITTEN_VERSION["range"] == FORMAT_VERSION
    assert torch.equal(now.attributes, dec.attributes) and torch.equal(now.means, dec.means)


def _random_basis(c: int, seed: int) -> torch.Tensor:
    """An orthonormal [C, C] basis, block diagonal like the fitted ones but random."""
    from codec.channel_layout import layout_for_sh_degree

    g = torch.Generator().manual_seed(seed)
    basis = torch.eye(c, dtype=torch.float64)
    degree = next(d for d in range(4) if layout_for_sh_degree(d).n_channels == c)
    for name, sl in layout_for_sh_degree(degree).group_slices().items():
        if name in ("f_dc", "f_rest") and sl.stop - sl.start > 1:
            q, _ = torch.linalg.qr(torch.randn(sl.stop - sl.start, sl.stop - sl.start, generator=g, dtype=torch.float64))
            basis[sl, sl] = q
    return basis.to(torch.float32)


def test_channel_transform_round_trips_bit_exactly(tmp_path):
    """The decoder applies the stored basis exactly as the training forward does."""
    plain = synthetic_quantized(n=150, sh_degree=1, n_block=4, quantizer="rd", bits=16, seed=23)
    model = synthetic_quantized(n=150, sh_degree=1, n_block=4, quantizer="rd", bits=16, seed=23)
    model.channel_basis = _random_basis(plain.layout.n_channels, 3)
    model.calibrate()
    save_npz(model.encode(), str(tmp_path / "pc_npz"))
    dec = load_npz(str(tmp_path / "pc_npz.bundle"))
    assert dec.manifest["format_version"] == FORMAT_VERSION and dec.payload.channel_basis is not None
    model.bank.eval()
    with torch.no_grad():
        assert torch.equal(dec.attributes, model.quantized_attributes())
        # the codes are those of the coded channels: not the same as without the transform
        assert not np.array_equal(dec.payload.ac_codes, plain.encode().ac_codes)
    with pytest.raises(ValueError, match="no channel transform"):
        save_npz(model.encode(codec="deflate"), str(tmp_path / "v1"))


@pytest.fixture(scope="module", params=["range", "range+klt", "deflate"])
def original(tmp_path_factory, request):
    model = synthetic_quantized(n=150, sh_degree=1, n_block=4, seed=21)
    codec = request.param.split("+")[0]
    if request.param.endswith("+klt"):
        model.channel_basis = _random_basis(model.layout.n_channels, 4)
        model.calibrate()
    d = tmp_path_factory.mktemp(request.param) / "pc_npz"
    save_npz(model.encode(codec=codec), str(d))
    ref = load_npz(str(d))
    files = {name: open(os.path.join(d, name), "rb").read() for name in os.listdir(d)}
    return str(d), files, open(str(d) + ".bundle", "rb").read(), ref


def _mutations(data: bytes, rng, count: int):
    n = len(data)
    for _ in range(count):
        i = int(rng.integers(0, n))
        flipped = bytearray(data)
        flipped[i] ^= 1 << int(rng.integers(0, 8))
        yield "bit flip", bytes(flipped)
        over = bytearray(data)
        over[i] = (over[i] + int(rng.integers(1, 256))) % 256
        yield "byte overwrite", bytes(over)
        yield "truncation", data[:i]
        yield "insertion", data[:i] + bytes(rng.integers(0, 256, size=int(rng.integers(1, 9))).astype(np.uint8)) + data[i:]


def _check(path, label, kind, ref):
    try:
        dec = load_npz(path)
    except CompressedFormatError as exc:
        assert label in str(exc), f"{kind}: message does not name the file: {exc}"
        assert "\n" not in str(exc)
        return "refused"
    same = torch.equal(dec.attributes, ref.attributes) and torch.equal(dec.means, ref.means)
    assert same, f"{kind} decoded to a different scene without an error"
    return "harmless"


def test_mutated_bundle_is_refused_or_harmless(original, tmp_path):
    _, _, bundle, ref = original
    rng = np.random.default_rng(1)
    path = str(tmp_path / "pc_npz.bundle")
    outcomes = []
    for kind, data in _mutations(bundle, rng, 25):
        open(path, "wb").write(data)
        outcomes.append(_check(path, "pc_npz.bundle", kind, ref))
    assert outcomes.count("refused") >= 0.8 * len(outcomes)


@pytest.mark.parametrize("name", ["manifest.json", "t.npz", "ac.npz", "geometry.npz", "transform.npz"])
def test_mutated_file_in_directory_is_refused_or_harmless(original, tmp_path, name):
    d, files, _, ref = original
    if name not in files:
        assert ref.manifest["format_version"] < 3  # versions 3 and 4 have a channel transform member
        return
    rng = np.random.default_rng(2)
    target = str(tmp_path / "pc_npz")
    shutil.copytree(d, target)
    for kind, data in _mutations(files[name], rng, 8):
        open(os.path.join(target, name), "wb").write(data)
        # a damaged manifest may be reported through the file whose entry it damaged
        outcome = _check(target, name if name != "manifest.json" else target, kind, ref)
        if name != "manifest.json":
            assert outcome == "refused", f"{kind} of {name} was not detected"


def test_stale_temporary_folders_are_removed_by_the_next_save(tmp_path):
    model = synthetic_quantized(n=60, sh_degree=0, n_block=2, seed=22)
    parent = tmp_path / "iteration_3"
    parent.mkdir()
    stale = parent / "pc_npz.tmp-abcd1234"  # what mkdtemp leaves when a save is killed
    stale.mkdir()
    (stale / "t.npz").write_bytes(b"half")
    old = parent / "pc_npz.old-x_y9Z0k1"
    old.mkdir()
    keep = [parent / "pc_npz.tmp-notmine", parent / "other.tmp-abcd1234", parent / "notes.txt"]
    keep[0].mkdir()
    keep[1].mkdir()
    keep[2].write_text("user file")
    save_npz(model.encode(), str(parent / "pc_npz"))
    names = sorted(os.listdir(parent))
    assert "pc_npz.tmp-abcd1234" not in names and "pc_npz.old-x_y9Z0k1" not in names
    assert all(p.exists() for p in keep)
    assert {"pc_npz", "pc_npz.bundle"} <= set(names)


def test_committed_v5_chunked_fixture_still_loads():
    """The frozen chunked file (format 5: the two v4 fixtures as chunks) decodes bit for bit."""
    from codec.chunked import read_index
    from compression.api import decompress

    folder = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "v5")
    path = os.path.join(folder, "chunks.bundle")
    index = read_index(path)
    assert index.n_chunks == 2 and index.configuration == {"fixture": "v5"}
    out = decompress(path)
    expected = np.load(os.path.join(folder, "expected_chunks.npz"))
    for k in ("means", "quats", "scales", "sh0", "shN"):
        assert np.array_equal(out[k], expected[k]), k
    assert np.array_equal(out["opacities"], expected["opacities"].reshape(-1))
