"""Benchmark of quant/ banks against the per-module loop.

Forward + backward of one fake-quantization of an [L, C] stream with C × B per-block quantizers:
the vectorized bank (``VanillaQuanBank`` / ``LsqQuanBank``) versus MesonGS's reference design, a
Python loop over C·B single-block modules (``quant.modules.loop_forward``). Training mode (the
envelope update / LSQ step gradient included), float32, default L = 1M, C = 55, B = 57
(3,135 quantizers); ``--quick``: L = 50k. Also times the encoder path (``quantize_codes``) and
checks that bank and loop agree bit for bit.

    python scripts/bench_quant.py [--quick] [--device cpu|cuda|auto] [--threads N] [--out bench_out/bench_quant.json]

``run(quick)`` returns the rows (list of dicts) for ``scripts/bench_core.py``.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch  # noqa: E402

from quant import LsqQuan, LsqQuanBank, VanillaQuan, VanillaQuanBank, loop_forward  # noqa: E402


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _time(fn, device, reps: int, warmup: bool = True) -> float:
    """Median wall time of ``fn()`` over ``reps`` runs (after one warm-up run if ``warmup``)."""
    if warmup:
        fn()
        _sync(device)
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _case(kind: str, L: int, C: int, B: int, device: torch.device, reps_bank: int, reps_loop: int) -> dict:
    gen = torch.Generator().manual_seed(0)
    # RAHT-like ACs: heavy-tailed, per-channel scale
    x = (torch.randn(L, C, generator=gen) ** 3 * torch.rand(C, generator=gen)).to(device)
    grad = torch.randn(L, C, generator=gen).to(device)
    if kind == "vanilla":
        bank = VanillaQuanBank(C, B).to(device)
        mods = torch.nn.ModuleList([VanillaQuan() for _ in range(C * B)]).to(device)
    else:
        bank = LsqQuanBank(C, B).to(device)
        mods = torch.nn.ModuleList([LsqQuan() for _ in range(C * B)]).to(device)
    bank.train()
    mods.train()

    with torch.no_grad():  # initialise both (envelope / LSQ step) outside the timings
        bank(x)
        loop_forward(mods, x, B)
    xb = x.clone().requires_grad_(True)
    xl = x.clone().requires_grad_(True)

    def bank_step():
        xb.grad = None
        bank.zero_grad(set_to_none=True)
        bank(xb).backward(grad)

    def loop_step():
        xl.grad = None
        mods.zero_grad(set_to_none=True)
        loop_forward(mods, xl, B).backward(grad)

    t_bank = _time(bank_step, device, reps_bank)
    t_loop = _time(loop_step, device, reps_loop, warmup=False)  # already warm from the initialisation
    if kind == "lsq":  # align the (independently initialised) steps before comparing outputs
        with torch.no_grad():
            for i, m in enumerate(mods):
                m.step.copy_(bank.step[i // B, i % B])
    with torch.no_grad():
        bit_exact = bool(torch.equal(bank(x), loop_forward(mods, x, B)))
    bank.eval()
    t_codes = _time(lambda: bank.quantize_codes(x, dtype=torch.uint8), device, reps_bank)
    return {
        "case": f"{kind} fwd+bwd",
        "device": str(device),
        "threads": torch.get_num_threads(),
        "L": L, "C": C, "B": B, "quantizers": C * B,
        "bank_s": t_bank, "loop_s": t_loop, "speedup": t_loop / t_bank,
        "codes_s": t_codes,
        "bit_exact": bit_exact,
    }


def run(quick: bool = False, device: str = "cpu", threads: int = 0) -> list:
    """Rows of the benchmark: one per (bank kind, device). ``device``: cpu | cuda | auto (cpu, plus
    cuda when available); ``threads`` > 0 sets ``torch.set_num_threads`` first."""
    if threads > 0:
        torch.set_num_threads(threads)
    L = 50_000 if quick else 1_000_000
    C, B = 55, 57
    devices = []
    if device in ("cpu", "auto"):
        devices.append(torch.device("cpu"))
    if device == "cuda" or (device == "auto" and torch.cuda.is_available()):
        devices.append(torch.device("cuda"))
    rows = []
    for dev in devices:
        for kind in ("vanilla", "lsq"):
            rows.append(_case(kind, L, C, B, dev, reps_bank=3 if quick else 5, reps_loop=1 if quick else 2))
    return rows


def _table(rows) -> str:
    keys = list(rows[0].keys())
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    for r in rows:
        lines.append("| " + " | ".join(f"{r[k]:.4g}" if isinstance(r[k], float) else str(r[k]) for k in keys) + " |")
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="L = 50k instead of 1M (smoke test)")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda", "auto"),
                        help="where to run (auto = cpu, plus cuda when available)")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch default)")
    parser.add_argument("--out", default="bench_out/bench_quant.json", help="JSON output path")
    args = parser.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        print("error: --device cuda but no CUDA device is available", file=sys.stderr)
        sys.exit(2)
    rows = run(args.quick, args.device, args.threads)
    print(_table(rows))
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump({"quick": args.quick, "torch_threads": torch.get_num_threads(), "rows": rows}, f, indent=2)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
