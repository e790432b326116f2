"""A set of 3-D Gaussians held as raw (pre-activation) parameters with gsplat's keys.

``params`` is a ``torch.nn.ParameterDict`` with the keys gsplat's ``DefaultStrategy`` expects:

| key | shape | raw value | activation |
|---|---|---|---|
| means | [N, 3] | centre | — |
| quats | [N, 4] | unnormalised w x y z | q / ‖q‖ |
| scales | [N, 3] | log scale | exp |
| opacities | [N] | logit opacity | sigmoid |
| sh0 | [N, 1, 3] | SH band 0 | colour = SH(dir) + 0.5, clamped at 0 |
| shN | [N, K−1, 3] | SH bands 1..max_sh_degree (coefficient-major) | — |

Initialisation from points follows 3DGS (Kerbl et al. 2023, ``create_from_pcd``): sh0 from the
point colour, shN zeros, isotropic log scale log(√d̄²) with d̄² the mean squared distance to the
3 nearest neighbours (floored at 1e-7), identity rotation, opacity logit(0.1).
"""

from __future__ import annotations

import logging
import os

import numpy as np
import torch

from scene.ply_io import GAUSSIAN_KEYS, read_gaussian_ply, sh_degree_from_rest, write_gaussian_ply
from utils.general import inverse_sigmoid
from utils.sh import rgb_to_sh0

logger = logging.getLogger(__name__)

MIN_DIST2 = 1e-7  # floor of the mean squared kNN distance (as 3DGS's distCUDA2 clamp)


def mean_sq_knn_distance(xyz: torch.Tensor, k: int = 3, chunk_size: int | None = None,
                         method: str = "auto") -> torch.Tensor:
    """Mean squared distance of each point to its ``k`` nearest other points.

    Args:
        xyz: [N, 3] positions (any float dtype, any device).
        k: number of neighbours (fewer when N ≤ k).
        chunk_size: rows per ``torch.cdist`` block (memory ≈ chunk_size·N·4 bytes); default
            keeps a block near 256 MB.
        method: "auto" (scipy's k-d tree when scipy imports — it comes with scikit-image —
            else cdist), "kdtree" (on a CPU copy) or "cdist" (on ``xyz.device``). Both are exact;
            cdist is O(N²) work (100k points: ~45 s on 2 CPU cores), the k-d tree O(N log N)
            (100k points: ~0.2 s).

    Returns:
        [N] float32 on ``xyz.device``: d̄² = mean_j ‖x_i − x_nn(i,j)‖², j = 1..k.
        The point itself is excluded by index, so duplicates count as distance 0.
    """
    n = int(xyz.shape[0])
    k_eff = min(k, n - 1)
    if k_eff <= 0:
        return torch.zeros(n, dtype=torch.float32, device=xyz.device)
    if method == "auto":
        try:
            import scipy.spatial  # noqa: F401
            method = "kdtree"
        except ImportError:
            method = "cdist"
    if method == "kdtree":
        from scipy.spatial import cKDTree

        pts = xyz.detach().cpu().double().numpy()
        dist, _ = cKDTree(pts).query(pts, k=k_eff + 1)
        # column 0 is a zero distance (the point itself or an exact duplicate): drop one zero
        d2 = (dist[:, 1:] ** 2).mean(axis=1)
        return torch.from_numpy(d2.astype(np.float32)).to(xyz.device)
    if method != "cdist":
        raise ValueError(f"unknown kNN method {method!r}; use 'auto', 'kdtree' or 'cdist'")
    pts = xyz.detach().to(torch.float32)
    if chunk_size is None:
        chunk_size = max(1, min(4096, (1 << 26) // n))
    out = torch.empty(n, dtype=torch.float32, device=xyz.device)
    for start in range(0, n, chunk_size):
        stop = min(start + chunk_size, n)
        d2 = torch.cdist(pts[start:stop], pts, compute_mode="donot_use_mm_for_euclid_dist") ** 2
        rows = torch.arange(stop - start, device=xyz.device)
        d2[rows, rows + start] = float("inf")  # exclude the point itself, by index
        out[start:stop] = torch.topk(d2, k_eff, dim=1, largest=False).values.mean(dim=1)
    return out


class GaussianModel:
    """Raw Gaussian parameters plus their activations (see the module table).

    Args:
        params: dict or ParameterDict with the six keys; tensors become ``nn.Parameter``.
        max_sh_degree: SH degree of ``shN`` (K − 1 = (d+1)² − 1 coefficients).
        active_sh_degree: degree used for rendering (≤ max; default max).
    """

    def __init__(self, params, max_sh_degree: int, active_sh_degree: int | None = None):
        missing = [k for k in GAUSSIAN_KEYS if k not in params]
        if missing:
            raise ValueError(f"GaussianModel needs parameters {list(GAUSSIAN_KEYS)}; "
                             f"missing {missing}")
        n_rest = int(params["shN"].shape[1])
        if (max_sh_degree + 1) ** 2 - 1 != n_rest:
            raise ValueError(f"shN has {n_rest} coefficients per channel but max_sh_degree="
                             f"{max_sh_degree} needs {(max_sh_degree + 1) ** 2 - 1}")
        self.params = torch.nn.ParameterDict({
            k: v if isinstance(v, torch.nn.Parameter) else torch.nn.Parameter(v)
            for k, v in ((k, params[k]) for k in GAUSSIAN_KEYS)})
        self.max_sh_degree = int(max_sh_degree)
        self.active_sh_degree = self.max_sh_degree if active_sh_degree is None \
            else int(active_sh_degree)
        if not 0 <= self.active_sh_degree <= self.max_sh_degree:
            raise ValueError(f"active_sh_degree {self.active_sh_degree} must be in "
                             f"[0, {self.max_sh_degree}]")

    # ------------------------------------------------------------------ raw / activated views
    @property
    def num_gaussians(self) -> int:
        return int(self.params["means"].shape[0])

    @property
    def means(self) -> torch.Tensor:
        """[N, 3] centres."""
        return self.params["means"]

    @property
    def log_scales(self) -> torch.Tensor:
        """[N, 3] raw log scales."""
        return self.params["scales"]

    @property
    def logit_opacities(self) -> torch.Tensor:
        """[N] raw logit opacities."""
        return self.params["opacities"]

    @property
    def quats_wxyz(self) -> torch.Tensor:
        """[N, 4] raw (unnormalised) quaternions w x y z."""
        return self.params["quats"]

    @property
    def scales_act(self) -> torch.Tensor:
        """[N, 3] scales = exp(log_scales)."""
        return torch.exp(self.params["scales"])

    @property
    def opacities_act(self) -> torch.Tensor:
        """[N] opacities = sigmoid(logit_opacities)."""
        return torch.sigmoid(self.params["opacities"])

    @property
    def quats_normalized(self) -> torch.Tensor:
        """[N, 4] unit quaternions q / ‖q‖ (w x y z)."""
        return torch.nn.functional.normalize(self.params["quats"], dim=-1)

    @property
    def sh_coeffs(self) -> torch.Tensor:
        """[N, K, 3] = cat(sh0, shN) along the coefficient axis."""
        return torch.cat([self.params["sh0"], self.params["shN"]], dim=1)

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_points(cls, xyz, rgb, sh_degree: int = 3, init_opacity: float = 0.1,
                    knn_method: str = "auto") -> "GaussianModel":
        """3DGS initialisation from a point cloud.

        Args:
            xyz: [P, 3] positions (numpy or torch; the device of a tensor is kept).
            rgb: [P, 3] colours in [0, 1].
            sh_degree: max SH degree (shN gets (d+1)² − 1 zero coefficients).
            init_opacity: initial activated opacity (3DGS: 0.1).
        """
        xyz_t = torch.as_tensor(np.asarray(xyz) if not torch.is_tensor(xyz) else xyz)
        xyz_t = xyz_t.detach().to(torch.float32)
        rgb_t = torch.as_tensor(np.asarray(rgb) if not torch.is_tensor(rgb) else rgb)
        rgb_t = rgb_t.detach().to(device=xyz_t.device, dtype=torch.float32)
        if xyz_t.ndim != 2 or xyz_t.shape[1] != 3 or xyz_t.shape[0] == 0:
            raise ValueError(f"from_points needs xyz of shape [P>0, 3], got {tuple(xyz_t.shape)}")
        if tuple(rgb_t.shape) != tuple(xyz_t.shape):
            raise ValueError(f"rgb shape {tuple(rgb_t.shape)} does not match xyz "
                             f"{tuple(xyz_t.shape)}")
        if not 0 <= sh_degree <= 3:
            raise ValueError(f"sh_degree must be 0..3, got {sh_degree}")
        n = xyz_t.shape[0]
        dist2 = torch.clamp_min(mean_sq_knn_distance(xyz_t, k=3, method=knn_method), MIN_DIST2)
        log_scale = torch.log(torch.sqrt(dist2))[:, None].repeat(1, 3)
        quats = torch.zeros(n, 4, device=xyz_t.device)
        quats[:, 0] = 1.0
        opac = inverse_sigmoid(torch.full((n,), float(init_opacity), device=xyz_t.device))
        n_rest = (sh_degree + 1) ** 2 - 1
        params = {
            "means": xyz_t.clone(),
            "quats": quats,
            "scales": log_scale,
            "opacities": opac,
            "sh0": rgb_to_sh0(rgb_t)[:, None, :].contiguous(),
            "shN": torch.zeros(n, n_rest, 3, device=xyz_t.device),
        }
        logger.info("initialised %d Gaussians from points (SH degree %d)", n, sh_degree)
        return cls(params, max_sh_degree=sh_degree, active_sh_degree=0)

    @classmethod
    def from_arrays(cls, arrays: dict, active_sh_degree: int | None = None,
                    device: torch.device | str | None = None) -> "GaussianModel":
        """From the ``ply_io`` dict of float32 arrays (numpy or torch)."""
        params = {}
        for key in GAUSSIAN_KEYS:
            value = arrays[key]
            t = value.detach().clone() if torch.is_tensor(value) else \
                torch.from_numpy(np.array(value, dtype=np.float32, copy=True))
            params[key] = t.to(device=device, dtype=torch.float32) if device is not None \
                else t.to(torch.float32)
        degree = sh_degree_from_rest(3 * int(params["shN"].shape[1]))
        return cls(params, max_sh_degree=degree, active_sh_degree=active_sh_degree)

    @classmethod
    def from_ply(cls, path: str | os.PathLike, sanitize: bool = False,
                 device: torch.device | str | None = None) -> "GaussianModel":
        """Load an INRIA 3DGS PLY (all SH bands active)."""
        return cls.from_arrays(read_gaussian_ply(path, sanitize=sanitize), device=device)

    # ------------------------------------------------------------------ export
    def to_arrays(self) -> dict[str, np.ndarray]:
        """The ``ply_io`` dict: float32 numpy copies of the raw parameters."""
        return {k: self.params[k].detach().cpu().numpy().astype(np.float32, copy=True)
                for k in GAUSSIAN_KEYS}

    def save_ply(self, path: str | os.PathLike) -> None:
        """Write the raw parameters as an INRIA 3DGS PLY (atomic, bit-exact)."""
        write_gaussian_ply(path, self.to_arrays())

    def to(self, device: torch.device | str) -> "GaussianModel":
        """Move the parameters to ``device`` in place (same ``Parameter`` objects); returns self."""
        self.params = self.params.to(device)
        return self

    def __repr__(self) -> str:
        return (f"GaussianModel(n={self.num_gaussians}, max_sh_degree={self.max_sh_degree}, "
                f"active_sh_degree={self.active_sh_degree}, device={self.means.device})")
