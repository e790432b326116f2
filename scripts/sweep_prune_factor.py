#!/usr/bin/env python
"""Sweep the prune factor γ (compression.rd_structure.JOINT_REMOVAL_FACTOR) × quality on splat files.

Each point is ``compress.py IN -o OUT --quality Q --iterations 0 [extra flags]`` run in-process with the
module constant set to γ (γ = 0: nothing pruned, the depth still chosen by rate–distortion). Writes one
JSON line per point (bytes, held-out PSNR, pruned share, depth) and prints, per input, the bytes of every
γ > 0 point over the γ = 0 curve at the same PSNR (log-linear; end slopes outside it). This is how the
default γ = 0.3 was chosen (on an H200, with ``--channel_transform none``, the default of that moment):

    python scripts/sweep_prune_factor.py --factors 0 0.15 0.4 1.0 --qualities 40 48 --extra --channel_transform none
    python scripts/sweep_prune_factor.py --factors 0 0.07 0.15 0.25 --qualities 32 56 --extra --channel_transform none
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

import numpy as np  # noqa: E402

CAPTURES = os.path.join(ROOT, "..", "shared", "data", "captures")


def run_point(path: str, quality: float, factor: float, out_dir: str, extra: list) -> dict:
    import compress
    import compression.rd_structure as rd_structure
    from codec import load_npz

    rd_structure.JOINT_REMOVAL_FACTOR = factor
    bundle = os.path.join(out_dir, f"{os.path.basename(path)}.g{factor:g}.q{quality:g}.bundle")
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        rc = compress.main([path, "-o", bundle, "--quality", str(quality), "--iterations", "0", "--quiet", *extra])
    conf = load_npz(bundle).payload.config if rc == 0 else {}
    return {"input": os.path.basename(path), "quality": quality, "factor": factor, "rc": rc,
            "bytes": os.path.getsize(bundle) if rc == 0 else None, "psnr": conf.get("heldout", {}).get("psnr"),
            "pruned": conf.get("percent"), "depth": conf.get("depth")}


def ratios(rows: list) -> dict:
    """input → {factor: [(quality, bytes / bytes of the γ = 0 curve at the same PSNR)]}."""
    out: dict = {}
    for name in sorted({r["input"] for r in rows}):
        base = sorted((r["psnr"], r["bytes"]) for r in rows if r["input"] == name and r["factor"] == 0 and r["bytes"])
        if len(base) < 2:
            continue
        bp, bb = np.array([p for p, _ in base]), np.log([b for _, b in base])
        for r in rows:
            if r["input"] != name or r["factor"] == 0 or not r["bytes"]:
                continue
            p = r["psnr"]
            if bp[0] <= p <= bp[-1]:
                ref = np.interp(p, bp, bb)
            else:
                i = 0 if p < bp[0] else -2
                ref = bb[i] + (bb[i + 1] - bb[i]) / (bp[i + 1] - bp[i]) * (p - bp[i])
            out.setdefault(name, {}).setdefault(r["factor"], []).append((r["quality"], round(float(np.exp(np.log(r["bytes"]) - ref)), 3)))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--inputs", nargs="+", default=None, help="splat files (default: ../shared/data/captures/*)")
    ap.add_argument("--factors", type=float, nargs="+", default=[0.0, 0.15, 0.3, 0.6])
    ap.add_argument("--qualities", type=float, nargs="+", default=[40.0, 48.0])
    ap.add_argument("--extra", nargs=argparse.REMAINDER, default=[], help="more compress.py flags (last)")
    ap.add_argument("--out", default=os.path.join("bench_out", "prune_factor"))
    args = ap.parse_args()
    inputs = args.inputs
    if inputs is None:
        if not os.path.isdir(CAPTURES):
            print(f"{CAPTURES} is absent: give --inputs", file=sys.stderr)
            return 2
        inputs = sorted(os.path.join(CAPTURES, f) for f in os.listdir(CAPTURES) if not f.endswith(".md"))
    if 0.0 not in args.factors:
        args.factors = [0.0] + args.factors
    os.makedirs(args.out, exist_ok=True)
    rows = []
    with open(os.path.join(args.out, "sweep.jsonl"), "a") as log:
        for path in inputs:
            for q in args.qualities:
                for g in args.factors:
                    row = run_point(path, q, g, args.out, args.extra)
                    rows.append(row)
                    print(json.dumps(row), flush=True)
                    log.write(json.dumps(row) + "\n")
    for name, per in ratios(rows).items():
        print(name, {g: sorted(v) for g, v in sorted(per.items())})
    return 0


if __name__ == "__main__":
    sys.exit(main())
