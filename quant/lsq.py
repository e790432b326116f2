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

from .core import _can_inplace, check_bits, code_range, dequantize_, quantize
from .granularity import part_rows, part_view

__all__ = [
    "MIN_STEP",
    "lsq_range",
    "lsq_grad_scale",
    "lsq_init_step",
    "lsq_qparams",
    "lsq_fake_quantize",
    "lsq_fake_quantize_blocks",
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


def _storage(step: torch.Tensor, offset: Optional[torch.Tensor], bits: int, min_step: float):
    """(scale, zero_point) for the forward: zero_point a Python float without offset."""
    if offset is None:
        return step.clamp_min(min_step), float(-lsq_range(bits)[0])
    return lsq_qparams(step, offset, bits, min_step)


def _lsq_forward_into(x, step, offset, bits, min_step, out):
    """Write x̂ = s·(clamp(round(x/s + zp), 0, 2^b − 1) − zp) into ``out`` (no autograd)."""
    s, zp = _storage(step, offset, bits, min_step)
    quantize(x, s, zp, bits, "asymmetric", out=out)
    return dequantize_(out, s, zp)


def _lsq_backward_chunk(x, step, offset, grad, bits, min_step, grad_scale, need_x, need_s, need_o,
                        grad_x_out=None, scratch=None):
    """Analytic LSQ gradients of one chunk (see module docstring).

    Returns ``(grad_x, grad_step, grad_offset)``; step / offset gradients are summed to the shapes
    of ``step`` / ``offset`` and multiplied by ``grad_scale``. ``grad_x`` is written into
    ``grad_x_out`` when given; ``scratch`` (optional flat float tensor of ≥ 2·numel elements) holds
    the temporaries, so a caller looping over chunks allocates them once.

    Implementation note: only float arithmetic, no boolean tensors — on CPU, comparisons,
    ``where`` and bool×float products are ~10× slower per element than float ops. The inside
    mask is the float ``1 − sign(|u − clamp(u)|)``; two full-size temporaries (u, mask) plus the
    grad_x buffer, used as scratch.
    """
    _, qmax = code_range(bits, "asymmetric")
    z0 = float(-lsq_range(bits)[0])                                   # 2^(b−1)
    s, zp = _storage(step, offset, bits, min_step)
    shape = torch.broadcast_shapes(x.shape, s.shape)
    n = math.prod(shape)
    if scratch is not None and scratch.numel() >= 2 * n and scratch.dtype == torch.result_type(x, s):
        u, inside = scratch[:n].view(shape), scratch[n:2 * n].view(shape)
        torch.div(x, s, out=u)
    else:
        u, inside = x / s, None
    u = u.add_(zp) if _can_inplace(u, zp) else u + zp                  # u = x/s + zp = v + 2^(b−1)
    buf = grad_x_out if grad_x_out is not None else torch.empty(shape, dtype=u.dtype, device=u.device)
    torch.clamp(u, 0, qmax, out=buf)                                   # clamp(u)
    inside = torch.sub(u, buf, out=inside) if inside is not None else torch.sub(u, buf)
    inside.abs_().sign_().neg_().add_(1.0)                             # 1 where 0 ≤ u ≤ qmax, else 0
    gs = go = None
    if need_s:
        # d_s = round(v) − v = code − u inside; Q_n or Q_p = code − 2^(b−1) outside
        #     = (code − 2^(b−1)) − (u − 2^(b−1))·inside
        buf.round_().sub_(z0)
        u.sub_(z0).mul_(inside)
        buf.sub_(u).mul_(grad)
        gs = buf.sum_to_size(step.shape) * grad_scale
    torch.mul(grad, inside, out=buf)                                   # ∂x̂/∂x = 1 inside, 0 outside
    if need_o:  # ∂x̂/∂β = [outside]; grad − grad·[inside] is exactly grad·[outside] elementwise
        go = torch.sub(grad, buf, out=u).sum_to_size(offset.shape) * grad_scale
    return (buf if need_x else None), gs, go


class _LsqFakeQuant(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, step, offset, bits, grad_scale, min_step):
        shape = torch.broadcast_shapes(x.shape, step.shape)
        dtype = torch.result_type(x, step)
        out = torch.empty(shape, dtype=dtype, device=x.device)
        _lsq_forward_into(x, step, offset, bits, min_step, out)
        ctx.bits, ctx.grad_scale, ctx.min_step = bits, grad_scale, min_step
        ctx.has_offset = offset is not None
        ctx.save_for_backward(x, step, offset)
        return out

    @staticmethod
    def backward(ctx, grad_out):
        x, step, offset = ctx.saved_tensors
        need_x, need_s, need_o = ctx.needs_input_grad[0], ctx.needs_input_grad[1], \
            ctx.has_offset and ctx.needs_input_grad[2]
        gx, gs, go = _lsq_backward_chunk(x, step, offset, grad_out, ctx.bits, ctx.min_step, ctx.grad_scale,
                                         need_x, need_s, need_o)
        if gx is not None and gx.shape != x.shape:
            gx = gx.sum_to_size(x.shape)
        return gx, gs, go, None, None, None


class _LsqBlocksFakeQuant(torch.autograd.Function):
    """LSQ over the block parts of a contiguous ``x [L, C]`` with ``step_bc, offset_bc [B, C]``."""

    @staticmethod
    def forward(ctx, x, step_bc, offset_bc, bits, parts, grad_scales, min_step):
        out = torch.empty(x.shape, dtype=x.dtype, device=x.device)
        for p in parts:
            _lsq_forward_into(part_view(x, p), part_rows(step_bc, p), part_rows(offset_bc, p), bits, min_step,
                              part_view(out, p))
        ctx.bits, ctx.parts, ctx.grad_scales, ctx.min_step = bits, parts, grad_scales, min_step
        ctx.has_offset = offset_bc is not None
        ctx.save_for_backward(x, step_bc, offset_bc)
        return out

    @staticmethod
    def backward(ctx, grad_out):
        x, step_bc, offset_bc = ctx.saved_tensors
        need_x, need_s = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        need_o = ctx.has_offset and ctx.needs_input_grad[2]
        gx = torch.empty(x.shape, dtype=x.dtype, device=x.device) if need_x else None
        biggest = max(p.count * p.block_len for p in ctx.parts) * x.shape[1]
        scratch = torch.empty(2 * biggest, dtype=x.dtype, device=x.device)
        gss, gos = [], []
        for p, g in zip(ctx.parts, ctx.grad_scales):
            _, gs, go = _lsq_backward_chunk(
                part_view(x, p), part_rows(step_bc, p), part_rows(offset_bc, p), part_view(grad_out, p), ctx.bits,
                ctx.min_step, g, need_x, need_s, need_o, grad_x_out=part_view(gx, p) if need_x else None,
                scratch=scratch)
            gss.append(gs)
            gos.append(go)
        gs = torch.cat(gss).reshape(step_bc.shape) if need_s else None
        go = torch.cat(gos).reshape(offset_bc.shape) if need_o else None
        return gx, gs, go, None, None, None, None


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


def lsq_fake_quantize_blocks(x: torch.Tensor, step_bc: torch.Tensor, offset_bc: Optional[torch.Tensor],
                             bits: int, parts, min_step: float = MIN_STEP) -> torch.Tensor:
    """LSQ(+) per block of a stream: ``x [L, C]`` (contiguous), ``step_bc`` / ``offset_bc [B, C]``
    (block-major), ``parts`` = ``quant.granularity.block_parts(L, B)``. Block j's elements use row j
    of the parameters; its step gradient is scaled by ``lsq_grad_scale(bits, len(block j))``.
    Returns ``[L, C]``; one autograd node, no gather."""
    lsq_range(bits)
    grad_scales = [lsq_grad_scale(bits, p.block_len) for p in parts]
    return _LsqBlocksFakeQuant.apply(x.contiguous(), step_bc, offset_bc, bits, list(parts), grad_scales,
                                     min_step)
