#!/usr/bin/env python
"""Compress any Gaussian-splat file into one bundle — with or without the photos it was trained from.

    python compress.py IN -o OUT.bundle [--quality Q | --target_size S] [-s SCENE] [...]

IN: INRIA 3DGS ``.ply`` (SH 0–3), SuperSplat ``.compressed.ply``, ``.spz``, ``.sog`` (or its
``meta.json``), ``.splat`` (``scene/splat_files.py``). OUT: the single-file bundle of format
``raht-gs-npz`` (``decompress.py`` turns it back into a PLY, SPZ, SOG, ...).

Two front ends of one pipeline (``compression.pipeline.run_compression``):

- **with** ``-s SCENE``: the scene's photos and cameras, exactly as ``train.py -s SCENE --per_block_quant
  --eval --init_ply IN`` (same presets, same steps); the held-out views are the test photos;
- **without**: virtual views all around the Gaussians and targets rendered from the splat itself
  (``compression/views.py``, ``scene/virtual_cameras.py``); settings from ``configs/splat_file.json``
  (Hutchinson sensitivity, a prior for what no view sees, no fixed pruning) and a schedule that scales
  with the number of Gaussians. The held-out views never follow the fitting layout.

It prints progress per stage and one summary: input → output bytes, ratio, bits per Gaussian,
Gaussians kept, coverage, PSNR (mean, worst view, 8-bit) and SSIM of the decoded file against the
original on the held-out views (also stored in the file's manifest), seconds per stage. Bad input is one line on stderr, exit code 2, and nothing
written at ``-o``.
"""
from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import shutil
import sys
import tempfile
import time
from typing import Any, Optional, Sequence

import torch

from arguments import PipelineParams, add_dataclass_args, extract
from arguments.compress import (
    EXCLUDED_COMPRESSION_FLAGS,
    SPLAT_FILE_PRESET,
    CompressRunParams,
    VirtualViewParams,
)
from arguments.compression import CompressionParams

LOGGER = logging.getLogger("compress")


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Compress a Gaussian-splat file (.ply, .compressed.ply, .spz, .sog, .splat) into one bundle.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("input", help="the splat file to compress")
    add_dataclass_args(parser, CompressRunParams, "compress.py")
    add_dataclass_args(parser, VirtualViewParams, "virtual views (without -s)")
    add_dataclass_args(parser, CompressionParams, "codec (as train.py --per_block_quant)", exclude=EXCLUDED_COMPRESSION_FLAGS)
    add_dataclass_args(parser, PipelineParams, "renderer")
    return parser


def check_output(path: Optional[str]) -> str:
    """The absolute output path; its folder must exist and it must not be a folder or the input."""
    if not path:
        raise ValueError("-o/--output is required: the bundle file to write (e.g. -o scene.bundle)")
    out = os.path.abspath(path)
    if os.path.isdir(out):
        raise ValueError(f"-o {path!r} is a folder; give a file name (e.g. {os.path.join(path, 'scene.bundle')})")
    folder = os.path.dirname(out)
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"-o {path!r}: folder {folder!r} does not exist; create it first")
    if not os.access(folder, os.W_OK):
        raise ValueError(f"-o {path!r}: folder {folder!r} is not writable")
    return out


class LazyBar:
    """A progress bar opened at the first fine-tuning iteration (not before the setup's log lines)."""

    def __init__(self, make):
        self.make, self.bar = make, None

    def __call__(self, stats) -> None:
        if self.bar is None:
            self.bar = self.make()
        self.bar(stats)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def input_bytes(path: str) -> int:
    """Bytes of the input: a file, or every file of a SOG folder (meta.json + WebP textures)."""
    if os.path.isdir(path):
        return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(path) for f in files)
    if os.path.basename(path) == "meta.json":
        folder = os.path.dirname(path)
        return sum(os.path.getsize(os.path.join(folder, f)) for f in os.listdir(folder)
                   if os.path.isfile(os.path.join(folder, f)))
    return os.path.getsize(path)


def main(argv: Optional[Sequence[str]] = None) -> int:
    from arguments.compression import resolve_compression_params
    from codec.container import BUNDLE_SUFFIX, write_file_atomic
    from compression.pipeline import pc_dir, run_compression
    from compression.views import photo_views, view_schedule, virtual_views
    from gaussian_renderer import resolve_backend
    from scene.gaussian_model import GaussianModel
    from scene.splat_files import check_splat_file, read_splat
    from scene.virtual_cameras import LAYOUTS
    from train import ProgressBar, load_training_scene, resolve_device, shippable_config
    from training.console import setup_logging
    from utils.general import set_seed

    ns = make_parser().parse_args(argv)
    run = extract(ns, CompressRunParams)
    views_cfg = extract(ns, VirtualViewParams)
    pipe = extract(ns, PipelineParams)
    comp = extract(ns, CompressionParams)
    setup_logging()
    t_all = time.perf_counter()
    stages: dict[str, float] = {}

    # every check that can fail on user input, before any heavy work
    in_path = os.path.abspath(ns.input)
    out_path = check_output(run.output)
    if out_path == in_path:
        raise ValueError(f"-o {run.output!r} is the input file; write the bundle elsewhere")
    if views_cfg.views not in LAYOUTS:
        raise ValueError(f"--views {views_cfg.views!r} is not a layout; choose one of {', '.join(LAYOUTS)}")
    info = check_splat_file(in_path)
    in_bytes = input_bytes(in_path)
    source_path = os.path.abspath(run.source_path) if run.source_path else None
    if source_path is None and comp.preset is None:
        comp.preset = SPLAT_FILE_PRESET
    params, provenance = resolve_compression_params(comp, source_path or "")
    if run.iterations is not None and run.iterations < 0:
        raise ValueError(f"--iterations must be >= 0, got {run.iterations}")
    device = resolve_device(pipe.device)
    backend = resolve_backend(pipe.backend, device)
    set_seed(run.seed)
    LOGGER.info("input %s: %s, %d Gaussians, SH degree %d, %d B", os.path.basename(in_path), info.format,
                info.n_gaussians, info.sh_degree, in_bytes)

    t0 = time.perf_counter()
    source = GaussianModel.from_arrays(read_splat(in_path, sanitize=run.sanitize), device=device)
    stages["read"] = time.perf_counter() - t0

    background = torch.tensor([1.0, 1.0, 1.0] if run.white_background else [0.0, 0.0, 0.0])
    t0 = time.perf_counter()
    if source_path is not None:
        from types import SimpleNamespace

        scene_cfg = SimpleNamespace(source_path=source_path, resolution=run.resolution,
                                    white_background=run.white_background, eval=True)
        views = photo_views(load_training_scene(scene_cfg, run.seed))
        iterations = run.iterations if run.iterations is not None else int(params.finetune_iterations)
        LOGGER.info("views: %d training / %d held-out photos of %s", len(views.train_cameras), len(views.test_cameras),
                    os.path.basename(source_path))
    else:
        schedule = view_schedule(source.num_gaussians, n_views=views_cfg.n_views, n_heldout=views_cfg.n_heldout_views,
                                 long_side=views_cfg.view_size, iterations=run.iterations)
        views = virtual_views(source, schedule, background=background, backend=backend, layout=views_cfg.views,
                              fov_deg=views_cfg.fov)
        iterations = schedule.iterations
        params = dataclasses.replace(params, finetune_iterations=iterations)
        provenance["finetune_iterations"] = "command line" if run.iterations is not None else "view schedule"
    stages["views"] = time.perf_counter() - t0
    LOGGER.info("codec settings: %s", ", ".join(f"{k}={getattr(params, k)} ({src})" for k, src in provenance.items()))

    manifest_config = shippable_config(params, provenance, source_path=source_path, input_file=in_path,
                                       white_background=run.white_background)
    manifest_config["views"] = views.description
    work = os.path.abspath(run.work_dir) if run.work_dir else tempfile.mkdtemp(prefix="compress-", dir=os.path.dirname(out_path))
    tb = None
    if run.work_dir:
        from training.tb_logger import TBLogger

        os.makedirs(work, exist_ok=True)
        tb = TBLogger(work)
    bar = LazyBar(lambda: ProgressBar(iterations, 0, enabled=not run.quiet, desc="fine-tuning"))
    try:
        result = run_compression(
            scene=views, source=source, params=params, out_dir=work, iterations=iterations, test_iterations=[],
            device=device, backend=backend, background=background, seed=run.seed,
            input_ply_bytes=in_bytes, manifest_config=manifest_config, tb=tb, on_iteration=bar)
        bundle = pc_dir(work, result.final_iteration) + BUNDLE_SUFFIX
        with open(bundle, "rb") as fh:
            data = fh.read()
        write_file_atomic(out_path, data)
    finally:
        bar.close()
        if tb is not None:
            tb.close()
        if not run.work_dir:
            shutil.rmtree(work, ignore_errors=True)
    stages.update(result.stage_seconds)
    stages["total"] = time.perf_counter() - t_all
    for line in summary_lines(result, in_path, in_bytes, out_path, len(data), views, stages):
        print(line)
    return 0


def summary_lines(result: Any, in_path: str, in_bytes: int, out_path: str, out_bytes: int, views: Any,
                  stages: dict) -> list[str]:
    """The closing summary (sizes, coverage, fidelity on held-out views, time per stage)."""
    last = result.evaluations[result.final_iteration]
    first = result.evaluations.get(0)
    what = ("layout-independent virtual views (renders of the input)" if views.kind == "virtual"
            else f"{last['split']} photos")
    lines = [
        f"{os.path.basename(in_path)}: {in_bytes} B -> {out_path}: {out_bytes} B "
        f"({in_bytes / out_bytes:.1f}x smaller, {8.0 * out_bytes / max(1, result.n_gaussians):.1f} bits/Gaussian)",
        f"Gaussians: {result.n_input} in, {result.n_gaussians} kept" + _structure_note(result.setup),
    ]
    coverage = last.get("coverage") or {}
    parts = []
    if coverage.get("in_view") is not None:
        parts.append(f"{100 * coverage['in_view']:.2f} % inside a fitting view")
    if coverage.get("seen") is not None:
        parts.append(f"{100 * coverage['seen']:.2f} % seen by one")
    if parts:
        lines.append("coverage (share of the opacity): " + ", ".join(parts))
    lines.append(
        f"fidelity on {last['n_views']} held-out {what}: PSNR {last['PSNR']:.2f} dB (worst view {last['PSNR_worst']:.2f}; "
        f"8-bit {_db(last['PSNR_8bit'])}, worst {_db(last['PSNR_8bit_worst'])}), SSIM {last['SSIM']:.4f}"
        + (f" (input model {result.input_psnr:.2f} dB)" if result.input_psnr is not None and views.kind == "photos" else "")
        + (f"; before fine-tuning {first['PSNR']:.2f} dB" if first is not None and result.final_iteration > 0 else ""))
    lines.append("seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in stages.items()))
    return lines


def _db(value: float) -> str:
    """``"inf"`` for identical images, else ``"12.34"``."""
    return "identical" if value == float("inf") else f"{value:.2f}"


def _structure_note(setup: dict) -> str:
    """`` (rate-distortion: P pruned, octree depth D)`` when the run chose them (--prune rd)."""
    rd = setup.get("rd_structure")
    if not rd:
        return ""
    return f" (rate-distortion: {rd['pruned']} pruned, octree depth {rd['depth']})"


if __name__ == "__main__":
    from training.console import run_cli

    sys.exit(run_cli(main, None, "compress.py"))
