"""CPU threads of the command lines.

``--threads N`` sets torch's intra-op thread count (default: torch's, one per core). The command lines
also ask OpenMP to let idle threads sleep (``OMP_WAIT_POLICY=PASSIVE``, unless the environment already
sets a policy): by default they spin for a while between parallel regions, and two runs sharing the
cores then spin on each other's time (``scripts/bench_threads.py`` measures it; docs/benchmarks.md).
The policy is read when torch loads OpenMP, so :func:`sleep_when_idle` must run before ``import torch``.
"""
from __future__ import annotations

import os
from typing import Optional

__all__ = ["sleep_when_idle", "use_threads"]


def sleep_when_idle() -> None:
    """``OMP_WAIT_POLICY=PASSIVE`` unless set (call before torch is imported)."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def use_threads(n: Optional[int]) -> int:
    """Set torch's CPU thread count to ``n`` (None: keep torch's) and return the count in use."""
    import torch

    if n is not None:
        if not isinstance(n, int) or n < 1:
            raise ValueError(f"--threads must be an integer >= 1, got {n!r}")
        torch.set_num_threads(n)
    return torch.get_num_threads()
