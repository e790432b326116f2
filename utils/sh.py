"""Real spherical harmonics up to degree 3, in the coefficient order of 3DGS and gsplat.

Colour of a Gaussian seen along direction d (from the camera centre to the mean):
``rgb = max(eval_sh(deg, sh, d) + 0.5, 0)`` (the caller adds 0.5 and clamps).

Basis (unit d = (x, y, z)), index k of ``sh[..., k, :]``:
    0:            C0
    1, 2, 3:      −C1·y, C1·z, −C1·x
    4 … 8:        C2 terms  xy, yz, 2z²−x²−y², xz, x²−y²
    9 … 15:       C3 terms  y(3x²−y²), xyz, y(4z²−x²−y²), z(2z²−3x²−3y²), x(4z²−x²−y²),
                  z(x²−y²), x(x²−3y²)
The constants are the usual real-SH normalisations (Sloan, "Stupid Spherical Harmonics
Tricks", 2008), as used by Kerbl et al. 2023 (3DGS).
"""

from __future__ import annotations

import torch

SH_C0 = 0.28209479177387814
SH_C1 = 0.4886025119029199
SH_C2 = (
    1.0925484305920792,
    -1.0925484305920792,
    0.31539156525252005,
    -1.0925484305920792,
    0.5462742152960396,
)
SH_C3 = (
    -0.5900435899266435,
    2.890611442640554,
    -0.4570457994644658,
    0.3731763325901154,
    -0.4570457994644658,
    1.445305721320277,
    -0.5900435899266435,
)

MAX_SH_DEGREE = 3


def num_sh_bases(degree: int) -> int:
    """Number of SH coefficients per colour channel for ``degree``: ``(degree + 1)²``."""
    return (int(degree) + 1) ** 2


def sh_basis(degree: int, dirs: torch.Tensor) -> torch.Tensor:
    """SH basis functions at unit directions.

    Args:
        degree: 0 … 3.
        dirs: ``[..., 3]`` unit directions (not normalised here).

    Returns:
        ``[..., (degree + 1)²]`` basis values in the coefficient order of the module docstring.
    """
    if not 0 <= degree <= MAX_SH_DEGREE:
        raise ValueError(f"SH degree must be in 0..{MAX_SH_DEGREE}, got {degree}")
    x, y, z = dirs.unbind(-1)
    terms = [torch.full_like(x, SH_C0)]
    if degree >= 1:
        terms += [-SH_C1 * y, SH_C1 * z, -SH_C1 * x]
    if degree >= 2:
        xx, yy, zz = x * x, y * y, z * z
        xy, yz, xz = x * y, y * z, x * z
        terms += [
            SH_C2[0] * xy,
            SH_C2[1] * yz,
            SH_C2[2] * (2.0 * zz - xx - yy),
            SH_C2[3] * xz,
            SH_C2[4] * (xx - yy),
        ]
    if degree >= 3:
        terms += [
            SH_C3[0] * y * (3.0 * xx - yy),
            SH_C3[1] * xy * z,
            SH_C3[2] * y * (4.0 * zz - xx - yy),
            SH_C3[3] * z * (2.0 * zz - 3.0 * xx - 3.0 * yy),
            SH_C3[4] * x * (4.0 * zz - xx - yy),
            SH_C3[5] * z * (xx - yy),
            SH_C3[6] * x * (xx - 3.0 * yy),
        ]
    return torch.stack(terms, dim=-1)


def eval_sh(degree: int, sh: torch.Tensor, dirs: torch.Tensor) -> torch.Tensor:
    """Evaluate SH colour (raw, before +0.5 and clamping).

    ``value[..., c] = Σ_k basis_k(d / |d|) · sh[..., k, c]`` for k < (degree + 1)².

    Args:
        degree: SH degree to use, 0 … 3; may be lower than the stored one (SH warm-up
            uses a prefix of the coefficients).
        sh: ``[..., K, C]`` coefficients, K ≥ (degree + 1)² (C is 3 for RGB).
        dirs: ``[..., 3]`` view directions (any length; normalised here, zero stays zero).

    Returns:
        ``[..., C]`` raw SH value.
    """
    n_bases = num_sh_bases(degree)
    if sh.shape[-2] < n_bases:
        raise ValueError(
            f"SH degree {degree} needs {n_bases} coefficients per channel, "
            f"but sh has shape {tuple(sh.shape)}; lower the degree or pass more coefficients"
        )
    if dirs.shape[-1] != 3:
        raise ValueError(f"dirs must have shape [..., 3], got {tuple(dirs.shape)}")
    if degree == 0:
        return SH_C0 * sh[..., 0, :]
    unit = torch.nn.functional.normalize(dirs, dim=-1)
    basis = sh_basis(degree, unit)  # [..., B]
    return (basis.unsqueeze(-1) * sh[..., :n_bases, :]).sum(dim=-2)


def rgb_to_sh0(rgb: torch.Tensor) -> torch.Tensor:
    """DC coefficient giving colour ``rgb``: ``(rgb − 0.5) / C0``."""
    return (rgb - 0.5) / SH_C0


def sh0_to_rgb(sh0: torch.Tensor) -> torch.Tensor:
    """Colour of a DC coefficient: ``sh0 · C0 + 0.5``."""
    return sh0 * SH_C0 + 0.5


def sh_rotation(degree: int, rotation: torch.Tensor, samples: int = 64) -> torch.Tensor:
    """[(degree+1)²−1, (degree+1)²−1] float64 matrix A that rotates the coefficients of bands 1..degree:
    for colour c(d) = Σ_k sh_k·Y_k(d), the content turned by R has c'(d) = c(Rᵀd), i.e. sh' = A·sh.

    Solved per band by least squares on ``samples`` Fibonacci directions (Y(RᵀD) = Y(D)·Aᵀ holds
    exactly for a rotation, band by band), so it needs no Wigner-D formulas.
    """
    if degree < 1:
        return torch.zeros(0, 0, dtype=torch.float64)
    rot = torch.as_tensor(rotation, dtype=torch.float64)
    k = torch.arange(samples, dtype=torch.float64) + 0.5
    z = 1.0 - 2.0 * k / samples
    r = (1.0 - z * z).clamp(min=0.0).sqrt()
    phi = torch.pi * (3.0 - 5.0 ** 0.5) * k
    dirs = torch.stack([r * torch.cos(phi), r * torch.sin(phi), z], dim=1)
    y = sh_basis(degree, dirs)[:, 1:]
    y_rot = sh_basis(degree, dirs @ rot)[:, 1:]  # rows: Y(Rᵀ d)
    out = torch.zeros(y.shape[1], y.shape[1], dtype=torch.float64)
    for band in range(1, degree + 1):
        sl = slice(band * band - 1, (band + 1) ** 2 - 1)
        out[sl, sl] = torch.linalg.lstsq(y[:, sl], y_rot[:, sl]).solution
    return out
