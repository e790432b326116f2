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

How model weights become the coder's integer probabilities depends on the format version
(``tables``):

- ``"float"`` (versions 2–4): the weights go to ``constriction.stream.model.Categorical(p,
  perfect=False)`` as float64, and constriction's own leaky quantization makes the table (a
  decoder elsewhere must copy its float summation order: web/src/entropy.js documents it).
- ``"integer"`` (version 6 on): this module makes the table itself, in integer arithmetic only
  (:func:`integer_table`): weights w_i ≥ 0 (integers; the geometric table's are
  ⌊θ^|r| · 2^24⌋, exact), n symbols, S = Σ w_i (all ones when S = 0), F = 2^24 − n,
  q_i = 1 + ⌊w_i · F / S⌋, and the 2^24 − Σ q_i left over is added to the first symbol of largest
  weight. Every q_i ≥ 1 and Σ q_i = 2^24. The coder is then given the weights q_i − 1, whose
  sum is 2^24 − n exactly: constriction's scale factor is exactly 1, so the probabilities it codes
  with are exactly q (integers below 2^53 are exact in float64). Every weight must be below 2^28,
  so that w_i · F and S stay below 2^52 and a decoder in float64 (JavaScript) computes the floor
  exactly: a correctly rounded quotient never falls below the true one's floor, and one product
  check corrects the case where it rounds up to the next integer.

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
    "FLOAT_TABLES",
    "INTEGER_TABLES",
    "TABLES",
    "PRECISION",
    "integer_table",
    "geometric_weights",
    "geometric_k",
    "geometric_theta",
    "geometric_table",
    "adaptive_encode",
    "adaptive_decode",
    "adaptive_code_bits",
]

#: bits of probability precision of the coder (constriction's default range coder preset)
PRECISION = 24
_ONE = 1 << PRECISION
#: how weights become the coder's probabilities (module doc): versions 2–4, and version 6 on
FLOAT_TABLES, INTEGER_TABLES = "float", "integer"
TABLES = (FLOAT_TABLES, INTEGER_TABLES)
#: integer weights must stay below this (w · (2^24 − n) < 2^52: exact in float64)
_MAX_WEIGHT = 1 << 28

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


def geometric_weights(k: int, r_min: int, r_max: int) -> np.ndarray:
    """Integer weights ⌊θ^|r| · 2^24⌋ of r = r_min..r_max (int64): :func:`geometric_table` scaled by a
    power of two and floored, both exact."""
    return np.floor(geometric_table(k, r_min, r_max) * float(_ONE)).astype(np.int64)


def integer_table(weights) -> np.ndarray:
    """The integer probabilities q (int64, each ≥ 1, Σ q = 2^24) of nonnegative integer ``weights``
    (the rule of the module doc). ``ValueError`` for fewer than 2 or 2^24 or more symbols, or a weight
    outside [0, 2^28)."""
    w = np.asarray(weights)
    if w.ndim != 1 or not np.issubdtype(w.dtype, np.integer):
        raise ValueError(f"weights must be a 1-D integer array, got {w.dtype} {list(w.shape)}")
    w = w.astype(np.int64)
    n = w.size
    if not 2 <= n < _ONE:
        raise ValueError(f"a categorical table needs 2 to {_ONE - 1} symbols, not {n}")
    if int(w.min()) < 0 or int(w.max()) >= _MAX_WEIGHT:
        raise ValueError(f"weights must lie in [0, 2^28), got [{int(w.min())}, {int(w.max())}]")
    total = int(w.sum())
    if total == 0:
        w, total = np.ones(n, dtype=np.int64), n
    q = 1 + (w * (_ONE - n)) // total
    q[int(np.argmax(w))] += _ONE - int(q.sum())
    return q


class _Coder:
    """Models shared by the writer and the reader: fixed categorical tables, cached by a key."""

    def __init__(self, tables: str = FLOAT_TABLES):
        if tables not in TABLES:
            raise ValueError(f"tables must be one of {TABLES}, got {tables!r}")
        self.tables = tables
        self._models: dict = {}

    def model(self, weights: np.ndarray):
        """A categorical model over [0, len(weights)) (weights need not sum to one; integers for
        integer tables)."""
        if self.tables == INTEGER_TABLES:
            weights = integer_table(weights) - 1  # exact in float64: the coder's scale factor is 1
        return _constriction().stream.model.Categorical(np.ascontiguousarray(weights, dtype=np.float64), perfect=False)

    def cached_model(self, key, make_weights: Callable[[], np.ndarray]):
        """The model for ``key``, built from ``make_weights()`` the first time only."""
        if key not in self._models:
            self._models[key] = self.model(make_weights())
        return self._models[key]

    def geometric_model(self, k: int, r_min: int, r_max: int):
        """The two-sided geometric model of parameter k over r_min..r_max (cached)."""
        make = geometric_weights if self.tables == INTEGER_TABLES else geometric_table
        return self.cached_model(("geometric", k, r_min, r_max), lambda: make(k, r_min, r_max))


class RangeWriter(_Coder):
    """A range encoder; :meth:`encode` appends i.i.d. symbols of one model."""

    def __init__(self, tables: str = FLOAT_TABLES):
        super().__init__(tables)
        self._enc = _constriction().stream.queue.RangeEncoder()

    def encode(self, symbols: np.ndarray, model) -> None:
        if symbols.size:
            self._enc.encode(np.ascontiguousarray(symbols, dtype=np.int32), model)

    def words(self) -> np.ndarray:
        """The compressed stream, uint32 words."""
        return np.asarray(self._enc.get_compressed(), dtype=np.uint32)


class RangeReader(_Coder):
    """The matching decoder over uint32 ``words``."""

    def __init__(self, words: np.ndarray, tables: str = FLOAT_TABLES):
        super().__init__(tables)
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
        writer.encode(chunk, writer.model(counts))
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
        chunk = reader.decode(hi - lo, reader.model(counts))
        out[lo:hi] = chunk
        counts += np.bincount(chunk, minlength=counts.size)
    return out
