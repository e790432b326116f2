"""The variable-depth octree of scripts/variable_depth_trial.py decodes to its leaves (the trial's byte
counts come from a coder that round-trips), and costs the format's octree when every leaf is deepest."""
from __future__ import annotations

import numpy as np
import torch

from codec.geometry import encode_geometry
from raht.morton import morton_encode
from scripts.variable_depth_trial import decode_variable_octree, encode_variable_octree, isolation_levels


def test_variable_octree_round_trip():
    rng = np.random.default_rng(0)
    depth = 9
    coords = np.unique(rng.integers(0, 1 << depth, (1500, 3)), axis=0)
    codes = np.unique(morton_encode(torch.from_numpy(coords)).numpy())
    iso = np.minimum(isolation_levels(codes, depth), depth)
    leaf = np.array([rng.integers(i, depth + 1) for i in iso])
    prefix, level = decode_variable_octree(encode_variable_octree(codes, leaf, depth), depth, codes.size)
    assert np.array_equal(level, leaf)
    assert np.array_equal(prefix, codes >> (3 * (depth - leaf)))
    # every leaf at the full depth: the same octree as the format's, plus nearly free all-zero flags
    deepest = encode_variable_octree(codes, np.full(codes.size, depth), depth)
    baseline = int(encode_geometry(coords, depth).size)
    assert baseline <= int(deepest.size) <= baseline + 4 + baseline // 100


def test_isolation_levels():
    depth = 3
    # two voxels sharing the first level's cell, one alone from level 1 on
    coords = torch.tensor([[0, 0, 0], [1, 0, 0], [7, 7, 7]])
    codes = np.sort(morton_encode(coords).numpy())
    assert isolation_levels(codes, depth).tolist() == [3, 3, 1]
