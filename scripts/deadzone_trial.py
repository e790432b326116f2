#!/usr/bin/env python
"""Trial: a dead zone in the quantizer's rounding, on a splat file, scored as the bench scores it.

Each point is ``compress.py IN -o OUT --quality Q --iterations 0`` run in-process with the rounding of
the quantizer banks given inputs moved θ steps towards zero, x' = sign(x)·(|x| − θ·Δ), before the codec's
own rounding (``quant.core.quantize``): a dead zone, θ = 0 being round-to-nearest. The codes and the dequantization are
unchanged, so a decoder needs nothing new: only the encoder's choice of codes moves. Printed: one JSON
line per point (bytes, held-out PSNR) and, per θ, its bytes over the θ = 0 curve at the same PSNR.

    python scripts/deadzone_trial.py ../shared/data/captures/donut.ply --qualities 48 56 --thetas 0 0.15 0.3

A trial, not a codec option: nothing in the product uses it.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import torch  # noqa: E402


def deadzone_quantize(theta: float):
    """``quant.core.quantize`` with a dead zone θ (θ = 0: the original function). The rounding stays the
    core's: the input is moved θ steps towards zero first, x' = sign(x)·(|x| − θ·Δ), so that codes of
    magnitude m need |x|/Δ ≥ m − ½ + θ (the zero point of the rd banks is an integer, 2^(b−1))."""
    import quant.core as core

    original = core.quantize
    if theta == 0.0:
        return original

    def quantize(x, scale, zero_point, bits, mapping="asymmetric", dtype=None, out=None):
        shifted = torch.sign(x) * (x.abs() - theta * scale)
        return original(shifted, scale, zero_point, bits, mapping, dtype, out)

    return quantize


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("input")
    ap.add_argument("--qualities", type=float, nargs="+", default=[48.0, 56.0])
    ap.add_argument("--thetas", type=float, nargs="+", default=[0.0, 0.15, 0.3])
    ap.add_argument("--out", default=os.path.join("bench_out", "deadzone"))
    args = ap.parse_args()
    if not os.path.exists(args.input):
        print(f"{args.input} is absent", file=sys.stderr)
        return 2
    if 0.0 not in args.thetas:
        args.thetas = [0.0] + args.thetas

    import compress
    import quant.banks as banks
    from codec import load_npz
    from scripts.sweep_prune_factor import ratios

    os.makedirs(args.out, exist_ok=True)
    rows = []
    original = banks.quantize
    for q in args.qualities:
        for theta in args.thetas:
            bundle = os.path.join(args.out, f"{os.path.basename(args.input)}.t{theta:g}.q{q:g}.bundle")
            banks.quantize = deadzone_quantize(theta)
            try:
                with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                    rc = compress.main([args.input, "-o", bundle, "--quality", str(q), "--iterations", "0", "--quiet"])
            finally:
                banks.quantize = original
            if rc != 0:
                print(f"compress.py failed at Q{q:g}, theta {theta:g}", file=sys.stderr)
                return 1
            conf = load_npz(bundle).payload.config
            row = {"input": os.path.basename(args.input), "quality": q, "factor": theta,
                   "bytes": os.path.getsize(bundle), "psnr": conf["heldout"]["psnr"]}
            rows.append(row)
            print(json.dumps(row), flush=True)
    for name, per in ratios(rows, 0.0).items():
        print(name, {t: sorted(v) for t, v in sorted(per.items())})
    return 0


if __name__ == "__main__":
    sys.exit(main())
