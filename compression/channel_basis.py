"""Fit the channel transform of format version 3 (codec/channel_transform.py) to one scene.

For each transformed group (f_dc; f_rest, all of its channels together) the basis is the KLT of
that group's columns over the Gaussians: the eigenvectors of their covariance, largest eigenvalue
first, each signed so that its largest-magnitude entry is positive (a deterministic choice). The
other groups keep the identity. Computed in float64, stored and used as float32.
"""
from __future__ import annotations

import torch

from codec.channel_layout import ChannelLayout

__all__ = ["TRANSFORMED_GROUPS", "fit_channel_basis"]

#: the channel groups that get a KLT (the others keep the identity)
TRANSFORMED_GROUPS = ("f_dc", "f_rest")


def fit_channel_basis(attributes: torch.Tensor, layout: ChannelLayout) -> torch.Tensor:
    """B [C, C] float32 (orthonormal, block diagonal) for ``attributes`` [N, C]."""
    x = attributes.detach().to(torch.float64)
    c = layout.n_channels
    basis = torch.eye(c, dtype=torch.float64, device=x.device)
    for group, sl in layout.group_slices().items():
        width = sl.stop - sl.start
        if group not in TRANSFORMED_GROUPS or width < 2 or x.shape[0] < 2:
            continue
        cols = x[:, sl] - x[:, sl].mean(dim=0)
        cov = cols.T @ cols / (x.shape[0] - 1)
        _, vecs = torch.linalg.eigh(cov)  # ascending eigenvalues
        vecs = vecs.flip(1)
        peak = vecs.abs().argmax(dim=0)
        signs = torch.sign(vecs[peak, torch.arange(width, device=x.device)])
        vecs = vecs * torch.where(signs == 0, torch.ones_like(signs), signs)
        basis[sl, sl] = vecs
    return basis.to(torch.float32)
