"""The VGGT aggregator: patch embedding + alternating frame / global attention with 2-D RoPE.

Input ``images [B, S, 3, H, W]`` in [0, 1]; each channel is normalised with ImageNet statistics
(x − mean)/std, mean (0.485, 0.456, 0.406), std (0.229, 0.224, 0.225).

Tokens per frame: [camera (1), registers (R), patches (K = h·w)], P = K + 1 + R,
``patch_start_idx = 1 + R``.  ``camera_token [1, 2, 1, E]`` and ``register_token [1, 2, R, E]``:
index 0 is used for the first frame of every sequence, index 1 for frames 1…S−1.

With ``aa_block_size = 1`` and ``aa_order = (frame, global)``, for i = 0…depth−1:
frame block i on [B·S, P, E] (attention inside each frame) → F_i, then global block i on
[B, S·P, E] (attention over all frames of a sample) → G_i.  Output i = concat(F_i, G_i) on the
channel axis → [B, S, P, 2E].  Only the outputs in ``keep_layers`` are stored (the others are
``None``), which is output-equivalent and saves memory.
(Wang et al. 2025, "VGGT: Visual Geometry Grounded Transformer".)
"""

from __future__ import annotations

from typing import Iterable, List, Optional, Tuple

import torch
from torch import nn

from .config import VGGTConfig
from .dinov2 import ConvPatchEmbed, DinoVisionTransformer
from .layers import Block
from .rope import RotaryPositionEmbedding2D, patch_positions

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _first_and_rest(token: torch.Tensor, b: int, s: int) -> torch.Tensor:
    """Special token ``[1, 2, X, E]`` → ``[B·S, X, E]``: index 0 for frame 0, index 1 for the rest."""
    first = token[:, :1].expand(b, 1, *token.shape[2:])
    rest = token[:, 1:].expand(b, s - 1, *token.shape[2:])
    return torch.cat([first, rest], dim=1).reshape(b * s, *token.shape[2:])


class Aggregator(nn.Module):
    """Alternating-attention aggregator (see module docstring). State-dict order:
    camera_token, register_token, patch_embed, frame_blocks, global_blocks."""

    def __init__(self, config: VGGTConfig):
        super().__init__()
        c = config
        e = c.embed_dim
        self.patch_size = c.patch_size
        self.depth = c.depth
        self.aa_order = tuple(c.aa_order)
        self.aa_block_size = c.aa_block_size
        self.num_register_tokens = c.num_register_tokens
        self.patch_start_idx = 1 + c.num_register_tokens

        self.camera_token = nn.Parameter(torch.zeros(1, 2, 1, e))
        self.register_token = nn.Parameter(torch.zeros(1, 2, c.num_register_tokens, e))
        if c.uses_dino:
            self.patch_embed = DinoVisionTransformer(
                img_size=c.img_size,
                patch_size=c.patch_size,
                embed_dim=e,
                depth=c.dino_depth,
                num_heads=c.dino_num_heads,
                mlp_ratio=c.dino_mlp_ratio,
                num_register_tokens=c.num_register_tokens,
                init_values=c.dino_init_values,
            )
            self.patch_embed.mask_token.requires_grad_(False)
        else:
            self.patch_embed = ConvPatchEmbed(c.patch_size, 3, e)
        rope = RotaryPositionEmbedding2D(c.rope_freq) if c.rope_freq > 0 else None

        def make_block() -> Block:
            return Block(e, c.num_heads, c.mlp_ratio, init_values=c.init_values, norm_eps=1e-5,
                         qk_norm=c.qk_norm, rope=rope)

        self.frame_blocks = nn.ModuleList([make_block() for _ in range(c.depth)])
        self.global_blocks = nn.ModuleList([make_block() for _ in range(c.depth)])
        self.rope = rope
        with torch.no_grad():
            nn.init.normal_(self.camera_token, std=1e-6)
            nn.init.normal_(self.register_token, std=1e-6)

    def forward(
        self, images: torch.Tensor, keep_layers: Optional[Iterable[int]] = None
    ) -> Tuple[List[Optional[torch.Tensor]], int]:
        """``images [B, S, 3, H, W]`` in [0, 1] → (list of ``depth`` outputs [B, S, P, 2E] or None,
        patch_start_idx).  ``keep_layers=None`` keeps all outputs."""
        if images.dim() != 5:
            raise ValueError(f"Aggregator expects images [B, S, 3, H, W], got shape {tuple(images.shape)}")
        b, s, ch, height, width = images.shape
        if ch != 3:
            raise ValueError(f"expected 3 colour channels, got {ch} (shape {tuple(images.shape)})")
        p = self.patch_size
        if height % p or width % p:
            raise ValueError(f"image size {height}x{width} is not a multiple of the patch size {p}; "
                             f"resize with vggt_ext.preprocess.load_and_preprocess_images")
        keep = set(range(self.depth)) if keep_layers is None else {int(i) for i in keep_layers}

        mean = torch.tensor(IMAGENET_MEAN, dtype=torch.float32, device=images.device).view(1, 1, 3, 1, 1)
        std = torch.tensor(IMAGENET_STD, dtype=torch.float32, device=images.device).view(1, 1, 3, 1, 1)
        x = ((images - mean) / std).reshape(b * s, ch, height, width)
        patch_tokens = self.patch_embed(x)  # [B·S, K, E]

        cam = _first_and_rest(self.camera_token, b, s)
        reg = _first_and_rest(self.register_token, b, s)
        tokens = torch.cat([cam, reg, patch_tokens], dim=1)  # [B·S, P, E]
        n_tok, e = tokens.shape[1], tokens.shape[2]

        pos = None
        if self.rope is not None:
            pos = patch_positions(b * s, height // p, width // p, self.patch_start_idx, device=images.device)

        outputs: List[Optional[torch.Tensor]] = []
        frame_idx = global_idx = 0
        for _ in range(self.depth // self.aa_block_size):
            frame_out: List[torch.Tensor] = []
            global_out: List[torch.Tensor] = []
            for kind in self.aa_order:
                if kind == "frame":
                    tokens = tokens.reshape(b * s, n_tok, e)
                    fpos = None if pos is None else pos.reshape(b * s, n_tok, 2)
                    for _ in range(self.aa_block_size):
                        tokens = self.frame_blocks[frame_idx](tokens, pos=fpos)
                        frame_idx += 1
                        frame_out.append(tokens.reshape(b, s, n_tok, e))
                else:
                    tokens = tokens.reshape(b, s * n_tok, e)
                    gpos = None if pos is None else pos.reshape(b, s * n_tok, 2)
                    for _ in range(self.aa_block_size):
                        tokens = self.global_blocks[global_idx](tokens, pos=gpos)
                        global_idx += 1
                        global_out.append(tokens.reshape(b, s, n_tok, e))
            for f_i, g_i in zip(frame_out, global_out):
                idx = len(outputs)
                outputs.append(torch.cat([f_i, g_i], dim=-1) if idx in keep else None)
        return outputs, self.patch_start_idx
