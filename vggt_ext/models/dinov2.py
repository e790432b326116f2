"""DINOv2 ViT patch embedder with register tokens (ViT-L/14-reg in VGGT-1B).

``x [N, 3, H, W]`` (ImageNet-normalised) → normalised patch tokens ``[N, h·w, D]``:

1. Conv2d(3, D, 14, 14) → row-major tokens [N, K, D]  (no norm after the conv)
2. prepend ``cls_token``; add ``pos_embed`` interpolated to the (h, w) grid
3. insert the ``register_tokens`` between cls and the patches → [cls, reg×R, patches]
4. ``depth`` pre-norm blocks (LN eps 1e-6, LayerScale init 1.0, no q/k norm, no RoPE)
5. final LayerNorm; return tokens 1+R … (cls and registers dropped)

Position-embedding interpolation: identity when K equals the stored grid and H == W; otherwise
the stored (M×M) grid is resized to (h, w) with antialiased bicubic ``F.interpolate(size=(h, w),
mode="bicubic", antialias=True)`` in float32 and cast back to the activation dtype
(Oquab et al. 2023, "DINOv2"; Darcet et al. 2024, "Vision Transformers Need Registers").

State-dict order: cls_token, pos_embed, register_tokens, mask_token, patch_embed.proj,
blocks.{i}, norm.  ``mask_token`` is unused at inference but kept for strict loading.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .layers import Block, PatchEmbed


class DinoVisionTransformer(nn.Module):
    """DINOv2 ViT with registers; see the module docstring for the forward."""

    def __init__(
        self,
        img_size: int = 518,
        patch_size: int = 14,
        embed_dim: int = 1024,
        depth: int = 24,
        num_heads: int = 16,
        mlp_ratio: float = 4.0,
        num_register_tokens: int = 4,
        init_values: float = 1.0,
        norm_eps: float = 1e-6,
    ):
        super().__init__()
        grid = img_size // patch_size
        self.patch_size = patch_size
        self.num_register_tokens = num_register_tokens
        self.grid_size = grid
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, grid * grid + 1, embed_dim))
        self.register_tokens = (
            nn.Parameter(torch.zeros(1, num_register_tokens, embed_dim)) if num_register_tokens else None
        )
        self.mask_token = nn.Parameter(torch.zeros(1, embed_dim))
        self.patch_embed = PatchEmbed(patch_size, 3, embed_dim)
        self.blocks = nn.ModuleList(
            [
                Block(embed_dim, num_heads, mlp_ratio, init_values=init_values, norm_eps=norm_eps, qk_norm=False)
                for _ in range(depth)
            ]
        )
        self.norm = nn.LayerNorm(embed_dim, eps=norm_eps)
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """DINOv2 init: pos_embed ~ TN(0.02); cls/registers ~ N(0, 1e-6²); mask 0; Linear TN(0.02)/0."""
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.normal_(self.cls_token, std=1e-6)
        if self.register_tokens is not None:
            nn.init.normal_(self.register_tokens, std=1e-6)
        nn.init.zeros_(self.mask_token)
        for m in self.blocks.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def interpolate_pos_encoding(self, num_patches: int, h: int, w: int, dtype: torch.dtype) -> torch.Tensor:
        """``pos_embed`` for an h×w patch grid → [1, 1 + h·w, D] in ``dtype``."""
        n_stored = self.pos_embed.shape[1] - 1
        if num_patches == n_stored and h == w:
            return self.pos_embed
        pos = self.pos_embed.float()
        cls_pos = pos[:, :1]
        m = int(math.isqrt(n_stored))
        dim = pos.shape[-1]
        grid = pos[:, 1:].reshape(1, m, m, dim).permute(0, 3, 1, 2)  # [1, D, rows, cols]
        grid = F.interpolate(grid, size=(h, w), mode="bicubic", antialias=True)
        grid = grid.permute(0, 2, 3, 1).reshape(1, h * w, dim)
        return torch.cat([cls_pos, grid], dim=1).to(dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, _, height, width = x.shape
        h, w = height // self.patch_size, width // self.patch_size
        tokens = self.patch_embed(x)  # [N, K, D]
        tokens = torch.cat([self.cls_token.expand(n, -1, -1), tokens], dim=1)
        tokens = tokens + self.interpolate_pos_encoding(h * w, h, w, tokens.dtype)
        if self.register_tokens is not None:
            regs = self.register_tokens.expand(n, -1, -1)
            tokens = torch.cat([tokens[:, :1], regs, tokens[:, 1:]], dim=1)
        for blk in self.blocks:
            tokens = blk(tokens)
        tokens = self.norm(tokens)
        return tokens[:, 1 + self.num_register_tokens :]


class ConvPatchEmbed(PatchEmbed):
    """The small-model patch embedder (upstream ``patch_embed="conv"``): one stride-p Conv2d.

    No class/register tokens and no absolute position embedding; RoPE in the aggregator is the
    only position signal.  State dict: ``proj.weight [E, 3, p, p]``, ``proj.bias [E]``.
    """
