"""Forward and inverse RAHT on a precomputed :class:`~raht.plan.RahtPlan`.

Forward (levels finest → coarsest, per sibling pair of the level):
    low = a·x_L + b·x_R → slot L,   high = −b·x_L + a·x_R → slot R
Inverse (levels coarsest → finest, same pairs):
    x_L = a·low − b·high,   x_R = b·low + a·high
The whole map is one fixed orthonormal matrix Q (a product of Givens rotations), so
coeffs = Q·x, x = Qᵀ·coeffs, ‖coeffs‖ = ‖x‖ per channel, DC = √M·mean(x) in slot 0.
Region-adaptive hierarchical transform: de Queiroz & Chou, IEEE TIP 2016.

Autograd: two custom Functions; the backward of the forward is the inverse applied to the
incoming gradient (Qᵀ·g) and vice versa, so no per-level intermediates are saved. Inside a
Function the work happens in place on one private working copy of the [M, C] matrix; per level
only the rows of that level's pairs are gathered (index_select) and written back (index_copy_).
"""
from __future__ import annotations

import math

import torch

from .plan import RahtPlan

_DTYPES = (torch.float32, torch.float64)


def _check(x: torch.Tensor, plan: RahtPlan, what: str) -> None:
    if not isinstance(plan, RahtPlan):
        raise ValueError(f"plan must be a RahtPlan from raht.build_plan, got {type(plan).__name__}")
    if x.ndim < 1 or x.shape[0] != plan.n:
        raise ValueError(f"{what} must have shape [{plan.n}, C] to match the plan, got {tuple(x.shape)}")
    if x.dtype not in _DTYPES:
        raise ValueError(f"{what} must be float32 or float64, got {x.dtype}")
    if x.device != plan.device:
        raise ValueError(f"{what} is on {x.device} but the plan is on {plan.device}; call plan.to(device)")


def _forward_impl(x: torch.Tensor, plan: RahtPlan) -> torch.Tensor:
    """Q·x for x [M, C] (rows in coords order) -> coeffs [M, C] in slot order."""
    work = x.clone(memory_format=torch.contiguous_format) if plan.perm_is_identity else x.index_select(0, plan.perm)
    for _, left, right, a, b in plan.levels(work.dtype):
        xl = work.index_select(0, left)
        xr = work.index_select(0, right)
        low = xl * a
        low.addcmul_(xr, b)
        high = xr.mul_(a).addcmul_(xl, b, value=-1.0)  # reuse the gathered buffer
        work.index_copy_(0, left, low)
        work.index_copy_(0, right, high)
    return work


def _inverse_impl(c: torch.Tensor, plan: RahtPlan) -> torch.Tensor:
    """Qᵀ·c for coeffs [M, C] in slot order -> x [M, C] in coords order."""
    work = c.clone(memory_format=torch.contiguous_format)
    for _, left, right, a, b in reversed(list(plan.levels(work.dtype))):
        low = work.index_select(0, left)
        high = work.index_select(0, right)
        xl = low * a
        xl.addcmul_(high, b, value=-1.0)
        xr = high.mul_(a).addcmul_(low, b)  # reuse the gathered buffer
        work.index_copy_(0, left, xl)
        work.index_copy_(0, right, xr)
    if plan.perm_is_identity:
        return work
    out = torch.empty_like(work)
    out.index_copy_(0, plan.perm, work)
    return out


class _RahtForward(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, plan):
        ctx.plan = plan
        return _forward_impl(x, plan)

    @staticmethod
    def backward(ctx, grad):
        return _RahtInverse.apply(grad, ctx.plan), None


class _RahtInverse(torch.autograd.Function):
    @staticmethod
    def forward(ctx, c, plan):
        ctx.plan = plan
        return _inverse_impl(c, plan)

    @staticmethod
    def backward(ctx, grad):
        return _RahtForward.apply(grad, ctx.plan), None


def _as_matrix(x: torch.Tensor) -> tuple[torch.Tensor, tuple[int, ...]]:
    shape = tuple(x.shape)
    return x.reshape(shape[0], math.prod(shape[1:])), shape


def raht_forward(attrs: torch.Tensor, plan: RahtPlan) -> torch.Tensor:
    """Forward RAHT: coeffs = Q·attrs.

    Args:
        attrs: [M, C] (or [M], [M, ...]) float32/float64, rows in the order of the coords given to
            :func:`~raht.plan.build_plan`; on the plan's device.
        plan: the plan of those coords.

    Returns:
        coeffs, same shape and dtype: row 0 is the DC (= √M·mean for unit weights), rows 1..M−1 the
        AC coefficients in slot (Morton) order. Differentiable: d/dattrs is the inverse transform.
    """
    _check(attrs, plan, "attrs")
    x, shape = _as_matrix(attrs)
    return _RahtForward.apply(x, plan).reshape(shape)


def raht_inverse(coeffs: torch.Tensor, plan: RahtPlan) -> torch.Tensor:
    """Inverse RAHT: attrs = Qᵀ·coeffs (exact inverse of :func:`raht_forward`).

    Args:
        coeffs: [M, C] (or [M], [M, ...]) float32/float64 in slot order (DC in row 0).
        plan: the plan used by the forward transform (or one rebuilt from the same coords).

    Returns:
        attrs, same shape and dtype, rows in the order of the plan's coords. Differentiable:
        d/dcoeffs is the forward transform.
    """
    _check(coeffs, plan, "coeffs")
    c, shape = _as_matrix(coeffs)
    return _RahtInverse.apply(c, plan).reshape(shape)
