"""Entropy models and the range coder: integer symbol streams ↔ 32-bit words.

The coder is ``constriction``'s range coder (``constriction.stream.queue``, 32-bit words,
24-bit probabilities; Bamler 2022). Two model families, both turned into fixed categorical tables
that encoder and decoder compute identically:

- **Two-sided geometric** (the quantized Laplace on integers): p(r) ∝ θ^|r| around a known centre.
  Its one parameter is stored as an integer k: E|r| = m = 2^(k/8) (1/8-octave steps), and
  θ = m / (1 + √(1 + m²)) solves E|r| = 2θ / (1 − θ²) (the maximum-likelihood θ for a mean
  absolute value m). Only exactly rounded IEEE operations (ldexp, +, ×, ÷, √) and eight decimal
  constants are used, so every platform builds the same table bit for bit.
- **Adaptive categorical**: counts that start at 1 for every symbol of the alphabet and grow with
  every coded chunk; chunk t of a context holds ``first_chunk · 2^t`` symbols, so the model
  adapts quickly at the start and the cost of rebuilding it stays logarithmic. The decoder
  updates the same integer counts from what it decodes, so nothing about the model is stored.

Functions here know nothing about Gaussians; ``codec/ac_coding.py`` and ``codec/geometry.py``
choose the contexts.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
from scipy.special import gammaln

__all__ = [
    "K_MIN",
    "K_MAX",
    "RangeWriter",
    "RangeReader",
    "geometric_k",
    "geometric_theta",
    "geometric_table",
    "adaptive_encode",
    "adaptive_decode",
    "adaptive_code_bits",
]

#: range of the geometric parameter k (E|r| = 2^(k/8) from 2^-20 to 2^20)
K_MIN, K_MAX = -160, 160
# 2^(i/8), i = 0..7, as exact decimal literals (correctly rounded float64 values)
_EIGHTH_OCTAVES = np.array([
    1.0, 1.0905077326652577, 1.189207115002721, 1.2968395546510096,
    1.4142135623730951, 1.5422108254079407, 1.681792830507429, 1.8340080864093424,
], dtype=np.float64)


def _constriction():
    import constriction  # lazy: only the coder needs it

    return constriction


def geometric_k(mean_abs: np.ndarray) -> np.ndarray:
    """Integer parameter k = round(8·log2 m) of a mean absolute value m (clamped to [K_MIN, K_MAX]).
    Encoder side only (any rounding here is fine: the decoder uses k itself)."""
    m = np.maximum(np.asarray(mean_abs, dtype=np.float64), 2.0 ** (K_MIN / 8))
    return np.clip(np.rint(8.0 * np.log2(m)), K_MIN, K_MAX).astype(np.int64)


def geometric_theta(k) -> np.ndarray:
    """θ(k) = m / (1 + √(1 + m²)), m = 2^(k/8): deterministic on every platform (see module doc)."""
    k = np.asarray(k, dtype=np.int64)
    m = np.ldexp(_EIGHTH_OCTAVES[np.mod(k, 8)], np.floor_divide(k, 8).astype(np.int32))
    return m / (1.0 + np.sqrt(1.0 + m * m))


def geometric_table(k: int, r_min: int, r_max: int) -> np.ndarray:
    """Unnormalised probabilities θ^|r| of r = r_min..r_max (float64 [r_max − r_min + 1])."""
    theta = float(geometric_theta(k))
    reach = max(abs(r_min), abs(r_max))
    powers = np.cumprod(np.concatenate([[1.0], np.full(reach, theta)]))  # sequential products
    return powers[np.abs(np.arange(r_min, r_max + 1))]


class _Coder:
    """Models shared by the writer and the reader: fixed categorical tables, cached by a key."""

    def __init__(self):
        self._models: dict = {}

    @staticmethod
    def model(probabilities: np.ndarray):
        """A categorical model over [0, len(probabilities)) (weights need not sum to one)."""
        return _constriction().stream.model.Categorical(np.ascontiguousarray(probabilities, dtype=np.float64), perfect=False)

    def cached_model(self, key, make_probabilities: Callable[[], np.ndarray]):
        """The model for ``key``, built from ``make_probabilities()`` the first time only."""
        if key not in self._models:
            self._models[key] = self.model(make_probabilities())
        return self._models[key]


class RangeWriter(_Coder):
    """A range encoder; :meth:`encode` appends i.i.d. symbols of one model."""

    def __init__(self):
        super().__init__()
        self._enc = _constriction().stream.queue.RangeEncoder()

    def encode(self, symbols: np.ndarray, model) -> None:
        if symbols.size:
            self._enc.encode(np.ascontiguousarray(symbols, dtype=np.int32), model)

    def words(self) -> np.ndarray:
        """The compressed stream, uint32 words."""
        return np.asarray(self._enc.get_compressed(), dtype=np.uint32)


class RangeReader(_Coder):
    """The matching decoder over uint32 ``words``."""

    def __init__(self, words: np.ndarray):
        super().__init__()
        self._dec = _constriction().stream.queue.RangeDecoder(np.ascontiguousarray(words, dtype=np.uint32))

    def decode(self, count: int, model) -> np.ndarray:
        """``count`` symbols (int64); ``ValueError`` when the stream cannot provide them."""
        if count == 0:
            return np.zeros(0, dtype=np.int64)
        try:
            return np.asarray(self._dec.decode(model, int(count)), dtype=np.int64)
        except Exception as exc:  # constriction raises on an exhausted or invalid stream
            raise ValueError(f"range-coded stream does not decode ({exc})") from exc


def _chunks(n: int, first_chunk: int):
    start, size = 0, first_chunk
    while start < n:
        yield start, min(n, start + size)
        start, size = start + size, size * 2


def adaptive_encode(writer: RangeWriter, symbols: np.ndarray, counts: np.ndarray, first_chunk: int = 32) -> None:
    """Code ``symbols`` (in [0, len(counts))) with the adaptive categorical model; ``counts`` (int64,
    ≥ 1 each) is the model state and is updated in place, exactly as :func:`adaptive_decode` does."""
    for lo, hi in _chunks(symbols.size, first_chunk):
        chunk = symbols[lo:hi]
        writer.encode(chunk, writer.model(counts.astype(np.float64)))
        counts += np.bincount(chunk, minlength=counts.size)


def adaptive_code_bits(hist: np.ndarray) -> float:
    """Ideal code length in bits of the adaptive categorical model (counts starting at 1) over each
    row of ``hist`` [..., A] (symbol counts): Σ_rows log2((n + A − 1)! / ((A − 1)! Π n_s!)). It depends
    only on the final counts, not on the order of the symbols."""
    hist = np.asarray(hist, dtype=np.float64)
    alphabet = hist.shape[-1]
    n = hist.sum(-1)
    return float(np.sum(gammaln(n + alphabet) - gammaln(alphabet) - gammaln(hist + 1).sum(-1)) / np.log(2.0))


def adaptive_decode(reader: RangeReader, count: int, counts: np.ndarray, first_chunk: int = 32) -> np.ndarray:
    """Inverse of :func:`adaptive_encode` (same ``counts`` state in, same state out)."""
    out = np.empty(count, dtype=np.int64)
    for lo, hi in _chunks(count, first_chunk):
        chunk = reader.decode(hi - lo, reader.model(counts.astype(np.float64)))
        out[lo:hi] = chunk
        counts += np.bincount(chunk, minlength=counts.size)
    return out
