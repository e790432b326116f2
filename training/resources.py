"""Process memory for monitoring and benchmarks: resident set size on CPU, allocator bytes on CUDA."""

from __future__ import annotations

import os
import resource
import sys

import torch


def current_rss_mib() -> float:
    """Current resident set size of this process in MiB (``/proc/self/statm``; peak RSS where absent)."""
    try:
        with open("/proc/self/statm", "r", encoding="ascii") as fh:
            pages = int(fh.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return peak_rss_mib()


def peak_rss_mib() -> float:
    """Peak resident set size of this process in MiB (``getrusage``; KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


def memory_mib(device: torch.device) -> dict[str, float]:
    """``{"rss": MiB}`` plus ``{"cuda_allocated", "cuda_peak"}`` MiB when ``device`` is a CUDA device."""
    out = {"rss": current_rss_mib()}
    dev = torch.device(device)
    if torch.cuda.is_available() and torch.empty(0, device=dev).is_cuda:
        out["cuda_allocated"] = torch.cuda.memory_allocated(dev) / 2**20
        out["cuda_peak"] = torch.cuda.max_memory_allocated(dev) / 2**20
    return out
