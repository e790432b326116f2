"""Small helpers shared by every package: seeding, inverse sigmoid, loggers.

Only stdlib, numpy and torch are imported here (import rule of ``utils/``).
"""

from __future__ import annotations

import logging
import random

import numpy as np
import torch


def set_seed(seed: int) -> None:
    """Seed Python's ``random``, numpy and torch (all devices) with ``seed``.

    Args:
        seed: a non-negative integer.
    """
    if not isinstance(seed, (int, np.integer)) or int(seed) < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def inverse_sigmoid(x: torch.Tensor) -> torch.Tensor:
    """Logit, the inverse of ``torch.sigmoid``: ``log(x / (1 − x))``.

    Args:
        x: tensor of any shape with values in (0, 1).

    Returns:
        Tensor of the same shape; ±inf at exactly 0 or 1.
    """
    return torch.log(x / (1.0 - x))


def get_logger(name: str) -> logging.Logger:
    """The standard-library logger ``name`` (no handlers are installed here).

    Scripts configure handlers (``logging.basicConfig``); packages only log.
    """
    return logging.getLogger(name)


def resolve_device(name: str) -> torch.device:
    """``auto`` → CUDA when available, else CPU; anything else is passed to ``torch.device``."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise ValueError(f"--device {name!r} is not a torch device ({exc}); use auto, cpu or cuda") from exc
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"--device {name!r} asked for CUDA but torch sees no CUDA device; use --device cpu")
    return device
