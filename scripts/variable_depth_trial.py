#!/usr/bin/env python
"""A trial of a per-Gaussian octree depth on a splat file: real bytes and real PSNR, outside the format.

    python scripts/variable_depth_trial.py INPUT --qualities 48 56

For each quality: the image-free default setup of ``compress.py`` (no fine-tuning) is saved as usual
(bundle A: bytes and PSNR on the held-out virtual views, as ``scripts/bench_rd.py --image_free``). Then
each Gaussian gets its own leaf level L_i ≤ d* (the file's depth), the one that minimises its position
distortion s_i·Σ_a Δ_a(L)²/12 (Hutchinson position diagonals, as the depth choice of
``compression/rd_structure.py``) plus λ·3 bits per level below the level where it is alone in its cell;
its position becomes the centre of that cell (``--lam_factor`` scales λ in this choice). The octree is coded again with a leaf flag per node
(``encode_variable_octree``: the occupancy bytes as in format v2, plus one adaptive binary flag per node
below the root saying "one Gaussian, stop here", context = level and whether the parent has one child),
decoded back and checked. The AC streams do not change (a leaf that rises stays alone in its cell, so the
Morton order and the RAHT plan are the same): bundle B's size is A's with the octree replaced, and its
PSNR is A's decoded model rendered with the moved positions.

Prints per quality: A and B (bytes @ PSNR), the octree bytes of both, and B's bytes at A's PSNR
interpolated on the B points of all qualities when there are two or more. Not a format: nothing is
written but the trial's bundles A under --out.

Result (session 6, donut.ply, Q48/52/56): B saves 13–15 % of the octree but loses 2.2–2.9 dB, 1.087× A's
bytes at A's PSNR; with ``--lam_factor 0.05`` 1.003×. The Hutchinson diagonal prices a position error
well for small moves only: a leaf several levels up moves its Gaussian by a large part of its size, far
outside the linear model. The lever is not worth a format change in this form.
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
for path in (ROOT, os.path.join(ROOT, "scripts")):
    if path not in sys.path:
        sys.path.insert(0, path)

BITS_PER_SINGLE_CHILD_LEVEL = 3.0


def _occupancy(nodes: np.ndarray, codes: np.ndarray, leaf: np.ndarray, t: int, depth: int) -> np.ndarray:
    """Occupancy bytes of the active nodes at level t (over the Gaussians whose leaves lie deeper)."""
    child = np.unique(codes[leaf > t] >> (3 * (depth - t - 1)))
    byte = np.zeros(nodes.size, dtype=np.int64)
    np.bitwise_or.at(byte, np.searchsorted(nodes, child >> 3), 1 << (child & 7))
    return byte


def encode_variable_octree(codes: np.ndarray, leaf: np.ndarray, depth: int) -> np.ndarray:
    """uint32 words: Gaussians with Morton codes ``codes`` (at ``depth``, sorted, unique) whose leaves
    sit at levels ``leaf`` (1..depth; a Gaussian at level L is alone in its cell at L)."""
    from codec.entropy import RangeWriter, adaptive_encode
    from codec.geometry import N_CONTEXTS, encode_level_bytes, expand_children

    writer = RangeWriter()
    byte_counts = np.ones((N_CONTEXTS, 255), dtype=np.int64)
    flag_counts = np.ones((2, 2), dtype=np.int64)
    nodes = np.zeros(1, dtype=np.int64)
    context = np.zeros(1, dtype=np.int64)
    for t in range(depth):
        byte_counts = (byte_counts + 1) // 2
        flag_counts = (flag_counts + 1) // 2
        byte = _occupancy(nodes, codes, leaf, t, depth)
        encode_level_bytes(writer, byte, context, byte_counts)
        child, child_context = expand_children(nodes, byte)
        if t + 1 == depth:  # at the last level every node is a leaf: no flags
            break
        stops = np.isin(child, codes[leaf == t + 1] >> (3 * (depth - t - 1)))
        for single in (False, True):
            sel = (child_context == 1) == single
            if sel.any():
                adaptive_encode(writer, stops[sel].astype(np.int64), flag_counts[int(single)])
        nodes, context = child[~stops], child_context[~stops]
    return writer.words()


def decode_variable_octree(words: np.ndarray, depth: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(prefix [n], level [n]) of every leaf, in Morton order of the prefixes' cells."""
    from codec.entropy import RangeReader, adaptive_decode
    from codec.geometry import N_CONTEXTS, decode_level_bytes, expand_children

    reader = RangeReader(words)
    byte_counts = np.ones((N_CONTEXTS, 255), dtype=np.int64)
    flag_counts = np.ones((2, 2), dtype=np.int64)
    nodes = np.zeros(1, dtype=np.int64)
    context = np.zeros(1, dtype=np.int64)
    prefixes, levels = [], []
    for t in range(depth):
        byte_counts = (byte_counts + 1) // 2
        flag_counts = (flag_counts + 1) // 2
        child, child_context = expand_children(nodes, decode_level_bytes(reader, context, byte_counts))
        stops = np.ones(child.size, dtype=bool)  # at the last level every node is a leaf
        if t + 1 < depth:
            for single in (False, True):
                sel = np.flatnonzero((child_context == 1) == single)
                if sel.size:
                    stops[sel] = adaptive_decode(reader, sel.size, flag_counts[int(single)]).astype(bool)
        prefixes.append(child[stops])
        levels.append(np.full(int(stops.sum()), t + 1))
        nodes, context = child[~stops], child_context[~stops]
        if sum(p.size for p in prefixes) + nodes.size > n:
            raise ValueError("more leaves than Gaussians")
    prefix, level = np.concatenate(prefixes), np.concatenate(levels)
    if prefix.size != n:
        raise ValueError(f"{prefix.size} leaves, expected {n}")
    order = np.argsort(prefix << (3 * (depth - level)), kind="stable")
    return prefix[order], level[order]


def isolation_levels(morton: np.ndarray, depth: int) -> np.ndarray:
    """[N] the first octree level at which each (Morton-sorted) voxel is alone in its cell."""
    shared = np.zeros(morton.size, np.int64)
    if morton.size > 1:
        diff = morton[1:] ^ morton[:-1]
        highest = np.array([int(v).bit_length() for v in diff], dtype=np.int64)  # highest differing bit + 1
        common = depth - (highest + 2) // 3  # equal leading levels
        shared[1:] = np.maximum(shared[1:], common)
        shared[:-1] = np.maximum(shared[:-1], common)
    return shared + 1


def leaf_levels(codes: np.ndarray, sens: np.ndarray, extent: np.ndarray, depth: int, lam: float) -> np.ndarray:
    """Each Gaussian's leaf level in [its isolation level, depth] minimising distortion + λ·bits."""
    iso = np.minimum(isolation_levels(codes, depth), depth)
    best_cost = np.full(codes.size, np.inf)
    best = np.full(codes.size, depth)
    for d in range(1, depth + 1):
        cost = (sens * (extent / float(1 << d)) ** 2).sum(axis=1) / 12.0 + lam * BITS_PER_SINGLE_CHILD_LEVEL * d
        better = (d >= iso) & (cost < best_cost)
        best_cost[better], best[better] = cost[better], d
    return best


def trial(source, views, params, quality: float, out_dir: str, lam_factor: float = 1.0) -> dict:
    import torch

    from bench_image_free import curve_point
    from codec import load_npz
    from codec.geometry import encode_geometry
    from compression.attributes import activate_attributes
    from compression.sensitivity import block_sensitivity
    from quant.rate_distortion import bit_price
    from raht.morton import morton_decode, morton_encode
    from bench_rd import evaluate

    model, bundle, a = curve_point(source, views, params, quality, out_dir)
    held = views.test_cameras
    decoded = load_npz(bundle)
    depth = decoded.payload.depth
    coords = torch.as_tensor(np.asarray(decoded.payload.coords), dtype=torch.int64)
    codes = morton_encode(coords).numpy()
    if not np.all(np.diff(codes) > 0):
        raise RuntimeError("decoded voxels are not in Morton order")
    if model.hutchinson is None or model.hutchinson.positions.shape[0] != codes.size:
        raise RuntimeError("the final model carries no Hutchinson diagonals of its own rows")
    model_codes = morton_encode(model.coords.to(torch.int64).cpu()).numpy()
    row = np.argsort(model_codes)  # model rows in Morton order = the decoded order
    if not np.array_equal(model_codes[row], codes):
        raise RuntimeError("the model's voxels are not the decoded ones")
    sens = model.hutchinson.positions.to(torch.float64).cpu().numpy()[row]
    lam = bit_price(block_sensitivity(model.hutchinson.coefficients, model.n_block).to(torch.float64),
                    float(model.bank.kappa))
    extent = (np.asarray(decoded.payload.bbox_max) - np.asarray(decoded.payload.bbox_min)).astype(np.float64)
    leaf = leaf_levels(codes, sens, extent, depth, lam_factor * lam)
    words_b = encode_variable_octree(codes, leaf, depth)
    prefix, level = decode_variable_octree(words_b, depth, codes.size)
    if not (np.array_equal(prefix, codes >> (3 * (depth - leaf))) and np.array_equal(level, leaf)):
        raise RuntimeError("the variable-depth octree does not decode to its leaves")
    words_a = encode_geometry(coords.numpy(), depth)
    # positions: the centre of each leaf's cell, on the fine grid (its first corner + half the cell)
    k = depth - leaf
    fine = (codes >> (3 * k)) << (3 * k)
    moved = morton_decode(torch.from_numpy(fine)).numpy() + np.where(k > 0, 1 << np.maximum(k - 1, 0), 0)[:, None]
    lo = torch.as_tensor(np.asarray(decoded.payload.bbox_min), dtype=torch.float32)
    hi = torch.as_tensor(np.asarray(decoded.payload.bbox_max), dtype=torch.float32)
    cell = (hi - lo) / float(1 << depth)
    means = lo + (torch.from_numpy(moved).to(torch.float32) + 0.5) * cell
    gauss = lambda: activate_attributes(decoded.attributes, means, decoded.payload.layout)  # noqa: E731
    psnr_b = evaluate(gauss, decoded.sh_degree, held)[0]
    bytes_b = a["bytes"] - 4 * int(words_a.size) + 4 * int(words_b.size)
    return {"quality": quality, "depth": depth, "n": int(codes.size), "bytes_a": a["bytes"], "psnr_a": a["psnr"],
            "bytes_b": bytes_b, "psnr_b": psnr_b, "octree_a": 4 * int(words_a.size), "octree_b": 4 * int(words_b.size),
            "levels": {int(v): int(c) for v, c in zip(*np.unique(leaf, return_counts=True))}}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("input")
    ap.add_argument("--qualities", type=float, nargs="+", default=[48.0])
    ap.add_argument("--out", default=os.path.join("bench_out", "variable_depth_trial"))
    ap.add_argument("--lam_factor", type=float, default=1.0,
                    help="scale the bit price of the leaf choice (below 1: fewer, smaller moves)")
    args = ap.parse_args(argv)
    if not os.path.isfile(args.input):
        print(f"variable_depth_trial.py: error: {args.input}: no such file", file=sys.stderr)
        return 2
    import torch

    from arguments.compress import SPLAT_FILE_PRESET
    from arguments.compression import CompressionParams, resolve_compression_params
    from bench_rd import interpolate_bytes
    from compression.views import view_schedule, virtual_views
    from scene.gaussian_model import GaussianModel
    from scene.splat_files import read_splat

    torch.set_num_threads(2)
    source = GaussianModel.from_arrays(read_splat(args.input))
    views = virtual_views(source, view_schedule(source.num_gaussians), background=torch.zeros(3), backend="torch")
    params, _ = resolve_compression_params(CompressionParams(preset=SPLAT_FILE_PRESET), "")
    out_dir = os.path.join(args.out, os.path.splitext(os.path.basename(args.input))[0])
    rows = [trial(source, views, params, q, out_dir, args.lam_factor) for q in args.qualities]
    print("| quality | depth | Gaussians | A: bytes @ PSNR | B: bytes @ PSNR | octree A → B | B's bytes at A's PSNR / A's |")
    print("|---|---|---|---|---|---|---|")
    curve_b = [{"psnr_gt": r["psnr_b"], "bytes": r["bytes_b"]} for r in rows]
    for r in rows:
        at = interpolate_bytes(curve_b, r["psnr_a"]) if len(rows) > 1 else None
        print(f"| {r['quality']:g} | {r['depth']} | {r['n']:,} | {r['bytes_a']:,} @ {r['psnr_a']:.2f} | "
              f"{r['bytes_b']:,} @ {r['psnr_b']:.2f} | {r['octree_a']:,} → {r['octree_b']:,} | "
              f"{(at / r['bytes_a']):.3f} |" if at else
              f"| {r['quality']:g} | {r['depth']} | {r['n']:,} | {r['bytes_a']:,} @ {r['psnr_a']:.2f} | "
              f"{r['bytes_b']:,} @ {r['psnr_b']:.2f} | {r['octree_a']:,} → {r['octree_b']:,} | — |")
    for r in rows:
        print(f"Q{r['quality']:g} leaf levels: {r['levels']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
