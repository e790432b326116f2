#!/usr/bin/env python
"""Make the splat-format test fixtures of ``tests/fixtures/splat_formats/`` (needs Node.js + npm).

For two random models (``sh0``: 128 Gaussians, SH degree 0; ``sh3``: 64 Gaussians, SH degree 3):

| file | written by | |
|---|---|---|
| ``<m>.ply`` | ``scene.ply_io`` | the random model (INRIA PLY) |
| ``<m>.spz``, ``<m>.v3.spz`` | splat-transform ``--spz-version 4`` / ``3`` | |
| ``<m>.v2.spz`` | this script (SPZ version 2 by its spec: 3-byte quaternions; splat-transform writes only 3 and 4) | |
| ``<m>.sog`` | splat-transform ``-g cpu`` | |
| ``<m>.compressed.ply`` | splat-transform | |
| ``sh0.splat`` | ``scene.dot_splat`` (splat-transform reads .splat but does not write it) | |
| ``expected_<file>.ply`` | splat-transform, decoding ``<file>`` to a PLY | the reference decoding the tests compare ``read_splat`` with |

The pinned splat-transform (``scene/splat_transform_tool.py``) is installed on first use. The tests
use only the committed files, so they run without Node.js.

    python scripts/make_splat_fixtures.py [--out tests/fixtures/splat_formats] [--tool_dir DIR]
"""
from __future__ import annotations

import argparse
import gzip
import os
import struct
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402

from scene.dot_splat import encode_splat  # noqa: E402
from scene.ply_io import write_gaussian_ply  # noqa: E402
from scene.splat_transform_tool import run_splat_transform  # noqa: E402

MODELS = {"sh0": (128, 0, 11), "sh3": (64, 3, 12)}  # name: (N, SH degree, seed)


def random_model(n: int, sh_degree: int, seed: int) -> dict[str, np.ndarray]:
    """Random Gaussians inside every format's range (SPZ: |x| < 2048, log scale in [−10, 5.9])."""
    rng = np.random.default_rng(seed)
    k1 = (sh_degree + 1) ** 2 - 1
    return {
        "means": rng.uniform(-3.0, 3.0, size=(n, 3)).astype(np.float32),
        "quats": rng.normal(size=(n, 4)).astype(np.float32),
        "scales": rng.uniform(-6.0, -1.0, size=(n, 3)).astype(np.float32),
        "opacities": rng.uniform(-4.0, 6.0, size=n).astype(np.float32),
        "sh0": rng.normal(0.0, 0.8, size=(n, 1, 3)).astype(np.float32),
        "shN": rng.normal(0.0, 0.2, size=(n, k1, 3)).astype(np.float32),
    }


def spz_v2_bytes(a: dict[str, np.ndarray], fractional_bits: int = 12) -> bytes:
    """SPZ version 2 (gzip; header, then positions, alphas, colours, scales, 3-byte rotations, SH)."""
    n = a["means"].shape[0]
    k1 = a["shN"].shape[1]
    degree = {0: 0, 3: 1, 8: 2, 15: 3}[k1]
    u8 = lambda x: np.clip(np.rint(x), 0, 255).astype(np.uint8)  # noqa: E731
    fixed = np.rint(a["means"].astype(np.float64) * (1 << fractional_bits)).astype(np.int64) & 0xFFFFFF
    positions = np.stack([fixed & 0xFF, (fixed >> 8) & 0xFF, (fixed >> 16) & 0xFF], axis=-1).astype(np.uint8)
    alphas = u8(255.0 / (1.0 + np.exp(-a["opacities"].astype(np.float64))))
    colours = u8((a["sh0"].reshape(n, 3) * 0.15 + 0.5) * 255.0)
    scales = u8((a["scales"] + 10.0) * 16.0)
    q = a["quats"].astype(np.float64)
    q = q / np.linalg.norm(q, axis=1, keepdims=True)
    q = np.where(q[:, :1] < 0, -q, q)  # w ≥ 0, then only x y z are stored
    rotations = u8((q[:, 1:] + 1.0) * 127.5)
    sh = u8(a["shN"].reshape(n, -1) * 128.0 + 128.0)
    header = struct.pack("<IIIBBBB", 0x5053474E, 2, n, degree, fractional_bits, 0, 0)
    body = b"".join(x.tobytes() for x in (positions, alphas, colours, scales, rotations, sh))
    return gzip.compress(header + body, mtime=0)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(ROOT, "tests", "fixtures", "splat_formats"))
    ap.add_argument("--tool_dir", default=None, help="splat-transform install folder (default: ~/.cache/splatpress/tools)")
    args = ap.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    out = lambda name: os.path.join(args.out, name)  # noqa: E731
    made = []
    for name, (n, degree, seed) in MODELS.items():
        arrays = random_model(n, degree, seed)
        src = out(f"{name}.ply")
        write_gaussian_ply(src, arrays)
        for fname, extra in ((f"{name}.spz", ["--spz-version", "4"]), (f"{name}.v3.spz", ["--spz-version", "3"]),
                             (f"{name}.sog", ["-g", "cpu"]), (f"{name}.compressed.ply", [])):
            run_splat_transform([*extra, src, out(fname)], tool_dir=args.tool_dir)
            made.append(fname)
        with open(out(f"{name}.v2.spz"), "wb") as fh:
            fh.write(spz_v2_bytes(arrays))
        made.append(f"{name}.v2.spz")
        if degree == 0:
            with open(out(f"{name}.splat"), "wb") as fh:
                fh.write(encode_splat(arrays))
            made.append(f"{name}.splat")
    for fname in made:  # the reference decoding of every file
        run_splat_transform([out(fname), out(f"expected_{fname.replace('.', '_')}.ply")], tool_dir=args.tool_dir)
    for fname in sorted(os.listdir(args.out)):
        print(f"{os.path.getsize(out(fname)):8d}  {fname}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
