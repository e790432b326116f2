"""A tiny in-memory scene for the compression tests: a random "teacher" Gaussian cloud renders
the ground-truth images of a few small cameras; the model to compress is the teacher with noise
added (so fine-tuning has something to recover)."""
from __future__ import annotations

import math

import numpy as np
import torch

from scene.cameras import Camera, intrinsics_matrix
from scene.gaussian_model import GaussianModel


def look_at_w2c(position, target) -> torch.Tensor:
    """[4, 4] world-to-camera (OpenCV axes, z up in the world)."""
    position = np.asarray(position, dtype=np.float64)
    forward = np.asarray(target, dtype=np.float64) - position
    forward /= np.linalg.norm(forward)
    right = np.cross(forward, np.array([0.0, 0.0, 1.0]))
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    c2w = np.eye(4)
    c2w[:3, 0], c2w[:3, 1], c2w[:3, 2], c2w[:3, 3] = right, down, forward, position
    return torch.from_numpy(np.linalg.inv(c2w)).to(torch.float32)


def teacher_arrays(n: int, sh_degree: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    k1 = (sh_degree + 1) ** 2 - 1
    quats = rng.normal(size=(n, 4)).astype(np.float32)
    return {
        "means": rng.uniform(-0.8, 0.8, size=(n, 3)).astype(np.float32),
        "quats": quats,
        "scales": np.log(rng.uniform(0.04, 0.12, size=(n, 3))).astype(np.float32),
        "opacities": rng.uniform(-1.0, 2.5, size=n).astype(np.float32),
        "sh0": rng.normal(0.0, 0.8, size=(n, 1, 3)).astype(np.float32),
        "shN": rng.normal(0.0, 0.15, size=(n, k1, 3)).astype(np.float32),
    }


def tiny_cameras(images_from, n_views: int = 8, size: int = 24, seed: int = 0) -> list[Camera]:
    """Cameras on a ring around the origin; ``images_from(cam) -> [H, W, 3]`` float in [0, 1]."""
    f = size / (2 * math.tan(math.radians(50) / 2))
    k = torch.from_numpy(intrinsics_matrix(f, f, size / 2, size / 2)).to(torch.float32)
    cams = []
    for i in range(n_views):
        az = 2 * math.pi * i / n_views + 0.1 * seed
        pos = [3.0 * math.cos(az), 3.0 * math.sin(az), 1.0 + 0.3 * math.sin(3 * az)]
        w2c = look_at_w2c(pos, [0.0, 0.0, 0.0])
        blank = torch.zeros(size, size, 3, dtype=torch.uint8)
        cam = Camera(name=f"view_{i:03d}", world_to_camera=w2c, intrinsics=k, width=size,
                     height=size, image_uint8=blank)
        img = images_from(cam)
        cam.image_uint8 = (img.detach().clamp(0, 1) * 255.0).round().to(torch.uint8).cpu()
        cams.append(cam)
    return cams


def tiny_scene(n: int = 400, sh_degree: int = 1, n_views: int = 8, size: int = 24, seed: int = 0, noise: float = 0.15):
    """(model to compress, train cameras, test cameras, teacher model). Every 4th view is a test view."""
    from gaussian_renderer import render

    teacher = GaussianModel.from_arrays(teacher_arrays(n, sh_degree, seed))

    def gt(cam):
        with torch.no_grad():
            return render(teacher.means, teacher.quats_wxyz, teacher.scales_act, teacher.opacities_act, cam,
                          sh_coeffs=teacher.sh_coeffs, sh_degree=sh_degree, backend="torch")["image"]

    cams = tiny_cameras(gt, n_views=n_views, size=size, seed=seed)
    rng = np.random.default_rng(seed + 1)
    arrays = teacher.to_arrays()
    arrays["sh0"] = arrays["sh0"] + rng.normal(0, noise, size=arrays["sh0"].shape).astype(np.float32)
    arrays["opacities"] = arrays["opacities"] + rng.normal(0, noise, size=arrays["opacities"].shape).astype(np.float32)
    model = GaussianModel.from_arrays(arrays)
    test = [c for i, c in enumerate(cams) if i % 4 == 0]
    train = [c for i, c in enumerate(cams) if i % 4 != 0]
    return model, train, test, teacher


def synthetic_quantized(n: int = 300, sh_degree: int = 3, n_block: int = 7, bits: int = 8, quantizer: str = "vanilla",
                        depth: int = 6, seed: int = 0):
    """A calibrated QuantizedGaussians on random voxels (no rendering involved)."""
    from compression.attributes import QuantizedGaussians
    from raht import voxelize
    from codec.channel_layout import layout_for_sh_degree

    g = torch.Generator().manual_seed(seed)
    pos = torch.rand(n * 2, 3, generator=g) * torch.tensor([2.0, 1.0, 0.5]) - 0.3
    vox = voxelize(pos, depth)
    m = vox.n_voxels
    c = layout_for_sh_degree(sh_degree).n_channels
    attrs = torch.randn(m, c, generator=g) * 0.5
    attrs[:, 1:4] = (torch.rand(m, 3, generator=g) - 0.5) * 3.0  # Euler angles
    model = QuantizedGaussians(attrs, vox.coords, vox.bbox_min, vox.bbox_max, depth, sh_degree,
                               n_block=n_block, bits=bits, quantizer=quantizer)
    model.calibrate()
    return model


def one_thread():
    """Generator for a module-scoped fixture: torch on one thread while the module runs (tiny
    tensors; on a shared 2-core box two spinning intra-op threads make these tests ~20x slower)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n)


def rewrite_npz_member(pc_dir: str, name: str, arrays: dict) -> None:
    """Replace the ``.npz`` file ``name`` of a model folder by ``arrays`` and make the manifest's size and
    SHA-256 agree, so that only the reader's value checks stand between it and a decode."""
    import hashlib
    import io
    import json
    import os

    buf = io.BytesIO()
    np.savez(buf, **arrays)
    data = buf.getvalue()
    with open(os.path.join(pc_dir, name), "wb") as fh:
        fh.write(data)
    path = os.path.join(pc_dir, "manifest.json")
    with open(path) as fh:
        manifest = json.load(fh)
    manifest["files"][name] = {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    with open(path, "w") as fh:
        fh.write(json.dumps(manifest))
