"""The RAHT plan: every sibling pair of the transform, built once from the voxel coordinates.

Level view (reference notes §5). Nodes are kept sorted by Morton code c; level ℓ = 0..3d−1
consumes code bit ℓ (z, y, x cyclically). Nodes i, i+1 are siblings at level ℓ iff
c_i >> (ℓ+1) == c_{i+1} >> (ℓ+1) while c_i >> ℓ != c_{i+1} >> ℓ; the pair (L, R) becomes
    low  =  a·x_L + b·x_R  → slot L (parent, weight w_L + w_R)
    high = −b·x_L + a·x_R  → slot R (final AC coefficient)
with a = √(w_L/(w_L+w_R)), b = √(w_R/(w_L+w_R)), leaf weights 1. A node's slot is the Morton
index of the first leaf of its subtree, so the DC ends in slot 0.

Construction without a per-level sweep: in the binary trie over the M sorted leaf codes, the
M − 1 internal nodes with two children correspond one to one to the M − 1 boundaries between
adjacent leaves k, k+1. Boundary k splits at level h_k = msb(c_k XOR c_{k+1}); its right subtree
starts at leaf k+1 (so R = k+1), its left subtree is the run of leaves sharing the prefix
c_k >> h_k (L = first leaf of that run, w_L = k + 1 − L), and the right subtree the run sharing
c_{k+1} >> h_k (w_R = its length). The run limits come from two binary searches in the sorted
codes. Pairs are then grouped by level (stable sort by h), empty levels dropped.

Storage: concatenated int64 ``left``, ``right`` [P] and float64 ``a``, ``b`` [P] (P = M − 1),
plus Python level ranges; :meth:`RahtPlan.to` moves it to any device, and the decoder rebuilds
the same plan from the decoded coordinates alone.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

import torch

from .morton import morton_encode
from .voxelize import check_depth

logger = logging.getLogger(__name__)


def _msb(v: torch.Tensor) -> torch.Tensor:
    """Index of the highest set bit of positive int64 values (integer shifts only)."""
    h = torch.zeros_like(v)
    for shift in (32, 16, 8, 4, 2, 1):
        t = v >> shift
        big = t != 0
        h += big.to(torch.int64) * shift
        v = torch.where(big, t, v)
    return h


@dataclass
class RahtPlan:
    """Precomputed RAHT structure for one set of voxel coordinates.

    Attributes:
        n: number of voxels M.
        depth: octree depth d (levels 0..3d−1).
        perm: [M] int64, Morton order of the input rows: row ``perm[k]`` of ``coords`` has the
            k-th smallest Morton code (identity when the coords were already sorted).
        left, right: [P] int64 slots of every sibling pair (P = M − 1), grouped by level, finest first.
        a, b: [P] float64 weights √(w_L/(w_L+w_R)), √(w_R/(w_L+w_R)).
        level_ranges: tuple of (level ℓ, start, end): pairs ``start:end`` belong to level ℓ; only
            non-empty levels, ℓ ascending.
        perm_is_identity: True when ``perm`` is 0..M−1 (the gather is skipped).
        ac_weight: [M − 1] int64, in slot order: ``ac_weight[s − 1]`` = w_L + w_R of the pair whose
            high-pass coefficient lands in AC slot s (the number of voxels it summarises, ≥ 2).
            Encoder and decoder both know it, so the entropy coder uses it as a context.
    """

    n: int
    depth: int
    perm: torch.Tensor
    left: torch.Tensor
    right: torch.Tensor
    a: torch.Tensor
    b: torch.Tensor
    level_ranges: tuple[tuple[int, int, int], ...]
    perm_is_identity: bool
    ac_weight: torch.Tensor
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def device(self) -> torch.device:
        return self.left.device

    @property
    def n_pairs(self) -> int:
        """P = M − 1 (every pair yields one AC coefficient)."""
        return int(self.left.shape[0])

    @property
    def n_levels(self) -> int:
        """Number of non-empty levels (each one is a sequential step of the transform)."""
        return len(self.level_ranges)

    def to(self, device) -> "RahtPlan":
        """A copy of the plan with every tensor on ``device`` (self if already there)."""
        device = torch.device(device)
        if self.left.device == device:
            return self
        return RahtPlan(
            n=self.n,
            depth=self.depth,
            perm=self.perm.to(device),
            left=self.left.to(device),
            right=self.right.to(device),
            a=self.a.to(device),
            b=self.b.to(device),
            level_ranges=self.level_ranges,
            perm_is_identity=self.perm_is_identity,
            ac_weight=self.ac_weight.to(device),
        )

    def coefficients(self, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        """(a, b) as [P, 1] tensors of ``dtype`` on the plan's device (cached per dtype)."""
        key = dtype
        if key not in self._cache:
            self._cache[key] = (self.a.to(dtype).unsqueeze(1), self.b.to(dtype).unsqueeze(1))
        return self._cache[key]

    def levels(self, dtype: torch.dtype = torch.float64):
        """Yield (ℓ, left, right, a [P_ℓ,1], b [P_ℓ,1]) per non-empty level, finest first (views)."""
        a, b = self.coefficients(dtype)
        for level, start, end in self.level_ranges:
            yield level, self.left[start:end], self.right[start:end], a[start:end], b[start:end]


def build_plan(coords: torch.Tensor, depth: int) -> RahtPlan:
    """Build the RAHT plan of M unique voxels.

    Args:
        coords: [M, 3] int64 voxel coordinates in [0, 2^depth), unique, any order; the plan's
            transform expects attribute rows in this same order.
        depth: octree depth d in 1..21.

    Returns:
        :class:`RahtPlan` on the device of ``coords``. Cost: one sort and two binary searches of
        M codes; no Python loop over points, a loop over at most 3·d levels for the ranges.
    """
    depth = check_depth(depth)
    coords = torch.as_tensor(coords)
    if coords.ndim != 2 or coords.shape[1] != 3 or coords.shape[0] == 0:
        raise ValueError(f"coords must have shape [M, 3] with M >= 1, got {tuple(coords.shape)}")
    if coords.dtype.is_floating_point:
        raise ValueError(f"coords must be integer voxel coordinates, got dtype {coords.dtype}")
    coords = coords.to(torch.int64)
    lo, hi = int(coords.min()), int(coords.max())
    if lo < 0 or hi >= (1 << depth):
        raise ValueError(f"coords must lie in [0, 2^{depth}) for depth {depth}, got range [{lo}, {hi}]; "
                         "voxelize with clamped codes or raise the depth")
    device = coords.device
    m = coords.shape[0]

    codes = morton_encode(coords)
    diffs = codes[1:] - codes[:-1]
    if bool((diffs > 0).all()):
        sorted_codes = codes
        perm = torch.arange(m, dtype=torch.int64, device=device)
        identity = True
    else:
        sorted_codes, perm = torch.sort(codes, stable=True)
        identity = False
        if m > 1 and not bool((sorted_codes[1:] > sorted_codes[:-1]).all()):
            n_dup = int((sorted_codes[1:] == sorted_codes[:-1]).sum())
            raise ValueError(f"coords contain {n_dup} duplicate voxel(s); merge points per voxel first "
                             "(voxelize + merge_attributes) so every voxel appears once")

    if m == 1:
        empty_i = torch.zeros(0, dtype=torch.int64, device=device)
        empty_f = torch.zeros(0, dtype=torch.float64, device=device)
        return RahtPlan(1, depth, perm, empty_i, empty_i.clone(), empty_f, empty_f.clone(), (), identity, empty_i.clone())

    c_left, c_right = sorted_codes[:-1], sorted_codes[1:]
    h = _msb(c_left ^ c_right)  # [M-1] split level of each boundary, in [0, 3d)
    # left run: leaves sharing prefix c_k >> h; right run: leaves sharing c_{k+1} >> h
    left_start = torch.searchsorted(sorted_codes, (c_left >> h) << h, right=False)
    low_mask = (torch.ones_like(h) << h) - 1  # h <= 62, no overflow
    right_end = torch.searchsorted(sorted_codes, c_right | low_mask, right=True)
    k = torch.arange(m - 1, dtype=torch.int64, device=device)
    w_left = (k + 1 - left_start).to(torch.float64)
    w_right = (right_end - (k + 1)).to(torch.float64)
    total = w_left + w_right  # boundary k's pair puts its high-pass coefficient in slot k + 1
    a_all = torch.sqrt(w_left / total)
    b_all = torch.sqrt(w_right / total)

    h_sorted, order = torch.sort(h, stable=True)
    left = left_start.index_select(0, order)
    right = (k + 1).index_select(0, order)
    a = a_all.index_select(0, order)
    b = b_all.index_select(0, order)

    counts = torch.bincount(h_sorted, minlength=3 * depth).tolist()
    ranges = []
    start = 0
    for level, count in enumerate(counts):
        if count:
            ranges.append((level, start, start + count))
            start += count
    logger.debug("build_plan: %d voxels, %d pairs on %d non-empty levels of %d", m, m - 1, len(ranges), 3 * depth)
    ac_weight = (k + 1 - left_start) + (right_end - (k + 1))
    return RahtPlan(m, depth, perm, left, right, a, b, tuple(ranges), identity, ac_weight)
