"""Rigid rotations and axis scalings of Gaussian arrays (the ``scene.ply_io`` dict).

A rotation R is the same content seen from elsewhere: positions x' = R·x, each Gaussian's rotation
R·Rᵢ (so Σ' = R·Σ·Rᵀ), scales and opacities unchanged, and view-dependent colour turned with it
(bands 1..3 by ``utils.sh.sh_rotation``: c'(d) = c(Rᵀd)). A scaling of one axis by f is *other*
content (a flattened copy): x' = S·x, Σ' = S·Σ·S re-factored into scales and a rotation, colours kept.
Used by the invariance benchmark and tests: a codec must do as well on a turned copy of a capture.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from utils.rotations import euler_to_quat, quat_to_rotmat, rotmat_to_euler
from utils.sh import sh_rotation

__all__ = ["rotate_gaussians", "scale_gaussians_axis", "axis_rotation", "random_rotation", "tiled_copies"]


def axis_rotation(axis: int, degrees: float) -> np.ndarray:
    """[3, 3] float64 rotation by ``degrees`` about world axis 0, 1 or 2 (right-handed)."""
    a = math.radians(degrees)
    c, s = math.cos(a), math.sin(a)
    i, j = [(1, 2), (2, 0), (0, 1)][axis]
    out = np.eye(3)
    out[i, i], out[i, j], out[j, i], out[j, j] = c, -s, s, c
    return out


def random_rotation(seed: int | np.random.Generator) -> np.ndarray:
    """A [3, 3] float64 rotation drawn uniformly (QR of a Gaussian matrix) from ``seed`` or a generator."""
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(int(seed))
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 2] = -q[:, 2]
    return q


def _quats_of(rot: torch.Tensor) -> torch.Tensor:
    return euler_to_quat(rotmat_to_euler(rot))


def rotate_gaussians(arrays: dict, rotation: np.ndarray) -> dict:
    """The arrays of the content turned by ``rotation`` [3, 3] (module docstring); float32 numpy out."""
    rot = np.asarray(rotation, dtype=np.float64)
    if rot.shape != (3, 3) or not np.allclose(rot @ rot.T, np.eye(3), atol=1e-6) or np.linalg.det(rot) < 0:
        raise ValueError("rotate_gaussians needs a proper rotation matrix [3, 3]")
    out = {k: np.array(v, dtype=np.float32, copy=True) for k, v in arrays.items()}
    out["means"] = (np.asarray(arrays["means"], dtype=np.float64) @ rot.T).astype(np.float32)
    rots = quat_to_rotmat(torch.nn.functional.normalize(torch.as_tensor(np.asarray(arrays["quats"]), dtype=torch.float64), dim=1))
    out["quats"] = _quats_of(torch.as_tensor(rot) @ rots).numpy().astype(np.float32)
    sh_n = np.asarray(arrays["shN"], dtype=np.float64)  # [N, K-1, 3]
    if sh_n.shape[1] > 0:
        degree = int(round(math.sqrt(sh_n.shape[1] + 1))) - 1
        a = sh_rotation(degree, torch.as_tensor(rot)).numpy()
        out["shN"] = np.einsum("ij,njc->nic", a, sh_n).astype(np.float32)
    return out


def scale_gaussians_axis(arrays: dict, axis: int, factor: float) -> dict:
    """The arrays with world axis ``axis`` scaled by ``factor`` > 0 (module docstring)."""
    if not factor > 0 or axis not in (0, 1, 2):
        raise ValueError(f"scale_gaussians_axis needs axis 0, 1 or 2 and a factor > 0, got {axis}, {factor}")
    s = np.ones(3)
    s[axis] = factor
    out = {k: np.array(v, dtype=np.float32, copy=True) for k, v in arrays.items()}
    out["means"] = (np.asarray(arrays["means"], dtype=np.float64) * s).astype(np.float32)
    rots = quat_to_rotmat(torch.nn.functional.normalize(torch.as_tensor(np.asarray(arrays["quats"]), dtype=torch.float64), dim=1))
    sc = torch.exp(torch.as_tensor(np.asarray(arrays["scales"]), dtype=torch.float64))
    cov = rots @ torch.diag_embed(sc.square()) @ rots.transpose(1, 2)
    smat = torch.diag(torch.as_tensor(s))
    cov = smat @ cov @ smat
    evals, evecs = torch.linalg.eigh(cov)
    det = torch.linalg.det(evecs)
    evecs[:, :, 2] = evecs[:, :, 2] * det.sign()[:, None]
    out["scales"] = (0.5 * torch.log(evals.clamp(min=1e-30))).numpy().astype(np.float32)
    out["quats"] = _quats_of(evecs).numpy().astype(np.float32)
    return out


def tiled_copies(arrays: dict, copies: int) -> dict:
    """``copies`` copies of splat ``arrays`` side by side along x, 1.1 × the whole x extent apart: a scene
    of a given size made of one real capture. The copies do not overlap (not even their stray tails), so a
    split between them leaves each copy whole and per-copy results compare with the capture's own."""
    x = np.asarray(arrays["means"])[:, 0]
    step = 1.1 * float(x.max() - x.min()) if len(x) else 0.0
    tiles = []
    for i in range(copies):
        t = {k: np.array(v, copy=True) for k, v in arrays.items()}
        t["means"][:, 0] += i * step
        tiles.append(t)
    return {k: np.concatenate([t[k] for t in tiles]) for k in arrays}
