"""Benchmark of raht/: voxelize, plan build, forward, inverse, forward+backward, peak memory.

Random uniform positions in the unit cube, 55 float32 channels, depth 20; N = 100k and 1M points
(--quick: N = 20k). Each case runs in a fresh subprocess so that its peak RSS is its own. Times
are the median of --repeats runs after one warm-up run (the plan: median of --repeats builds);
CUDA timings are synchronised. Targets at N = 1M on 2 CPU cores: plan <= 3 s, forward <= 1 s,
inverse <= 1 s, peak RSS <= 3 GB.

    python scripts/bench_raht.py [--quick] [--threads 2] [--device cpu|cuda|all] [--out bench_out/bench_raht.json]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

CHANNELS = 55
DEPTH = 20
TARGETS_1M = {"plan_s": 3.0, "forward_s": 1.0, "inverse_s": 1.0, "peak_rss_gb": 3.0}


def _rss_gb() -> float:
    """Peak resident set size of this process so far, GiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def _run_case(n_points: int, device_name: str, threads: int, repeats: int, seed: int = 0) -> dict:
    """One benchmark case, run inside its own process."""
    import torch

    from raht import build_plan, raht_forward, raht_inverse, voxelize

    torch.set_num_threads(threads)
    device = torch.device(device_name)
    cuda = device.type == "cuda"
    base_rss = _rss_gb()

    def sync():
        if cuda:
            torch.cuda.synchronize(device)

    def timed(fn, n):
        times, out = [], None
        for _ in range(n):
            out = None  # free the previous result before the next run
            sync()
            t0 = time.perf_counter()
            out = fn()
            sync()
            times.append(time.perf_counter() - t0)
        return statistics.median(times), out

    g = torch.Generator().manual_seed(seed)
    positions = torch.rand(n_points, 3, generator=g).to(device)
    t_vox, vox = timed(lambda: voxelize(positions, DEPTH), 1)
    coords, m = vox.coords, vox.n_voxels
    del positions, vox  # keep only what the transform needs, so the peak is the transform's
    if cuda:
        torch.cuda.reset_peak_memory_stats(device)

    t_plan, plan = timed(lambda: build_plan(coords, DEPTH), repeats)
    attrs = torch.randn(m, CHANNELS, generator=g).to(device)
    raht_forward(attrs, plan)  # warm-up (allocator, caches)
    t_fwd, coeffs = timed(lambda: raht_forward(attrs, plan), repeats)
    raht_inverse(coeffs, plan)
    t_inv, back = timed(lambda: raht_inverse(coeffs, plan), repeats)
    rel_err = ((back - attrs).abs().max() / attrs.abs().max()).item()
    del back, coeffs

    grad_out = torch.randn(m, CHANNELS, generator=g).to(device)
    attrs.requires_grad_(True)

    def fwd_bwd():
        attrs.grad = None
        raht_forward(attrs, plan).backward(grad_out)
        return None

    fwd_bwd()
    t_fb, _ = timed(fwd_bwd, repeats)
    return {
        "device": device.type,
        "threads": threads,
        "n_points": n_points,
        "n_voxels": m,
        "channels": CHANNELS,
        "depth": DEPTH,
        "levels": plan.n_levels,
        "voxelize_s": t_vox,
        "plan_s": t_plan,
        "forward_s": t_fwd,
        "inverse_s": t_inv,
        "fwd_bwd_s": t_fb,
        "roundtrip_rel_err": rel_err,
        "base_rss_gb": base_rss,
        "peak_rss_gb": _rss_gb(),
        "peak_gpu_gb": torch.cuda.max_memory_allocated(device) / 2**30 if cuda else None,
    }


def _targets(row: dict) -> str:
    if row["n_points"] < 1_000_000:
        return "n/a"
    ok = all(row[k] <= v for k, v in TARGETS_1M.items())
    return "yes" if ok else "no"


def run(quick: bool, devices: list[str] | None = None, threads: int = 2, repeats: int = 3) -> list[dict]:
    """All benchmark rows (one subprocess per case). ``devices`` defaults to cpu (+ cuda if present)."""
    if devices is None:
        devices = ["cpu"]
        probe = subprocess.run([sys.executable, "-c", "import torch; print(torch.cuda.is_available())"],
                               capture_output=True, text=True, check=True)
        if probe.stdout.strip() == "True":
            devices.append("cuda")
    sizes = [20_000] if quick else [100_000, 1_000_000]
    rows = []
    for device in devices:
        for n in sizes:
            spec = json.dumps({"n_points": n, "device_name": device, "threads": threads, "repeats": repeats})
            proc = subprocess.run([sys.executable, os.path.abspath(__file__), "--case", spec],
                                  capture_output=True, text=True)
            if proc.returncode != 0:
                raise RuntimeError(f"bench_raht case {spec} failed:\n{proc.stderr}")
            row = json.loads(proc.stdout.strip().splitlines()[-1])
            row["targets_1M_met"] = _targets(row)
            rows.append(row)
    return rows


def table(rows: list[dict]) -> str:
    """Markdown table of the rows (all rows share the keys of the first)."""
    if not rows:
        return "(no rows)"
    keys = list(rows[0].keys())
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    for row in rows:
        cells = [f"{row[k]:.4g}" if isinstance(row[k], float) else ("-" if row[k] is None else str(row[k]))
                 for k in keys]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="N = 20k only (smoke test)")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (targets assume 2)")
    parser.add_argument("--device", choices=["cpu", "cuda", "all"], default="all",
                        help="cpu, cuda, or all (= cpu plus cuda when available)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per figure (median)")
    parser.add_argument("--out", default="bench_out/bench_raht.json", help="JSON output path")
    parser.add_argument("--case", help=argparse.SUPPRESS)  # internal: run one case, print JSON
    args = parser.parse_args(argv)
    if args.case:
        print(json.dumps(_run_case(**json.loads(args.case))))
        return 0
    devices = None if args.device == "all" else [args.device]
    try:
        rows = run(args.quick, devices=devices, threads=args.threads, repeats=args.repeats)
    except (RuntimeError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(table(rows))
    os.makedirs(os.path.dirname(os.path.abspath(args.out)) or ".", exist_ok=True)
    with open(args.out, "w") as f:
        json.dump({"quick": args.quick, "rows": rows}, f, indent=2)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
