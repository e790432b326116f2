"""Rate–distortion step allocation: quantizer steps from a quality knob and measured sensitivities.

High-rate theory (Gersho & Gray, ch. 5; as used by rate–distortion optimised transform coding):
a uniform quantizer of step Δ on a coefficient whose squared error is weighted by a sensitivity
s costs distortion ≈ s·Δ²/12 and rate ≈ h − log2 Δ bits. Minimising Σ n_k s_k Δ_k²/12 + λ·Σ n_k·(−log2 Δ_k)
gives equal slopes: s_k Δ_k² = 6λ/ln 2 for every quantizer k, i.e.

    Δ_k = κ / √(s_k / s̄)        (s̄ = mean of the positive s_k, so κ is the step at average sensitivity)

Two guards keep it a quantizer one can store: Δ_k ≥ max|x|_k / Q_p so no code clips (Q_p =
2^(b−1) − 1 on the signed range), and Δ_k ≤ 2·max|x|_k + tiny (a block nobody sees — s_k = 0 —
quantizes to zeros and costs almost nothing; a larger step would change nothing). The quality
scale is κ = 2^(−Q/8): each +8 of Q halves every step (≈ +6 dB of quantization SNR, ≈ +1 bit per
significant coefficient).
"""
from __future__ import annotations

import math

import torch

from .lsq import MIN_STEP, lsq_range

__all__ = ["quality_to_kappa", "kappa_to_quality", "rd_steps", "normalized_sensitivity", "mean_sensitivity", "bit_price"]


def quality_to_kappa(quality: float) -> float:
    """κ = 2^(−Q/8) (step of an average-sensitivity quantizer, in attribute units)."""
    q = float(quality)
    if not math.isfinite(q):
        raise ValueError(f"quality must be a finite number, got {quality!r}")
    return 2.0 ** (-q / 8.0)


def kappa_to_quality(kappa: float) -> float:
    """Inverse of :func:`quality_to_kappa`: Q = −8·log2 κ."""
    if not kappa > 0:
        raise ValueError(f"kappa must be > 0, got {kappa!r}")
    return -8.0 * math.log2(kappa)


def mean_sensitivity(sensitivity: torch.Tensor) -> float:
    """s̄: the mean of the positive entries, in the dtype given (0.0 when none is positive)."""
    positive = sensitivity[sensitivity > 0]
    return float(positive.mean()) if positive.numel() else 0.0


def normalized_sensitivity(sensitivity: torch.Tensor) -> torch.Tensor:
    """s / s̄ with s̄ the mean of the positive entries (all-zero input → zeros). float32 [C, B]."""
    s = sensitivity.detach().to(torch.float64).clamp(min=0.0)
    s_bar = mean_sensitivity(s)
    if s_bar == 0.0:
        return torch.zeros_like(s, dtype=torch.float32)
    return (s / s_bar).to(torch.float32)


def bit_price(sensitivity: torch.Tensor, kappa: float) -> float:
    """λ = ln 2 · s̄ · κ² / 6: the distortion per bit at which the steps of :func:`rd_steps` trade.

    A uniform quantizer of step Δ on a coefficient of sensitivity s costs D = s·Δ²/12 for
    R = h − log2 Δ, so −dD/dR = ln 2 · s·Δ²/6, and the allocation makes s·Δ² = s̄·κ² for every
    quantizer. ``sensitivity`` [C, B] as given to :func:`rd_steps` (float64 recommended)."""
    return math.log(2.0) * mean_sensitivity(sensitivity.detach()) * float(kappa) ** 2 / 6.0


def rd_steps(sensitivity: torch.Tensor, kappa: float, absmax: torch.Tensor, bits: int) -> torch.Tensor:
    """Steps [C, B] float32: Δ = clamp(κ/√(s/s̄), max|x|/Q_p, 2·max|x|) (see the module docstring).

    Args:
        sensitivity: [C, B] ≥ 0 weight of each quantizer's squared error (e.g. the diagonal Fisher
            information of the training loss, averaged over the block); only ratios matter.
        kappa: step at average sensitivity (> 0); ``quality_to_kappa(Q)``.
        absmax: [C, B] largest |x| of each block (the no-clipping bound).
        bits: code width b (signed range, b ≥ 2).
    """
    _, q_p = lsq_range(bits)
    if not kappa > 0 or not math.isfinite(kappa):
        raise ValueError(f"kappa must be a finite number > 0, got {kappa!r}")
    if sensitivity.shape != absmax.shape:
        raise ValueError(f"sensitivity {tuple(sensitivity.shape)} and absmax {tuple(absmax.shape)} must match")
    s = normalized_sensitivity(sensitivity).to(torch.float64)
    a = absmax.detach().to(torch.float64).clamp(min=0.0)
    ideal = torch.where(s > 0, kappa / s.clamp(min=1e-30).sqrt(), torch.full_like(s, math.inf))
    lower = a / q_p
    upper = torch.maximum(2.0 * a, torch.full_like(a, MIN_STEP))
    step = torch.minimum(torch.maximum(ideal, lower), upper)
    return step.clamp(min=MIN_STEP).to(torch.float32)
