"""scripts/bench_image_free.py --repack: an earlier run's bundles rewritten by the current container, their
models checked equal, the new sizes scored (the README's image-free table comes from it)."""
from __future__ import annotations

import json
import os
import zipfile

import pytest

from codec import save_npz
from tests.compression_helpers import synthetic_quantized

pytest.importorskip("matplotlib")


def _stored_manifest_bundle(path: str, seed: int) -> int:
    """A bundle as written before the manifest was deflated (every member stored); returns its size."""
    model = synthetic_quantized(n=50, sh_degree=0, n_block=2, bits=16, quantizer="rd", seed=seed)
    pc = path[: -len(".bundle")] + "_src" + os.sep + "pc_npz"
    save_npz(model.encode(codec="range"), pc)
    with zipfile.ZipFile(pc + ".bundle") as src, zipfile.ZipFile(path, "w") as dst:
        for info in src.infolist():
            dst.writestr(zipfile.ZipInfo(info.filename, date_time=info.date_time), src.read(info.filename),
                         compress_type=zipfile.ZIP_STORED)
        dst.comment = src.comment
    return os.path.getsize(path)


def test_repack_rescores_an_earlier_run(tmp_path):
    from scripts.bench_image_free import main

    earlier = tmp_path / "earlier"
    (earlier / "toy" / "q40").mkdir(parents=True)
    sizes = {
        "default": _stored_manifest_bundle(str(earlier / "toy" / "default.bundle"), 1),
        "q40": _stored_manifest_bundle(str(earlier / "toy" / "q40" / "pc_npz.bundle"), 2),
        "ft40": _stored_manifest_bundle(str(earlier / "toy" / "ft_q40.bundle"), 3),
    }
    result = {"name": "toy", "file": "toy.ply", "bytes": 10_000, "n_gaussians": 50, "sh_degree": 0,
              "views": {"layout": "orbit"},
              "default": {"bytes": sizes["default"], "psnr": 40.0, "seconds": 1.0},
              "ours": [{"bytes": sizes["q40"], "psnr": 30.0, "quality": 40.0}],
              "ours_finetuned": [{"bytes": sizes["ft40"], "psnr": 31.0, "quality": 40.0}],
              "competitors": [{"name": "SOG", "bytes": 3 * sizes["default"], "psnr": 35.0}]}
    (earlier / "bench_image_free.json").write_text(json.dumps([result]))
    out = tmp_path / "out"
    assert main(["--repack", str(earlier), "--out", str(out)]) == 0
    [res] = json.loads((out / "bench_image_free.json").read_text())
    assert res["repacked_from"] == str(earlier)
    for point, key in ((res["default"], "default"), (res["ours"][0], "q40"), (res["ours_finetuned"][0], "ft40")):
        assert point["bytes_before_repack"] == sizes[key]
        assert point["bytes"] < sizes[key]  # the manifest is deflated now
    assert os.path.getsize(out / "toy" / "default.bundle") == res["default"]["bytes"]
    sog = res["competitors"][0]
    assert sog["ratio"] == pytest.approx(sog["ours_bytes_at_equal_psnr"] / sog["bytes"])
    assert "rewritten with the current container" in (out / "bench_image_free.md").read_text()
