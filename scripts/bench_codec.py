"""Benchmark of the compression codec on synthetic Gaussians, CPU: format v2 (range) beside v1 (deflate).

Stages, each timed on ``--threads`` torch threads (default 2, the target machine):
- setup (importance excluded): prune → voxelize + merge → quaternion → Euler → RAHT plan →
  quantizer bank + calibration (``compression.setup.build_quantized``);
- save: ``encode()`` (RAHT forward + codes) + ``save_npz`` (pc_npz/ + bundle), for format v2
  (``--codec range``: entropy coding of the AC codes and the octree included) and v1 (``deflate``);
- load: ``load_npz`` of the bundle (validate, entropy-decode, dequantize, plan, inverse RAHT), both versions;
- attribute pass: RAHT forward + bank + inverse, forward + backward (one QAT iteration's share);
- rate control (``--target_size``) of the same model with the rd quantizer: probes and seconds per probe.
Peak memory = the process's peak RSS after each stage (ru_maxrss, monotonic). Sizes: bytes per
component of both versions and bits per Gaussian.

Synthetic data: N_in = N/(1 − percent) Gaussians uniformly in a 10 × 6 × 4 box, attributes =
smooth functions of position + noise (so the RAHT ACs are compressible as in real scenes), SH
degree 3 (55 channels), depth 20, 57 blocks, 8 bits. Targets at N = 1M: save ≤ 5 s, load ≤ 5 s
(both including entropy coding and geometry), attribute pass ≤ 2 s. Uniform random positions are
the worst case for the octree coder (no structure to learn); real captures are in
scripts/bench_geometry.py.

    python scripts/bench_codec.py [--quick] [--n 1000000] [--out bench_out/bench_codec.json]
"""
import argparse
import json
import math
import os
import resource
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch  # noqa: E402

from compression.setup import build_quantized  # noqa: E402
from codec import bundle_size  # noqa: E402
from codec import load_npz, save_npz  # noqa: E402


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def synthetic_raw(n: int, sh_degree: int, seed: int):
    """(raw columns [n, 56], means [n, 3], scores [n]) of smooth synthetic Gaussians."""
    g = torch.Generator().manual_seed(seed)
    means = torch.rand(n, 3, generator=g) * torch.tensor([10.0, 6.0, 4.0])
    k1 = (sh_degree + 1) ** 2 - 1
    c = 1 + 4 + 3 + 3 * k1 + 3
    freq = torch.rand(3, c, generator=g) * 0.8
    phase = torch.rand(c, generator=g) * 6.28
    raw = torch.sin(means @ freq + phase) + 0.05 * torch.randn(n, c, generator=g)
    raw[:, 8:8 + 3 * k1] *= 0.2  # higher SH bands are small
    raw[:, -3:] = raw[:, -3:] - 4.0  # log-scales
    scores = torch.rand(n, generator=g, dtype=torch.float64)
    return raw.contiguous(), means, scores


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def run(n: int, percent: float, depth: int, n_block: int, seed: int = 0) -> dict:
    # one-time costs (lazy imports inside torch, e.g. torch.broadcast_shapes -> sympy, ~1-2 s) are
    # paid by a small warm-up so the stage times below are steady-state; reported separately
    t0 = time.perf_counter()
    w_raw, w_means, w_scores = synthetic_raw(2000, 3, seed + 1)
    w_model, _ = build_quantized(w_raw, w_means, w_scores, 3, depth=depth, percent=percent, n_block=8)
    with tempfile.TemporaryDirectory() as tmp:  # constriction / scipy imports of the v2 coder
        load_npz(save_npz(w_model.encode(), os.path.join(tmp, "pc_npz")).bundle_path)
    w_model.quantized_attributes().sum().backward()
    warmup_s = time.perf_counter() - t0
    n_in = int(math.ceil(n / (1.0 - percent)))
    rows = []
    res: dict = {"warmup_s": warmup_s, "n_input": n_in, "percent": percent, "depth": depth, "n_block": n_block, "threads": torch.get_num_threads()}

    raw, means, scores = synthetic_raw(n_in, 3, seed)
    t0 = time.perf_counter()
    model, steps = build_quantized(raw, means, scores, 3, depth=depth, percent=percent, n_block=n_block, bits=8,
                                   quantizer="vanilla")
    t_setup = time.perf_counter() - t0
    del raw, means, scores
    res["n_gaussians"] = model.n_gaussians
    res["setup_steps_s"] = {s.name: s.seconds for s in steps}
    rows.append({"stage": "setup (no importance)", "seconds": t_setup, "peak_rss_mib": peak_rss_mib(), "target_s": ""})

    with tempfile.TemporaryDirectory() as tmp:
        res["sizes"] = {}
        res["decoded_equals_training_forward"] = {}
        for codec, version in (("range", "v2"), ("deflate", "v1")):
            pc_dir = os.path.join(tmp, codec, "iteration_0", "pc_npz")
            report, t_save = timed(lambda: save_npz(model.encode(codec=codec), pc_dir))
            rows.append({"stage": f"save {version} --codec {codec} (encode + save_npz)", "seconds": t_save,
                         "peak_rss_mib": peak_rss_mib(), "target_s": 5.0})
            decoded, t_load = timed(lambda: load_npz(pc_dir + ".bundle"))
            rows.append({"stage": f"load_npz {version}", "seconds": t_load, "peak_rss_mib": peak_rss_mib(), "target_s": 5.0})
            model.eval()
            with torch.no_grad():
                res["decoded_equals_training_forward"][version] = bool(torch.equal(decoded.attributes, model.quantized_attributes()))
            model.train()
            del decoded
            res["sizes"][version] = report.as_dict()

    # rate control at 1M: the same voxels and attributes with the rd quantizer (uniform sensitivity:
    # no cameras here), fitted to 80 % of its quality-40 size; every probe = recalibrate + encode
    from compression.attributes import QuantizedGaussians
    from compression.rate_control import fit_to_target

    rd = QuantizedGaussians(model.attributes().detach(), model.coords, model.bbox_min, model.bbox_max, model.depth,
                            model.sh_degree, n_block=model.n_block, bits=16, quantizer="rd", plan=model.plan)
    rd.bank.set_kappa(2.0 ** -5)
    rd.calibrate()
    full = bundle_size(rd.encode(), plan=rd.plan)
    rate, t_rc = timed(lambda: fit_to_target(rd, int(0.8 * full), lambda m: m.encode()))
    res["rate_control"] = {"start_bytes": full, "target": rate.target, "bytes": rate.bytes, "probes": len(rate.probes),
                           "seconds": t_rc, "seconds_per_probe": t_rc / len(rate.probes)}
    rows.append({"stage": f"rate control to 80 % of the size ({len(rate.probes)} probes)", "seconds": t_rc,
                 "peak_rss_mib": peak_rss_mib(), "target_s": ""})

    def attribute_pass():
        attrs_hat = model.quantized_attributes()
        attrs_hat.square().sum().backward()
        return attrs_hat

    attribute_pass()  # warm-up (allocator)
    for p in model.parameters():
        p.grad = None
    _, t_pass = timed(attribute_pass)
    rows.append({"stage": "attribute pass fwd+bwd", "seconds": t_pass, "peak_rss_mib": peak_rss_mib(), "target_s": 2.0})

    def attribute_pass_full():
        attrs_hat = model.quantized_attributes(full_autograd=True)
        attrs_hat.square().sum().backward()

    for p in model.parameters():
        p.grad = None
    _, t_full = timed(attribute_pass_full)
    rows.append({"stage": "attribute pass fwd+bwd, full autograd (LSQ path)", "seconds": t_full,
                 "peak_rss_mib": peak_rss_mib(), "target_s": ""})
    res["rows"] = rows
    return res


def table(rows) -> str:
    keys = list(rows[0].keys())
    out = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    for r in rows:
        out.append("| " + " | ".join(f"{r[k]:.3f}" if isinstance(r[k], float) else str(r[k]) for k in keys) + " |")
    return "\n".join(out)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="N = 50 000 (smoke test)")
    ap.add_argument("--n", type=int, default=None, help="Gaussians after pruning (default 1 000 000; 50 000 with --quick)")
    ap.add_argument("--percent", type=float, default=0.2, help="pruned fraction of the synthetic input")
    ap.add_argument("--depth", type=int, default=20, help="octree depth")
    ap.add_argument("--n_block", type=int, default=57, help="quantizer blocks per channel")
    ap.add_argument("--threads", type=int, default=2, help="torch CPU threads (the target machine has 2 cores)")
    ap.add_argument("--out", default="bench_out/bench_codec.json", help="JSON output path")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    n = args.n or (50_000 if args.quick else 1_000_000)
    res = run(n, args.percent, args.depth, args.n_block)
    res["quick"] = args.quick
    print(f"## codec benchmark: N = {res['n_gaussians']} Gaussians (from {res['n_input']}), depth {args.depth}, "
          f"{args.n_block} blocks, 55 channels, {args.threads} threads\n")
    print(table(res["rows"]))
    v1, v2 = res["sizes"]["v1"], res["sizes"]["v2"]
    print(f"\nbundle v2 {v2['bundle_bytes']} B = {v2['bits_per_gaussian']:.2f} bits/Gaussian, "
          f"v1 {v1['bundle_bytes']} B = {v1['bits_per_gaussian']:.2f} bits/Gaussian "
          f"(v2/v1 = {v2['bundle_bytes'] / v1['bundle_bytes']:.3f}); components (bytes):")
    names = list(dict.fromkeys(list(v2["component_bytes"]) + list(v1["component_bytes"])))
    print(table([{"component": k, "v2_bytes": v2["component_bytes"].get(k, 0), "v1_bytes": v1["component_bytes"].get(k, 0),
                  "v2_bits_per_gaussian": 8.0 * v2["component_bytes"].get(k, 0) / res["n_gaussians"],
                  "v1_bits_per_gaussian": 8.0 * v1["component_bytes"].get(k, 0) / res["n_gaussians"]} for k in names]))
    print("\nsetup steps (s): " + ", ".join(f"{k} {v:.3f}" for k, v in res["setup_steps_s"].items()))
    print(f"warm-up (one-time imports, excluded above): {res['warmup_s']:.2f} s")
    print(f"decoded attributes == training forward: {res['decoded_equals_training_forward']}")
    rc = res["rate_control"]
    print(f"rate control: {rc['start_bytes']} B -> target {rc['target']} B: {rc['bytes']} B in {rc['probes']} probes, "
          f"{rc['seconds_per_probe']:.2f} s per probe")
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as fh:
        json.dump(res, fh, indent=2)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
