#!/usr/bin/env python
"""Benchmark VGGT weight quantization: bytes on disk per method, CPU inference time, output error.

    python scripts/bench_vggt_quant.py                 # full VGGT-1B architecture, random weights, CPU
    python scripts/bench_vggt_quant.py --quick         # tiny model (smoke test, seconds)
    python scripts/bench_vggt_quant.py --image_size 280 --repeats 2 --out bench_out/vggt_quant

The full run builds ``VGGT(VGGTConfig.vggt_1b())`` (1,256,537,516 float32 parameters with the
track head: a 5.03 GB state dict; needs about 12 GB of RAM at peak) with random weights, saves it
with ``save_quantized`` as the FP32 baseline, then for each method quantizes a copy, saves it,
**reloads it from the file** into a meta-device skeleton, times one forward pass on one frame
(``--image_size``² px, 518 by default) and compares its outputs with FP32.

Reported per method (JSON + markdown table in ``--out``):
- ``file_bytes`` (os.path.getsize) and ``whole_model_ratio`` = FP32 file bytes / method file bytes;
- ``quantized_layers_ratio_on_disk``: over the layers the method quantized, the bytes their float32
  weights take in the FP32 file / the bytes their codes + scales + zero points take in the
  method's file (both read from the safetensors headers; biases excluded on both sides);
- median CPU inference time and its ratio to FP32; depth / world_points / pose errors vs FP32.
Targets checked: int8 ≥ 3.8× over quantized layers and ≥ 3.3× whole model; int4 with
groups of 128 ≥ 7× over quantized layers and ≥ 5× whole model.
Reference point: torchao's ``Int8WeightOnlyConfig`` (``quantize_``, Linear layers) on the same
model, size via ``torch.save`` of its state dict, if ``torchao`` imports; otherwise reported as
unavailable. Random weights: the errors show the mechanics, not VGGT-1B's real accuracy.
"""
from __future__ import annotations

import argparse
import copy
import gc
import json
import logging
import os
import platform
import shutil
import sys
import tempfile
import time
from typing import Any, Dict, List, Optional

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

TARGETS = {  # method → (min ratio over quantized layers, min whole-model ratio)
    "int8_symmetric": (3.8, 3.3),
    "int8_asymmetric": (3.8, 3.3),
    "int4_group": (7.0, 5.0),
}


def synthetic_frame(size: int, seed: int = 0):
    """One deterministic [1,3,size,size] image in [0,1]: smooth colour gradients + texture."""
    import numpy as np
    import torch

    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size] / max(size - 1, 1)
    chans = []
    for c in range(3):
        f = rng.uniform(2, 9, size=2)
        chans.append(0.5 + 0.25 * np.sin(2 * np.pi * (f[0] * x + c / 3)) * np.cos(2 * np.pi * f[1] * y)
                     + 0.1 * rng.standard_normal((size, size)))
    img = np.clip(np.stack(chans), 0, 1).astype(np.float32)
    return torch.from_numpy(img)[None]


def quantized_layer_disk_bytes(fp_tensor_bytes: Dict[str, int], q_tensor_bytes: Dict[str, int],
                               layers: List[str]) -> Dict[str, int]:
    """Bytes on disk of the quantized layers' weights: FP32 file (``<layer>.weight``) vs method file
    (``<layer>.qweight`` + ``.scale`` + ``.zero_point``)."""
    fp = sum(fp_tensor_bytes[f"{n}.weight"] for n in layers)
    q = sum(q_tensor_bytes.get(f"{n}.{k}", 0) for n in layers for k in ("qweight", "scale", "zero_point"))
    return {"fp32_bytes": int(fp), "quantized_bytes": int(q)}


def _error_summary(fid: Dict[str, Any]) -> Dict[str, Any]:
    d, p, e = fid.get("depth", {}), fid.get("world_points", {}), fid.get("pose_enc", {})
    return {"depth_mae": d.get("mae"), "depth_abs_rel": d.get("abs_rel"), "depth_delta_1.25": d.get("delta_1.25"),
            "depth_psnr": d.get("psnr"), "depth_data_range": d.get("data_range"),
            "world_points_mae": p.get("mae"), "world_points_psnr": p.get("psnr"),
            "pose_enc_mae": e.get("mae"), "rotation_error_deg_mean": e.get("rotation_error_deg_mean")}


def run_torchao(model, images, ref, repeats: int, tmpdir: str) -> Dict[str, Any]:
    """torchao Int8WeightOnlyConfig on a copy of ``model``; {available: False, reason} if it cannot run."""
    import torch

    from vggt_ext.compare import evaluate_model, fidelity_metrics

    try:
        import torchao
        from torchao.quantization import Int8WeightOnlyConfig, quantize_
    except Exception as exc:  # ImportError or a broken install
        return {"available": False, "reason": f"torchao not importable: {type(exc).__name__}: {exc}"}
    try:
        m = copy.deepcopy(model)
        quantize_(m, Int8WeightOnlyConfig())
        path = os.path.join(tmpdir, "torchao_int8wo.pt")
        torch.save(m.state_dict(), path)
        size = os.path.getsize(path)
        ev = evaluate_model(m, images, repeats)
        res = {"available": True, "version": getattr(torchao, "__version__", "?"),
               "config": "torchao.quantization.Int8WeightOnlyConfig() via quantize_ (Linear layers only)",
               "file_bytes": int(size), "file_format": "torch.save(state_dict)",
               "inference_time_s": ev["timing"]["median_s"], "inference_times_s": ev["timing"]["times_s"],
               "errors": _error_summary(fidelity_metrics(ev["outputs"], ref))}
        del m
        return res
    except Exception as exc:
        return {"available": False, "reason": f"torchao run failed: {type(exc).__name__}: {exc}"}


def markdown_table(result: Dict[str, Any]) -> str:
    rows = ["| method | file bytes | whole-model ratio | quantized-layers ratio (disk) | CPU time (s) | time vs FP32 | depth AbsRel vs FP32 | points MAE vs FP32 | rot. err (°) | targets |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    fp_t = result["methods"]["fp32"]["inference_time_s"]

    def f(v, spec):
        return "n/a" if v is None else format(v, spec)

    for name, m in result["methods"].items():
        if m.get("error"):
            rows.append(f"| {name} | failed: {m['error']} | | | | | | | | |")
            continue
        err = m.get("errors") or {}
        tgt = m.get("targets")
        tgt_s = "—" if not tgt else ("pass" if tgt["pass"] else "FAIL")
        rows.append(
            f"| {name} | {m['file_bytes']:,} | {f(m.get('whole_model_ratio'), '.2f')}× | "
            f"{f(m.get('quantized_layers_ratio_on_disk'), '.2f')}{'×' if m.get('quantized_layers_ratio_on_disk') else ''} | "
            f"{f(m.get('inference_time_s'), '.2f')} | "
            f"{f(m['inference_time_s'] / fp_t if fp_t else None, '.2f')}× | {f(err.get('depth_abs_rel'), '.2e')} | "
            f"{f(err.get('world_points_mae'), '.2e')} | {f(err.get('rotation_error_deg_mean'), '.3f')} | {tgt_s} |")
    ao = result.get("torchao_int8_weight_only", {})
    if ao.get("available"):
        err = ao["errors"]
        rows.append(f"| torchao Int8WeightOnly (ref.) | {ao['file_bytes']:,} | "
                    f"{result['methods']['fp32']['file_bytes'] / ao['file_bytes']:.2f}× | n/a | "
                    f"{ao['inference_time_s']:.2f} | {ao['inference_time_s'] / fp_t:.2f}× | "
                    f"{f(err.get('depth_abs_rel'), '.2e')} | {f(err.get('world_points_mae'), '.2e')} | "
                    f"{f(err.get('rotation_error_deg_mean'), '.3f')} | — |")
    else:
        rows.append(f"| torchao Int8WeightOnly (ref.) | unavailable: {ao.get('reason')} | | | | | | | | |")
    return "\n".join(rows)


def plan_table(plan: Dict[str, Any]) -> str:
    rows = ["| method | quantized layers | their fp32 bytes → bytes | ratio over quantized layers | model tensor bytes | whole-model ratio |",
            "|---|---:|---:|---:|---:|---:|"]
    for name, p in plan.items():
        rows.append(f"| {name} | {p['n_quantized_layers']} | {p['quantized_layers_fp32_bytes']:,} → "
                    f"{p['quantized_layers_bytes']:,} | {p['quantized_layers_ratio']:.3f}× | "
                    f"{p['model_bytes_before']:,} → {p['model_bytes_after']:,} | {p['model_ratio']:.3f}× |")
    return "\n".join(rows)


def size_plan(cfg, methods: List[str]) -> Dict[str, Any]:
    """Exact tensor-payload bytes per method from a meta-device build (no weights allocated)."""
    import torch

    from vggt_ext import VGGT
    from vggt_ext.compare import parse_method
    from vggt_ext.quantization import plan_quantization

    with torch.device("meta"):
        skeleton = VGGT(cfg)
    return {m: plan_quantization(skeleton, parse_method(m)) for m in methods if m != "pytorch_dynamic"}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="VGGT weight-quantization benchmark (sizes on disk, CPU time, error).")
    p.add_argument("--quick", action="store_true", help="tiny model, small frame (smoke test)")
    p.add_argument("--image_size", type=int, default=None, help="frame side in px, multiple of 14 (default 518; quick 84)")
    p.add_argument("--repeats", type=int, default=None, help="timed runs per model (default 2; quick 1)")
    p.add_argument("--methods", nargs="+", default=["int8_symmetric", "int8_asymmetric", "int4_group", "pytorch_dynamic"])
    p.add_argument("--no_track", action="store_true", help="build the model without the track head")
    p.add_argument("--plan_only", action="store_true",
                   help="only the exact byte plan from a meta-device build (no weights, no timing; seconds)")
    p.add_argument("--no_torchao", action="store_true", help="skip the torchao reference point")
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's choice)")
    p.add_argument("--out", default="bench_out/vggt_quant", help="output folder for JSON + markdown")
    p.add_argument("--seed", type=int, default=0)
    return p


def run(args) -> Dict[str, Any]:
    import torch

    from vggt_ext import VGGT, VGGTConfig
    from vggt_ext.compare import evaluate_model, fidelity_metrics, method_file_name, parse_method
    from vggt_ext.quantization import quantize_model_advanced
    from vggt_ext.quantized_io import file_tensor_bytes, load_quantized, save_quantized

    size = args.image_size or (84 if args.quick else 518)

    repeats = args.repeats or (1 if args.quick else 2)
    if size % 14 or size < 14:
        raise ValueError(f"--image_size must be a positive multiple of 14, got {size}")
    if args.threads:
        torch.set_num_threads(args.threads)
    for m in args.methods:
        parse_method(m)
    overrides = {"enable_track": False} if args.no_track else {}
    cfg = VGGTConfig.tiny(**overrides) if args.quick else VGGTConfig.vggt_1b(**overrides)
    plan = size_plan(cfg, args.methods)
    os.makedirs(args.out, exist_ok=True)
    if args.plan_only:
        stem = "bench_vggt_quant_plan" + ("_quick" if args.quick else "")
        res = {"model": ("tiny" if args.quick else "VGGT-1B architecture") + (", no track head" if args.no_track else ", with track head"),
               "plan": plan, "note": "tensor payload bytes from a meta-device build; a safetensors file adds a "
                                     "JSON header (about 100 B per tensor)", "markdown": plan_table(plan)}
        with open(os.path.join(args.out, stem + ".json"), "w") as f:
            json.dump(res, f, indent=2)
        with open(os.path.join(args.out, stem + ".md"), "w") as f:
            f.write(res["model"] + "; exact tensor bytes (meta-device plan)\n\n" + res["markdown"] + "\n")
        return res
    torch.manual_seed(args.seed)
    t0 = time.perf_counter()
    model = VGGT(cfg).eval()
    build_s = time.perf_counter() - t0
    n_params = sum(p.numel() for p in model.parameters())
    images = synthetic_frame(size, args.seed)
    tmpdir = tempfile.mkdtemp(prefix="bench_vggt_q_")
    log = logging.getLogger("bench_vggt_quant")

    def skeleton():
        with torch.device("meta"):
            return VGGT(cfg)

    result: Dict[str, Any] = {
        "model": ("tiny (VGGTConfig.tiny())" if args.quick else "VGGT-1B architecture (VGGTConfig.vggt_1b())")
        + (", no track head" if args.no_track else ", with track head") + ", random weights",
        "n_parameters": int(n_params), "image": f"1 frame, {size}×{size} px", "repeats": repeats,
        "device": "cpu", "torch": torch.__version__, "threads": torch.get_num_threads(),
        "platform": platform.platform(), "model_build_s": build_s, "methods": {},
        "plan": plan,
    }
    try:
        fp_path = os.path.join(tmpdir, "fp32.safetensors")
        save_quantized(model, fp_path)
        fp_bytes = os.path.getsize(fp_path)
        fp_tensors = file_tensor_bytes(fp_path)
        print(f"fp32: {fp_bytes:,} bytes on disk; timing ...", flush=True)
        ev = evaluate_model(model, images, repeats)
        ref = ev["outputs"]
        result["methods"]["fp32"] = {"file_bytes": int(fp_bytes), "whole_model_ratio": 1.0,
                                     "inference_time_s": ev["timing"]["median_s"],
                                     "inference_times_s": ev["timing"]["times_s"],
                                     "peak_extra_memory_bytes": ev["memory"]["peak_extra_bytes"]}
        os.remove(fp_path)
        for name in args.methods:
            qcfg = parse_method(name)
            print(f"{name}: quantizing ...", flush=True)
            path = os.path.join(tmpdir, method_file_name(name))
            try:
                t0 = time.perf_counter()
                qmodel, rep = quantize_model_advanced(model, qcfg, return_report=True)
                q_s = time.perf_counter() - t0
                save_quantized(qmodel, path)
                del qmodel
                gc.collect()
                loaded = load_quantized(path, skeleton()).eval()
            except (ValueError, RuntimeError) as exc:
                result["methods"][name] = {"error": str(exc)}
                log.warning("%s failed: %s", name, exc)
                continue
            fbytes = os.path.getsize(path)
            layer_names = [l["name"] for l in rep.layers]
            entry: Dict[str, Any] = {
                "file_bytes": int(fbytes), "file": os.path.basename(path),
                "whole_model_ratio": fp_bytes / fbytes, "quantize_s": q_s,
                "n_quantized_layers": len(rep.layers), "n_skipped_layers": len(rep.skipped),
                "quantized_layers_ratio_in_memory": rep.to_dict()["quantized_layers_ratio"],
            }
            if path.endswith(".safetensors"):
                disk = quantized_layer_disk_bytes(fp_tensors, file_tensor_bytes(path), layer_names)
                entry["quantized_layers_disk"] = disk
                entry["quantized_layers_ratio_on_disk"] = disk["fp32_bytes"] / disk["quantized_bytes"]
            else:  # torch.save pickle: per-tensor offsets are not available; use the in-memory bytes
                entry["quantized_layers_ratio_on_disk"] = None
            print(f"{name}: {fbytes:,} bytes ({entry['whole_model_ratio']:.2f}× whole model); timing ...", flush=True)
            ev = evaluate_model(loaded, images, repeats)
            entry.update({"inference_time_s": ev["timing"]["median_s"], "inference_times_s": ev["timing"]["times_s"],
                          "peak_extra_memory_bytes": ev["memory"]["peak_extra_bytes"],
                          "errors": _error_summary(fidelity_metrics(ev["outputs"], ref))})
            if name in TARGETS and qcfg.group_size == 128 and not args.quick:
                lay_min, whole_min = TARGETS[name]
                lr = entry.get("quantized_layers_ratio_on_disk") or 0.0
                entry["targets"] = {"quantized_layers_min": lay_min, "whole_model_min": whole_min,
                                    "pass": bool(lr >= lay_min and entry["whole_model_ratio"] >= whole_min)}
            result["methods"][name] = entry
            del loaded
            os.remove(path)
            gc.collect()
        if args.no_torchao:
            result["torchao_int8_weight_only"] = {"available": False, "reason": "skipped (--no_torchao)"}
        else:
            print("torchao Int8WeightOnlyConfig reference ...", flush=True)
            result["torchao_int8_weight_only"] = run_torchao(model, images, ref, repeats, tmpdir)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
    table = markdown_table(result)
    if args.quick:
        table += "\n\n(--quick: tiny model; the size targets apply to the full-size model and are not checked)"
    result["markdown"] = table
    stem = "bench_vggt_quant_quick" if args.quick else "bench_vggt_quant"
    with open(os.path.join(args.out, stem + ".json"), "w") as f:
        json.dump(result, f, indent=2)
    with open(os.path.join(args.out, stem + ".md"), "w") as f:
        cmd = "python scripts/bench_vggt_quant.py " + " ".join(sys.argv[1:]) if sys.argv else ""
        f.write(f"{result['model']}; {result['image']}; CPU, {result['threads']} threads; "
                f"median of {repeats} runs.\n\nCommand: `{cmd.strip()}`\n\n{table}\n")
    return result


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        result = run(args)
    except (FileNotFoundError, ValueError, RuntimeError) as exc:
        print("error: " + " ".join(str(exc).split()), file=sys.stderr)  # one line
        return 2
    print(result["markdown"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
