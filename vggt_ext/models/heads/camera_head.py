"""Camera head: iterative refinement of the 9-D pose encoding from the camera tokens.

Input: the last aggregator output [B, S, P, 2E]; t = token_norm(tokens[:, :, 0]) (the camera
token, fixed for all iterations).  For k = 1…iters (p = running raw sum, detached):

    e = embed_pose(empty_pose_tokens) if k == 1 else embed_pose(p)
    shift, scale, gate = poseLN_modulation(e).chunk(3)          (SiLU → Linear(2E, 6E))
    x = gate ⊙ (adaln_norm(t) ⊙ (1 + scale) + shift) + t       (adaln_norm: LN eps 1e-6, no affine)
    x = trunk(x)                                                 (attention over the S frames)
    p = p + pose_branch(trunk_norm(x))                           (p = δ on the first iteration)
    output_k = activate(p)  (translation, quaternion: identity; FoV: ReLU)

Returns the list of ``iters`` tensors [B, S, 9]; the last one is ``pose_enc``
(layout [t_x, t_y, t_z, q_x, q_y, q_z, q_w, fov_h, fov_w]; see ``vggt_ext.pose_enc``).
Adaptive LayerNorm modulation as in DiT (Peebles & Xie 2023).
"""

from __future__ import annotations

from typing import List, Sequence

import torch
from torch import nn

from ..layers import Block, Mlp

POSE_ENC_DIM = 9


def activate_pose(pose_enc: torch.Tensor) -> torch.Tensor:
    """Output activation of the raw pose encoding [..., 9]: T and quaternion linear, FoV ReLU."""
    return torch.cat([pose_enc[..., :7], torch.relu(pose_enc[..., 7:])], dim=-1)


class CameraHead(nn.Module):
    """Camera head (see module docstring). State-dict order: empty_pose_tokens, trunk,
    token_norm, trunk_norm, embed_pose, poseLN_modulation, pose_branch."""

    def __init__(self, dim_in: int = 2048, trunk_depth: int = 4, num_heads: int = 16, mlp_ratio: float = 4.0,
                 init_values: float = 0.01, iters: int = 4):
        super().__init__()
        self.iters = iters
        self.trunk = nn.Sequential(
            *[Block(dim_in, num_heads, mlp_ratio, init_values=init_values, norm_eps=1e-5) for _ in range(trunk_depth)]
        )
        self.token_norm = nn.LayerNorm(dim_in)
        self.trunk_norm = nn.LayerNorm(dim_in)
        self.empty_pose_tokens = nn.Parameter(torch.zeros(1, 1, POSE_ENC_DIM))
        self.embed_pose = nn.Linear(POSE_ENC_DIM, dim_in)
        self.poseLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(dim_in, 3 * dim_in, bias=True))
        self.adaln_norm = nn.LayerNorm(dim_in, elementwise_affine=False, eps=1e-6)
        self.pose_branch = Mlp(dim_in, dim_in // 2, POSE_ENC_DIM)

    def forward(self, aggregated_tokens: Sequence[torch.Tensor], iters: int | None = None) -> List[torch.Tensor]:
        """``aggregated_tokens``: list of aggregator outputs; the last one is read → list of [B, S, 9]."""
        tokens = aggregated_tokens[-1]
        t = self.token_norm(tokens[:, :, 0])  # [B, S, 2E]
        b, s, _ = t.shape
        pose = None
        outputs: List[torch.Tensor] = []
        for _ in range(self.iters if iters is None else iters):
            if pose is None:
                e = self.embed_pose(self.empty_pose_tokens.expand(b, s, -1))
            else:
                pose = pose.detach()
                e = self.embed_pose(pose)
            shift, scale, gate = self.poseLN_modulation(e).chunk(3, dim=-1)
            x = gate * (self.adaln_norm(t) * (1 + scale) + shift) + t
            x = self.trunk(x)
            delta = self.pose_branch(self.trunk_norm(x))
            pose = delta if pose is None else pose + delta
            outputs.append(activate_pose(pose))
        return outputs
