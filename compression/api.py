"""The codec from Python: compress Gaussians (or a splat file) into bundle bytes, and back.

    from compression.api import compress, decompress, info
    data = compress("scene.sog", quality=58)          # bytes of a .bundle (or compress(splats_dict)); above
                                                      # chunk_size Gaussians a chunked file (codec/chunked.py)
    splats = decompress(data)                         # {"means", "scales", "quats", "opacities", "sh0", "shN"}
    print(info(data)["heldout"])                      # the fidelity the file reports, the sizes, the settings

Splats are the arrays gsplat and the INRIA PLY use, float32: ``means`` [N, 3], ``quats`` [N, 4] (w x y z),
``scales`` [N, 3] (log), ``opacities`` [N] (logit), ``sh0`` [N, 1, 3], ``shN`` [N, K, 3] (K = 0, 3, 8, 15).
:func:`compress` runs exactly what ``compress.py`` runs (the command line is a thin shell over
:func:`compress_splats`): without ``photos`` virtual views all around the splat and the image-free
defaults (``configs/splat_file.json``); with ``photos`` (a COLMAP or NeRF-synthetic folder) the scene's
photos and its preset, as ``train.py --per_block_quant``.
"""
from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any, Optional, Union

import numpy as np
import torch

from arguments import PipelineParams
from arguments.compress import SPLAT_FILE_PRESET, CompressRunParams, VirtualViewParams
from arguments.compression import CompressionParams, resolve_compression_params, shippable_config

logger = logging.getLogger(__name__)

__all__ = ["compress", "decompress", "info", "compress_splats", "Compressed", "SPLAT_KEYS"]

#: the arrays of one set of splats (gsplat's names; ``scene.ply_io`` order)
SPLAT_KEYS = ("means", "quats", "scales", "opacities", "sh0", "shN")

Splats = Union[str, os.PathLike, dict]

#: the smallest ``--chunk_size`` (a chunk needs enough Gaussians for its views and its statistics)
MIN_CHUNK_SIZE = 256


@dataclass
class Compressed:
    """What :func:`compress_splats` returns: the bundle's bytes and how the run went."""

    data: bytes
    result: Any  # compression.pipeline.CompressionResult (per saved iteration: PSNR, sizes, coverage, ...)
    views: Any  # compression.views.ViewSet the run fitted and scored on
    stages: dict = field(default_factory=dict)  # seconds per stage
    threads: int = 0  # torch CPU threads the run used


def _splat_arrays(splats: Splats, sanitize: bool) -> tuple[dict, str, Optional[int]]:
    """(arrays, input name, input bytes) of a path or a dict of arrays."""
    from scene.splat_files import check_splat_file, read_splat

    if isinstance(splats, (str, os.PathLike)):
        path = os.path.abspath(os.fspath(splats))
        info_ = check_splat_file(path)
        logger.info("input %s: %s, %d Gaussians, SH degree %d", os.path.basename(path), info_.format,
                    info_.n_gaussians, info_.sh_degree)
        return read_splat(path, sanitize=sanitize), path, input_bytes(path)
    if not isinstance(splats, dict):
        raise TypeError(f"compress takes a splat file path or a dict of arrays ({', '.join(SPLAT_KEYS)}), "
                        f"got {type(splats).__name__}")
    missing = [k for k in SPLAT_KEYS if k not in splats]
    if missing:
        raise ValueError(f"the splats lack {missing}; give {', '.join(SPLAT_KEYS)} (shN may have 0 coefficients)")
    arrays = {k: (v.detach().cpu().numpy() if torch.is_tensor(v) else np.asarray(v)).astype(np.float32) for k, v in
              ((k, splats[k]) for k in SPLAT_KEYS)}
    n = arrays["means"].shape[0]
    shapes = {"means": (n, 3), "quats": (n, 4), "scales": (n, 3), "opacities": (n,), "sh0": (n, 1, 3)}
    for k, shape in shapes.items():
        if arrays[k].shape != shape:
            raise ValueError(f"splats[{k!r}] must have shape {list(shape)}, got {list(arrays[k].shape)}")
    if arrays["shN"].ndim != 3 or arrays["shN"].shape[0] != n or arrays["shN"].shape[1] not in (0, 3, 8, 15) \
            or arrays["shN"].shape[2] != 3:
        raise ValueError(f"splats['shN'] must be [N, K, 3] with K in 0, 3, 8, 15, got {list(arrays['shN'].shape)}")
    if n < 1:
        raise ValueError("the splats are empty")
    op = arrays["opacities"]
    arrays["opacities"] = np.where(np.isposinf(op), 20.0, np.where(np.isneginf(op), -20.0, op)).astype(np.float32)
    bad = [k for k, v in arrays.items() if not np.isfinite(v).all()]
    if bad:  # as the file readers: infinite logit opacities are clamped (8-bit opacity decoders write them)
        raise ValueError(f"the splats hold NaN or inf in {bad}; drop those Gaussians first")
    return arrays, "splats", None


def input_bytes(path: str) -> int:
    """Bytes of an input: a file, or every file of a SOG folder (meta.json + WebP textures)."""
    if os.path.isdir(path):
        return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(path) for f in files)
    if os.path.basename(path) == "meta.json":
        folder = os.path.dirname(path)
        return sum(os.path.getsize(os.path.join(folder, f)) for f in os.listdir(folder)
                   if os.path.isfile(os.path.join(folder, f)))
    return os.path.getsize(path)


def compress_splats(splats: Splats, *, run: CompressRunParams = CompressRunParams(),
                    views: VirtualViewParams = VirtualViewParams(), pipe: PipelineParams = PipelineParams(),
                    codec: CompressionParams = CompressionParams()):
    """The whole run of ``compress.py`` (module docstring) on ``splats``: a :class:`Compressed`, or without
    photos for more than ``run.chunk_size`` Gaussians a ``compression.chunking.ChunkedCompressed`` (one
    chunked file). ``run.output`` is ignored, and ``run.quiet`` turns the fine-tuning progress bar off."""
    from codec.container import BUNDLE_SUFFIX
    from compression.pipeline import pc_dir, run_compression
    from compression.views import photo_views, view_schedule, virtual_views
    from gaussian_renderer import resolve_backend
    from scene.dataset_readers import load_checked_scene
    from scene.gaussian_model import GaussianModel
    from scene.virtual_cameras import LAYOUTS
    from training.console import ProgressBar
    from utils.general import resolve_device, set_seed
    from utils.threads import use_threads

    t_all = time.perf_counter()
    stages: dict[str, float] = {}
    comp = dataclasses.replace(codec)
    if views.views not in LAYOUTS:
        raise ValueError(f"--views {views.views!r} is not a layout; choose one of {', '.join(LAYOUTS)}")
    if run.chunk_size != 0 and run.chunk_size < MIN_CHUNK_SIZE:
        raise ValueError(f"--chunk_size must be 0 (never split) or at least {MIN_CHUNK_SIZE}, got {run.chunk_size}")
    if not isinstance(run.workers, int) or run.workers < 1:
        raise ValueError(f"--workers must be an integer >= 1, got {run.workers!r}")
    if run.iterations is not None and run.iterations < 0:
        raise ValueError(f"--iterations must be >= 0, got {run.iterations}")
    source_path = os.path.abspath(run.source_path) if run.source_path else None
    if source_path is None and comp.preset is None:
        comp.preset = SPLAT_FILE_PRESET
    params, provenance = resolve_compression_params(comp, source_path or "")
    device = resolve_device(pipe.device)
    threads = use_threads(pipe.threads)
    backend = resolve_backend(pipe.backend, device)
    set_seed(run.seed)

    t0 = time.perf_counter()
    arrays, in_name, in_bytes = _splat_arrays(splats, run.sanitize)
    if source_path is None and run.chunk_size and arrays["means"].shape[0] > run.chunk_size:
        from compression.chunking import compress_in_chunks

        read_s = time.perf_counter() - t0
        out = compress_in_chunks(arrays, run.chunk_size, run=run, views=views, pipe=pipe, codec=codec,
                                 input_name=os.path.basename(in_name), input_bytes=in_bytes,
                                 release_input=True)  # our own copy: freed once the chunks are on disk
        out.stages = {"read": read_s, **out.stages}
        out.stages["total"] = time.perf_counter() - t_all
        return out
    source = GaussianModel.from_arrays(arrays, device=device)
    stages["read"] = time.perf_counter() - t0

    background = torch.tensor([1.0, 1.0, 1.0] if run.white_background else [0.0, 0.0, 0.0])
    t0 = time.perf_counter()
    if source_path is not None:
        scene = load_checked_scene(source_path, resolution=run.resolution, white_background=run.white_background,
                                   eval=True, seed=run.seed)
        view_set = photo_views(scene)
        iterations = run.iterations if run.iterations is not None else int(params.finetune_iterations)
        logger.info("views: %d training / %d held-out photos of %s", len(view_set.train_cameras),
                    len(view_set.test_cameras), os.path.basename(source_path))
    else:
        schedule = view_schedule(source.num_gaussians, n_views=views.n_views, n_heldout=views.n_heldout_views,
                                 long_side=views.view_size, iterations=run.iterations)
        view_set = virtual_views(source, schedule, background=background, backend=backend, layout=views.views,
                                 fov_deg=views.fov)
        iterations = schedule.iterations
        params = dataclasses.replace(params, finetune_iterations=iterations)
        provenance["finetune_iterations"] = "command line" if run.iterations is not None else "view schedule"
    stages["views"] = time.perf_counter() - t0
    logger.info("codec settings: %s", ", ".join(f"{k}={getattr(params, k)} ({src})" for k, src in provenance.items()))

    manifest_config = shippable_config(params, provenance, source_path=source_path, input_file=in_name,
                                       white_background=run.white_background)
    manifest_config["views"] = view_set.description
    work = os.path.abspath(run.work_dir) if run.work_dir else tempfile.mkdtemp(prefix="compress-")
    tb = None
    if run.work_dir:
        from training.tb_logger import TBLogger

        os.makedirs(work, exist_ok=True)
        tb = TBLogger(work)
    bar: Optional[ProgressBar] = None

    def on_iteration(stats: Any) -> None:  # the bar opens at the first iteration, after the setup's log lines
        nonlocal bar
        bar = bar or ProgressBar(iterations, 0, enabled=not run.quiet, desc="fine-tuning")
        bar(stats)

    try:
        result = run_compression(
            scene=view_set, source=source, params=params, out_dir=work, iterations=iterations, test_iterations=[],
            device=device, backend=backend, background=background, seed=run.seed,
            input_ply_bytes=in_bytes, manifest_config=manifest_config, tb=tb, on_iteration=on_iteration)
        with open(pc_dir(work, result.final_iteration) + BUNDLE_SUFFIX, "rb") as fh:
            data = fh.read()
    finally:
        if bar is not None:
            bar.close()
        if tb is not None:
            tb.close()
        if not run.work_dir:
            shutil.rmtree(work, ignore_errors=True)
    stages.update(result.stage_seconds)
    stages["total"] = time.perf_counter() - t_all
    return Compressed(data=data, result=result, views=view_set, stages=stages, threads=threads)


def compress(splats: Splats, *, quality: Optional[float] = None, target_size: Optional[Union[int, str]] = None,
             photos: Optional[str] = None, iterations: Optional[int] = None, device: str = "auto", seed: int = 0,
             chunk_size: int = CompressRunParams.chunk_size, workers: int = CompressRunParams.workers,
             **settings: Any) -> bytes:
    """Bundle bytes of ``splats`` (a splat file path or a dict of arrays; module docstring).

    Args:
        quality: the rate knob (default: the preset's; +8 halves every quantization step).
        target_size: the largest bundle in bytes (an int) or with a unit ("650KB"); overrides ``quality``.
        photos: a COLMAP or NeRF-synthetic scene folder of these splats (fit and score on its photos).
        iterations: fine-tuning iterations (default: the schedule's).
        chunk_size: without ``photos``, more Gaussians than this are split into spatial chunks and written
            as one chunked file (``compression/chunking.py``; 0: never split).
        workers: chunks compressed at once, each in its own process (the CPU threads shared out).
        settings: any field of ``arguments.compression.CompressionParams`` (``depth``, ``coding_frame``, ...)
            or of ``arguments.compress.VirtualViewParams`` (``views``, ``n_views``, ``view_size``, ...), as on
            the command line.
    """
    codec_fields = {f.name for f in dataclasses.fields(CompressionParams)}
    view_fields = {f.name for f in dataclasses.fields(VirtualViewParams)}
    unknown = sorted(set(settings) - codec_fields - view_fields)
    if unknown:
        raise TypeError(f"compress() got unknown setting(s) {unknown}; see arguments/compression.py and arguments/compress.py")
    codec = CompressionParams(quality=quality, target_size=None if target_size is None else str(target_size),
                              **{k: v for k, v in settings.items() if k in codec_fields})
    views = VirtualViewParams(**{k: v for k, v in settings.items() if k in view_fields})
    run = CompressRunParams(source_path=photos, iterations=iterations, seed=seed, quiet=True, chunk_size=chunk_size,
                            workers=workers)
    return compress_splats(splats, run=run, views=views, pipe=PipelineParams(device=device), codec=codec).data


def _bundle_path(data: Union[bytes, str, os.PathLike], tmp: str) -> str:
    if isinstance(data, (bytes, bytearray, memoryview)):
        path = os.path.join(tmp, "in.bundle")
        with open(path, "wb") as fh:
            fh.write(bytes(data))
        return path
    return os.fspath(data)


def decompress(data: Union[bytes, str, os.PathLike]) -> dict[str, np.ndarray]:
    """The splats of a bundle (its bytes or a path): float32 arrays ``means``, ``quats``, ``scales`` (log),
    ``opacities`` (logit), ``sh0``, ``shN`` in world coordinates. A damaged or foreign bundle raises
    ``codec.CompressedFormatError`` (a ``ValueError``)."""
    from codec import load_npz
    from codec.chunked import is_chunked, iter_chunks

    with tempfile.TemporaryDirectory(prefix="decompress-") as tmp:
        path = _bundle_path(data, tmp)
        if is_chunked(path):  # a chunked file: the chunks' Gaussians in index order
            parts = [r.model.arrays() for r in iter_chunks(path)]
            arrays = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
        else:
            arrays = load_npz(path).arrays()
    arrays["opacities"] = arrays["opacities"].reshape(-1)
    return {k: arrays[k] for k in SPLAT_KEYS}


def info(data: Union[bytes, str, os.PathLike]) -> dict:
    """What a bundle holds without decoding it: the ``decompress.py --info --json`` fields (format version,
    counts, settings, the held-out fidelity and coverage it reports, bytes per component)."""
    from codec.chunked import is_chunked
    from codec.report import chunked_info_dict, describe_compressed, info_dict

    with tempfile.TemporaryDirectory(prefix="info-") as tmp:
        path = _bundle_path(data, tmp)
        return chunked_info_dict(path) if is_chunked(path) else info_dict(describe_compressed(path))
