"""Layout of a training run folder ``<out>`` (3DGS's ``model_path``) and its safety checks.

    <out>/cfg_args, cfg_args.json                resolved configuration (arguments.write_config)
    <out>/point_cloud/iteration_<k>/point_cloud.ply   Gaussians at iteration k (INRIA PLY)
    <out>/chkpnt<k>.pth                          resumable checkpoints (training.checkpoint)
    <out>/training_metrics.json                  test / train-view PSNR, SSIM per test iteration
    <out>/tb/                                    TensorBoard events
    <out>/<split>/ours_<k>/{renders,gt}/*.png    written by render.py, with <out>/results.json
"""

from __future__ import annotations

import json
import os
import re

_ITER_DIR = re.compile(r"^iteration_(\d+)$")


def ply_path(out_dir: str, iteration: int) -> str:
    """``<out>/point_cloud/iteration_<k>/point_cloud.ply``."""
    return os.path.join(out_dir, "point_cloud", f"iteration_{iteration}", "point_cloud.ply")


def list_ply_iterations(out_dir: str) -> list[int]:
    """Sorted iterations k that have ``point_cloud/iteration_<k>/point_cloud.ply``."""
    root = os.path.join(out_dir, "point_cloud")
    if not os.path.isdir(root):
        return []
    found = []
    for name in os.listdir(root):
        m = _ITER_DIR.match(name)
        if m and os.path.isfile(os.path.join(root, name, "point_cloud.ply")):
            found.append(int(m.group(1)))
    return sorted(found)


def resolve_ply_iteration(out_dir: str, iteration: int = -1) -> int:
    """``iteration`` if its PLY exists, the latest one for ``-1``; ``FileNotFoundError`` otherwise."""
    available = list_ply_iterations(out_dir)
    if not available:
        raise FileNotFoundError(f"no point_cloud/iteration_<k>/point_cloud.ply under {out_dir!r}; train first (train.py -m {out_dir})")
    if iteration < 0:
        return available[-1]
    if iteration not in available:
        raise FileNotFoundError(f"{ply_path(out_dir, iteration)} does not exist; available iterations: {available}")
    return iteration


def check_output_dir(out_dir: str, source_path: str) -> None:
    """Refuse an output folder that holds a run of another scene.

    ``<out>/cfg_args.json`` naming a different (absolute) ``source_path`` → ``ValueError``; an
    unreadable one too (the folder's owner cannot be told). A missing folder, a folder without
    ``cfg_args.json`` or one of the same scene is fine (the run continues / overwrites it, as 3DGS).
    Nothing is written here.
    """
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise ValueError(f"-m {out_dir!r} exists and is not a folder; choose another output path")
    cfg_path = os.path.join(out_dir, "cfg_args.json")
    if not os.path.exists(cfg_path):
        return
    try:
        with open(cfg_path, "r", encoding="utf-8") as fh:
            previous = json.load(fh)
        prev_source = previous["model"]["source_path"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(
            f"-m {out_dir!r} holds an unreadable cfg_args.json ({exc}); cannot tell which scene it belongs to — "
            "choose another output folder or delete it"
        ) from exc
    if os.path.abspath(str(prev_source)) != os.path.abspath(source_path):
        raise ValueError(
            f"-m {out_dir!r} holds a run of another scene ({prev_source}), not {os.path.abspath(source_path)}; "
            "choose another output folder or delete the old run"
        )
