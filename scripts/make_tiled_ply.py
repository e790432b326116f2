"""Tile a splat file into a larger one (copies side by side along x, never overlapping): a real-capture
proxy of a given size for timing runs, e.g. fern's 128k Gaussians × 4 = 514k for the 500k budget of compress.py.

    python scripts/make_tiled_ply.py IN -o OUT.ply --copies 4
"""
from __future__ import annotations

import argparse
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)


def main(argv=None) -> int:
    from scene.ply_io import write_gaussian_ply
    from scene.splat_files import read_splat
    from scene.transform import tiled_copies

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("input")
    ap.add_argument("-o", "--output", required=True)
    ap.add_argument("--copies", type=int, default=4)
    args = ap.parse_args(argv)
    out = tiled_copies(read_splat(args.input), args.copies)
    write_gaussian_ply(args.output, out)
    print(f"{args.output}: {len(out['means'])} Gaussians")
    return 0


if __name__ == "__main__":
    sys.exit(main())
