#!/usr/bin/env python
"""Estimate what richer octree contexts would save on the geometry of bundles (format v2/v3 code the
occupancy bytes with one adaptive model per parent child count, codec/geometry.py).

For each bundle: the voxels are decoded, the octree rebuilt, and its occupancy bits are costed with
adaptive binary models (counts start at 1 each; the exact adaptive code length depends only on the
final counts, so no coder is run). Bit k of a node's byte is coded after bits 0..k−1, with contexts a
decoder knows at that point:

- ``child``: (k, how many of bits 0..k−1 are set, the parent's child count) — the byte model of v2/v3
  recast as bits;
- ``child+neighbours``: the same plus, for child k, which of the node's three face neighbours on the
  child's sides (same level, all known once the previous level is decoded) are occupied — G-PCC's
  neighbour-dependent contexts, reduced to the child's own octant;
- ``child+neighbours+count``: the same plus the number of the node's six face neighbours occupied.

Printed per bundle: the geometry member's real bytes, then each estimate in bytes and over the
``child`` estimate (the change richer contexts would make to the current model's cost).

    python scripts/geometry_context_gain.py bench_out/image_free_s7_r1/donut/q48/pc_npz.bundle
"""
from __future__ import annotations

import argparse
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402
import torch  # noqa: E402

from codec.entropy import adaptive_code_bits  # noqa: E402
from codec.geometry import expand_children, occupancy_levels  # noqa: E402
from raht import morton_decode, morton_encode  # noqa: E402

# the six face directions; child k's outward sides are those where its octant bit is 1 (+) or 0 (−)
FACES = np.array([[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]], dtype=np.int64)


def adaptive_binary_bits(context: np.ndarray, bit: np.ndarray) -> float:
    """Σ over contexts of the exact code length of an adaptive binary model with counts starting at 1."""
    keys, inv = np.unique(context, return_inverse=True)
    hist = np.bincount(inv * 2 + bit.astype(np.int64), minlength=2 * keys.size).reshape(keys.size, 2)
    return adaptive_code_bits(hist)


def occupied(prefixes_sorted: np.ndarray, coords: np.ndarray, size: int) -> np.ndarray:
    """Whether each coordinate (at one level, side ``size``) is an occupied node of that level."""
    inside = ((coords >= 0) & (coords < size)).all(axis=1)
    out = np.zeros(coords.shape[0], dtype=bool)
    if inside.any():
        codes = morton_encode(torch.from_numpy(coords[inside])).numpy()
        pos = np.searchsorted(prefixes_sorted, codes)
        pos = np.minimum(pos, prefixes_sorted.size - 1)
        out[inside] = prefixes_sorted[pos] == codes
    return out


def estimate(coords: np.ndarray, depth: int) -> dict[str, float]:
    octant = morton_decode(torch.arange(8)).numpy()  # child k → (dx, dy, dz) ∈ {0,1}³
    levels = occupancy_levels(coords, depth)
    ctx_child, ctx_nb, ctx_nbc, bits = [], [], [], []
    parent_count = np.zeros(1, dtype=np.int64)
    for t, (nodes, byte) in enumerate(levels):
        size = 1 << t
        xyz = morton_decode(torch.from_numpy(nodes)).numpy() if t > 0 else np.zeros((1, 3), dtype=np.int64)
        face = np.stack([occupied(nodes, xyz + f, size) for f in FACES], axis=1)  # [n, 6]
        n_faces = face.sum(axis=1)
        b = (byte[:, None] >> np.arange(8)[None, :]) & 1  # [n, 8]
        before = np.concatenate([np.zeros((b.shape[0], 1), dtype=np.int64), np.cumsum(b, axis=1)[:, :-1]], axis=1)
        for k in range(8):
            dx, dy, dz = octant[k]
            sides = (face[:, 0 if dx else 1].astype(np.int64) | face[:, 2 if dy else 3] << 1
                     | face[:, 4 if dz else 5] << 2)
            base = (k * 9 + before[:, k]) * 9 + np.minimum(parent_count, 8)
            ctx_child.append(base)
            ctx_nb.append(base * 8 + sides)
            ctx_nbc.append((base * 8 + sides) * 7 + n_faces)
            bits.append(b[:, k])
        parent_count = expand_children(nodes, byte)[1]
    bit = np.concatenate(bits).astype(np.float64)
    return {name: adaptive_binary_bits(np.concatenate(ctx), bit) / 8.0
            for name, ctx in (("child", ctx_child), ("child+neighbours", ctx_nb), ("child+neighbours+count", ctx_nbc))}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("bundles", nargs="+")
    args = ap.parse_args()
    from codec import load_npz
    from codec.report import describe_compressed

    print("| bundle | voxels | depth | geometry member B | child B | + neighbours B (× child) | + neighbour count B (× child) |")
    print("|---|---|---|---|---|---|---|")
    for path in args.bundles:
        if not os.path.exists(path):
            print(f"{path} is absent", file=sys.stderr)
            return 2
        payload = load_npz(path).payload
        real = describe_compressed(path).component_bytes["geometry"]
        est = estimate(np.asarray(payload.coords), int(payload.depth))
        c = est["child"]
        print(f"| {path} | {len(payload.coords)} | {payload.depth} | {real} | {c:.0f} | "
              f"{est['child+neighbours']:.0f} ({est['child+neighbours'] / c:.3f}) | "
              f"{est['child+neighbours+count']:.0f} ({est['child+neighbours+count'] / c:.3f}) |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
