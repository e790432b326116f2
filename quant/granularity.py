"""Granularities: which elements share one (scale, zero point).

- ``"tensor"``: one pair for the whole tensor; parameters shape ``[]``.
- ``"axis"``: one pair per index along ``axis`` (e.g. per output channel of a weight
  ``[out, in]`` with ``axis=0``); parameters shape ``[x.shape[axis]]``.
- ``"group"``: groups of ``group_size`` = G consecutive elements along the **last** axis;
  parameters shape ``[*x.shape[:-1], ceil(K / G)]`` for ``x [..., K]``. Ragged rule: when G does
  not divide K, the last group is shorter (K mod G elements) and gets its own parameters chosen
  from its own elements only (it is not merged into its neighbour, nor padded with data).
- ``"block"``: a 1-D stream along ``axis`` (length L) cut into B = ``n_blocks`` contiguous,
  near-equal blocks by ``split_length`` (the first L mod B blocks are one element longer; this is
  MesonGS's rule and the layout of ``t.npz``); each block of each other index gets its own pair;
  parameters shape ``[*x.shape without axis, B]`` — for ``x [L, C]`` and ``axis=0`` that is the
  ``[C, B]`` layout of the banks. L < B is an error.

The formulas themselves live in ``quant.core``; this module only reduces (min / max / max |x|)
and broadcasts.
"""
from __future__ import annotations

import dataclasses
from typing import List, NamedTuple, Optional, Tuple

import torch

from .core import (asymmetric_qparams, check_bits, dequantize, fake_quantize, quantize,
                   symmetric_qparams)

__all__ = [
    "GRANULARITIES",
    "split_length",
    "block_index",
    "BlockPart",
    "block_parts",
    "chunk_parts",
    "part_view",
    "part_rows",
    "QParams",
    "choose_qparams",
    "expand_qparams",
    "quantize_with",
    "dequantize_with",
    "fake_quantize_with",
]

GRANULARITIES = ("tensor", "axis", "group", "block")


def _check_int(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or int(value) != value:
        raise ValueError(f"{name} must be an integer, got {value!r}")
    value = int(value)
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def split_length(length: int, n_blocks: int) -> List[int]:
    """Lengths of B near-equal contiguous blocks of a stream of length L.

    base = ⌊L/B⌋, r = L − base·B: the first r blocks have base + 1 elements, the other B − r have
    base (L = 10, B = 4 → [3, 3, 2, 2]). Raises ``ValueError`` for L < B (empty blocks) or B < 1.
    """
    length = _check_int("length", length, 0)
    n_blocks = _check_int("n_blocks", n_blocks, 1)
    if length < n_blocks:
        raise ValueError(
            f"cannot split a stream of length {length} into {n_blocks} non-empty blocks; "
            f"use n_blocks <= {length} (fewer blocks or more points)")
    base, rem = divmod(length, n_blocks)
    return [base + 1] * rem + [base] * (n_blocks - rem)


class BlockPart(NamedTuple):
    """A run of equal-length blocks: elements ``[start, stop)`` = blocks ``[first, first + count)``
    of ``block_len`` elements each, so ``x[start:stop].view(count, block_len, ...)``."""
    start: int
    stop: int
    first: int
    count: int
    block_len: int


def block_parts(length: int, n_blocks: int) -> List[BlockPart]:
    """The ≤ 2 runs of equal-length blocks of ``split_length(length, n_blocks)``.

    They let a [L, C] stream be viewed as ``[count, block_len, C]`` tensors without a gather, which
    is how the banks reduce and broadcast per block.
    """
    sizes = split_length(length, n_blocks)
    base, rem = divmod(length, n_blocks)
    parts = []
    if rem:
        parts.append(BlockPart(0, rem * (base + 1), 0, rem, base + 1))
    if n_blocks - rem:
        start = rem * (base + 1)
        parts.append(BlockPart(start, length, rem, n_blocks - rem, base))
    assert sum(p.count * p.block_len for p in parts) == sum(sizes) == length
    return parts


def chunk_parts(parts: List[BlockPart], row_elems: int, target_elems: Optional[int]) -> List[BlockPart]:
    """Split runs of blocks into smaller runs of about ``target_elems`` elements (whole blocks,
    at least one per run; ``row_elems`` elements per stream row, e.g. C). ``None`` keeps ``parts``.

    Working block by block keeps the temporaries of a fake quantization in cache and below the
    allocator's mmap threshold, which on CPU is faster than whole-tensor passes.
    """
    if target_elems is None:
        return list(parts)
    out = []
    for p in parts:
        per = max(1, int(target_elems) // max(1, p.block_len * row_elems))
        for k in range(0, p.count, per):
            n = min(per, p.count - k)
            start = p.start + k * p.block_len
            out.append(BlockPart(start, start + n * p.block_len, p.first + k, n, p.block_len))
    return out


def part_view(t: torch.Tensor, p: BlockPart) -> torch.Tensor:
    """Rows ``[p.start, p.stop)`` of a stream ``t [L, C]`` as ``[p.count, p.block_len, C]`` (a view
    when ``t`` is contiguous)."""
    return t[p.start:p.stop].reshape(p.count, p.block_len, t.shape[1])


def part_rows(t: Optional[torch.Tensor], p: BlockPart) -> Optional[torch.Tensor]:
    """Block-major parameters ``t [B, C]`` of part ``p`` as ``[p.count, 1, C]`` (None stays None)."""
    return None if t is None else t[p.first:p.first + p.count].unsqueeze(1)


def block_index(length: int, n_blocks: int, device=None) -> torch.Tensor:
    """Block id of every element of a stream: ``[length] int64`` with values in ``[0, n_blocks)``,
    non-decreasing, block j holding ``split_length(length, n_blocks)[j]`` elements."""
    split_length(length, n_blocks)  # validates
    base, rem = divmod(length, n_blocks)
    i = torch.arange(length, dtype=torch.int64, device=device)
    head = rem * (base + 1)
    return torch.where(i < head, i // (base + 1), rem + (i - head) // max(base, 1))


@dataclasses.dataclass(frozen=True)
class QParams:
    """Quantization parameters of one tensor at one granularity.

    ``scale`` / ``zero_point``: float tensors whose shape depends on the granularity (module
    docstring); ``zero_point`` is all zeros for the symmetric mapping. ``shape`` is the shape of
    the tensor they were chosen for; the other fields say how to broadcast them.
    """
    scale: torch.Tensor
    zero_point: torch.Tensor
    bits: int
    mapping: str
    granularity: str
    shape: Tuple[int, ...]
    axis: int = 0
    group_size: int = 128
    n_blocks: Optional[int] = None


def _normalize_axis(axis: int, ndim: int) -> int:
    if not -ndim <= axis < ndim:
        raise ValueError(f"axis {axis} is out of range for a tensor with {ndim} dimensions")
    return axis % ndim


def _block_reduce(x_front: torch.Tensor, n_blocks: int, fn) -> torch.Tensor:
    """fn over each block of dim 0 of ``x_front [L, *rest]`` → ``[B, *rest]``."""
    L = x_front.shape[0]
    rest = x_front.shape[1:]
    outs = []
    for p in block_parts(L, n_blocks):
        view = x_front[p.start:p.stop].reshape(p.count, p.block_len, *rest)
        outs.append(fn(view, 1))
    return torch.cat(outs, dim=0)


def _ragged_groups(x: torch.Tensor, group_size: int) -> torch.Tensor:
    """``x [..., K]`` → ``[..., ceil(K/G), G]``, the ragged tail padded with zeros (harmless for
    the choice of parameters: both envelopes always contain 0)."""
    K = x.shape[-1]
    n_groups = -(-K // group_size)
    pad = n_groups * group_size - K
    if pad:
        x = torch.nn.functional.pad(x, (0, pad))
    return x.reshape(*x.shape[:-1], n_groups, group_size)


def choose_qparams(x: torch.Tensor, bits: int, mapping: str = "asymmetric",
                   granularity: str = "tensor", axis: int = 0, group_size: int = 128,
                   n_blocks: Optional[int] = None) -> QParams:
    """Choose (scale, zero point) for ``x`` from its own range (min/max or max |x|).

    asymmetric: ``quant.core.asymmetric_qparams(min, max, bits)`` (envelope forced to contain 0);
    symmetric: ``scale = quant.core.symmetric_qparams(max |x|, bits)``, zero point 0.
    Reductions per granularity as in the module docstring. Non-finite ``x`` → ``ValueError``.
    """
    if mapping not in ("asymmetric", "symmetric"):
        raise ValueError(f"choose_qparams supports mapping 'asymmetric' or 'symmetric', got {mapping!r}")
    bits = check_bits(bits, mapping)
    if granularity not in GRANULARITIES:
        raise ValueError(f"unknown granularity {granularity!r}; use one of {GRANULARITIES}")
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        raise ValueError("choose_qparams needs a floating-point torch tensor")
    if x.numel() == 0:
        raise ValueError(f"cannot choose quantization parameters for an empty tensor of shape {tuple(x.shape)}")
    x = x.detach()
    if not bool(torch.isfinite(x).all()):
        raise ValueError("input contains NaN or Inf; quantization parameters need finite values")
    shape = tuple(x.shape)

    if granularity == "tensor":
        lo, hi = x.amin(), x.amax()
        axis_out, gsize, nb = 0, group_size, None
    elif granularity == "axis":
        if x.dim() == 0:
            raise ValueError("granularity 'axis' needs a tensor with at least one dimension")
        axis_out = _normalize_axis(axis, x.dim())
        dims = tuple(d for d in range(x.dim()) if d != axis_out)
        lo = x.amin(dim=dims) if dims else x.clone()
        hi = x.amax(dim=dims) if dims else x.clone()
        gsize, nb = group_size, None
    elif granularity == "group":
        if x.dim() == 0:
            raise ValueError("granularity 'group' needs a tensor with at least one dimension")
        gsize = _check_int("group_size", group_size, 1)
        g = _ragged_groups(x, gsize)
        lo, hi = g.amin(dim=-1), g.amax(dim=-1)
        axis_out, nb = x.dim() - 1, None
    else:  # block
        if x.dim() == 0:
            raise ValueError("granularity 'block' needs a tensor with at least one dimension")
        if n_blocks is None:
            raise ValueError("granularity 'block' needs n_blocks")
        nb = _check_int("n_blocks", n_blocks, 1)
        axis_out = _normalize_axis(axis, x.dim())
        xf = x.movedim(axis_out, 0)
        lo = _block_reduce(xf, nb, lambda v, d: v.amin(dim=d)).movedim(0, -1)
        hi = _block_reduce(xf, nb, lambda v, d: v.amax(dim=d)).movedim(0, -1)
        gsize = group_size

    if mapping == "asymmetric":
        scale, zero_point = asymmetric_qparams(lo, hi, bits)
    else:
        scale = symmetric_qparams(torch.maximum(hi.abs(), lo.abs()), bits)
        zero_point = torch.zeros_like(scale)
    return QParams(scale.contiguous(), zero_point.contiguous(), bits, mapping, granularity, shape,
                   axis_out, gsize, nb)


def expand_qparams(qp: QParams, shape: Optional[Tuple[int, ...]] = None) -> Tuple[torch.Tensor, torch.Tensor]:
    """Scale and zero point broadcastable to a tensor of ``shape`` (default ``qp.shape``).

    tensor: 0-dim (any shape accepted); axis: ``[1, .., n, .., 1]``; group: ``[..., K]`` (each group's value repeated,
    the ragged tail included); block: ``[..., L, ...]`` gathered through ``block_index``.
    """
    shape = tuple(qp.shape if shape is None else shape)
    if qp.granularity == "tensor":  # one pair broadcasts to any shape
        return qp.scale, qp.zero_point
    if shape != tuple(qp.shape):
        raise ValueError(f"tensor of shape {shape} does not match the shape {tuple(qp.shape)} "
                         "these quantization parameters were chosen for")
    s, z = qp.scale, qp.zero_point
    if qp.granularity == "axis":
        view = [1] * len(shape)
        view[qp.axis] = shape[qp.axis]
        return s.reshape(view), z.reshape(view)
    if qp.granularity == "group":
        K = shape[-1]
        return (s.repeat_interleave(qp.group_size, dim=-1)[..., :K],
                z.repeat_interleave(qp.group_size, dim=-1)[..., :K])
    if qp.granularity == "block":
        L = shape[qp.axis]
        idx = block_index(L, qp.n_blocks, device=s.device)
        return (s.index_select(-1, idx).movedim(-1, qp.axis),
                z.index_select(-1, idx).movedim(-1, qp.axis))
    raise ValueError(f"unknown granularity {qp.granularity!r}")


def quantize_with(x: torch.Tensor, qp: QParams, dtype: Optional[torch.dtype] = None) -> torch.Tensor:
    """Codes of ``x`` (shape ``qp.shape``): ``clamp(round(z + x/s), qmin, qmax)`` per element."""
    s, z = expand_qparams(qp, tuple(x.shape))
    return quantize(x, s, z, qp.bits, qp.mapping, dtype=dtype)


def dequantize_with(codes: torch.Tensor, qp: QParams) -> torch.Tensor:
    """``x̂ = s · (codes − z)`` per element (float dtype of ``qp.scale``)."""
    s, z = expand_qparams(qp, tuple(codes.shape))
    return dequantize(codes, s, z)


def fake_quantize_with(x: torch.Tensor, qp: QParams) -> torch.Tensor:
    """``dequantize_with(quantize_with(x, qp), qp)`` with the straight-through gradient of
    ``quant.core.fake_quantize``."""
    s, z = expand_qparams(qp, tuple(x.shape))
    return fake_quantize(x, s, z, qp.bits, qp.mapping)

