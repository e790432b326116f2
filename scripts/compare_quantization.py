#!/usr/bin/env python
"""Compare FP32 VGGT with its weight-quantized versions on the same images.

    python scripts/compare_quantization.py --image_folder <dir> --max_images 5 --output_dir <dir>
        [--checkpoint model.safetensors|model.pt|<folder>] [--device cpu|cuda]
        [--methods int8_symmetric int8_asymmetric int4_group pytorch_dynamic]

For FP32 and each method it saves the model with ``vggt_ext.quantized_io.save_quantized``,
reloads it from that file, runs it, and writes to ``--output_dir``:
- ``comparison_report.json``: per method the bytes on disk, compression ratio (FP32 file bytes /
  method file bytes), median inference time, peak memory, fidelity against FP32 (depth,
  world_points, pose_enc: MAE, MSE, PSNR with its data range, depth SSIM, AbsRel, δ<1.25,
  rotation / translation angle errors);
- ``comparison_summary.txt``: a table and a recommendation;
- ``comparison_plots.png``: model size, inference time, compression ratio, depth MAE;
- ``predictions.npz``: every model's outputs (for ``scripts/visualize_results.py --results_dir``).

Without ``--checkpoint`` the tiny random-weight model (``VGGTConfig.tiny()``) is used and every
output says so: its numbers show the pipeline works, not how VGGT-1B behaves. Without
``--image_folder`` the images are views of the built-in demo scene (``scene.demo_scene``),
rendered locally — nothing is downloaded.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import tempfile
from typing import Any, Dict, List, Optional

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

TINY_WARNING = ("tiny random-weight model (no --checkpoint): sizes, speed and errors only "
                "demonstrate the pipeline and say nothing about VGGT-1B")


# ----------------------------------------------------------------------------- inputs
def default_image_set(out_dir: str, n_images: int, size: int = 168, seed: int = 0) -> List[str]:
    """Render ``n_images`` consecutive views of the built-in demo scene into ``out_dir`` (PNG).

    Views come from an orbit of 8·⌈n/8⌉ cameras (neighbours ≈ 25° apart on a 200° arc).
    Falls back to shifted crops of a scikit-image photo when ``scene.demo_scene`` is missing.
    """
    import numpy as np
    from PIL import Image

    os.makedirs(out_dir, exist_ok=True)
    paths = []
    try:
        from scene.demo_scene import generate_demo

        n_views = 8 * max(1, -(-n_images // 8))
        demo = generate_demo(seed=seed, n_views=n_views, size=size, supersample=1, n_points=200)
        frames = [rgba for rgba in demo.rgba[:n_images]]
        source = f"scene.demo_scene views (seed {seed}, {size}×{size} px)"
    except ImportError:
        import skimage.data

        photo = skimage.data.astronaut()
        frames = []
        for k in range(n_images):
            off = 20 * k
            crop = photo[40 + off // 2: 40 + off // 2 + 384, 30 + off: 30 + off + 384]
            frames.append(np.asarray(Image.fromarray(crop).resize((size, size), Image.Resampling.BICUBIC)))
        source = "shifted crops of skimage.data.astronaut (scene.demo_scene not available)"
    for k, arr in enumerate(frames):
        p = os.path.join(out_dir, f"view_{k:03d}.png")
        Image.fromarray(arr).save(p)
        paths.append(p)
    logging.getLogger(__name__).info("default image set: %s", source)
    return paths


def build_model(checkpoint: Optional[str], device, seed: int = 0):
    """(model in eval mode on ``device``, description dict). Tiny random model without a checkpoint."""
    import torch
    from vggt_ext import VGGT, VGGTConfig, load_vggt

    if checkpoint:
        model = load_vggt(checkpoint, device=device)
        desc = {"description": f"VGGT from checkpoint {checkpoint}", "checkpoint": os.path.abspath(checkpoint),
                "random_weights": False}
    else:
        torch.manual_seed(seed)
        model = VGGT(VGGTConfig.tiny()).to(device)
        desc = {"description": f"tiny VGGT (VGGTConfig.tiny()) with random weights, seed {seed}",
                "checkpoint": None, "random_weights": True}
    model.eval()
    desc["n_parameters"] = int(sum(p.numel() for p in model.parameters()))
    desc["config"] = json.loads(json.dumps(getattr(model.config, "__dict__", {}), default=list))
    return model, desc


def resolve_device(name: str):
    import torch

    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda was requested but CUDA is not available here; use --device cpu")
    return torch.device(name)


def load_images(args, output_dir: str):
    """(images [S,3,H,W] tensor, info dict) from --image_folder or the default set."""
    from vggt_ext import list_images, load_and_preprocess_images

    if args.image_folder:
        files = [str(p) for p in list_images(args.image_folder, max_images=args.max_images)]
        source = os.path.abspath(args.image_folder)
        default = False
    else:
        files = default_image_set(os.path.join(output_dir, "default_images"), args.max_images)
        source = "built-in demo scene views (rendered locally, written to default_images/)"
        default = True
    images = load_and_preprocess_images(files, mode=args.mode, target_size=args.image_size)
    info = {"source": source, "default_set": default, "files": files, "n_images": len(files),
            "height": int(images.shape[-2]), "width": int(images.shape[-1]), "mode": args.mode,
            "target_size": args.image_size}
    return images, info


def perf_fields(model, ev: Dict[str, Any]) -> Dict[str, Any]:
    """Timing and memory entries of one model's report from its ``evaluate_model`` result ``ev``.

    peak_memory_bytes = model tensor bytes + peak extra bytes of one forward pass (None if unknown).
    """
    from vggt_ext.compare import model_memory_bytes

    mem_model = model_memory_bytes(model)
    extra = ev["memory"]["peak_extra_bytes"]
    return {"inference_time_s": ev["timing"]["median_s"], "inference_times_s": ev["timing"]["times_s"],
            "model_memory_bytes": mem_model, "peak_memory_extra_bytes": extra,
            "peak_memory_bytes": mem_model + extra if extra is not None else None,
            "peak_memory_method": ev["memory"]["method"]}


# ----------------------------------------------------------------------------- main
def build_parser() -> argparse.ArgumentParser:
    from vggt_ext.compare import DEFAULT_METHODS

    p = argparse.ArgumentParser(description="Compare FP32 and weight-quantized VGGT models (sizes on disk, "
                                            "speed, memory, fidelity against FP32).")
    p.add_argument("--image_folder", default=None,
                   help="folder of images (png/jpg/...); default: render views of the built-in demo scene")
    p.add_argument("--max_images", type=int, default=4, help="use the first N images (sorted by name)")
    p.add_argument("--output_dir", default="output/quantization_comparison", help="where the report goes")
    p.add_argument("--checkpoint", default=None,
                   help="local VGGT checkpoint (model.safetensors, model.pt or a folder); "
                        "default: the tiny random-weight model")
    p.add_argument("--model_name", default=None,
                   help="not supported (nothing is downloaded); use --checkpoint with a local file")
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"), help="where to run the models")
    p.add_argument("--methods", nargs="+", default=list(DEFAULT_METHODS),
                   help="quantization methods: int8_symmetric int8_asymmetric int4_group pytorch_dynamic "
                        "int4_group_g<N>; FP32 is always run as the reference")
    p.add_argument("--repeats", type=int, default=3, help="timed runs per model (the median is reported)")
    p.add_argument("--image_size", type=int, default=None,
                   help="preprocessing target size, a multiple of 14 (default 518 with --checkpoint, 126 without)")
    p.add_argument("--mode", default="crop", choices=("crop", "pad"), help="preprocessing mode")
    p.add_argument("--seed", type=int, default=0, help="seed of the tiny random model")
    p.add_argument("--keep_models", action="store_true",
                   help="keep the saved model files in <output_dir>/models (default: temporary, deleted)")
    p.add_argument("--no_progress", action="store_true", help="hide the progress bar")
    p.add_argument("--verbose", action="store_true", help="log details")
    return p


def run(args) -> Dict[str, Any]:
    import numpy as np
    import torch

    from training.console import progress_bar
    from vggt_ext.compare import (evaluate_model, fidelity_metrics, format_summary, method_file_name,
                                  parse_method, plot_comparison, quantize_save_reload, recommend)
    from vggt_ext.quantized_io import save_quantized

    if args.model_name:
        raise ValueError(f"--model_name {args.model_name!r}: models are never downloaded; "
                         "pass a local checkpoint with --checkpoint (or nothing for the tiny model)")
    if args.max_images < 1:
        raise ValueError(f"--max_images must be >= 1, got {args.max_images}")
    if args.repeats < 1:
        raise ValueError(f"--repeats must be >= 1, got {args.repeats}")
    methods = []
    for m in args.methods:
        if m == "fp32" or m in methods:
            continue
        parse_method(m)  # validates before any work
        methods.append(m)
    if args.image_size is None:
        args.image_size = 518 if args.checkpoint else 126
    device = resolve_device(args.device)
    out_dir = args.output_dir
    os.makedirs(out_dir, exist_ok=True)

    model, model_desc = build_model(args.checkpoint, device, args.seed)
    images, img_info = load_images(args, out_dir)
    images = images.to(device)
    warning = None if args.checkpoint else TINY_WARNING

    cfg = model.config

    def skeleton():
        from vggt_ext import VGGT

        with torch.device("meta"):
            return VGGT(cfg)

    models_dir = os.path.join(out_dir, "models") if args.keep_models else tempfile.mkdtemp(prefix="vggt_q_")
    os.makedirs(models_dir, exist_ok=True)
    results: Dict[str, Dict[str, Any]] = {}
    predictions: Dict[str, np.ndarray] = {}
    bar = progress_bar(1 + len(methods), "methods", unit="model", disable=args.no_progress)
    try:
        bar.set_postfix_str("fp32")
        fp_path = os.path.join(models_dir, "fp32.safetensors")
        fp_save = save_quantized(model, fp_path)
        fp_bytes = os.path.getsize(fp_path)
        ev = evaluate_model(model, images, args.repeats)
        ref = ev["outputs"]
        results["fp32"] = {
            "quant_type": None, "file": os.path.basename(fp_path), "file_bytes": int(fp_bytes),
            "compression_ratio": 1.0, **perf_fields(model, ev), "quantization": None, "fidelity": None,
            "file_overhead_bytes": fp_save["overhead_bytes"],
        }
        for k, v in ref.items():
            predictions[f"fp32/{k}"] = v
        bar.update(1)
        for name in methods:
            bar.set_postfix_str(name)
            qcfg = parse_method(name)
            path = os.path.join(models_dir, method_file_name(name))
            try:
                res = quantize_save_reload(model, qcfg, path, skeleton, device=device)
            except (ValueError, RuntimeError) as exc:
                results[name] = {"quant_type": qcfg.quant_type, "error": str(exc), "file_bytes": None,
                                 "compression_ratio": None, "fidelity": None}
                logging.getLogger(__name__).warning("%s failed: %s", name, exc)
                bar.update(1)
                continue
            qmodel = res["model"]
            ev = evaluate_model(qmodel, images, args.repeats)
            qrep = res["quant_report"]
            qrep["file_layer_bytes"] = res["save_report"]["layers"]
            results[name] = {
                "quant_type": qcfg.quant_type, "config": qcfg.to_dict(), "file": os.path.basename(path),
                "file_bytes": res["file_bytes"], "compression_ratio": fp_bytes / res["file_bytes"],
                **perf_fields(qmodel, ev), "quantization": qrep, "fidelity": fidelity_metrics(ev["outputs"], ref),
                "file_overhead_bytes": res["save_report"]["overhead_bytes"],
            }
            for k, v in ev["outputs"].items():
                predictions[f"{name}/{k}"] = v
            del qmodel, res
            bar.update(1)
    finally:
        bar.close()
        if not args.keep_models:
            shutil.rmtree(models_dir, ignore_errors=True)

    ok_methods = {k: v for k, v in results.items() if v.get("file_bytes")}
    report = {
        "warning": warning,
        "model": model_desc,
        "images": img_info,
        "device": str(device),
        "torch_version": torch.__version__,
        "settings": {"repeats": args.repeats, "warmup": 1, "methods": ["fp32"] + methods,
                     "models_kept_in": models_dir if args.keep_models else None},
        "metric_notes": {
            "reference": "all fidelity metrics compare each method's outputs with the FP32 model's "
                         "outputs on the same images (no ground truth)",
            "psnr": "10·log10(R²/MSE) with R = max − min of the FP32 output over the batch "
                    "(given as data_range per output); null when MSE = 0",
            "ssim": "skimage structural_similarity per depth map, data_range R, Gaussian σ=1.5, "
                    "population covariance; mean over frames",
            "abs_rel / delta_1.25": "mean |d − d_fp32|/d_fp32 and fraction with max(d/d_fp32, d_fp32/d) < 1.25",
            "pose": "quaternion signs aligned to FP32 before elementwise errors; rotation error "
                    "2·acos(|<q̂, q̂_fp32>|); translation angle between t and t_fp32 (deg)",
            "compression_ratio": "FP32 file bytes / method file bytes, both from save_quantized "
                                 "(os.path.getsize)",
            "peak_memory": "peak_memory_bytes = model tensor bytes + peak extra memory during one "
                           "forward pass (see peak_memory_method)",
        },
        "methods": results,
        "recommendation": recommend(ok_methods),
    }
    if warning:
        report["recommendation"]["note"] = warning
    with open(os.path.join(out_dir, "comparison_report.json"), "w") as f:
        json.dump(report, f, indent=2)
    with open(os.path.join(out_dir, "comparison_summary.txt"), "w") as f:
        f.write(format_summary(report))
    plot_comparison({**report, "methods": ok_methods}, os.path.join(out_dir, "comparison_plots.png"))
    predictions["images"] = images.detach().cpu().numpy()
    np.savez_compressed(os.path.join(out_dir, "predictions.npz"), **predictions)
    return report


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        report = run(args)
    except (FileNotFoundError, ValueError, RuntimeError) as exc:
        print("error: " + " ".join(str(exc).split()), file=sys.stderr)  # one line
        return 2
    print(f"wrote comparison_report.json, comparison_summary.txt, comparison_plots.png to {args.output_dir}")
    if report.get("warning"):
        print(f"note: {report['warning']}")
    rec = report.get("recommendation", {})
    print(f"recommendation: {rec.get('method')} ({rec.get('reason')})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
