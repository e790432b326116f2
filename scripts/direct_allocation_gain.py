#!/usr/bin/env python
"""Estimate, on a splat file, what per-Gaussian quantizer steps would save on a channel group coded
directly (no RAHT), against what the RAHT coding of the current default spends on it.

The question (issue 15, item 3): a rotation error costs what the Gaussian's footprint and anisotropy
make it cost, and a decoder knows those once it has the scales and the opacity. So code a group's
columns directly, one step per Gaussian, Δ_i = k / √p_i, where p_i is a sensitivity *predicted* from
what the decoder already has (the group's own values excluded), and compare with the current coding.

Both sides are scored the same way, with no render:

- distortion: Σ_i s_i·(x_i − x̂_i)², s = the Hutchinson diagonal of the attributes (the codec's own
  model of the view error; ``compression.sensitivity``), per column;
- current: the default model at ``--quality Q`` (rate–distortion steps over the RAHT coefficients),
  reconstructed by the decoder's formula; its bytes: the group's AC streams in the encoded file
  (``codec.report.ac_component_bytes``), all streams included;
- direct: the steps are quantized to classes of √2 (the class index is what a decoder would derive
  from the features; the only side information counted is 8 × 32 bits per column for the fit), each class
  coded with an adaptive categorical model (its exact adaptive code length, counts starting at 1);
  k is searched so that the direct distortion equals the current one.

The predictor is a least-squares fit of log s on features of the decoded values (sorted log-scales,
their sum and spreads, logit opacity); for the opacity column the opacity feature is left out, for the
scales the scale features. Euler angles wrap at ±π (φ, ψ): their error is taken modulo 2π.

    python scripts/direct_allocation_gain.py ../shared/data/captures/donut.ply --quality 48

This measures no render and no real bitstream of the direct coding: it is an estimate to decide
whether the format change is worth building, not a result to quote as the codec's performance.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import math
import os
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402
import torch  # noqa: E402

from codec.entropy import adaptive_code_bits  # noqa: E402


class _Captured(Exception):
    pass


def finest_model(path: str, quality: float):
    """The unpruned model at the finest depth that ``compress.py PATH --quality Q`` builds (with its
    Hutchinson diagonals), taken where the rate–distortion structure would be chosen."""
    import compress
    import compression.setup as setup

    box = {}

    def grab(model, target, codec):
        box["model"] = model
        raise _Captured()

    original = setup.rd_structure_of
    setup.rd_structure_of = grab
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            with tempfile.TemporaryDirectory() as tmp:
                compress.main([path, "-o", os.path.join(tmp, "x.bundle"), "--quality", str(quality),
                               "--iterations", "0", "--quiet"])
    except _Captured:
        pass
    finally:
        setup.rd_structure_of = original
    if "model" not in box:
        raise SystemExit(f"{path}: compress.py did not reach the rate-distortion structure")
    return box["model"]


def adaptive_bits(codes: np.ndarray) -> float:
    """Exact code length (bits) of ``codes`` under an adaptive categorical whose counts start at 1
    over the values seen (the alphabet sent as its range: 2 × 16 bits)."""
    if codes.size == 0:
        return 0.0
    return adaptive_code_bits(np.bincount(codes - codes.min())[None]) + 32.0


def features(decoded: np.ndarray, layout, exclude: str) -> np.ndarray:
    cols = [np.ones(decoded.shape[0])]
    if exclude != "opacity":
        cols.append(decoded[:, layout.opacity.start])
    if exclude != "scale":
        ls = np.sort(decoded[:, layout.scale], axis=1)
        cols += [ls[:, 0], ls[:, 1], ls[:, 2], ls.sum(1), ls[:, 2] - ls[:, 0], ls[:, 2] - ls[:, 1],
                 (ls[:, 2] - ls[:, 0]) ** 2]
    return np.column_stack(cols)


def direct_cost(x: np.ndarray, s: np.ndarray, p: np.ndarray, k: float, wrap: bool) -> tuple[float, float]:
    """(bits, distortion) of coding ``x`` with steps k/√p quantized to classes of √2."""
    cls = np.round(np.log2(k / np.sqrt(p)) * 2.0).astype(np.int64)  # step class: Δ = 2^(cls/2)
    step = 2.0 ** (cls / 2.0)
    q = np.round(x / step).astype(np.int64)
    err = x - q * step
    if wrap:
        err = (err + math.pi) % (2.0 * math.pi) - math.pi
    bits = sum(adaptive_bits(q[cls == c]) for c in np.unique(cls))
    return bits, float((s * err * err).sum())


def fit_predictors(feats: np.ndarray, s: np.ndarray) -> tuple[list, list]:
    """Per column of ``s`` [N, k]: the predicted sensitivity exp(feats·w) (least squares on log s where
    s > 0) and the fit's R²."""
    preds, r2s = [], []
    for c in range(s.shape[1]):
        ok = s[:, c] > 0
        y = np.log(s[ok, c])
        w, *_ = np.linalg.lstsq(feats[ok], y, rcond=None)
        preds.append(np.exp(np.clip(feats @ w, -60, 60)))
        r2s.append(1.0 - float(((y - feats[ok] @ w) ** 2).mean() / y.var()))
    return preds, r2s


def group_cost(x: np.ndarray, s: np.ndarray, steps: list, wrap: list, k: float) -> tuple[float, float]:
    """(bits, distortion) of the columns of ``x`` [N, k] coded directly with steps k/√steps[j]
    (plus 8 × 32 bits per column for the fit)."""
    bits = dist = 0.0
    for j in range(x.shape[1]):
        b, d = direct_cost(x[:, j], s[:, j], steps[j], k, wrap[j])
        bits, dist = bits + b + 8 * 32, dist + d
    return bits, dist


def matched_bits(x: np.ndarray, s: np.ndarray, steps: list, wrap: list, target: float) -> float:
    """Bits of :func:`group_cost` at the k whose distortion meets ``target`` (bisection on log2 k;
    monotone up to class rounding)."""
    lo, hi = -40.0, 10.0
    for _ in range(40):
        mid = 0.5 * (lo + hi)
        if group_cost(x, s, steps, wrap, 2.0 ** mid)[1] > target:
            hi = mid
        else:
            lo = mid
    return group_cost(x, s, steps, wrap, 2.0 ** lo)[0]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("input")
    ap.add_argument("--quality", type=float, default=48.0)
    ap.add_argument("--groups", nargs="+", default=["euler", "opacity", "scale"])
    args = ap.parse_args()
    if not os.path.exists(args.input):
        print(f"{args.input} is absent", file=sys.stderr)
        return 2

    from codec import save_npz
    from codec.report import describe_compressed

    model = finest_model(args.input, args.quality)
    layout = model.layout
    model.calibrate()
    model.bank.eval()
    with torch.no_grad():
        x = model.attributes().detach().to(torch.float64).numpy()
        decoded = model.quantized_attributes().detach().to(torch.float64).numpy()
    s_all = model.hutchinson.attributes.numpy()
    with tempfile.TemporaryDirectory() as tmp:
        save_npz(model.encode(), os.path.join(tmp, "pc_npz"))
        parts = describe_compressed(os.path.join(tmp, "pc_npz.bundle")).component_bytes
    n = x.shape[0]
    print(f"{os.path.basename(args.input)} Q{args.quality:g}: {n} Gaussians (unpruned, finest depth)")
    print("| group | current (RAHT) bits/G | direct, one step | direct, per-Gaussian steps | per-Gaussian / current "
          "| predictor R² (mean) |")
    print("|---|---|---|---|---|---|")
    for group in args.groups:
        sl = getattr(layout, group)
        cur_bits = 8.0 * parts["ac_" + group]
        cur_dist = float((s_all[:, sl] * (x[:, sl] - decoded[:, sl]) ** 2).sum())
        preds, r2s = fit_predictors(features(decoded, layout, group), s_all[:, sl])
        wrap = [group == "euler" and c != layout.euler.start + 1 for c in range(sl.start, sl.stop)]  # θ does not wrap
        uniform = matched_bits(x[:, sl], s_all[:, sl], [np.ones(n)] * len(preds), wrap, cur_dist)
        bits = matched_bits(x[:, sl], s_all[:, sl], preds, wrap, cur_dist)
        print(f"| {group} | {cur_bits / n:.2f} | {uniform / n:.2f} | {bits / n:.2f} | {bits / cur_bits:.3f} | "
              f"{np.mean(r2s):.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
