"""TensorBoard logging under ``<out>/tb`` (``tensorboard --logdir <out>``).

Tags written by the trainer: ``train/l1``, ``train/loss``, ``train/psnr``, ``train/num_gaussians``,
``train/iter_time`` (s), ``train/memory_rss_mib`` (and ``train/memory_cuda_mib`` on CUDA),
``train/position_lr``, ``test/psnr``, ``test/ssim``, ``train_views/psnr``, ``train_views/ssim``,
and images ``test_view_<i>/render_gt`` (render | ground truth side by side, [H, 2W, 3]).
A logger built with ``enabled=False`` (or when the tensorboard package is missing) drops
everything, so training never depends on it.
"""

from __future__ import annotations

import logging
import os
from typing import Optional

import torch

LOGGER = logging.getLogger(__name__)


class TBLogger:
    """Thin wrapper over ``torch.utils.tensorboard.SummaryWriter``."""

    def __init__(self, out_dir: str, enabled: bool = True, subdir: str = "tb"):
        self.log_dir = os.path.join(out_dir, subdir)
        self._writer = None
        if enabled:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError as exc:  # tensorboard is in requirements.txt; keep training alive without it
                LOGGER.warning("TensorBoard logging off: %s", exc)
            else:
                self._writer = SummaryWriter(log_dir=self.log_dir)

    @property
    def enabled(self) -> bool:
        return self._writer is not None

    def scalar(self, tag: str, value: float, step: int) -> None:
        if self._writer is not None:
            self._writer.add_scalar(tag, float(value), step)

    def scalars(self, values: dict[str, float], step: int) -> None:
        for tag, value in values.items():
            self.scalar(tag, value, step)

    def image_pair(self, tag: str, render: torch.Tensor, gt: torch.Tensor, step: int) -> None:
        """Log ``render`` beside ``gt`` (both [H, W, 3] in [0, 1]) as one [H, 2W, 3] image."""
        if self._writer is None:
            return
        pair = torch.cat([render.detach().clamp(0, 1), gt.detach().clamp(0, 1)], dim=1).cpu()
        self._writer.add_image(tag, pair, step, dataformats="HWC")

    def histogram(self, tag: str, values: torch.Tensor, step: int) -> None:
        if self._writer is not None:
            self._writer.add_histogram(tag, values.detach().cpu(), step)

    def flush(self) -> None:
        if self._writer is not None:
            self._writer.flush()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def __enter__(self) -> "TBLogger":
        return self

    def __exit__(self, *exc: Optional[BaseException]) -> None:
        self.close()
