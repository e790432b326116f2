#!/usr/bin/env python
"""Benchmark the pure-PyTorch renderer: forward, backward, forward+backward, pairs, peak memory.

Setup (gsplat-notes §5): one camera at the origin looking down +z, focal length = resolution
(pixels), principal point at the image centre, Gaussians at depth 2–6 spread over the view,
log-normal scales around 0.03, random quaternions, opacities uniform in [0, 1), SH degree 3,
float32, loss = L1 against a random image. Each configuration runs in its own process (so the
peak RSS from ``resource.getrusage`` belongs to that configuration), with warm-up iterations
and the median of the timed repeats.

Targets (on 2 CPU cores): 10k Gaussians at 128² forward+backward ≤ 0.15 s; 50k at
256² ≤ 5 s.

Usage:
    python scripts/bench_render.py [--quick] [--out bench_out/bench_render.json] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

FULL_CASES = [(10_000, 128), (50_000, 256)]
QUICK_CASES = [(1_000, 64), (4_000, 96)]
TARGETS_S = {(10_000, 128): 0.15, (50_000, 256): 5.0}


@dataclass
class BenchCamera:
    """Minimal camera with the fields ``gaussian_renderer.render`` reads."""

    world_to_camera: object
    intrinsics: object
    width: int
    height: int


def make_scene(n: int, res: int, seed: int = 0, sh_degree: int = 3):
    """Random benchmark scene (see module docstring); returns tensors and a camera."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    depth = 2.0 + 4.0 * torch.rand(n, generator=gen)
    xy = (torch.rand(n, 2, generator=gen) - 0.5) * depth[:, None]
    means = torch.cat([xy, depth[:, None]], dim=1)
    quats = torch.randn(n, 4, generator=gen)
    scales = torch.exp(math.log(0.03) + 0.5 * torch.randn(n, 3, generator=gen))
    opacities = torch.rand(n, generator=gen)
    sh = 0.3 * torch.randn(n, (sh_degree + 1) ** 2, 3, generator=gen)
    intrinsics = torch.tensor([[res, 0.0, res / 2], [0.0, res, res / 2], [0.0, 0.0, 1.0]])
    camera = BenchCamera(torch.eye(4), intrinsics, res, res)
    return means, quats, scales, opacities, sh, camera


def run_case(n: int, res: int, repeats: int, warmup: int, threads: int | None) -> dict:
    """Time one configuration in this process and return its record."""
    import torch

    from gaussian_renderer import render

    if threads:
        torch.set_num_threads(threads)
    means, quats, scales, opacities, sh, camera = make_scene(n, res)
    params = [t.clone().requires_grad_(True) for t in (means, quats, scales, opacities, sh)]
    target = torch.rand(res, res, 3, generator=torch.Generator().manual_seed(1))
    rows = []
    n_pairs = n_live = 0
    for it in range(warmup + repeats):
        for p in params:
            p.grad = None
        t0, c0 = time.perf_counter(), time.process_time()
        out = render(*params[:4], camera, sh_coeffs=params[4], sh_degree=3, backend="torch")
        loss = (out["image"] - target).abs().mean()
        t1, c1 = time.perf_counter(), time.process_time()
        loss.backward()
        t2, c2 = time.perf_counter(), time.process_time()
        n_pairs, n_live = out["n_pairs"], out["info"]["n_live_pairs"]
        if it >= warmup:
            rows.append((t1 - t0, t2 - t1, t2 - t0, c1 - c0, c2 - c1))
    med = [statistics.median(col) for col in zip(*rows)]
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "n_gaussians": n,
        "resolution": res,
        "sh_degree": 3,
        "dtype": "float32",
        "repeats": repeats,
        "warmup": warmup,
        "threads": torch.get_num_threads(),
        "forward_s": med[0],
        "backward_s": med[1],
        "forward_backward_s": med[2],
        "forward_cpu_s": med[3],
        "backward_cpu_s": med[4],
        "pairs": n_pairs,
        "live_pairs": n_live,
        "peak_rss_mib": peak_kib / 1024.0,
        "target_forward_backward_s": TARGETS_S.get((n, res)),
    }


def markdown_table(results: list[dict]) -> str:
    """The records as a markdown table."""
    head = (
        "| N | res | pairs | live pairs | fwd s | bwd s | fwd+bwd s | fwd CPU-s | bwd CPU-s "
        "| peak RSS MiB | target s |\n|---|---|---|---|---|---|---|---|---|---|---|"
    )
    lines = [head]
    for r in results:
        target = r["target_forward_backward_s"]
        lines.append(
            f"| {r['n_gaussians']:,} | {r['resolution']}² | {r['pairs']:,} | {r['live_pairs']:,} "
            f"| {r['forward_s']:.3f} | {r['backward_s']:.3f} | {r['forward_backward_s']:.3f} "
            f"| {r['forward_cpu_s']:.3f} | {r['backward_cpu_s']:.3f} | {r['peak_rss_mib']:.0f} "
            f"| {'—' if target is None else f'≤ {target}'} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes only (smoke test)")
    parser.add_argument("--out", default=os.path.join("bench_out", "bench_render.json"), help="JSON output path")
    parser.add_argument("--repeats", type=int, default=None, help="timed repeats (default 5, quick 3)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed warm-up iterations")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (0 = torch default)")
    parser.add_argument("--case", nargs=2, type=int, metavar=("N", "RES"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    repeats = args.repeats if args.repeats is not None else (3 if args.quick else 5)
    if repeats < 1 or args.warmup < 0:
        print(f"error: --repeats must be ≥ 1 and --warmup ≥ 0, got {repeats}, {args.warmup}", file=sys.stderr)
        return 2

    if args.case:  # child process: one configuration, JSON on stdout
        record = run_case(args.case[0], args.case[1], repeats, args.warmup, args.threads or None)
        print(json.dumps(record))
        return 0

    results = []
    for n, res in QUICK_CASES if args.quick else FULL_CASES:
        cmd = [
            sys.executable, os.path.abspath(__file__), "--case", str(n), str(res),
            "--repeats", str(repeats), "--warmup", str(args.warmup), "--threads", str(args.threads),
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
        if proc.returncode != 0:
            print(f"error: benchmark case N={n} res={res} failed:\n{proc.stderr}", file=sys.stderr)
            return 1
        record = json.loads(proc.stdout.strip().splitlines()[-1])
        results.append(record)
        print(f"N={n:,} res={res}²: fwd+bwd {record['forward_backward_s']:.3f} s", flush=True)

    import torch

    report = {
        "benchmark": "bench_render",
        "quick": args.quick,
        "command": " ".join([os.path.relpath(os.path.abspath(__file__), ROOT)] + (argv if argv is not None else sys.argv[1:])),
        "machine": {
            "platform": platform.platform(),
            "cpu_count": os.cpu_count(),
            "torch": torch.__version__,
            "threads": args.threads,
        },
        "results": results,
    }
    out_dir = os.path.dirname(os.path.abspath(args.out))
    os.makedirs(out_dir, exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as fh:
        json.dump(report, fh, indent=2)
    print()
    print(markdown_table(results))
    print(f"\nwritten: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
