"""Track head: a feature-only DPT (stride 2) followed by the iterative tracker.

``query_points [B, N, 2]`` (x, y in input pixels of frame 0) → ``track`` (last iteration)
[B, S, N, 2] in input pixels, ``vis`` and ``conf`` [B, S, N] in (0, 1).
With L correlation levels the feature map (H/2 × W/2) must be at least 2^(L−1) pixels on each
side (VGGT-1B: L = 7 → H, W ≥ 140 after rounding to multiples of 14).
"""

from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

import torch
from torch import nn

from .dpt_head import DPTHead
from .tracker import BaseTrackerPredictor


class TrackHead(nn.Module):
    """State-dict order: feature_extractor (DPT, feature_only), tracker."""

    def __init__(
        self,
        dim_in: int = 2048,
        patch_size: int = 14,
        features: int = 128,
        out_channels: Sequence[int] = (256, 512, 1024, 1024),
        intermediate_layer_idx: Sequence[int] = (4, 11, 17, 23),
        iters: int = 4,
        stride: int = 2,
        corr_levels: int = 7,
        corr_radius: int = 4,
        hidden_size: int = 384,
        depth: int = 6,
        num_heads: int = 8,
        num_virtual_tracks: int = 64,
        frames_chunk_size: int = 8,
    ):
        super().__init__()
        self.iters = iters
        self.corr_levels = corr_levels
        self.stride = stride
        self.feature_extractor = DPTHead(
            dim_in=dim_in,
            patch_size=patch_size,
            features=features,
            out_channels=out_channels,
            intermediate_layer_idx=intermediate_layer_idx,
            feature_only=True,
            down_ratio=stride,
            pos_embed=False,
            frames_chunk_size=frames_chunk_size,
        )
        self.tracker = BaseTrackerPredictor(
            latent_dim=features,
            stride=stride,
            corr_levels=corr_levels,
            corr_radius=corr_radius,
            hidden_size=hidden_size,
            depth=depth,
            num_heads=num_heads,
            num_virtual_tracks=num_virtual_tracks,
        )

    def forward(
        self,
        aggregated_tokens: Sequence[Optional[torch.Tensor]],
        images: torch.Tensor,
        patch_start_idx: int,
        query_points: torch.Tensor,
        iters: Optional[int] = None,
    ) -> Tuple[List[torch.Tensor], torch.Tensor, torch.Tensor]:
        """Returns (list of per-iteration tracks [B, S, N, 2], vis [B, S, N], conf [B, S, N])."""
        h, w = images.shape[-2:]
        need = self.stride * 2 ** (self.corr_levels - 1)
        if h < need or w < need:
            raise ValueError(f"tracking with {self.corr_levels} correlation levels needs images of at least "
                             f"{need}x{need} pixels, got {h}x{w}")
        fmaps = self.feature_extractor(aggregated_tokens, images, patch_start_idx)
        return self.tracker(query_points, fmaps, iters=self.iters if iters is None else iters)
