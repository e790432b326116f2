#!/usr/bin/env python
"""What a per-Gaussian octree depth could save on a splat file (an estimate; the format has one depth).

    python scripts/variable_depth_gain.py INPUT --qualities 48 56

Runs the image-free default setup of ``compress.py`` (virtual views, rd pruning and depth, no
fine-tuning) at each quality and, at the point where ``compression.rd_structure.choose_structure``
picks the one octree depth d* of the file, asks what each kept Gaussian would choose alone, with the
same model the depth choice uses: moving Gaussian i's leaf from d* to depth d changes its position
distortion by Σ_a s_ia·(Δ_a(d)² − Δ_a(d*)²)/12 (s: the Hutchinson position diagonals, Δ_a(d) =
extent_a/2^d) and its octree bits by 3·(d − d*) (below the level where it is alone in its cell, each
level of the octree codes one child out of eight for it: about log2 8 = 3 bits, the coder's models
being nearly flat there). A leaf can rise no higher than that level. The saving, priced at
the run's bit price λ, is set against what the decoder would have to be told: one stop/continue flag
per Gaussian and level between its isolation level and its depth, with an ideal adaptive binary model
per level.

Prints per quality: d*, the kept Gaussians, the saving and the flags as shares of the file's bits, and
the net. Both are upper bounds of a sort: the distortion model is the high-rate one of the depth choice,
which grows less exact as cells grow large against the Gaussians.
"""
from __future__ import annotations

import argparse
import math
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
for path in (ROOT, os.path.join(ROOT, "scripts")):
    if path not in sys.path:
        sys.path.insert(0, path)

BITS_PER_SINGLE_CHILD_LEVEL = 3.0


def isolation_levels(morton: np.ndarray, d_max: int) -> np.ndarray:
    """[N] the first octree level at which each (Morton-sorted) voxel is alone in its cell."""
    shared = np.zeros(morton.size, np.int64)
    if morton.size > 1:
        diff = morton[1:] ^ morton[:-1]
        highest = np.array([int(v).bit_length() for v in diff], dtype=np.int64)  # highest differing bit + 1
        common = d_max - (highest + 2) // 3  # equal leading levels
        shared[1:] = np.maximum(shared[1:], common)
        shared[:-1] = np.maximum(shared[:-1], common)
    return shared + 1


def variable_depth_estimate(model, diagonals, choice, bits_per_gaussian: float) -> dict:
    import torch

    from raht.morton import morton_encode

    keep, d_star, lam = choice.keep, int(choice.depth), float(choice.lam)
    d_max = int(model.depth)
    coords = model.coords[keep].to(torch.int64)
    sens = diagonals.positions[keep].to(torch.float64).cpu().numpy()
    extent = (model.bbox_max - model.bbox_min).to(torch.float64).cpu().numpy()
    morton = morton_encode(coords.cpu()).numpy()
    order = np.argsort(morton)
    morton, sens = morton[order], sens[order]
    n = morton.size
    iso = isolation_levels(morton, d_max)

    def distortion(d: int) -> np.ndarray:
        return (sens * (extent / float(1 << d)) ** 2).sum(axis=1) / 12.0

    at_d_star = distortion(d_star)
    best_gain, best_depth = np.zeros(n), np.full(n, d_star)
    for d in range(1, d_max + 1):
        allowed = d >= np.minimum(iso, d_star)
        gain = (at_d_star - distortion(d)) - lam * BITS_PER_SINGLE_CHILD_LEVEL * (d - d_star)
        better = allowed & (gain > best_gain)
        best_gain[better], best_depth[better] = gain[better], d
    flag_bits = 0.0
    start = np.minimum(iso, d_star)
    for t in range(1, d_max):
        asked = (start <= t) & (best_depth >= t)
        k = int(asked.sum())
        if k:
            stop = int((asked & (best_depth == t)).sum())
            p = (stop + 0.5) / (k + 1.0)
            flag_bits -= stop * math.log2(p) + (k - stop) * math.log2(1.0 - p)
    file_bits = bits_per_gaussian * n
    saving = float(best_gain.sum()) / lam
    return {"depth": d_star, "kept": n, "saving": saving / file_bits, "flags": flag_bits / file_bits,
            "net": (saving - flag_bits) / file_bits}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("input", help="a splat file (PLY, compressed PLY, SOG, SPZ)")
    ap.add_argument("--qualities", type=float, nargs="+", default=[48.0])
    args = ap.parse_args(argv)
    if not os.path.isfile(args.input):
        print(f"variable_depth_gain.py: error: {args.input}: no such file", file=sys.stderr)
        return 2

    import torch

    import compression.setup as setup
    from arguments.compress import SPLAT_FILE_PRESET
    from arguments.compression import CompressionParams, resolve_compression_params
    from bench_image_free import default_setup
    from compression.views import view_schedule, virtual_views
    from scene.gaussian_model import GaussianModel
    from scene.splat_files import read_splat

    rows = []
    choose = setup.choose_structure

    def observed(model, diagonals, kappa, bits_per_gaussian):
        choice = choose(model, diagonals, kappa, bits_per_gaussian)
        rows.append(variable_depth_estimate(model, diagonals, choice, bits_per_gaussian))
        return choice

    source = GaussianModel.from_arrays(read_splat(args.input))
    views = virtual_views(source, view_schedule(source.num_gaussians), background=torch.zeros(3), backend="torch")
    params, _ = resolve_compression_params(CompressionParams(preset=SPLAT_FILE_PRESET), "")
    setup.choose_structure = observed
    try:
        print("| input | quality | depth | kept | saving | flags | net |")
        print("|---|---|---|---|---|---|---|")
        for q in args.qualities:
            rows.clear()
            default_setup(source, views, params, q)
            for r in rows[-1:]:  # the setup's final structure choice
                print(f"| {os.path.basename(args.input)} | {q:g} | {r['depth']} | {r['kept']:,} | {r['saving']:.1%} | "
                      f"{r['flags']:.1%} | {r['net']:.1%} |")
    finally:
        setup.choose_structure = choose
    return 0


if __name__ == "__main__":
    sys.exit(main())
