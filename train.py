#!/usr/bin/env python
"""Train a 3D Gaussian Splatting scene (Kerbl et al. 2023) and compress it (MesonGS) — the composition root.

    python train.py -s <scene> -m <out> [--eval] [--iterations N] [--init_ply P] [...]
    python train.py -s <scene> -m <out> --per_block_quant [--init_ply P] [--n_block 57] [--quantizer vanilla|lsq]
                    [--bits 8] [--depth D] [--percent P] [--iterations N] [--test_iterations ...] [--eval]

Compression (``--per_block_quant`` or ``--per_channel_quant``; :func:`compress`): the Gaussians come
from ``--init_ply`` (alias ``--given_ply_path``), else the latest ``point_cloud/iteration_*/point_cloud.ply``
already in ``-m``, else a 3DGS pre-trained here for ``--pretrain_iterations``; then
``compression.pipeline.run_compression`` (setup, QAT fine-tuning for ``--iterations`` iterations —
default: the preset's ``finetune_iterations`` — and ``pc_npz`` at iteration 0, every
``--test_iterations`` and the last). Per-scene defaults come from ``configs/<scene>.json``.

Steps: parse the config groups (``arguments``) → check the output folder → load the scene
(``scene.load_scene``) → build the Gaussians (scene points, ``--init_ply`` or
``--start_checkpoint``) → write ``cfg_args`` / ``cfg_args.json`` → ``training.loop.Trainer.run``
(TensorBoard under ``<out>/tb``, PLYs, checkpoints, ``training_metrics.json``).
Every bad input is found before anything is written. ``python train.py --help`` lists the flags.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys
import uuid
from dataclasses import dataclass
from typing import Any, Optional, Sequence

from utils.threads import sleep_when_idle

sleep_when_idle()  # before torch loads OpenMP (utils/threads.py)

import torch  # noqa: E402

from arguments import (
    ModelParams,
    OptimizationParams,
    PipelineParams,
    RunParams,
    build_parser,
    extract,
    given_flags,
    write_config,
)
from arguments.compression import CompressionParams, shippable_config
from training.console import ProgressBar
from utils.general import resolve_device
from utils.threads import use_threads

LOGGER = logging.getLogger("train")
CONFIG_GROUPS = (ModelParams, OptimizationParams, PipelineParams, RunParams, CompressionParams)


@dataclass
class TrainConfig:
    """The resolved configuration groups of one run."""

    model: ModelParams
    opt: OptimizationParams
    pipe: PipelineParams
    run: RunParams

    def groups(self) -> dict[str, Any]:
        return {"model": self.model, "optimization": self.opt, "pipeline": self.pipe, "run": self.run}


def make_parser() -> argparse.ArgumentParser:
    return build_parser(CONFIG_GROUPS, description="Train a 3D Gaussian Splatting model from a scene.")


def config_from_args(ns: argparse.Namespace) -> TrainConfig:
    """Dataclasses from the parsed flags; schedule fields resolved, paths made absolute."""
    model = extract(ns, ModelParams)
    if not model.source_path:
        raise ValueError("-s/--source_path is required: the scene folder (COLMAP or NeRF-synthetic)")
    model.source_path = os.path.abspath(model.source_path)
    if not model.model_path:
        model.model_path = os.path.join("output", uuid.uuid4().hex[:10])
    model.model_path = os.path.abspath(model.model_path)
    if model.init_ply:
        model.init_ply = os.path.abspath(model.init_ply)
    if model.resolution == 0 or model.resolution < -1:
        raise ValueError(f"-r/--resolution must be 1, 2, 4, 8, a target width > 0, or -1 (auto); got {model.resolution}")
    if not 0 <= model.sh_degree <= 3:
        raise ValueError(f"--sh_degree must be 0..3, got {model.sh_degree}")
    opt = extract(ns, OptimizationParams)
    opt.validate()
    opt = opt.resolved()
    pipe = extract(ns, PipelineParams)
    run = extract(ns, RunParams)
    if run.start_checkpoint:
        run.start_checkpoint = os.path.abspath(run.start_checkpoint)
    if run.seed < 0:
        raise ValueError(f"--seed must be >= 0, got {run.seed}")
    return TrainConfig(model=model, opt=opt, pipe=pipe, run=run)


def load_training_scene(model_cfg: ModelParams, seed: int) -> Any:
    """``scene.dataset_readers.load_checked_scene`` of the model config."""
    from scene.dataset_readers import load_checked_scene

    return load_checked_scene(model_cfg.source_path, resolution=model_cfg.resolution,
                              white_background=model_cfg.white_background, eval=model_cfg.eval, seed=seed)


def build_model(cfg: TrainConfig, scene: Any, checkpoint: Optional[dict]) -> Any:
    """Gaussians from the checkpoint, ``--init_ply`` or the scene's points (in that order)."""
    from scene.gaussian_model import GaussianModel

    if checkpoint is not None:
        model = GaussianModel.from_arrays(
            checkpoint["params"], active_sh_degree=int(checkpoint["active_sh_degree"])
        )
        LOGGER.info("resuming %d Gaussians at iteration %d", model.num_gaussians, int(checkpoint["iteration"]))
        return model
    if cfg.model.init_ply:
        path = cfg.model.init_ply
        if not os.path.isfile(path):
            raise FileNotFoundError(f"--init_ply {path!r} does not exist; pass a 3DGS point_cloud.ply")
        try:
            model = GaussianModel.from_ply(path, sanitize=cfg.model.sanitize)
        except (ValueError, FileNotFoundError):
            raise
        except Exception as exc:  # plyfile / numpy errors on a damaged file
            raise ValueError(f"--init_ply {path!r} is not a readable 3DGS PLY ({type(exc).__name__}: {exc})") from exc
        LOGGER.info("loaded %d Gaussians (SH degree %d) from %s", model.num_gaussians, model.max_sh_degree, path)
        return model
    if len(scene.points_xyz) == 0:
        raise ValueError(f"scene {scene.source_path!r} has no initial points; pass --init_ply")
    return GaussianModel.from_points(scene.points_xyz, scene.points_rgb, sh_degree=cfg.model.sh_degree)


def prepare(cfg: TrainConfig) -> tuple[Any, Any, Optional[dict], torch.device, str]:
    """Every check and load that can fail on user input, before anything is written.

    Returns ``(scene, model on device, checkpoint or None, device, backend)``.
    """
    from gaussian_renderer import resolve_backend
    from training.checkpoint import load_checkpoint
    from training.run_dir import check_output_dir
    from utils.general import set_seed

    if cfg.model.init_ply and not cfg.run.start_checkpoint:  # header only: fails before anything is read
        from scene.ply_io import check_gaussian_ply

        try:
            check_gaussian_ply(cfg.model.init_ply)
        except (ValueError, FileNotFoundError) as exc:
            raise type(exc)(f"--init_ply: {exc}") from None
    check_output_dir(cfg.model.model_path, cfg.model.source_path)
    device = resolve_device(cfg.pipe.device)
    use_threads(cfg.pipe.threads)
    backend = resolve_backend(cfg.pipe.backend, device)
    checkpoint = load_checkpoint(cfg.run.start_checkpoint) if cfg.run.start_checkpoint else None
    if checkpoint is not None:
        ckpt_source = str(checkpoint.get("meta", {}).get("source_path", ""))
        if ckpt_source and os.path.abspath(ckpt_source) != cfg.model.source_path:
            LOGGER.warning("checkpoint %s was trained on %s, not on %s", cfg.run.start_checkpoint, ckpt_source, cfg.model.source_path)
    set_seed(cfg.run.seed)
    scene = load_training_scene(cfg.model, cfg.run.seed)
    model = build_model(cfg, scene, checkpoint).to(device)
    return scene, model, checkpoint, device, backend


@dataclass
class TrainOutcome:
    """What :func:`train` leaves behind for callers that continue (e.g. a compression stage)."""

    result: Any  # training.loop.TrainResult
    model: Any  # scene.GaussianModel on ``device``
    scene: Any  # scene.SceneData
    device: torch.device
    backend: str


def train(cfg: TrainConfig, progress: bool = True) -> TrainOutcome:
    """Run 3DGS training for ``cfg`` (all input checks first, then outputs under ``model_path``)."""
    from training.loop import Trainer
    from training.tb_logger import TBLogger

    scene, model, checkpoint, device, backend = prepare(cfg)
    out = cfg.model.model_path
    write_config(out, cfg.groups())
    LOGGER.info("output folder %s (%d train / %d test views, backend %s, device %s)",
                out, len(scene.train_cameras), len(scene.test_cameras), backend, device)
    bg = torch.tensor([1.0, 1.0, 1.0] if cfg.model.white_background else [0.0, 0.0, 0.0])
    start = int(checkpoint["iteration"]) if checkpoint is not None else 0
    bar = ProgressBar(cfg.opt.iterations, start, enabled=progress and not cfg.run.quiet)
    tb = TBLogger(out)
    try:
        trainer = Trainer(
            model, scene, cfg.opt, cfg.run,
            device=device, background=bg, backend=backend, out_dir=out, tb=tb,
            checkpoint=checkpoint, on_iteration=bar,
        )
        result = trainer.run()
    finally:
        bar.close()
        tb.close()
    return TrainOutcome(result=result, model=model, scene=scene, device=device, backend=backend)


def summary_lines(result: Any, out: str) -> list[str]:
    lines = [f"trained to iteration {result.final_iteration}: {result.num_gaussians} Gaussians in {result.seconds:.1f} s"]
    if result.evaluations:
        last = max(result.evaluations)
        ev = result.evaluations[last]
        for split in ("test", "train_views"):
            if split in ev:
                lines.append(f"iteration {last} {split}: PSNR {ev[split]['PSNR']:.2f} dB, SSIM {ev[split]['SSIM']:.4f}")
    lines.append(f"outputs in {out}")
    return lines


# ----------------------------------------------------------------------------- compression


def compression_requested(ns: argparse.Namespace) -> Optional[CompressionParams]:
    """The compression flags when ``--per_block_quant``/``--per_channel_quant`` is given, else None
    (a compression-only flag without either is an error, not silently ignored)."""
    comp = extract(ns, CompressionParams)
    if comp.per_block_quant or comp.per_channel_quant:
        return comp
    stray = sorted(given_flags(ns) & {f.name for f in dataclasses.fields(CompressionParams)})
    if stray:
        raise ValueError(f"--{stray[0]} is a compression flag; add --per_block_quant (or --per_channel_quant) "
                         "to compress, or drop it for plain 3DGS training")
    return None


def pretrain_config(ns: argparse.Namespace, cfg: TrainConfig, iterations: int) -> TrainConfig:
    """The plain-3DGS configuration of the pre-training stage (``--iterations`` is the fine-tuning
    count in a compression run, so the schedule is resolved for ``iterations`` here)."""
    opt = dataclasses.replace(extract(ns, OptimizationParams), iterations=iterations)
    opt.validate()
    run = dataclasses.replace(cfg.run, test_iterations=[iterations], save_iterations=[iterations],
                              checkpoint_iterations=[], start_checkpoint=None)
    model = dataclasses.replace(cfg.model, init_ply=None)
    return TrainConfig(model=model, opt=opt.resolved(), pipe=cfg.pipe, run=run)


def compress(ns: argparse.Namespace, comp: CompressionParams, progress: bool = True) -> tuple[Any, str]:
    """The compression run (see the module docstring); returns
    ``(compression.pipeline.CompressionResult, output folder)``."""
    from arguments.compression import resolve_compression_params
    from compression.pipeline import run_compression
    from training.run_dir import check_output_dir, list_ply_iterations, ply_path
    from training.tb_logger import TBLogger

    cfg = config_from_args(ns)
    given = given_flags(ns)
    params, provenance = resolve_compression_params(comp, cfg.model.source_path)
    if cfg.run.start_checkpoint:
        raise ValueError("--start_checkpoint resumes plain 3DGS training; a compression run starts from --init_ply")
    if params.given_ply_path:
        alias = os.path.abspath(params.given_ply_path)
        if cfg.model.init_ply and cfg.model.init_ply != alias:
            raise ValueError(f"--init_ply {cfg.model.init_ply!r} and --given_ply_path {alias!r} differ; give one")
        cfg.model.init_ply = alias
    LOGGER.info("compression settings: %s", ", ".join(
        f"{k}={getattr(params, k)} ({src})" for k, src in provenance.items()))
    iterations = cfg.opt.iterations if "iterations" in given else params.finetune_iterations
    test_iterations = list(cfg.run.test_iterations) if "test_iterations" in given else []
    out = cfg.model.model_path
    check_output_dir(out, cfg.model.source_path)

    if not cfg.model.init_ply:
        existing = list_ply_iterations(out)
        if existing:
            cfg.model.init_ply = ply_path(out, existing[-1])
            LOGGER.info("no --init_ply: using %s (the latest point_cloud.ply in -m)", cfg.model.init_ply)
    if cfg.model.init_ply:
        scene, model, _, device, backend = prepare(cfg)
        source_ply = cfg.model.init_ply
    else:
        LOGGER.info("no --init_ply and no point_cloud.ply in -m: pre-training 3DGS for %d iterations first",
                    params.pretrain_iterations)
        if params.pretrain_iterations < 1:
            raise ValueError("--pretrain_iterations must be >= 1 when neither --init_ply nor a point_cloud.ply in -m is given")
        outcome = train(pretrain_config(ns, cfg, params.pretrain_iterations), progress=progress)
        scene, model, device, backend = outcome.scene, outcome.model, outcome.device, outcome.backend
        source_ply = ply_path(out, params.pretrain_iterations)
    write_config(out, {**cfg.groups(), "compression": params})
    bg = torch.tensor([1.0, 1.0, 1.0] if cfg.model.white_background else [0.0, 0.0, 0.0])
    manifest_config = shippable_config(params, provenance, source_path=cfg.model.source_path, input_file=source_ply,
                                       white_background=cfg.model.white_background)
    bar = ProgressBar(iterations, 0, enabled=progress and not cfg.run.quiet)
    tb = TBLogger(out)
    try:
        result = run_compression(
            scene=scene, source=model, params=params, out_dir=out, iterations=iterations,
            test_iterations=test_iterations, device=device, backend=backend, background=bg, seed=cfg.run.seed,
            input_ply_bytes=os.path.getsize(source_ply), manifest_config=manifest_config, tb=tb,
            tb_images=cfg.run.tb_images, log_interval=cfg.run.log_interval, on_iteration=bar,
            lambda_dssim=cfg.opt.lambda_dssim,
        )
    finally:
        bar.close()
        tb.close()
    return result, out


def main(argv: Optional[Sequence[str]] = None) -> int:
    from training.console import setup_logging

    ns = make_parser().parse_args(argv)
    comp = compression_requested(ns)
    if comp is not None:
        setup_logging()
        result, out = compress(ns, comp)
        for line in result.summary_lines(out):
            print(line)
        return 0
    cfg = config_from_args(ns)
    setup_logging()
    outcome = train(cfg)
    for line in summary_lines(outcome.result, cfg.model.model_path):
        print(line)
    return 0


if __name__ == "__main__":
    from training.console import run_cli

    sys.exit(run_cli(main, None, "train.py"))
