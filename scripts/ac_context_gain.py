#!/usr/bin/env python
"""How much richer contexts could save on the AC codes of a bundle (an estimate, nothing is re-coded).

    python scripts/ac_context_gain.py BUNDLE [BUNDLE ...]

The format codes each channel's RAHT coefficients with a two-sided geometric model per (block, weight
class) (codec/ac_coding.py). This script asks whether conditioning on more would pay, using the same
kind of model: per channel, a two-sided geometric distribution P(r) ∝ θ^|r| fitted by maximum
likelihood per context group, its ideal code length Σ −log2 P(r) plus 16 bits per fitted parameter,
for the groups

- ``class``: the weight class alone (the baseline);
- ``+parent``: × the magnitude of the same channel's coefficient at the parent node of the RAHT tree
  (bucketed 0, 1, 2, 3–5, 6–11, ≥ 12);
- ``+channel``: × the magnitude of the previous channel of the same triple at the same slot (the
  second and third Euler angles, f_dc components and scales);
- ``+both``; ``+neighbour``: × the previous coefficient in coding order.

A parametric model is used on purpose: empirical conditional entropies with thousands of contexts
over a few ten thousand symbols look far better than any coder could do (each context pays for
learning its distribution). Prints one row per bundle: the baseline's bytes and each variant relative
to it.
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

PARAMETER_BITS = 16


def magnitude_bucket(v: np.ndarray) -> np.ndarray:
    a = np.abs(v)
    return np.minimum(a, 3) + (a >= 6) + (a >= 12)


def geometric_bits(r: np.ndarray, groups: np.ndarray) -> float:
    """Ideal code length (bits) of r under a two-sided geometric model fitted per group, + parameters."""
    a = np.abs(r).astype(np.float64)
    ids, inv = np.unique(groups, return_inverse=True)
    mean = np.bincount(inv, weights=a) / np.bincount(inv)
    # E|r| = 2θ/(1 − θ²) for P(r) = (1 − θ)/(1 + θ)·θ^|r|
    theta = np.clip(np.where(mean > 0, (np.sqrt(1 + mean * mean) - 1) / np.maximum(mean, 1e-12), 1e-9), 1e-9, 1 - 1e-9)
    log_p = np.log2((1 - theta) / (1 + theta))[inv] + a * np.log2(theta)[inv]
    return float(-log_p.sum()) + PARAMETER_BITS * len(ids)


def rahtree_parents(morton: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per AC slot k + 1 (boundary k of the Morton-sorted voxels): the slot index of its parent node's
    coefficient (−1 at the root) and its pair weight w_L + w_R (raht/plan.py)."""
    p = morton.shape[0] - 1
    x = morton[:-1] ^ morton[1:]
    level = np.array([int(v).bit_length() - 1 for v in x], dtype=np.int64)
    left, right = np.full(p, -1, np.int64), np.full(p, -1, np.int64)
    stack: list[int] = []
    for k in range(p):  # nearest boundary with a higher split level on each side
        while stack and level[stack[-1]] <= level[k]:
            stack.pop()
        left[k] = stack[-1] if stack else -1
        stack.append(k)
    stack = []
    for k in range(p - 1, -1, -1):
        while stack and level[stack[-1]] <= level[k]:
            stack.pop()
        right[k] = stack[-1] if stack else -1
        stack.append(k)
    big = np.iinfo(np.int64).max
    level_left = np.where(left >= 0, level[np.maximum(left, 0)], big)
    level_right = np.where(right >= 0, level[np.maximum(right, 0)], big)
    parent = np.where(level_left < level_right, left, right)  # the tighter enclosing node
    k = np.arange(p)
    weight = (k + 1 - (left + 1)) + (np.where(right >= 0, right + 1, p + 1) - (k + 1))
    return parent, weight


def context_gains(bundle: str) -> dict:
    import torch

    from codec import load_npz
    from codec.ac_coding import code_centres, weight_classes
    from quant import split_length
    from raht.morton import morton_encode

    payload = load_npz(bundle).payload
    codes = payload.ac_codes.astype(np.int64)
    n_slots, c = codes.shape
    morton = morton_encode(torch.as_tensor(np.asarray(payload.coords), dtype=torch.int64)).numpy()
    if not np.all(np.diff(morton) > 0):
        raise ValueError(f"{bundle}: voxels are not in strictly increasing Morton order")
    parent, weight = rahtree_parents(morton)
    cls = weight_classes(weight)
    n_block = payload.n_block
    centres = code_centres(np.asarray(payload.zero_point).reshape(c, n_block), payload.bits)
    block = np.repeat(np.arange(n_block), split_length(n_slots, n_block))
    r = codes - centres[:, block].T
    order = np.argsort(cls * n_block + block, kind="stable")
    layout = payload.layout
    # the second and third channel of each triple (Euler angles, f_dc, scales): conditioned on the one before
    triple_second = {ch for part in (layout.euler, layout.f_dc, layout.scale) for ch in range(part.start + 1, part.stop)}
    totals = dict.fromkeys(("class", "+parent", "+channel", "+both", "+neighbour"), 0.0)
    for ch in range(c):
        rc = r[:, ch]
        b_parent = magnitude_bucket(np.where(parent >= 0, rc[np.maximum(parent, 0)], 0))
        previous = np.zeros(n_slots, np.int64)
        previous[order[1:]] = rc[order[:-1]]
        b_neighbour = magnitude_bucket(previous)
        b_channel = magnitude_bucket(r[:, ch - 1]) if ch in triple_second else np.zeros(n_slots, np.int64)
        groups = {"class": cls, "+parent": cls * 8 + b_parent, "+channel": cls * 8 + b_channel,
                  "+both": (cls * 8 + b_parent) * 8 + b_channel, "+neighbour": cls * 8 + b_neighbour}
        for key, g in groups.items():
            totals[key] += geometric_bits(rc, g)
    return {"bundle": bundle, "gaussians": n_slots + 1, "channels": c,
            "class_bytes": totals["class"] / 8, **{k: totals[k] / totals["class"] for k in totals if k != "class"}}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("bundles", nargs="+")
    args = ap.parse_args(argv)
    print("| bundle | Gaussians | channels | class (bytes) | +parent | +channel | +both | +neighbour |")
    print("|---|---|---|---|---|---|---|---|")
    for path in args.bundles:
        if not os.path.isfile(path):
            print(f"ac_context_gain.py: error: {path}: no such file", file=sys.stderr)
            return 2
        g = context_gains(path)
        print(f"| {path} | {g['gaussians']:,} | {g['channels']} | {g['class_bytes']:,.0f} | {g['+parent']:.3f} | "
              f"{g['+channel']:.3f} | {g['+both']:.3f} | {g['+neighbour']:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
