#!/usr/bin/env python
"""Which principal-axis assignment codes the rotations and scales in the fewest bytes (``--axes``).

For each input splat (image-free, the held-out virtual views of ``compress.py``), for each choice of
``utils.rotations.canonical_axes`` and each quality: the image-free defaults (``configs/splat_file.json``,
rate–distortion pruning and depth per quality) without fine-tuning, saved, decoded with ``load_npz`` and
rendered. Reports bytes, PSNR against the original, the bytes of the Euler and scale streams, and per
choice its bytes at equal PSNR relative to ``input`` (log-linear interpolation on the ``input`` curve,
never extrapolated). The docs quote (CPU, one run per line):

    python scripts/bench_axes.py --qualities 40 48 --out bench_out/axes
    python scripts/bench_axes.py --inputs ../shared/data/captures/massa.sog --choices input scales --qualities 36 44 52
"""
from __future__ import annotations

import argparse
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import torch  # noqa: E402

from scripts.bench_image_free import decoded_point, default_inputs, default_setup, short_name  # noqa: E402
from scripts.bench_rd import interpolate_bytes, log  # noqa: E402


def run_input(path: str, choices: list[str], qualities: list[float], out: str) -> dict:
    from arguments.compress import SPLAT_FILE_PRESET
    from arguments.compression import CompressionParams, resolve_compression_params
    from codec import save_npz
    from compression.views import view_schedule, virtual_views
    from scene.gaussian_model import GaussianModel
    from scene.splat_files import read_splat

    name = short_name(path)
    source = GaussianModel.from_arrays(read_splat(path))
    views = virtual_views(source, view_schedule(source.num_gaussians), background=torch.zeros(3), backend="torch")
    params, _ = resolve_compression_params(CompressionParams(preset=SPLAT_FILE_PRESET), "")
    res = {"name": name, "n_gaussians": source.num_gaussians, "sh_degree": source.max_sh_degree, "curves": {}}
    for choice in choices:
        points = []
        for q in qualities:
            model = default_setup(source, views, params, q, axes=choice)
            model.eval()
            pc = os.path.join(out, name, choice, f"q{q:g}", "pc_npz")
            save_npz(model.encode(codec="range"), pc, plan=model.plan)
            point = dict(decoded_point(pc + ".bundle", views.test_cameras), quality=q)
            comp = point.pop("components")
            point.update(euler_bytes=comp.get("ac_euler"), scale_bytes=comp.get("ac_scale"))
            points.append(point)
            log(f"{name} {choice} Q{q:g}: {point['bytes']} B @ {point['psnr']:.2f} dB "
                f"(Euler {point['euler_bytes']} B, scales {point['scale_bytes']} B, {point['n_gaussians']} Gaussians)")
        res["curves"][choice] = points
    if "input" in res["curves"]:
        base = [{"psnr_gt": p["psnr"], "bytes": p["bytes"]} for p in res["curves"]["input"]]
        for choice, points in res["curves"].items():
            for p in points:
                b = interpolate_bytes(base, p["psnr"])
                p["relative_to_input"] = p["bytes"] / b if b else None
    return res


def markdown(results: list[dict]) -> str:
    lines = ["| input | axes | quality | bytes @ PSNR | Euler B | scale B | bytes / input's at equal PSNR |",
             "|---|---|---|---|---|---|---|"]
    for r in results:
        for choice, points in r["curves"].items():
            for p in points:
                rel = p.get("relative_to_input")
                lines.append(f"| {r['name']} | {choice} | {p['quality']:g} | {p['bytes']:,} @ {p['psnr']:.2f} | "
                             f"{p['euler_bytes']:,} | {p['scale_bytes']:,} | {f'{rel:.3f}' if rel else '—'} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--inputs", nargs="+", help="splat files (default: ../shared/data/captures and fern's PLY)")
    ap.add_argument("--choices", nargs="+", default=["input", "scales", "rotation"])
    ap.add_argument("--qualities", nargs="+", type=float, default=[40.0, 48.0])
    ap.add_argument("--out", default=os.path.join(ROOT, "bench_out", "axes"))
    args = ap.parse_args(argv)
    torch.set_num_threads(min(2, torch.get_num_threads()))
    inputs = args.inputs or default_inputs()
    if not inputs:
        log("no inputs: nothing to measure")
        return 1
    results = [run_input(p, args.choices, args.qualities, args.out) for p in inputs]
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "bench_axes.json"), "w") as f:
        json.dump(results, f, indent=1)
    table = markdown(results)
    with open(os.path.join(args.out, "bench_axes.md"), "w") as f:
        f.write(table)
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
