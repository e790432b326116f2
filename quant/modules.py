"""Single-quantizer modules — one (scale, zero point) for the whole input — and the per-module loop.

``VanillaQuan`` and ``LsqQuan`` quantize one block of one channel. They are the reference design
of MesonGS (3,135 of them in a ``ModuleList``, called in a Python loop); the project uses the
vectorized banks of ``quant.banks`` instead and keeps these as the oracle the banks are tested
against (bit for bit) and as the baseline of ``scripts/bench_quant.py``. ``loop_forward`` runs
such a list over an ``[L, C]`` stream with the bank layout (quantizer index = channel·B + block).
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from .core import asymmetric_qparams, code_range, fake_quantize, fake_quantize_unchecked, quantize
from .granularity import split_length
from .lsq import MIN_STEP, lsq_fake_quantize, lsq_grad_scale, lsq_init_step, lsq_qparams, lsq_range

__all__ = ["VanillaQuan", "LsqQuan", "loop_forward", "envelope_covers", "NOT_CALIBRATED"]

NOT_CALIBRATED = ("{name} has no quantization range yet: run a forward in training mode or call "
                  "calibrate(x) before evaluating, saving or reading qparams()")


def envelope_covers(lo: torch.Tensor, hi: torch.Tensor, scale: torch.Tensor, zero_point: torch.Tensor,
                    bits: int) -> torch.Tensor:
    """True where every x in [lo, hi] is inside the straight-through region of the asymmetric
    b-bit quantizer (``zero_point + x/scale ∈ [−½, qmax + ½]``), decided from lo and hi alone —
    valid because x ↦ zero_point + x/scale is monotone in IEEE arithmetic. Elementwise."""
    _, qmax = code_range(bits, "asymmetric")
    u_lo = lo / scale
    u_lo = u_lo + zero_point
    u_hi = hi / scale
    u_hi = u_hi + zero_point
    return (u_lo >= -0.5) & (u_hi <= qmax + 0.5)


class VanillaQuan(nn.Module):
    """MesonGS's VanillaQuan for one block: asymmetric b-bit fake quantization on a running envelope.

    Buffers (0-dim float32): ``min_val`` ≤ 0, ``max_val`` ≥ 0; ``initialized`` (bool).
    - training mode: before quantizing, ``max_val ← max(max_val, max x, 0)`` and
      ``min_val ← min(min_val, min x, 0)`` (the envelope only grows); non-finite x → ValueError
      and the envelope is left untouched;
    - eval mode: the envelope is frozen; values outside it are clamped (to the end codes), with a
      zero straight-through gradient there;
    - parameters: ``quant.core.asymmetric_qparams(min_val, max_val, bits)``;
      x̂ = scale·(clamp(round(zero_point + x/scale), 0, 2^b − 1) − zero_point).
    """

    def __init__(self, bits: int = 8):
        super().__init__()
        code_range(bits, "asymmetric")
        self.bits = int(bits)
        self.register_buffer("min_val", torch.zeros((), dtype=torch.float32))
        self.register_buffer("max_val", torch.zeros((), dtype=torch.float32))
        self.register_buffer("initialized", torch.zeros((), dtype=torch.bool))

    def extra_repr(self) -> str:
        return f"bits={self.bits}"

    @torch.no_grad()
    def _update(self, x: torch.Tensor):
        lo, hi = torch.aminmax(x.detach().to(self.min_val.dtype))
        if not bool(torch.isfinite(lo) & torch.isfinite(hi)):
            raise ValueError("VanillaQuan got NaN or Inf input; the quantization envelope needs finite values")
        self.min_val.copy_(torch.minimum(self.min_val, lo).clamp(max=0.0))
        self.max_val.copy_(torch.maximum(self.max_val, hi).clamp(min=0.0))
        self.initialized.fill_(True)
        return lo, hi

    def calibrate(self, x: torch.Tensor) -> None:
        """Widen the envelope to cover ``x`` (any mode, no gradient)."""
        self._update(x)

    def qparams(self):
        """``(scale, zero_point)`` 0-dim float32 tensors, as used by the forward."""
        if not bool(self.initialized):
            raise ValueError(NOT_CALIBRATED.format(name="VanillaQuan"))
        return asymmetric_qparams(self.min_val, self.max_val, self.bits)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Fake-quantize ``x`` (any shape, float32) with one (scale, zero point)."""
        if self.training:
            lo, hi = self._update(x)
            s, z = self.qparams()
            if bool(envelope_covers(lo, hi, s, z, self.bits)):
                return fake_quantize_unchecked(x, s, z, self.bits, "asymmetric")
            return fake_quantize(x, s, z, self.bits, "asymmetric")
        s, z = self.qparams()
        return fake_quantize(x, s, z, self.bits, "asymmetric")

    def quantize_codes(self, x: torch.Tensor, dtype: torch.dtype = torch.int64) -> torch.Tensor:
        """Codes ``clamp(round(zero_point + x/scale), 0, 2^b − 1)`` (envelope not updated)."""
        s, z = self.qparams()
        return quantize(x.detach(), s, z, self.bits, "asymmetric", dtype=dtype)


class LsqQuan(nn.Module):
    """LSQ(+) for one block, signed range (formulas in ``quant.lsq``).

    ``step``: nn.Parameter (0-dim), initialised to ``2·mean|x|/√Q_p`` on the first training
    forward (or by ``calibrate``); ``offset`` (LSQ+, ``learn_offset=True``): nn.Parameter, 0.
    Gradient scale ``1/√(Q_p · x.numel())``. ``qparams()`` gives the storage form
    ``(scale, zero_point)`` — the same layout as ``VanillaQuan``.
    """

    def __init__(self, bits: int = 8, learn_offset: bool = False, min_step: float = MIN_STEP):
        super().__init__()
        lsq_range(bits)
        self.bits = int(bits)
        self.min_step = float(min_step)
        self.step = nn.Parameter(torch.ones((), dtype=torch.float32))
        if learn_offset:
            self.offset = nn.Parameter(torch.zeros((), dtype=torch.float32))
        else:
            self.register_parameter("offset", None)
        self.register_buffer("initialized", torch.zeros((), dtype=torch.bool))

    def extra_repr(self) -> str:
        return f"bits={self.bits}, learn_offset={self.offset is not None}"

    @torch.no_grad()
    def calibrate(self, x: torch.Tensor) -> None:
        """(Re-)initialise ``step`` from ``x`` (offset reset to 0)."""
        xd = x.detach()
        if not bool(torch.isfinite(xd).all()):
            raise ValueError("LsqQuan got NaN or Inf input; the step initialisation needs finite values")
        mean_abs = xd.to(torch.float64).abs().mean().to(self.step.dtype)
        self.step.copy_(lsq_init_step(mean_abs, self.bits, self.min_step))
        if self.offset is not None:
            self.offset.zero_()
        self.initialized.fill_(True)

    @torch.no_grad()
    def clamp_(self) -> None:
        """Keep the stored step ≥ min_step (call after each optimizer step)."""
        self.step.clamp_(min=self.min_step)

    def qparams(self):
        if not bool(self.initialized):
            raise ValueError(NOT_CALIBRATED.format(name="LsqQuan"))
        with torch.no_grad():
            return lsq_qparams(self.step, self.offset, self.bits, self.min_step)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training and not bool(self.initialized):
            self.calibrate(x)
        if not bool(self.initialized):
            raise ValueError(NOT_CALIBRATED.format(name="LsqQuan"))
        g = lsq_grad_scale(self.bits, x.numel())
        return lsq_fake_quantize(x, self.step, self.offset, self.bits, g, self.min_step)

    def quantize_codes(self, x: torch.Tensor, dtype: torch.dtype = torch.int64) -> torch.Tensor:
        s, z = self.qparams()
        return quantize(x.detach(), s, z, self.bits, "asymmetric", dtype=dtype)


def loop_forward(modules: Sequence[nn.Module], x: torch.Tensor, n_blocks: int) -> torch.Tensor:
    """Reference per-module loop: ``out[block j, c] = modules[c·B + j](x[block j, c])``.

    ``x [L, C]``; ``len(modules) == C·B``; blocks from ``split_length(L, B)``. Slow by design
    (C·B module calls); used by tests and the benchmark only.
    """
    L, C = x.shape
    if len(modules) != C * n_blocks:
        raise ValueError(f"need {C * n_blocks} modules for {C} channels x {n_blocks} blocks, got {len(modules)}")
    sizes = split_length(L, n_blocks)
    cols = []
    for c in range(C):
        col = x[:, c]
        pieces, start = [], 0
        for j, n in enumerate(sizes):
            pieces.append(modules[c * n_blocks + j](col[start:start + n]))
            start += n
        cols.append(torch.cat(pieces))
    return torch.stack(cols, dim=1)
