"""The VGGT-compatible model: aggregator + camera, depth, point and track heads.

``VGGT(config)(images, query_points=None)``:

* ``images``: [S, 3, H, W] or [B, S, 3, H, W], RGB in [0, 1], H and W multiples of 14
  (``vggt_ext.preprocess.load_and_preprocess_images`` produces them);
* ``query_points``: optional [N, 2] or [B, N, 2], (x, y) pixels in frame 0.

Returns a dict, keys in this order (disabled heads leave theirs out):

| key                 | shape              | notes                                        |
|---------------------|--------------------|----------------------------------------------|
| pose_enc            | [B, S, 9]          | last camera iteration (see vggt_ext.pose_enc)|
| pose_enc_list       | iters × [B, S, 9]  |                                              |
| depth               | [B, S, H, W, 1]    | exp, > 0                                     |
| depth_conf          | [B, S, H, W]       | 1 + exp ≥ 1                                  |
| world_points        | [B, S, H, W, 3]    | inv_log; in the first camera's frame         |
| world_points_conf   | [B, S, H, W]       | 1 + exp ≥ 1                                  |
| track, vis, conf    | [B,S,N,2],[B,S,N]×2| only with query_points                       |
| images              | [B, S, 3, H, W]    | the input; only in eval mode                 |

The camera, depth and point heads run with autocast disabled for the input's device type
(upstream disables CUDA autocast only; on CPU this keeps the heads in fp32).
"""

from __future__ import annotations

from typing import Dict, Optional

import torch
from torch import nn

from .aggregator import Aggregator
from .config import VGGTConfig
from .heads.camera_head import CameraHead
from .heads.dpt_head import DPTHead
from .heads.track_head import TrackHead


class VGGT(nn.Module):
    """VGGT-1B-compatible model; state-dict names, shapes and dtypes equal the upstream
    checkpoint for ``VGGTConfig.vggt_1b()``.  Children: aggregator, camera_head, point_head,
    depth_head, track_head (a disabled head is ``None`` and has no state-dict entries)."""

    def __init__(self, config: Optional[VGGTConfig] = None):
        super().__init__()
        config = VGGTConfig() if config is None else config
        config.validate()
        self.config = config
        c = config
        dim_in = c.head_dim_in
        self.aggregator = Aggregator(c)
        self.camera_head = (
            CameraHead(dim_in, c.camera_trunk_depth, c.camera_num_heads, 4.0, c.init_values, c.camera_iters)
            if c.enable_camera else None
        )
        dpt_kwargs = dict(dim_in=dim_in, patch_size=c.patch_size, features=c.dpt_features,
                          out_channels=c.dpt_out_channels, intermediate_layer_idx=c.dpt_layer_idx,
                          frames_chunk_size=c.frames_chunk_size)
        self.point_head = (
            DPTHead(output_dim=4, activation="inv_log", conf_activation="expp1", **dpt_kwargs)
            if c.enable_point else None
        )
        self.depth_head = (
            DPTHead(output_dim=2, activation="exp", conf_activation="expp1", **dpt_kwargs)
            if c.enable_depth else None
        )
        self.track_head = (
            TrackHead(dim_in, c.patch_size, c.track_features, c.track_out_channels, c.track_layer_idx,
                      c.track_iters, c.track_stride, c.corr_levels, c.corr_radius, c.tracker_hidden,
                      c.tracker_depth, c.tracker_num_heads, c.tracker_virtual_tracks, c.frames_chunk_size)
            if c.enable_track else None
        )

    def _needed_layers(self, with_track: bool) -> set:
        c = self.config
        need = set()
        if self.camera_head is not None:
            need.add(c.depth - 1)
        if self.point_head is not None or self.depth_head is not None:
            need.update(int(i) for i in c.dpt_layer_idx)
        if with_track:
            need.update(int(i) for i in c.track_layer_idx)
        return need

    def forward(self, images: torch.Tensor, query_points: Optional[torch.Tensor] = None) -> Dict[str, object]:
        """See the module docstring for inputs and the returned dictionary."""
        if images.dim() == 4:
            images = images.unsqueeze(0)
        if images.dim() != 5:
            raise ValueError(f"images must be [S, 3, H, W] or [B, S, 3, H, W], got shape {tuple(images.shape)}")
        with_track = self.track_head is not None and query_points is not None
        if with_track:
            if query_points.dim() == 2:
                query_points = query_points.unsqueeze(0)
            if query_points.dim() != 3 or query_points.shape[-1] != 2 or query_points.shape[0] != images.shape[0]:
                raise ValueError(f"query_points must be [N, 2] or [B, N, 2] (x, y pixels) with B = "
                                 f"{images.shape[0]}, got shape {tuple(query_points.shape)}")

        tokens, patch_start_idx = self.aggregator(images, keep_layers=self._needed_layers(with_track))
        out: Dict[str, object] = {}
        with torch.autocast(device_type=images.device.type, enabled=False):
            if self.camera_head is not None:
                pose_list = self.camera_head(tokens)
                out["pose_enc"] = pose_list[-1]
                out["pose_enc_list"] = pose_list
            if self.depth_head is not None:
                depth, depth_conf = self.depth_head(tokens, images, patch_start_idx)
                out["depth"] = depth
                out["depth_conf"] = depth_conf
            if self.point_head is not None:
                pts, pts_conf = self.point_head(tokens, images, patch_start_idx)
                out["world_points"] = pts
                out["world_points_conf"] = pts_conf
        if with_track:
            tracks, vis, conf = self.track_head(tokens, images, patch_start_idx, query_points)
            out["track"] = tracks[-1]
            out["vis"] = vis
            out["conf"] = conf
        if not self.training:
            out["images"] = images
        return out

    def num_parameters(self) -> int:
        """Total number of parameter elements."""
        return sum(p.numel() for p in self.parameters())
