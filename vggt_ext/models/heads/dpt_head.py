"""DPT head: dense per-pixel predictions (depth, world points) or feature maps from tokens.

For level i = 0…3 (aggregator output L_i = layer_idx[i]): drop the special tokens, ``norm``
(LN 2E), reshape to [N, 2E, h, w], ``projects[i]`` (1×1 conv → o_i), add the positional
embedding (when ``pos_embed``), ``resize_layers[i]`` (ConvT ×4, ConvT ×2, identity, conv s2)
→ sizes 4h×4w, 2h×2w, h×w, ⌈h/2⌉×⌈w/2⌉.  ``layer{i+1}_rn`` (3×3, no bias) maps each to F
channels; fusion from coarse to fine (``refinenet4`` … ``refinenet1``), ``output_conv1``,
bilinear resize (align_corners=True) to (⌊14h/down_ratio⌋, ⌊14w/down_ratio⌋), positional
embedding again, then either the features [B, S, C, H', W'] (``feature_only``) or
``output_conv2`` and the activations (last channel = confidence):

    exp:      value = exp(v)                     (depth)
    inv_log:  value = sign(v)·(exp(|v|) − 1)     (world points)
    expp1:    conf  = 1 + exp(c)

Residual conv unit: r = ReLU(x); out = r + conv2(ReLU(conv1(r))) — the skip adds ReLU(x).
Fusion block: z = a + RCU1(b) (if b), z = RCU2(z), bilinear resize (align_corners=True) to
the given size or ×2, out_conv (1×1).
Positional embedding on a C×h_f×w_f map, image aspect a = W/H: u_j, v_i on
linspace(±s·(n−1)/n) with s_x = a/√(a²+1), s_y = 1/√(a²+1); E(i, j) = [φ(u_j), φ(v_i)],
φ(q) = [sin(q·ω_k), cos(q·ω_k)], ω_k = 100^(−k/(C/4)), computed in float64; x += 0.1·E.
(Ranftl et al. 2021, "Vision Transformers for Dense Prediction".)
"""

from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn

ACTIVATIONS = ("exp", "inv_log", "linear")


def _sincos_1d(pos: torch.Tensor, dim: int, omega_0: float = 100.0) -> torch.Tensor:
    """1-D sin/cos embedding: ``pos [M]`` → ``[M, dim]`` = [sin(p·ω), cos(p·ω)], ω_k = ω₀^(−2k/dim)."""
    omega = torch.arange(dim // 2, dtype=torch.float64, device=pos.device) / (dim / 2.0)
    omega = 1.0 / omega_0 ** omega
    out = pos.to(torch.float64).reshape(-1, 1) * omega.reshape(1, -1)
    return torch.cat([out.sin(), out.cos()], dim=1).float()


def uv_grid(width: int, height: int, aspect_ratio: float, device=None) -> torch.Tensor:
    """Normalised (u, v) grid → ``[height, width, 2]`` with the image-diagonal span (see docstring)."""
    diag = (aspect_ratio ** 2 + 1.0) ** 0.5
    span_x, span_y = aspect_ratio / diag, 1.0 / diag
    xs = torch.linspace(-span_x * (width - 1) / width, span_x * (width - 1) / width, width,
                        dtype=torch.float32, device=device)
    ys = torch.linspace(-span_y * (height - 1) / height, span_y * (height - 1) / height, height,
                        dtype=torch.float32, device=device)
    vv, uu = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([uu, vv], dim=-1)


def dpt_pos_embed(channels: int, h: int, w: int, aspect_ratio: float, device=None) -> torch.Tensor:
    """Positional embedding ``[channels, h, w]`` (x half first, then y half; float32)."""
    grid = uv_grid(w, h, aspect_ratio, device=device).reshape(-1, 2)
    emb = torch.cat([_sincos_1d(grid[:, 0], channels // 2), _sincos_1d(grid[:, 1], channels // 2)], dim=-1)
    return emb.reshape(h, w, channels).permute(2, 0, 1)


def _resize(x: torch.Tensor, size: Tuple[int, int]) -> torch.Tensor:
    """Bilinear resize with align_corners=True (the DPT convention)."""
    return F.interpolate(x, size=size, mode="bilinear", align_corners=True)


class ResidualConvUnit(nn.Module):
    """r = ReLU(x); out = r + conv2(ReLU(conv1(r)))  (3×3 convs, padding 1, bias)."""

    def __init__(self, features: int):
        super().__init__()
        self.conv1 = nn.Conv2d(features, features, 3, 1, 1, bias=True)
        self.conv2 = nn.Conv2d(features, features, 3, 1, 1, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        r = torch.relu(x)
        return r + self.conv2(torch.relu(self.conv1(r)))


class FeatureFusionBlock(nn.Module):
    """DPT fusion block; ``resConfUnit1`` exists only when ``has_residual`` (names kept from upstream)."""

    def __init__(self, features: int, has_residual: bool = True):
        super().__init__()
        self.out_conv = nn.Conv2d(features, features, 1, 1, 0, bias=True)
        self.has_residual = has_residual
        if has_residual:
            self.resConfUnit1 = ResidualConvUnit(features)
        self.resConfUnit2 = ResidualConvUnit(features)

    def forward(self, x: torch.Tensor, lateral: Optional[torch.Tensor] = None,
                size: Optional[Tuple[int, int]] = None) -> torch.Tensor:
        if lateral is not None:
            if not self.has_residual:
                raise ValueError("this fusion block has no residual branch (refinenet4)")
            x = x + self.resConfUnit1(lateral)
        x = self.resConfUnit2(x)
        if size is None:
            size = (2 * x.shape[-2], 2 * x.shape[-1])
        x = _resize(x, tuple(size))
        return self.out_conv(x)


class DPTHead(nn.Module):
    """DPT head (see module docstring). State-dict order: norm, projects, resize_layers (index 2
    is an Identity without tensors), scratch.{layer1_rn…layer4_rn, refinenet1…4, output_conv1,
    output_conv2}."""

    def __init__(
        self,
        dim_in: int = 2048,
        patch_size: int = 14,
        output_dim: int = 4,
        activation: str = "inv_log",
        conf_activation: str = "expp1",
        features: int = 256,
        out_channels: Sequence[int] = (256, 512, 1024, 1024),
        intermediate_layer_idx: Sequence[int] = (4, 11, 17, 23),
        pos_embed: bool = True,
        feature_only: bool = False,
        down_ratio: int = 1,
        frames_chunk_size: int = 8,
    ):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"DPTHead: activation={activation!r}; choose one of {ACTIVATIONS}")
        if conf_activation != "expp1":
            raise ValueError(f"DPTHead: conf_activation={conf_activation!r}; only 'expp1' is implemented")
        oc = [int(c) for c in out_channels]
        self.patch_size = patch_size
        self.activation = activation
        self.conf_activation = conf_activation
        self.intermediate_layer_idx = tuple(int(i) for i in intermediate_layer_idx)
        self.pos_embed = pos_embed
        self.feature_only = feature_only
        self.down_ratio = down_ratio
        self.frames_chunk_size = frames_chunk_size

        self.norm = nn.LayerNorm(dim_in)
        self.projects = nn.ModuleList([nn.Conv2d(dim_in, c, 1, 1, 0) for c in oc])
        self.resize_layers = nn.ModuleList(
            [
                nn.ConvTranspose2d(oc[0], oc[0], kernel_size=4, stride=4, padding=0),
                nn.ConvTranspose2d(oc[1], oc[1], kernel_size=2, stride=2, padding=0),
                nn.Identity(),
                nn.Conv2d(oc[3], oc[3], kernel_size=3, stride=2, padding=1),
            ]
        )
        scratch = nn.Module()
        scratch.layer1_rn = nn.Conv2d(oc[0], features, 3, 1, 1, bias=False)
        scratch.layer2_rn = nn.Conv2d(oc[1], features, 3, 1, 1, bias=False)
        scratch.layer3_rn = nn.Conv2d(oc[2], features, 3, 1, 1, bias=False)
        scratch.layer4_rn = nn.Conv2d(oc[3], features, 3, 1, 1, bias=False)
        scratch.refinenet1 = FeatureFusionBlock(features)
        scratch.refinenet2 = FeatureFusionBlock(features)
        scratch.refinenet3 = FeatureFusionBlock(features)
        scratch.refinenet4 = FeatureFusionBlock(features, has_residual=False)
        if feature_only:
            scratch.output_conv1 = nn.Conv2d(features, features, 3, 1, 1)
        else:
            scratch.output_conv1 = nn.Conv2d(features, features // 2, 3, 1, 1)
            scratch.output_conv2 = nn.Sequential(
                nn.Conv2d(features // 2, 32, 3, 1, 1),
                nn.ReLU(),
                nn.Conv2d(32, output_dim, 1, 1, 0),
            )
        self.scratch = scratch

    # ------------------------------------------------------------------ forward
    def forward(
        self, aggregated_tokens: Sequence[Optional[torch.Tensor]], images: torch.Tensor, patch_start_idx: int
    ):
        """``images [B, S, 3, H, W]`` (only its shape is used).

        Returns ``features [B, S, C, H', W']`` when ``feature_only``, else
        ``(values [B, S, H, W, output_dim − 1], conf [B, S, H, W])``.
        """
        s = images.shape[1]
        chunk = self.frames_chunk_size
        if s <= chunk:
            return self._forward_frames(aggregated_tokens, images, patch_start_idx, 0, s)
        parts = [self._forward_frames(aggregated_tokens, images, patch_start_idx, i, min(i + chunk, s))
                 for i in range(0, s, chunk)]
        if self.feature_only:
            return torch.cat(parts, dim=1)
        return torch.cat([p[0] for p in parts], dim=1), torch.cat([p[1] for p in parts], dim=1)

    def _add_pos_embed(self, x: torch.Tensor, width: int, height: int) -> torch.Tensor:
        emb = dpt_pos_embed(x.shape[1], x.shape[-2], x.shape[-1], width / height, device=x.device)
        # cast to the activation dtype (upstream keeps float32, which breaks whole-model bf16 casts)
        return x + 0.1 * emb.to(x.dtype).unsqueeze(0)

    def _forward_frames(self, aggregated_tokens, images, patch_start_idx: int, f0: int, f1: int):
        b, _, _, height, width = images.shape
        s = f1 - f0
        ph, pw = height // self.patch_size, width // self.patch_size
        levels: List[torch.Tensor] = []
        for i, layer in enumerate(self.intermediate_layer_idx):
            tok = aggregated_tokens[layer]
            if tok is None:
                raise ValueError(f"DPTHead needs aggregator output {layer}, which was not kept")
            x = tok[:, f0:f1, patch_start_idx:]
            x = self.norm(x.reshape(b * s, -1, x.shape[-1]))
            x = x.permute(0, 2, 1).reshape(b * s, x.shape[-1], ph, pw)
            x = self.projects[i](x)
            if self.pos_embed:
                x = self._add_pos_embed(x, width, height)
            levels.append(self.resize_layers[i](x))

        sc = self.scratch
        r1, r2, r3, r4 = sc.layer1_rn(levels[0]), sc.layer2_rn(levels[1]), sc.layer3_rn(levels[2]), sc.layer4_rn(levels[3])
        out = sc.refinenet4(r4, size=r3.shape[-2:])
        out = sc.refinenet3(out, r3, size=r2.shape[-2:])
        out = sc.refinenet2(out, r2, size=r1.shape[-2:])
        out = sc.refinenet1(out, r1)
        out = sc.output_conv1(out)
        out = _resize(out, (int(ph * self.patch_size / self.down_ratio), int(pw * self.patch_size / self.down_ratio)))
        if self.pos_embed:
            out = self._add_pos_embed(out, width, height)
        if self.feature_only:
            return out.reshape(b, s, *out.shape[1:])
        out = sc.output_conv2(out)  # [B·S, output_dim, H, W]
        fmap = out.permute(0, 2, 3, 1)
        value, conf = fmap[..., :-1], fmap[..., -1]
        if self.activation == "exp":
            value = torch.exp(value)
        elif self.activation == "inv_log":
            value = torch.sign(value) * torch.expm1(torch.abs(value))
        conf = 1 + torch.exp(conf)
        return value.reshape(b, s, *value.shape[1:]), conf.reshape(b, s, *conf.shape[1:])
