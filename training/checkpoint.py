"""Resumable training checkpoints ``<out>/chkpnt<k>.pth`` (3DGS's file name, its own content).

A checkpoint is one ``torch.save`` dict, loaded back with ``weights_only=True`` (no pickled code):

| key                | content                                                                 |
|--------------------|-------------------------------------------------------------------------|
| format, version    | ``"3dgs-train-checkpoint"``, 1                                          |
| iteration          | last finished iteration k (training resumes at k + 1)                   |
| params             | {means, quats, scales, opacities, sh0, shN} raw tensors (CPU)            |
| active_sh_degree   | SH warm-up degree reached, and ``max_sh_degree``                        |
| optimizers         | {key: Adam state_dict} (one param_group each)                           |
| densify_state      | DefaultStrategy running statistics (grad2d, count, scene_scale)         |
| rng                | torch CPU (+ CUDA) generator states, numpy and Python ``random`` states |
| meta               | {source_path, n_gaussians, ...} for messages                            |

Restoring all of it makes the next iterations identical to an uninterrupted run (the camera
order depends only on seed and iteration, see ``training.sampling``).
"""

from __future__ import annotations

import os
import random
from typing import Any, Mapping, Optional

import numpy as np
import torch

from utils.files import atomic_target

CHECKPOINT_FORMAT = "3dgs-train-checkpoint"
CHECKPOINT_VERSION = 1
PARAM_KEYS = ("means", "quats", "scales", "opacities", "sh0", "shN")


def checkpoint_path(out_dir: str, iteration: int) -> str:
    return os.path.join(out_dir, f"chkpnt{iteration}.pth")


def capture_rng_state() -> dict[str, Any]:
    """States of torch (CPU and every CUDA device), numpy's global and Python's ``random`` generators."""
    np_state = np.random.get_state()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {
            "name": str(np_state[0]),
            "keys": torch.from_numpy(np.asarray(np_state[1], dtype=np.int64)),
            "pos": int(np_state[2]),
            "has_gauss": int(np_state[3]),
            "cached_gaussian": float(np_state[4]),
        },
        "python": random.getstate(),
    }
    if torch.cuda.is_available():
        state["gpu"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: Mapping[str, Any]) -> None:
    """Inverse of :func:`capture_rng_state` (CUDA states only when CUDA is available here)."""
    torch.set_rng_state(state["torch"].cpu())
    npst = state["numpy"]
    np.random.set_state(
        (npst["name"], npst["keys"].numpy().astype(np.uint32), npst["pos"], npst["has_gauss"], npst["cached_gaussian"])
    )
    random.setstate(_to_tuple(state["python"]))
    if "gpu" in state and torch.cuda.is_available():
        cuda_states = [s.cpu() for s in state["gpu"]]
        if len(cuda_states) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda_states)


def _to_tuple(x: Any) -> Any:
    return tuple(_to_tuple(v) for v in x) if isinstance(x, (list, tuple)) else x


def save_checkpoint(
    path: str,
    *,
    iteration: int,
    params: Mapping[str, torch.Tensor],
    active_sh_degree: int,
    max_sh_degree: int,
    optimizers: Mapping[str, torch.optim.Optimizer],
    densify_state: Mapping[str, Any],
    meta: Optional[dict[str, Any]] = None,
) -> None:
    """Write a checkpoint atomically (temp file + rename)."""
    payload = {
        "format": CHECKPOINT_FORMAT,
        "version": CHECKPOINT_VERSION,
        "iteration": int(iteration),
        "params": {k: v.detach().cpu().clone() for k, v in params.items()},
        "active_sh_degree": int(active_sh_degree),
        "max_sh_degree": int(max_sh_degree),
        "optimizers": {k: o.state_dict() for k, o in optimizers.items()},
        "densify_state": dict(densify_state),
        "rng": capture_rng_state(),
        "meta": dict(meta or {}),
    }
    with atomic_target(path) as tmp:
        torch.save(payload, tmp)


def load_checkpoint(path: str) -> dict[str, Any]:
    """Read and check a checkpoint written by :func:`save_checkpoint`.

    Raises ``FileNotFoundError`` when ``path`` is missing and ``ValueError`` when it is not a
    readable checkpoint of this format (truncated, another program's file, inconsistent sizes).
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"--start_checkpoint {path!r} does not exist; pass a chkpnt<k>.pth written by train.py")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - a damaged file can make the unpickler raise almost anything (IndexError, TypeError, ...)
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(f"--start_checkpoint {path!r} is not a readable train.py checkpoint ({first})") from exc
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(
            f"--start_checkpoint {path!r} is not a train.py checkpoint (no format tag {CHECKPOINT_FORMAT!r}); "
            "3DGS's own chkpnt files are not supported"
        )
    if ckpt.get("version") != CHECKPOINT_VERSION:
        raise ValueError(f"--start_checkpoint {path!r} has version {ckpt.get('version')!r}; this code reads {CHECKPOINT_VERSION}")
    params = ckpt.get("params")
    if not isinstance(params, dict) or set(params) != set(PARAM_KEYS):
        raise ValueError(f"--start_checkpoint {path!r} lacks the Gaussian parameters {PARAM_KEYS}")
    counts = {k: int(v.shape[0]) for k, v in params.items()}
    if len(set(counts.values())) != 1:
        raise ValueError(f"--start_checkpoint {path!r} has inconsistent Gaussian counts {counts}")
    for key in ("iteration", "optimizers", "densify_state", "rng", "active_sh_degree", "max_sh_degree"):
        if key not in ckpt:
            raise ValueError(f"--start_checkpoint {path!r} lacks {key!r}")
    if set(ckpt["optimizers"]) != set(PARAM_KEYS):
        raise ValueError(f"--start_checkpoint {path!r}: optimizer keys {sorted(ckpt['optimizers'])} do not match {PARAM_KEYS}")
    return ckpt

