"""Iterative point tracker of the track head (CoTracker / VGGSfM style).

Given feature maps ``fmaps [B, S, C, H', W']`` (stride ``stride`` w.r.t. the input pixels) and
query points ``[B, N, 2]`` (x, y input pixels, in frame 0):

1. fmaps ← LayerNorm_C(fmaps); queries ← queries / stride; coordinates start at the query in
   every frame; the query feature is sampled bilinearly in frame 0 (align_corners=True,
   border padding) and copied to all frames.
2. Correlation pyramid: ``corr_levels`` levels, each a 2×2 average pool of the previous one;
   correlation = ⟨track feature, map feature⟩/√C.
3. Each iteration: sample the correlation in a (2r+1)² window around the current coordinates
   on every level (zero padding) → ``corr_mlp`` → C; displacement from frame 0 embedded with
   sin/cos (C/2 per axis) plus displacement/518 twice; concat [flow (C+4), corr (C), feature (C)]
   = 3C+4; add a 2-D sin/cos (base 10000) embedding sampled at the query; add
   ``query_ref_token`` (index 0 frame 0, index 1 others); ``updateformer`` → Δ (2 + C);
   feature ← ffeat_updater(ffeat_norm(Δf)) + feature; coords += Δxy; frame 0 reset to the query.
4. Outputs: per-iteration coordinates × stride (input pixels) [B, S, N, 2], and
   sigmoid(vis_predictor(f)), sigmoid(conf_predictor(f)) [B, S, N].
(Karaev et al. 2024, "CoTracker"; Wang et al. 2024, "VGGSfM".)
"""

from __future__ import annotations

import math
from typing import List, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from ..layers import Mlp

MAX_FLOW_SCALE = 518.0


# ---------------------------------------------------------------------- sampling / embeddings
def bilinear_sample(inp: torch.Tensor, coords: torch.Tensor, padding_mode: str = "border") -> torch.Tensor:
    """``grid_sample`` with pixel coordinates: ``inp [N, C, H, W]``, ``coords [N, ..., 2]`` (x, y)
    in pixels (align_corners=True: pixel 0 … W−1 map to −1 … 1) → ``[N, C, ...]``."""
    h, w = inp.shape[-2:]
    scale = torch.tensor([2.0 / max(w - 1, 1), 2.0 / max(h - 1, 1)], device=coords.device, dtype=inp.dtype)
    grid = coords.to(inp.dtype) * scale - 1
    return F.grid_sample(inp, grid, mode="bilinear", align_corners=True, padding_mode=padding_mode)


def sample_features(fmap: torch.Tensor, coords: torch.Tensor) -> torch.Tensor:
    """Features of ``fmap [B, C, H, W]`` at ``coords [B, N, 2]`` (pixels, border padding) → [B, N, C]."""
    out = bilinear_sample(fmap, coords.unsqueeze(2))  # [B, C, N, 1]
    return out.squeeze(-1).permute(0, 2, 1)


def flow_embedding(xy: torch.Tensor, c: int) -> torch.Tensor:
    """CoTracker displacement embedding: ``xy [..., 2]`` → ``[..., 2c]`` = [pe(x), pe(y)] with
    pe(t)[2k] = sin(t·k·2000/c), pe(t)[2k+1] = cos(t·k·2000/c), k < c/2 (interleaved)."""
    div = torch.arange(0, c, 2, device=xy.device, dtype=torch.float32) * (1000.0 / c)
    parts = []
    for axis in range(2):
        ang = xy[..., axis : axis + 1].to(torch.float32) * div
        pe = torch.stack([ang.sin(), ang.cos()], dim=-1).reshape(*ang.shape[:-1], c)
        parts.append(pe)
    return torch.cat(parts, dim=-1)


def sincos_2d_grid(dim: int, h: int, w: int, device=None) -> torch.Tensor:
    """MAE-style 2-D sin/cos embedding (base 10000) of integer pixel positions → ``[1, dim, h, w]``.

    First half encodes x (column), second half y (row); each half = [sin(p·ω), cos(p·ω)] with
    ω_k = 10000^(−k/(dim/4)), computed in float64.
    """
    half = dim // 2
    omega = torch.arange(half // 2, dtype=torch.float64, device=device) / (half / 2.0)
    omega = 1.0 / 10000 ** omega
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float64, device=device),
                            torch.arange(w, dtype=torch.float64, device=device), indexing="ij")

    def enc(p: torch.Tensor) -> torch.Tensor:
        out = p.reshape(-1, 1) * omega.reshape(1, -1)
        return torch.cat([out.sin(), out.cos()], dim=1)

    emb = torch.cat([enc(xs), enc(ys)], dim=1).float()  # [h·w, dim]
    return emb.reshape(h, w, dim).permute(2, 0, 1).unsqueeze(0)


class CorrBlock:
    """Multi-level correlation volume between track features and feature maps (no parameters)."""

    def __init__(self, fmaps: torch.Tensor, num_levels: int, radius: int):
        self.radius = radius
        self.pyramid = [fmaps]
        cur = fmaps
        for _ in range(num_levels - 1):
            b, s, c, h, w = cur.shape
            if h < 2 or w < 2:
                raise ValueError(f"track head: feature map {h}x{w} too small for {num_levels} correlation "
                                 f"levels; use larger images or fewer corr_levels")
            cur = F.avg_pool2d(cur.reshape(b * s, c, h, w), kernel_size=2, stride=2)
            cur = cur.reshape(b, s, c, *cur.shape[-2:])
            self.pyramid.append(cur)
        r = radius
        d = torch.linspace(-r, r, 2 * r + 1, device=fmaps.device, dtype=fmaps.dtype)
        # window offsets: element (i, j) displaces (x, y) by (d_i, d_j)
        self.delta = torch.stack(torch.meshgrid(d, d, indexing="ij"), dim=-1)  # [2r+1, 2r+1, 2]

    def sample(self, targets: torch.Tensor, coords: torch.Tensor) -> torch.Tensor:
        """``targets [B, S, N, C]``, ``coords [B, S, N, 2]`` → ``[B, S, N, levels·(2r+1)²]``."""
        b, s, n, c = targets.shape
        win = 2 * self.radius + 1
        out = []
        for lvl, fmaps in enumerate(self.pyramid):
            _, _, _, h, w = fmaps.shape
            corr = torch.matmul(targets, fmaps.reshape(b, s, c, h * w)) / math.sqrt(c)  # [B, S, N, h·w]
            centre = coords.reshape(b * s * n, 1, 1, 2) / (2 ** lvl)
            grid = centre + self.delta.to(coords.dtype).reshape(1, win, win, 2)
            sampled = bilinear_sample(corr.reshape(b * s * n, 1, h, w), grid, padding_mode="zeros")
            out.append(sampled.reshape(b, s, n, win * win))
        return torch.cat(out, dim=-1)


# ---------------------------------------------------------------------- transformer blocks
class AttnBlock(nn.Module):
    """x ← LN₁(x); x ← x + MHA(x, x, x); x ← x + MLP(LN₂(x)) (the residual starts from LN₁(x))."""

    def __init__(self, hidden: int, num_heads: int, mlp_ratio: float = 4.0):
        super().__init__()
        self.norm1 = nn.LayerNorm(hidden)
        self.norm2 = nn.LayerNorm(hidden)
        self.attn = nn.MultiheadAttention(hidden, num_heads, batch_first=True)
        self.mlp = Mlp(hidden, int(hidden * mlp_ratio))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.norm1(x)
        x = x + self.attn(x, x, x, need_weights=False)[0]
        return x + self.mlp(self.norm2(x))


class CrossAttnBlock(nn.Module):
    """x ← LN₁(x); ctx ← LN_ctx(ctx); x ← x + MHA(x, ctx, ctx); x ← x + MLP(LN₂(x))."""

    def __init__(self, hidden: int, num_heads: int, mlp_ratio: float = 4.0):
        super().__init__()
        self.norm1 = nn.LayerNorm(hidden)
        self.norm_context = nn.LayerNorm(hidden)
        self.norm2 = nn.LayerNorm(hidden)
        self.cross_attn = nn.MultiheadAttention(hidden, num_heads, batch_first=True)
        self.mlp = Mlp(hidden, int(hidden * mlp_ratio))

    def forward(self, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        x = self.norm1(x)
        context = self.norm_context(context)
        x = x + self.cross_attn(x, context, context, need_weights=False)[0]
        return x + self.mlp(self.norm2(x))


class EfficientUpdateFormer(nn.Module):
    """Time attention per track + space attention through learned virtual tracks.

    ``x [B, N, S, input_dim]`` → ``[B, N, S, output_dim]``.  Per time block i: self-attention over
    the S frames of every track (virtual tracks included); every ``time_depth // space_depth``
    blocks also a space round on [B·S, N+V, D]: virtual ← virtual2point(virtual, points),
    virtual ← virtual_block(virtual), points ← point2virtual(points, virtual).
    Finally drop the virtual tracks, add the post-``input_transform`` tokens, ``output_norm``,
    ``flow_head``.  (``virual_tracks`` keeps the upstream spelling.)
    """

    def __init__(self, space_depth: int, time_depth: int, input_dim: int, hidden_size: int, num_heads: int,
                 output_dim: int, mlp_ratio: float = 4.0, num_virtual_tracks: int = 64):
        super().__init__()
        if space_depth < 1 or time_depth < space_depth:
            raise ValueError(f"EfficientUpdateFormer: need 1 <= space_depth ({space_depth}) <= time_depth ({time_depth})")
        self.num_virtual_tracks = num_virtual_tracks
        self.virual_tracks = nn.Parameter(torch.randn(1, num_virtual_tracks, 1, hidden_size))
        self.input_norm = nn.LayerNorm(input_dim)
        self.input_transform = nn.Linear(input_dim, hidden_size, bias=True)
        self.output_norm = nn.LayerNorm(hidden_size)
        self.flow_head = nn.Linear(hidden_size, output_dim, bias=True)
        self.time_blocks = nn.ModuleList([AttnBlock(hidden_size, num_heads, mlp_ratio) for _ in range(time_depth)])
        self.space_virtual_blocks = nn.ModuleList([AttnBlock(hidden_size, num_heads, mlp_ratio) for _ in range(space_depth)])
        self.space_point2virtual_blocks = nn.ModuleList(
            [CrossAttnBlock(hidden_size, num_heads, mlp_ratio) for _ in range(space_depth)])
        self.space_virtual2point_blocks = nn.ModuleList(
            [CrossAttnBlock(hidden_size, num_heads, mlp_ratio) for _ in range(space_depth)])
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """Linear (MHA out_proj included): Xavier-uniform / 0; flow_head weight TN(0.001)."""
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
        nn.init.trunc_normal_(self.flow_head.weight, std=0.001)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = self.input_transform(self.input_norm(x))
        init_tokens = tokens
        b, _, t, _ = tokens.shape
        virtual = self.virual_tracks.expand(b, -1, t, -1).to(tokens.dtype)
        tokens = torch.cat([tokens, virtual], dim=1)
        n = tokens.shape[1]
        v = self.num_virtual_tracks
        every = len(self.time_blocks) // len(self.space_virtual_blocks)
        j = 0
        for i, blk in enumerate(self.time_blocks):
            tokens = blk(tokens.reshape(b * n, t, -1)).reshape(b, n, t, -1)
            if i % every == 0 and j < len(self.space_virtual_blocks):
                space = tokens.permute(0, 2, 1, 3).reshape(b * t, n, -1)
                points, virt = space[:, : n - v], space[:, n - v :]
                virt = self.space_virtual2point_blocks[j](virt, points)
                virt = self.space_virtual_blocks[j](virt)
                points = self.space_point2virtual_blocks[j](points, virt)
                space = torch.cat([points, virt], dim=1)
                tokens = space.reshape(b, t, n, -1).permute(0, 2, 1, 3)
                j += 1
        tokens = tokens[:, : n - v] + init_tokens
        return self.flow_head(self.output_norm(tokens))


# ---------------------------------------------------------------------- predictor
class BaseTrackerPredictor(nn.Module):
    """The tracker (see module docstring). State-dict order: query_ref_token, corr_mlp,
    updateformer, fmap_norm, ffeat_norm, ffeat_updater, vis_predictor, conf_predictor."""

    def __init__(self, latent_dim: int = 128, stride: int = 2, corr_levels: int = 7, corr_radius: int = 4,
                 hidden_size: int = 384, depth: int = 6, num_heads: int = 8, num_virtual_tracks: int = 64,
                 mlp_ratio: float = 4.0):
        super().__init__()
        self.latent_dim = latent_dim
        self.stride = stride
        self.corr_levels = corr_levels
        self.corr_radius = corr_radius
        self.flows_emb_dim = latent_dim // 2
        self.transformer_dim = 3 * latent_dim + 4
        self.corr_mlp = Mlp(corr_levels * (2 * corr_radius + 1) ** 2, hidden_size, latent_dim)
        self.query_ref_token = nn.Parameter(torch.randn(1, 2, self.transformer_dim))
        self.updateformer = EfficientUpdateFormer(depth, depth, self.transformer_dim, hidden_size, num_heads,
                                                  latent_dim + 2, mlp_ratio, num_virtual_tracks)
        self.fmap_norm = nn.LayerNorm(latent_dim)
        self.ffeat_norm = nn.GroupNorm(1, latent_dim)
        self.ffeat_updater = nn.Sequential(nn.Linear(latent_dim, latent_dim), nn.GELU())
        self.vis_predictor = nn.Sequential(nn.Linear(latent_dim, 1))
        self.conf_predictor = nn.Sequential(nn.Linear(latent_dim, 1))

    def forward(self, query_points: torch.Tensor, fmaps: torch.Tensor, iters: int = 4
                ) -> Tuple[List[torch.Tensor], torch.Tensor, torch.Tensor]:
        """``query_points [B, N, 2]`` (x, y input pixels), ``fmaps [B, S, C, H', W']`` →
        (list of ``iters`` coordinates [B, S, N, 2] in input pixels, vis [B, S, N], conf [B, S, N])."""
        b, n, _ = query_points.shape
        _, s, c, hh, ww = fmaps.shape
        if c != self.latent_dim:
            raise ValueError(f"tracker expects {self.latent_dim}-channel feature maps, got {c}")
        fmaps = self.fmap_norm(fmaps.permute(0, 1, 3, 4, 2)).permute(0, 1, 4, 2, 3)

        q = query_points.to(fmaps.dtype) / float(self.stride)
        coords = q.reshape(b, 1, n, 2).repeat(1, s, 1, 1)
        query_feat = sample_features(fmaps[:, 0], coords[:, 0])  # [B, N, C]
        track_feats = query_feat.unsqueeze(1).repeat(1, s, 1, 1)  # [B, S, N, C]
        coords_query = coords[:, 0].clone()
        corr_fn = CorrBlock(fmaps, self.corr_levels, self.corr_radius)

        pos = sincos_2d_grid(self.transformer_dim, hh, ww, device=fmaps.device).to(fmaps.dtype)
        pos_q = sample_features(pos.expand(b, -1, -1, -1), coords[:, 0]).reshape(b * n, 1, -1)
        ref = torch.cat([self.query_ref_token[:, :1], self.query_ref_token[:, 1:2].expand(-1, s - 1, -1)], dim=1)

        preds: List[torch.Tensor] = []
        for _ in range(iters):
            coords = coords.detach()
            corr = corr_fn.sample(track_feats, coords)  # [B, S, N, L·w²]
            corr = self.corr_mlp(corr.permute(0, 2, 1, 3).reshape(b * n, s, -1))
            flows = (coords - coords[:, :1]).permute(0, 2, 1, 3).reshape(b * n, s, 2)
            flow_emb = flow_embedding(flows, self.flows_emb_dim).to(fmaps.dtype)
            flow_emb = torch.cat([flow_emb, flows / MAX_FLOW_SCALE, flows / MAX_FLOW_SCALE], dim=-1)
            feats = track_feats.permute(0, 2, 1, 3).reshape(b * n, s, c)
            x = torch.cat([flow_emb, corr, feats], dim=-1) + pos_q + ref.to(fmaps.dtype)
            delta = self.updateformer(x.reshape(b, n, s, -1)).reshape(b * n, s, -1)
            d_xy, d_feat = delta[..., :2], delta[..., 2:]
            feats = self.ffeat_updater(self.ffeat_norm(d_feat.reshape(-1, c))) + feats.reshape(-1, c)
            track_feats = feats.reshape(b, n, s, c).permute(0, 2, 1, 3)
            coords = coords + d_xy.reshape(b, n, s, 2).permute(0, 2, 1, 3)
            coords = torch.cat([coords_query.unsqueeze(1), coords[:, 1:]], dim=1)
            preds.append(coords * self.stride)

        flat = track_feats.reshape(b * s * n, c)
        vis = torch.sigmoid(self.vis_predictor(flat).reshape(b, s, n))
        conf = torch.sigmoid(self.conf_predictor(flat).reshape(b, s, n))
        return preds, vis, conf
