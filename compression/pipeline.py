"""The compression run behind ``train.py --per_block_quant`` / ``--per_channel_quant``.

Given the scene and the pre-trained Gaussians (train.py chooses them: ``--init_ply``, the latest
``point_cloud.ply`` already in ``-m``, or a fresh 3DGS pre-training), :func:`run_compression`:

1. runs the setup a–f (compression/setup.py), logging time, count and test PSNR of each step, and
   writes ``<out>/compression_setup.json``;
2. evaluates and saves iteration 0 (before any fine-tuning): ``<out>/point_cloud/iteration_0/pc_npz``;
3. fine-tunes ``iterations`` QAT iterations; at every test iteration k it evaluates the quantized
   model (test views; training views when there is no test split), saves
   ``point_cloud/iteration_<k>/pc_npz`` (+ ``pc_npz.bundle``) with the quantizer parameters the
   evaluation used, and logs to TensorBoard and ``<out>/compression_metrics.json``.

TensorBoard tags (under ``<out>/tb``): ``compress/train_loss``, ``compress/train_l1``,
``compress/train_psnr``, ``compress/iter_time``; at each test iteration ``compress/<split>_psnr``,
``compress/<split>_ssim``, ``compress/bytes`` (bundle), ``compress/bits_per_gaussian``,
``compress/ratio`` (input PLY / bundle), ``compress_bytes/<component>`` (geometry, quant_table,
dc, ac_opacity, ac_euler, ac_f_dc, ac_f_rest, ac_scale, ac_tables: the rate of each channel group),
``compress/clipped_codes`` (in the saved file) and ``compress/clipped_codes_before_save`` (with the
steps training used), ``--quantizer rd``: ``compress/rd_quality``, ``compress/rd_kappa``, with a
target ``compress/target_bytes`` and ``compress/rate_control_probes``; ``quant_rmse/<group>`` and
``quant_rmse_channel/<channel>`` (RMS of AC − Q(AC) per channel: the distortion of each group), and images
``compress_view_<i>/render_gt``. Setup steps: ``compress_setup/psnr_<step>``, ``compress_setup/seconds_<step>``.
"""
from __future__ import annotations

import json
import logging
import math
import os
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Sequence

import numpy as np
import torch

from arguments.compression import parse_size
from compression.attributes import RD_QUANTIZERS
from compression.coding_frame import cameras_into_frame, content_frame, into_frame
from compression.evaluate import evaluate_quantized
from compression.finetune import FinetuneStats, FineTuner
from compression.rate_control import fit_to_target
from compression.setup import SetupResult, compression_setup
from compression.views import ViewSet
from quant.rate_distortion import kappa_to_quality
from codec import PC_DIR_NAME, SaveReport, bundle_size, save_npz
from training.evaluate import evenly_spaced
from utils.files import write_text_atomic

logger = logging.getLogger(__name__)

__all__ = ["CompressionResult", "run_compression", "pc_dir", "target_bytes", "list_npz_iterations", "METRICS_FILE", "SETUP_FILE"]

METRICS_FILE = "compression_metrics.json"
SETUP_FILE = "compression_setup.json"
N_TRAIN_EVAL_VIEWS = 5


def target_bytes(params: Any, n_gaussians: int) -> Optional[int]:
    """The size every save is fitted to: ``--target_size`` in bytes, or ``--target_bpg`` × N / 8; None without a target."""
    if getattr(params, "target_size", None) is not None:
        return parse_size(params.target_size)
    if getattr(params, "target_bpg", None) is not None:
        return int(math.floor(params.target_bpg * n_gaussians / 8.0))
    return None


#: JSON-longest values of the held-out scores (PSNR is capped at 999.9999 dB: identical renders are inf)
HELDOUT_PLACEHOLDER_PSNR = 999.9999
HELDOUT_PLACEHOLDER_SSIM = -0.99999
#: a size-targeted save whose scores take it over the target is fitted again to a budget this much
#: further below, at most SIZE_ATTEMPTS times in all
SIZE_SLACK = 16
SIZE_ATTEMPTS = 3


def _capped(value: float, digits: int) -> Optional[float]:
    value = float(value)
    return round(min(value, HELDOUT_PLACEHOLDER_PSNR), digits) if value == value else None


def heldout_record(psnr: float, ssim: float, n_views: int, views: str, split: str, *, psnr_worst: float = float("nan"),
                   psnr_8bit: float = float("nan"), psnr_8bit_worst: float = float("nan")) -> dict:
    """``configuration["heldout"]`` of the manifest: PSNR (dB, 4 decimals, at most 999.9999; mean over the
    views, the worst view, and the same of the 8-bit renders against the 8-bit targets) and SSIM (5 decimals)
    of the decoded model on the held-out views, their number and kind ("virtual": renders of the original
    from layout-independent views; "photos": the scene's test photos, or its training photos when ``split``
    is train)."""
    return {"psnr": _capped(psnr, 4), "psnr_worst": _capped(psnr_worst, 4), "psnr_8bit": _capped(psnr_8bit, 4),
            "psnr_8bit_worst": _capped(psnr_8bit_worst, 4),
            "ssim": round(float(ssim), 5) if ssim == ssim else None, "n_views": int(n_views), "views": views,
            "split": split}


def placeholder_heldout(n_views: int, views: str, split: str) -> dict:
    """The held-out record a save encodes before its evaluation: at least as long in JSON as the final one.
    The manifest is deflated, so its final size can still exceed the placeholder's by a few bytes: a
    size-targeted save measures the final file and fits again when the scores took it over the target."""
    return heldout_record(HELDOUT_PLACEHOLDER_PSNR, HELDOUT_PLACEHOLDER_SSIM, n_views, views, split,
                          psnr_worst=HELDOUT_PLACEHOLDER_PSNR, psnr_8bit=HELDOUT_PLACEHOLDER_PSNR,
                          psnr_8bit_worst=HELDOUT_PLACEHOLDER_PSNR)


def coverage_record(views_description: dict, prior: Optional[dict]) -> dict:
    """``configuration["coverage"]``: the opacity-weighted share of the Gaussians inside at least one
    fitting view (``in_view``; virtual views only) and the share the fitting views measurably see
    (``seen``: a non-zero sensitivity; Hutchinson only), 6 decimals; None where not measured."""
    in_view = views_description.get("frustum_coverage")
    seen = prior.get("seen_opacity") if prior else None
    return {"in_view": round(float(in_view), 6) if in_view is not None else None,
            "seen": round(float(seen), 6) if seen is not None else None}


def _sizing_config(manifest_config: Optional[dict], iterations: int, eval_cams: Sequence[Any]) -> dict:
    """A manifest configuration as long as the one the saves will write (its values are set after the setup):
    what the setup's size measurements (``--target_size``, the rd structure's bits per Gaussian) encode with."""
    placeholder = 0.1234567890123456
    heldout = placeholder_heldout(len(eval_cams), "virtual", "test")
    return {**(manifest_config or {}), "percent": round(placeholder, 6), "depth": 16,
            "coverage": {"in_view": round(placeholder, 6), "seen": round(placeholder, 6)}, "iteration": int(iterations),
            "rd_kappa": placeholder, "rd_quality": 10 * placeholder, "heldout": heldout}


def pc_dir(out_dir: str, iteration: int) -> str:
    """``<out>/point_cloud/iteration_<k>/pc_npz``."""
    return os.path.join(out_dir, "point_cloud", f"iteration_{iteration}", PC_DIR_NAME)


def list_npz_iterations(out_dir: str) -> list[int]:
    """Sorted iterations k with a ``point_cloud/iteration_<k>/pc_npz`` directory or bundle."""
    root = os.path.join(out_dir, "point_cloud")
    if not os.path.isdir(root):
        return []
    found = []
    for name in os.listdir(root):
        if name.startswith("iteration_") and name[len("iteration_"):].isdigit():
            base = os.path.join(root, name, PC_DIR_NAME)
            if os.path.isfile(os.path.join(base, "manifest.json")) or os.path.isfile(base + ".bundle"):
                found.append(int(name[len("iteration_"):]))
    return sorted(found)


def _write_json(path: str, data: Any) -> None:
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=True))


@dataclass
class CompressionResult:
    """What a compression run did."""

    setup: dict
    input_psnr: Optional[float]
    input_ply_bytes: Optional[int]
    n_input: int
    n_gaussians: int
    evaluations: dict = field(default_factory=dict)  # iteration -> {"split": ..., "PSNR", "SSIM", "size": {...}}
    losses: dict = field(default_factory=dict)
    seconds: float = 0.0
    stage_seconds: dict = field(default_factory=dict)  # setup, evaluate+save, fine-tuning

    @property
    def final_iteration(self) -> int:
        return max(self.evaluations) if self.evaluations else 0

    def summary_lines(self, out_dir: str) -> list[str]:
        lines = []
        first = self.evaluations.get(0)
        last = self.evaluations.get(self.final_iteration)
        if last is not None:
            size = last["size"]
            ply = f"{self.input_ply_bytes} B" if self.input_ply_bytes else "unknown"
            lines.append(f"input PLY: {ply} ({self.n_input} Gaussians); compressed: {size['bundle_bytes']} B "
                         f"({self.n_gaussians} Gaussians, {size['bits_per_gaussian']:.1f} bits/Gaussian)"
                         + (f", ratio {size['ratio']:.1f}x" if size.get("ratio") else ""))
            split = last["split"]
            before = f"{self.input_psnr:.2f} dB" if self.input_psnr is not None else "n/a"
            at0 = f"{first['PSNR']:.2f} dB" if first is not None else "n/a"
            lines.append(f"{split} PSNR: input model {before}; compressed at iteration 0 (no fine-tuning) {at0}; "
                         f"after {self.final_iteration} fine-tuning iterations {last['PSNR']:.2f} dB "
                         f"(SSIM {last['SSIM']:.4f})")
            lines.append(f"compressed model: {pc_dir(out_dir, self.final_iteration)}"
                         f"{{,.bundle}}")
        return lines


def run_compression(
    *,
    scene: Any,
    source: Any,
    params: Any,
    out_dir: str,
    iterations: int,
    test_iterations: Sequence[int],
    device: torch.device,
    backend: str,
    background: torch.Tensor,
    seed: int = 0,
    input_ply_bytes: Optional[int] = None,
    manifest_config: Optional[dict] = None,
    tb: Any = None,
    tb_images: int = 3,
    log_interval: int = 10,
    on_iteration: Optional[Callable[[FinetuneStats], None]] = None,
    lambda_dssim: float = 0.2,
) -> CompressionResult:
    """Setup, iteration-0 save, QAT fine-tuning with evaluation + save at ``test_iterations``.

    Args:
        scene: the views — ``scene.SceneData`` (photos) or ``compression.views.ViewSet`` (photos or virtual
            views): ``train_cameras`` are fitted, ``test_cameras`` held out (their PSNR/SSIM go into every
            manifest as ``configuration["heldout"]``); source: ``scene.GaussianModel`` on ``device``.
        params: resolved ``arguments.compression.CompressionParams``.
        out_dir: the run folder (``-m``); iterations: fine-tuning iterations N;
        test_iterations: where to evaluate and save (0 and N are always added).
        background: [3] render background; backend: resolved renderer backend.
        input_ply_bytes: size of the uncompressed input PLY (for the ratio).
        manifest_config: settings stored in every manifest's ``configuration``.
        tb: a ``training.tb_logger.TBLogger`` (or None).
    """
    t_start = time.perf_counter()
    background = background.to(device, torch.float32)
    frame = None
    if getattr(params, "coding_frame", "world") == "content":
        # the whole run works on the content in its own axes; the file stores the frame (codec/frame.py)
        with torch.no_grad():
            frame = content_frame(source.means.detach().cpu().numpy(), source.opacities_act.detach().cpu().numpy())
        source = into_frame(source, frame)
        scene = ViewSet(cameras_into_frame(scene.train_cameras, frame), cameras_into_frame(scene.test_cameras, frame),
                        getattr(scene, "kind", "photos"), dict(getattr(scene, "description", {}) or {}))
        logger.info("coding frame: the content's principal axes, quaternion %s", np.round(frame, 6).tolist())
    test_cams = list(scene.test_cameras)
    eval_split = "test" if test_cams else "train"
    eval_cams = test_cams if test_cams else evenly_spaced(list(scene.train_cameras), N_TRAIN_EVAL_VIEWS)
    if not test_cams:
        logger.info("no test split (train without --eval): evaluating %d training views instead", len(eval_cams))
    n_input = source.num_gaussians
    setup: SetupResult = compression_setup(
        source, scene.train_cameras, eval_cams, depth=params.depth, percent=params.percent, beta=params.beta,
        merge=params.merge, n_block=params.n_block, bits=params.bits, quantizer=params.quantizer,
        quality=params.quality, sensitivity=params.sensitivity, background=background,
        backend=backend, evaluate=params.setup_eval, prune=params.prune, target=target_bytes(params, n_input),
        codec=params.codec, channel_transform=params.channel_transform, axes=params.axes,
        sensitivity_prior=params.sensitivity_prior,
        encode_for_size=lambda m: m.encode(config=_sizing_config(manifest_config, iterations, eval_cams),
                                           input_ply_bytes=input_ply_bytes, codec=params.codec, frame=frame),
    )
    model = setup.model
    result_stage = {"setup": time.perf_counter() - t_start, "evaluate+save": 0.0, "fine-tuning": 0.0}
    setup_info = setup.as_dict()
    setup_info.update({"n_input": n_input, "n_gaussians": model.n_gaussians, "eval_split": eval_split})
    os.makedirs(out_dir, exist_ok=True)
    _write_json(os.path.join(out_dir, SETUP_FILE), setup_info)
    if tb is not None:
        for step in setup.steps:
            tb.scalar(f"compress_setup/seconds_{step.name}", step.seconds, 0)
            if step.psnr_after is not None:
                tb.scalar(f"compress_setup/psnr_{step.name}", step.psnr_after, 0)
        if setup.input_psnr is not None:
            tb.scalar("compress_setup/psnr_input", setup.input_psnr, 0)

    config = dict(manifest_config or {})
    if setup.structure is not None:
        config.update(percent=round(setup.structure.pruned_share, 6), depth=model.depth)
    prior = model.hutchinson.prior if getattr(model, "hutchinson", None) is not None else None
    config["coverage"] = coverage_record(getattr(scene, "description", {}) or {}, prior)
    result = CompressionResult(setup=setup_info, input_psnr=setup.input_psnr, input_ply_bytes=input_ply_bytes,
                               n_input=n_input, n_gaussians=model.n_gaussians, stage_seconds=result_stage)
    tests = sorted({k for k in test_iterations if 0 <= k <= iterations} | {0, iterations})
    channel_names = model.layout.channel_names()
    target = target_bytes(params, model.n_gaussians)
    if target is not None:
        logger.info("rate control: every save is fitted to %d B (%.2f bits per Gaussian)", target, 8.0 * target / model.n_gaussians)

    def rd_state(m) -> dict:
        """``{"kappa", "quality"}`` of an rd model's bank ({} for the other quantizers)."""
        if m.quantizer not in RD_QUANTIZERS:
            return {}
        return {"kappa": float(m.bank.kappa), "quality": kappa_to_quality(float(m.bank.kappa))}

    views_kind = "virtual" if getattr(scene, "kind", "") == "virtual" else "photos"

    def make_payload(m, k: int):
        rd = {f"rd_{key}": value for key, value in rd_state(m).items()}
        # the held-out scores are filled in after the evaluation (heldout_record)
        heldout = placeholder_heldout(len(eval_cams), views_kind, eval_split)
        return m.encode(config={**config, "iteration": k, **rd, "heldout": heldout}, input_ply_bytes=input_ply_bytes,
                        codec=params.codec, frame=frame)

    def evaluate_and_save(k: int) -> None:
        """Evaluate and save at iteration k. Fine-tuning uses the quantizers fitted at iteration 0
        (always saved: at the quality, or fitted to the target size); after any later save the
        training state is put back, so the result does not depend on ``test_iterations``."""
        t0 = time.perf_counter()
        if k == 0:
            _evaluate_and_save(k)
        else:
            training_state = {name: t.clone() for name, t in model.bank.state_dict().items()}
            was_training = model.bank.training
            _evaluate_and_save(k)
            model.bank.load_state_dict(training_state)
            model.bank.train(was_training)
        result_stage["evaluate+save"] += time.perf_counter() - t0

    def _evaluate_and_save(k: int) -> None:
        tb_views = set(range(min(tb_images, len(eval_cams)))) if tb is not None else set()

        def on_view(i, cam, image, gt):
            if i in tb_views:
                tb.image_pair(f"compress_view_{i}/render_gt", image, gt, k)

        # the quantizer state is fixed first (rd: steps re-fitted to the current attributes, at the
        # same quality or searched for the target size); evaluation and file then use the same state
        rate = None
        clipped_before = int(model.clipped_codes().sum())
        budget = target
        for attempt in range(SIZE_ATTEMPTS):
            if model.quantizer in RD_QUANTIZERS and target is not None:
                rate = fit_to_target(model, budget, lambda m: make_payload(m, k))
                payload = rate.payload
            else:
                if model.quantizer in RD_QUANTIZERS:
                    model.calibrate()
                payload = make_payload(model, k)
            clipped = int(model.clipped_codes().sum())
            ev, _ = evaluate_quantized(model, eval_cams, background=background, backend=backend, on_view=on_view)
            payload.config["heldout"] = heldout_record(ev.psnr, ev.ssim, len(ev.views), views_kind, eval_split,
                                                       psnr_worst=ev.psnr_worst, psnr_8bit=ev.psnr_8bit,
                                                       psnr_8bit_worst=ev.psnr_8bit_worst)
            if rate is None:
                break
            # the manifest is deflated: the scores can take a few bytes more than the placeholder did
            over = bundle_size(payload, plan=model.plan) - target
            if over <= 0:
                break
            budget = min(budget, rate.bytes) - over - SIZE_SLACK  # below the file that went over, by its excess
            logger.info("rate control: the scores took the file %d B over the target; fitting again to %d B",
                        over, budget)
        else:
            raise RuntimeError(f"the file stays over the {target} B target after {SIZE_ATTEMPTS} fits; "
                               f"raise --target_size by a few bytes")
        report: SaveReport = save_npz(payload, pc_dir(out_dir, k), plan=model.plan)
        rmse = model.quantization_error().cpu()
        entry = {"split": eval_split, "PSNR": ev.psnr, "SSIM": ev.ssim, "n_views": len(ev.views),
                 "PSNR_worst": ev.psnr_worst, "PSNR_8bit": ev.psnr_8bit, "PSNR_8bit_worst": ev.psnr_8bit_worst,
                 "coverage": config["coverage"],
                 "size": report.as_dict(), "clipped_codes": clipped, "clipped_codes_before_save": clipped_before,
                 "quant_rmse": {name: float(v) for name, v in zip(channel_names, rmse)}}
        if model.quantizer in RD_QUANTIZERS:
            entry["rd"] = rd_state(model)
        if rate is not None:  # the target asked for; budget: what the last fit aimed under
            entry["rate_control"] = {**rate.as_dict(), "target": target, "budget": budget, "fits": attempt + 1}
        result.evaluations[k] = entry
        _write_json(os.path.join(out_dir, METRICS_FILE), {str(i): e for i, e in sorted(result.evaluations.items())})
        logger.info("[compress iteration %d] %s PSNR %.3f dB, SSIM %.4f; %s", k, eval_split, ev.psnr, ev.ssim, report.summary())
        if tb is not None:
            tb.scalar(f"compress/{eval_split}_psnr", ev.psnr, k)
            tb.scalar(f"compress/{eval_split}_ssim", ev.ssim, k)
            tb.scalar("compress/bytes", report.bundle_bytes, k)
            tb.scalar("compress/bits_per_gaussian", report.bits_per_gaussian, k)
            tb.scalar("compress/clipped_codes", clipped, k)
            tb.scalar("compress/clipped_codes_before_save", clipped_before, k)
            if "rd" in entry:
                tb.scalar("compress/rd_quality", entry["rd"]["quality"], k)
                tb.scalar("compress/rd_kappa", entry["rd"]["kappa"], k)
            if rate is not None:
                tb.scalar("compress/target_bytes", rate.target, k)
                tb.scalar("compress/rate_control_probes", len(rate.probes), k)
            if report.ratio:
                tb.scalar("compress/ratio", report.ratio, k)
            for comp, nbytes in report.component_bytes.items():
                tb.scalar(f"compress_bytes/{comp}", nbytes, k)
            for group, sl in model.layout.group_slices().items():
                if sl.stop > sl.start:
                    tb.scalar(f"quant_rmse/{group}", float(rmse[sl].pow(2).mean().sqrt()), k)
            for name, v in zip(channel_names, rmse):
                tb.scalar(f"quant_rmse_channel/{name}", float(v), k)
            tb.flush()

    evaluate_and_save(0)
    if iterations > 0:
        tuner = FineTuner(model, params, scene.train_cameras, background=background, backend=backend, seed=seed,
                          lambda_dssim=lambda_dssim)
        for k in range(1, iterations + 1):
            t0 = time.perf_counter()
            stats = tuner.step(k)
            result_stage["fine-tuning"] += time.perf_counter() - t0
            result.losses[k] = stats.loss
            if tb is not None and (k % max(1, log_interval) == 0 or k == iterations):
                tb.scalar("compress/train_loss", stats.loss, k)
                tb.scalar("compress/train_l1", stats.l1, k)
                tb.scalar("compress/train_psnr", stats.psnr, k)
                tb.scalar("compress/iter_time", stats.seconds, k)
            if on_iteration is not None:
                on_iteration(stats)
            if k in tests:
                evaluate_and_save(k)
    result.seconds = time.perf_counter() - t_start
    return result
