#!/usr/bin/env python
"""How often, and by how much, each AC entropy model family wins.

The entropy-coded formats (v2, v3) code each AC channel with the smaller of two model families:
``geometric`` (a quantized Laplace per block and RAHT weight class, B + 12 integers stored) and
``adaptive`` (an adaptive categorical per weight class, nothing stored). For every bundle given, this
re-encodes the stored codes three ways — geometric only, adaptive only (where the alphabet allows it),
and the per-channel choice — and reports per channel group how many channels each family wins and
the bytes of each way. Nothing is timed.

    python scripts/bench_entropy_models.py BUNDLE [BUNDLE ...] [--json out.json]
"""
from __future__ import annotations

import argparse
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402


def measure(path: str) -> dict:
    from codec import load_npz
    from codec.ac_coding import ADAPTIVE_MAX_ALPHABET, MODEL_ADAPTIVE, code_centres, encode_ac
    from raht import build_plan
    import torch

    dec = load_npz(path)
    p = dec.payload
    weight = build_plan(torch.from_numpy(p.coords), p.depth).ac_weight.numpy()
    centres = code_centres(p.zero_point, p.bits)
    runs = {name: encode_ac(p.ac_codes, centres, weight, p.n_block, models=models)
            for name, models in (("both", ("geometric", "adaptive")), ("geometric", ("geometric",)),
                                 ("adaptive", ("adaptive",)))}
    out = {"bundle": path, "n_gaussians": p.n_gaussians, "groups": {}}
    for group, sl in p.layout.group_slices().items():
        if sl.stop == sl.start:
            continue
        row = {name: int(r.channel_bytes()[sl].sum()) for name, r in runs.items()}
        row["channels"] = sl.stop - sl.start
        row["adaptive_wins"] = int((runs["both"].model[sl] == MODEL_ADAPTIVE).sum())
        out["groups"][group] = row
    out["total"] = {name: int(r.channel_bytes().sum()) for name, r in runs.items()}
    out["adaptive_wins"] = int((runs["both"].model == MODEL_ADAPTIVE).sum())
    out["channels"] = int(p.ac_codes.shape[1])
    out["adaptive_max_alphabet"] = ADAPTIVE_MAX_ALPHABET
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("bundles", nargs="+")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    rows = []
    print("| bundle | channels adaptive / all | AC bytes: choice | geometric only | adaptive only | geometric only / choice |")
    print("|---|---|---|---|---|---|")
    for path in args.bundles:
        r = measure(path)
        rows.append(r)
        t = r["total"]
        print(f"| {os.path.basename(os.path.dirname(path)) or path}/{os.path.basename(path)} | {r['adaptive_wins']} / {r['channels']} | "
              f"{t['both']:,} | {t['geometric']:,} | {t['adaptive']:,} | {t['geometric'] / t['both']:.4f} |")
        for g, row in r["groups"].items():
            print(f"|   {g} | {row['adaptive_wins']} / {row['channels']} | {row['both']:,} | {row['geometric']:,} | "
                  f"{row['adaptive']:,} | {row['geometric'] / max(1, row['both']):.4f} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
