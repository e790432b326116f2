"""Virtual cameras placed from the Gaussians alone (no photos, no poses): the views of the image-free path.

A splat file carries no cameras, no "up" and no hint of where people will stand. The fitting views
must therefore see every side a person can look from, and the score must come from views the codec
did not choose. This module derives both from the Gaussians.

1. **Robust frame** (:func:`scene_frame`), equivariant under rotations of the input: positions
   weighted by opacity; a first centre (the weighted geometric median) and the 90 % of the weight
   nearest to it give the principal axes (signed as below); the *core* is the Gaussians inside the weighted
   ``core_quantiles`` box along those axes (default 5–95 %), which drops far-away background shells and
   floaters. Centre = weighted median of the core along the axes; axes and spreads σ₁ ≥ σ₂ ≥ σ₃ = the
   weighted PCA of the core, each axis signed by the core's third moment along it (e₃ = e₁ × e₂). A
   rotated copy of a splat gets the rotated frame, so the same views relative to its content.
2. **Shape evidence** (:func:`choose_layout`): a *front* (a slab, σ_thin/σ_mid < ``slab_ratio``, with
   a far tail on one side of its thin axis: (q99 − q50)/(q50 − q1) > ``tail_ratio`` or its inverse —
   a forward-facing capture with its background), *tall* (σ₁/σ₂ > ``tall_ratio``) or compact; and
   whether the content *surrounds* its centre (a 360° scene: Gaussians far beyond the core in most
   directions, :func:`surrounds_centre`).
3. **Layout** of the fitting views (:func:`fitting_cameras`):

   | layout | views |
   |---|---|
   | ``auto`` (default) | ``sphere``, plus ``forward_extra_share`` × n extra views in the front's cone when the shape has a front (a weight on that side, never an exclusion), plus ``inside_extra_share`` × n views from the centre looking out when the content surrounds it |
   | ``sphere`` | Fibonacci directions over the whole sphere at two distances: ``far_share`` of the views from where the whole core is in view, the rest ``near_factor`` times as far (the content fills the frame, as when a viewer zooms in) but never inside it: at least ``near_clearance`` × r beyond the ``near_quantile`` of the opaque Gaussians along the view's axis; each view rolled about its axis by golden-angle steps (``fitting_roll``), so that what lies beyond the core reaches the wide side of the frame in some views, as in a viewer's window at any roll (without the rolls every view had e₁ along the short side, and content beyond the core along e₁ was cropped from all of them) |
   | ``forward`` | only the cone of ``forward_cone_deg`` around the thin axis on the side away from the tail (loses the back: only by request) |
   | ``orbit`` | only rings of ``orbit_elevations_deg`` around the longest axis (loses the poles: only by request) |

   The far distance is ``margin`` × r / sin(fov/2), r = the half diagonal of the core box. Until the
   fitting frusta hold ``coverage_target`` of the opacity-weighted Gaussians (:func:`frustum_coverage`),
   up to ``max_coverage_rounds`` rings of n/2 views are added, each twice as far as the last.
4. **Held-out views** (:func:`evaluation_cameras`): independent of the layout and of the fitting
   views: a Fibonacci sphere at the far and the near distance, turned by a seeded random rotation, each
   view with a random roll. They score every file (``compression/views.py``).
5. **Core check** (:func:`push_out_of_cores`): a camera whose centre lies inside a Gaussian's core
   (Mahalanobis distance < ``core_sigma`` of a Gaussian with opacity > ``core_min_opacity``) would
   see a wall of one colour; it is moved back along its viewing ray until it is free.

Conventions as ``scene.cameras``: OpenCV axes (x right, y down, z forward), K in pixels with the
principal point at the image centre.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch

from scene.transform import random_rotation

__all__ = ["FrameParams", "SceneFrame", "scene_frame", "choose_layout", "surrounds_centre", "view_directions",
           "look_at", "near_distances", "place_cameras", "fitting_cameras", "evaluation_cameras", "frustum_coverage",
           "push_out_of_cores", "LAYOUTS"]

LAYOUTS = ("auto", "sphere", "forward", "orbit")


@dataclass(frozen=True)
class FrameParams:
    """The placement's parameters (module docstring)."""

    core_quantiles: tuple[float, float] = (0.05, 0.95)
    start_share: float = 0.9
    slab_ratio: float = 0.65
    tail_ratio: float = 3.0
    tall_ratio: float = 1.5
    forward_cone_deg: float = 12.0
    orbit_elevations_deg: tuple[float, ...] = (-30.0, -10.0, 10.0, 30.0)
    margin: float = 1.05
    near_factor: float = 0.55
    near_clearance: float = 0.25
    near_quantile: float = 0.99
    far_share: float = 0.6
    forward_extra_share: float = 0.25
    inside_extra_share: float = 0.25
    surround_far_radius: float = 2.0
    surround_min_weight: float = 0.2
    surround_min_directions: float = 0.75
    coverage_target: float = 0.99
    max_coverage_rounds: int = 3
    core_sigma: float = 2.0
    core_min_opacity: float = 0.1
    fitting_roll: bool = True


@dataclass
class SceneFrame:
    """Robust centre, principal axes (columns of a rotation, by decreasing spread), spreads, the core box
    in frame coordinates ((x − centre) @ axes), the layout and the shape evidence."""

    centre: np.ndarray  # [3] float64
    axes: np.ndarray  # [3, 3] columns e1 (longest) .. e3 (thinnest), det +1
    spreads: np.ndarray  # [3] weighted standard deviations along the axes
    core_lo: np.ndarray  # [3] core box, frame coordinates
    core_hi: np.ndarray
    layout: str
    shape: str  # "forward" (a front), "orbit" (tall) or "sphere" (compact)
    forward_axis: np.ndarray  # [3] the front's viewing direction (towards the tail)
    surrounds: bool
    lateral_extent: tuple  # half-widths of the core along e1 and e2 (1–99 % of the core), shown along image x and y in the cone
    stats: dict = field(default_factory=dict)

    @property
    def radius(self) -> float:
        """Half the diagonal of the core box."""
        return 0.5 * float(np.linalg.norm(self.core_hi - self.core_lo))

    def to_world(self, v: np.ndarray) -> np.ndarray:
        """Frame-coordinate directions [..., 3] → world directions."""
        return np.asarray(v, dtype=np.float64) @ self.axes.T

    def describe(self) -> dict:
        """JSON-friendly summary (for the manifest and the logs)."""
        return {"layout": self.layout, "shape": self.shape, "surrounds": bool(self.surrounds),
                "centre": [round(float(v), 6) for v in self.centre],
                "spreads": [round(float(v), 6) for v in self.spreads], **self.stats}


def _weighted_quantile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    order = np.argsort(values, kind="stable")
    cum = np.cumsum(weights[order])
    cum /= cum[-1]
    return float(values[order][min(int(np.searchsorted(cum, q)), len(values) - 1)])


def choose_layout(spreads: np.ndarray, tail_low: float, tail_high: float, params: FrameParams) -> tuple[str, int]:
    """``(shape, sign)`` from the spreads (σ₁ ≥ σ₂ ≥ σ₃) and the thin axis' tails (q50 − q1, q99 − q50):
    ``forward`` (a front), ``orbit`` (tall) or ``sphere`` (compact).

    ``sign`` (forward only): +1 when the front's cameras look along +e3 (the tail is on the + side), else −1.
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


def _weighted_pca(d: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    cov = (d * w[:, None]).T @ d / w.sum()
    evals, evecs = np.linalg.eigh(cov)
    order = np.argsort(evals)[::-1]
    return np.sqrt(np.clip(evals[order], 0.0, None)), evecs[:, order]


def _geometric_median(x: np.ndarray, w: np.ndarray, iterations: int = 50) -> np.ndarray:
    """Weighted geometric median (Weiszfeld's iterations from the weighted mean): robust to floaters and,
    unlike a coordinate-wise median, turned with the content."""
    c = (x * w[:, None]).sum(axis=0) / w.sum()
    for _ in range(iterations):
        r = np.maximum(np.linalg.norm(x - c, axis=1), 1e-12)
        k = w / r
        c_next = (x * k[:, None]).sum(axis=0) / k.sum()
        if np.linalg.norm(c_next - c) <= 1e-9 * (1.0 + np.linalg.norm(c)):
            return c_next
        c = c_next
    return c


def _signed_axes(axes: np.ndarray, d: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Axes signed by the third moment of ``d`` along them (rotation-equivariant); e3 = e1 × e2."""
    axes = axes.copy()
    for k in range(2):
        t = d @ axes[:, k]
        m3 = float((w * t ** 3).sum() / w.sum())
        scale = float((w * t * t).sum() / w.sum()) ** 1.5
        if abs(m3) > 1e-6 * max(scale, 1e-30):  # above float noise: the sign turns with the content
            if m3 < 0:
                axes[:, k] = -axes[:, k]
        elif axes[np.argmax(np.abs(axes[:, k])), k] < 0:  # symmetric: any sign; a fixed one
            axes[:, k] = -axes[:, k]
    axes[:, 2] = np.cross(axes[:, 0], axes[:, 1])
    return axes


def surrounds_centre(x: np.ndarray, w: np.ndarray, centre: np.ndarray, params: FrameParams = FrameParams(),
                     n_bins: int = 32) -> bool:
    """Whether the content surrounds ``centre`` (a room, a street, seen from inside): the Gaussians
    farther than ``surround_far_radius`` × the weighted 20 % quantile of the distances hold at least
    ``surround_min_weight`` of the opacity and come from at least ``surround_min_directions`` of
    ``n_bins`` Fibonacci direction bins (each bin with at least 1/(4·n_bins) of their weight), with their
    median distance at least twice their threshold (a gap: not a solid blob). Statues,
    objects and forward-facing captures reach 25–45 % of the bins (the captures of ../shared/data); a
    room around an object all of them. An empty room with nothing near its centre is not detected."""
    d = x - centre
    r = np.linalg.norm(d, axis=1)
    inner = _weighted_quantile(r, w, 0.2)
    far = r > params.surround_far_radius * inner
    if w[far].sum() < params.surround_min_weight * w.sum() or far.sum() < n_bins:
        return False
    if _weighted_quantile(r[far], w[far], 0.5) < 2.0 * params.surround_far_radius * inner:
        return False  # no gap between the inner content and the outer one: a solid blob, not a room
    bins = np.argmax((d[far] / np.maximum(r[far, None], 1e-30)) @ _fibonacci_sphere(n_bins).T, axis=1)
    share = np.bincount(bins, weights=w[far], minlength=n_bins) / w[far].sum()
    return bool((share >= 1.0 / (4 * n_bins)).mean() >= params.surround_min_directions)


def scene_frame(means: np.ndarray, opacities: np.ndarray, params: FrameParams = FrameParams(),
                layout: str = "auto") -> SceneFrame:
    """The robust frame of Gaussians at ``means`` [N, 3] with activated ``opacities`` [N] (module docstring)."""
    if layout not in LAYOUTS:
        raise ValueError(f"unknown view layout {layout!r}; choose one of {', '.join(LAYOUTS)}")
    x = np.asarray(means, dtype=np.float64)
    w = np.clip(np.asarray(opacities, dtype=np.float64), 1e-6, None)
    if x.ndim != 2 or x.shape[1] != 3 or len(x) == 0:
        raise ValueError(f"virtual cameras need Gaussian positions [N, 3] with N >= 1, got {list(x.shape)}")
    # start: the weighted geometric median, the nearest start_share of the weight -> axes
    c0 = _geometric_median(x, w)
    r0 = np.linalg.norm(x - c0, axis=1)
    near = r0 <= _weighted_quantile(r0, w, params.start_share)
    if near.sum() < 4:
        near = np.ones(len(x), dtype=bool)
    _, axes0 = _weighted_pca(x[near] - c0, w[near])
    axes0 = _signed_axes(axes0, x[near] - c0, w[near])
    # core box along those axes, centre = median of the core along them, final PCA of the core
    y = (x - c0) @ axes0
    qlo, qhi = params.core_quantiles
    lo = np.array([_weighted_quantile(y[:, k], w, qlo) for k in range(3)])
    hi = np.array([_weighted_quantile(y[:, k], w, qhi) for k in range(3)])
    core = np.all((y >= lo) & (y <= hi), axis=1)
    if core.sum() < 4:
        core = np.ones(len(x), dtype=bool)
    yc, wc = y[core], w[core]
    centre = c0 + axes0 @ np.array([_weighted_quantile(yc[:, k], wc, 0.5) for k in range(3)])
    d = x[core] - centre
    spreads, axes = _weighted_pca(d, wc)
    axes = _signed_axes(axes, d, wc)
    yc = d @ axes
    core_lo = np.array([float(yc[:, k].min()) for k in range(3)])
    core_hi = np.array([float(yc[:, k].max()) for k in range(3)])
    thin = axes[:, 2]
    t = (x - centre) @ thin
    q1, q50, q99 = (_weighted_quantile(t, w, q) for q in (0.01, 0.5, 0.99))
    shape, sign = choose_layout(spreads, q50 - q1, q99 - q50, params)
    if shape != "forward":  # the cone (when asked for) looks towards the longer tail
        sign = 1 if (q99 - q50) >= (q50 - q1) else -1
    lateral_extent = tuple(max(abs(_weighted_quantile(yc[:, k], wc, 0.01)), abs(_weighted_quantile(yc[:, k], wc, 0.99)))
                           for k in (0, 1))
    surrounds = surrounds_centre(x, w, centre, params)
    stats = {"slab_ratio": float(spreads[2] / spreads[1]) if spreads[1] > 0 else 0.0,
             "tall_ratio": float(spreads[0] / spreads[1]) if spreads[1] > 0 else 0.0,
             "tail_ratio": float((q99 - q50) / (q50 - q1)) if q50 > q1 else float("inf"),
             "core_fraction": float(core.mean())}
    return SceneFrame(centre=centre, axes=axes, spreads=spreads, core_lo=core_lo, core_hi=core_hi, layout=layout,
                      shape=shape, forward_axis=thin * sign, surrounds=surrounds,
                      lateral_extent=(float(lateral_extent[0]), float(lateral_extent[1])), stats=stats)


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


def view_directions(frame: SceneFrame, n: int, params: FrameParams = FrameParams(), phase: float = 0.5,
                    layout: str | None = None) -> np.ndarray:
    """[n, 3] unit viewing directions (camera → centre, world axes) of ``layout`` (default the frame's;
    ``auto`` gives the sphere); ``phase`` in (0, 1) shifts the pattern."""
    layout = layout or frame.layout
    if n < 1:
        return np.zeros((0, 3))
    if layout == "forward":
        a = frame.forward_axis / np.linalg.norm(frame.forward_axis)
        u, v = frame.axes[:, 0], frame.axes[:, 1]
        # a sunflower disc of directions within the cone around the viewing axis
        k = np.arange(n, dtype=np.float64) + phase
        rad = math.radians(params.forward_cone_deg) * np.sqrt(k / n)
        phi = math.pi * (3.0 - math.sqrt(5.0)) * k
        dirs = a[None] * np.cos(rad)[:, None] + np.sin(rad)[:, None] * (np.cos(phi)[:, None] * u + np.sin(phi)[:, None] * v)
    elif layout == "orbit":
        a, u, v = frame.axes[:, 0], frame.axes[:, 1], frame.axes[:, 2]
        elev = np.radians(np.asarray(params.orbit_elevations_deg, dtype=np.float64))
        k = np.arange(n, dtype=np.float64)
        e = elev[(np.arange(n) % len(elev))]
        az = 2.0 * math.pi * (k + phase) / n
        # the camera sits at elevation e above the ring; it looks towards the centre (inwards, slightly down/up)
        outward = np.cos(az)[:, None] * u + np.sin(az)[:, None] * v
        dirs = -(np.cos(e)[:, None] * outward + np.sin(e)[:, None] * a[None])
    else:
        dirs = -frame.to_world(_fibonacci_sphere(n, phase))
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


def _intrinsics(width: int, height: int, fov_x_deg: float) -> tuple[np.ndarray, float, float]:
    """(K, fov_x, fov_min) in radians."""
    fov_x = math.radians(fov_x_deg)
    fx = width / (2.0 * math.tan(fov_x / 2.0))
    fov_min = 2.0 * math.atan(min(width, height) / (2.0 * fx))
    return np.array([[fx, 0.0, width / 2.0], [0.0, fx, height / 2.0], [0.0, 0.0, 1.0]]), fov_x, fov_min


def far_distance(frame: SceneFrame, fov_min: float, params: FrameParams = FrameParams()) -> float:
    """Distance from the centre at which the whole core (its bounding sphere) is in view."""
    return params.margin * max(frame.radius, 1e-6) / math.sin(fov_min / 2.0)


def near_distances(frame: SceneFrame, dirs: np.ndarray, base: float, means: np.ndarray | None,
                   opacities: np.ndarray | None, params: FrameParams = FrameParams()) -> np.ndarray:
    """[n] distances of near cameras looking along ``dirs`` (camera → centre): ``base``, or farther where the
    content reaches out towards the camera: ``near_clearance`` × r beyond the ``near_quantile`` of the
    Gaussians (opacity > ``core_min_opacity``) along −d, so that a near view is not taken from inside it."""
    out = np.full(len(dirs), float(base))
    if means is None or len(dirs) == 0:
        return out
    x = np.asarray(means, dtype=np.float64)
    if opacities is not None:
        x = x[np.asarray(opacities) > params.core_min_opacity]
    if len(x) == 0:
        return out
    reach = np.quantile((x - frame.centre) @ (-np.asarray(dirs, dtype=np.float64)).T, params.near_quantile, axis=0)
    return np.maximum(out, reach + params.near_clearance * frame.radius)


def _cams_at(frame: SceneFrame, dirs: np.ndarray, dist, k: np.ndarray, up: np.ndarray,
             rolls: np.ndarray | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    cams = []
    dists = np.broadcast_to(np.asarray(dist, dtype=np.float64), (len(dirs),))
    for i, d in enumerate(dirs):
        dist = float(dists[i])
        # along the up axis: the frame axis least aligned with the view instead (turns with the content)
        hint = up if abs(float(up @ d)) < 0.95 else frame.axes[:, int(np.argmin(np.abs(frame.axes.T @ d)))]
        if rolls is not None:  # turn the up hint about the viewing axis
            a, c, s = d / np.linalg.norm(d), math.cos(rolls[i]), math.sin(rolls[i])
            hint = hint * c + np.cross(a, hint) * s + a * float(a @ hint) * (1.0 - c)
        cams.append((look_at(frame.centre - dist * d, d, hint), k.copy()))
    return cams


def place_cameras(frame: SceneFrame, n: int, width: int, height: int, fov_x_deg: float = 60.0,
                  params: FrameParams = FrameParams(), phase: float = 0.5, layout: str | None = None,
                  means: np.ndarray | None = None, opacities: np.ndarray | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """``n`` cameras ``(world_to_camera [4,4], K [3,3])`` (float64) of one layout (default the frame's),
    looking at the frame's centre. ``sphere``/``auto``: ``far_share`` of them at the far distance, the
    rest at ``near_factor`` times it, pushed out of the content (:func:`near_distances`, with ``means`` and
    ``opacities``); no extra views (:func:`fitting_cameras` adds them)."""
    layout = layout or frame.layout
    k, fov_x, fov_min = _intrinsics(width, height, fov_x_deg)
    far = far_distance(frame, fov_min, params)
    if layout == "forward":
        fov_y = 2.0 * math.atan(height / (2.0 * k[0, 0]))
        dist = params.margin * max(frame.lateral_extent[0] / math.tan(fov_x / 2.0),
                                   frame.lateral_extent[1] / math.tan(fov_y / 2.0), 1e-6)
        return _cams_at(frame, view_directions(frame, n, params, phase, "forward"), dist, k, frame.axes[:, 1])
    if layout == "orbit":
        return _cams_at(frame, view_directions(frame, n, params, phase, "orbit"), far, k, frame.axes[:, 0])
    n_far = max(1, int(round(params.far_share * n))) if n > 1 else n
    n_near = n - n_far
    cams = _cams_at(frame, view_directions(frame, n_far, params, phase, "sphere"), far, k, frame.axes[:, 0],
                    golden_rolls(n_far) if params.fitting_roll else None)
    if n_near:  # the near set turned by half the golden angle about e1: other directions than the far set
        turn = math.pi * (3.0 - math.sqrt(5.0)) / 2.0
        c, s = math.cos(turn), math.sin(turn)
        rot = np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])
        dirs = -frame.to_world(_fibonacci_sphere(n_near, phase) @ rot.T)
        cams += _cams_at(frame, dirs, near_distances(frame, dirs, params.near_factor * far, means, opacities, params), k,
                         frame.axes[:, 0], golden_rolls(n_near, n_far) if params.fitting_roll else None)
    return cams


def golden_rolls(n: int, start: int = 0) -> np.ndarray:
    """[n] roll angles of views ``start`` … ``start + n − 1``: steps of the golden angle, so that the rolls of
    any run of views spread evenly over the half turn that tells a landscape frame's orientations apart."""
    return np.mod((np.arange(n) + start) * math.pi * (3.0 - math.sqrt(5.0)), 2.0 * math.pi)


def _inside_cameras(frame: SceneFrame, n: int, k: np.ndarray, phase: float) -> list[tuple[np.ndarray, np.ndarray]]:
    """``n`` cameras at the centre looking outward (Fibonacci directions)."""
    cams = []
    up = frame.axes[:, 0]
    for d in frame.to_world(_fibonacci_sphere(n, phase)):
        hint = up if abs(float(up @ d)) < 0.95 else frame.axes[:, int(np.argmin(np.abs(frame.axes.T @ d)))]
        cams.append((look_at(frame.centre, d, hint), k.copy()))
    return cams


def frustum_coverage(means: np.ndarray, opacities: np.ndarray, cams: list, width: int, height: int,
                     near: float = 1e-6) -> tuple[float, np.ndarray]:
    """(opacity-weighted share of the Gaussians whose centre lies in front of at least one camera and
    projects inside its image, the [N] bool mask of those)."""
    x = np.asarray(means, dtype=np.float64)
    w = np.clip(np.asarray(opacities, dtype=np.float64), 0.0, None)
    seen = np.zeros(len(x), dtype=bool)
    for w2c, k in cams:
        p = x @ w2c[:3, :3].T + w2c[:3, 3]
        z = p[:, 2]
        zs = np.maximum(z, 1e-12)
        u = k[0, 0] * p[:, 0] / zs + k[0, 2]
        v = k[1, 1] * p[:, 1] / zs + k[1, 2]
        seen |= (z > near) & (u >= 0) & (u < width) & (v >= 0) & (v < height)
    total = float(w.sum())
    return (float(w[seen].sum()) / total if total > 0 else 1.0), seen


def fitting_cameras(frame: SceneFrame, n: int, width: int, height: int, means: np.ndarray, opacities: np.ndarray,
                    fov_x_deg: float = 60.0, params: FrameParams = FrameParams()) -> tuple[list, dict]:
    """The fitting cameras of the frame's layout (module docstring, step 3) and what was added:
    ``{"n_front", "n_inside", "n_coverage", "coverage"}`` (coverage: :func:`frustum_coverage`)."""
    k, _, fov_min = _intrinsics(width, height, fov_x_deg)
    cams = place_cameras(frame, n, width, height, fov_x_deg, params, phase=0.5, means=means, opacities=opacities)
    info = {"n_front": 0, "n_inside": 0, "n_coverage": 0}
    if frame.layout == "auto":
        if frame.shape == "forward":
            extra = max(1, int(round(params.forward_extra_share * n)))
            cams += place_cameras(frame, extra, width, height, fov_x_deg, params, phase=0.5, layout="forward")
            info["n_front"] = extra
        if frame.surrounds:
            extra = max(1, int(round(params.inside_extra_share * n)))
            cams += _inside_cameras(frame, extra, k, phase=0.25)
            info["n_inside"] = extra
    coverage, _ = frustum_coverage(means, opacities, cams, width, height)
    if frame.layout in ("auto", "sphere"):
        dist = far_distance(frame, fov_min, params)
        for r in range(params.max_coverage_rounds):
            if coverage >= params.coverage_target:
                break
            dist *= 2.0
            extra = max(1, n // 2)
            cams += _cams_at(frame, view_directions(frame, extra, params, 0.25 + 0.25 * r, "sphere"), dist, k,
                             frame.axes[:, 0], golden_rolls(extra, len(cams)) if params.fitting_roll else None)
            info["n_coverage"] += extra
            coverage, _ = frustum_coverage(means, opacities, cams, width, height)
    info["coverage"] = coverage
    return cams, info


def evaluation_cameras(frame: SceneFrame, n: int, width: int, height: int, fov_x_deg: float = 60.0,
                       params: FrameParams = FrameParams(), seed: int = 0, means: np.ndarray | None = None,
                       opacities: np.ndarray | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """``n`` held-out cameras independent of the layout (module docstring, step 4): ⌈n/2⌉ on a Fibonacci
    sphere at the far distance and the rest at ``near_factor`` times it (outside the content: :func:`near_distances`
    with ``means`` and ``opacities``), the pattern turned by a random rotation (seeded) in the frame's axes,
    each view with a random roll."""
    rng = np.random.default_rng(int(seed))
    k, _, fov_min = _intrinsics(width, height, fov_x_deg)
    far = far_distance(frame, fov_min, params)
    n_far = (n + 1) // 2
    cams = []
    for count, near in ((n_far, False), (n - n_far, True)):
        if count < 1:
            continue
        dirs = -frame.to_world(_fibonacci_sphere(count) @ random_rotation(rng).T)
        rolls = rng.uniform(0.0, 2.0 * math.pi, size=count)
        dist = near_distances(frame, dirs, params.near_factor * far, means, opacities, params) if near else far
        cams += _cams_at(frame, dirs, dist, k, frame.axes[:, 0], rolls)
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
