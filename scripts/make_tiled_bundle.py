"""Tile a compressed bundle into a chunked file of copies side by side along x (1.1 × the decoded x extent
apart, as ``scripts/make_tiled_ply.py`` tiles a splat file), one chunk per copy: a file of millions of
Gaussians of one real capture for timing the decoders and the viewer, at the cost of one encoding. Each
copy is the input with its grid box moved (``codec.io.shifted_bundle``: the same streams), decoded back
once to check it and to give the index its box.

    python scripts/make_tiled_bundle.py fern.bundle -o fern_x48.bundle --copies 48
"""
from __future__ import annotations

import argparse
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)


def tiled_chunks(raw: bytes, copies: int, label: str = "bundle", progress=None) -> bytes:
    """The chunked file of ``copies`` moved copies of bundle ``raw``."""
    import numpy as np

    from codec.chunked import chunked_bytes
    from codec.container import bundle_members
    from codec.io import decode_model_files, shifted_bundle

    if copies < 1:
        raise ValueError(f"--copies must be at least 1, got {copies}")
    first = decode_model_files(bundle_members(raw, label), label)
    x = first.means[:, 0].numpy()
    step = 1.1 * float(x.max() - x.min())
    bundles, counts, boxes = [], [], []
    for i in range(copies):
        data = raw if i == 0 else shifted_bundle(raw, (i * step, 0.0, 0.0), label)
        decoded = first if i == 0 else decode_model_files(bundle_members(data, f"{label} copy {i}"), f"{label} copy {i}")
        means = decoded.means.numpy()
        bundles.append(data)
        counts.append(decoded.n_gaussians)
        boxes.append(np.concatenate([means.min(0), means.max(0)]))
        if progress:
            progress(i + 1, copies)
    config = {"tiled_from": os.path.basename(label), "copies": copies, "step_x": step}
    return chunked_bytes(bundles, counts, boxes, first.payload.sh_degree, config)


def main(argv=None) -> int:
    from codec.container import CompressedFormatError, write_file_atomic

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("input", help="a bundle (format version 2 on; not a chunked file)")
    ap.add_argument("-o", "--output", required=True)
    ap.add_argument("--copies", type=int, default=48)
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    try:
        with open(args.input, "rb") as f:
            raw = f.read()
        out = tiled_chunks(raw, args.copies, args.input,
                           progress=lambda i, k: print(f"\rcopy {i} of {k} ({time.perf_counter() - t0:.0f} s)", end="",
                                                       file=sys.stderr, flush=True))
    except (OSError, ValueError, CompressedFormatError) as exc:
        print(f"\nerror: {exc}", file=sys.stderr)
        return 2
    write_file_atomic(args.output, out)
    print(f"\n{args.output}: {args.copies} chunks, {len(out)} B", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
