"""Compression setup, once per run (DESIGN §3 step 3), each step timed and logged:

a. importance I = (V/V_ref)^β · Σ_views Σ_pixels α·T            (compression/importance.py)
b. prune the ⌊p·N⌋ lowest scores                                 (exact count, index tie-break)
c. voxelize at depth d and merge the Gaussians of each voxel     (raht.voxelize / merge_attributes:
   mean of raw columns with sign-aligned quaternions, or importance-weighted, or first member);
   positions := voxel centres, frozen from here on
d. quaternion → Euler ZYX (utils/rotations.py, NaN-safe)
e. RAHT plan, built once for the whole run
f. quantizer bank (C channels × n_block blocks) + one explicit no-grad calibration pass; with
   ``--quantizer rd`` first the sensitivity of every attribute on the training views
   (compression/sensitivity.py) and the quality, which set the steps (quant/rate_distortion.py)

Each step records its time, the Gaussian count before/after and, when ``evaluate`` is on, the
test PSNR after it (the input model's PSNR is recorded first). The result is a
:class:`~compression.attributes.QuantizedGaussians` ready for fine-tuning (iteration 0).
"""
from __future__ import annotations

import logging
import math
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Optional, Sequence

import torch

from codec.io import bundle_size
from codec.channel_layout import layout_for_sh_degree
from compression.attributes import RD_QUANTIZERS, QuantizedGaussians
from compression.channel_basis import TRANSFORMED_GROUPS, fit_channel_basis
from compression.evaluate import evaluate_gaussians, evaluate_quantized, source_gaussians
from compression.importance import importance_scores, prune_mask
from compression.rate_control import TargetUnreachable, fit_to_target
from compression.rd_structure import choose_structure
from compression.sensitivity import HutchinsonDiagonals, block_sensitivity, sensitivity_function
from quant.rate_distortion import kappa_to_quality, quality_to_kappa
from raht import build_plan, merge_attributes, voxel_centers, voxelize
from utils.rotations import canonical_axes, euler_to_rotmat, rotmat_to_euler

logger = logging.getLogger(__name__)

__all__ = ["SetupStep", "SetupResult", "build_quantized", "compression_setup", "raw_columns"]


@dataclass
class SetupStep:
    """One setup step: name, seconds, Gaussians before/after, test PSNR after (None = not evaluated), notes."""

    name: str
    seconds: float
    count_before: int
    count_after: int
    psnr_after: Optional[float] = None
    notes: dict = field(default_factory=dict)

    def line(self) -> str:
        psnr = f", test PSNR {self.psnr_after:.3f} dB" if self.psnr_after is not None else ""
        extra = "".join(f", {k} {v:.4g}" if isinstance(v, float) else f", {k} {v}" for k, v in self.notes.items())
        return f"{self.name}: {self.seconds:.2f} s, {self.count_before} -> {self.count_after} Gaussians{psnr}{extra}"


@dataclass
class SetupResult:
    model: QuantizedGaussians
    steps: list[SetupStep]
    input_psnr: Optional[float]
    importance: torch.Tensor  # [N_input] float64 scores of the input Gaussians (zeros when --prune rd does not need them)
    structure: Any = None  # compression.rd_structure.StructureChoice with --prune rd

    def as_dict(self) -> dict[str, Any]:
        out = {"input_psnr": self.input_psnr, "steps": [asdict(s) for s in self.steps]}
        if self.structure is not None:
            out["rd_structure"] = self.structure.as_dict()
        return out


def raw_columns(source: Any, sh_degree: Optional[int] = None) -> torch.Tensor:
    """[N, 11 + 3(K−1)] raw columns (56 at SH degree 3): logit opacity 1, quaternion wxyz 4, f_dc 3,
    f_rest 3(K−1) (PLY order), log-scale 3; ``sh_degree`` keeps only the bands up to that degree."""
    p = source.params
    n = p["means"].shape[0]
    k1 = p["shN"].shape[1] if sh_degree is None else (sh_degree + 1) ** 2 - 1
    rest = p["shN"].detach()[:, :k1].transpose(1, 2).reshape(n, -1)
    return torch.cat(
        [p["opacities"].detach().reshape(n, 1), p["quats"].detach(), p["sh0"].detach().reshape(n, 3), rest, p["scales"].detach()],
        dim=1,
    ).to(torch.float32)


def _gaussians_from_raw(raw: torch.Tensor, means: torch.Tensor, n_rest: int) -> dict[str, torch.Tensor]:
    n = raw.shape[0]
    return {
        "means": means,
        "quats": raw[:, 1:5],
        "scales": torch.exp(raw[:, -3:]),
        "opacities": torch.sigmoid(raw[:, 0]),
        "sh_coeffs": torch.cat([raw[:, 5:8].reshape(n, 1, 3), raw[:, 8:8 + 3 * n_rest].reshape(n, 3, n_rest).transpose(1, 2)], dim=1),
    }


def _maybe(fn, *args):
    return fn(*args) if fn is not None else None


def build_quantized(
    raw: torch.Tensor,
    means: torch.Tensor,
    scores: torch.Tensor,
    sh_degree: int,
    *,
    depth: int,
    percent: float,
    merge: str = "mean",
    n_block: int = 57,
    bits: int = 8,
    quantizer: str = "vanilla",
    quality: float = 40.0,
    sensitivity_of: Optional[Callable[[QuantizedGaussians], torch.Tensor]] = None,
    psnr_of: Optional[Callable[[dict], float]] = None,
    psnr_quantized: Optional[Callable[[QuantizedGaussians], float]] = None,
    record: Optional[Callable[[SetupStep], None]] = None,
    keep: Optional[torch.Tensor] = None,
    channel_transform: str = "none",
    axes: str = "input",
) -> tuple[QuantizedGaussians, list[SetupStep]]:
    """Steps b–f on raw columns (no renderer needed; scripts/bench_codec.py times this).

    Args:
        raw: [N, 10 + 3(K−1) + 1] raw columns (logit opacity, quaternion wxyz, f_dc, f_rest in PLY
            order, log-scales); means: [N, 3]; scores: [N] importance (float64).
        quality: ``--quantizer rd``: the quality knob (κ = quant.quality_to_kappa(quality));
        sensitivity_of: ``--quantizer rd``: ``model -> F [N, C]`` (compression/sensitivity.py); without it
            every quantizer has the same sensitivity (uniform steps);
        psnr_of: optional ``gaussians dict -> test PSNR`` after prune / merge;
        psnr_quantized: optional ``model -> test PSNR`` after calibration; record: step callback.
        keep: optional [N] bool mask of the Gaussians to keep (a pruning chosen elsewhere, e.g. by
            ``compression.rd_structure``); ``percent`` is then not used.
        channel_transform: ``klt`` (a KLT of f_dc and of f_rest fitted here, stored in the file;
            compression/channel_basis.py) or ``none``.
        axes: which of the 24 equivalent principal-axis assignments each Gaussian is coded with
            (``utils.rotations.canonical_axes``: ``scales``, ``rotation`` or ``input``).
    """
    steps: list[SetupStep] = []
    device = means.device
    n_rest = (sh_degree + 1) ** 2 - 1
    n0 = raw.shape[0]

    def _record(step: SetupStep) -> None:
        steps.append(step)
        if record is not None:
            record(step)

    # b. prune
    t0 = time.perf_counter()
    if keep is None:
        keep = prune_mask(scores, percent)
        prune_notes = {"percent": float(percent)}
    else:
        keep = keep.to(device=scores.device, dtype=torch.bool)
        prune_notes = {"percent": 1.0 - float(keep.float().mean()) if n0 else 0.0, "rule": "rate-distortion"}
    raw = raw[keep]
    means = means.detach()[keep].to(torch.float32)
    kept_scores = scores[keep]
    n1 = int(keep.sum())
    dt = time.perf_counter() - t0
    _record(SetupStep("prune", dt, n0, n1, _maybe(psnr_of, _gaussians_from_raw(raw, means, n_rest)), prune_notes))

    # c. voxelize + merge
    t0 = time.perf_counter()
    vox = voxelize(means, depth)
    merged = merge_attributes(raw, vox.point_to_voxel, vox.n_voxels, mode=merge,
                              weights=kept_scores if merge == "importance" else None, quat_columns=slice(1, 5))
    centres = voxel_centers(vox.coords, vox.bbox_min, vox.bbox_max, depth).to(device)
    n2 = vox.n_voxels
    dt = time.perf_counter() - t0
    max_shift = float((centres[vox.point_to_voxel] - means).abs().max()) if n1 else 0.0
    _record(SetupStep("voxelize+merge", dt, n1, n2, _maybe(psnr_of, _gaussians_from_raw(merged, centres, n_rest)),
                     {"depth": depth, "merge": merge, "max_position_shift": max_shift}))

    # d. principal axes (utils.rotations.canonical_axes) -> Euler
    t0 = time.perf_counter()
    quats = merged[:, 1:5]
    rot, log_scales = canonical_axes(quats, merged[:, -3:], axes)
    euler = rotmat_to_euler(rot)
    merged = torch.cat([merged[:, :-3], log_scales], dim=1)
    attrs = torch.cat([merged[:, :1], euler, merged[:, 5:]], dim=1)
    dt = time.perf_counter() - t0
    rot_err = float((euler_to_rotmat(euler) - rot).abs().max()) if n2 else 0.0
    _record(SetupStep("principal_axes+euler", dt, n2, n2, None, {"axes": axes, "max_rotation_matrix_error": rot_err}))

    # e. RAHT plan
    t0 = time.perf_counter()
    plan = build_plan(vox.coords.to(device), depth)
    _record(SetupStep("raht_plan", time.perf_counter() - t0, n2, n2, None, {"levels": plan.n_levels}))

    # f. bank (+ rd: sensitivity and quality) + calibration
    basis = None
    if channel_transform == "klt":
        t0 = time.perf_counter()
        basis = fit_channel_basis(attrs, layout_for_sh_degree(sh_degree))
        _record(SetupStep("channel_klt", time.perf_counter() - t0, n2, n2, None, {"groups": ",".join(TRANSFORMED_GROUPS)}))
    elif channel_transform != "none":
        raise ValueError(f"channel_transform must be klt or none, got {channel_transform!r}")
    model = QuantizedGaussians(attrs, vox.coords.to(device), vox.bbox_min, vox.bbox_max, depth, sh_degree,
                               n_block=n_block, bits=bits, quantizer=quantizer, plan=plan, channel_basis=basis)
    if quantizer in RD_QUANTIZERS:
        if sensitivity_of is not None:
            t0 = time.perf_counter()
            measured = sensitivity_of(model)
            if isinstance(measured, HutchinsonDiagonals):
                model.hutchinson = measured  # kept for the rate–distortion structure choice (rd_structure)
                measured = measured.coefficients
            model.bank.set_sensitivity(block_sensitivity(measured, model.n_block))
            notes = {"zero_sensitivity_rows": int((measured.sum(dim=1) == 0).sum())}
            if model.hutchinson is not None and model.hutchinson.prior is not None:
                notes.update({f"prior_{k}": v for k, v in model.hutchinson.prior.items()})
            _record(SetupStep("sensitivity", time.perf_counter() - t0, n2, n2, None, notes))
        model.bank.set_kappa(quality_to_kappa(quality))
    t0 = time.perf_counter()
    model.calibrate()
    dt = time.perf_counter() - t0
    psnr_q = psnr_quantized(model) if psnr_quantized is not None else None
    _record(SetupStep("quantizer_bank+calibration", dt, n2, n2, psnr_q,
                     {"quantizers": model.layout.n_channels * model.n_block, "n_block": model.n_block, "bits": bits,
                      "quantizer": quantizer, **({"quality": float(quality)} if quantizer in RD_QUANTIZERS else {})}))
    return model, steps


def compression_setup(
    source: Any,
    train_cameras: Sequence[Any],
    test_cameras: Sequence[Any],
    *,
    depth: int,
    percent: float,
    beta: float,
    merge: str = "mean",
    n_block: int = 57,
    bits: int = 8,
    quantizer: str = "vanilla",
    quality: float = 40.0,
    sensitivity: str = "fisher",
    background: Optional[torch.Tensor] = None,
    backend: str = "auto",
    evaluate: bool = True,
    prune: str = "fixed",
    target: Optional[int] = None,
    codec: str = "range",
    channel_transform: str = "none",
    axes: str = "input",
    sensitivity_prior: float = 0.0,
    encode_for_size: Optional[Callable[[QuantizedGaussians], Any]] = None,
) -> SetupResult:
    """Run steps a–f on ``source`` (a ``scene.GaussianModel``, on the device to work on).

    Args:
        source: the pre-trained Gaussians (not modified).
        train_cameras: views for the importance score; test_cameras: views for the PSNR log.
        depth, percent, beta, merge, n_block, bits, quantizer, quality: see arguments/compression.py
            (``rd``: the sensitivity is measured on ``train_cameras``).
        sensitivity: ``fisher`` or ``hutchinson`` (compression/sensitivity.py).
        background: [3] render background (default black); backend: renderer backend.
        evaluate: log the test PSNR after each step (needs ``test_cameras``).
        prune: ``fixed`` (``percent`` and ``depth`` as given) or ``rd`` (compression/rd_structure.py:
            the Gaussians and the depth, at most ``depth``, chosen at the quality — or, with ``target``
            bytes, at the quality that the unpruned model would need for it; needs an rd quantizer and
            the hutchinson sensitivity, else ``fixed`` with a warning).
        codec: the bitstream, to measure the bits per Gaussian the ``rd`` choice weighs.
        channel_transform: ``klt`` or ``none``; axes: ``scales``, ``rotation`` or ``input`` (see
            :func:`build_quantized`).
        encode_for_size: ``model -> payload`` whose bundle the ``rd`` choice and ``target`` measure (default:
            ``model.encode(codec=codec)``; the pipeline passes its own, with the manifest it will write).
        sensitivity_prior: hutchinson: the share φ of the view-independent prior every Gaussian's
            sensitivity is raised to (``compression.sensitivity.with_view_prior``; 0: none).
    """
    device = source.means.device
    background = torch.zeros(3, device=device) if background is None else background.to(device)
    # The source renders with its active SH degree (a PLY: all its bands; a short pre-training may
    # not have reached degree 3). Bands above it never contribute to its images, so they are not
    # coded: C = 10 + 3((d+1)² − 1) channels for the active degree d (55 at d = 3).
    sh_degree = int(getattr(source, "active_sh_degree", source.max_sh_degree))
    if sh_degree < int(source.max_sh_degree):
        logger.info("compression setup: the source uses SH degree %d of %d; the higher bands are not coded",
                    sh_degree, source.max_sh_degree)
    do_eval = bool(evaluate and len(test_cameras) > 0)
    steps: list[SetupStep] = []

    def psnr_of(gaussians) -> Optional[float]:
        if not do_eval:
            return None
        return evaluate_gaussians(gaussians, sh_degree, test_cameras, background=background, backend=backend).psnr

    def record(step: SetupStep) -> None:
        steps.append(step)
        logger.info("compression setup %s", step.line())

    n0 = source.num_gaussians
    input_psnr = psnr_of(source_gaussians(source))
    if input_psnr is not None:
        logger.info("compression setup: input model %d Gaussians, test PSNR %.3f dB", n0, input_psnr)

    if prune == "rd" and (quantizer not in RD_QUANTIZERS or sensitivity != "hutchinson"):
        logger.warning("--prune rd needs --quantizer rd and --sensitivity hutchinson (got %s, %s): pruning the "
                       "fixed --percent %.3g at --depth %d instead", quantizer, sensitivity, percent, depth)
        prune = "fixed"

    # a. importance (the rd structure does not use it, unless the merge weighs by it)
    raw = raw_columns(source, sh_degree)
    if prune == "fixed" or merge == "importance":
        t0 = time.perf_counter()
        with torch.no_grad():
            scores = importance_scores(
                source.means, source.quats_wxyz, source.log_scales, source.logit_opacities, train_cameras,
                beta=beta, backend=backend,
            )
        record(SetupStep("importance", time.perf_counter() - t0, n0, n0, None,
                         {"views": len(train_cameras), "never_visible": int((scores == 0).sum())}))
    else:
        scores = torch.zeros(n0, dtype=torch.float64, device=device)

    def build(**kw):
        return build_quantized(
            raw, source.means, scores, sh_degree, merge=merge, n_block=n_block, bits=bits, quantizer=quantizer,
            quality=quality, channel_transform=channel_transform, axes=axes,
            sensitivity_of=sensitivity_function(sensitivity, train_cameras, background=background, backend=backend,
                                                prior=sensitivity_prior),
            **kw)

    encode = encode_for_size or (lambda m: m.encode(codec=codec))
    keep = None
    structure = None
    if prune == "rd":
        finest, _ = build(depth=depth, percent=0.0, record=record)  # unpruned, at the finest depth
        t0 = time.perf_counter()
        structure = rd_structure_of(finest, target, encode)
        record(_structure_step(structure, finest, t0))
        if target is not None:
            # the structure was chosen at the step scale that fills the target *unpruned*; the kept model
            # fills it at a finer scale, where less is worth pruning: search the quality whose own structure
            # fills the target (what --quality at that quality would choose)
            structure = structure_for_target(
                finest, structure, target, encode,
                lambda st: _rebuild(st, finest, source, depth, build, record=None),
                record)
        if structure.n_pruned == 0 and structure.depth == depth:  # nothing to change: this is the model
            return SetupResult(model=finest, steps=steps, input_psnr=input_psnr, importance=scores, structure=structure)
        # the same Gaussians as rows of the input, then the model rebuilt on them at the chosen depth
        keep = _input_rows(structure, source, depth)
        depth = structure.depth

    model, _ = build(
        depth=depth, percent=percent, keep=keep,
        psnr_of=psnr_of if do_eval else None,
        psnr_quantized=(lambda m: evaluate_quantized(m, test_cameras, background=background, backend=backend)[0].psnr)
        if do_eval else None,
        record=record)
    return SetupResult(model=model, steps=steps, input_psnr=input_psnr, importance=scores, structure=structure)


#: --target_size with --prune rd: at most this many qualities probed, each with its own structure
TARGET_PROBES = 8


def structure_for_target(finest: QuantizedGaussians, first, target: int, encode: Callable[[QuantizedGaussians], Any],
                         build_kept: Callable[[Any], QuantizedGaussians], record: Callable[[SetupStep], None]):
    """The structure of the quality Q* at which the model built on its own structure (pruning and depth
    chosen at Q*: :func:`rd_structure_at`) fills ``target`` bytes: a bracketing search on Q (secant in
    (Q, log bytes), kept inside the bracket's middle 80 %), at most ``TARGET_PROBES`` probes, stopping
    inside the rate control's window. Each probe builds the kept model as the final one is built (its
    sensitivity on every fitting view: on a subset the steps at a given quality differ, and a probe on 8 of
    32 views put massa's structure 5 qualities below the one its file ended at). ``first``: the structure chosen at the quality that
    fills the target unpruned (the start). Returns the structure of the largest probed Q whose file fits."""
    from compression.rate_control import TOLERANCE

    lower = (1.0 - TOLERANCE) * target
    probes: list[tuple[float, int, Any]] = []

    def probe(q: float):
        t0 = time.perf_counter()
        kappa = quality_to_kappa(q)
        st = first if not probes and q == kappa_to_quality(first.kappa) else rd_structure_at(finest, kappa, encode)
        kept = build_kept(st)
        kept.bank.set_kappa(kappa)
        kept.calibrate()
        size = bundle_size(encode(kept), plan=kept.plan)
        probes.append((q, size, st))
        record(SetupStep("rd_structure_search", time.perf_counter() - t0, finest.n_gaussians, int(st.keep.sum()), None,
                         {"quality": round(q, 3), "bytes": size, "target": target, "pruned": st.n_pruned,
                          "depth": st.depth}))
        return size

    q_lo = kappa_to_quality(first.kappa)
    s_lo = probe(q_lo)
    q_hi, s_hi = None, None
    if s_lo > target:  # even the unpruned model's quality is too fine for the kept one: go coarser
        q_hi, s_hi = q_lo, s_lo
        while len(probes) < TARGET_PROBES:
            q_lo -= 8.0
            s_lo = probe(q_lo)
            if s_lo <= target:
                break
            q_hi, s_hi = q_lo, s_lo
    else:
        while len(probes) < TARGET_PROBES and s_lo < lower:
            q_try = q_lo + 8.0
            s_try = probe(q_try)
            if s_try > target:
                q_hi, s_hi = q_try, s_try
                break
            q_lo, s_lo = q_try, s_try
    while q_hi is not None and len(probes) < TARGET_PROBES and not lower <= s_lo <= target:
        goal = math.log(0.5 * (lower + target))
        t = (goal - math.log(s_lo)) / (math.log(s_hi) - math.log(s_lo)) if s_hi != s_lo else 0.5
        q = q_lo + min(0.9, max(0.1, t)) * (q_hi - q_lo)
        size = probe(q)
        if size > target:
            q_hi, s_hi = q, size
        else:
            q_lo, s_lo = q, size
    fitting = [p for p in probes if p[1] <= target]
    best = max(fitting, key=lambda p: p[0]) if fitting else min(probes, key=lambda p: p[1])
    logger.info("rd structure for %d B: quality %.2f (%d probes) -> prune %d, depth %d", target, best[0], len(probes),
                best[2].n_pruned, best[2].depth)
    return best[2]


def _structure_step(structure, finest: QuantizedGaussians, t0: float) -> SetupStep:
    notes = {"pruned": structure.n_pruned, "depth": structure.depth, "bit_price": structure.lam,
             "bits_per_gaussian": structure.bits_per_gaussian}
    return SetupStep("rd_structure", time.perf_counter() - t0, finest.n_gaussians, int(structure.keep.sum()), None, notes)


def _input_rows(structure, source: Any, finest_depth: int) -> torch.Tensor:
    """[N_input] bool: the input Gaussians in the voxels ``structure`` keeps (voxels of the finest depth)."""
    device = source.means.device
    voxels = voxelize(source.means.detach().to(torch.float32), finest_depth).point_to_voxel.to(device)
    return structure.keep.to(device)[voxels]


def _rebuild(structure, finest: QuantizedGaussians, source: Any, finest_depth: int, build, record) -> QuantizedGaussians:
    """The model on the Gaussians and at the depth of ``structure`` (``finest`` itself when it changes nothing)."""
    if structure.n_pruned == 0 and structure.depth == finest_depth:
        return finest
    model, _ = build(depth=structure.depth, percent=0.0, keep=_input_rows(structure, source, finest_depth), record=record)
    return model


def rd_structure_of(model: QuantizedGaussians, target: Optional[int], encode: Callable[[QuantizedGaussians], Any]):
    """:func:`compression.rd_structure.choose_structure` of ``model`` (built unpruned at the finest
    depth, with its Hutchinson diagonals) at its quality — or, with ``target`` bytes, at the step
    scale the rate control finds for it — weighing the bits per Gaussian of its encoded file."""
    if model.hutchinson is None:
        raise ValueError("the rate-distortion structure needs the Hutchinson diagonals of the model")
    kappa = float(model.bank.kappa)
    if target is not None:
        try:
            kappa = fit_to_target(model, target, encode).kappa
        except TargetUnreachable:  # even the coarsest steps are too large: pruning is what can still help
            kappa = float(model.bank.kappa)
    return rd_structure_at(model, kappa, encode)


def rd_structure_at(model: QuantizedGaussians, kappa: float, encode: Callable[[QuantizedGaussians], Any]):
    """:func:`compression.rd_structure.choose_structure` of ``model`` (unpruned, finest depth, with its
    Hutchinson diagonals) at step scale ``kappa``, weighing the bits per Gaussian of its file at that
    scale (``model`` is left calibrated at ``kappa``)."""
    if model.hutchinson is None:
        raise ValueError("the rate-distortion structure needs the Hutchinson diagonals of the model")
    model.bank.set_kappa(kappa)
    model.calibrate()
    size = bundle_size(encode(model), plan=model.plan)
    choice = choose_structure(model, model.hutchinson, float(model.bank.kappa), 8.0 * size / model.n_gaussians)
    logger.info("rd structure: bit price %.4g, %.1f bits/Gaussian -> prune %d of %d Gaussians, depth %d (of %d)",
                choice.lam, choice.bits_per_gaussian, choice.n_pruned, model.n_gaussians, choice.depth, model.depth)
    return choice
