"""Virtual cameras placed from the Gaussians alone (no photos, no poses): the views of the image-free path.

A splat file carries no cameras. To compress it like a trained scene we need views that see what a
viewer of the capture would see; this module derives them from the Gaussians in three steps.

1. **Robust frame** (:func:`scene_frame`). Positions weighted by opacity; the *core* is the
   Gaussians inside the weighted ``core_quantiles`` box (default 5–95 % per axis), which drops
   far-away background shells and floaters. Centre = weighted median of the core; principal axes
   and spreads σ₁ ≥ σ₂ ≥ σ₃ = weighted PCA of the core.
2. **Layout** (from the shape, :func:`choose_layout`):

   | layout | when | views |
   |---|---|---|
   | ``forward`` | a slab (σ_thin/σ_mid < ``slab_ratio``) with a far tail on one side of the thin axis ((q99 − q50)/(q50 − q1) > ``tail_ratio``, or its inverse) | a cone of ``forward_cone_deg`` around the thin axis, on the side *away* from the tail (the tail is the far background), looking at the centre from the distance at which the core's extent across the view (its 1–99 % quantiles) fills the field of view (longest axis along the image's width) |
   | ``orbit`` | one axis clearly longest (σ₁/σ₂ > ``tall_ratio``: statues, people, trees) | a ring of elevations ``orbit_elevations_deg`` around that axis (both signs: the up direction of the file is unknown) |
   | ``sphere`` | otherwise (compact objects: the donut) | Fibonacci directions over the whole sphere |

   Orbit and sphere cameras stand at ``margin`` × r / sin(fov/2) from the centre, r = the half
   diagonal of the core box, so the core fills the view.
3. **Core check** (:func:`push_out_of_cores`): a camera whose centre lies inside a Gaussian's core
   (Mahalanobis distance < ``core_sigma`` of a Gaussian with opacity > ``core_min_opacity``) would
   see a wall of one colour; it is moved back along its viewing ray until it is free.

Where it fails: a forward-facing capture without a far background (no tail) is treated as an
object and also seen from behind; a 360° scene whose background Gaussians outnumber the central
content makes the core the background and the orbit too wide; an orbit around the wrong axis
when a scene is long but viewed from its side. ``--views`` on compress.py overrides the layout.

Conventions as ``scene.cameras``: OpenCV axes (x right, y down, z forward), K in pixels with the
principal point at the image centre.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch

__all__ = ["FrameParams", "SceneFrame", "scene_frame", "choose_layout", "view_directions", "look_at",
           "place_cameras", "push_out_of_cores", "LAYOUTS"]

LAYOUTS = ("auto", "forward", "orbit", "sphere")


@dataclass(frozen=True)
class FrameParams:
    """The heuristic's parameters (module docstring)."""

    core_quantiles: tuple[float, float] = (0.05, 0.95)
    slab_ratio: float = 0.65
    tail_ratio: float = 3.0
    tall_ratio: float = 1.5
    forward_cone_deg: float = 12.0
    orbit_elevations_deg: tuple[float, ...] = (-30.0, -10.0, 10.0, 30.0)
    margin: float = 1.05
    core_sigma: float = 2.0
    core_min_opacity: float = 0.1


@dataclass
class SceneFrame:
    """Robust centre, principal axes (columns, by decreasing spread), spreads and the layout."""

    centre: np.ndarray  # [3] float64
    axes: np.ndarray  # [3, 3] columns e1 (longest) .. e3 (thinnest)
    spreads: np.ndarray  # [3] weighted standard deviations along the axes
    core_lo: np.ndarray  # [3] core box (world axes)
    core_hi: np.ndarray
    layout: str
    view_axis: np.ndarray  # [3]: forward: the viewing direction; orbit: the axis orbited; sphere: e1
    lateral_extent: tuple  # forward: half-widths of the core along e1 and e2 (1–99 % of the core), shown along image x and y
    stats: dict = field(default_factory=dict)

    def describe(self) -> dict:
        """JSON-friendly summary (for the manifest and the logs)."""
        return {"layout": self.layout, "centre": [round(float(v), 6) for v in self.centre],
                "view_axis": [round(float(v), 6) for v in self.view_axis],
                "spreads": [round(float(v), 6) for v in self.spreads], **self.stats}


def _weighted_quantile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    order = np.argsort(values, kind="stable")
    cum = np.cumsum(weights[order])
    cum /= cum[-1]
    return float(values[order][min(int(np.searchsorted(cum, q)), len(values) - 1)])


def choose_layout(spreads: np.ndarray, tail_low: float, tail_high: float, params: FrameParams) -> tuple[str, int]:
    """``(layout, sign)`` from the spreads (σ₁ ≥ σ₂ ≥ σ₃) and the thin axis' tails (q50 − q1, q99 − q50).

    ``sign`` (forward only): +1 when the cameras look along +e3 (the tail is on the + side), else −1.
    """
    s1, s2, s3 = (float(v) for v in spreads)
    if s2 > 0 and s3 / s2 < params.slab_ratio and tail_low > 0 and tail_high > 0:
        if tail_high / tail_low > params.tail_ratio:
            return "forward", 1
        if tail_low / tail_high > params.tail_ratio:
            return "forward", -1
    if s2 > 0 and s1 / s2 > params.tall_ratio:
        return "orbit", 1
    return "sphere", 1


def scene_frame(means: np.ndarray, opacities: np.ndarray, params: FrameParams = FrameParams(),
                layout: str = "auto") -> SceneFrame:
    """The robust frame of Gaussians at ``means`` [N, 3] with activated ``opacities`` [N] (module docstring)."""
    if layout not in LAYOUTS:
        raise ValueError(f"unknown view layout {layout!r}; choose one of {', '.join(LAYOUTS)}")
    x = np.asarray(means, dtype=np.float64)
    w = np.clip(np.asarray(opacities, dtype=np.float64), 1e-6, None)
    if x.ndim != 2 or x.shape[1] != 3 or len(x) == 0:
        raise ValueError(f"virtual cameras need Gaussian positions [N, 3] with N >= 1, got {list(x.shape)}")
    qlo, qhi = params.core_quantiles
    lo = np.array([_weighted_quantile(x[:, k], w, qlo) for k in range(3)])
    hi = np.array([_weighted_quantile(x[:, k], w, qhi) for k in range(3)])
    core = np.all((x >= lo) & (x <= hi), axis=1)
    if core.sum() < 4:
        core = np.ones(len(x), dtype=bool)
    xc, wc = x[core], w[core]
    centre = np.array([_weighted_quantile(xc[:, k], wc, 0.5) for k in range(3)])
    d = xc - centre
    cov = (d * wc[:, None]).T @ d / wc.sum()
    evals, evecs = np.linalg.eigh(cov)
    order = np.argsort(evals)[::-1]
    spreads = np.sqrt(np.clip(evals[order], 0.0, None))
    axes = evecs[:, order]
    # deterministic signs: the largest component of each axis is positive
    for k in range(3):
        if axes[np.argmax(np.abs(axes[:, k])), k] < 0:
            axes[:, k] = -axes[:, k]
    thin = axes[:, 2]
    t = (x - centre) @ thin
    q1, q50, q99 = (_weighted_quantile(t, w, q) for q in (0.01, 0.5, 0.99))
    auto_layout, sign = choose_layout(spreads, q50 - q1, q99 - q50, params)
    chosen = auto_layout if layout == "auto" else layout
    if chosen == "forward" and auto_layout != "forward":  # forced: look towards the longer tail
        sign = 1 if (q99 - q50) >= (q50 - q1) else -1
    view_axis = thin * sign if chosen == "forward" else axes[:, 0]
    # forward: half-widths of the core along the two axes across the view (e1 → image x, e2 → image y)
    lateral_extent = tuple(max(abs(_weighted_quantile(v, wc, 0.01)), abs(_weighted_quantile(v, wc, 0.99)))
                           for v in ((xc - centre) @ axes[:, 0], (xc - centre) @ axes[:, 1]))
    stats = {"slab_ratio": float(spreads[2] / spreads[1]) if spreads[1] > 0 else 0.0,
             "tall_ratio": float(spreads[0] / spreads[1]) if spreads[1] > 0 else 0.0,
             "tail_ratio": float((q99 - q50) / (q50 - q1)) if q50 > q1 else float("inf"),
             "core_fraction": float(core.mean()), "auto_layout": auto_layout}
    return SceneFrame(centre=centre, axes=axes, spreads=spreads, core_lo=lo, core_hi=hi, layout=chosen,
                      view_axis=view_axis, lateral_extent=(float(lateral_extent[0]), float(lateral_extent[1])),
                      stats=stats)


def _fibonacci_sphere(n: int, offset: float = 0.5) -> np.ndarray:
    k = np.arange(n, dtype=np.float64) + offset
    z = 1.0 - 2.0 * k / n
    r = np.sqrt(np.clip(1.0 - z * z, 0.0, None))
    phi = math.pi * (3.0 - math.sqrt(5.0)) * k
    return np.stack([r * np.cos(phi), r * np.sin(phi), z], axis=1)


def _basis(axis: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two unit vectors orthogonal to ``axis`` and to each other (deterministic)."""
    helper = np.array([1.0, 0.0, 0.0]) if abs(axis[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    u = np.cross(axis, helper)
    u /= np.linalg.norm(u)
    return u, np.cross(axis, u)


def view_directions(frame: SceneFrame, n: int, params: FrameParams = FrameParams(), phase: float = 0.5) -> np.ndarray:
    """[n, 3] unit viewing directions (camera → centre) of the frame's layout; ``phase`` in (0, 1)
    shifts the pattern so that two calls (fitting and held-out views) give disjoint directions."""
    if n < 1:
        return np.zeros((0, 3))
    a = frame.view_axis / np.linalg.norm(frame.view_axis)
    u, v = _basis(a)
    if frame.layout == "forward":
        # a sunflower disc of directions within the cone around the viewing axis
        k = np.arange(n, dtype=np.float64) + phase
        rad = math.radians(params.forward_cone_deg) * np.sqrt(k / n)
        phi = math.pi * (3.0 - math.sqrt(5.0)) * k
        dirs = a[None] * np.cos(rad)[:, None] + np.sin(rad)[:, None] * (np.cos(phi)[:, None] * u + np.sin(phi)[:, None] * v)
    elif frame.layout == "orbit":
        elev = np.radians(np.asarray(params.orbit_elevations_deg, dtype=np.float64))
        k = np.arange(n, dtype=np.float64)
        e = elev[(np.arange(n) % len(elev))]
        az = 2.0 * math.pi * (k + phase) / n
        # the camera sits at elevation e above the ring; it looks towards the centre (inwards, slightly down/up)
        outward = np.cos(az)[:, None] * u + np.sin(az)[:, None] * v
        dirs = -(np.cos(e)[:, None] * outward + np.sin(e)[:, None] * a[None])
    else:
        dirs = -_fibonacci_sphere(n, phase)
    return dirs / np.linalg.norm(dirs, axis=1, keepdims=True)


def look_at(position: np.ndarray, forward: np.ndarray, up_hint: np.ndarray) -> np.ndarray:
    """[4, 4] world→camera (OpenCV: x right, y down, z = ``forward``) of a camera at ``position``."""
    z = forward / np.linalg.norm(forward)
    down = -(up_hint - z * float(up_hint @ z))
    if np.linalg.norm(down) < 1e-6:
        down = -_basis(z)[0]
    y = down / np.linalg.norm(down)
    x = np.cross(y, z)
    rot = np.stack([x, y, z], axis=0)
    w2c = np.eye(4)
    w2c[:3, :3] = rot
    w2c[:3, 3] = -rot @ position
    return w2c


def place_cameras(frame: SceneFrame, n: int, width: int, height: int, fov_x_deg: float = 60.0,
                  params: FrameParams = FrameParams(), phase: float = 0.5) -> list[tuple[np.ndarray, np.ndarray]]:
    """``n`` cameras ``(world_to_camera [4,4], K [3,3])`` (float64) looking at the frame's centre."""
    fov_x = math.radians(fov_x_deg)
    fx = width / (2.0 * math.tan(fov_x / 2.0))
    fov_min = 2.0 * math.atan(min(width, height) / (2.0 * fx))
    k = np.array([[fx, 0.0, width / 2.0], [0.0, fx, height / 2.0], [0.0, 0.0, 1.0]])
    if frame.layout == "forward":
        fov_y = 2.0 * math.atan(height / (2.0 * fx))
        dist = params.margin * max(frame.lateral_extent[0] / math.tan(fov_x / 2.0),
                                   frame.lateral_extent[1] / math.tan(fov_y / 2.0), 1e-6)
    else:
        radius = 0.5 * float(np.linalg.norm(frame.core_hi - frame.core_lo))
        dist = params.margin * max(radius, 1e-6) / math.sin(fov_min / 2.0)
    up = frame.axes[:, 1] if frame.layout == "forward" else frame.view_axis
    cams = []
    for d in view_directions(frame, n, params, phase):
        hint = up if abs(float(up @ d)) < 0.95 else _basis(d)[0]
        cams.append((look_at(frame.centre - dist * d, d, hint), k.copy()))
    return cams


def push_out_of_cores(cams: list[tuple[np.ndarray, np.ndarray]], frame: SceneFrame, means: torch.Tensor, quats_wxyz: torch.Tensor,
                      log_scales: torch.Tensor, opacities: torch.Tensor, params: FrameParams = FrameParams(),
                      step: float = 0.1, max_steps: int = 20) -> tuple[list[tuple[np.ndarray, np.ndarray]], int]:
    """Move every camera whose centre lies inside a Gaussian's core back along its ray (by ``step`` ×
    its distance to the frame's centre per try, at most ``max_steps`` tries). Returns the cameras and how many were moved."""
    from utils.rotations import quat_to_rotmat

    keep = opacities.detach() > params.core_min_opacity
    mu = means.detach()[keep].to(torch.float64)
    rot = quat_to_rotmat(torch.nn.functional.normalize(quats_wxyz.detach()[keep], dim=1)).to(torch.float64)
    inv_s = torch.exp(-log_scales.detach()[keep].to(torch.float64))

    def inside(c: np.ndarray) -> bool:
        d = torch.as_tensor(c, dtype=torch.float64, device=mu.device) - mu
        local = torch.einsum("nji,nj->ni", rot, d) * inv_s  # Rᵀ d / s
        return bool((local.square().sum(dim=1) < params.core_sigma ** 2).any())

    out, moved = [], 0
    for w2c, k in cams:
        rotc, t = w2c[:3, :3], w2c[:3, 3]
        centre = -rotc.T @ t
        forward = rotc[2]
        tries = 0
        dist0 = max(float(np.linalg.norm(centre - frame.centre)), 1e-6)
        while tries < max_steps and len(mu) and inside(centre):
            centre = centre - forward * step * dist0
            tries += 1
        if tries:
            moved += 1
            w2c = w2c.copy()
            w2c[:3, 3] = -rotc @ centre
        out.append((w2c, k))
    return out, moved
