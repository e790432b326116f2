"""Voxelization of Gaussian positions on a per-axis octree grid, and merging of shared voxels.

Grid (reference notes §3, with MesonGS's overflow and precision bugs fixed):
    bbox_min, bbox_max  = per-axis min / max of the positions, stored as float32 [3]
    Δ_a                 = (max_a − min_a) / 2^depth             (flat axis: Δ_a = 1, all codes 0)
    c_a                 = clamp(⌊(p_a − min_a) / Δ_a⌋, 0, 2^depth − 1)
The clamp keeps the point at max_a in the last cell (MesonGS gave it code 2^depth, which carried
into the neighbouring key field). Codes are computed in float64 from the float32 bbox.

Decoded position = voxel centre, min_a + (c_a + ½)·Δ_a, evaluated in float32 from the float32
bbox only (so the encoder and the decoder, which reads the same six floats, agree bit for bit);
on a flat axis the centre is min_a. The error per axis is at most Δ_a/2 (plus float32 rounding).

Merging (points sharing a voxel) uses segment reductions (index_add / scatter_reduce), never a
Python loop over points or voxels.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import torch

from .morton import MAX_BITS_PER_AXIS, morton_decode, morton_encode

logger = logging.getLogger(__name__)

MERGE_MODES = ("mean", "importance", "first", "sum")


@dataclass
class Voxelization:
    """Result of :func:`voxelize`.

    Attributes:
        coords: [M, 3] int64 unique voxel coordinates (x, y, z) in [0, 2^depth), sorted by Morton code.
        point_to_voxel: [N] int64, row of ``coords`` that holds each input point.
        bbox_min: [3] float32 per-axis minimum of the positions.
        bbox_max: [3] float32 per-axis maximum of the positions.
        depth: octree depth d (2^d cells per axis).
    """

    coords: torch.Tensor
    point_to_voxel: torch.Tensor
    bbox_min: torch.Tensor
    bbox_max: torch.Tensor
    depth: int

    @property
    def n_voxels(self) -> int:
        """Number of occupied voxels M."""
        return int(self.coords.shape[0])

    def centers(self) -> torch.Tensor:
        """[M, 3] float32 voxel centres, see :func:`voxel_centers`."""
        return voxel_centers(self.coords, self.bbox_min, self.bbox_max, self.depth)

    def counts(self) -> torch.Tensor:
        """[M] int64 number of input points in each voxel."""
        return torch.bincount(self.point_to_voxel, minlength=self.n_voxels)


def check_depth(depth: int) -> int:
    """Validate an octree depth (1..21, so that 3·depth <= 63 code bits); returns it as int."""
    if isinstance(depth, bool) or int(depth) != depth or not 1 <= int(depth) <= MAX_BITS_PER_AXIS:
        raise ValueError(f"depth must be an integer in [1, {MAX_BITS_PER_AXIS}] (3·depth <= 63 bits), got {depth!r}")
    return int(depth)


def _cell_size(bbox_min: torch.Tensor, bbox_max: torch.Tensor, depth: int) -> torch.Tensor:
    """Δ = (max − min)/2^depth in the dtype of the bbox (exact division by a power of two)."""
    return (bbox_max - bbox_min) / float(1 << depth)


def voxelize(positions: torch.Tensor, depth: int) -> Voxelization:
    """Assign points to the cells of a 2^depth per-axis grid over their bounding box.

    Args:
        positions: [N, 3] float positions (N >= 1), finite.
        depth: octree depth d in 1..21.

    Returns:
        :class:`Voxelization` with the M unique voxels sorted by Morton code and the voxel index of
        every point. Formula: c_a = clamp(⌊(p_a − min_a)/Δ_a⌋, 0, 2^d − 1), Δ_a = (max_a − min_a)/2^d.
    """
    depth = check_depth(depth)
    positions = torch.as_tensor(positions)
    if positions.ndim != 2 or positions.shape[1] != 3 or positions.shape[0] == 0:
        raise ValueError(f"positions must have shape [N, 3] with N >= 1, got {tuple(positions.shape)}")
    if not positions.dtype.is_floating_point:
        positions = positions.to(torch.float64)
    positions = positions.detach()
    if not bool(torch.isfinite(positions).all()):
        raise ValueError("positions contain NaN or inf; remove or sanitize those points before voxelizing")

    bbox_min = positions.amin(dim=0).to(torch.float32)
    bbox_max = positions.amax(dim=0).to(torch.float32)
    lo = bbox_min.to(torch.float64)
    delta = _cell_size(lo, bbox_max.to(torch.float64), depth)
    delta = torch.where(delta > 0, delta, torch.ones_like(delta))  # flat axis: any positive Δ, all codes 0
    top = (1 << depth) - 1
    cells = torch.floor((positions.to(torch.float64) - lo) / delta)
    cells = cells.clamp_(0, top).to(torch.int64)

    codes = morton_encode(cells)
    unique_codes, point_to_voxel = torch.unique(codes, sorted=True, return_inverse=True)
    coords = morton_decode(unique_codes)
    logger.debug("voxelize: %d points -> %d voxels at depth %d", positions.shape[0], coords.shape[0], depth)
    return Voxelization(coords, point_to_voxel, bbox_min, bbox_max, depth)


def voxel_centers(coords: torch.Tensor, bbox_min: torch.Tensor, bbox_max: torch.Tensor, depth: int) -> torch.Tensor:
    """Decoded positions: centre of each voxel cell.

    Args:
        coords: [M, 3] integer voxel coordinates in [0, 2^depth).
        bbox_min, bbox_max: [3] bbox as stored (converted to float32 here).
        depth: octree depth d.

    Returns:
        [M, 3] float32, min_a + (c_a + 0.5)·Δ_a with Δ_a = (max_a − min_a)/2^d, all in float32
        (a flat axis has Δ_a = 0, so its centre is min_a).
    """
    depth = check_depth(depth)
    coords = torch.as_tensor(coords)
    if coords.ndim != 2 or coords.shape[1] != 3:
        raise ValueError(f"coords must have shape [M, 3], got {tuple(coords.shape)}")
    device = coords.device
    lo = torch.as_tensor(bbox_min, device=device).to(torch.float32).reshape(3)
    hi = torch.as_tensor(bbox_max, device=device).to(torch.float32).reshape(3)
    delta = _cell_size(lo, hi, depth)
    return lo + (coords.to(torch.float32) + 0.5) * delta


def _quat_index(quat_columns, n_cols: int, device: torch.device) -> torch.Tensor:
    if isinstance(quat_columns, slice):
        idx = list(range(n_cols))[quat_columns]
    else:
        idx = [int(i) for i in quat_columns]
    if len(idx) != 4 or any(not 0 <= i < n_cols for i in idx):
        raise ValueError(
            f"quat_columns must select exactly 4 existing columns (w, x, y, z) of the {n_cols} attribute "
            f"columns, got {quat_columns!r} -> {idx}"
        )
    return torch.tensor(idx, dtype=torch.int64, device=device)


def merge_attributes(
    attrs: torch.Tensor,
    point_to_voxel: torch.Tensor,
    n_voxels: int,
    mode: str = "mean",
    weights: torch.Tensor | None = None,
    quat_columns: slice | list[int] | None = None,
) -> torch.Tensor:
    """Reduce per-point attributes to per-voxel attributes.

    Args:
        attrs: [N, C] float raw attributes (logits, log-scales, raw quaternions, SH, ...).
        point_to_voxel: [N] int64 voxel of each point (every voxel 0..M−1 must have a member).
        n_voxels: M.
        mode: ``"mean"``: x̄_v = Σ_{i∈v} x_i / |v|;
            ``"importance"``: x̄_v = Σ w_i x_i / Σ w_i (``weights`` required, >= 0; a voxel whose
            weights sum to 0 falls back to the plain mean);
            ``"first"``: the member with the smallest point index, unchanged;
            ``"sum"``: Σ_{i∈v} x_i (e.g. to carry importance as a summed column).
        weights: [N] per-point weights for ``"importance"``.
        quat_columns: the 4 columns (w, x, y, z) of a quaternion, or None. In ``"mean"`` and
            ``"importance"`` every quaternion is first sign-aligned, q ← sign(w)·q (w = 0 counts as
            positive), so q and −q (the same rotation) do not cancel. Not normalised.

    Returns:
        [M, C] merged attributes, same dtype as ``attrs``; differentiable w.r.t. ``attrs``.
    """
    if mode not in MERGE_MODES:
        raise ValueError(f"merge mode must be one of {MERGE_MODES}, got {mode!r}")
    attrs = torch.as_tensor(attrs)
    squeeze = attrs.ndim == 1
    if squeeze:
        attrs = attrs.unsqueeze(1)
    if attrs.ndim != 2:
        raise ValueError(f"attrs must have shape [N, C] (or [N]), got {tuple(attrs.shape)}")
    if not attrs.dtype.is_floating_point:
        raise ValueError(f"attrs must be floating point, got {attrs.dtype}")
    point_to_voxel = torch.as_tensor(point_to_voxel, device=attrs.device).to(torch.int64)
    n = attrs.shape[0]
    if point_to_voxel.shape != (n,):
        raise ValueError(f"point_to_voxel must have shape [{n}], got {tuple(point_to_voxel.shape)}")
    n_voxels = int(n_voxels)
    if n > 0 and (int(point_to_voxel.min()) < 0 or int(point_to_voxel.max()) >= n_voxels):
        raise ValueError(f"point_to_voxel values must lie in [0, {n_voxels}), got "
                         f"[{int(point_to_voxel.min())}, {int(point_to_voxel.max())}]")
    counts = torch.bincount(point_to_voxel, minlength=n_voxels)
    if n_voxels > 0 and int(counts.min()) == 0:
        raise ValueError(f"{int((counts == 0).sum())} of {n_voxels} voxels have no point; "
                         "pass point_to_voxel and n_voxels from the same voxelize() result")

    if mode == "first":
        rows = torch.arange(n, device=attrs.device)
        first = torch.full((n_voxels,), n, dtype=torch.int64, device=attrs.device)
        first = first.scatter_reduce(0, point_to_voxel, rows, reduce="amin", include_self=True)
        out = attrs.index_select(0, first)
        return out.squeeze(1) if squeeze else out

    if quat_columns is not None and mode in ("mean", "importance"):
        qidx = _quat_index(quat_columns, attrs.shape[1], attrs.device)
        w = attrs.index_select(1, qidx[:1])
        sign = torch.where(w < 0, -1.0, 1.0).to(attrs.dtype)
        col_sign = torch.ones(attrs.shape[1], dtype=attrs.dtype, device=attrs.device)
        is_quat = torch.zeros(attrs.shape[1], dtype=torch.bool, device=attrs.device)
        is_quat[qidx] = True
        # rows with w < 0 get their quaternion columns negated; other columns untouched
        attrs = attrs * torch.where(is_quat, sign, col_sign)

    zeros = torch.zeros((n_voxels, attrs.shape[1]), dtype=attrs.dtype, device=attrs.device)
    if mode == "sum":
        out = zeros.index_add(0, point_to_voxel, attrs)
    elif mode == "mean":
        out = zeros.index_add(0, point_to_voxel, attrs) / counts.to(attrs.dtype).unsqueeze(1)
    else:  # importance
        if weights is None:
            raise ValueError("merge mode 'importance' needs weights [N] (e.g. the importance scores)")
        weights = torch.as_tensor(weights, device=attrs.device).to(attrs.dtype).reshape(-1)
        if weights.shape[0] != n:
            raise ValueError(f"weights must have shape [{n}], got {tuple(weights.shape)}")
        if not bool(torch.isfinite(weights).all()) or (n > 0 and float(weights.min()) < 0):
            raise ValueError("importance weights must be finite and >= 0")
        wsum = torch.zeros(n_voxels, dtype=attrs.dtype, device=attrs.device).index_add(0, point_to_voxel, weights)
        weighted = zeros.index_add(0, point_to_voxel, attrs * weights.unsqueeze(1))
        plain = zeros.index_add(0, point_to_voxel, attrs) / counts.to(attrs.dtype).unsqueeze(1)
        has_weight = (wsum > 0).unsqueeze(1)
        safe = torch.where(wsum > 0, wsum, torch.ones_like(wsum)).unsqueeze(1)
        out = torch.where(has_weight, weighted / safe, plain)
    return out.squeeze(1) if squeeze else out
