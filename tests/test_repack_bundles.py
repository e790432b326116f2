"""The bundle container deflates the manifest (codec/container.py DEFLATED_MEMBERS), older bundles with a
stored manifest still load, and scripts/repack_bundles.py turns one into the other without changing the
model."""
from __future__ import annotations

import os
import shutil
import zipfile

import numpy as np
import pytest
import torch

from codec import load_npz
from codec.report import describe_compressed
from scripts.repack_bundles import main as repack_main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURE = os.path.join(ROOT, "tests", "fixtures", "v3", "rd16_klt", "pc_npz.bundle")


def _methods(bundle: str) -> dict:
    with zipfile.ZipFile(bundle) as zf:
        return {i.filename: i.compress_type for i in zf.infolist()}


def test_new_bundles_deflate_the_manifest_only(tmp_path):
    from codec import save_npz
    from tests.compression_helpers import synthetic_quantized

    model = synthetic_quantized(n=60, sh_degree=1, n_block=2, bits=16, quantizer="rd", seed=5)
    pc = str(tmp_path / "m" / "pc_npz")
    save_npz(model.encode(codec="range"), pc)
    methods = _methods(pc + ".bundle")
    assert methods.pop("manifest.json") == zipfile.ZIP_DEFLATED
    assert set(methods.values()) == {zipfile.ZIP_STORED}
    summary = describe_compressed(pc + ".bundle")
    assert sum(summary.component_bytes.values()) == os.path.getsize(pc + ".bundle")
    with zipfile.ZipFile(pc + ".bundle") as zf:
        assert summary.component_bytes["manifest"] == zf.getinfo("manifest.json").compress_size


@pytest.mark.skipif(not os.path.isfile(FIXTURE), reason="no frozen v3 fixture")
def test_repacking_an_old_bundle_keeps_the_model_and_saves_bytes(tmp_path, capsys):
    old = str(tmp_path / "old.bundle")
    shutil.copyfile(FIXTURE, old)
    assert _methods(old)["manifest.json"] == zipfile.ZIP_STORED  # written before the change
    before = load_npz(old)
    assert repack_main([old, "--out_dir", str(tmp_path / "new")]) == 0
    new = str(tmp_path / "new" / "old.bundle")
    assert os.path.getsize(new) < os.path.getsize(old)
    assert _methods(new)["manifest.json"] == zipfile.ZIP_DEFLATED
    after = load_npz(new)
    assert np.array_equal(before.payload.ac_codes, after.payload.ac_codes)
    assert torch.equal(before.attributes, after.attributes) and torch.equal(before.means, after.means)
    assert repack_main([str(tmp_path / "missing.bundle")]) == 2
    assert "not a .bundle file" in capsys.readouterr().err
