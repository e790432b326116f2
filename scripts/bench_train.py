#!/usr/bin/env python
"""Benchmark of 3DGS training: seconds per iteration and peak memory on the default scene.

    python scripts/bench_train.py [--quick] [--iterations N] [--out bench_out/bench_train.json]

Trains the default scene (``scene.demo_scene``, COLMAP, 256², 56 train views; built into
``bench_out/scene`` when missing) with the demo's CPU schedule (``scripts/demo.py CPU_PRESET``),
without test evaluations or PLY writes, and times every iteration (render + loss + backward +
Adam + densification). Reports wall seconds per iteration (mean, median, over the first and the
last 20 % of the iterations, where the Gaussian count differs), CPU seconds per iteration,
Gaussian counts, peak RSS and, on CUDA, peak allocated memory. ``--quick``: a 32-view 64² scene
and 20 iterations (a smoke test, not a figure to quote). Prints a markdown table and writes JSON.
On a CUDA machine the default is gsplat (``--backend auto``); pass ``--cpu`` to force the CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
for p in (ROOT, os.path.dirname(os.path.abspath(__file__))):
    if p not in sys.path:
        sys.path.insert(0, p)


def make_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Seconds per training iteration and peak memory on the default scene.")
    p.add_argument("--quick", action="store_true", help="tiny scene, 20 iterations (smoke test)")
    p.add_argument("--iterations", type=int, default=None, help="iterations to time (default: the demo's 1500; quick: 40)")
    p.add_argument("--scene", default=None, help="scene folder (default: bench_out/scene[_quick], generated if missing)")
    p.add_argument("--out", default="bench_out/bench_train.json", help="JSON output path")
    p.add_argument("--cpu", action="store_true", help="train on the CPU even when CUDA is available")
    p.add_argument("--backend", default="auto", choices=("auto", "gsplat", "torch"), help="renderer backend")
    return p


def ensure_scene(path: str, quick: bool) -> str:
    from scene.demo_scene import make_demo_scene

    if not os.path.isfile(os.path.join(path, "demo_scene.json")):
        if quick:
            make_demo_scene(path, fmt="colmap", seed=0, n_views=32, size=64, supersample=1, n_points=1500)
        else:
            make_demo_scene(path, fmt="colmap", seed=0)
    return path


def run(args: argparse.Namespace) -> dict:
    import tempfile

    import torch

    import train as train_script
    from demo import CPU_PRESET
    from training.loop import Trainer
    from training.resources import memory_mib, peak_rss_mib

    scene_dir = ensure_scene(args.scene or os.path.join("bench_out", "scene_quick" if args.quick else "scene"), args.quick)
    device = "cpu" if args.cpu or not torch.cuda.is_available() else "cuda"
    with tempfile.TemporaryDirectory(prefix="bench_train_") as tmp:
        argv = ["-s", scene_dir, "-m", os.path.join(tmp, "run"), "--eval", "--quiet", "--device", device,
                "--backend", "torch" if device == "cpu" else args.backend] + CPU_PRESET
        if args.quick:
            argv += ["--iterations", "20", "--densify_from_iter", "5", "--densify_until_iter", "15",
                     "--densification_interval", "5", "--sh_interval", "5"]
        if args.iterations is not None:
            argv += ["--iterations", str(args.iterations)]
        cfg = train_script.config_from_args(train_script.make_parser().parse_args(argv))
        scene, model, _, dev, backend = train_script.prepare(cfg)
        run_cfg = cfg.run
        run_cfg.test_iterations, run_cfg.save_iterations = [], []
        times: list[float] = []
        counts: list[int] = []
        state = {"cpu": time.process_time()}
        cpu_times: list[float] = []

        def on_iteration(stats) -> None:
            now = time.process_time()
            cpu_times.append(now - state["cpu"])
            state["cpu"] = now
            times.append(stats.iter_time)
            counts.append(stats.num_gaussians)

        bg = torch.zeros(3)
        n_start = model.num_gaussians
        trainer = Trainer(model, scene, cfg.opt, run_cfg, device=dev, background=bg, backend=backend,
                          out_dir=os.path.join(tmp, "run"), tb=None, on_iteration=on_iteration)
        # no evaluation or PLY at the last iteration either: time training only
        trainer.test_iterations, trainer.save_iterations = set(), set()
        t0 = time.perf_counter()
        state["cpu"] = time.process_time()
        trainer.run()
        wall = time.perf_counter() - t0
        mem = memory_mib(dev)
    n = len(times)
    k = max(1, n // 5)
    img = scene.train_cameras[0]
    result = {
        "scene": os.path.abspath(scene_dir),
        "image_size": f"{img.width}x{img.height}",
        "train_views": len(scene.train_cameras),
        "device": str(dev),
        "backend": backend,
        "torch_threads": torch.get_num_threads(),
        "cpu": platform.processor() or platform.machine(),
        "iterations": n,
        "total_s": wall,
        "s_per_iter_mean": statistics.fmean(times),
        "s_per_iter_median": statistics.median(times),
        "s_per_iter_first20pct": statistics.fmean(times[:k]),
        "s_per_iter_last20pct": statistics.fmean(times[-k:]),
        "cpu_s_per_iter_mean": statistics.fmean(cpu_times),
        "gaussians_start": n_start,
        "gaussians_end": counts[-1],
        "gaussians_max": max(counts),
        "peak_rss_mib": peak_rss_mib(),
    }
    if "cuda_peak" in mem:
        result["cuda_peak_mib"] = mem["cuda_peak"]
    result["quick"] = bool(args.quick)
    return result


def table(result: dict) -> str:
    lines = ["| metric | value |", "|---|---|"]
    for key, value in result.items():
        lines.append(f"| {key} | {value:.4g} |" if isinstance(value, float) else f"| {key} | {value} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    from training.console import setup_logging

    args = make_parser().parse_args(argv)
    setup_logging()
    result = run(args)
    print(table(result))
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as fh:
        json.dump(result, fh, indent=2)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    from training.console import run_cli

    sys.exit(run_cli(main, None, "bench_train.py"))
