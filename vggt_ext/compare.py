"""Comparison of FP32 and weight-quantized VGGT models: fidelity metrics, timing, memory, report.

Library side of ``scripts/compare_quantization.py`` (the script parses arguments, shows progress
and writes the files; everything that computes a number lives here so it can be tested).

Fidelity is measured **against the FP32 model's own outputs on the same images** (no ground
truth is involved); all errors are over every frame and pixel of the batch:

| output | metrics |
|---|---|
| ``depth`` [B,S,H,W,1] | MAE, MSE, PSNR, SSIM (per frame, averaged), AbsRel, δ < 1.25 |
| ``world_points`` [B,S,H,W,3] | MAE, MSE, PSNR |
| ``pose_enc`` [B,S,9] | MAE, MSE, PSNR (after quaternion sign alignment), rotation angle error, translation direction angle error, FoV error |

Formulas (x = test output, r = FP32 reference, N elements):
- MAE = Σ|x − r|/N, MSE = Σ(x − r)²/N;
- PSNR = 10·log10(R²/MSE) with the **data range R = max(r) − min(r) of the FP32 output** over the
  whole batch (reported as ``data_range`` next to every PSNR); ``None`` when MSE = 0;
- SSIM: ``skimage.metrics.structural_similarity`` on each [H,W] depth map with the same R,
  Gaussian window σ = 1.5, population covariance (Wang et al. 2004 constants K1 = 0.01,
  K2 = 0.03), averaged over frames;
- AbsRel = mean(|d − d_ref| / d_ref); δ < 1.25 = fraction of pixels with
  max(d/d_ref, d_ref/d) < 1.25 (the usual monocular-depth accuracy, here against FP32);
- rotation error per frame = 2·acos(|⟨q̂, q̂_ref⟩|) in degrees (q̂ = unit quaternion, XYZW);
- translation angle per frame = angle between the translation vectors t and t_ref in degrees
  (frames where either |t| < 1e-8 are left out, e.g. an exact identity first frame);
- quaternion sign alignment: q ← −q where ⟨q, q_ref⟩ < 0 (q and −q are the same rotation) before
  the element-wise pose_enc errors.
"""
from __future__ import annotations

import logging
import math
import os
import statistics
import threading
import time
from typing import Any, Callable, Dict, List, Optional

import numpy as np
import torch

__all__ = [
    "OUTPUT_KEYS",
    "DEFAULT_METHODS",
    "parse_method",
    "method_file_name",
    "evaluate_model",
    "quantize_save_reload",
    "run_model",
    "error_stats",
    "depth_metrics",
    "points_metrics",
    "pose_metrics",
    "fidelity_metrics",
    "time_inference",
    "measure_peak_memory",
    "model_memory_bytes",
    "recommend",
    "format_summary",
    "plot_comparison",
    "camera_centers_from_pose_enc",
    "quaternion_to_rotation_matrix",
]

logger = logging.getLogger(__name__)

#: The model outputs that are compared and kept (as float32 numpy arrays).
OUTPUT_KEYS = ("pose_enc", "depth", "depth_conf", "world_points", "world_points_conf")


#: Methods compared by default (FP32 is always run first as the reference).
DEFAULT_METHODS = ("int8_symmetric", "int8_asymmetric", "int4_group", "pytorch_dynamic")


def parse_method(spec: str):
    """Method name → ``AdvancedQuantConfig`` (None for "fp32").

    Names: "fp32", the four ``QUANT_TYPES``, and "int4_group_g<N>" for a group size N other than
    128 (e.g. "int4_group_g64"). Unknown names → ValueError listing the valid ones.
    """
    from .quantization import QUANT_TYPES, AdvancedQuantConfig

    if spec == "fp32":
        return None
    if spec in QUANT_TYPES:
        return AdvancedQuantConfig(quant_type=spec)
    if spec.startswith("int4_group_g"):
        try:
            g = int(spec[len("int4_group_g"):])
        except ValueError:
            g = None
        if g and g > 0:
            return AdvancedQuantConfig(quant_type="int4_group", group_size=g)
    raise ValueError(f"unknown method {spec!r}; use fp32, {', '.join(QUANT_TYPES)} or int4_group_g<N> "
                     "(e.g. int4_group_g64)")


def method_file_name(method: str) -> str:
    """File name a method's model is saved under (``.pt`` for torch.ao dynamic, else safetensors)."""
    return f"{method}.pt" if method == "pytorch_dynamic" else f"{method}.safetensors"


def _synchronize(device: torch.device) -> None:
    """Wait for queued kernels on an accelerator (no-op on CPU); device-neutral."""
    if device.type != "cpu":
        backend = getattr(torch, device.type, None)
        sync = getattr(backend, "synchronize", None)
        if sync is not None:
            sync()


def run_model(model: torch.nn.Module, images: torch.Tensor) -> Dict[str, np.ndarray]:
    """One forward pass without gradients; returns ``OUTPUT_KEYS`` as float32 numpy arrays.

    Args:
        model: a VGGT-compatible model in eval mode.
        images: [S,3,H,W] or [B,S,3,H,W] in [0, 1] on the model's device.
    Returns:
        ``{"pose_enc": [B,S,9], "depth": [B,S,H,W,1], "depth_conf": [B,S,H,W],
        "world_points": [B,S,H,W,3], "world_points_conf": [B,S,H,W]}`` (keys the model did not
        return are left out).
    """
    with torch.no_grad():
        out = model(images)
    return {k: out[k].detach().float().cpu().numpy() for k in OUTPUT_KEYS if k in out}


def time_inference(model: torch.nn.Module, images: torch.Tensor, repeats: int = 3,
                   warmup: int = 1) -> Dict[str, Any]:
    """Wall-clock time of ``model(images)`` under ``torch.no_grad()``.

    Runs ``warmup`` untimed passes, then ``repeats`` timed ones (accelerator synchronised before
    and after each). Returns ``{"median_s", "times_s": [...], "repeats", "warmup"}``.
    """
    if repeats < 1:
        raise ValueError(f"repeats={repeats} must be >= 1")
    device = images.device
    times: List[float] = []
    with torch.no_grad():
        for _ in range(max(0, warmup)):
            model(images)
        for _ in range(repeats):
            _synchronize(device)
            t0 = time.perf_counter()
            model(images)
            _synchronize(device)
            times.append(time.perf_counter() - t0)
    return {"median_s": float(statistics.median(times)), "times_s": times,
            "repeats": int(repeats), "warmup": int(warmup)}


def _rss_bytes() -> Optional[int]:
    """Resident set size of this process from /proc (Linux), else None."""
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError, AttributeError):
        return None


def measure_peak_memory(fn: Callable[[], Any], device: torch.device,
                        interval_s: float = 0.002) -> Dict[str, Any]:
    """Peak memory used *while* ``fn()`` runs, above what was in use just before it.

    - accelerator with ``reset_peak_memory_stats`` / ``max_memory_allocated`` (CUDA): the
      allocator's peak minus the allocation before the call (exact for tensors).
    - CPU: the process resident set size, sampled every ``interval_s`` by a thread (Linux
      ``/proc/self/statm``); peak minus the value before the call. Sampling can miss a very
      short spike and counts allocator caching, so treat it as an estimate.
    Returns ``{"peak_extra_bytes": int | None, "method": str}``.
    """
    backend = getattr(torch, device.type, None) if device.type != "cpu" else None
    if backend is not None and hasattr(backend, "max_memory_allocated"):
        _synchronize(device)
        backend.reset_peak_memory_stats(device)
        before = backend.memory_allocated(device)
        fn()
        _synchronize(device)
        peak = backend.max_memory_allocated(device)
        return {"peak_extra_bytes": int(peak - before),
                "method": f"torch.{device.type}.max_memory_allocated minus allocation before the pass"}
    before = _rss_bytes()
    if before is None:
        fn()
        return {"peak_extra_bytes": None, "method": "unavailable (/proc/self/statm not readable)"}
    peak = [before]
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            v = _rss_bytes()
            if v is not None and v > peak[0]:
                peak[0] = v
            stop.wait(interval_s)

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    try:
        fn()
    finally:
        stop.set()
        th.join()
    v = _rss_bytes()
    if v is not None and v > peak[0]:
        peak[0] = v
    return {"peak_extra_bytes": int(max(0, peak[0] - before)),
            "method": f"process RSS sampled every {interval_s * 1e3:.0f} ms, peak minus RSS before the pass"}


def evaluate_model(model: torch.nn.Module, images: torch.Tensor, repeats: int = 3) -> Dict[str, Any]:
    """Outputs, peak memory and timing of one model on ``images``.

    The first pass runs under ``measure_peak_memory`` and provides the outputs (it doubles as the
    warm-up); then ``repeats`` timed passes. Returns ``{"outputs": run_model dict, "memory":
    measure_peak_memory dict, "timing": time_inference dict (warmup = 1)}``.
    """
    box: Dict[str, Any] = {}
    memory = measure_peak_memory(lambda: box.setdefault("out", run_model(model, images)), images.device)
    timing = time_inference(model, images, repeats=repeats, warmup=0)
    timing["warmup"] = 1
    return {"outputs": box["out"], "memory": memory, "timing": timing}


def quantize_save_reload(model: torch.nn.Module, config, path: str,
                         skeleton_factory: Callable[[], torch.nn.Module],
                         device: Optional[torch.device] = None) -> Dict[str, Any]:
    """Quantize a copy of ``model``, write it with ``save_quantized``, and read it back.

    The returned model is the one **loaded from the file** (into ``skeleton_factory()``, e.g. a
    meta-device build of the same architecture), so what is measured afterwards is exactly what
    is on disk. ``model`` is not modified. Returns ``{"model" (eval mode), "quant_report" (dict),
    "save_report" (dict), "file_bytes"}``.
    """
    from .quantization import quantize_model_advanced
    from .quantized_io import load_quantized, save_quantized

    qmodel, report = quantize_model_advanced(model, config, inplace=False, return_report=True)
    save_report = save_quantized(qmodel, path)
    del qmodel
    loaded = load_quantized(path, skeleton_factory(), device=device).eval()
    return {"model": loaded, "quant_report": report.to_dict(), "save_report": save_report,
            "file_bytes": int(os.path.getsize(path))}


def model_memory_bytes(model: torch.nn.Module) -> int:
    """Bytes held by the model's tensors (``vggt_ext.quantization.state_dict_bytes``)."""
    from .quantization import state_dict_bytes

    return state_dict_bytes(model)


# ----------------------------------------------------------------------------- metrics
def _finite(v: float) -> Optional[float]:
    return float(v) if math.isfinite(v) else None


def error_stats(test: np.ndarray, ref: np.ndarray) -> Dict[str, Any]:
    """MAE, MSE, max |error| and PSNR of ``test`` against ``ref`` (same shape, any).

    PSNR = 10·log10(R²/MSE), R = max(ref) − min(ref) (reported as ``data_range``); ``None``
    when MSE = 0 (identical) or R = 0.
    """
    test = np.asarray(test, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    if test.shape != ref.shape:
        raise ValueError(f"shape mismatch: test {test.shape} vs reference {ref.shape}")
    diff = test - ref
    mse = float(np.mean(diff * diff))
    rng = float(ref.max() - ref.min()) if ref.size else 0.0
    psnr = None
    if mse > 0 and rng > 0:
        psnr = _finite(10.0 * math.log10(rng * rng / mse))
    return {"mae": float(np.mean(np.abs(diff))), "mse": mse, "max_abs": float(np.max(np.abs(diff))),
            "psnr": psnr, "data_range": rng}


def depth_metrics(depth: np.ndarray, depth_ref: np.ndarray) -> Dict[str, Any]:
    """Depth fidelity against FP32: error stats, SSIM, AbsRel, δ < 1.25 (see module docstring).

    Args:
        depth, depth_ref: [B,S,H,W,1] or [B,S,H,W] positive depths.
    """
    from skimage.metrics import structural_similarity

    d = np.asarray(depth, dtype=np.float64)
    r = np.asarray(depth_ref, dtype=np.float64)
    if d.shape != r.shape:
        raise ValueError(f"depth shape mismatch: {d.shape} vs reference {r.shape}")
    if d.ndim == 5:
        d, r = d[..., 0], r[..., 0]
    out = error_stats(d, r)
    rng = out["data_range"]
    maps_d = d.reshape(-1, d.shape[-2], d.shape[-1])
    maps_r = r.reshape(-1, r.shape[-2], r.shape[-1])
    ssims = []
    if rng > 0 and min(maps_r.shape[1:]) >= 7:
        for a, b in zip(maps_d, maps_r):
            ssims.append(float(structural_similarity(
                a, b, data_range=rng, gaussian_weights=True, sigma=1.5,
                use_sample_covariance=False)))
    out["ssim"] = float(np.mean(ssims)) if ssims else None
    out["ssim_per_frame"] = ssims
    eps = 1e-12
    rr = np.maximum(r, eps)
    dd = np.maximum(d, eps)
    out["abs_rel"] = float(np.mean(np.abs(d - r) / rr))
    out["delta_1.25"] = float(np.mean(np.maximum(dd / rr, rr / dd) < 1.25))
    return out


def points_metrics(points: np.ndarray, points_ref: np.ndarray) -> Dict[str, Any]:
    """World-point fidelity against FP32: MAE, MSE, PSNR over all coordinates, mean L2 error."""
    p = np.asarray(points, dtype=np.float64)
    r = np.asarray(points_ref, dtype=np.float64)
    out = error_stats(p, r)
    out["mean_l2"] = float(np.mean(np.linalg.norm(p - r, axis=-1)))
    return out


def _angle_deg(cos_val: np.ndarray) -> np.ndarray:
    return np.degrees(np.arccos(np.clip(cos_val, -1.0, 1.0)))


def pose_metrics(pose: np.ndarray, pose_ref: np.ndarray) -> Dict[str, Any]:
    """pose_enc fidelity against FP32 (layout [t(3), q_xyzw(4), fov_h, fov_w]).

    Args:
        pose, pose_ref: [..., 9].
    Returns:
        error stats of the sign-aligned encoding, and per frame mean/max of the rotation angle
        error (deg), translation direction angle (deg), translation L2 error and FoV error (deg).
    """
    p = np.asarray(pose, dtype=np.float64).reshape(-1, 9).copy()
    r = np.asarray(pose_ref, dtype=np.float64).reshape(-1, 9)
    q, qr = p[:, 3:7], r[:, 3:7]
    flip = np.sum(q * qr, axis=1) < 0
    p[flip, 3:7] = -q[flip]
    out = error_stats(p, r)
    out["quaternion_sign_flips"] = int(flip.sum())
    qn = p[:, 3:7] / np.maximum(np.linalg.norm(p[:, 3:7], axis=1, keepdims=True), 1e-12)
    qrn = qr / np.maximum(np.linalg.norm(qr, axis=1, keepdims=True), 1e-12)
    rot = 2.0 * _angle_deg(np.abs(np.sum(qn * qrn, axis=1)))
    t, tr = p[:, :3], r[:, :3]
    nt, ntr = np.linalg.norm(t, axis=1), np.linalg.norm(tr, axis=1)
    ok = (nt > 1e-8) & (ntr > 1e-8)
    tang = _angle_deg(np.sum(t[ok] * tr[ok], axis=1) / (nt[ok] * ntr[ok]))
    fov = np.degrees(np.abs(p[:, 7:9] - r[:, 7:9]))
    out.update({
        "rotation_error_deg_mean": float(rot.mean()),
        "rotation_error_deg_max": float(rot.max()),
        "translation_angle_deg_mean": float(tang.mean()) if tang.size else None,
        "translation_angle_deg_max": float(tang.max()) if tang.size else None,
        "translation_angle_frames": int(ok.sum()),
        "translation_l2_mean": float(np.linalg.norm(t - tr, axis=1).mean()),
        "fov_error_deg_mean": float(fov.mean()),
    })
    return out


def fidelity_metrics(outputs: Dict[str, np.ndarray], reference: Dict[str, np.ndarray]) -> Dict[str, Any]:
    """All fidelity metrics of one model's outputs against the FP32 reference (``run_model`` dicts)."""
    res: Dict[str, Any] = {}
    if "depth" in reference and "depth" in outputs:
        res["depth"] = depth_metrics(outputs["depth"], reference["depth"])
    if "world_points" in reference and "world_points" in outputs:
        res["world_points"] = points_metrics(outputs["world_points"], reference["world_points"])
    if "pose_enc" in reference and "pose_enc" in outputs:
        res["pose_enc"] = pose_metrics(outputs["pose_enc"], reference["pose_enc"])
    return res


# ----------------------------------------------------------------------------- geometry
def quaternion_to_rotation_matrix(q_xyzw: np.ndarray) -> np.ndarray:
    """Rotation matrices [..., 3, 3] from XYZW quaternions [..., 4] (implicitly normalised).

    R = I + s·[[−(y²+z²), xy − zw, xz + yw], [xy + zw, −(x²+z²), yz − xw], [xz − yw, yz + xw, −(x²+y²)]]
    with s = 2/|q|² (VGGT's pose_enc convention, camera-from-world).
    """
    q = np.asarray(q_xyzw, dtype=np.float64)
    x, y, z, w = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    s = 2.0 / np.maximum(x * x + y * y + z * z + w * w, 1e-12)
    R = np.empty(q.shape[:-1] + (3, 3))
    R[..., 0, 0] = 1 - s * (y * y + z * z)
    R[..., 0, 1] = s * (x * y - z * w)
    R[..., 0, 2] = s * (x * z + y * w)
    R[..., 1, 0] = s * (x * y + z * w)
    R[..., 1, 1] = 1 - s * (x * x + z * z)
    R[..., 1, 2] = s * (y * z - x * w)
    R[..., 2, 0] = s * (x * z - y * w)
    R[..., 2, 1] = s * (y * z + x * w)
    R[..., 2, 2] = 1 - s * (x * x + y * y)
    return R


def camera_centers_from_pose_enc(pose_enc: np.ndarray) -> np.ndarray:
    """Camera centres in world coordinates, c = −Rᵀt, from pose_enc [..., 9] → [..., 3]."""
    p = np.asarray(pose_enc, dtype=np.float64)
    R = quaternion_to_rotation_matrix(p[..., 3:7])
    t = p[..., :3]
    return -np.einsum("...ji,...j->...i", R, t)


# ----------------------------------------------------------------------------- report
def recommend(methods: Dict[str, Dict[str, Any]], abs_rel_max: float = 0.01,
              delta_min: float = 0.99) -> Dict[str, Any]:
    """Pick the smallest file among methods whose depth stays close to FP32.

    Criterion: depth AbsRel vs FP32 ≤ ``abs_rel_max`` and δ<1.25 ≥ ``delta_min``; among those,
    the fewest bytes on disk. If none passes, the method with the lowest depth AbsRel.
    ``methods`` maps name → entry with ``file_bytes`` and ``fidelity.depth`` (FP32 is skipped).
    """
    cands = {n: m for n, m in methods.items() if n != "fp32" and m.get("fidelity", {}).get("depth")}
    if not cands:
        return {"method": None, "reason": "no quantized method with depth metrics"}
    ok = {n: m for n, m in cands.items()
          if m["fidelity"]["depth"]["abs_rel"] <= abs_rel_max
          and m["fidelity"]["depth"]["delta_1.25"] >= delta_min}
    if ok:
        best = min(ok, key=lambda n: ok[n]["file_bytes"])
        reason = (f"smallest file among methods with depth AbsRel ≤ {abs_rel_max:g} and "
                  f"δ<1.25 ≥ {delta_min:g} against FP32")
    else:
        best = min(cands, key=lambda n: cands[n]["fidelity"]["depth"]["abs_rel"])
        reason = (f"no method met depth AbsRel ≤ {abs_rel_max:g} and δ<1.25 ≥ {delta_min:g}; "
                  "this one has the lowest depth AbsRel against FP32")
    return {"method": best, "reason": reason,
            "criteria": {"abs_rel_max": abs_rel_max, "delta_1.25_min": delta_min}}


def _fmt_bytes(n: Optional[float]) -> str:
    if n is None:
        return "n/a"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.2f} {unit}"
        n /= 1024.0
    return f"{n:.2f} GiB"


def _fmt(v: Optional[float], spec: str = ".4g") -> str:
    return "n/a" if v is None else format(v, spec)


def format_summary(report: Dict[str, Any]) -> str:
    """The readable text summary (``comparison_summary.txt``) of a comparison report dict."""
    lines: List[str] = []
    model = report.get("model", {})
    lines.append("VGGT weight-quantization comparison")
    lines.append("=" * 36)
    if report.get("warning"):
        lines.append(f"WARNING: {report['warning']}")
    lines.append(f"model: {model.get('description', 'n/a')}")
    imgs = report.get("images", {})
    lines.append(f"images: {imgs.get('n_images')} × {imgs.get('height')}×{imgs.get('width')} px "
                 f"from {imgs.get('source')}")
    lines.append(f"device: {report.get('device')}; timing: median of {report.get('settings', {}).get('repeats')} "
                 f"runs after {report.get('settings', {}).get('warmup')} warm-up")
    lines.append("")
    header = (f"{'method':<18}{'file size':>12}{'ratio':>8}{'time (s)':>10}{'peak extra':>12}"
              f"{'depth MAE':>11}{'AbsRel':>9}{'δ<1.25':>8}{'SSIM':>8}{'pts PSNR':>10}{'rot°':>8}")
    lines.append(header)
    lines.append("-" * len(header))
    for name, m in report.get("methods", {}).items():
        fid = m.get("fidelity") or {}
        d = fid.get("depth") or {}
        wp = fid.get("world_points") or {}
        pe = fid.get("pose_enc") or {}
        lines.append(
            f"{name:<18}{_fmt_bytes(m.get('file_bytes')):>12}{_fmt(m.get('compression_ratio'), '.2f'):>8}"
            f"{_fmt(m.get('inference_time_s'), '.3f'):>10}{_fmt_bytes(m.get('peak_memory_extra_bytes')):>12}"
            f"{_fmt(d.get('mae'), '.3g'):>11}{_fmt(d.get('abs_rel'), '.3g'):>9}{_fmt(d.get('delta_1.25'), '.3f'):>8}"
            f"{_fmt(d.get('ssim'), '.4f'):>8}{_fmt(wp.get('psnr'), '.1f'):>10}"
            f"{_fmt(pe.get('rotation_error_deg_mean'), '.3f'):>8}")
    lines.append("")
    lines.append("ratio = FP32 file bytes / method file bytes, both written by vggt_ext.quantized_io.save_quantized.")
    lines.append("Fidelity is against the FP32 model's outputs on the same images (not ground truth).")
    notes = report.get("metric_notes", {})
    for k, v in notes.items():
        lines.append(f"  {k}: {v}")
    lines.append("")
    for name, m in report.get("methods", {}).items():
        q = m.get("quantization")
        if q:
            lines.append(f"{name}: {q.get('n_quantized_layers')} layers quantized, "
                         f"{_fmt_bytes(q.get('quantized_layers_fp32_bytes'))} → "
                         f"{_fmt_bytes(q.get('quantized_layers_bytes'))} "
                         f"({_fmt(q.get('quantized_layers_ratio'), '.2f')}× over the quantized layers)")
    rec = report.get("recommendation") or {}
    lines.append("")
    lines.append(f"Recommendation: {rec.get('method')} — {rec.get('reason')}")
    if report.get("warning"):
        lines.append(f"(again: {report['warning']})")
    return "\n".join(lines) + "\n"


def plot_comparison(report: Dict[str, Any], path: str) -> None:
    """Write the 4-panel bar chart (size on disk, inference time, compression ratio, depth MAE).

    Uses matplotlib's Agg backend (no display). FP32 has no depth MAE bar (it is the reference).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    methods = report.get("methods", {})
    names = list(methods)
    size_mib = [methods[n]["file_bytes"] / 2 ** 20 for n in names]
    times = [methods[n].get("inference_time_s") or 0.0 for n in names]
    ratios = [methods[n].get("compression_ratio") or 0.0 for n in names]
    mae = [((methods[n].get("fidelity") or {}).get("depth") or {}).get("mae") or 0.0 for n in names]
    # FP32 is the reference of the depth MAE: no bar label for it (annotated "reference" below)
    colors = ["#555555" if n == "fp32" else "#1f77b4" for n in names]
    fig, axes = plt.subplots(2, 2, figsize=(12, 8.5))
    panels = [
        (axes[0, 0], size_mib, "Model size on disk", "MiB", "{:.2f}"),
        (axes[0, 1], times, "Inference time (median)", "seconds", "{:.3f}"),
        (axes[1, 0], ratios, "Compression ratio vs FP32 (bytes on disk)", "×", "{:.2f}×"),
        (axes[1, 1], mae, "Depth MAE vs FP32", "depth units", "{:.3g}"),
    ]
    for ax, vals, title, ylabel, fmt in panels:
        bars = ax.bar(names, vals, color=colors)
        ax.set_title(title)
        ax.set_ylabel(ylabel)
        ax.tick_params(axis="x", rotation=20)
        for n, b, v in zip(names, bars, vals):
            if ax is axes[1, 1] and n == "fp32":
                continue
            ax.annotate(fmt.format(v), (b.get_x() + b.get_width() / 2, b.get_height()),
                        ha="center", va="bottom", fontsize=8)
    if "fp32" in names:
        axes[1, 1].annotate("reference", (names.index("fp32"), 0), ha="center", va="bottom", fontsize=8)
    title = "VGGT weight quantization — " + report.get("model", {}).get("description", "")
    if report.get("warning"):
        title += "\n" + report["warning"]
    fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.93))
    fig.savefig(path, dpi=110)
    plt.close(fig)
