"""2-D rotary position embedding (RoPE) for the aggregator's q and k.

Positions: patch (row r, col c) of an h×w grid gets (y, x) = (r+1, c+1) in row-major order;
the special tokens (camera + registers) get (0, 0), i.e. no rotation.

Rotation of one head vector t of size D (D % 4 == 0): the first D/2 channels are rotated by
y, the second D/2 by x.  Within a half of size d, frequency θ_i = base^(−2i/d), i < d/2, and
channel i is paired with channel i + d/2 ("rotate-half" layout):

    t'_i       = t_i·cos(pθ_i) − t_{i+d/2}·sin(pθ_i)
    t'_{i+d/2} = t_{i+d/2}·cos(pθ_i) + t_i·sin(pθ_i)

The angle p·θ_i is computed in float32, cast to the q/k dtype, then passed through cos/sin.
(RoFormer, Su et al. 2021; the 2-D split follows VGGT / CroCo v2.)
"""

from __future__ import annotations

import torch
from torch import nn


def patch_positions(n: int, h: int, w: int, num_special: int, device=None) -> torch.Tensor:
    """Integer (y, x) positions for ``n`` frames of ``num_special + h·w`` tokens → [n, P, 2].

    Patch tokens get (row+1, col+1) in row-major order; special tokens get (0, 0).
    """
    ys = torch.arange(h, device=device, dtype=torch.long) + 1
    xs = torch.arange(w, device=device, dtype=torch.long) + 1
    grid = torch.stack(torch.meshgrid(ys, xs, indexing="ij"), dim=-1).reshape(h * w, 2)
    special = torch.zeros(num_special, 2, dtype=torch.long, device=device)
    pos = torch.cat([special, grid], dim=0)
    return pos.unsqueeze(0).expand(n, -1, -1)


class RotaryPositionEmbedding2D(nn.Module):
    """Applies 2-D RoPE to ``tokens [B, heads, N, D]`` given ``positions [B, N, 2]`` (y, x).

    Holds no tensors (nothing in the state dict).
    """

    def __init__(self, base_frequency: float = 100.0):
        super().__init__()
        self.base_frequency = float(base_frequency)

    def _rotate_1d(self, t: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
        """Rotate-half RoPE on ``t [B, H, N, d]`` with integer positions ``pos [B, N]``."""
        d = t.shape[-1]
        exponents = torch.arange(0, d, 2, device=t.device, dtype=torch.float32) / d
        inv_freq = 1.0 / (self.base_frequency ** exponents)  # [d/2], float32
        angles = pos.to(torch.float32).unsqueeze(-1) * inv_freq  # [B, N, d/2], float32
        angles = angles.to(t.dtype)
        angles = torch.cat([angles, angles], dim=-1)[:, None]  # [B, 1, N, d]
        cos, sin = angles.cos(), angles.sin()
        t1, t2 = t[..., : d // 2], t[..., d // 2 :]
        rotated = torch.cat([-t2, t1], dim=-1)
        return t * cos + rotated * sin

    def forward(self, tokens: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        d = tokens.shape[-1]
        if d % 4:
            raise ValueError(f"2-D RoPE needs a head dim divisible by 4, got {d}")
        y_half, x_half = tokens.chunk(2, dim=-1)
        y_half = self._rotate_1d(y_half, positions[..., 0])
        x_half = self._rotate_1d(x_half, positions[..., 1])
        return torch.cat([y_half, x_half], dim=-1)
