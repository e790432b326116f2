"""Chunked files (format 5): the spatial split, the index, damaged chunks, and the run end to end."""
from __future__ import annotations

import hashlib
import json
import os
import struct

import numpy as np
import pytest

from codec import CompressedFormatError, load_npz
from codec.chunked import (CHUNKED_MAGIC, chunked_bytes, is_chunked, load_chunks, parse_index, read_index)
from compression.chunking import share_target, spatial_chunks
from scene.transform import random_rotation
from tests.compression_helpers import one_thread, teacher_arrays

_threads = pytest.fixture(scope="module", autouse=True)(one_thread)

FIXTURE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "v4", "rd16_klt_frame", "pc_npz.bundle")


# ------------------------------------------------------------------------------ the split


def test_spatial_chunks_cover_every_row_once_in_bounded_compact_cells():
    rng = np.random.default_rng(0)
    means = np.concatenate([rng.normal(size=(3000, 3)) * [4.0, 1.0, 0.3], rng.normal(size=(1000, 3)) + [20, 0, 0]])
    parts = spatial_chunks(means, 700)
    rows = np.concatenate(parts)
    assert len(rows) == len(means) and len(np.unique(rows)) == len(means)
    assert all(350 <= len(p) <= 700 for p in parts)
    assert all(np.all(np.diff(p) > 0) for p in parts)  # ascending rows: the input order inside a chunk
    # compact: every chunk is narrower than the scene along its longest axis
    scene = np.ptp(means, axis=0).max()
    assert max(np.ptp(means[p], axis=0).max() for p in parts) < 0.6 * scene
    assert [len(p) for p in spatial_chunks(means, 10_000)] == [len(means)]  # small scenes: one chunk


def test_a_turned_copy_splits_into_the_same_chunks():
    rng = np.random.default_rng(1)
    means = rng.normal(size=(2000, 3)) * [3.0, 1.5, 0.5]
    turned = means @ random_rotation(np.random.default_rng(5)).T
    a = sorted(tuple(p) for p in spatial_chunks(means, 300))
    b = sorted(tuple(p) for p in spatial_chunks(turned, 300))
    assert a == b


def test_a_size_target_is_shared_by_count():
    assert share_target(1000, [100, 300], 200) == [200, 600]
    with pytest.raises(ValueError, match="leaves nothing"):
        share_target(100, [1, 1, 1], 99)


# ------------------------------------------------------------------------------ the container


def _fixture_chunks(tmp_path, n_chunks=2, boxes=None):
    """A chunked file of ``n_chunks`` copies of the frozen v4 bundle (each decodes on its own)."""
    data = open(FIXTURE, "rb").read()
    decoded = load_npz(FIXTURE)
    means = decoded.means.numpy()
    box = np.concatenate([means.min(0), means.max(0)])
    raw = chunked_bytes([data] * n_chunks, [decoded.n_gaussians] * n_chunks, boxes or [box] * n_chunks,
                        decoded.sh_degree, {"note": "test"})
    path = tmp_path / "scene.bundle"
    path.write_bytes(raw)
    return str(path), raw, decoded


def test_chunks_decode_alone_and_equal_the_bundle(tmp_path):
    path, raw, decoded = _fixture_chunks(tmp_path, 3)
    assert is_chunked(path) and not is_chunked(FIXTURE)
    index = read_index(path)
    assert index.n_chunks == 3 and index.n_gaussians == 3 * decoded.n_gaussians
    assert index.chunks[0].offset == index.data_offset and index.chunks[-1].offset + index.chunks[-1].bytes == len(raw)
    assert index.configuration == {"note": "test"}
    for r in load_chunks(path, which=[2, 0]):
        assert r.error is None
        assert np.array_equal(r.model.arrays()["means"], decoded.arrays()["means"])
        assert np.array_equal(r.model.arrays()["shN"], decoded.arrays()["shN"])
    # the index alone is enough to find a chunk: its bytes are a plain bundle
    c = index.chunks[1]
    assert raw[c.offset:c.offset + c.bytes] == open(FIXTURE, "rb").read()
    with pytest.raises(CompressedFormatError, match="chunked file"):
        load_npz(path)


def test_a_moved_bundle_decodes_to_the_same_model_moved(tmp_path):
    from codec.container import bundle_members
    from codec.io import shifted_bundle

    data = open(FIXTURE, "rb").read()
    base = load_npz(FIXTURE)
    assert base.payload.frame is not None and not np.allclose(base.payload.frame, [1, 0, 0, 0])  # a turned grid
    offset = np.array([3.5, -1.25, 0.5])
    path = tmp_path / "moved.bundle"
    path.write_bytes(shifted_bundle(data, offset, "fixture"))
    moved = load_npz(str(path))
    a, b = base.arrays(), moved.arrays()
    extent = float(np.ptp(a["means"], axis=0).max())
    np.testing.assert_allclose(b["means"], a["means"] + offset, atol=1e-5 * (extent + np.abs(offset).max()))
    for key in a:
        if key != "means":
            assert np.array_equal(a[key], b[key]), key
    before, after = bundle_members(data, "a"), bundle_members(path.read_bytes(), "b")
    assert list(before) == list(after)
    assert [k for k in before if before[k] != after[k]] == ["manifest.json", "geometry.npz"]


def test_tiled_bundle_is_one_moved_copy_per_chunk(tmp_path):
    from scripts.make_tiled_bundle import tiled_chunks

    path = tmp_path / "tiled.bundle"
    path.write_bytes(tiled_chunks(open(FIXTURE, "rb").read(), 3, "fixture"))
    index = read_index(str(path))
    base = load_npz(FIXTURE).arrays()["means"]
    step = 1.1 * float(np.ptp(base[:, 0]))
    assert index.n_chunks == 3 and index.configuration["copies"] == 3
    for i, r in enumerate(load_chunks(str(path))):
        assert r.error is None
        np.testing.assert_allclose(r.model.arrays()["means"], base + [i * step, 0, 0], atol=1e-5 * 4 * step)
    with pytest.raises(ValueError, match="at least 1"):
        tiled_chunks(open(FIXTURE, "rb").read(), 0, "fixture")


def test_a_damaged_chunk_is_named_and_the_others_still_decode(tmp_path):
    path, raw, _ = _fixture_chunks(tmp_path, 3)
    index = read_index(path)
    bad = bytearray(raw)
    bad[index.chunks[1].offset + index.chunks[1].bytes // 2] ^= 0x40
    open(path, "wb").write(bytes(bad))
    with pytest.raises(CompressedFormatError, match="chunk 1: SHA-256 mismatch"):
        load_chunks(path)
    results = load_chunks(path, partial=True)
    assert [r.error is None for r in results] == [True, False, True]
    assert "chunk 1" in results[1].error


@pytest.mark.parametrize("damage, message", [
    (lambda raw: raw[:-10], "truncated"),
    (lambda raw: raw + b"\0", "trailing bytes"),
    (lambda raw: raw[:30], "ends inside the index"),
    (lambda raw: raw[:25] + bytes([raw[25] ^ 1]) + raw[26:], "checksum mismatch"),
    (lambda raw: b"X" + raw[1:], "not a chunked file"),
])
def test_a_damaged_index_is_one_clear_error(tmp_path, damage, message):
    _, raw, _ = _fixture_chunks(tmp_path, 2)
    with pytest.raises(CompressedFormatError, match=message):
        parse_index(damage(raw), len(damage(raw)), "f")


def _resigned(raw: bytes, edit) -> bytes:
    """``raw`` with its index edited by ``edit(index dict)``, the offsets moved to the index's new length
    and the checksum rewritten to match: only what ``edit`` changed is wrong."""
    (length,) = struct.unpack("<I", raw[16:20])
    index = json.loads(raw[20:20 + length])
    rest = raw[20 + length + 32:]
    edit(index)
    new_length = length
    for _ in range(4):
        shift = new_length - length
        moved = json.loads(json.dumps(index))
        for c in moved["chunks"]:
            c["offset"] += shift
        body = json.dumps(moved, sort_keys=True, separators=(",", ":")).encode()
        if len(body) == new_length:
            break
        new_length = len(body)
    head = CHUNKED_MAGIC + struct.pack("<I", len(body)) + body
    return head + hashlib.sha256(head).digest() + rest


@pytest.mark.parametrize("edit, message", [
    (lambda ix: ix.update(format_version=6), "newer version"),
    (lambda ix: ix.update(n_gaussians=ix["n_gaussians"] + 1), "not the sum"),
    (lambda ix: ix["chunks"][0].update(bbox=[0, 0, 0, float("nan"), 1, 1]), "finite"),
    (lambda ix: ix["chunks"][1].update(bbox=[1, 0, 0, 0, 1, 1]), "minimum above"),
    (lambda ix: ix["chunks"][0].update(sha256="00"), "hex"),
    (lambda ix: ix["chunks"][1].update(bytes=ix["chunks"][1]["bytes"] - 1), "trailing bytes"),
])
def test_a_well_signed_but_wrong_index_is_refused(tmp_path, edit, message):
    _, raw, _ = _fixture_chunks(tmp_path, 2)
    assert parse_index(_resigned(raw, lambda ix: None), len(raw), "f").n_chunks == 2  # the helper itself is sound
    bad = _resigned(raw, edit)
    with pytest.raises(CompressedFormatError, match=message):
        parse_index(bad, len(bad), "f")


def test_a_chunk_that_disagrees_with_its_index_is_refused(tmp_path):
    decoded = load_npz(FIXTURE)
    means = decoded.means.numpy()
    small = np.concatenate([means.min(0), means.min(0) + 1e-3 * np.ptp(means, axis=0)])
    path, _, _ = _fixture_chunks(tmp_path, 2, boxes=[np.concatenate([means.min(0), means.max(0)]), small])
    results = load_chunks(path, partial=True)
    assert results[0].error is None and "outside the index's bbox" in results[1].error


# ------------------------------------------------------------------------------ end to end

SMALL = dict(n_views=4, n_heldout_views=2, view_size=32, iterations=0)


@pytest.fixture(scope="module")
def chunked_run():
    from compression.api import compress

    splats = teacher_arrays(900, 1, seed=4)
    splats["means"][:, 0] *= 4.0  # a long scene: the split goes along x
    return splats, compress(splats, quality=50, chunk_size=500, **SMALL)


def test_compress_writes_chunks_that_decompress_to_the_scene(chunked_run, tmp_path):
    from compression.api import decompress, info

    splats, data = chunked_run
    assert data.startswith(CHUNKED_MAGIC)
    meta = info(data)
    assert meta["format_version"] == 5 and meta["n_chunks"] == 2 and meta["total_bytes"] == len(data)
    assert sum(c["n_gaussians"] for c in meta["chunks"]) == meta["n_gaussians"]
    assert all(c["format_version"] == 6 and c["heldout"]["n_views"] == 2 for c in meta["chunks"])
    assert len(meta["configuration"]["heldout"]["per_chunk"]) == 2
    out = decompress(data)
    assert out["means"].shape[0] == meta["n_gaussians"] <= 900
    # every decoded Gaussian lies in its chunk's box, and the boxes follow the split along x
    lo = [c["bbox"][0] for c in meta["chunks"]]
    assert lo == sorted(lo) or lo == sorted(lo, reverse=True)


def test_the_callers_arrays_are_kept_and_the_scratch_folder_is_removed(chunked_run, tmp_path, monkeypatch):
    """The chunks go through a scratch folder and the run drops its own copy of the input (the memory of one
    chunk, not of the scene); the caller's arrays are untouched and the folder is gone afterwards."""
    import tempfile

    from compression.api import compress

    splats, data = chunked_run
    assert all(splats[k].shape[0] == 900 for k in splats)  # the fixture's compress() left them as they were
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    kept = {k: v.copy() for k, v in splats.items()}
    assert compress(splats, quality=50, chunk_size=500, **SMALL) == data
    assert all(np.array_equal(splats[k], kept[k]) for k in kept)
    assert not [p for p in os.listdir(tmp_path) if p.startswith("chunks-")]


def test_the_runs_copy_of_the_input_is_freed_before_the_chunks_are_compressed(chunked_run, monkeypatch):
    """Once the chunks are in the scratch folder nothing holds the run's own copy of the input, so a scene
    of millions of Gaussians costs the parent process no memory while its chunks are compressed."""
    import gc
    import weakref

    import compression.api as api
    import compression.chunking as chunking
    from compression.api import compress

    splats, data = chunked_run
    copies, alive = [], []
    read = api._splat_arrays

    def recorded(*args, **kwargs):
        arrays, name, size = read(*args, **kwargs)
        copies.extend(weakref.ref(v) for v in arrays.values())
        return arrays, name, size

    run_chunks = chunking._compress_chunks

    def checked(*args, **kwargs):
        gc.collect()
        alive.extend(r() is not None for r in copies)
        return run_chunks(*args, **kwargs)

    monkeypatch.setattr(api, "_splat_arrays", recorded)
    monkeypatch.setattr(chunking, "_compress_chunks", checked)
    assert compress(splats, quality=50, chunk_size=500, **SMALL) == data
    assert len(alive) == len(copies) == 6 and not any(alive), alive


def test_decompress_cli_streams_a_ply_and_describes_the_chunks(chunked_run, tmp_path, capsys):
    import decompress as cli
    from compression.api import decompress
    from scene.ply_io import read_gaussian_ply

    _, data = chunked_run
    src = tmp_path / "scene.bundle"
    src.write_bytes(data)
    assert cli.main([str(src), "-o", str(tmp_path / "out.ply"), "--info"]) == 0
    text = capsys.readouterr().out
    assert "raht-gs-chunks version 5: 2 chunks" in text and "held-out      PSNR mean over chunks" in text
    ply = read_gaussian_ply(str(tmp_path / "out.ply"))
    whole = decompress(data)
    assert np.array_equal(ply["means"], whole["means"]) and np.array_equal(ply["shN"], whole["shN"])


def test_compress_cli_reports_each_chunk(tmp_path, capsys):
    import compress as cli
    from scene.ply_io import write_gaussian_ply

    splats = teacher_arrays(600, 0, seed=6)
    write_gaussian_ply(tmp_path / "in.ply", splats)
    out = tmp_path / "out.bundle"
    assert cli.main([str(tmp_path / "in.ply"), "-o", str(out), "--chunk_size", "300", "--n_views", "4",
                     "--n_heldout_views", "2", "--view_size", "32", "--iterations", "0", "--quiet",
                     "--workers", "2"]) == 0
    text = capsys.readouterr().out
    assert "2 chunks" in text and "chunk 0:" in text and "chunk 1:" in text and "worst chunk" in text
    assert "2 chunks at a time" in text
    assert read_index(str(out)).n_chunks == 2
    with pytest.raises(ValueError, match="chunk_size must be 0"):
        cli.main([str(tmp_path / "in.ply"), "-o", str(out), "--chunk_size", "5"])


def test_workers_write_the_same_file(chunked_run):
    """--workers 2: the chunks go to two processes (one CPU thread each here, as the sequential run has),
    and the file is the same, byte for byte."""
    from compression.api import compress

    splats, data = chunked_run
    assert compress(splats, quality=50, chunk_size=500, workers=2, **SMALL) == data
    with pytest.raises(ValueError, match="--workers must be an integer >= 1"):
        compress(splats, chunk_size=500, workers=0, **SMALL)


def test_a_size_target_holds_for_the_whole_chunked_file():
    from compression.api import compress, info

    splats = teacher_arrays(900, 1, seed=8)
    splats["means"][:, 0] *= 4.0
    data = compress(splats, target_size=40_000, chunk_size=500, **SMALL)
    assert data.startswith(CHUNKED_MAGIC) and len(data) <= 40_000
    assert len(data) >= 0.9 * 40_000  # the chunks share the target (each lands within 3 % under its share)
    assert info(data)["configuration"]["target_size"] == 40_000


def test_tiled_copies_split_into_one_copy_per_chunk():
    """The scale benchmark's proxy: k copies along x that do not overlap; the split cuts along x between whole
    chunks' worth, so with a chunk size of one copy each chunk is exactly one copy, for any k."""
    from scene.transform import tiled_copies

    one = teacher_arrays(400, 0, seed=11)
    four = tiled_copies(one, 4)
    assert four["means"].shape == (1600, 3) and np.array_equal(four["means"][:400], one["means"])
    for k in (3, 4, 6):
        parts = spatial_chunks(tiled_copies(one, k)["means"], 400)
        assert sorted(p.tolist() for p in parts) == [list(range(400 * i, 400 * (i + 1))) for i in range(k)], k


def test_a_chunk_that_is_a_copy_codes_like_the_copy_alone():
    """Fidelity does not fall with the scene's size where the content is the same: each chunk of two
    non-overlapping copies is coded as the copy alone would be (its own views, schedule and quality), up
    to the float rounding of the shifted positions."""
    from compression.api import compress, info
    from scene.transform import tiled_copies

    one = teacher_arrays(600, 1, seed=12)
    alone = info(compress(one, **SMALL))
    two = info(compress(tiled_copies(one, 2), chunk_size=600, **SMALL))
    assert two["n_chunks"] == 2
    for chunk in two["chunks"]:
        assert chunk["n_gaussians"] == alone["n_gaussians"] and chunk["depth"] == alone["depth"]
        assert abs(chunk["bytes"] - alone["total_bytes"]) <= 0.005 * alone["total_bytes"], (chunk, alone)
        assert abs(chunk["heldout"]["psnr"] - alone["heldout"]["psnr"]) <= 0.05, (chunk["heldout"], alone["heldout"])
