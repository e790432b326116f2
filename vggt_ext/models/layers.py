"""Shared transformer pieces: LayerScale, MLP, multi-head self-attention, pre-norm block.

One block (used by the DINOv2 ViT, the aggregator and the camera trunk):

    x ← x + γ₁ ⊙ Attn(LN₁(x))
    x ← x + γ₂ ⊙ MLP(LN₂(x)),   MLP = fc2(GELU_erf(fc1(·)))

Attention: ``qkv`` Linear(D, 3D) reshaped to (3, heads, d_h); optional LayerNorm(d_h) on q and
k (one LN shared by all heads); optional 2-D RoPE on q and k; softmax(q·kᵀ/√d_h)·v; ``proj``.
State-dict names: norm1, attn.{qkv, q_norm, k_norm, proj}, ls1.gamma, norm2, mlp.{fc1, fc2},
ls2.gamma (14 tensors per block, 18 with q/k norm).
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from .rope import RotaryPositionEmbedding2D


class LayerScale(nn.Module):
    """Per-channel scale ``x · gamma`` with ``gamma [D]`` initialised to ``init_values``."""

    def __init__(self, dim: int, init_values: float = 1e-5):
        super().__init__()
        self.gamma = nn.Parameter(torch.full((dim,), float(init_values)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gamma


class Mlp(nn.Module):
    """``fc2(GELU(fc1(x)))`` with exact-erf GELU; hidden width ``hidden_features``."""

    def __init__(self, in_features: int, hidden_features: int, out_features: Optional[int] = None, bias: bool = True):
        super().__init__()
        out_features = out_features or in_features
        self.fc1 = nn.Linear(in_features, hidden_features, bias=bias)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden_features, out_features, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class Attention(nn.Module):
    """Multi-head self-attention on ``x [B, N, D]`` → ``[B, N, D]``.

    ``pos [B, N, 2]`` (integer y, x) is required when ``rope`` is given.
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        qkv_bias: bool = True,
        proj_bias: bool = True,
        qk_norm: bool = False,
        norm_eps: float = 1e-5,
        rope: Optional[RotaryPositionEmbedding2D] = None,
    ):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"Attention: dim={dim} not divisible by num_heads={num_heads}")
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.q_norm = nn.LayerNorm(self.head_dim, eps=norm_eps) if qk_norm else nn.Identity()
        self.k_norm = nn.LayerNorm(self.head_dim, eps=norm_eps) if qk_norm else nn.Identity()
        self.proj = nn.Linear(dim, dim, bias=proj_bias)
        self.rope = rope

    def forward(self, x: torch.Tensor, pos: Optional[torch.Tensor] = None) -> torch.Tensor:
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)  # each [B, heads, N, d_h]
        q, k = self.q_norm(q), self.k_norm(k)
        if self.rope is not None:
            if pos is None:
                raise ValueError("Attention with RoPE needs token positions (pos [B, N, 2])")
            q = self.rope(q, pos)
            k = self.rope(k, pos)
        out = F.scaled_dot_product_attention(q, k, v)
        out = out.transpose(1, 2).reshape(b, n, c)
        return self.proj(out)


class Block(nn.Module):
    """Pre-norm transformer block with LayerScale (see module docstring)."""

    def __init__(
        self,
        dim: int,
        num_heads: int,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        proj_bias: bool = True,
        ffn_bias: bool = True,
        init_values: float = 0.01,
        norm_eps: float = 1e-5,
        qk_norm: bool = False,
        rope: Optional[RotaryPositionEmbedding2D] = None,
    ):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=norm_eps)
        self.attn = Attention(dim, num_heads, qkv_bias=qkv_bias, proj_bias=proj_bias, qk_norm=qk_norm,
                              norm_eps=norm_eps, rope=rope)
        self.ls1 = LayerScale(dim, init_values)
        self.norm2 = nn.LayerNorm(dim, eps=norm_eps)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), bias=ffn_bias)
        self.ls2 = LayerScale(dim, init_values)

    def forward(self, x: torch.Tensor, pos: Optional[torch.Tensor] = None) -> torch.Tensor:
        x = x + self.ls1(self.attn(self.norm1(x), pos=pos))
        x = x + self.ls2(self.mlp(self.norm2(x)))
        return x


class PatchEmbed(nn.Module):
    """Non-overlapping patch embedding: Conv2d(in, D, k=p, s=p) → tokens ``[N, h·w, D]``.

    ``x [N, C, H, W]`` with H, W multiples of ``patch_size``; tokens in row-major order.
    """

    def __init__(self, patch_size: int = 14, in_chans: int = 3, embed_dim: int = 1024):
        super().__init__()
        self.patch_size = patch_size
        self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, _, h, w = x.shape
        p = self.patch_size
        if h % p or w % p:
            raise ValueError(f"image size {h}x{w} is not a multiple of the patch size {p}; "
                             f"resize with vggt_ext.preprocess.load_and_preprocess_images")
        return self.proj(x).flatten(2).transpose(1, 2)
