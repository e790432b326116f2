"""VGGT weight quantization: quantized layers, save/load, comparison report, size plan (CPU, tiny)."""
import copy
import importlib.util
import json
import os
import warnings

import numpy as np
import pytest
import torch
from torch import nn

from quant.core import symmetric_qparams
from quant.granularity import dequantize_with
from quant.packing import pack_codes, unpack_codes
from vggt_ext import VGGT, VGGTConfig
from vggt_ext.quantization import (DEFAULT_EXCLUDE, QUANT_TYPES, AdvancedQuantConfig, AsymmetricQuantizer,
                                   GroupWiseQuantizer, SymmetricQuantizer, plan_quantization,
                                   quantize_model_advanced, state_dict_bytes)
from vggt_ext.quantized_io import file_tensor_bytes, load_quantized, read_metadata, save_quantized
from vggt_ext.quantized_linear import (QuantizedConv2d, QuantizedConvTranspose2d, QuantizedLinear,
                                       QuantizedWeightModule, WeightQuantSpec, unpack_codes_torch)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


EPS32 = torch.finfo(torch.float32).eps


def _within_half_step(w, w_hat, scale_full):
    """|w − ŵ| ≤ scale/2 (exact arithmetic), plus float32 rounding of ŵ = s·(q − z) (a few ulp)."""
    w, w_hat = w.detach(), w_hat.detach()
    slack = 4 * EPS32 * w.abs().amax()
    return bool(((w_hat - w).abs() <= scale_full / 2 + slack).all())


def _load_script(name):
    spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, "scripts", f"{name}.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread():
    """Tiny tensors: one intra-op thread avoids OpenMP spin contention on a busy 2-core box
    (40× faster forward passes here); restored afterwards."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    cfg = VGGTConfig.tiny()
    model = VGGT(cfg).eval()
    images = torch.rand(2, 3, 42, 56, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ref = model(images)
    return cfg, model, images, ref


# ----------------------------------------------------------------------------- layers
@pytest.mark.parametrize("mapping", ["symmetric", "asymmetric"])
def test_int8_weight_error_within_half_scale(mapping):
    torch.manual_seed(0)
    lin = nn.Linear(300, 96)
    with torch.no_grad():
        lin.weight[3] *= 20.0  # one row with a much larger range: per-row scales must handle it
        lin.weight[5] = 0.0    # an all-zero row: degenerate range
    q = QuantizedLinear.from_float(lin, WeightQuantSpec(8, mapping, "axis"))
    assert q.qweight.dtype == (torch.int8 if mapping == "symmetric" else torch.uint8)
    assert tuple(q.qweight.shape) == (96, 300) and tuple(q.scale.shape) == (96,)
    assert _within_half_step(lin.weight, q.weight, q.scale.unsqueeze(1))
    assert float((q.weight - lin.weight).detach()[5].abs().max()) == 0.0
    # the row with 20× range gets a ~20× larger scale (per output channel, not per tensor)
    assert float(q.scale[3]) > 10 * float(q.scale[0])
    # dequantization is the quant core's, bit for bit
    assert torch.equal(q.dequantize_weight(), dequantize_with(q.codes(), q.qparams()))


def test_int8_symmetric_codes_match_torch_quantize_per_channel():
    torch.manual_seed(1)
    w = torch.randn(64, 200)
    q = QuantizedLinear.from_float(nn.Linear(200, 64).requires_grad_(False), WeightQuantSpec(8, "symmetric"))
    q.load_from_float_weight(w, None)
    with warnings.catch_warnings():  # torch deprecates its quantized dtypes; still the reference here
        warnings.simplefilter("ignore")
        tq = torch.quantize_per_channel(w, q.scale.double(), torch.zeros(64, dtype=torch.int64), 0, torch.qint8)
    diff = (tq.int_repr().to(torch.int16) - q.qweight.to(torch.int16)).abs()
    # same scales; torch may multiply by 1/scale instead of dividing, which can move an exact tie by one
    assert int(diff.max()) <= 1 and float((diff > 0).float().mean()) < 1e-3


def test_int4_group_packed_bytes_and_error():
    torch.manual_seed(2)
    lin = nn.Linear(512, 256)
    q = QuantizedLinear.from_float(lin, WeightQuantSpec(4, "symmetric", "group", 128))
    assert q.qweight.dtype == torch.uint8 and q.qweight.numel() == 512 * 256 // 2
    assert tuple(q.scale.shape) == (256, 4) and q.zero_point is None
    assert q.storage_bytes() == 512 * 256 // 2 + 256 * 4 * 4  # codes + one float32 scale per group
    assert q.fp32_weight_bytes() / q.storage_bytes() > 7.5
    codes = q.codes()
    assert int(codes.min()) >= -7 and int(codes.max()) <= 7
    scale_full = q.scale.repeat_interleave(128, dim=1)
    assert _within_half_step(lin.weight, q.weight, scale_full)
    x = torch.randn(3, 512)
    assert torch.allclose(q(x), torch.nn.functional.linear(x, q.weight, lin.bias), atol=1e-6)


def test_int4_ragged_last_group_has_its_own_scale():
    torch.manual_seed(3)
    lin = nn.Linear(200, 70)  # 200 = 128 + 72: the second group of every row is short
    for mapping in ("symmetric", "asymmetric"):
        q = QuantizedLinear.from_float(lin, WeightQuantSpec(4, mapping, "group", 128))
        assert q.qweight.numel() == (70 * 200 + 1) // 2
        assert tuple(q.scale.shape) == (70, 2)
        if mapping == "symmetric":
            expect = symmetric_qparams(lin.weight.detach()[:, 128:].abs().amax(dim=1), 4)
            assert torch.equal(q.scale[:, 1], expect)
        scale_full = q.scale.repeat_interleave(128, dim=1)[:, :200]
        assert _within_half_step(lin.weight, q.weight, scale_full)
        assert torch.equal(q.dequantize_weight(), dequantize_with(q.codes(), q.qparams()))


@pytest.mark.parametrize("bits", [2, 4])
@pytest.mark.parametrize("signed", [True, False])
def test_torch_unpack_matches_quant_packing(bits, signed):
    g = torch.Generator().manual_seed(bits)
    lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    for count in (1, 7, 1001):
        codes = torch.randint(lo, hi + 1, (count,), generator=g)
        packed = pack_codes(codes, bits, signed=signed)
        got = unpack_codes_torch(torch.from_numpy(packed), bits, count, signed)
        assert np.array_equal(got.numpy(), unpack_codes(packed, bits, count, signed=signed))
        assert torch.equal(got.to(torch.int64), codes)


def test_quantized_convs_match_float_convs_with_dequantized_weight():
    torch.manual_seed(4)
    x = torch.randn(1, 16, 9, 9)
    conv = nn.Conv2d(16, 32, 3, stride=2, padding=1)
    convt = nn.ConvTranspose2d(16, 8, 4, stride=4)
    for spec in (WeightQuantSpec(8, "asymmetric"), WeightQuantSpec(4, "symmetric", "group", 64)):
        qc = QuantizedConv2d.from_float(conv, spec)
        qt = QuantizedConvTranspose2d.from_float(convt, spec)
        ref_c = nn.functional.conv2d(x, qc.weight, conv.bias, 2, 1)
        ref_t = nn.functional.conv_transpose2d(x, qt.weight, convt.bias, 4)
        assert torch.equal(qc(x), ref_c) and torch.equal(qt(x), ref_t)
        assert qt(x).shape == (1, 8, 36, 36)


def test_multihead_attention_out_proj_can_be_quantized():
    torch.manual_seed(5)
    mha = nn.MultiheadAttention(64, 4, batch_first=True).eval()
    t = torch.randn(2, 5, 64)
    q = quantize_model_advanced(nn.Sequential(mha), AdvancedQuantConfig(min_numel=0))
    qm = q[0]
    assert isinstance(qm.out_proj, QuantizedLinear)
    ref = copy.deepcopy(mha)
    with torch.no_grad():
        ref.out_proj.weight.copy_(qm.out_proj.weight)
        assert torch.allclose(qm(t, t, t)[0], ref(t, t, t)[0], atol=1e-6)


def test_thin_quantizers_round_trip_through_quant():
    torch.manual_seed(6)
    w = torch.randn(16, 300)
    codes, scale = SymmetricQuantizer(8).quantize_tensor(w)
    assert codes.dtype == torch.int8 and scale.shape == (16,)
    assert _within_half_step(w, SymmetricQuantizer(8).dequantize_tensor(codes, scale), scale[:, None])
    codes, scale, zp = AsymmetricQuantizer(8).quantize_tensor(w)
    assert codes.dtype == torch.uint8
    assert _within_half_step(w, AsymmetricQuantizer(8).dequantize_tensor(codes, scale, zp), scale[:, None])
    codes, scales = GroupWiseQuantizer(4, 128).quantize_tensor(w)
    assert scales.shape == (16, 3) and int(codes.abs().max()) <= 7
    rec = GroupWiseQuantizer(4, 128).dequantize_tensor(codes, scales)
    assert _within_half_step(w, rec, scales.repeat_interleave(128, 1)[:, :300])


# ----------------------------------------------------------------------------- config / filter
def test_config_validation_messages():
    with pytest.raises(ValueError, match="quant_type"):
        AdvancedQuantConfig(quant_type="int3_magic")
    with pytest.raises(ValueError, match="bits"):
        AdvancedQuantConfig(quant_type="int8_symmetric", bits=4)
    with pytest.raises(ValueError, match="bits"):
        AdvancedQuantConfig(quant_type="int4_group", bits=3)
    with pytest.raises(ValueError, match="group_size"):
        AdvancedQuantConfig(quant_type="int4_group", group_size=0)
    assert AdvancedQuantConfig(quant_type="int4_group").bits == 4


def test_default_filter_and_include_patterns(tiny):
    cfg, model, _, _ = tiny
    q, rep = quantize_model_advanced(model, AdvancedQuantConfig(quant_type="int8_symmetric"), return_report=True)
    assert isinstance(q.aggregator.patch_embed.proj, nn.Conv2d)
    assert isinstance(q.camera_head.embed_pose, nn.Linear)
    assert isinstance(q.camera_head.pose_branch.fc2, nn.Linear)
    assert isinstance(q.depth_head.scratch.output_conv2[0], nn.Conv2d)
    assert isinstance(q.aggregator.frame_blocks[0].attn.qkv, QuantizedLinear)
    assert isinstance(q.depth_head.resize_layers[0], QuantizedConvTranspose2d)
    assert isinstance(q.point_head.scratch.layer1_rn, QuantizedConv2d)
    assert model is not q and isinstance(model.aggregator.frame_blocks[0].attn.qkv, nn.Linear)  # not in place
    skipped = {s["name"]: s["reason"] for s in rep.skipped}
    assert "excluded" in skipped["camera_head.embed_pose"]
    assert len(DEFAULT_EXCLUDE) == 4
    only_agg = quantize_model_advanced(model, AdvancedQuantConfig(include=("aggregator.*",)))
    names = [n for n, m in only_agg.named_modules() if isinstance(m, QuantizedWeightModule)]
    assert names and all(n.startswith("aggregator.") for n in names)


# ----------------------------------------------------------------------------- whole model
@pytest.mark.parametrize("quant_type", QUANT_TYPES)
def test_every_method_runs_with_right_shapes_and_round_trips_exactly(tiny, tmp_path, quant_type):
    cfg, model, images, ref = tiny
    q, rep = quantize_model_advanced(model, AdvancedQuantConfig(quant_type=quant_type), return_report=True)
    with torch.no_grad():
        out = q(images)
    S, H, W = 2, 42, 56
    assert out["pose_enc"].shape == (1, S, 9)
    assert out["depth"].shape == (1, S, H, W, 1) and out["depth_conf"].shape == (1, S, H, W)
    assert out["world_points"].shape == (1, S, H, W, 3) and out["world_points_conf"].shape == (1, S, H, W)
    for k in ("pose_enc", "depth", "world_points"):
        assert bool(torch.isfinite(out[k]).all())
    rel = float(((out["depth"] - ref["depth"]).abs() / ref["depth"]).mean())
    assert 0 < rel < 0.05  # quantization changed something, but not everything
    assert rep.to_dict()["n_quantized_layers"] > 0
    # save → load into a meta skeleton → identical tensors and identical outputs
    path = str(tmp_path / ("m.pt" if quant_type == "pytorch_dynamic" else "m.safetensors"))
    info = save_quantized(q, path)
    assert info["file_bytes"] == os.path.getsize(path)
    with torch.device("meta"):
        skeleton = VGGT(cfg)
    loaded = load_quantized(path, skeleton).eval()
    if quant_type != "pytorch_dynamic":
        sd_a, sd_b = q.state_dict(), loaded.state_dict()
        assert sd_a.keys() == sd_b.keys()
        assert all(torch.equal(sd_a[k], sd_b[k]) and sd_a[k].dtype == sd_b[k].dtype for k in sd_a)
    with torch.no_grad():
        out2 = loaded(images)
    for k in ("pose_enc", "depth", "world_points", "depth_conf"):
        assert torch.equal(out[k], out2[k])
    assert read_metadata(path)["quant_type"] == quant_type


def test_file_bytes_are_real_and_match_the_plan(tiny, tmp_path):
    cfg, model, _, _ = tiny
    fp_path = str(tmp_path / "fp32.safetensors")
    save_quantized(model, fp_path)
    fp_bytes = os.path.getsize(fp_path)
    assert fp_bytes >= 4 * sum(p.numel() for p in model.parameters())
    for quant_type, min_ratio in (("int8_symmetric", 3.2), ("int4_group", 5.0)):
        config = AdvancedQuantConfig(quant_type=quant_type)
        q = quantize_model_advanced(model, config)
        path = str(tmp_path / f"{quant_type}.safetensors")
        save_quantized(q, path)
        payload = sum(file_tensor_bytes(path).values())
        assert payload == state_dict_bytes(q) == plan_quantization(model, config)["model_bytes_after"]
        assert os.path.getsize(path) - payload < 0.05 * payload  # header only
        assert fp_bytes / os.path.getsize(path) > min_ratio


def test_full_size_plan_meets_issue_targets():
    with torch.device("meta"):
        model = VGGT(VGGTConfig.vggt_1b())
    assert sum(p.numel() for p in model.parameters()) == 1_256_537_516
    for quant_type, (layers_min, whole_min) in {"int8_symmetric": (3.8, 3.3), "int8_asymmetric": (3.8, 3.3),
                                                "int4_group": (7.0, 5.0)}.items():
        plan = plan_quantization(model, AdvancedQuantConfig(quant_type=quant_type))
        assert plan["quantized_layers_ratio"] >= layers_min, (quant_type, plan)
        assert plan["model_ratio"] >= whole_min, (quant_type, plan)


def test_pytorch_dynamic_says_when_the_api_is_missing(monkeypatch):
    import torch.ao.quantization as taq

    monkeypatch.delattr(taq, "quantize_dynamic")
    with pytest.raises(RuntimeError, match="quantize_dynamic"):
        quantize_model_advanced(nn.Sequential(nn.Linear(64, 64)), AdvancedQuantConfig(quant_type="pytorch_dynamic"))


def test_load_rejects_wrong_architecture(tiny, tmp_path):
    cfg, model, _, _ = tiny
    q = quantize_model_advanced(model, AdvancedQuantConfig(quant_type="int8_symmetric"))
    path = str(tmp_path / "q.safetensors")
    save_quantized(q, path)
    with torch.device("meta"):
        other = VGGT(VGGTConfig.tiny(embed_dim=32))
    with pytest.raises(ValueError):
        load_quantized(path, other)
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all}")
    with pytest.raises(ValueError):
        load_quantized(str(bad), copy.deepcopy(model))


# ----------------------------------------------------------------------------- scripts
@pytest.fixture(scope="module")
def comparison(tmp_path_factory):
    from PIL import Image

    root = tmp_path_factory.mktemp("cmp")
    img_dir = root / "images"
    img_dir.mkdir()
    rng = np.random.default_rng(0)
    base = (rng.random((60, 80, 3)) * 255).astype(np.uint8)
    for k in range(2):
        Image.fromarray(np.roll(base, 6 * k, axis=1)).save(img_dir / f"img_{k}.png")
    out = root / "out"
    cq = _load_script("compare_quantization")
    rc = cq.main(["--image_folder", str(img_dir), "--max_images", "2", "--output_dir", str(out),
                  "--image_size", "56", "--repeats", "1", "--no_progress", "--keep_models"])
    assert rc == 0
    return cq, out, img_dir


def test_compare_report_holds_every_field(comparison):
    _, out, _ = comparison
    rep = json.loads((out / "comparison_report.json").read_text())
    assert "tiny random-weight model" in rep["warning"]
    assert rep["model"]["random_weights"] is True and rep["images"]["n_images"] == 2
    assert list(rep["methods"]) == ["fp32"] + list(QUANT_TYPES)
    fp_bytes = rep["methods"]["fp32"]["file_bytes"]
    for name, m in rep["methods"].items():
        for key in ("file_bytes", "compression_ratio", "inference_time_s", "inference_times_s",
                    "peak_memory_bytes", "peak_memory_extra_bytes", "model_memory_bytes"):
            assert m[key] is not None, (name, key)
        # sizes are bytes on disk of the saved model files
        assert m["file_bytes"] == os.path.getsize(out / "models" / m["file"])
        assert m["compression_ratio"] == pytest.approx(fp_bytes / m["file_bytes"], rel=1e-12)
        if name == "fp32":
            continue
        fid = m["fidelity"]
        for key in ("mae", "mse", "psnr", "data_range", "ssim", "abs_rel", "delta_1.25"):
            assert fid["depth"][key] is not None, (name, key)
        for key in ("mae", "mse", "psnr", "data_range"):
            assert fid["world_points"][key] is not None and fid["pose_enc"][key] is not None
        for key in ("rotation_error_deg_mean", "translation_angle_deg_mean", "quaternion_sign_flips"):
            assert key in fid["pose_enc"]
        assert m["quantization"]["n_quantized_layers"] > 0
    assert rep["methods"]["int4_group"]["compression_ratio"] > 4.5
    assert rep["recommendation"]["method"] in QUANT_TYPES
    summary = (out / "comparison_summary.txt").read_text()
    assert "WARNING: tiny random-weight model" in summary and "Recommendation:" in summary
    assert all(name in summary for name in QUANT_TYPES)
    from PIL import Image

    assert Image.open(out / "comparison_plots.png").size[0] > 800
    preds = np.load(out / "predictions.npz")
    assert preds["int4_group/depth"].shape == preds["fp32/depth"].shape


def test_compare_fails_cleanly_on_bad_input(comparison, tmp_path, capsys):
    cq, _, img_dir = comparison
    assert cq.main(["--image_folder", str(tmp_path / "missing"), "--output_dir", str(tmp_path / "o")]) == 2
    empty = tmp_path / "empty"
    empty.mkdir()
    assert cq.main(["--image_folder", str(empty), "--output_dir", str(tmp_path / "o")]) == 2
    bad = tmp_path / "model.pt"
    bad.write_bytes(b"not a checkpoint")
    assert cq.main(["--image_folder", str(img_dir), "--checkpoint", str(bad), "--output_dir", str(tmp_path / "o")]) == 2
    assert cq.main(["--image_folder", str(img_dir), "--methods", "int5_weird", "--output_dir", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 4 and all(line.startswith("error: ") for line in err)


def test_visualize_from_comparison(comparison, tmp_path):
    _, out, _ = comparison
    vis = _load_script("visualize_results")
    assert vis.main(["--results_dir", str(out), "--output_dir", str(tmp_path)]) == 0
    for name in ("depth_maps.png", "depth_error_maps.png", "point_clouds.png", "camera_trajectories.png"):
        assert (tmp_path / name).stat().st_size > 1000
    from plyfile import PlyData

    ply = PlyData.read(str(tmp_path / "point_clouds" / "int4_group.ply"))
    assert ply["vertex"].count == 2 * 42 * 56  # every pixel of both 42×56 frames (no confidence filter)
    assert set(ply["vertex"].data.dtype.names) == {"x", "y", "z", "red", "green", "blue"}


def test_bench_plan_only_quick(tmp_path):
    bench = _load_script("bench_vggt_quant")
    assert bench.main(["--quick", "--plan_only", "--out", str(tmp_path)]) == 0
    res = json.loads((tmp_path / "bench_vggt_quant_plan_quick.json").read_text())
    assert set(res["plan"]) == {"int8_symmetric", "int8_asymmetric", "int4_group"}
