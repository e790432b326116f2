"""Settings of ``compress.py`` beyond the codec's :class:`~arguments.compression.CompressionParams`.

One comment per field = its ``--help``. The codec settings (quality, target size, depth, ...) are the
same fields train.py takes, resolved through the same presets: with ``-s`` the scene's preset as in
``train.py --per_block_quant``, without it ``configs/splat_file.json`` (the image-free defaults).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

__all__ = ["CompressRunParams", "VirtualViewParams", "SPLAT_FILE_PRESET", "EXCLUDED_COMPRESSION_FLAGS"]

#: the preset of the image-free path (configs/splat_file.json)
SPLAT_FILE_PRESET = "splat_file"
#: CompressionParams fields that belong to train.py only (its two modes, its PLY alias, its pre-training)
EXCLUDED_COMPRESSION_FLAGS = ("per_block_quant", "per_channel_quant", "given_ply_path", "pretrain_iterations",
                              "finetune_iterations")


@dataclass
class CompressRunParams:
    output: Optional[str] = None  # the compressed file to write (one single-file bundle; written atomically, never half)
    source_path: Optional[str] = None  # optional scene folder with the photos and cameras of this splat (COLMAP or NeRF-synthetic): fit and score on the photos, exactly as train.py --per_block_quant --eval; without it, virtual views rendered from the splat itself
    resolution: int = -1  # with -s: image downscale 1, 2, 4, 8 or a target width (-1: wider than 1600 px -> 1600)
    white_background: bool = False  # with -s: the photos have a white background
    iterations: Optional[int] = None  # fine-tuning iterations (default: scaled with the scene without -s, the preset's finetune_iterations with -s)
    work_dir: Optional[str] = None  # keep the run folder (pc_npz at iteration 0 and at the end, metrics JSON, TensorBoard) here; default: a temporary folder, removed
    sanitize: bool = False  # drop Gaussians with NaN/inf values instead of refusing the file
    seed: int = 0  # seed of the camera order in fine-tuning and of the sensitivity probes
    quiet: bool = False  # no progress bar
    chunk_size: int = 200000  # without -s: a scene of more Gaussians is split into spatial chunks of at most this many, each compressed on its own (its own views, structure and steps) and written behind an index into one chunked file that decodes and streams chunk by chunk (0: never split). The default is the largest scene that gets the full view schedule
    workers: int = 1  # with chunks: compress this many at once, each in its own process with the CPU threads shared out (at least one each); each worker holds one chunk's memory


@dataclass
class VirtualViewParams:
    views: str = "auto"  # without -s: the fitting views: auto (all around at two distances, plus extra views on the front of a forward-facing capture and from inside a scene that surrounds its centre; more views until 99 percent of the opacity is in view), sphere (all around only), forward (only a cone on one side: loses the back) or orbit (only rings around the longest axis: loses the poles); the held-out views never follow this
    n_views: Optional[int] = None  # without -s: fitting views (importance, sensitivity, fine-tuning); default 32, 24 above 200k Gaussians
    n_heldout_views: int = 16  # without -s: held-out views, never fitted and independent of --views (a Fibonacci sphere at two distances, random rotation and roll): PSNR (mean, worst view, 8-bit) and SSIM of the file against the original, stored in the file
    view_size: Optional[int] = None  # without -s: width of the virtual views in pixels (height 3/4 of it); default 320, less above 200k Gaussians
    fov: float = 60.0  # without -s: horizontal field of view of the virtual cameras in degrees
