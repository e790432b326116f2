"""Training-camera order as a pure function of (seed, iteration), so a resumed run continues exactly.

3DGS pops cameras from a shuffled stack refilled each epoch. Here epoch ``e = (k − 1) // n``
(iteration ``k`` 1-based, ``n`` training views) uses the permutation ``randperm(n)`` of a private
generator seeded with ``seed · 1_000_003 + e``; iteration ``k`` takes element ``(k − 1) mod n``.
Every view is seen once per epoch and nothing depends on the global RNG state.
"""

from __future__ import annotations

import torch

_EPOCH_MULTIPLIER = 1_000_003


def epoch_permutation(seed: int, epoch: int, n_views: int) -> torch.Tensor:
    """``[n_views]`` int64 permutation used during ``epoch`` (0-based)."""
    gen = torch.Generator()
    gen.manual_seed((int(seed) * _EPOCH_MULTIPLIER + int(epoch)) % (2**63 - 1))
    return torch.randperm(n_views, generator=gen)


def camera_index(seed: int, iteration: int, n_views: int) -> int:
    """Index of the training view used at 1-based ``iteration``."""
    if n_views < 1:
        raise ValueError("the scene has no training views; check the scene folder and --eval")
    if iteration < 1:
        raise ValueError(f"iterations are numbered from 1, got {iteration}")
    epoch, pos = divmod(iteration - 1, n_views)
    return int(epoch_permutation(seed, epoch, n_views)[pos])
