"""The prune fraction as a rate knob: which ``--percent`` gives the best image at a target size.

``--search_prune p1 p2 …`` (with ``--target_size``): before fine-tuning, every candidate fraction
is set up (prune → voxelize → plan → sensitivity → rd bank, the importance computed once), fitted
to the target with the exact encoded size (``compression.rate_control``), and rendered on up to
``views`` evenly spaced *training* views; the fraction with the highest PSNR there is kept and the
run continues with it. Pruning more frees bytes for finer steps on the Gaussians that stay; the
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
from compression.sensitivity import attribute_sensitivity
from compression.setup import build_quantized, raw_columns
from training.evaluate import evenly_spaced

logger = logging.getLogger(__name__)

__all__ = ["search_prune_fraction", "SEARCH_VIEWS"]

#: training views rendered per candidate
SEARCH_VIEWS = 5


def search_prune_fraction(source: Any, train_cameras: Sequence[Any], params: Any, target: int, *,
                          background: torch.Tensor, backend: str, views: int = SEARCH_VIEWS) -> tuple[float, list[dict]]:
    """(best fraction, one row per candidate: percent, gaussians, bytes, quality, train_psnr or
    ``unreachable``). Raises :class:`TargetUnreachable` when no candidate fits the target."""
    if not params.search_prune:
        raise ValueError("search_prune_fraction needs at least one candidate fraction")
    sh_degree = int(getattr(source, "active_sh_degree", source.max_sh_degree))
    eval_cams = evenly_spaced(list(train_cameras), views)
    with torch.no_grad():
        scores = importance_scores(source.means, source.quats_wxyz, source.log_scales, source.logit_opacities,
                                   train_cameras, beta=params.beta, backend=backend)
    raw = raw_columns(source, sh_degree)
    rows: list[dict] = []
    for percent in params.search_prune:
        t0 = time.perf_counter()
        model, _ = build_quantized(
            raw, source.means, scores, sh_degree, depth=params.depth, percent=float(percent), merge=params.merge,
            n_block=params.n_block, bits=params.bits, quantizer="rd", quality=params.quality,
            sensitivity_of=lambda m: attribute_sensitivity(m, train_cameras, background=background, backend=backend))
        row = {"percent": float(percent), "gaussians": model.n_gaussians}
        try:
            rate = fit_to_target(model, target, lambda m: m.encode(codec=params.codec))
        except TargetUnreachable as exc:
            row["unreachable"] = str(exc)
            rows.append(row)
            logger.info("prune search: percent %.3f cannot reach %d B", percent, target)
            continue
        row.update(bytes=rate.bytes, quality=rate.quality,
                   train_psnr=evaluate_quantized(model, eval_cams, background=background, backend=backend)[0].psnr,
                   seconds=time.perf_counter() - t0)
        rows.append(row)
        logger.info("prune search: percent %.3f -> %d Gaussians, %d B at quality %.2f, training-view PSNR %.3f dB (%.1f s)",
                    percent, row["gaussians"], row["bytes"], row["quality"], row["train_psnr"], row["seconds"])
    feasible = [r for r in rows if "train_psnr" in r]
    if not feasible:
        raise TargetUnreachable(f"--target_size {target} B: no fraction of --search_prune {list(params.search_prune)} "
                                f"fits ({rows[-1]['unreachable']})")
    best = max(feasible, key=lambda r: r["train_psnr"])
    logger.info("prune search: keeping --percent %.3f (%d of %d candidates fit the target)", best["percent"],
                len(feasible), len(rows))
    return best["percent"], rows
