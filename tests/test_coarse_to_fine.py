"""The coarse-to-fine measurement (scripts/bench_coarse_to_fine.py): its coarse model and prefix bytes."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.compression_helpers import one_thread, teacher_arrays

_threads = pytest.fixture(scope="module", autouse=True)(one_thread)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    from compression.api import compress

    path = tmp_path_factory.mktemp("c2f") / "small.bundle"
    path.write_bytes(compress(teacher_arrays(700, 1, seed=21), n_views=4, n_heldout_views=2, view_size=32,
                              iterations=0))
    return str(path)


def test_the_finest_level_is_the_model_and_the_whole_file(bundle):
    from codec import load_npz
    from raht import build_plan
    from scripts.bench_coarse_to_fine import RULES, coarse_gaussians, node_groups, prefix_bytes, prefix_costs

    decoded = load_npz(bundle)
    p = decoded.payload
    whole = decoded.gaussians()
    _, inverse = node_groups(p.coords, p.depth, p.depth)
    for rule in RULES:  # one voxel per node: the node means are the voxels themselves
        g = coarse_gaussians(decoded, p.depth, rule)
        for k in whole:
            assert torch.allclose(g[k][torch.from_numpy(inverse)], whole[k], atol=1e-5), (rule, k)
    plan = build_plan(torch.from_numpy(p.coords), p.depth)
    full = prefix_bytes(prefix_costs(bundle, decoded, plan), p.coords, p.depth, p.depth)
    size = len(open(bundle, "rb").read())
    # the ideal code lengths of every symbol, against the range-coded streams: a few bytes per stream
    assert size - 8 * p.n_channels - 64 <= full["total"] <= size + 8


def test_coarser_levels_merge_voxels_and_need_fewer_bytes(bundle):
    from codec import load_npz
    from raht import build_plan
    from scripts.bench_coarse_to_fine import coarse_gaussians, node_groups, prefix_bytes, prefix_costs

    decoded = load_npz(bundle)
    p = decoded.payload
    plan = build_plan(torch.from_numpy(p.coords), p.depth)
    level = p.depth - 6
    nodes, inverse = node_groups(p.coords, p.depth, level)
    assert len(nodes) < p.n_gaussians and inverse.max() == len(nodes) - 1
    g = coarse_gaussians(decoded, level, "mean")
    assert g["means"].shape == (len(nodes), 3)
    # the mean rule: a node's opacity is the sigmoid of its voxels' mean logit
    logits = torch.logit(decoded.gaussians()["opacities"].to(torch.float64).clamp(1e-7, 1 - 1e-7))
    node = int(np.bincount(inverse).argmax())
    assert torch.allclose(torch.logit(g["opacities"][node].to(torch.float64)),
                          logits[torch.from_numpy(inverse == node)].mean(), atol=1e-3)
    cover = coarse_gaussians(decoded, level, "cover")
    assert (cover["scales"][node] > g["scales"][node]).all()  # a node of many voxels grows to cover its cell
    costs = prefix_costs(bundle, decoded, plan)
    assert prefix_bytes(costs, p.coords, p.depth, level)["total"] < prefix_bytes(costs, p.coords, p.depth, p.depth)["total"]
