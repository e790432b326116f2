"""Quantizer banks: C channels × B blocks of per-block quantizers held as ``[C, B]`` tensors.

A bank fake-quantizes a whole ``[L, C]`` stream (the RAHT AC coefficients: L = N − 1 rows, one
column per attribute channel) in a handful of tensor operations. Channel c's column is cut into
B contiguous blocks by ``split_length(L, B)`` (the first L mod B blocks one longer); quantizer
(c, j) — index c·B + j in MesonGS's flat list and in ``t.npz`` — handles block j of channel c.

Instead of gathering a per-element scale, the stream is viewed as runs of equal-length blocks
``[count, block_len, C]`` (``granularity.block_parts``: at most two runs; on CPU cut further into
runs of about ``CPU_CHUNK_ELEMS`` elements so temporaries stay in cache), so per-block reductions
are over dim 1 and per-block parameters broadcast as ``[count, 1, C]``; one autograd node writes
the whole ``[L, C]`` result. Every element goes through the same float32 ops of ``quant.core`` as
the single-block modules, so a bank equals the loop over C·B modules bit for bit (the LSQ step
gradients, being sums, agree to float rounding).

- ``VanillaQuanBank``: buffers ``min_val, max_val [C, B]`` (running envelope, see
  ``quant.modules.VanillaQuan``), ``initialized``.
- ``LsqQuanBank``: ``step [C, B]`` nn.Parameter (and ``offset [C, B]`` with LSQ+),
  ``initialized``; signed range, storage form scale = step, zero_point = 2^(b−1) − offset/step.
- ``RdQuanBank``: buffers ``sensitivity, step [C, B]``, ``kappa``: fixed steps from rate–distortion
  allocation (``quant.rate_distortion``), zero point 2^(b−1).
- All: ``forward(x [L, C]) -> x̂ [L, C]``, ``qparams() -> (scale [C, B], zero_point [C, B])``,
  ``quantize_codes(x) -> codes [L, C]`` with ``dequantize_blocks(codes, *qparams()) == forward(x)``
  bit for bit in eval mode, ``calibrate(x)``, state dicts that round-trip.

Banks compute in float32 (the precision of the stored parameters); other float inputs are cast.
"""
from __future__ import annotations

import math
from typing import List, Optional, Tuple

import torch
from torch import nn

from .core import asymmetric_qparams, check_bits, dequantize_, quantize, ste_mask
from .granularity import block_parts, chunk_parts, part_rows, part_view
from .lsq import MIN_STEP, lsq_fake_quantize_blocks, lsq_init_step, lsq_qparams, lsq_range
from .modules import NOT_CALIBRATED, envelope_covers
from .rate_distortion import rd_steps

__all__ = ["VanillaQuanBank", "LsqQuanBank", "RdQuanBank", "clipped_counts", "quantize_blocks", "dequantize_blocks", "block_minmax"]


#: Elements per chunk of the CPU code paths (about 4 MB of float32): the per-block work is done in
#: runs of whole blocks of this size, so temporaries stay in cache. CUDA uses whole parts.
CPU_CHUNK_ELEMS = 1 << 20


def _parts(x: torch.Tensor, n_blocks: int):
    """Block runs of ``x [L, C]``, chunked on CPU (``CPU_CHUNK_ELEMS``)."""
    target = CPU_CHUNK_ELEMS if x.device.type == "cpu" else None
    return chunk_parts(block_parts(x.shape[0], n_blocks), x.shape[1], target)


def _check_stream(x: torch.Tensor, n_channels: Optional[int], what: str = "x") -> torch.Tensor:
    if not isinstance(x, torch.Tensor) or x.dim() != 2:
        raise ValueError(f"{what} must be a 2-D tensor [L, C], got "
                         f"{tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__}")
    if n_channels is not None and x.shape[1] != n_channels:
        raise ValueError(f"{what} has {x.shape[1]} channels but the bank holds {n_channels}")
    return x


def _float32_stream(x: torch.Tensor, n_channels: int) -> torch.Tensor:
    _check_stream(x, n_channels)
    if not x.is_floating_point():
        raise ValueError(f"x must be a floating-point tensor, got {x.dtype}")
    return x if x.dtype == torch.float32 else x.to(torch.float32)


def _check_params(scale: torch.Tensor, zero_point: torch.Tensor, n_channels: int) -> None:
    if scale.dim() != 2 or scale.shape != zero_point.shape or scale.shape[0] != n_channels:
        raise ValueError(f"scale and zero_point must both be [C, B] with C = {n_channels}; "
                         f"got {tuple(scale.shape)} and {tuple(zero_point.shape)}")


class _BlocksFakeQuantSTE(torch.autograd.Function):
    """Asymmetric fake quantization per block part of a contiguous ``x [L, C]`` with block-major
    ``scale_bc, zp_bc [B, C]``, written into one output (no gather, no concatenation).
    Backward: straight-through, ``grad · [zp + x/s ∈ [−½, qmax + ½]]``, or the identity when the
    caller has proven every element inside (``check=False``)."""

    @staticmethod
    def forward(ctx, x, scale_bc, zp_bc, bits, parts, check):
        out = torch.empty(x.shape, dtype=x.dtype, device=x.device)
        for p in parts:
            s, z = part_rows(scale_bc, p), part_rows(zp_bc, p)
            ov = part_view(out, p)
            quantize(part_view(x, p), s, z, bits, "asymmetric", out=ov)
            dequantize_(ov, s, z)
        ctx.bits, ctx.parts, ctx.check = bits, parts, check
        if check:
            ctx.save_for_backward(x, scale_bc, zp_bc)
        return out

    @staticmethod
    def backward(ctx, grad_out):
        if not ctx.check:
            return grad_out, None, None, None, None, None
        x, scale_bc, zp_bc = ctx.saved_tensors
        gx = torch.empty(x.shape, dtype=grad_out.dtype, device=x.device)
        for p in ctx.parts:
            gv = part_view(gx, p)
            ste_mask(part_view(x, p), part_rows(scale_bc, p), part_rows(zp_bc, p), ctx.bits, out=gv)
            gv.mul_(part_view(grad_out, p))
        return gx, None, None, None, None, None


def _tree_minmax(v: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """Min and max over dim 1 of ``v [n, m, C]`` by pairwise halving (log2(m) elementwise
    ``minimum``/``maximum`` steps). Exact, NaN-propagating, and several times faster on CPU than
    ``torch.aminmax(dim=1)``, whose reduction over a middle dimension is poorly vectorized."""
    lo = hi = v
    first = True
    while lo.shape[1] > 1:
        n = lo.shape[1]
        h = n // 2
        if first:  # one pass over the input for both
            new_lo = torch.minimum(v[:, :h], v[:, h:2 * h])
            new_hi = torch.maximum(v[:, :h], v[:, h:2 * h])
            first = False
        else:
            new_lo = torch.minimum(lo[:, :h], lo[:, h:2 * h])
            new_hi = torch.maximum(hi[:, :h], hi[:, h:2 * h])
        if n % 2:
            new_lo[:, :1] = torch.minimum(new_lo[:, :1], lo[:, 2 * h:])
            new_hi[:, :1] = torch.maximum(new_hi[:, :1], hi[:, 2 * h:])
        lo, hi = new_lo, new_hi
    return lo[:, 0], hi[:, 0]


def _chunked_minmax(v: torch.Tensor, n_chunks: int = 64) -> Tuple[torch.Tensor, torch.Tensor]:
    """Min and max over dim 1 of ``v [n, m, C]``: fold ``n_chunks`` equal slabs into one running
    ``[n, m // n_chunks, C]`` pair in place (one read of ``v``, small temporaries), then halve."""
    m = v.shape[1]
    k = min(n_chunks, m // 2)
    if k < 2:
        return _tree_minmax(v)
    w = m // k
    lo = torch.minimum(v[:, :w], v[:, w:2 * w])
    hi = torch.maximum(v[:, :w], v[:, w:2 * w])
    for i in range(2, k):
        c = v[:, i * w:(i + 1) * w]
        torch.minimum(lo, c, out=lo)
        torch.maximum(hi, c, out=hi)
    if m > k * w:
        t_lo, t_hi = _tree_minmax(v[:, k * w:])
        lo[:, 0] = torch.minimum(lo[:, 0], t_lo)
        hi[:, 0] = torch.maximum(hi[:, 0], t_hi)
    return _tree_minmax(lo)[0], _tree_minmax(hi)[1]


def block_minmax(x: torch.Tensor, n_blocks: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """Per-(channel, block) min and max of ``x [L, C]``: two ``[C, B]`` tensors (no gradient).
    NaN propagates (a block with NaN reports NaN)."""
    _check_stream(x, None)
    x = x.detach()
    los, his = [], []
    for p in _parts(x, n_blocks):
        lo, hi = _chunked_minmax(part_view(x, p))
        los.append(lo)
        his.append(hi)
    return torch.cat(los).t(), torch.cat(his).t()


def _all_finite(x: torch.Tensor, n_blocks: int) -> bool:
    """All of ``x [L, C]`` finite? (NaN and ±Inf surface in the block min/max — cheaper than
    ``isfinite(x).all()`` on CPU.)"""
    lo, hi = block_minmax(x, n_blocks)
    return bool(torch.isfinite(lo).all() & torch.isfinite(hi).all())


def quantize_blocks(x: torch.Tensor, scale: torch.Tensor, zero_point: torch.Tensor, bits: int,
                    dtype: Optional[torch.dtype] = torch.int64) -> torch.Tensor:
    """Per-block codes of ``x [L, C]``: ``clamp(round(zp[c, j] + x/scale[c, j]), 0, 2^b − 1)``.

    ``scale, zero_point [C, B]`` (float32); B from their shape. ``dtype`` None keeps the float
    codes; default int64.
    """
    _check_stream(x, None)
    C, B = scale.shape[0], scale.shape[-1]
    _check_params(scale, zero_point, x.shape[1])
    x = x.detach()
    if x.dtype != scale.dtype:
        x = x.to(scale.dtype)
    x = x.contiguous()
    s_bc, z_bc = scale.t().contiguous(), zero_point.t().contiguous()
    q = torch.empty(x.shape, dtype=x.dtype, device=x.device)
    for p in _parts(x, B):
        quantize(part_view(x, p), part_rows(s_bc, p), part_rows(z_bc, p), bits, "asymmetric",
                 out=part_view(q, p))
    return q if dtype is None else q.to(dtype)


def dequantize_blocks(codes: torch.Tensor, scale: torch.Tensor, zero_point: torch.Tensor,
                      out: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Per-block reconstruction ``x̂[i, c] = scale[c, j(i)] · (codes[i, c] − zero_point[c, j(i)])``.

    ``codes [L, C]`` any integer (or integer-valued float) dtype; ``scale, zero_point [C, B]``;
    returns ``[L, C]`` in the dtype of ``scale`` (float32 for stored parameters), written into
    ``out`` when given (a contiguous-rows ``[L, C]`` tensor of that dtype, e.g. a row slice).
    """
    _check_stream(codes, None, "codes")
    _check_params(scale, zero_point, codes.shape[1])
    B = scale.shape[1]
    s_bc, z_bc = scale.t().contiguous(), zero_point.t().contiguous()
    if out is None:
        out = torch.empty(codes.shape, dtype=scale.dtype, device=scale.device)
    elif out.shape != codes.shape or out.dtype != scale.dtype or out.device != scale.device:
        raise ValueError(f"out must be {scale.dtype} {tuple(codes.shape)} on {scale.device}, got {out.dtype} "
                         f"{tuple(out.shape)} on {out.device}")
    for p in _parts(codes, B):
        ov = part_view(out, p)
        ov.copy_(part_view(codes, p))  # exact integer → float conversion, as in ``dequantize``
        dequantize_(ov, part_rows(s_bc, p), part_rows(z_bc, p))
    return out


@torch.no_grad()
def block_mean_abs(x: torch.Tensor, n_blocks: int) -> torch.Tensor:
    """[C, B] float32 mean |x| of each block of ``x [L, C]`` (accumulated in float64)."""
    means = [part_view(x, p).to(torch.float64).abs().mean(dim=1) for p in _parts(x, n_blocks)]
    return torch.cat(means).t().to(torch.float32)


@torch.no_grad()
def clipped_counts(x: torch.Tensor, scale: torch.Tensor, zero_point: torch.Tensor, bits: int) -> torch.Tensor:
    """[C, B] int64 number of values of ``x [L, C]`` whose code ``zp + x/scale`` leaves
    [−½, 2^b − ½], i.e. is clamped to an end of the code range (per-block ``scale, zero_point [C, B]``)."""
    x = _float32_stream(x, scale.shape[0]).detach()
    _check_params(scale, zero_point, x.shape[1])
    s_bc, z_bc = scale.t().contiguous(), zero_point.t().contiguous()
    qmax = float((1 << bits) - 1)
    counts = []
    for p in _parts(x, scale.shape[1]):
        v = part_view(x, p) / part_rows(s_bc, p) + part_rows(z_bc, p)
        counts.append(((v < -0.5) | (v > qmax + 0.5)).sum(dim=1))
    return torch.cat(counts).t().to(torch.int64)


class _BankBase(nn.Module):
    def __init__(self, n_channels: int, n_blocks: int, bits: int):
        super().__init__()
        if isinstance(n_channels, bool) or int(n_channels) != n_channels or n_channels < 1:
            raise ValueError(f"n_channels must be a positive integer, got {n_channels!r}")
        if isinstance(n_blocks, bool) or int(n_blocks) != n_blocks or n_blocks < 1:
            raise ValueError(f"n_blocks must be a positive integer, got {n_blocks!r}")
        self.n_channels = int(n_channels)
        self.n_blocks = int(n_blocks)
        self.bits = int(bits)
        self.register_buffer("initialized", torch.zeros((), dtype=torch.bool))

    def extra_repr(self) -> str:
        return f"n_channels={self.n_channels}, n_blocks={self.n_blocks}, bits={self.bits}"

    def _require_init(self) -> None:
        if not bool(self.initialized):
            raise ValueError(NOT_CALIBRATED.format(name=type(self).__name__))

    def quantize_codes(self, x: torch.Tensor, dtype: Optional[torch.dtype] = torch.int64) -> torch.Tensor:
        """Integer codes ``[L, C]`` in ``[0, 2^b − 1]`` with the current ``qparams()`` — the same
        float32 ops as the forward, so ``dequantize_blocks(codes, *qparams())`` equals the eval-mode
        forward bit for bit. Never updates the parameters. Non-finite x → ValueError."""
        x = _float32_stream(x, self.n_channels).detach()
        if not _all_finite(x, self.n_blocks):
            raise ValueError("quantize_codes got NaN or Inf input; refusing to write undefined codes")
        s, z = self.qparams()
        return quantize_blocks(x, s, z, self.bits, dtype=dtype)

    def dequantize_codes(self, codes: torch.Tensor) -> torch.Tensor:
        """``dequantize_blocks(codes, *self.qparams())``."""
        _check_stream(codes, self.n_channels, "codes")
        return dequantize_blocks(codes, *self.qparams())


class VanillaQuanBank(_BankBase):
    """C × B VanillaQuan quantizers (asymmetric, b bits) as ``[C, B]`` buffers.

    Semantics per (channel c, block j) are those of ``quant.modules.VanillaQuan``:
    - training mode (or ``calibrate``): the envelope grows to the block's data,
      ``max_val ← max(max_val, max x, 0)``, ``min_val ← min(min_val, min x, 0)``; non-finite input →
      ``ValueError`` (the envelope is not touched);
    - eval mode: the envelope is **frozen**; values outside it are clamped to the end codes (zero
      straight-through gradient there). Eval before any calibration → ``ValueError``;
    - scale, zero_point = ``quant.core.asymmetric_qparams(min_val, max_val, bits)``;
      x̂ = scale·(clamp(round(zero_point + x/scale), 0, 2^b − 1) − zero_point), STE gradient
      (identity inside the range, 0 where clamped). An all-zero block gives scale 1, zp 0, x̂ = 0.
    """

    def __init__(self, n_channels: int, n_blocks: int, bits: int = 8):
        check_bits(bits, "asymmetric")
        super().__init__(n_channels, n_blocks, bits)
        self.register_buffer("min_val", torch.zeros(self.n_channels, self.n_blocks, dtype=torch.float32))
        self.register_buffer("max_val", torch.zeros(self.n_channels, self.n_blocks, dtype=torch.float32))

    @torch.no_grad()
    def _update(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        lo, hi = block_minmax(x, self.n_blocks)
        if not bool(torch.isfinite(lo).all() & torch.isfinite(hi).all()):
            raise ValueError("VanillaQuanBank got NaN or Inf input; the quantization envelope needs finite "
                             "values (check the RAHT coefficients)")
        self.min_val.copy_(torch.minimum(self.min_val, lo).clamp(max=0.0))
        self.max_val.copy_(torch.maximum(self.max_val, hi).clamp(min=0.0))
        self.initialized.fill_(True)
        return lo, hi

    def calibrate(self, x: torch.Tensor) -> None:
        """Widen the envelope to cover ``x [L, C]`` (any mode, no gradient)."""
        self._update(_float32_stream(x, self.n_channels))

    def reset(self) -> None:
        """Forget the envelope (back to uncalibrated)."""
        self.min_val.zero_()
        self.max_val.zero_()
        self.initialized.fill_(False)

    def qparams(self) -> Tuple[torch.Tensor, torch.Tensor]:
        """``(scale [C, B], zero_point [C, B])`` float32, exactly as used by ``forward``."""
        self._require_init()
        return asymmetric_qparams(self.min_val, self.max_val, self.bits)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Fake-quantize ``x [L, C]`` per (channel, block); returns ``[L, C]`` float32."""
        x = _float32_stream(x, self.n_channels)
        checked = True
        if self.training:
            lo, hi = self._update(x)
            s, z = self.qparams()
            checked = not bool(envelope_covers(lo, hi, s, z, self.bits).all())
        else:
            s, z = self.qparams()
        x = x.contiguous()
        parts = _parts(x, self.n_blocks)
        return _BlocksFakeQuantSTE.apply(x, s.t().contiguous(), z.t().contiguous(), self.bits, parts, checked)


class LsqQuanBank(_BankBase):
    """C × B LSQ(+) quantizers (signed range, b ≥ 2 bits) with a learned step ``[C, B]``.

    - ``step``: nn.Parameter ``[C, B]``, initialised per block to ``2·mean|x|/√Q_p`` on the first
      training forward (or by ``calibrate``; all-zero block → 1); the forward uses
      ``max(step, min_step)``; call ``clamp_()`` after the optimizer step to keep it positive;
    - ``offset`` (``learn_offset=True``, LSQ+): nn.Parameter ``[C, B]``, initialised to 0;
    - gradients as in ``quant.lsq``; the step of block j gets the grad scale
      ``1/√(Q_p · len(block j))``;
    - give the quantizer parameters their own learning rate with ``parameter_groups(lr)``;
    - ``qparams()``: storage form scale = step, zero_point = 2^(b−1) − offset/step, codes in
      ``[0, 2^b − 1]`` (= q + 2^(b−1)), decoded like VanillaQuan: x̂ = scale·(code − zero_point).
    Eval before initialisation → ``ValueError``.
    """

    def __init__(self, n_channels: int, n_blocks: int, bits: int = 8, learn_offset: bool = False,
                 min_step: float = MIN_STEP):
        lsq_range(bits)
        super().__init__(n_channels, n_blocks, bits)
        self.min_step = float(min_step)
        self.step = nn.Parameter(torch.ones(self.n_channels, self.n_blocks, dtype=torch.float32))
        if learn_offset:
            self.offset = nn.Parameter(torch.zeros(self.n_channels, self.n_blocks, dtype=torch.float32))
        else:
            self.register_parameter("offset", None)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", learn_offset={self.offset is not None}"

    @torch.no_grad()
    def calibrate(self, x: torch.Tensor) -> None:
        """(Re-)initialise ``step`` per block to ``2·mean|x|/√Q_p`` (mean in float64); offset → 0."""
        x = _float32_stream(x, self.n_channels).detach()
        if not _all_finite(x, self.n_blocks):
            raise ValueError("LsqQuanBank got NaN or Inf input; the step initialisation needs finite values")
        self.step.copy_(lsq_init_step(block_mean_abs(x, self.n_blocks), self.bits, self.min_step))
        if self.offset is not None:
            self.offset.zero_()
        self.initialized.fill_(True)

    @torch.no_grad()
    def clamp_(self) -> None:
        """Keep the stored step ≥ ``min_step`` (call after each optimizer step)."""
        self.step.clamp_(min=self.min_step)

    def parameter_groups(self, lr: float, name: str = "quantizer") -> List[dict]:
        """Optimizer parameter group(s) for the learned step (and offset) with their own ``lr``."""
        return [{"params": [p for p in (self.step, self.offset) if p is not None], "lr": float(lr),
                 "name": name}]

    def qparams(self) -> Tuple[torch.Tensor, torch.Tensor]:
        """``(scale [C, B], zero_point [C, B])`` float32 storage form, exactly as used by ``forward``."""
        self._require_init()
        with torch.no_grad():
            return lsq_qparams(self.step, self.offset, self.bits, self.min_step)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """LSQ fake quantization of ``x [L, C]`` per (channel, block); returns ``[L, C]`` float32."""
        x = _float32_stream(x, self.n_channels)
        if self.training and not bool(self.initialized):
            self.calibrate(x)
        self._require_init()
        step_bc = self.step.t().contiguous()
        off_bc = self.offset.t().contiguous() if self.offset is not None else None
        return lsq_fake_quantize_blocks(x, step_bc, off_bc, self.bits, _parts(x, self.n_blocks),
                                        self.min_step)


class RdQuanBank(_BankBase):
    """C × B fixed-step quantizers whose steps come from rate–distortion allocation (``quant.rate_distortion``).

    - buffers ``sensitivity [C, B]`` (set with :meth:`set_sensitivity`; ones until then),
      ``kappa`` (the quality knob, :meth:`set_kappa`), ``step [C, B]``, ``initialized``;
    - :meth:`calibrate` (x [L, C]) sets ``step = rd_steps(sensitivity, kappa, max|x| per block, b)``:
      Δ ∝ κ/√s, widened where needed so no code of ``x`` clips; the forward never changes a step;
    - ``qparams()``: scale = step, zero_point = 2^(b−1) (the code of 0, mid-range), decoded like
      the other banks: x̂ = scale·(code − zero_point);
    - forward: fake quantization with the straight-through gradient (0 where a value clips —
      :meth:`clipped_counts` says how many do, e.g. after fine-tuning moved the attributes).
    """

    def __init__(self, n_channels: int, n_blocks: int, bits: int = 16, kappa: float = 2.0 ** -5):
        lsq_range(bits)
        super().__init__(n_channels, n_blocks, bits)
        self.register_buffer("sensitivity", torch.ones(self.n_channels, self.n_blocks, dtype=torch.float32))
        self.register_buffer("kappa", torch.tensor(float(kappa), dtype=torch.float64))
        self.register_buffer("step", torch.ones(self.n_channels, self.n_blocks, dtype=torch.float32))

    def extra_repr(self) -> str:
        return super().extra_repr() + f", kappa={float(self.kappa):.4g}"

    @torch.no_grad()
    def set_sensitivity(self, sensitivity: torch.Tensor) -> None:
        """Per-quantizer weights [C, B] ≥ 0 (only ratios matter); takes effect at the next calibrate."""
        s = torch.as_tensor(sensitivity, dtype=torch.float32, device=self.step.device)
        if s.shape != self.step.shape or not bool(torch.isfinite(s).all()) or bool((s < 0).any()):
            raise ValueError(f"sensitivity must be finite, >= 0 and of shape {tuple(self.step.shape)}, got {tuple(s.shape)}")
        self.sensitivity.copy_(s)

    @torch.no_grad()
    def set_kappa(self, kappa: float) -> None:
        """The step at average sensitivity (``quality_to_kappa(Q)``); takes effect at the next calibrate."""
        if not kappa > 0 or not math.isfinite(kappa):
            raise ValueError(f"kappa must be a finite number > 0, got {kappa!r}")
        self.kappa.fill_(float(kappa))

    @torch.no_grad()
    def block_absmax(self, x: torch.Tensor) -> torch.Tensor:
        """[C, B] float32 largest |x| of each block of ``x [L, C]``."""
        lo, hi = block_minmax(_float32_stream(x, self.n_channels), self.n_blocks)
        return torch.maximum(lo.abs(), hi.abs())

    @torch.no_grad()
    def calibrate(self, x: torch.Tensor) -> None:
        """Steps from the sensitivity, κ and the block ranges of ``x [L, C]``."""
        x = _float32_stream(x, self.n_channels).detach()
        if not _all_finite(x, self.n_blocks):
            raise ValueError("RdQuanBank got NaN or Inf input; the steps need finite values")
        self.step.copy_(rd_steps(self.sensitivity, float(self.kappa), self.block_absmax(x), self.bits))
        self.initialized.fill_(True)

    def qparams(self) -> Tuple[torch.Tensor, torch.Tensor]:
        """``(scale [C, B], zero_point [C, B])`` float32: the steps in use and 2^(b−1)."""
        self._require_init()
        step = self.step.detach().clone()
        return step, torch.full_like(step, float(1 << (self.bits - 1)))

    def clipped_counts(self, x: torch.Tensor) -> torch.Tensor:
        """[C, B] int64 number of values of ``x [L, C]`` that clip with the current steps."""
        return clipped_counts(x, *self.qparams(), self.bits)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Fake-quantize ``x [L, C]`` with the current steps (straight-through gradient)."""
        x = _float32_stream(x, self.n_channels)
        if self.training and not bool(self.initialized):
            self.calibrate(x)
        x = x.contiguous()
        s, z = self.qparams()
        return _BlocksFakeQuantSTE.apply(x, s.t().contiguous(), z.t().contiguous(), self.bits,
                                         _parts(x, self.n_blocks), True)
