"""LSQ — Learned Step Size Quantization (Esser et al., ICLR 2020), and LSQ+'s learned offset
(Bhalgat et al., CVPRW 2020), on the signed code range.

Signed range (RAHT AC coefficients are signed): Q_n = −2^(b−1), Q_p = 2^(b−1) − 1, b ≥ 2.
With a step s > 0 and an offset β (0 without LSQ+), v = (x − β)/s:

    x̂ = s · round(clamp(v, Q_n, Q_p)) + β
    ∂x̂/∂x = 1 inside (Q_n ≤ v ≤ Q_p), 0 outside
    ∂x̂/∂s = (round(v) − v) inside, Q_n or Q_p outside          × g
    ∂x̂/∂β = 0 inside, 1 outside                                   × g
    g = 1 / √(Q_p · n)   (n = number of elements sharing the step: the "grad scale" trick)

Storage form (what the file holds, so the decoder formula x̂ = scale·(code − zero_point) of
VanillaQuan is unchanged): scale = s, zero_point = 2^(b−1) − β/s (exactly 2^(b−1) without an
offset), code = round(clamp(x/s + zero_point, 0, 2^b − 1)) = q + 2^(b−1) ∈ [0, 2^b − 1]. The
forward below is *computed* in this storage form with the ops of ``quant.core.quantize`` /
``dequantize``, so the codes an encoder writes from ``lsq_qparams`` reproduce the training
forward bit for bit. The gradients are the analytic LSQ ones above (evaluated with
round(v) − v = code − (x/s + zero_point)).

The step is clamped to ``min_step`` inside the forward (a negative or zero step never reaches the
formula); the gradient is passed to the raw parameter as if unclamped, so an optimizer can push
it back. Call ``clamp_()`` on the modules after each optimizer step to keep the stored value > 0.
"""
from __future__ import annotations

import math
from typing import Optional, Tuple, Union

import torch

from .core import check_bits, dequantize, quantize

__all__ = [
    "MIN_STEP",
    "lsq_range",
    "lsq_grad_scale",
    "lsq_init_step",
    "lsq_qparams",
    "lsq_fake_quantize",
]

#: Smallest step used by the forward (and by ``clamp_``); guards s → 0.
MIN_STEP = 1e-12


def lsq_range(bits: int) -> Tuple[int, int]:
    """Signed LSQ range ``(Q_n, Q_p) = (−2^(b−1), 2^(b−1) − 1)``, 2 ≤ b ≤ 16."""
    bits = check_bits(bits, "signed")
    half = 1 << (bits - 1)
    return -half, half - 1


def lsq_grad_scale(bits: int, numel: int) -> float:
    """LSQ gradient scale ``g = 1/√(Q_p · numel)`` for a step shared by ``numel`` elements."""
    _, qp = lsq_range(bits)
    if numel < 1:
        raise ValueError(f"numel must be >= 1, got {numel}")
    return 1.0 / math.sqrt(qp * numel)


def lsq_init_step(mean_abs: torch.Tensor, bits: int, min_step: float = MIN_STEP) -> torch.Tensor:
    """LSQ initial step ``2 · mean|x| / √Q_p`` (elementwise over ``mean_abs``).

    A zero (all-zero block) or non-finite mean gives step 1; the result is at least ``min_step``.
    """
    _, qp = lsq_range(bits)
    init = 2.0 * mean_abs / math.sqrt(qp)
    ok = torch.isfinite(init) & (init > 0)
    return torch.where(ok, init, torch.ones_like(init)).clamp_min(min_step)


def lsq_qparams(step: torch.Tensor, offset: Optional[torch.Tensor], bits: int,
                min_step: float = MIN_STEP) -> Tuple[torch.Tensor, torch.Tensor]:
    """Storage-form ``(scale, zero_point)`` of LSQ parameters (shapes of ``step``).

    scale = max(step, min_step); zero_point = 2^(b−1) − offset/scale (2^(b−1) without offset).
    Exactly the values ``lsq_fake_quantize`` computes with.
    """
    qn, _ = lsq_range(bits)
    s = step.clamp_min(min_step)
    if offset is None:
        return s, torch.full_like(s, float(-qn))
    return s, float(-qn) - offset / s


class _LsqFakeQuant(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, step, offset, bits, grad_scale, min_step):
        with torch.no_grad():
            if offset is None:
                s, zp = step.clamp_min(min_step), float(-lsq_range(bits)[0])
            else:
                s, zp = lsq_qparams(step, offset, bits, min_step)
            code = quantize(x, s, zp, bits, "asymmetric")
            out = dequantize(code, s, zp, dtype=code.dtype)
        ctx.bits, ctx.grad_scale, ctx.min_step = bits, grad_scale, min_step
        ctx.has_offset = offset is not None
        ctx.save_for_backward(x, step, offset)
        return out

    @staticmethod
    def backward(ctx, grad_out):
        x, step, offset = ctx.saved_tensors
        bits = ctx.bits
        qn, _ = lsq_range(bits)
        qmax = (1 << bits) - 1
        if offset is None:
            s, zp = step.clamp_min(ctx.min_step), float(-qn)
        else:
            s, zp = lsq_qparams(step, offset, bits, ctx.min_step)
        u = x / s
        u = u + zp
        code = torch.clamp(torch.round(u), 0, qmax)
        inside = (u >= 0) & (u <= qmax)
        grad_x = grad_s = grad_o = None
        if ctx.needs_input_grad[0]:
            grad_x = grad_out * inside
        if ctx.needs_input_grad[1]:
            # inside: round(v) − v = code − u ; outside: Q_n or Q_p = code − 2^(b−1)
            d_s = torch.where(inside, code - u, code + qn)
            grad_s = (grad_out * d_s).sum_to_size(step.shape) * ctx.grad_scale
        if ctx.has_offset and ctx.needs_input_grad[2]:
            grad_o = (grad_out * (~inside)).sum_to_size(offset.shape) * ctx.grad_scale
        return grad_x, grad_s, grad_o, None, None, None


def lsq_fake_quantize(x: torch.Tensor, step: torch.Tensor, offset: Optional[torch.Tensor], bits: int,
                      grad_scale: Union[float, torch.Tensor] = 1.0,
                      min_step: float = MIN_STEP) -> torch.Tensor:
    """LSQ(+) fake quantization, signed range (formulas in the module docstring).

    Shapes: ``x`` any; ``step`` and ``offset`` (None = no offset) broadcastable to ``x``; their
    gradients are summed back to their own shapes and multiplied by ``grad_scale`` (use
    ``lsq_grad_scale(bits, n)``; a tensor broadcastable to ``step`` is allowed). Output like ``x``.
    """
    lsq_range(bits)  # validates
    return _LsqFakeQuant.apply(x, step, offset, bits, grad_scale, min_step)
