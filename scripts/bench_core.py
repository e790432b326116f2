"""Benchmark of the two cores: raht/ and quant/.

Runs scripts/bench_raht.py and scripts/bench_quant.py in one process, prints one markdown
table per part and writes all figures to one JSON file.

    python scripts/bench_core.py [--quick] [--out bench_out/bench_core.json]
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import bench_quant  # noqa: E402
import bench_raht  # noqa: E402


def _table(rows):
    if not rows:
        return "(no rows)"
    keys = list(rows[0].keys())
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    for row in rows:
        cells = []
        for k in keys:
            v = row.get(k, "")
            cells.append(f"{v:.4g}" if isinstance(v, float) else str(v))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes (smoke test)")
    parser.add_argument("--out", default="bench_out/bench_core.json", help="JSON output path")
    args = parser.parse_args(argv)
    result = {"quick": args.quick, "raht": bench_raht.run(args.quick), "quant": bench_quant.run(args.quick)}
    print("## raht/\n\n" + _table(result["raht"]) + "\n")
    print("## quant/\n\n" + _table(result["quant"]) + "\n")
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=2)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
