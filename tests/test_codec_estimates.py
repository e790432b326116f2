"""The estimators behind session 7's refuted candidates compute what they say: the adaptive code lengths
equal a symbol-by-symbol adaptive model, the octree estimate's plain contexts come close to the real
octree coder, and the dead-zone rounding is the codec's rounding at θ = 0 and never rounds away from 0."""
from __future__ import annotations

import math

import numpy as np
import torch

from codec.geometry import encode_geometry
from quant.core import quantize
from scripts.deadzone_trial import deadzone_quantize
from scripts.direct_allocation_gain import adaptive_bits
from scripts.geometry_context_gain import adaptive_binary_bits, estimate


def test_adaptive_binary_bits_is_the_sequential_code_length():
    rng = np.random.default_rng(1)
    ctx = rng.integers(0, 4, 500)
    bit = (rng.random(500) < 0.2 + 0.15 * ctx).astype(np.float64)
    counts = np.ones((4, 2))
    bits = 0.0
    for c, b in zip(ctx, bit.astype(int)):
        bits -= math.log2(counts[c, b] / counts[c].sum())
        counts[c, b] += 1
    assert abs(adaptive_binary_bits(ctx, bit) - bits) < 1e-6


def test_adaptive_bits_is_the_sequential_code_length():
    codes = np.random.default_rng(2).integers(-5, 9, 300)
    counts = np.ones(codes.max() - codes.min() + 1)
    bits = 32.0  # the alphabet's range
    for v in codes - codes.min():
        bits -= math.log2(counts[v] / counts.sum())
        counts[v] += 1
    assert abs(adaptive_bits(codes) - bits) < 1e-6


def test_octree_estimate_is_near_the_real_coder():
    rng = np.random.default_rng(3)
    depth = 10
    centres = rng.integers(0, 1 << depth, (60, 3))
    coords = np.unique(np.clip(centres[rng.integers(0, 60, 4000)] + rng.integers(-6, 7, (4000, 3)), 0,
                               (1 << depth) - 1), axis=0)
    real = 4 * int(encode_geometry(coords, depth).size)
    est = estimate(coords, depth)
    assert 0.8 * real < est["child"] < 1.05 * real  # the byte model learns 255 values, the bits 2: it pays more on small sets
    assert est["child+neighbours"] < est["child"]  # clustered points: the neighbours are informative


def test_deadzone_rounding():
    x = torch.linspace(-3.0, 3.0, 601)
    scale, zp = torch.tensor(0.5), torch.tensor(128.0)
    assert torch.equal(deadzone_quantize(0.0)(x, scale, zp, 8), quantize(x, scale, zp, 8))
    q = deadzone_quantize(0.3)(x, scale, zp, 8) - zp
    nearest = quantize(x, scale, zp, 8) - zp
    assert bool((q.abs() <= nearest.abs()).all()) and bool((q.abs() < nearest.abs()).any())
    assert torch.equal(q, -deadzone_quantize(0.3)(-x, scale, zp, 8) + zp)
