#!/usr/bin/env python
"""The README's main command (``make demo``): default scene → 3DGS training → test renders + metrics.

    python scripts/demo.py --out output/demo [--quick] [--iterations N]

1. Builds the built-in default scene (``scene.demo_scene``, COLMAP format: 64 views of 256²,
   56 train + 8 test with ``--eval``, ≤ 4000 sparse points) into ``<out>/scene`` unless it is there.
2. Trains a 3DGS into ``<out>/model`` with ``train.py``'s code. On a CUDA machine: gsplat and the
   full 3DGS schedule (30 000 iterations, 3DGS defaults). On a CPU: the short schedule
   ``CPU_PRESET`` below (about 10 minutes on 2 cores; see docs/benchmarks.md for the figures).
3. Renders the test views from the saved PLY (``render.py --skip_train --ply``) and prints test
   PSNR and SSIM.
4. Compresses it (``train.py --per_block_quant`` in the same folder: it picks up the PLY just
   saved): importance → prune → voxelize → RAHT → 55 × n_block quantizers → QAT fine-tuning
   (``COMPRESS_*`` below: 8000 iterations on a GPU, 200 on the CPU) → ``pc_npz`` files.
5. Renders the test views from the compressed files (``render.py --skip_train``) and prints the
   input PLY size, the compressed size, the ratio and the test PSNR before compression, right
   after it (iteration 0, no fine-tuning) and after fine-tuning.
``--no_compress`` stops after step 3.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

# CPU schedule for the default scene (256², 56 train views): 3DGS's recipe compressed to 1200
# iterations — SH degree +1 every 200 iterations, densification every 100 iterations from 100 to
# 800, position lr decaying over the 1200 iterations, and no opacity reset (the first would fall
# at 600 and the run has too few iterations left to recover from it; train.py resets by default).
CPU_PRESET = [
    "--iterations", "1200",
    "--sh_interval", "200",
    "--densify_from_iter", "100",
    "--densify_until_iter", "800",
    "--densification_interval", "100",
    "--opacity_reset_interval", "100000",
    "--test_iterations", "600",
    "--save_iterations", "1200",
]
GPU_PRESET = ["--test_iterations", "7000", "30000", "--save_iterations", "7000", "30000"]
# Compression stage (train.py --per_block_quant; the rest comes from configs/default.json):
# fine-tuning iterations and where to evaluate + save pc_npz (iteration 0 and the last always).
COMPRESS_GPU = ["--iterations", "8000", "--test_iterations", "2000", "4000"]
COMPRESS_CPU = ["--iterations", "200", "--test_iterations", "100", "--backend", "torch", "--device", "cpu"]
COMPRESS_QUICK = ["--iterations", "10", "--test_iterations", "5"]
QUICK_PRESET = [
    "-r", "4",
    "--iterations", "60",
    "--sh_interval", "20",
    "--densify_from_iter", "10",
    "--densify_until_iter", "50",
    "--densification_interval", "10",
    "--opacity_reset_interval", "1000",
    "--test_iterations",
]


def make_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Build the default scene, train a 3DGS on it, render and score the test views.")
    p.add_argument("--out", default="output/demo", help="demo folder (scene in <out>/scene, run in <out>/model)")
    p.add_argument("--seed", type=int, default=0, help="seed of the scene generator and of training")
    p.add_argument("--iterations", type=int, default=None, help="override the number of training iterations")
    p.add_argument("--quick", action="store_true", help="smoke test: quarter resolution, 60 iterations (a minute)")
    p.add_argument("--cpu", action="store_true", help="use the CPU schedule even when CUDA is available")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--no_compress", action="store_true", help="stop after 3DGS training (no compression stage)")
    p.add_argument("--ft_iterations", type=int, default=None, help="override the number of compression fine-tuning iterations")
    return p


def ensure_scene(scene_dir: str, seed: int) -> str:
    """The default scene in COLMAP format at ``scene_dir`` (generated when ``demo_scene.json`` is missing)."""
    from scene.demo_scene import make_demo_scene

    if os.path.isfile(os.path.join(scene_dir, "demo_scene.json")) and os.path.isdir(os.path.join(scene_dir, "sparse")):
        print(f"[demo] default scene: {scene_dir} (exists)")
        return scene_dir
    t0 = time.perf_counter()
    print(f"[demo] building the default scene into {scene_dir} ...", flush=True)
    make_demo_scene(scene_dir, fmt="colmap", seed=seed)
    print(f"[demo] default scene built in {time.perf_counter() - t0:.1f} s")
    return scene_dir


def train_args(scene_dir: str, model_dir: str, args: argparse.Namespace, on_gpu: bool) -> list[str]:
    """train.py flags of the demo run."""
    argv = ["-s", scene_dir, "-m", model_dir, "--eval", "--seed", str(args.seed)]
    if args.quick:
        argv += QUICK_PRESET
    elif on_gpu:
        argv += GPU_PRESET
    else:
        argv += CPU_PRESET + ["--backend", "torch", "--device", "cpu"]
    if args.iterations is not None:
        argv += ["--iterations", str(args.iterations)]
    if args.quiet:
        argv += ["--quiet"]
    return argv


def run_demo(args: argparse.Namespace) -> dict:
    """Scene → train → render test views; returns the test metrics dict of render.py."""
    import torch

    import render as render_script
    import train as train_script
    from training.console import setup_logging

    setup_logging()
    out = os.path.abspath(args.out)
    scene_dir = ensure_scene(os.path.join(out, "scene"), args.seed)
    model_dir = os.path.join(out, "model")
    on_gpu = torch.cuda.is_available() and not args.cpu
    argv = train_args(scene_dir, model_dir, args, on_gpu)
    print("[demo] python train.py " + " ".join(argv), flush=True)
    cfg = train_script.config_from_args(train_script.make_parser().parse_args(argv))
    t0 = time.perf_counter()
    outcome = train_script.train(cfg)
    train_s = time.perf_counter() - t0
    for line in train_script.summary_lines(outcome.result, model_dir):
        print(f"[demo] {line}")
    render_argv = ["-m", model_dir, "--skip_train", "--ply"] + (["--quiet"] if args.quiet else [])
    print("[demo] python render.py " + " ".join(render_argv), flush=True)
    summaries = render_script.render_model(render_script.make_parser().parse_args(render_argv))
    test = summaries.get("test", {})
    print(
        f"[demo] default scene, {outcome.result.final_iteration} iterations ({train_s:.0f} s training, "
        f"{outcome.result.num_gaussians} Gaussians): test PSNR {test.get('PSNR', float('nan')):.2f} dB, "
        f"SSIM {test.get('SSIM', float('nan')):.4f} over {test.get('n_views', 0)} views"
    )
    print(f"[demo] renders: {os.path.join(model_dir, 'test', f'ours_{outcome.result.final_iteration}', 'renders')}")
    print(f"[demo] TensorBoard: tensorboard --logdir {model_dir}")
    if args.no_compress:
        return test
    compressed = run_compression_stage(args, scene_dir, model_dir, on_gpu, train_script, render_script)
    return {**test, "compressed": compressed}


def compress_args(scene_dir: str, model_dir: str, args: argparse.Namespace, on_gpu: bool) -> list[str]:
    """train.py flags of the compression stage (the PLY is found in ``model_dir``)."""
    argv = ["-s", scene_dir, "-m", model_dir, "--eval", "--seed", str(args.seed), "--per_block_quant"]
    if args.quick:
        argv += QUICK_PRESET[:2] + COMPRESS_QUICK  # same resolution and backend choice as the quick training
    else:
        argv += COMPRESS_GPU if on_gpu else COMPRESS_CPU
    if args.ft_iterations is not None:
        argv += ["--iterations", str(args.ft_iterations)]
    if args.quiet:
        argv += ["--quiet"]
    return argv


def run_compression_stage(args, scene_dir, model_dir, on_gpu, train_script, render_script) -> dict:
    """Steps 4–5: compress with train.py, render from the compressed files, print the comparison."""
    import json

    argv = compress_args(scene_dir, model_dir, args, on_gpu)
    print("[demo] python train.py " + " ".join(argv), flush=True)
    ns = train_script.make_parser().parse_args(argv)
    t0 = time.perf_counter()
    result, _ = train_script.compress(ns, train_script.compression_requested(ns))
    compress_s = time.perf_counter() - t0
    for line in result.summary_lines(model_dir):
        print(f"[demo] {line}")
    render_argv = ["-m", model_dir, "--skip_train"] + (["--quiet"] if args.quiet else [])
    print("[demo] python render.py " + " ".join(render_argv), flush=True)
    summaries = render_script.render_model(render_script.make_parser().parse_args(render_argv))
    with open(os.path.join(model_dir, "results.json"), "r", encoding="utf-8") as fh:
        entry = json.load(fh)[f"ours_{result.final_iteration}"]
    size = entry["size"]
    test = summaries.get("test", {})
    at0 = result.evaluations.get(0, {}).get("PSNR", float("nan"))
    before = result.input_psnr if result.input_psnr is not None else float("nan")
    ratio = size.get("ratio") or float("nan")
    print(f"[demo] compression ({compress_s:.0f} s): input PLY {size['input_ply_bytes'] or 0:,} B "
          f"({result.n_input} Gaussians) -> compressed {size['bundle_bytes']:,} B ({size['n_gaussians']} Gaussians, "
          f"{size['bits_per_gaussian']:.1f} bits/Gaussian), ratio {ratio:.1f}x")
    print(f"[demo] test PSNR: before compression {before:.2f} dB; compressed, no fine-tuning {at0:.2f} dB; "
          f"compressed after {result.final_iteration} fine-tuning iterations {test.get('PSNR', float('nan')):.2f} dB "
          f"(SSIM {test.get('SSIM', float('nan')):.4f}, rendered from {entry['source']})")
    return {"input_ply_bytes": size["input_ply_bytes"], "compressed_bytes": size["bundle_bytes"], "ratio": ratio,
            "psnr_before": before, "psnr_iteration0": at0, "psnr_after": test.get("PSNR")}


def main(argv=None) -> int:
    args = make_parser().parse_args(argv)
    run_demo(args)
    return 0


if __name__ == "__main__":
    from training.console import run_cli

    sys.exit(run_cli(main, None, "demo.py"))
