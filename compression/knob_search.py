"""Prune fraction and octree depth as rate knobs: which ``--percent`` / ``--depth`` give the best
image at a target size.

``--search_prune p1 p2 …`` and/or ``--search_depth d1 d2 …`` (with ``--target_size``): before
fine-tuning, every candidate pair (the product of both lists; a missing list is the run's own value)
is set up (prune → voxelize → plan → sensitivity → rd bank; the importance is computed once), fitted
to the target with the exact encoded size (``compression.rate_control``) and rendered on up to
``views`` evenly spaced *training* views. The pair with the highest PSNR there is kept and the run
continues with it. Pruning more, or a coarser grid, frees bytes for finer steps on what stays; the
search finds where that stops paying. The test views are never looked at.
"""
from __future__ import annotations

import logging
import time
from typing import Any, Sequence

import torch

from compression.evaluate import evaluate_quantized
from compression.importance import importance_scores
from compression.rate_control import TargetUnreachable, fit_to_target
from compression.sensitivity import sensitivity_function
from compression.setup import build_quantized, raw_columns
from training.evaluate import evenly_spaced

logger = logging.getLogger(__name__)

__all__ = ["search_knobs", "SEARCH_VIEWS"]

#: training views rendered per candidate
SEARCH_VIEWS = 5


def search_knobs(source: Any, train_cameras: Sequence[Any], params: Any, target: int, *,
                 background: torch.Tensor, backend: str, views: int = SEARCH_VIEWS) -> tuple[dict, list[dict]]:
    """(best ``{"percent", "depth"}``, one row per candidate: percent, depth, gaussians, bytes, quality,
    train_psnr or ``unreachable``). Raises :class:`TargetUnreachable` when no candidate fits."""
    percents = list(params.search_prune or [params.percent])
    depths = list(getattr(params, "search_depth", None) or [params.depth])
    sh_degree = int(getattr(source, "active_sh_degree", source.max_sh_degree))
    eval_cams = evenly_spaced(list(train_cameras), views)
    with torch.no_grad():
        scores = importance_scores(source.means, source.quats_wxyz, source.log_scales, source.logit_opacities,
                                   train_cameras, beta=params.beta, backend=backend)
    raw = raw_columns(source, sh_degree)
    rows: list[dict] = []
    for percent, depth in [(p, d) for d in depths for p in percents]:
        t0 = time.perf_counter()
        model, _ = build_quantized(
            raw, source.means, scores, sh_degree, depth=int(depth), percent=float(percent), merge=params.merge,
            n_block=params.n_block, bits=params.bits, quantizer=params.quantizer, quality=params.quality,
            channel_transform=params.channel_transform, axes=params.axes,
            sensitivity_of=sensitivity_function(params.sensitivity, train_cameras,
                                                background=background, backend=backend))
        row = {"percent": float(percent), "depth": int(depth), "gaussians": model.n_gaussians}
        try:
            rate = fit_to_target(model, target, lambda m: m.encode(codec=params.codec))
        except TargetUnreachable as exc:
            row["unreachable"] = str(exc)
            rows.append(row)
            logger.info("knob search: percent %.3f, depth %d cannot reach %d B", percent, depth, target)
            continue
        row.update(bytes=rate.bytes, quality=rate.quality,
                   train_psnr=evaluate_quantized(model, eval_cams, background=background, backend=backend)[0].psnr,
                   seconds=time.perf_counter() - t0)
        rows.append(row)
        logger.info("knob search: percent %.3f, depth %d -> %d Gaussians, %d B at quality %.2f, training-view PSNR "
                    "%.3f dB (%.1f s)", percent, depth, row["gaussians"], row["bytes"], row["quality"], row["train_psnr"],
                    row["seconds"])
    feasible = [r for r in rows if "train_psnr" in r]
    if not feasible:
        raise TargetUnreachable(f"--target_size {target} B: no candidate of --search_prune {percents} x --search_depth "
                                f"{depths} fits ({rows[-1]['unreachable']})")
    best = max(feasible, key=lambda r: r["train_psnr"])
    logger.info("knob search: keeping --percent %.3f --depth %d (%d of %d candidates fit the target)", best["percent"],
                best["depth"], len(feasible), len(rows))
    return {"percent": best["percent"], "depth": best["depth"]}, rows
