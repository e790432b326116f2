#!/usr/bin/env python
"""Sweep a constant of the rate–distortion structure × quality on splat files: the prune factor γ
(compression.rd_structure.JOINT_REMOVAL_FACTOR, the default) or, with ``--constant
POSITION_DISTORTION_FACTOR``, the factor on the position distortion of the depth choice.

Each point is ``compress.py IN -o OUT --quality Q --iterations 0 [extra flags]`` run in-process with the
module constant set to the factor. Writes one JSON line per point (bytes, held-out PSNR, pruned share,
depth) and prints, per input, the bytes of every other factor's point over the baseline curve at the same
PSNR (log-linear; end slopes outside it). The baseline is γ = 0 (nothing pruned, the depth still chosen
by rate–distortion) for the prune factor and 1 for the position factor. This is how the default γ = 0.3
was chosen (on an H200, with ``--channel_transform none``, the default of that moment):

    python scripts/sweep_prune_factor.py --factors 0 0.15 0.4 1.0 --qualities 40 48 --extra --channel_transform none
    python scripts/sweep_prune_factor.py --factors 0 0.07 0.15 0.25 --qualities 32 56 --extra --channel_transform none
    python scripts/sweep_prune_factor.py --constant POSITION_DISTORTION_FACTOR --factors 1 4 16 --qualities 40 48 56 \
        --inputs ../shared/data/captures/donut.ply ../shared/data/captures/massa.sog
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


CONSTANTS = {"JOINT_REMOVAL_FACTOR": 0.0, "POSITION_DISTORTION_FACTOR": 1.0}  # name → baseline factor


def run_point(path: str, quality: float, factor: float, out_dir: str, extra: list,
              constant: str = "JOINT_REMOVAL_FACTOR") -> dict:
    import compress
    import compression.rd_structure as rd_structure
    from codec import load_npz

    default = getattr(rd_structure, constant)
    setattr(rd_structure, constant, factor)
    tag = "g" if constant == "JOINT_REMOVAL_FACTOR" else "p"
    bundle = os.path.join(out_dir, f"{os.path.basename(path)}.{tag}{factor:g}.q{quality:g}.bundle")
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        try:
            rc = compress.main([path, "-o", bundle, "--quality", str(quality), "--iterations", "0", "--quiet", *extra])
        finally:
            setattr(rd_structure, constant, default)
    conf = load_npz(bundle).payload.config if rc == 0 else {}
    return {"input": os.path.basename(path), "quality": quality, "factor": factor, "rc": rc,
            "bytes": os.path.getsize(bundle) if rc == 0 else None, "psnr": conf.get("heldout", {}).get("psnr"),
            "pruned": conf.get("percent"), "depth": conf.get("depth")}


def ratios(rows: list, baseline: float = 0.0) -> dict:
    """input → {factor: [(quality, bytes / bytes of the baseline factor's curve at the same PSNR)]}."""
    out: dict = {}
    for name in sorted({r["input"] for r in rows}):
        base = sorted((r["psnr"], r["bytes"]) for r in rows if r["input"] == name and r["factor"] == baseline and r["bytes"])
        if len(base) < 2:
            continue
        bp, bb = np.array([p for p, _ in base]), np.log([b for _, b in base])
        for r in rows:
            if r["input"] != name or r["factor"] == baseline or not r["bytes"]:
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
    ap.add_argument("--constant", choices=sorted(CONSTANTS), default="JOINT_REMOVAL_FACTOR")
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
    baseline = CONSTANTS[args.constant]
    if baseline not in args.factors:
        args.factors = [baseline] + args.factors
    os.makedirs(args.out, exist_ok=True)
    rows = []
    with open(os.path.join(args.out, "sweep.jsonl"), "a") as log:
        for path in inputs:
            for q in args.qualities:
                for g in args.factors:
                    row = run_point(path, q, g, args.out, args.extra, args.constant)
                    row["constant"] = args.constant
                    rows.append(row)
                    print(json.dumps(row), flush=True)
                    log.write(json.dumps(row) + "\n")
    for name, per in ratios(rows, baseline).items():
        print(name, {g: sorted(v) for g, v in sorted(per.items())})
    return 0


if __name__ == "__main__":
    sys.exit(main())
