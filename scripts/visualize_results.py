#!/usr/bin/env python
"""Visualize VGGT outputs of FP32 beside each quantized model, as PNG files (+ PLY point clouds).

    # from a comparison run (reads <dir>/predictions.npz written by compare_quantization.py)
    python scripts/visualize_results.py --results_dir output/quantization_comparison --output_dir output/vis

    # or run the models here
    python scripts/visualize_results.py --image_folder <dir> --max_images 4 --output_dir output/vis \
        [--checkpoint model.safetensors] [--methods int8_symmetric int4_group] [--device cpu|cuda]

Writes to ``--output_dir``:
- ``depth_maps.png``: rows = frames; columns = input image, FP32 depth, each method's depth
  (one colour scale per row, from the FP32 depth's 2nd–98th percentiles, "turbo" colour map);
- ``depth_error_maps.png``: |depth − depth_FP32| per method (one colour scale for the figure);
- ``point_clouds.png``: world_points of each model as a 3-D scatter coloured by the input
  pixels (same axes for all models), and ``point_clouds/<method>.ply`` with every point kept
  (x, y, z float32 + red, green, blue uchar) — after the confidence filter ``--conf_percentile``;
- ``camera_trajectories.png``: camera centres c = −Rᵀt decoded from ``pose_enc`` for every model,
  in 3-D and seen from above (x–z), frames numbered.
Without ``--checkpoint`` (or from a tiny-model comparison) the titles say the weights are random.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Dict, List, Optional

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def load_predictions(results_dir: str):
    """(per-method outputs {method: {key: array}}, images [S,3,H,W], note) from predictions.npz."""
    import json

    import numpy as np

    path = os.path.join(results_dir, "predictions.npz")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path} not found; run scripts/compare_quantization.py --output_dir "
                                f"{results_dir} first, or pass --image_folder to run the models here")
    data = np.load(path, allow_pickle=False)
    preds: Dict[str, Dict[str, np.ndarray]] = {}
    images = None
    for key in data.files:
        if key == "images":
            images = data[key]
            continue
        method, _, out = key.partition("/")
        preds.setdefault(method, {})[out] = data[key]
    if images is None or "fp32" not in preds:
        raise ValueError(f"{path} lacks the images or the FP32 outputs; re-run compare_quantization.py")
    note = None
    rep = os.path.join(results_dir, "comparison_report.json")
    if os.path.isfile(rep):
        with open(rep) as f:
            note = json.load(f).get("warning")
    return preds, images, note


def run_models(args):
    """Run FP32 and ``args.methods`` here → (preds, images, note)."""
    import torch

    from compare_quantization import TINY_WARNING, build_model, load_images, resolve_device
    from vggt_ext.compare import parse_method, run_model
    from vggt_ext.quantization import quantize_model_advanced

    if args.image_size is None:
        args.image_size = 518 if args.checkpoint else 126
    device = resolve_device(args.device)
    os.makedirs(args.output_dir, exist_ok=True)
    model, _ = build_model(args.checkpoint, device, args.seed)
    images, _ = load_images(args, args.output_dir)
    images = images.to(device)
    preds = {"fp32": run_model(model, images)}
    for m in args.methods:
        if m == "fp32":
            continue
        q = quantize_model_advanced(model, parse_method(m))
        preds[m] = run_model(q.eval(), images)
        del q
    return preds, images.cpu().numpy(), (None if args.checkpoint else TINY_WARNING)


def _suptitle(fig, title: str, note: Optional[str]) -> None:
    fig.suptitle(title + (f"\n{note}" if note else ""), fontsize=9)


def plot_depth(preds, images, out_path: str, note: Optional[str]) -> None:
    import matplotlib.pyplot as plt
    import numpy as np

    methods = list(preds)
    depth = {m: preds[m]["depth"][0, ..., 0] for m in methods}  # [S,H,W]
    n_frames = depth["fp32"].shape[0]
    cols = 1 + len(methods)
    fig, axes = plt.subplots(n_frames, cols, figsize=(2.6 * cols, 2.4 * n_frames), squeeze=False)
    for s in range(n_frames):
        lo, hi = np.percentile(depth["fp32"][s], [2, 98])
        axes[s, 0].imshow(np.clip(images[s].transpose(1, 2, 0), 0, 1))
        axes[s, 0].set_title(f"frame {s}: input" if s == 0 else f"frame {s}", fontsize=8)
        for j, m in enumerate(methods, start=1):
            im = axes[s, j].imshow(depth[m][s], cmap="turbo", vmin=lo, vmax=hi)
            if s == 0:
                axes[s, j].set_title(f"{m} depth", fontsize=8)
        fig.colorbar(im, ax=axes[s, -1], fraction=0.046, pad=0.04)
    for ax in axes.ravel():
        ax.axis("off")
    _suptitle(fig, "Depth: FP32 beside each quantized model (shared colour scale per frame)", note)
    fig.tight_layout()
    fig.savefig(out_path, dpi=100)
    plt.close(fig)


def plot_depth_error(preds, out_path: str, note: Optional[str]) -> None:
    import matplotlib.pyplot as plt
    import numpy as np

    methods = [m for m in preds if m != "fp32"]
    if not methods:
        return
    ref = preds["fp32"]["depth"][0, ..., 0]
    errs = {m: np.abs(preds[m]["depth"][0, ..., 0] - ref) for m in methods}
    vmax = max(float(np.percentile(e, 99)) for e in errs.values()) or 1e-12
    n_frames = ref.shape[0]
    fig, axes = plt.subplots(n_frames, len(methods), figsize=(2.8 * len(methods), 2.4 * n_frames),
                             squeeze=False)
    for s in range(n_frames):
        for j, m in enumerate(methods):
            im = axes[s, j].imshow(errs[m][s], cmap="magma", vmin=0, vmax=vmax)
            axes[s, j].set_title(f"{m}, frame {s}\nmean {errs[m][s].mean():.3g}", fontsize=8)
            axes[s, j].axis("off")
    fig.colorbar(im, ax=axes, fraction=0.02, pad=0.02, label="|depth − depth_FP32|")
    _suptitle(fig, "Depth error against FP32", note)
    fig.savefig(out_path, dpi=100)
    plt.close(fig)


def _points_and_colors(pred, images, conf_percentile: float):
    import numpy as np

    pts = pred["world_points"][0].reshape(-1, 3)
    rgb = images.transpose(0, 2, 3, 1).reshape(-1, 3)
    keep = np.isfinite(pts).all(axis=1)
    if conf_percentile > 0 and "world_points_conf" in pred:
        conf = pred["world_points_conf"][0].reshape(-1)
        keep &= conf >= np.percentile(conf, conf_percentile)
    return pts[keep], rgb[keep]


def write_ply(path: str, points, colors) -> None:
    """Binary little-endian PLY with x, y, z (float32) and red, green, blue (uchar)."""
    import numpy as np
    from plyfile import PlyData, PlyElement

    arr = np.empty(len(points), dtype=[("x", "f4"), ("y", "f4"), ("z", "f4"),
                                        ("red", "u1"), ("green", "u1"), ("blue", "u1")])
    arr["x"], arr["y"], arr["z"] = points[:, 0], points[:, 1], points[:, 2]
    c = np.clip(np.round(colors * 255.0), 0, 255).astype(np.uint8)
    arr["red"], arr["green"], arr["blue"] = c[:, 0], c[:, 1], c[:, 2]
    PlyData([PlyElement.describe(arr, "vertex")], text=False).write(path)


def plot_points(preds, images, out_dir: str, note: Optional[str], conf_percentile: float,
                max_points: int = 6000, seed: int = 0) -> List[str]:
    import matplotlib.pyplot as plt
    import numpy as np

    ply_dir = os.path.join(out_dir, "point_clouds")
    os.makedirs(ply_dir, exist_ok=True)
    methods = list(preds)
    clouds = {m: _points_and_colors(preds[m], images, conf_percentile) for m in methods}
    plys = []
    for m, (p, c) in clouds.items():
        path = os.path.join(ply_dir, f"{m}.ply")
        write_ply(path, p, c)
        plys.append(path)
    ref = clouds["fp32"][0]
    lo, hi = np.percentile(ref, 1, axis=0), np.percentile(ref, 99, axis=0)
    rng = np.random.default_rng(seed)
    fig = plt.figure(figsize=(4.2 * len(methods), 4.4))
    for j, m in enumerate(methods):
        p, c = clouds[m]
        idx = rng.choice(len(p), size=min(max_points, len(p)), replace=False) if len(p) else []
        ax = fig.add_subplot(1, len(methods), j + 1, projection="3d")
        # camera frame: x right, y down, z forward → plot (x, z, −y) so "up" is up
        ax.scatter(p[idx, 0], p[idx, 2], -p[idx, 1], c=c[idx], s=1.0, depthshade=False)
        ax.set_xlim(lo[0], hi[0])
        ax.set_ylim(lo[2], hi[2])
        ax.set_zlim(-hi[1], -lo[1])
        ax.set_xlabel("x")
        ax.set_ylabel("z")
        ax.set_zlabel("−y")
        ax.view_init(elev=20, azim=-70)
        ax.set_title(f"{m} ({len(p)} pts)", fontsize=9)
    _suptitle(fig, "world_points coloured by the input pixels (first camera's frame)", note)
    fig.savefig(os.path.join(out_dir, "point_clouds.png"), dpi=100)
    plt.close(fig)
    return plys


def plot_trajectories(preds, out_path: str, note: Optional[str]) -> None:
    import matplotlib.pyplot as plt

    from vggt_ext.compare import camera_centers_from_pose_enc

    fig = plt.figure(figsize=(11, 4.8))
    ax3 = fig.add_subplot(1, 2, 1, projection="3d")
    ax2 = fig.add_subplot(1, 2, 2)
    markers = "os^Dvx+*"
    for j, (m, pred) in enumerate(preds.items()):
        c = camera_centers_from_pose_enc(pred["pose_enc"][0])  # [S,3]
        style = dict(marker=markers[j % len(markers)], label=m, linewidth=2.0 if m == "fp32" else 1.0,
                     alpha=1.0 if m == "fp32" else 0.8)
        ax3.plot(c[:, 0], c[:, 2], -c[:, 1], **style)
        ax2.plot(c[:, 0], c[:, 2], **style)
        if m == "fp32":
            for s, (x, z) in enumerate(zip(c[:, 0], c[:, 2])):
                ax2.annotate(str(s), (x, z), fontsize=8)
    ax3.set_xlabel("x")
    ax3.set_ylabel("z")
    ax3.set_zlabel("−y")
    ax3.set_title("camera centres −Rᵀt (3-D)", fontsize=9)
    ax2.set_xlabel("x")
    ax2.set_ylabel("z (forward of frame 0)")
    ax2.set_title("seen from above (x–z), frames numbered", fontsize=9)
    ax2.axis("equal")
    ax2.legend(fontsize=8)
    _suptitle(fig, "Camera trajectories from pose_enc: FP32 and quantized models", note)
    fig.tight_layout()
    fig.savefig(out_path, dpi=100)
    plt.close(fig)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Depth maps, point clouds and camera trajectories of FP32 "
                                            "and quantized VGGT models.")
    p.add_argument("--results_dir", default=None,
                   help="output folder of compare_quantization.py (reads predictions.npz); "
                        "if omitted, the models are run here")
    p.add_argument("--output_dir", default="output/visualization", help="where the PNG / PLY files go")
    p.add_argument("--image_folder", default=None, help="images (default: built-in demo scene views)")
    p.add_argument("--max_images", type=int, default=4)
    p.add_argument("--checkpoint", default=None, help="local VGGT checkpoint; default: tiny random model")
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    p.add_argument("--methods", nargs="+", default=["int8_symmetric", "int8_asymmetric", "int4_group"],
                   help="methods to run when --results_dir is not given")
    p.add_argument("--image_size", type=int, default=None, help="multiple of 14 (default 518 / 126 tiny)")
    p.add_argument("--mode", default="crop", choices=("crop", "pad"))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--conf_percentile", type=float, default=0.0,
                   help="drop points below this percentile of world_points_conf (0 keeps all)")
    return p


def run(args) -> List[str]:
    import matplotlib

    matplotlib.use("Agg")
    if not 0 <= args.conf_percentile < 100:
        raise ValueError(f"--conf_percentile must be in [0, 100), got {args.conf_percentile}")
    if args.results_dir:
        preds, images, note = load_predictions(args.results_dir)
    else:
        preds, images, note = run_models(args)
    os.makedirs(args.output_dir, exist_ok=True)
    out = []
    p = os.path.join(args.output_dir, "depth_maps.png")
    plot_depth(preds, images, p, note)
    out.append(p)
    p = os.path.join(args.output_dir, "depth_error_maps.png")
    plot_depth_error(preds, p, note)
    if os.path.exists(p):
        out.append(p)
    out += plot_points(preds, images, args.output_dir, note, args.conf_percentile)
    out.append(os.path.join(args.output_dir, "point_clouds.png"))
    p = os.path.join(args.output_dir, "camera_trajectories.png")
    plot_trajectories(preds, p, note)
    out.append(p)
    return out


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        files = run(args)
    except (FileNotFoundError, ValueError, RuntimeError) as exc:
        print("error: " + " ".join(str(exc).split()), file=sys.stderr)  # one line
        return 2
    for f in files:
        print(f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
