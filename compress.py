#!/usr/bin/env python
"""Compress any Gaussian-splat file into one bundle — with or without the photos it was trained from.

    python compress.py IN -o OUT.bundle [--quality Q | --target_size S] [-s SCENE] [...]

IN: INRIA 3DGS ``.ply`` (SH 0–3), SuperSplat ``.compressed.ply``, ``.spz``, ``.sog`` (or its
``meta.json``), ``.splat`` (``scene/splat_files.py``). OUT: the single-file bundle of format
``raht-gs-npz`` (``decompress.py`` turns it back into a PLY, SPZ, SOG, ...); without ``-s``, a scene of more
than ``--chunk_size`` Gaussians becomes a chunked file (format 5: independent spatial chunks behind an index,
``compression/chunking.py``), compressed one chunk at a time, with a summary line per chunk.

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
import logging
import os
import sys
from typing import Any, Optional, Sequence

from arguments import PipelineParams, add_dataclass_args, extract
from arguments.compress import EXCLUDED_COMPRESSION_FLAGS, CompressRunParams, VirtualViewParams
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


def main(argv: Optional[Sequence[str]] = None) -> int:
    from utils.threads import sleep_when_idle

    sleep_when_idle()  # before torch loads OpenMP
    from codec.container import write_file_atomic
    from compression.api import compress_splats, input_bytes
    from scene.splat_files import check_splat_file
    from training.console import setup_logging

    ns = make_parser().parse_args(argv)
    run = extract(ns, CompressRunParams)
    setup_logging()
    # every check that can fail on user input, before any heavy work
    in_path = os.path.abspath(ns.input)
    out_path = check_output(run.output)
    if out_path == in_path:
        raise ValueError(f"-o {run.output!r} is the input file; write the bundle elsewhere")
    check_splat_file(in_path)
    out = compress_splats(in_path, run=run, views=extract(ns, VirtualViewParams), pipe=extract(ns, PipelineParams),
                          codec=extract(ns, CompressionParams))
    write_file_atomic(out_path, out.data)
    if hasattr(out, "chunks"):  # a chunked file
        for line in chunked_summary_lines(out, in_path, input_bytes(in_path), out_path):
            print(line)
        return 0
    for line in summary_lines(out.result, in_path, input_bytes(in_path), out_path, len(out.data), out.views, out.stages,
                              out.threads):
        print(line)
    return 0


def summary_lines(result: Any, in_path: str, in_bytes: int, out_path: str, out_bytes: int, views: Any,
                  stages: dict, threads: int = 0) -> list[str]:
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
    lines.append("seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in stages.items())
                 + (f" ({threads} CPU threads)" if threads else ""))
    return lines


def chunked_summary_lines(out: Any, in_path: str, in_bytes: int, out_path: str) -> list[str]:
    """The closing summary of a chunked file: sizes, then the held-out fidelity of each chunk."""
    n_out = len(out.data)
    psnrs = [c.heldout["psnr"] for c in out.chunks]
    worst = min(out.chunks, key=lambda c: c.heldout["psnr"])
    lines = [
        f"{os.path.basename(in_path)}: {in_bytes} B -> {out_path}: {n_out} B "
        f"({in_bytes / n_out:.1f}x smaller, {8.0 * n_out / max(1, out.n_gaussians):.1f} bits/Gaussian), "
        f"{len(out.chunks)} chunks",
        f"Gaussians: {out.n_input} in, {out.n_gaussians} kept",
        f"fidelity on each chunk's {out.chunks[0].heldout['n_views']} held-out virtual views: PSNR mean over chunks "
        f"{sum(psnrs) / len(psnrs):.2f} dB, worst chunk {worst.index} {worst.heldout['psnr']:.2f} dB "
        f"(its worst view {worst.heldout['psnr_worst']:.2f})",
    ]
    lines += [f"  chunk {c.index}: {c.n_input} -> {c.n_gaussians} Gaussians, {c.bytes} B, PSNR {c.heldout['psnr']:.2f} dB "
              f"(worst view {c.heldout['psnr_worst']:.2f}), {c.seconds:.0f} s" for c in out.chunks]
    cpu = f"{out.threads} CPU threads" + (f", {out.workers} chunks at a time" if out.workers > 1 else "")
    lines.append("seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in out.stages.items())
                 + (f" ({cpu})" if out.threads else ""))
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
