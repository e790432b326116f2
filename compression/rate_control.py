"""Rate control: the quality that makes the compressed file as large as a target, and no larger.

``--target_size`` / ``--target_bpg`` (``--quantizer rd``): before every save the trainer searches κ
(the step at average sensitivity, ``quant.rate_distortion``) with the *exact* encoded size — every
probe sets κ, recalibrates the steps on the current attributes (no re-training), encodes the
payload the save would write and measures its bundle in memory. The bundle size falls as κ grows
(coarser steps); the search brackets the target by doubling / halving κ, then narrows the bracket
by secant steps on (log κ, log bytes), each kept inside the bracket's middle 80 %, aiming at
0.995·target ≤ bytes ≤ target (every byte under the target is quality given away: on a few thousand
Gaussians a file 1.4 % under its target sat more than a quality unit below the ``--quality`` file of
the target's size). A file in the guaranteed window 0.97·target ≤ bytes ≤ target is accepted when
``REFINE_PROBES`` more probes do not reach the aim. Geometry and the plan's weights are encoded once
(``codec`` cache), so a probe costs one RAHT forward, one quantization and the AC entropy coding.

Only training-side data enter the choice (the size); the test views are never looked at.
"""
from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from typing import Callable

from codec import CompressedPayload, bundle_size
from compression.attributes import RD_QUANTIZERS, QuantizedGaussians
from quant.rate_distortion import kappa_to_quality

logger = logging.getLogger(__name__)

__all__ = ["RateControlResult", "TargetUnreachable", "fit_to_target", "TOLERANCE", "AIM", "REFINE_PROBES"]

#: the file must land in [(1 − TOLERANCE)·target, target]
TOLERANCE = 0.03
#: the search aims at [(1 − AIM)·target, target] ...
AIM = 0.005
#: ... for at most this many probes after its first file inside the guaranteed window
REFINE_PROBES = 6
_KAPPA_MIN, _KAPPA_MAX = 2.0 ** -40, 2.0 ** 40


class TargetUnreachable(ValueError):
    """The target is below the smallest file this model can make."""


@dataclass
class RateControlResult:
    """Outcome of one search: the chosen κ (and its quality), the bundle bytes, the probes."""

    kappa: float
    bytes: int
    target: int
    payload: CompressedPayload
    probes: list = field(default_factory=list)  # (kappa, bytes) in probe order
    seconds: float = 0.0
    note: str = ""

    @property
    def quality(self) -> float:
        return kappa_to_quality(self.kappa)

    def as_dict(self) -> dict:
        return {"kappa": self.kappa, "quality": self.quality, "bytes": self.bytes, "target": self.target,
                "probes": len(self.probes), "seconds": self.seconds, "note": self.note}


def fit_to_target(model: QuantizedGaussians, target: int, make_payload: Callable[[QuantizedGaussians], CompressedPayload],
                  *, tolerance: float = TOLERANCE, aim: float = AIM, max_probes: int = 40) -> RateControlResult:
    """Set ``model``'s κ (``--quantizer rd``) so that the bundle of ``make_payload(model)`` is at most
    ``target`` bytes and at least (1 − tolerance)·target, aiming at (1 − aim)·target (see the module
    docstring); leaves the model calibrated at that κ.

    Raises :class:`TargetUnreachable` when even the coarsest steps give a larger file (the message
    says how small this model can go and what to change), ``ValueError`` for a non-rd model.
    When the finest steps (no clipping, full code range) stay below the window, they are used and
    ``note`` says so.
    """
    if model.quantizer not in RD_QUANTIZERS:
        raise ValueError(f"rate control needs --quantizer rd, the model uses {model.quantizer!r}")
    if not target > 0:
        raise ValueError(f"the target size must be > 0 bytes, got {target!r}")
    t0 = time.perf_counter()
    cache: dict = {}
    probes: list[tuple[float, int]] = []
    best: dict = {}

    def probe(kappa: float) -> int:
        model.bank.set_kappa(kappa)
        model.calibrate()
        payload = make_payload(model)
        size = bundle_size(payload, plan=model.plan, cache=cache)
        probes.append((kappa, size))
        if size <= target and ("size" not in best or size > best["size"]):
            best.update(size=size, kappa=kappa, payload=payload)
        return size

    def done(note: str = "") -> RateControlResult:
        model.bank.set_kappa(best["kappa"])
        model.calibrate()
        res = RateControlResult(best["kappa"], best["size"], target, best["payload"], probes, time.perf_counter() - t0, note)
        logger.info("rate control: target %d B -> %d B (%.2f %% below) at quality %.2f (kappa %.4g), %d probes, %.2f s%s",
                    target, res.bytes, 100.0 * (1 - res.bytes / target), res.quality, res.kappa, len(probes), res.seconds,
                    f"; {note}" if note else "")
        return res

    lower = (1.0 - tolerance) * target
    aim_lower = max(lower, (1.0 - aim) * target)
    kappa = float(model.bank.kappa)
    size = probe(kappa)
    if aim_lower <= size <= target:
        return done()
    # bracket: small κ (bigger file, > target) ... large κ (smaller file, ≤ target)
    if size > target:
        k_big, k_small, s_small = kappa, kappa, size
        while True:
            k_big *= 4.0
            s_big = probe(k_big)
            if s_big <= target:
                break
            if k_big >= _KAPPA_MAX or s_big == s_small:
                raise TargetUnreachable(
                    f"--target_size {target} B is below the smallest file this model can make ({s_big} B with every "
                    f"AC coefficient quantized to zero; the geometry alone takes "
                    f"{_geometry_bytes(cache)} B); raise the target, lower --depth or prune more (--percent)")
            k_small, s_small = k_big, s_big
    else:
        k_small, k_big, s_big = kappa, kappa, size
        while True:
            k_small /= 4.0
            s_small = probe(k_small)
            if s_small > target:
                break
            if k_small <= _KAPPA_MIN or s_small == s_big:
                if best["size"] >= lower:
                    return done()
                return done(f"the finest steps give {best['size']} B, below the {lower:.0f}-{target} B window; "
                            f"the file cannot grow further at this depth and pruning")
            k_big, s_big = k_small, s_small

    def in_window() -> bool:
        return best.get("size", -1) >= lower

    first_in_window = len(probes) if in_window() else None
    while best.get("size", -1) < aim_lower and len(probes) < max_probes:
        if first_in_window is not None and len(probes) - first_in_window >= REFINE_PROBES:
            break
        if k_big / k_small < 1.0 + 1e-9:  # the bracket has closed: no κ between gives another size
            break
        # secant on (log κ, log bytes), kept in the middle 80 % of the bracket
        a, b = math.log(k_small), math.log(k_big)
        fa, fb = math.log(s_small), math.log(s_big)
        goal = math.log(0.5 * (aim_lower + target))
        t = (goal - fa) / (fb - fa) if fb != fa else 0.5
        t = min(0.9, max(0.1, t))
        k = math.exp(a + t * (b - a))
        s = probe(k)
        if first_in_window is None and in_window():
            first_in_window = len(probes)
        if s > target:
            k_small, s_small = k, s
        else:
            k_big, s_big = k, s
    if in_window():
        return done()
    return done(f"stopped after {len(probes)} probes; the closest file below the target is "
                f"{100.0 * (1 - best['size'] / target):.2f} % below it")


def _geometry_bytes(cache: dict) -> int:
    return len(cache.get("geometry", b""))
