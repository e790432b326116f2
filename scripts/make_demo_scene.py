#!/usr/bin/env python
"""Build the built-in default scene (see ``scene/demo_scene.py``).

    python scripts/make_demo_scene.py --out data/demo [--format blender|colmap] [--seed 0]

Writes 64 views of 256×256 by default (56 train + 8 test: every 8th view, from view 0, is a
test view in both formats). ``--quick`` makes a 16-view 64×64 scene for smoke tests.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="output scene folder")
    parser.add_argument("--format", choices=("blender", "colmap"), default="blender",
                        help="NeRF-synthetic (transforms_*.json + RGBA PNG) or COLMAP (sparse/0 + images/)")
    parser.add_argument("--seed", type=int, default=0, help="scene, camera and point seed")
    parser.add_argument("--n_views", type=int, default=64,
                        help="number of views, a multiple of 8 (every 8th is a test view)")
    parser.add_argument("--size", type=int, default=256, help="image width = height in pixels")
    parser.add_argument("--supersample", type=int, default=2, help="rays per pixel per axis")
    parser.add_argument("--n_points", type=int, default=4000,
                        help="COLMAP sparse points (sampled on visible surfaces)")
    parser.add_argument("--colmap_text", action="store_true",
                        help="also write sparse/0/*.txt next to the .bin files")
    parser.add_argument("--quick", action="store_true", help="16 views of 64×64, 1 ray per pixel")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if args.quick:
        args.n_views, args.size, args.supersample, args.n_points = 16, 64, 1, 500

    from scene.demo_scene import make_demo_scene
    from training.console import progress_bar

    start = time.perf_counter()
    try:
        with progress_bar(args.n_views, "ray casting views", unit="view") as bar:
            out = make_demo_scene(args.out, fmt=args.format, seed=args.seed,
                                  n_views=args.n_views, size=args.size,
                                  supersample=args.supersample, n_points=args.n_points,
                                  write_text=args.colmap_text,
                                  progress=lambda done: bar.update(done - bar.n))
    except (ValueError, FileNotFoundError, OSError) as exc:
        print(f"make_demo_scene: error: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {args.format} demo scene ({args.n_views} views, {args.size}x{args.size}, "
          f"seed {args.seed}) to {out} in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
