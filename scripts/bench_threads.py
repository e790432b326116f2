#!/usr/bin/env python
"""How ``compress.py`` degrades when a second one shares the CPU, per OpenMP wait policy.

For each policy of ``--policies`` (``OMP_WAIT_POLICY`` in the environment of the runs; ``default``: libgomp's
own, spin a while and then sleep): one
``compress.py IN -o OUT`` alone, then two at once; wall time of each, and the slowdown of a run beside
another against alone (2× is what two jobs on a fully used CPU cost; far more is threads spinning on
each other's cores). ``--args`` are passed to compress.py (default: a small schedule, so one run takes
tens of seconds). The machine must be otherwise quiet.

    python scripts/bench_threads.py ../shared/data/captures/massa.sog [--policies default active passive] [--out bench_out/threads]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SMALL = ["--n_views", "8", "--n_heldout_views", "4", "--view_size", "160", "--iterations", "20", "--quiet"]


def _start(in_path: str, out_path: str, policy: str, extra: list[str]) -> subprocess.Popen:
    # "default": libgomp's own (spin a while, then sleep): an empty value, which it ignores, and which keeps
    # the command line from setting PASSIVE
    env = dict(os.environ, OMP_WAIT_POLICY="" if policy == "default" else policy.upper())
    return subprocess.Popen([sys.executable, os.path.join(ROOT, "compress.py"), in_path, "-o", out_path, *extra],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _wait(proc: subprocess.Popen, t0: float) -> float:
    out, _ = proc.communicate()
    if proc.returncode != 0:
        raise SystemExit(f"compress.py failed ({proc.returncode}):\n{out[-2000:]}")
    return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("input", help="a splat file")
    ap.add_argument("--policies", nargs="+", default=["default", "passive"], choices=["default", "active", "passive"])
    ap.add_argument("--args", nargs=argparse.REMAINDER, default=None, help="compress.py options (default: a small schedule)")
    ap.add_argument("--out", default=os.path.join(ROOT, "bench_out", "threads"))
    args = ap.parse_args()
    extra = args.args if args.args is not None else SMALL
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for policy in args.policies:
            t0 = time.perf_counter()
            alone = _wait(_start(args.input, os.path.join(tmp, "a.bundle"), policy, extra), t0)
            t0 = time.perf_counter()
            procs = [_start(args.input, os.path.join(tmp, f"p{i}.bundle"), policy, extra) for i in range(2)]
            paired = [_wait(p, t0) for p in procs]
            row = {"policy": policy, "alone_s": alone, "paired_s": paired,
                   "slowdown": max(paired) / alone}
            rows.append(row)
            print(f"OMP_WAIT_POLICY={policy.upper()}: alone {alone:.1f} s; two at once {paired[0]:.1f} s and "
                  f"{paired[1]:.1f} s: {row['slowdown']:.2f}x", flush=True)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "bench_threads.json"), "w") as fh:
        json.dump({"input": os.path.basename(args.input), "compress_args": extra, "cpus": os.cpu_count(), "rows": rows},
                  fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
