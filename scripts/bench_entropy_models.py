#!/usr/bin/env python
"""What format 6's entropy coding costs against versions 2–4's, and how often each AC model family wins.

Versions 2–4 code each AC channel with the smaller of two model families, ``geometric`` (a quantized
Laplace per block and RAHT weight class, B + 12 integers stored) and ``adaptive`` (an adaptive
categorical per weight class, nothing stored), with constriction's quantization of float weights.
Version 6 codes every channel with the geometric model and integer tables (codec/entropy.py). For
every bundle given, this re-encodes the stored codes and voxels: the v4 choice, geometric only,
adaptive only (where the alphabet allows it; float tables) and v6 (geometric, integer tables), and the
octree with both tables; it reports per channel group how many channels the adaptive family wins and
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
    from codec.entropy import FLOAT_TABLES, INTEGER_TABLES
    from codec.geometry import encode_geometry
    from raht import build_plan
    import torch

    dec = load_npz(path)
    p = dec.payload
    weight = build_plan(torch.from_numpy(p.coords), p.depth).ac_weight.numpy()
    centres = code_centres(p.zero_point, p.bits)
    runs = {name: encode_ac(p.ac_codes, centres, weight, p.n_block, models=models, tables=tables)
            for name, models, tables in (("both", ("geometric", "adaptive"), FLOAT_TABLES),
                                         ("geometric", ("geometric",), FLOAT_TABLES),
                                         ("adaptive", ("adaptive",), FLOAT_TABLES),
                                         ("v6", ("geometric",), INTEGER_TABLES))}
    out = {"bundle": path, "n_gaussians": p.n_gaussians, "groups": {},
           "octree": {t: 4 * int(encode_geometry(p.coords, p.depth, t).size) for t in (FLOAT_TABLES, INTEGER_TABLES)}}
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
    print("| bundle | channels adaptive / all | AC bytes: v4 choice | geometric only | adaptive only | v6 | v6 / v4 choice "
          "| octree v4 | octree v6 | AC + octree v6 / v4 |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for path in args.bundles:
        r = measure(path)
        rows.append(r)
        t, o = r["total"], r["octree"]
        both = (t["v6"] + o["integer"]) / (t["both"] + o["float"])
        print(f"| {os.path.basename(os.path.dirname(path)) or path}/{os.path.basename(path)} | {r['adaptive_wins']} / {r['channels']} | "
              f"{t['both']:,} | {t['geometric']:,} | {t['adaptive']:,} | {t['v6']:,} | {t['v6'] / t['both']:.4f} | "
              f"{o['float']:,} | {o['integer']:,} | {both:.4f} |")
        for g, row in r["groups"].items():
            print(f"|   {g} | {row['adaptive_wins']} / {row['channels']} | {row['both']:,} | {row['geometric']:,} | "
                  f"{row['adaptive']:,} | {row['v6']:,} | {row['v6'] / max(1, row['both']):.4f} | | | |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
