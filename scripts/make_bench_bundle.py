#!/usr/bin/env python
"""A large bundle for decode-speed runs: a real capture tiled to about a million Gaussians, coded with
the default codec (rd steps at one quality, 16-bit codes, KLT, principal axes by scale) — uniform
sensitivities instead of the Hutchinson pass, which would take long on a CPU and does not change what
the decoder has to do (the same streams, models and transforms).

    python scripts/make_bench_bundle.py ../shared/data/fern_3dgs/point_cloud.ply --copies 8 -o bench_out/decode/fern_x8.bundle
    python scripts/make_bench_bundle.py ../shared/data/captures/st-peter.sog --copies 8 -o bench_out/decode/st-peter_x8.bundle

Then ``node web/bench/decode-bench.mjs BUNDLE`` times the JavaScript decoder and ``--python`` also
``codec.load_npz``.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402
import torch  # noqa: E402


def main(argv=None) -> int:
    from codec import save_npz
    from compression.setup import build_quantized, raw_columns
    from quant.rate_distortion import quality_to_kappa
    from scene.gaussian_model import GaussianModel
    from scene.splat_files import read_splat

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("input", help="a splat file (PLY, SOG, SPZ, compressed PLY)")
    ap.add_argument("-o", "--output", required=True, help="the .bundle to write")
    ap.add_argument("--copies", type=int, default=8, help="tiles side by side along x")
    ap.add_argument("--quality", type=float, default=44.0)
    ap.add_argument("--depth", type=int, default=16)
    args = ap.parse_args(argv)
    if not os.path.isfile(args.input):
        raise SystemExit(f"{args.input}: not found (the shared data folder is absent?)")
    a = read_splat(args.input)
    lo, hi = np.percentile(a["means"][:, 0], [5, 95])
    step = 1.1 * float(hi - lo)
    tiled = {k: np.concatenate([v] * args.copies) for k, v in a.items() if isinstance(v, np.ndarray)}
    n0 = a["means"].shape[0]
    tiled["means"] = tiled["means"].copy()
    for i in range(args.copies):
        tiled["means"][i * n0:(i + 1) * n0, 0] += i * step
    source = GaussianModel.from_arrays(tiled)
    sh = source.max_sh_degree
    t0 = time.perf_counter()
    raw = raw_columns(source, sh)
    model, _ = build_quantized(raw, source.means.detach(), torch.zeros(source.num_gaussians, dtype=torch.float64), sh,
                               depth=args.depth, percent=0.0, n_block=57, bits=16, quantizer="rd", quality=args.quality,
                               channel_transform="klt", axes="scales")
    model.bank.set_kappa(quality_to_kappa(args.quality))
    model.calibrate()
    pc = args.output[: -len(".bundle")] if args.output.endswith(".bundle") else args.output
    report = save_npz(model.encode(codec="range"), pc, write_bundle=True)
    if report.bundle_path != args.output:
        os.replace(report.bundle_path, args.output)
    shutil.rmtree(report.pc_dir)  # the bundle holds the same files
    print(f"{args.output}: {model.n_gaussians} Gaussians (SH {sh}), {os.path.getsize(args.output)} B, "
          f"{time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
