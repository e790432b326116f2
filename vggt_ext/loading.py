"""Local checkpoint loading / saving for the VGGT-compatible model (no network, ever).

Accepted checkpoints (``path``):

| path                         | read with                                                   |
|------------------------------|-------------------------------------------------------------|
| ``*.safetensors``            | ``safetensors.torch.load_file`` (config from metadata if any)|
| ``*.pt`` / ``*.pth`` / ``*.bin`` | ``torch.load(weights_only=True, map_location="cpu")``   |
| a folder                     | ``model.safetensors``, else ``model.pt``, else its only      |
|                              | ``*.safetensors`` / ``*.pt`` file                           |

The file holds a flat state dict (name → tensor) with the upstream VGGT names; a ``.pt`` whose
only entry is ``"model"`` or ``"state_dict"`` holding that dict is unwrapped.

Key matching is strict: missing or unexpected keys raise ValueError listing up to 10 of each and
their counts; shape mismatches raise ValueError listing them.  (Upstream ``from_pretrained``
loads with strict=False and silently ignores mismatches.)  Floating tensors are converted to
float32.  The model is built on the meta device and the checkpoint tensors are assigned
(``load_state_dict(assign=True)``), so loading VGGT-1B never holds two copies of the weights.

``config=None``: the config stored by :func:`save_vggt` in safetensors metadata, else VGGT-1B
with each head enabled exactly when the checkpoint has keys under its prefix (logged).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Dict, Optional, Tuple, Union

import torch

from .models.config import VGGTConfig
from .models.vggt import VGGT
from utils.files import atomic_target

logger = logging.getLogger(__name__)

PathLike = Union[str, os.PathLike]
TORCH_SUFFIXES = (".pt", ".pth", ".bin")
CONFIG_METADATA_KEY = "vggt_config"
HEAD_PREFIXES = {
    "enable_camera": "camera_head.",
    "enable_depth": "depth_head.",
    "enable_point": "point_head.",
    "enable_track": "track_head.",
}
MAX_LISTED = 10


def resolve_checkpoint_path(path: PathLike) -> Path:
    """File to read for ``path`` (a checkpoint file or a folder holding one)."""
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"checkpoint {str(p)!r} does not exist; pass a model.pt / model.safetensors "
                                f"file or a folder holding one (no download is attempted)")
    if p.is_file():
        return p
    for name in ("model.safetensors", "model.pt"):
        if (p / name).is_file():
            return p / name
    candidates = sorted(q for q in p.iterdir() if q.is_file() and q.suffix in (".safetensors",) + TORCH_SUFFIXES)
    if len(candidates) == 1:
        return candidates[0]
    listing = sorted(q.name for q in p.iterdir())[:20]
    raise FileNotFoundError(
        f"folder {str(p)!r} holds no model.safetensors or model.pt"
        + (f" (and {len(candidates)} candidate checkpoint files, which is ambiguous)" if candidates else "")
        + f"; its entries: {listing}")


def read_state_dict(path: PathLike) -> Tuple[Dict[str, torch.Tensor], Dict[str, str], Path]:
    """Read a checkpoint → (state dict on CPU, metadata (safetensors only, else {}), file read)."""
    file = resolve_checkpoint_path(path)
    metadata: Dict[str, str] = {}
    if file.suffix == ".safetensors":
        from safetensors import SafetensorError, safe_open
        from safetensors.torch import load_file

        try:
            with safe_open(str(file), framework="pt") as f:
                metadata = dict(f.metadata() or {})
            state = load_file(str(file), device="cpu")
        except (SafetensorError, OSError, ValueError) as exc:
            raise ValueError(f"cannot read safetensors checkpoint {str(file)!r}: {exc}") from exc
    elif file.suffix in TORCH_SUFFIXES:
        try:
            try:
                state = torch.load(str(file), map_location="cpu", weights_only=True, mmap=True)
            except RuntimeError:
                # legacy (non-zip) serialisation cannot be memory-mapped
                state = torch.load(str(file), map_location="cpu", weights_only=True)
        except Exception as exc:  # pickle / zip / unpickling errors of torch.load
            raise ValueError(f"cannot read torch checkpoint {str(file)!r} as a state dict "
                             f"(weights_only=True): {exc}") from exc
    else:
        raise ValueError(f"unknown checkpoint type {file.suffix!r} for {str(file)!r}; "
                         f"use .safetensors or one of {TORCH_SUFFIXES}")
    if isinstance(state, dict) and len(state) == 1:
        (only_key, only_val), = state.items()
        if only_key in ("model", "state_dict") and isinstance(only_val, dict):
            state = only_val
    if not isinstance(state, dict) or not all(isinstance(k, str) and torch.is_tensor(v) for k, v in state.items()):
        raise ValueError(f"checkpoint {str(file)!r} is not a flat state dict (name → tensor)")
    return state, metadata, file


def infer_config(state: Dict[str, torch.Tensor], metadata: Optional[Dict[str, str]] = None) -> VGGTConfig:
    """Config for a checkpoint when none is given (see module docstring)."""
    if metadata and CONFIG_METADATA_KEY in metadata:
        try:
            values = json.loads(metadata[CONFIG_METADATA_KEY])
        except json.JSONDecodeError as exc:
            raise ValueError(f"checkpoint metadata {CONFIG_METADATA_KEY!r} is not valid JSON: {exc}") from exc
        return VGGTConfig.from_dict(values)
    flags = {flag: any(k.startswith(prefix) for k in state) for flag, prefix in HEAD_PREFIXES.items()}
    off = [f for f, on in flags.items() if not on]
    if off:
        logger.info("checkpoint has no keys for %s; building VGGT-1B without those heads", off)
    return VGGTConfig.vggt_1b(**flags)


def _listing(names, label: str) -> str:
    names = sorted(names)
    shown = ", ".join(names[:MAX_LISTED])
    more = f", … ({len(names) - MAX_LISTED} more)" if len(names) > MAX_LISTED else ""
    return f"{len(names)} {label} key(s): [{shown}{more}]"


def check_state_dict(model: torch.nn.Module, state: Dict[str, torch.Tensor], source: str = "checkpoint") -> None:
    """Strict comparison of ``state`` with ``model.state_dict()`` (names and shapes).

    Raises ValueError listing up to 10 missing / unexpected keys (with counts) or shape mismatches.
    """
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(_listing(missing, "missing"))
        if unexpected:
            parts.append(_listing(unexpected, "unexpected"))
        raise ValueError(
            f"{source} does not match the model ({len(expected)} tensors expected, {len(state)} found): "
            + "; ".join(parts)
            + ". Check that the checkpoint is a VGGT state dict and pass the matching VGGTConfig "
              "(e.g. enable_track=False for a checkpoint without the track head).")
    bad = [(k, tuple(state[k].shape), tuple(v.shape)) for k, v in expected.items() if tuple(state[k].shape) != tuple(v.shape)]
    if bad:
        shown = "; ".join(f"{k}: checkpoint {a} vs model {b}" for k, a, b in bad[:MAX_LISTED])
        more = f"; … ({len(bad) - MAX_LISTED} more)" if len(bad) > MAX_LISTED else ""
        raise ValueError(f"{source}: {len(bad)} tensor shape mismatch(es): {shown}{more}. "
                         f"The checkpoint was made for a different VGGTConfig; pass the matching config.")
    non_float = [k for k, v in state.items() if not v.is_floating_point()]
    if non_float:
        raise ValueError(f"{source}: non-floating tensors {non_float[:MAX_LISTED]} in a float checkpoint; "
                         f"quantized checkpoints are read by the quantization loader, not load_vggt")


def load_vggt(path: PathLike, config: Optional[VGGTConfig] = None, device: Union[str, torch.device] = "cpu") -> VGGT:
    """Load a local VGGT checkpoint into :class:`VGGT` (eval mode, float32, on ``device``).

    Raises FileNotFoundError for a missing path and ValueError for unreadable files,
    missing/unexpected keys or shape mismatches.
    """
    state, metadata, file = read_state_dict(path)
    if config is None:
        config = infer_config(state, metadata)
    config.validate()
    with torch.device("meta"):
        model = VGGT(config)
    check_state_dict(model, state, source=f"checkpoint {str(file)!r}")
    converted = [k for k, v in state.items() if v.dtype != torch.float32]
    if converted:
        logger.info("converting %d tensors of %s to float32", len(converted), str(file))
    state = {k: (v if v.dtype == torch.float32 else v.to(torch.float32)) for k, v in state.items()}
    model.load_state_dict(state, strict=True, assign=True)
    leftover = [n for n, t in list(model.named_parameters()) + list(model.named_buffers()) if t.is_meta]
    if leftover:  # cannot happen with the strict check above; guards future non-persistent buffers
        raise ValueError(f"internal error: tensors left uninitialised after loading: {leftover[:MAX_LISTED]}")
    model = model.to(device)
    model.eval()
    logger.info("loaded %s (%d tensors, %.1f M parameters)", str(file), len(state), model.num_parameters() / 1e6)
    return model


def save_vggt(model: VGGT, path: PathLike) -> Path:
    """Write ``model``'s float state dict: ``.safetensors`` (with the config as JSON metadata under
    ``"vggt_config"``) or ``.pt`` (a raw state dict, the upstream layout).  Returns the path."""
    p = Path(path)
    if p.suffix not in (".safetensors",) + TORCH_SUFFIXES:
        raise ValueError(f"save_vggt: use a .safetensors or .pt path, got {str(p)!r}")
    p.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    with atomic_target(p, suffix=p.suffix) as tmp:
        if p.suffix == ".safetensors":
            from safetensors.torch import save_file

            save_file(state, tmp, metadata={"format": "pt", CONFIG_METADATA_KEY: model.config.to_json()})
        else:
            torch.save(state, tmp)
    return p
