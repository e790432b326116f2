"""The scalar quantization formulas: code ranges, parameters, quantize, dequantize, fake-quantize.

This module is the only place in the project where a scale, a zero point or a rounding rule
is written down; everything else (granularities, VanillaQuan / LSQ banks, the compressed
format, the VGGT weight quantizers) calls these functions.

Notation: b = bits, x a real value, s = scale (> 0), z = zero point (an integer-valued float),
q an integer code.

- code range (``code_range``):
    asymmetric  q ∈ [0, 2^b − 1]
    symmetric   q ∈ [−(2^(b−1) − 1), 2^(b−1) − 1]       (z = 0, b ≥ 2; the range is sign-symmetric)
    signed      q ∈ [−2^(b−1), 2^(b−1) − 1]             (two's complement; used by LSQ, b ≥ 2)
- parameters: ``asymmetric_qparams`` (the user's VanillaQuan formula, min/max envelope forced to
  contain 0), ``symmetric_qparams`` (max |x|);
- ``quantize``:    q = clamp(round(z + x/s), qmin, qmax)   (round = half to even, torch.round)
- ``dequantize``:  x̂ = s·(q − z)
- ``fake_quantize``: x̂ = dequantize(quantize(x)) in one autograd node with the straight-through
  estimator: ∂x̂/∂x = 1 where z + x/s ∈ [qmin − ½, qmax + ½] (the clamp moves the value by no
  more than rounding does), 0 elsewhere (clamped); s and z receive no gradient.

All functions take torch tensors; ``scale`` / ``zero_point`` broadcast against ``x``. The exact
op order (``x / s``, then ``+ z``, round, clamp; ``q − z``, then ``· s``) is part of the contract:
the encoder and the training forward run these same ops, so codes and reconstructions agree bit
for bit in float32.
"""
from __future__ import annotations

from typing import Optional, Tuple, Union

import torch

__all__ = [
    "MAPPINGS",
    "DEGENERATE_RANGE",
    "check_bits",
    "code_range",
    "zero_codes",
    "asymmetric_qparams",
    "symmetric_qparams",
    "quantize",
    "dequantize",
    "dequantize_",
    "fake_quantize",
    "fake_quantize_unchecked",
    "ste_inside",
    "ste_mask",
]

MAPPINGS = ("asymmetric", "symmetric", "signed")

#: A range (max − min, or max |x|) below this is degenerate: it gets scale 1 and zero point 0,
#: so an all-zero block quantizes to code z and back to exactly 0, never 0/0 = NaN.
DEGENERATE_RANGE = 1e-12

TensorLike = Union[torch.Tensor, float, int]


def check_bits(bits: int, mapping: str = "asymmetric") -> int:
    """Validate a bit width for a mapping and return it as ``int``.

    asymmetric: 1 ≤ b ≤ 16; symmetric / signed: 2 ≤ b ≤ 16 (a 1-bit symmetric range would be {0}).
    Codes up to 2^16 are exact in float32 (integers up to 2^24 are).
    """
    if mapping not in MAPPINGS:
        raise ValueError(f"unknown quantization mapping {mapping!r}; use one of {MAPPINGS}")
    if isinstance(bits, bool) or not isinstance(bits, int):
        try:
            if float(bits) != int(bits):
                raise ValueError
            bits = int(bits)
        except (TypeError, ValueError):
            raise ValueError(f"bits must be an integer, got {bits!r}") from None
    low = 1 if mapping == "asymmetric" else 2
    if not low <= bits <= 16:
        raise ValueError(f"bits={bits} is out of range for the {mapping} mapping; use {low}..16")
    return bits


def zero_codes(zero_point, bits: int):
    """Integer code of a zero value for asymmetric b-bit zero points (numpy in, int64 numpy out):
    clip(round(zero_point), 0, 2^b − 1) — what ``quantize(0, scale, zero_point, bits)`` gives."""
    import numpy as np

    return np.clip(np.rint(np.asarray(zero_point, dtype=np.float64)), 0, code_range(bits)[1]).astype(np.int64)


def code_range(bits: int, mapping: str = "asymmetric") -> Tuple[int, int]:
    """Integer code range ``(qmin, qmax)`` of a b-bit mapping.

    asymmetric ``(0, 2^b − 1)``; symmetric ``(−(2^(b−1) − 1), 2^(b−1) − 1)``;
    signed ``(−2^(b−1), 2^(b−1) − 1)``.
    """
    bits = check_bits(bits, mapping)
    if mapping == "asymmetric":
        return 0, (1 << bits) - 1
    half = 1 << (bits - 1)
    if mapping == "symmetric":
        return -(half - 1), half - 1
    return -half, half - 1


def _as_float_tensor(v: TensorLike, like: Optional[torch.Tensor] = None) -> torch.Tensor:
    if isinstance(v, torch.Tensor):
        return v if v.is_floating_point() else v.to(torch.float32)
    if like is not None:
        return torch.as_tensor(v, dtype=like.dtype if like.is_floating_point() else torch.float32,
                               device=like.device)
    return torch.as_tensor(v, dtype=torch.float32)


def asymmetric_qparams(min_val: TensorLike, max_val: TensorLike, bits: int,
                       eps: float = DEGENERATE_RANGE) -> Tuple[torch.Tensor, torch.Tensor]:
    """Asymmetric (min/max) parameters — the user's VanillaQuan formula, elementwise.

    With qmax = 2^b − 1, m = min(min_val, 0), M = max(max_val, 0) (the envelope always contains 0):
        scale      = (M − m) / qmax
        zero_point = clamp(round(qmax − M / scale), 0, qmax)
    The zero point is an integer, so x = 0 is reproduced exactly; the price is that an extreme
    value may clip by at most scale/2. Degenerate range (M − m < eps, e.g. an all-zero block):
    scale = 1, zero_point = 0 (no NaN).

    Args:
        min_val, max_val: tensors (any equal/broadcastable shapes) or numbers; float dtype kept
            (float32 for numbers / integer tensors).
        bits: 1..16.
    Returns:
        ``(scale, zero_point)``, both float tensors of the broadcast shape.
    """
    bits = check_bits(bits, "asymmetric")
    qmax = float((1 << bits) - 1)
    mn = _as_float_tensor(min_val)
    mx = _as_float_tensor(max_val, like=mn)
    mn = torch.clamp(mn, max=0.0)
    mx = torch.clamp(mx, min=0.0)
    span = mx - mn
    degenerate = span < eps
    scale = torch.where(degenerate, torch.ones_like(span), span / qmax)
    zero_point = torch.clamp(torch.round(qmax - mx / scale), 0.0, qmax)
    zero_point = torch.where(degenerate, torch.zeros_like(zero_point), zero_point)
    return scale, zero_point


def symmetric_qparams(absmax: TensorLike, bits: int, eps: float = DEGENERATE_RANGE) -> torch.Tensor:
    """Symmetric (max |x|) scale, elementwise: ``scale = absmax / (2^(b−1) − 1)``, zero point 0.

    absmax < eps (degenerate) gives scale 1. Returns a float tensor shaped like ``absmax``.
    """
    bits = check_bits(bits, "symmetric")
    qmax = float((1 << (bits - 1)) - 1)
    a = torch.abs(_as_float_tensor(absmax))
    return torch.where(a < eps, torch.ones_like(a), a / qmax)


def _zp(zero_point: Optional[TensorLike]) -> TensorLike:
    return 0.0 if zero_point is None else zero_point


def _can_inplace(v: torch.Tensor, other: TensorLike) -> bool:
    """True when ``v op= other`` gives exactly ``v op other`` (same shape and dtype, no autograd)."""
    if torch.is_grad_enabled() and v.requires_grad:
        return False
    if isinstance(other, torch.Tensor):
        if torch.result_type(v, other) != v.dtype:
            return False
        try:
            return torch.broadcast_shapes(v.shape, other.shape) == v.shape
        except RuntimeError:
            return False
    return True


def quantize(x: torch.Tensor, scale: TensorLike, zero_point: Optional[TensorLike], bits: int,
             mapping: str = "asymmetric", dtype: Optional[torch.dtype] = None,
             out: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Integer codes ``q = clamp(round(zero_point + x / scale), qmin, qmax)``.

    Args:
        x: float tensor, any shape.
        scale, zero_point: broadcastable to ``x`` (zero_point None = 0, as for symmetric).
        bits, mapping: see ``code_range``.
        dtype: None (default) returns the integer-valued codes in the float dtype of the
            computation, exactly as ``fake_quantize`` uses them; an integer dtype casts them.
        out: optional float tensor of the result's shape and dtype to write the (float) codes into
            (no autograd); ``dtype`` must then be None.
    Ops, in this order: ``v = x / scale``; ``v = v + zero_point``; round (half to even); clamp.
    """
    qmin, qmax = code_range(bits, mapping)
    z = _zp(zero_point)
    if out is not None:
        if dtype is not None:
            raise ValueError("quantize: give either out= or dtype=, not both")
        v = torch.div(x, scale, out=out)
    else:
        v = x / scale
    if _can_inplace(v, z):
        v.add_(z)
        v.round_()
        v.clamp_(qmin, qmax)
        q = v
    else:
        q = torch.clamp(torch.round(v + z), qmin, qmax)
        if out is not None:
            out.copy_(q)
            q = out
    return q if dtype is None else q.to(dtype)


def dequantize(codes: torch.Tensor, scale: TensorLike, zero_point: Optional[TensorLike] = None,
               dtype: Optional[torch.dtype] = None) -> torch.Tensor:
    """Reconstruction ``x̂ = scale · (codes − zero_point)``.

    Integer ``codes`` (e.g. uint8 from a file) are converted to the float dtype of ``scale``
    (float32 for a number) — or ``dtype`` if given — before the subtraction, which is exact for
    |codes| ≤ 2^24, so the result equals ``fake_quantize`` bit for bit.
    """
    if dtype is None:
        dtype = scale.dtype if isinstance(scale, torch.Tensor) and scale.is_floating_point() else (
            codes.dtype if codes.is_floating_point() else torch.float32)
    c = codes.to(dtype)
    z = _zp(zero_point)
    if c is not codes and _can_inplace(c, z) and _can_inplace(c, scale):
        return c.sub_(z).mul_(scale)
    return (c - z) * scale


def dequantize_(codes: torch.Tensor, scale: TensorLike, zero_point: Optional[TensorLike] = None) -> torch.Tensor:
    """In-place ``dequantize`` of float codes (same ops, same bits): ``codes ← scale·(codes − zp)``.

    Falls back to an out-of-place result when the shapes/dtypes do not allow writing in place.
    """
    z = _zp(zero_point)
    if codes.is_floating_point() and _can_inplace(codes, z) and _can_inplace(codes, scale):
        return codes.sub_(z).mul_(scale)
    return dequantize(codes, scale, zero_point, dtype=codes.dtype if codes.is_floating_point() else None)


def ste_mask(x: torch.Tensor, scale: TensorLike, zero_point: Optional[TensorLike], bits: int,
             mapping: str = "asymmetric", out: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Float mask (1.0 / 0.0) of the straight-through region ``z + x/s ∈ [qmin − ½, qmax + ½]``.

    The same set as ``ste_inside``, computed with float arithmetic only,
    ``1 − sign(|v − clamp(v, qmin − ½, qmax + ½)|)``, which on CPU is much faster than boolean
    comparisons. ``out``: optional float tensor of the broadcast shape to write into.
    """
    qmin, qmax = code_range(bits, mapping)
    z = _zp(zero_point)
    v = torch.div(x, scale, out=out) if out is not None else x / scale
    v = v.add_(z) if _can_inplace(v, z) else v + z
    c = torch.clamp(v, qmin - 0.5, qmax + 0.5)
    v.sub_(c).abs_().sign_().neg_().add_(1.0)
    return v


def ste_inside(x: torch.Tensor, scale: TensorLike, zero_point: Optional[TensorLike], bits: int,
               mapping: str = "asymmetric") -> torch.Tensor:
    """Boolean mask where the straight-through gradient is 1: ``z + x/s ∈ [qmin − ½, qmax + ½]``."""
    return ste_mask(x, scale, zero_point, bits, mapping) > 0.5


class _FakeQuantSTE(torch.autograd.Function):
    """x̂ = s·(clamp(round(z + x/s)) − z); backward: grad · [inside] (or identity if unchecked)."""

    @staticmethod
    def forward(ctx, x, scale, zero_point, bits, mapping, check):
        q = quantize(x, scale, zero_point, bits, mapping)
        out = dequantize_(q, scale, zero_point)
        ctx.bits, ctx.mapping, ctx.check = bits, mapping, check
        if check:
            ctx.save_for_backward(x, scale if isinstance(scale, torch.Tensor) else None,
                                  zero_point if isinstance(zero_point, torch.Tensor) else None)
            ctx.scalars = (None if isinstance(scale, torch.Tensor) else scale,
                           None if isinstance(zero_point, torch.Tensor) else zero_point)
        return out

    @staticmethod
    def backward(ctx, grad_out):
        if not ctx.check:
            return grad_out, None, None, None, None, None
        x, s_t, z_t = ctx.saved_tensors
        s = s_t if s_t is not None else ctx.scalars[0]
        z = z_t if z_t is not None else ctx.scalars[1]
        inside = ste_mask(x, s, z, ctx.bits, ctx.mapping)
        return grad_out * inside, None, None, None, None, None


def fake_quantize(x: torch.Tensor, scale: TensorLike, zero_point: Optional[TensorLike], bits: int,
                  mapping: str = "asymmetric") -> torch.Tensor:
    """Quantize-dequantize with the straight-through estimator.

    Forward: ``x̂ = scale · (clamp(round(zero_point + x/scale), qmin, qmax) − zero_point)``,
    identical to ``dequantize(quantize(x, ...), ...)`` bit for bit.
    Backward: ``∂x̂/∂x = 1`` where ``zero_point + x/scale ∈ [qmin − ½, qmax + ½]``, else 0;
    ``scale`` and ``zero_point`` are treated as constants (no gradient).
    Shapes: ``x`` any; ``scale``, ``zero_point`` broadcastable to ``x``; output like ``x`` (in the
    promoted float dtype).
    """
    code_range(bits, mapping)  # validates
    return _FakeQuantSTE.apply(x, scale, _zp(zero_point), bits, mapping, True)


def fake_quantize_unchecked(x: torch.Tensor, scale: TensorLike, zero_point: Optional[TensorLike],
                            bits: int, mapping: str = "asymmetric") -> torch.Tensor:
    """``fake_quantize`` whose backward is the plain identity.

    Only for callers that have *proven* every element lies inside (e.g. a bank that has just
    widened its envelope to the block's min/max and checked ``z + min/s ≥ qmin − ½`` and
    ``z + max/s ≤ qmax + ½``; since ``x ↦ z + x/s`` is monotone in IEEE arithmetic the mask
    of ``fake_quantize`` would be all ones). Saves the backward recomputation.
    """
    code_range(bits, mapping)
    return _FakeQuantSTE.apply(x, scale, _zp(zero_point), bits, mapping, False)
