#!/usr/bin/env python
"""Bits per input Gaussian of each component of one or more bundles, as a Markdown table.

    python scripts/component_bits.py --n_input 58649 before=old/massa.bundle after=new/massa.bundle

Reads the sizes from the files (``codec.report.describe_compressed``: nothing is decoded). The
divisor is the number of Gaussians of the *input* (``--n_input``), so that pruning shows as the
fewer bits it leaves rather than as more bits per kept Gaussian.
"""
from __future__ import annotations

import argparse
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

GROUPS = (("geometry", ("geometry",)), ("opacity", ("ac_opacity",)), ("rotation", ("ac_euler",)),
          ("f_dc", ("ac_f_dc",)), ("f_rest", ("ac_f_rest",)), ("scale", ("ac_scale",)),
          ("tables, manifest, container", ("quant_table", "dc", "channel_transform", "ac_tables", "manifest", "container")))


def table(labelled: list[tuple[str, str]], n_input: int) -> str:
    from codec.report import describe_compressed

    summaries = [(label, describe_compressed(path)) for label, path in labelled]
    head = "| component | " + " | ".join(label for label, _ in summaries) + " |"
    lines = [head, "|---|" + "---|" * len(summaries)]
    for name, keys in GROUPS:
        cells = [8.0 * sum(s.component_bytes.get(k, 0) for k in keys) / n_input for _, s in summaries]
        if any(cells):
            lines.append(f"| {name} | " + " | ".join(f"{c:.2f}" for c in cells) + " |")
    lines.append("| **total** | " + " | ".join(f"**{8.0 * s.total_bytes / n_input:.2f}**" for _, s in summaries) + " |")
    lines.append("| Gaussians kept | " + " | ".join(f"{s.manifest['n_gaussians']:,}" for _, s in summaries) + " |")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n_input", type=int, required=True, help="Gaussians of the input the bundles were made from")
    ap.add_argument("bundles", nargs="+", help="LABEL=PATH")
    args = ap.parse_args()
    labelled = []
    for item in args.bundles:
        label, sep, path = item.partition("=")
        if not sep:
            ap.error(f"{item!r}: give LABEL=PATH")
        labelled.append((label, path))
    print(table(labelled, args.n_input))
    return 0


if __name__ == "__main__":
    sys.exit(main())
