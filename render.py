#!/usr/bin/env python
"""Render a trained or compressed model's views and score them (3DGS's render.py + metrics.py).

    python render.py -m <out> [--iteration k] [--skip_train] [--skip_test]
    python render.py -m <out> [--npz <pc_npz dir or pc_npz.bundle>] [--export_ply decoded.ply] [--ply]
    python render.py --npz <pc_npz dir or pc_npz.bundle> --export_ply decoded.ply     # no -m: export only

Compressed models (``train.py --per_block_quant``) are rendered by default: when
``<out>/point_cloud/iteration_<k>/pc_npz`` exists for the chosen iteration (default: the latest k
with one), it is decoded with ``codec.load_npz`` (validate, dequantize, inverse
RAHT) and rendered exactly like train.py's evaluation of the quantized model at k
(``DecodedModel.gaussians``: the attributes turned back from the coding frame), so the PSNR equals the logged one; the
``results.json`` entry then also holds ``"compressed": true`` and ``"size"`` (bundle bytes, bits per
Gaussian, ratio to the input PLY). ``--npz`` names a compressed model explicitly, ``--ply`` forces
the PLY of the iteration, ``--export_ply`` writes the decoded Gaussians as an INRIA PLY.

Reads the scene and its flags (``source_path``, ``-r``, ``-w``, ``--eval``) from
``<out>/cfg_args.json``, loads ``<out>/point_cloud/iteration_<k>/point_cloud.ply`` (default: the
latest k) with all its SH bands, renders every view of each split into
``<out>/<split>/ours_<k>/renders/<nnnnn>.png`` beside ``gt/<nnnnn>.png``, and merges into
``<out>/results.json``::

    {"ours_<k>": {"test": {"PSNR": dB, "SSIM": ..., "n_views": n}, "train": {...}}}

and per-view values into ``<out>/per_view.json``. PSNR/SSIM are computed on the float renders
clamped to [0, 1] (not on the 8-bit PNGs), with the evaluation SSIM, exactly as train.py's test
evaluation — so the numbers match what train.py logged at iteration k. LPIPS is reported only
when the ``lpips`` package and its backbone weights are present locally; otherwise the key is
absent and a line says why.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from typing import Any, Optional, Sequence

from utils.threads import sleep_when_idle

sleep_when_idle()  # before torch loads OpenMP (utils/threads.py)

import numpy as np
import torch  # noqa: E402

from utils.files import write_text_atomic

LOGGER = logging.getLogger("render")
SPLITS = ("train", "test")


def make_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Render the views of a trained model and write results.json.")
    p.add_argument("-m", "--model_path", default=None,
                   help="output folder of a train.py run (required to render views; --npz X --export_ply OUT works without it)")
    p.add_argument("--iteration", type=int, default=-1, help="iteration of the PLY to render (default: the latest)")
    p.add_argument("--skip_train", action="store_true", help="do not render the training views")
    p.add_argument("--skip_test", action="store_true", help="do not render the test views")
    p.add_argument("-s", "--source_path", default=None, help="scene folder, if it moved since training (default: from cfg_args.json)")
    p.add_argument("--backend", default=None, choices=("auto", "gsplat", "torch"), help="renderer backend (default: from cfg_args.json)")
    p.add_argument("--device", default=None, help="torch device (default: from cfg_args.json)")
    p.add_argument("--no_images", action="store_true", help="only compute the metrics, write no PNGs")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--npz", default=None, help="render this compressed model (pc_npz directory or pc_npz.bundle) instead of -m's files")
    p.add_argument("--ply", action="store_true", help="render the PLY of the iteration even when a compressed pc_npz exists")
    p.add_argument("--export_ply", default=None, help="write the decoded compressed Gaussians to this INRIA PLY file")
    return p


def save_png(path: str, image: torch.Tensor) -> None:
    """Write [H, W, 3] float in [0, 1] as an 8-bit PNG (round(255·x), as torchvision's save_image)."""
    from PIL import Image

    arr = (image.detach().clamp(0.0, 1.0).cpu().numpy() * 255.0 + 0.5).astype(np.uint8)
    Image.fromarray(arr).save(path)


def lpips_status() -> tuple[Optional[Any], str]:
    """``(lpips module, "")`` when LPIPS can run offline, else ``(None, reason)``.

    LPIPS needs the ``lpips`` package (linear heads ship inside it) and a torchvision backbone
    whose weights torchvision would otherwise download; nothing is downloaded here.
    """
    try:
        import lpips  # type: ignore[import-not-found]
    except ImportError:
        return None, "the 'lpips' package is not installed (it is not in requirements.txt and downloads VGG weights on first use)"
    hub = os.path.join(torch.hub.get_dir(), "checkpoints")
    if not (os.path.isdir(hub) and any(n.startswith("vgg16-") for n in os.listdir(hub))):
        return None, f"no VGG-16 backbone weights in {hub} and no download is attempted"
    return lpips, ""


def render_split(
    split: str,
    cameras: Sequence[Any],
    render_fn: Any,
    device: torch.device,
    out_dir: Optional[str],
    lpips_fn: Optional[Any],
    progress: bool,
) -> tuple[dict[str, Any], dict[str, dict[str, float]]]:
    """Render and score one split; returns (summary, per-view dict)."""
    from training.evaluate import evaluate_views

    if out_dir is not None:
        os.makedirs(os.path.join(out_dir, "renders"), exist_ok=True)
        os.makedirs(os.path.join(out_dir, "gt"), exist_ok=True)
    bar = None
    if progress:
        from training.console import progress_bar

        bar = progress_bar(len(cameras), f"render {split}", unit="view")
    lpips_values: list[float] = []

    def on_view(i: int, cam: Any, image: torch.Tensor, gt: torch.Tensor) -> None:
        if out_dir is not None:
            save_png(os.path.join(out_dir, "renders", f"{i:05d}.png"), image)
            save_png(os.path.join(out_dir, "gt", f"{i:05d}.png"), gt)
        if lpips_fn is not None:
            to_nchw = lambda x: x.permute(2, 0, 1)[None] * 2.0 - 1.0  # noqa: E731 - LPIPS takes [-1, 1]
            lpips_values.append(float(lpips_fn(to_nchw(image), to_nchw(gt)).mean()))
        if bar is not None:
            bar.update(1)

    result = evaluate_views(render_fn, cameras, device, on_view=on_view)
    if bar is not None:
        bar.close()
    summary = result.summary()
    per_view: dict[str, dict[str, float]] = {
        "PSNR": {v.name: v.psnr for v in result.views},
        "SSIM": {v.name: v.ssim for v in result.views},
    }
    if lpips_fn is not None and lpips_values:
        summary["LPIPS"] = sum(lpips_values) / len(lpips_values)
        per_view["LPIPS"] = {v.name: x for v, x in zip(result.views, lpips_values)}
    return summary, per_view


def _merge_json(path: str, key: str, value: dict[str, Any]) -> None:
    data: dict[str, Any] = {}
    if os.path.isfile(path):
        try:
            with open(path, "r", encoding="utf-8") as fh:
                loaded = json.load(fh)
            data = loaded if isinstance(loaded, dict) else {}
        except (OSError, ValueError):
            LOGGER.warning("%s was unreadable; rewriting it", path)
    data[key] = value
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=True))


def choose_compressed(model_path: str, args: argparse.Namespace) -> Optional[str]:
    """The compressed model to render (a path), or None for the PLY path.

    ``--npz`` wins; ``--ply`` disables; otherwise ``pc_npz`` of ``--iteration`` when it exists (the
    latest iteration with one for ``-1``), else None (the PLY of that iteration is rendered).
    """
    from compression.pipeline import list_npz_iterations, pc_dir

    if args.npz:
        if args.ply:
            raise ValueError("--npz and --ply exclude each other")
        return args.npz
    if args.ply:
        return None
    available = list_npz_iterations(model_path)
    if args.iteration < 0:
        return pc_dir(model_path, available[-1]) if available else None
    return pc_dir(model_path, args.iteration) if args.iteration in available else None


def load_compressed(path: str, args: argparse.Namespace, device: torch.device, backend: str, bg: torch.Tensor):
    """Decode ``path`` (``load_npz``) → ``(iteration, render_fn, results extra)``; ``--export_ply`` here."""
    from compression.attributes import render_attributes
    from codec import BUNDLE_SUFFIX, find_compressed, load_npz
    from scene.ply_io import export_ply

    path = find_compressed(os.path.abspath(path))
    decoded = load_npz(path, device=device)
    stored = decoded.manifest.get("configuration", {}).get("iteration")
    iteration = int(stored) if isinstance(stored, int) else max(args.iteration, 0)
    with torch.no_grad():
        gaussians = decoded.gaussians()
    sh_degree = decoded.sh_degree

    def render_fn(cam: Any) -> dict:
        return render_attributes(gaussians, cam, bg, backend, sh_degree)

    if os.path.isdir(path):
        bundle = path.rstrip(os.sep) + BUNDLE_SUFFIX
        nbytes = os.path.getsize(bundle) if os.path.isfile(bundle) else sum(
            os.path.getsize(os.path.join(path, f)) for f in os.listdir(path))
    else:
        nbytes = os.path.getsize(path)
    ply_bytes = decoded.manifest.get("input_ply_bytes")
    size = {"bundle_bytes": nbytes, "n_gaussians": decoded.n_gaussians,
            "bits_per_gaussian": 8.0 * nbytes / decoded.n_gaussians, "input_ply_bytes": ply_bytes,
            "ratio": (ply_bytes / nbytes) if ply_bytes else None}
    LOGGER.info("decoded %s: %d Gaussians", path, decoded.n_gaussians)
    if args.export_ply:
        export_ply(decoded, os.path.abspath(args.export_ply))
        print(f"exported the decoded Gaussians to {os.path.abspath(args.export_ply)}")
    return iteration, render_fn, {"compressed": True, "source": path, "size": size}


def render_model(args: argparse.Namespace) -> dict[str, Any]:
    """Everything render.py does; returns ``{split: summary}`` for the rendered iteration."""
    from arguments import ModelParams, PipelineParams, group_from_json, read_config_json
    from gaussian_renderer import resolve_backend
    from scene.gaussian_model import GaussianModel
    from scene.dataset_readers import load_checked_scene
    from utils.general import resolve_device
    from utils.threads import use_threads
    from training.rendering import render_gaussians
    from training.run_dir import ply_path, resolve_ply_iteration

    model_path = os.path.abspath(args.model_path)
    if not os.path.isdir(model_path):
        raise FileNotFoundError(f"-m {args.model_path!r} is not a folder; pass the output folder of train.py")
    cfg = read_config_json(model_path)
    model_cfg = group_from_json(ModelParams, cfg.get("model"))
    pipe = group_from_json(PipelineParams, cfg.get("pipeline"))
    if args.source_path:
        model_cfg.source_path = os.path.abspath(args.source_path)
    seed = int((cfg.get("run") or {}).get("seed", 0))
    device = resolve_device(args.device or pipe.device)
    use_threads(pipe.threads)
    backend = resolve_backend(args.backend or pipe.backend, device)
    bg = torch.tensor([1.0, 1.0, 1.0] if model_cfg.white_background else [0.0, 0.0, 0.0], device=device)
    compressed = choose_compressed(model_path, args)
    extra: dict[str, Any] = {}
    if compressed is not None:
        iteration, render_fn, extra = load_compressed(compressed, args, device, backend, bg)
    else:
        if args.export_ply:
            raise ValueError("--export_ply needs a compressed model (pc_npz) to decode; none found or --ply given")
        iteration = resolve_ply_iteration(model_path, args.iteration)
        ply = ply_path(model_path, iteration)
        try:
            model = GaussianModel.from_ply(ply).to(device)
        except (ValueError, FileNotFoundError):
            raise
        except Exception as exc:  # damaged file
            raise ValueError(f"{ply} is not a readable 3DGS PLY ({type(exc).__name__}: {exc})") from exc

        def render_fn(cam: Any) -> dict:
            return render_gaussians(model, cam, bg, backend)

    scene = load_checked_scene(model_cfg.source_path, resolution=model_cfg.resolution,
                               white_background=model_cfg.white_background, eval=model_cfg.eval, seed=seed)
    lpips_mod, why = lpips_status()
    lpips_fn = None
    if lpips_mod is not None:
        try:
            lpips_fn = lpips_mod.LPIPS(net="vgg", verbose=False).to(device).eval()
        except Exception as exc:  # noqa: BLE001 - weights missing or unloadable: report, do not crash
            why = f"LPIPS could not be built offline ({type(exc).__name__}: {exc})"
    if lpips_fn is None:
        print(f"LPIPS omitted: {why}")

    key = f"ours_{iteration}"
    summaries: dict[str, Any] = {}
    per_views: dict[str, Any] = {}
    for split in SPLITS:
        if (split == "train" and args.skip_train) or (split == "test" and args.skip_test):
            continue
        cams = scene.train_cameras if split == "train" else scene.test_cameras
        if not cams:
            LOGGER.info("no %s views (train without --eval has no test split)", split)
            continue
        out_dir = None if args.no_images else os.path.join(model_path, split, key)
        with torch.no_grad():
            summary, per_view = render_split(split, cams, render_fn, device, out_dir, lpips_fn, progress=not args.quiet)
        summaries[split] = summary
        per_views[split] = per_view
        print(
            f"{split:5s} ours_{iteration}: PSNR {summary['PSNR']:.3f} dB  SSIM {summary['SSIM']:.4f}"
            + (f"  LPIPS {summary['LPIPS']:.4f}" if "LPIPS" in summary else "")
            + f"  ({summary['n_views']} views)"
        )
    if summaries:
        if extra:
            print(f"compressed model {extra['source']}: {extra['size']['bundle_bytes']} B, "
                  f"{extra['size']['bits_per_gaussian']:.2f} bits/Gaussian"
                  + (f", ratio {extra['size']['ratio']:.1f}x vs the input PLY" if extra["size"].get("ratio") else ""))
        _merge_json(os.path.join(model_path, "results.json"), key, {**summaries, **extra})
        _merge_json(os.path.join(model_path, "per_view.json"), key, per_views)
    return summaries


def main(argv: Optional[Sequence[str]] = None) -> int:
    from training.console import setup_logging

    args = make_parser().parse_args(argv)
    setup_logging()
    if args.model_path is None:
        if not (args.npz and args.export_ply):
            raise ValueError("-m/--model_path is required to render views (only --npz X --export_ply OUT "
                             "works without it; python decompress.py X -o OUT also writes SPZ/SOG)")
        export_only(args)
        return 0
    render_model(args)
    return 0


def export_only(args: argparse.Namespace) -> None:
    """``--npz X --export_ply OUT`` without ``-m``: decode X and write the INRIA PLY, render nothing."""
    from codec import find_compressed, load_npz
    from scene.ply_io import export_ply

    decoded = load_npz(find_compressed(os.path.abspath(args.npz)), device=args.device or "cpu")
    export_ply(decoded, os.path.abspath(args.export_ply))
    print(f"exported the decoded Gaussians ({decoded.n_gaussians}) to {os.path.abspath(args.export_ply)}")


if __name__ == "__main__":
    from training.console import run_cli

    sys.exit(run_cli(main, None, "render.py"))
