"""The built-in default scene: a small textured room corner rendered by an analytic ray caster.

Content (z up, all inside the NeRF-synthetic cube [-1.3, 1.3]³): a ground square and a back
wall (``y = 1.2``), two boxes and three spheres, textured with photographs that scikit-image
ships inside its wheel (astronaut, coffee, chelsea, rocket, immunohistochemistry; brick and grass
tinted). Shading is Lambertian with one directional light, an ambient term and hard shadows.
The images are rendered here by intersecting rays with the primitives analytically (numpy,
``supersample``² rays per pixel), not by a Gaussian renderer, so fitting Gaussians to them is
real work. Everything is deterministic for a seed: the seed jitters the layout, the texture
placement, the camera orbit and the point sample.

Cameras: ``n_views`` views on an arc of 200° in front of the wall, radius ≈ 3.6, elevation
≈ 13–37°, all looking at the scene centre; square images of ``size`` pixels with a horizontal
field of view of 45° and the principal point at the image centre.

Names and split: view k is ``view_{k:03d}``. Views with k mod 8 = 0 are the test views, the rest
train. The Blender format lists exactly those in ``transforms_test.json`` / ``transforms_train.json``
(images under ``test/`` and ``train/``); the COLMAP format keeps all images in ``images/`` and
its ``--eval`` rule (sorted by name, every 8th from index 0 is test) picks the same views. So both
formats of one seed load into the same train/test cameras; ``n_views`` must be a multiple of 8.

Formats:
- ``blender``: ``transforms_{train,test}.json`` (NeRF convention: camera-to-world with OpenGL axes,
  ``camera_angle_x``) + RGBA PNGs (alpha 0 where no surface is hit); no ``points3d.ply``, so the
  loader starts from random points, as for NeRF-synthetic scenes.
- ``colmap``: ``sparse/0/{cameras,images,points3D}.bin`` (one PINHOLE camera, tracks and 2-D
  observations included; ``.txt`` too with ``write_text``) + ``images/*.png`` composited on black
  with the loader's own compositing, so they equal the Blender images loaded without ``-w``.
  The points are sampled on the visible surfaces, coloured by the shaded texture, kept when seen
  by ≥ 2 views, then jittered by 2 mm of noise (their ``error`` is the mean reprojection error).
- both write ``demo_scene.json`` with the generator settings.
"""

from __future__ import annotations

import json
import logging
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from scene.cameras import focal_from_fov, intrinsics_matrix
from scene.colmap_io import ColmapCamera, ColmapImage, ColmapPoints, rotmat_to_qvec, write_model
from scene.dataset_readers import LLFF_HOLD, composite_on_background

logger = logging.getLogger(__name__)

DEMO_FORMAT_VERSION = 1
FOV_X_DEG = 45.0
EPS = 1e-6
NO_HIT = np.inf
AMBIENT = 0.35
DIFFUSE = 0.65


# --------------------------------------------------------------------------- textures


@dataclass
class Texture:
    """Float32 RGB image [h, w, 3] in [0, 1] sampled bilinearly with wrap-around;
    (u, v) ∈ [0, 1)² covers the image ``repeat`` times (u → columns, v → rows, v = 0 at the top)."""

    image: np.ndarray
    repeat: tuple[float, float] = (1.0, 1.0)

    def lookup(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        h, w, _ = self.image.shape
        x = (u * self.repeat[0]) * w - 0.5
        y = (v * self.repeat[1]) * h - 0.5
        x0 = np.floor(x)
        y0 = np.floor(y)
        fx = (x - x0)[:, None]
        fy = (y - y0)[:, None]
        x0 = x0.astype(np.int64) % w
        y0 = y0.astype(np.int64) % h
        x1 = (x0 + 1) % w
        y1 = (y0 + 1) % h
        img = self.image
        top = img[y0, x0] * (1 - fx) + img[y0, x1] * fx
        bottom = img[y1, x0] * (1 - fx) + img[y1, x1] * fx
        return top * (1 - fy) + bottom * fy


def _photo(name: str, tint=None, max_size: int = 512) -> np.ndarray:
    """A photograph bundled with scikit-image (no download), float32 RGB [h, w, 3] in [0, 1]."""
    import skimage.data

    img = np.asarray(getattr(skimage.data, name)(), dtype=np.float32) / 255.0
    if img.ndim == 2:  # grey photograph: tint it
        tint = np.asarray(tint if tint is not None else (1.0, 1.0, 1.0), dtype=np.float32)
        img = img[..., None] * tint
    img = img[..., :3]
    step = max(1, int(math.ceil(max(img.shape[:2]) / max_size)))
    return np.ascontiguousarray(img[::step, ::step])


# --------------------------------------------------------------------------- primitives


def _rot_z(angle: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


@dataclass
class Rect:
    """Rectangle c + a·e1 + b·e2, |a| ≤ h1, |b| ≤ h2; ``normal`` = e1 × e2 is the front side."""

    center: np.ndarray
    e1: np.ndarray
    e2: np.ndarray
    h1: float
    h2: float
    texture: Texture

    @property
    def normal(self) -> np.ndarray:
        return np.cross(self.e1, self.e2)

    @property
    def area(self) -> float:
        return 4.0 * self.h1 * self.h2

    def intersect(self, o: np.ndarray, d: np.ndarray) -> np.ndarray:
        n = self.normal
        denom = d @ n
        with np.errstate(divide="ignore", invalid="ignore"):
            t = ((self.center - o) @ n) / denom
        p = o + t[:, None] * d
        a = (p - self.center) @ self.e1
        b = (p - self.center) @ self.e2
        ok = (np.abs(denom) > 1e-12) & (t > EPS) & (np.abs(a) <= self.h1) & (np.abs(b) <= self.h2)
        return np.where(ok, t, NO_HIT)

    def surface(self, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        a = (p - self.center) @ self.e1
        b = (p - self.center) @ self.e2
        u = (a / self.h1 + 1.0) / 2.0
        v = 1.0 - (b / self.h2 + 1.0) / 2.0
        return np.broadcast_to(self.normal, p.shape).copy(), self.texture.lookup(u, v)

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        ab = rng.uniform(-1.0, 1.0, size=(n, 2))
        return self.center + ab[:, :1] * self.h1 * self.e1 + ab[:, 1:] * self.h2 * self.e2


@dataclass
class Box:
    """Box with half sizes ``half`` [3], rotated by ``angle`` about z around ``center``; every
    face shows the whole texture (image up = +z on the side faces)."""

    center: np.ndarray
    half: np.ndarray
    angle: float
    texture: Texture
    rot: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.rot = _rot_z(self.angle)  # local -> world

    @property
    def area(self) -> float:
        hx, hy, hz = self.half
        return 8.0 * (hx * hy + hx * hz + hy * hz)

    def intersect(self, o: np.ndarray, d: np.ndarray) -> np.ndarray:
        ol = (o - self.center) @ self.rot  # = Rᵀ (o − c) row-wise
        dl = d @ self.rot
        dl = np.where(np.abs(dl) < 1e-15, 1e-15, dl)
        inv = 1.0 / dl
        t1 = (-self.half - ol) * inv
        t2 = (self.half - ol) * inv
        t_near = np.minimum(t1, t2).max(axis=1)
        t_far = np.maximum(t1, t2).min(axis=1)
        t = np.where(t_near > EPS, t_near, t_far)
        ok = (t_far >= t_near) & (t > EPS)
        return np.where(ok, t, NO_HIT)

    def surface(self, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        pl = (p - self.center) @ self.rot
        rel = pl / self.half
        axis = np.argmax(np.abs(rel), axis=1)
        sign = np.sign(rel[np.arange(len(p)), axis])
        normal_l = np.zeros_like(pl)
        normal_l[np.arange(len(p)), axis] = sign
        # side faces: u along the other horizontal axis, v down from the top; top/bottom: x, y
        other = np.where(axis == 0, 1, 0)
        u_side = (rel[np.arange(len(p)), other] * np.where(axis == 0, sign, -sign) + 1.0) / 2.0
        v_side = 1.0 - (rel[:, 2] + 1.0) / 2.0
        side = axis < 2
        u = np.where(side, u_side, (rel[:, 0] + 1.0) / 2.0)
        v = np.where(side, v_side, (rel[:, 1] + 1.0) / 2.0)
        return normal_l @ self.rot.T, self.texture.lookup(u, v)

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        hx, hy, hz = self.half
        face_area = np.array([hy * hz, hy * hz, hx * hz, hx * hz, hx * hy, hx * hy])
        face = rng.choice(6, size=n, p=face_area / face_area.sum())
        pl = rng.uniform(-1.0, 1.0, size=(n, 3)) * self.half
        axis = face // 2
        pl[np.arange(n), axis] = np.where(face % 2 == 0, -1.0, 1.0) * self.half[axis]
        return pl @ self.rot.T + self.center


@dataclass
class Sphere:
    """Sphere; the texture is wrapped by longitude (u, turned by ``spin``) and colatitude (v)."""

    center: np.ndarray
    radius: float
    spin: float
    texture: Texture

    @property
    def area(self) -> float:
        return 4.0 * math.pi * self.radius ** 2

    def intersect(self, o: np.ndarray, d: np.ndarray) -> np.ndarray:
        oc = o - self.center
        b = np.einsum("ij,ij->i", oc, d)
        c = np.einsum("ij,ij->i", oc, oc) - self.radius ** 2
        disc = b * b - c
        root = np.sqrt(np.maximum(disc, 0.0))
        t = np.where(-b - root > EPS, -b - root, -b + root)
        return np.where((disc >= 0) & (t > EPS), t, NO_HIT)

    def surface(self, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n = (p - self.center) / self.radius
        u = (np.arctan2(n[:, 1], n[:, 0]) + self.spin) / (2 * math.pi) % 1.0
        v = np.arccos(np.clip(n[:, 2], -1.0, 1.0)) / math.pi
        return n, self.texture.lookup(u, v)

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        dirs = rng.normal(size=(n, 3))
        dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
        return self.center + self.radius * dirs


@dataclass
class DemoWorld:
    """The primitives and the light (unit vector towards the light)."""

    primitives: list
    light_dir: np.ndarray

    def cast(self, o: np.ndarray, d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Nearest hit of rays o + t·d: (t [R] (inf: miss), primitive index [R] (-1: miss))."""
        t_best = np.full(len(o), NO_HIT)
        idx = np.full(len(o), -1, dtype=np.int64)
        for k, prim in enumerate(self.primitives):
            t = prim.intersect(o, d)
            closer = t < t_best
            t_best = np.where(closer, t, t_best)
            idx = np.where(closer, k, idx)
        return t_best, idx

    def shade(self, p: np.ndarray, idx: np.ndarray, view_dirs: np.ndarray | None) -> np.ndarray:
        """Lambertian colour [M, 3] at surface points ``p`` of primitives ``idx``.

        colour = albedo · (AMBIENT + DIFFUSE · max(0, n·l) · lit), with n turned towards the
        viewer when ``view_dirs`` is given (front side otherwise) and ``lit`` from a shadow ray."""
        normals = np.zeros_like(p)
        albedo = np.zeros_like(p)
        for k, prim in enumerate(self.primitives):
            m = idx == k
            if m.any():
                normals[m], albedo[m] = prim.surface(p[m])
        if view_dirs is not None:
            facing = np.einsum("ij,ij->i", normals, view_dirs) > 0
            normals[facing] *= -1.0
        cos = normals @ self.light_dir
        origins = p + 1e-5 * normals
        t_shadow, _ = self.cast(origins, np.broadcast_to(self.light_dir, p.shape))
        lit = (cos > 0) & np.isinf(t_shadow)
        return albedo * (AMBIENT + DIFFUSE * np.where(lit, cos, 0.0))[:, None]


def build_world(seed: int = 0) -> DemoWorld:
    """The demo scene's primitives for ``seed`` (positions, angles and texture spins jittered)."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 1]))

    def jit(scale: float, size: int | None = None):
        return rng.uniform(-scale, scale, size=size)

    ground_z = -0.6
    ex, ey, ez = np.eye(3)
    brick = _photo("brick", tint=(0.85, 0.5, 0.38))
    grass = _photo("grass", tint=(0.45, 0.7, 0.3))
    prims = [
        Rect(np.array([0.0, 0.0, ground_z]), ex, ey, 1.3, 1.3, Texture(grass, (2.0, 2.0))),
        Rect(np.array([0.0, 1.2, 0.25]), ex, ez, 1.3, 0.85, Texture(brick, (2.0, 1.0))),
    ]
    # the wall's front side must face the cameras (-y): e1 × e2 = x × z = -y
    box_a_half = np.array([0.33, 0.33, 0.33]) * (1 + jit(0.05))
    box_a_center = np.array([-0.5 + jit(0.06), 0.25 + jit(0.06), ground_z + box_a_half[2]])
    box_b_half = np.array([0.32, 0.24, 0.22]) * (1 + jit(0.05))
    box_b_center = np.array([0.55 + jit(0.06), 0.6 + jit(0.06), ground_z + box_b_half[2]])
    r_a, r_b, r_c = 0.3 * (1 + jit(0.05)), 0.2 * (1 + jit(0.05)), 0.2 * (1 + jit(0.05))
    prims += [
        Box(box_a_center, box_a_half, math.radians(20 + jit(12)), Texture(_photo("astronaut"))),
        Box(box_b_center, box_b_half, math.radians(-15 + jit(12)), Texture(_photo("coffee"))),
        Sphere(np.array([0.45 + jit(0.06), -0.3 + jit(0.06), ground_z + r_a]), r_a,
               float(jit(math.pi)), Texture(_photo("chelsea"))),
        Sphere(np.array([-0.25 + jit(0.06), -0.6 + jit(0.06), ground_z + r_b]), r_b,
               float(jit(math.pi)), Texture(_photo("rocket"))),
        Sphere(box_a_center + np.array([0.0, 0.0, box_a_half[2] + r_c]), r_c,
               float(jit(math.pi)), Texture(_photo("immunohistochemistry"))),
    ]
    light = np.array([-0.45 + jit(0.1), -0.6 + jit(0.1), 1.0])
    return DemoWorld(prims, light / np.linalg.norm(light))


# --------------------------------------------------------------------------- cameras


def view_name(k: int) -> str:
    """Image name (without extension) of view k."""
    return f"view_{k:03d}"


def demo_split(n_views: int) -> tuple[list[int], list[int]]:
    """(train indices, test indices): view k is a test view when k mod 8 == 0 (COLMAP --eval)."""
    if n_views <= 0 or n_views % LLFF_HOLD:
        raise ValueError(f"n_views must be a positive multiple of {LLFF_HOLD} so that Blender "
                         f"and COLMAP splits agree, got {n_views}")
    if n_views > 1000:
        raise ValueError(f"n_views must be at most 1000 (3-digit names), got {n_views}")
    test = [k for k in range(n_views) if k % LLFF_HOLD == 0]
    train = [k for k in range(n_views) if k % LLFF_HOLD != 0]
    return train, test


def look_at_c2w(position: np.ndarray, target: np.ndarray) -> np.ndarray:
    """[4, 4] camera-to-world, OpenCV axes (x right, y down, z forward), world z up."""
    forward = target - position
    forward = forward / np.linalg.norm(forward)
    right = np.cross(forward, np.array([0.0, 0.0, 1.0]))
    right = right / np.linalg.norm(right)
    down = np.cross(forward, right)
    c2w = np.eye(4)
    c2w[:3, 0], c2w[:3, 1], c2w[:3, 2], c2w[:3, 3] = right, down, forward, position
    return c2w


def demo_cameras(n_views: int, seed: int = 0) -> list[np.ndarray]:
    """Camera-to-world matrices (OpenCV axes, float64 [4, 4]) of the orbit, view 0 first."""
    demo_split(n_views)  # validates n_views
    rng = np.random.default_rng(np.random.SeedSequence([seed, 2]))
    target = np.array([0.0, 0.15, -0.2]) + rng.uniform(-0.03, 0.03, size=3)
    c2ws = []
    for k in range(n_views):
        frac = k / max(n_views - 1, 1)
        az = math.radians(-100.0 + 200.0 * frac + rng.uniform(-1.0, 1.0))
        el = math.radians(25.0 + 12.0 * math.sin(2 * math.pi * 2.5 * frac) + rng.uniform(-1.5, 1.5))
        radius = 3.6 + rng.uniform(-0.1, 0.1)
        pos = target + radius * np.array([math.sin(az) * math.cos(el),
                                          -math.cos(az) * math.cos(el), math.sin(el)])
        c2ws.append(look_at_c2w(pos, target))
    return c2ws


def camera_rays(c2w: np.ndarray, k: np.ndarray, width: int, height: int, supersample: int):
    """World rays through ``supersample``² sub-pixel positions of every pixel.

    Sub-pixel (sy, sx) of pixel (row, col) is at (col + (sx + ½)/s, row + (sy + ½)/s) in the
    image (pixel centres at +0.5). Returns origins and unit directions, each [H·s·W·s, 3],
    ordered as an image of size (H·s, W·s)."""
    s = supersample
    xs = (np.arange(width * s) + 0.5) / s
    ys = (np.arange(height * s) + 0.5) / s
    uu, vv = np.meshgrid(xs, ys)
    dirs_cam = np.stack([(uu - k[0, 2]) / k[0, 0], (vv - k[1, 2]) / k[1, 1],
                         np.ones_like(uu)], axis=-1).reshape(-1, 3)
    dirs = dirs_cam @ c2w[:3, :3].T
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    origins = np.broadcast_to(c2w[:3, 3], dirs.shape)
    return origins, dirs


def render_view(world: DemoWorld, c2w: np.ndarray, k: np.ndarray, width: int, height: int,
                supersample: int = 2) -> np.ndarray:
    """Ray-cast one view → [H, W, 4] uint8 straight-alpha RGBA (alpha = pixel coverage)."""
    o, d = camera_rays(c2w, k, width, height, supersample)
    t, idx = world.cast(o, d)
    hit = idx >= 0
    colour = np.zeros((len(o), 3))
    p = o[hit] + t[hit, None] * d[hit]
    colour[hit] = world.shade(p, idx[hit], d[hit])
    s = supersample
    cov = hit.astype(np.float64).reshape(height, s, width, s).mean(axis=(1, 3))
    premul = colour.reshape(height, s, width, s, 3).mean(axis=(1, 3))
    with np.errstate(invalid="ignore", divide="ignore"):
        straight = np.where(cov[..., None] > 0, premul / cov[..., None], 0.0)
    rgba = np.concatenate([straight, cov[..., None]], axis=-1)
    return np.clip(np.round(rgba * 255.0), 0, 255).astype(np.uint8)


# --------------------------------------------------------------------------- generation


@dataclass
class DemoData:
    """A rendered demo scene before it is written: views, intrinsics, points."""

    seed: int
    size: int
    fov_x: float
    intrinsics: np.ndarray  # [3, 3] float64
    c2ws: list  # [4, 4] float64, OpenCV axes
    rgba: list  # [H, W, 4] uint8
    points: ColmapPoints
    observations: list  # per view: (xys [K, 2] float64, point3d_ids [K] int64)
    settings: dict


def _sample_points(world: DemoWorld, c2ws: list, k: np.ndarray, size: int, n_points: int,
                   seed: int):
    """Surface points seen by ≥ 2 views, their shaded colours and 2-D observations."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 3]))
    areas = np.array([p.area for p in world.primitives])
    n_cand = 3 * n_points
    counts = rng.multinomial(n_cand, areas / areas.sum())
    pts, owner = [], []
    for i, (prim, cnt) in enumerate(zip(world.primitives, counts)):
        pts.append(prim.sample(rng, int(cnt)))
        owner.append(np.full(int(cnt), i))
    pts = np.concatenate(pts)
    owner = np.concatenate(owner)
    order = rng.permutation(len(pts))
    pts, owner = pts[order], owner[order]

    visible = np.zeros((len(c2ws), len(pts)), dtype=bool)
    uv = np.zeros((len(c2ws), len(pts), 2))
    for v, c2w in enumerate(c2ws):
        center = c2w[:3, 3]
        rel = pts - center
        dist = np.linalg.norm(rel, axis=1)
        t, _ = world.cast(np.broadcast_to(center, pts.shape), rel / dist[:, None])
        cam = rel @ c2w[:3, :3]  # world -> camera rotation is c2w[:3,:3]ᵀ
        z = cam[:, 2]
        with np.errstate(divide="ignore", invalid="ignore"):
            u = k[0, 0] * cam[:, 0] / z + k[0, 2]
            w = k[1, 1] * cam[:, 1] / z + k[1, 2]
        inside = (z > 0) & (u >= 0) & (u < size) & (w >= 0) & (w < size)
        visible[v] = inside & (np.abs(t - dist) < 1e-6 * np.maximum(dist, 1.0))
        uv[v] = np.stack([u, w], axis=1)
    keep = np.flatnonzero(visible.sum(axis=0) >= 2)[:n_points]
    if len(keep) < n_points:
        logger.warning("demo scene: only %d of %d requested points are seen by two views",
                       len(keep), n_points)
    pts, owner, visible, uv = pts[keep], owner[keep], visible[:, keep], uv[:, keep]
    colours = world.shade(pts, owner, None)
    noisy = pts + rng.normal(scale=0.002, size=pts.shape)

    ids = np.arange(1, len(pts) + 1, dtype=np.int64)
    observations, track_lists = [], [[] for _ in range(len(pts))]
    errors = np.zeros(len(pts))
    n_obs = np.zeros(len(pts))
    for v, c2w in enumerate(c2ws):
        cols = np.flatnonzero(visible[v])
        xys = uv[v, cols]
        observations.append((xys, ids[cols]))
        cam = (noisy[cols] - c2w[:3, 3]) @ c2w[:3, :3]
        proj = np.stack([k[0, 0] * cam[:, 0] / cam[:, 2] + k[0, 2],
                         k[1, 1] * cam[:, 1] / cam[:, 2] + k[1, 2]], axis=1)
        errors[cols] += np.linalg.norm(proj - xys, axis=1)
        n_obs[cols] += 1
        for j, c in enumerate(cols):
            track_lists[c].append((v + 1, j))
    lengths = np.array([len(tr) for tr in track_lists], dtype=np.int64)
    tracks = np.array([pair for tr in track_lists for pair in tr], dtype=np.int32).reshape(-1, 2)
    rgb = np.clip(np.round(colours * 255.0), 0, 255).astype(np.uint8)
    points = ColmapPoints(ids, noisy, rgb, errors / np.maximum(n_obs, 1), lengths, tracks)
    return points, observations


def generate_demo(seed: int = 0, n_views: int = 64, size: int = 256, supersample: int = 2,
                  n_points: int = 4000, progress=None) -> DemoData:
    """Render the demo scene for ``seed``: ``n_views`` RGBA views of ``size``² pixels and a
    sparse point cloud of up to ``n_points`` points. ``progress`` (optional) is called with the
    number of views done."""
    if size < 8:
        raise ValueError(f"size must be at least 8 pixels, got {size}")
    if supersample < 1:
        raise ValueError(f"supersample must be ≥ 1, got {supersample}")
    if n_points < 1:
        raise ValueError(f"n_points must be ≥ 1, got {n_points}")
    world = build_world(seed)
    c2ws = demo_cameras(n_views, seed)
    fov_x = math.radians(FOV_X_DEG)
    focal = focal_from_fov(fov_x, size)
    k = intrinsics_matrix(focal, focal, size / 2.0, size / 2.0)
    rgba = []
    for v, c2w in enumerate(c2ws):
        rgba.append(render_view(world, c2w, k, size, size, supersample))
        if progress is not None:
            progress(v + 1)
    points, observations = _sample_points(world, c2ws, k, size, n_points, seed)
    settings = {"generator": "scene.demo_scene", "format_version": DEMO_FORMAT_VERSION,
                "seed": seed, "n_views": n_views, "size": size, "supersample": supersample,
                "n_points": n_points, "n_points_written": len(points)}
    return DemoData(seed, size, fov_x, k, c2ws, rgba, points, observations, settings)


def _save_png(path: Path, array: np.ndarray) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, format="PNG", optimize=False, compress_level=6)


def _write_settings(out: Path, demo: DemoData, fmt: str) -> None:
    meta = dict(demo.settings, format=fmt)
    (out / "demo_scene.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")


def write_blender(demo: DemoData, out_dir: str | os.PathLike) -> Path:
    """Write ``demo`` in the NeRF-synthetic layout into ``out_dir`` (see the module docstring)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    train_idx, test_idx = demo_split(len(demo.c2ws))
    for split, indices in (("train", train_idx), ("test", test_idx)):
        frames = []
        for k in indices:
            c2w_gl = demo.c2ws[k].copy()
            c2w_gl[:3, 1:3] *= -1.0  # OpenCV -> OpenGL camera axes (y up, z back)
            frames.append({"file_path": f"./{split}/{view_name(k)}", "rotation": 0.0,
                           "transform_matrix": c2w_gl.tolist()})
            _save_png(out / split / f"{view_name(k)}.png", demo.rgba[k])
        doc = {"camera_angle_x": demo.fov_x, "frames": frames}
        (out / f"transforms_{split}.json").write_text(json.dumps(doc, indent=2) + "\n",
                                                      encoding="utf-8")
    _write_settings(out, demo, "blender")
    return out


def write_colmap(demo: DemoData, out_dir: str | os.PathLike, write_text: bool = False) -> Path:
    """Write ``demo`` as a COLMAP model + images into ``out_dir`` (see the module docstring)."""
    out = Path(out_dir)
    (out / "sparse" / "0").mkdir(parents=True, exist_ok=True)
    k = demo.intrinsics
    cameras = {1: ColmapCamera(1, "PINHOLE", demo.size, demo.size,
                               np.array([k[0, 0], k[1, 1], k[0, 2], k[1, 2]]))}
    images = {}
    for v, c2w in enumerate(demo.c2ws):
        rot_w2c = c2w[:3, :3].T
        tvec = -rot_w2c @ c2w[:3, 3]
        name = f"{view_name(v)}.png"
        xys, pids = demo.observations[v]
        images[v + 1] = ColmapImage(v + 1, rotmat_to_qvec(rot_w2c), tvec, 1, name, xys, pids)
        _save_png(out / "images" / name, composite_on_background(demo.rgba[v], (0.0, 0.0, 0.0)))
    write_model(out / "sparse" / "0", cameras, images, demo.points, ".bin")
    if write_text:
        write_model(out / "sparse" / "0", cameras, images, demo.points, ".txt")
    _write_settings(out, demo, "colmap")
    return out


def make_demo_scene(out_dir: str | os.PathLike, fmt: str = "blender", seed: int = 0,
                    n_views: int = 64, size: int = 256, supersample: int = 2,
                    n_points: int = 4000, write_text: bool = False, progress=None) -> Path:
    """Generate the demo scene and write it in ``fmt`` ("blender" or "colmap") to ``out_dir``.

    Defaults: 64 views (56 train + 8 test) of 256×256, 2×2 rays per pixel, ≤ 4000 points."""
    if fmt not in ("blender", "colmap"):
        raise ValueError(f"unknown demo scene format {fmt!r}; use 'blender' or 'colmap'")
    demo_split(n_views)
    demo = generate_demo(seed, n_views, size, supersample, n_points, progress)
    if fmt == "blender":
        return write_blender(demo, out_dir)
    return write_colmap(demo, out_dir, write_text=write_text)
