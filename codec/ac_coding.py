"""Range coding of the RAHT AC codes (format version 2), one stream per channel.

Symbols. For channel c and AC slot s (rows 1..N−1 of the RAHT coefficients, slot order), the
stored value is r = code − centre[c, j(s)], where j(s) is the quantizer block of the slot
(``quant.split_length(N − 1, B)``) and centre = clip(round(zero_point), 0, 2^b − 1): the code of
a zero coefficient. r lies in the channel's range [r_min, r_max] (stored).

Contexts, known to encoder and decoder alike: the block j and the RAHT weight class
w(s) = min(⌊log2(w_L + w_R)⌋ − 1, W − 1), W = 12, of the pair that produced the coefficient
(``RahtPlan.ac_weight``; coarse coefficients summarise many voxels and are large, leaf ones are
small). Symbols are coded context by context, in the order of the stable sort of w·B + j.

Models, chosen per channel (the smaller stream is kept, so the choice is measured, not guessed):

- ``geometric`` (1): a two-sided geometric (quantized Laplace) per (j, w) whose mean absolute value
  is 2^(k/8) with k = k_block[j] + k_class[w] (``codec.entropy``): B + W integers per channel,
  fitted by alternating maximum likelihood (log m_{jw} = a_j + g_w).
- ``adaptive`` (2): an adaptive categorical per weight class over [r_min, r_max] (offered when
  that alphabet has at most ``ADAPTIVE_MAX_ALPHABET`` symbols); nothing stored beyond the range.

Versions 2–4 offer both (``FLOAT_TABLES``); version 6 on (``INTEGER_TABLES``, integer probability
tables: ``codec.entropy``) codes every channel with the geometric model: the adaptive one won no
channel of the SH-0 captures and 2 of fern's 55 (68 bytes; ``scripts/bench_entropy_models.py``,
docs/format.md).

A channel whose r is constant (r_min = r_max) has an empty stream.

Stored arrays (all of them in ``ac.npz``): ``model`` uint8 [C], ``r_range`` int32 [C, 2],
``geometric_k`` int16 [C, B + W] (k_block then k_class; zeros for adaptive channels),
``words`` int64 [C] (32-bit words of each channel's stream), ``stream`` uint32 [Σ words], and
``crc32`` uint32 [1], the CRC-32 of the decoded codes as a little-endian [N − 1, C] array (a
last check that the decoder rebuilt the same models).
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

from quant.core import code_range, zero_codes
from quant.granularity import split_length

from .entropy import (FLOAT_TABLES, INTEGER_TABLES, K_MAX, K_MIN, RangeReader, RangeWriter, adaptive_code_bits,
                      adaptive_decode, adaptive_encode, geometric_k, geometric_table, geometric_weights,
                      integer_table)

__all__ = [
    "N_WEIGHT_CLASSES",
    "ADAPTIVE_MAX_ALPHABET",
    "MODEL_NAMES",
    "AC_MODELS",
    "AcStreams",
    "weight_classes",
    "code_centres",
    "encode_ac",
    "decode_ac",
    "codes_crc32",
    "symbol_bits",
]

N_WEIGHT_CLASSES = 12
ADAPTIVE_MAX_ALPHABET = 4096
MODEL_GEOMETRIC, MODEL_ADAPTIVE = 1, 2
MODEL_NAMES = {MODEL_GEOMETRIC: "geometric", MODEL_ADAPTIVE: "adaptive"}
#: the models a stream may use, by the entropy tables of its format version
AC_MODELS = {FLOAT_TABLES: ("geometric", "adaptive"), INTEGER_TABLES: ("geometric",)}
_FIT_ROUNDS = 6


def weight_classes(ac_weight: np.ndarray, n_classes: int = N_WEIGHT_CLASSES) -> np.ndarray:
    """[L] int64 class min(⌊log2 w⌋ − 1, W − 1) of pair weights w ≥ 2 (exact: frexp)."""
    w = np.asarray(ac_weight, dtype=np.int64)
    if w.size and int(w.min()) < 2:
        raise ValueError("RAHT pair weights must be >= 2")
    exponent = np.frexp(w.astype(np.float64))[1].astype(np.int64) - 1  # ⌊log2 w⌋
    return np.minimum(exponent - 1, n_classes - 1)


def code_centres(zero_point: np.ndarray, bits: int) -> np.ndarray:
    """[C, B] int64 code of a zero coefficient (``quant.core.zero_codes``): the centre of the models."""
    return zero_codes(zero_point, bits)


def codes_crc32(codes: np.ndarray) -> int:
    return zlib.crc32(np.ascontiguousarray(codes).astype(codes.dtype.newbyteorder("<"), copy=False).tobytes())


@dataclass
class AcStreams:
    """The stored arrays of the AC code streams (see the module docstring)."""

    model: np.ndarray
    r_range: np.ndarray
    geometric_k: np.ndarray
    words: np.ndarray
    stream: np.ndarray
    crc32: np.ndarray

    NAMES = ("model", "r_range", "geometric_k", "words", "stream", "crc32")

    def arrays(self) -> list[tuple[str, np.ndarray]]:
        return [(name, getattr(self, name)) for name in self.NAMES]

    def channel_bytes(self) -> np.ndarray:
        """[C] bytes of each channel's range-coded stream."""
        return 4 * self.words


class _Contexts:
    """Slot contexts of one model: block ids, weight classes, the coding order and its runs."""

    def __init__(self, ac_weight: np.ndarray, n_block: int):
        n = int(ac_weight.shape[0])
        self.n_block, self.n_classes = n_block, N_WEIGHT_CLASSES
        self.block = np.repeat(np.arange(n_block, dtype=np.int64), split_length(n, n_block)) if n else np.zeros(0, np.int64)
        self.cls = weight_classes(ac_weight)
        ctx = self.cls * n_block + self.block
        self.ctx = ctx
        self.order = np.argsort(ctx, kind="stable")
        self.sorted_ctx = ctx[self.order]
        n_ctx = n_block * self.n_classes
        self.bounds = np.searchsorted(self.sorted_ctx, np.arange(n_ctx + 1))  # run of context q: bounds[q]:bounds[q+1]

    def runs(self):
        """(context q = w·B + j, start, stop) of every non-empty context run in coding order."""
        b = self.bounds
        for q in np.flatnonzero(b[1:] > b[:-1]).tolist():
            yield q, int(b[q]), int(b[q + 1])

    def class_runs(self):
        """(class w, start, stop) of every non-empty weight class (its blocks are contiguous)."""
        b = self.bounds
        for w in range(self.n_classes):
            lo, hi = int(b[w * self.n_block]), int(b[(w + 1) * self.n_block])
            if hi > lo:
                yield w, lo, hi


def _fit_geometric(abs_r: np.ndarray, ctx: _Contexts) -> np.ndarray:
    """k_block [B] and k_class [W] (int64) of the separable fit log m_{jw} = a_j + g_w."""
    n_ctx = ctx.n_block * ctx.n_classes
    s = np.bincount(ctx.ctx, weights=abs_r, minlength=n_ctx).reshape(ctx.n_classes, ctx.n_block)
    n = np.bincount(ctx.ctx, minlength=n_ctx).reshape(ctx.n_classes, ctx.n_block).astype(np.float64)
    floor = 2.0 ** (K_MIN / 8)
    a = np.log(np.maximum(s.sum(0), floor) / np.maximum(n.sum(0), 1.0))
    g = np.zeros(ctx.n_classes)
    for _ in range(_FIT_ROUNDS):
        g = np.log(np.maximum((s * np.exp(-a)[None, :]).sum(1), floor) / np.maximum(n.sum(1), 1.0))
        a = np.log(np.maximum((s * np.exp(-g)[:, None]).sum(0), floor) / np.maximum(n.sum(0), 1.0))
    k_block = geometric_k(np.exp(a))
    k_class = np.rint(8.0 * g / np.log(2.0)).astype(np.int64)
    return np.concatenate([k_block, np.clip(k_class, K_MIN, K_MAX)])


def _context_k(params: np.ndarray, n_block: int) -> np.ndarray:
    """[W·B] geometric parameter k of every context q = w·B + j."""
    k = params[n_block:, None].astype(np.int64) + params[None, :n_block].astype(np.int64)
    return np.clip(k, K_MIN, K_MAX).reshape(-1)


def _encode_geometric(sym: np.ndarray, r_min: int, r_max: int, params: np.ndarray, ctx: _Contexts, tables: str) -> np.ndarray:
    writer = RangeWriter(tables)
    ks = _context_k(params, ctx.n_block).tolist()
    for q, lo, hi in ctx.runs():
        writer.encode(sym[lo:hi], writer.geometric_model(ks[q], r_min, r_max))
    return writer.words()


def _encode_adaptive(sym: np.ndarray, alphabet: int, ctx: _Contexts) -> np.ndarray:
    writer = RangeWriter(FLOAT_TABLES)
    for _, lo, hi in ctx.class_runs():
        adaptive_encode(writer, sym[lo:hi], np.ones(alphabet, dtype=np.int64))
    return writer.words()


def _estimated_bits(sym: np.ndarray, alphabet: int, r_min: int, r_max: int, params: np.ndarray, ctx: _Contexts) -> tuple[float, float]:
    """(geometric, adaptive) code lengths in bits from the context histograms: the geometric
    model's cross-entropy, and the adaptive model's ideal sequential cost
    log2((n + A − 1)! / ((A − 1)! Π n_s!)) per weight class (add-one counts)."""
    n_ctx = ctx.n_block * ctx.n_classes
    hist = np.bincount(ctx.sorted_ctx * alphabet + sym, minlength=n_ctx * alphabet).reshape(n_ctx, alphabet)
    ks = _context_k(params, ctx.n_block)
    geometric = 0.0
    used = np.flatnonzero(hist.sum(1))
    for k in np.unique(ks[used]).tolist():
        p = geometric_table(k, r_min, r_max)
        bits = -np.log2(np.maximum(p / p.sum(), 2.0 ** -24))
        geometric += float(hist[used[ks[used] == k]].sum(0) @ bits)
    adaptive = adaptive_code_bits(hist.reshape(ctx.n_classes, ctx.n_block, alphabet).sum(1))
    return geometric, adaptive


def encode_ac(codes: np.ndarray, centres: np.ndarray, ac_weight: np.ndarray, n_block: int,
              models: tuple[str, ...] | None = None, tables: str = INTEGER_TABLES) -> AcStreams:
    """Range-code ``codes`` [L, C] (L = N − 1 AC slots) with ``centres`` [C, B] and the plan's
    ``ac_weight`` [L]. Per channel, the model among ``models`` (default: all those of ``tables``,
    ``AC_MODELS``) with the smaller estimated code length (:func:`_estimated_bits`) is coded;
    alphabets above ``ADAPTIVE_MAX_ALPHABET`` always use the geometric one."""
    allowed = AC_MODELS[tables]
    models = allowed if models is None else models
    unknown = set(models) - set(allowed)
    if not models or unknown:
        raise ValueError(f"models must be a non-empty subset of {list(allowed)} with {tables} tables, got {models!r}")
    n, c = codes.shape
    ctx = _Contexts(np.asarray(ac_weight), n_block)
    model = np.full(c, MODEL_GEOMETRIC, dtype=np.uint8)
    r_range = np.zeros((c, 2), dtype=np.int32)
    params = np.zeros((c, n_block + N_WEIGHT_CLASSES), dtype=np.int16)
    streams = []
    for ch in range(c):
        if n == 0:
            streams.append(np.zeros(0, dtype=np.uint32))
            continue
        r = codes[:, ch].astype(np.int64) - centres[ch][ctx.block]
        r_min, r_max = int(r.min()), int(r.max())
        r_range[ch] = (r_min, r_max)
        if r_min == r_max:  # one symbol: nothing to code
            streams.append(np.zeros(0, dtype=np.uint32))
            continue
        sym = (r - r_min)[ctx.order]
        p = _fit_geometric(np.abs(r).astype(np.float64), ctx)
        alphabet = r_max - r_min + 1
        if alphabet <= ADAPTIVE_MAX_ALPHABET and "adaptive" in models:
            geometric_bits, adaptive_bits = _estimated_bits(sym, alphabet, r_min, r_max, p, ctx)
            if adaptive_bits < geometric_bits or "geometric" not in models:
                model[ch] = MODEL_ADAPTIVE
                streams.append(_encode_adaptive(sym, alphabet, ctx))
                continue
        params[ch] = p
        streams.append(_encode_geometric(sym, r_min, r_max, p, ctx, tables))
    words = np.array([s.size for s in streams], dtype=np.int64)
    stream = np.concatenate(streams) if streams else np.zeros(0, dtype=np.uint32)
    crc = np.array([codes_crc32(codes)], dtype=np.uint32)
    return AcStreams(model, r_range, params, words, stream.astype(np.uint32), crc)


def decode_ac(streams: AcStreams, centres: np.ndarray, ac_weight: np.ndarray, n_block: int, bits: int,
              tables: str = INTEGER_TABLES) -> np.ndarray:
    """Inverse of :func:`encode_ac` with the same ``tables``: codes [L, C] (uint8 for b ≤ 8, uint16 above).

    Raises ``ValueError`` when the arrays are inconsistent, a stream does not decode, a code falls
    outside [0, 2^b − 1] or the CRC-32 of the result differs from the stored one."""
    n = int(np.asarray(ac_weight).shape[0])
    c = centres.shape[0]
    qmax = code_range(bits)[1]
    _check_streams(streams, c, n_block)
    dtype = np.uint8 if bits <= 8 else np.uint16
    codes = np.empty((n, c), dtype=dtype)
    ctx = _Contexts(np.asarray(ac_weight), n_block)
    offsets = np.concatenate([[0], np.cumsum(streams.words)])
    for ch in range(c):
        if n == 0:
            continue
        r_min, r_max = (int(v) for v in streams.r_range[ch])
        if r_min > r_max or r_min < -qmax or r_max > qmax:
            raise ValueError(f"channel {ch}: symbol range [{r_min}, {r_max}] is impossible for {bits}-bit codes")
        reader = RangeReader(streams.stream[offsets[ch]:offsets[ch + 1]], tables)
        sym = np.empty(n, dtype=np.int64)
        kind = int(streams.model[ch])
        alphabet = r_max - r_min + 1
        if alphabet == 1:
            sym[:] = 0
        elif kind == MODEL_GEOMETRIC:
            ks = _context_k(streams.geometric_k[ch], n_block).tolist()
            for q, lo, hi in ctx.runs():
                sym[lo:hi] = reader.decode(hi - lo, reader.geometric_model(ks[q], r_min, r_max))
        elif kind == MODEL_ADAPTIVE and "adaptive" in AC_MODELS[tables]:
            if alphabet > ADAPTIVE_MAX_ALPHABET:
                raise ValueError(f"channel {ch}: adaptive model over {alphabet} symbols (at most {ADAPTIVE_MAX_ALPHABET})")
            for _, lo, hi in ctx.class_runs():
                sym[lo:hi] = adaptive_decode(reader, hi - lo, np.ones(alphabet, dtype=np.int64))
        else:
            raise ValueError(f"channel {ch}: unknown model id {kind} (with {tables} tables: "
                             f"{', '.join(AC_MODELS[tables])})")
        if sym.size and int(sym.max()) >= alphabet:
            raise ValueError(f"channel {ch}: decoded symbol outside the stored range")
        r = np.empty(n, dtype=np.int64)
        r[ctx.order] = sym + r_min
        x = r + centres[ch][ctx.block]
        if x.size and (int(x.min()) < 0 or int(x.max()) > qmax):
            raise ValueError(f"channel {ch}: decoded codes leave [0, {qmax}]")
        codes[:, ch] = x
    if codes_crc32(codes) != int(streams.crc32[0]):
        raise ValueError("decoded AC codes fail their CRC-32 (decoder models differ from the encoder's)")
    return codes


def symbol_bits(streams: AcStreams, codes: np.ndarray, centres: np.ndarray, ac_weight: np.ndarray,
                n_block: int) -> np.ndarray:
    """[L, C] float64 ideal code length in bits of every AC symbol under the stored geometric models with
    integer tables (−log2 q/2^24 of its context's table; a constant channel costs 0): what any subset of the
    slots costs, up to the range coder's few bytes per stream. ``ValueError`` for a channel that is not
    geometric-coded (the adaptive model's cost depends on the order)."""
    n, c = codes.shape
    ctx = _Contexts(np.asarray(ac_weight), n_block)
    out = np.zeros((n, c), dtype=np.float64)
    for ch in range(c):
        r_min, r_max = (int(v) for v in streams.r_range[ch])
        if r_min == r_max:
            continue
        if int(streams.model[ch]) != MODEL_GEOMETRIC:
            raise ValueError(f"channel {ch} is not geometric-coded; symbol lengths need the geometric model")
        r = codes[:, ch].astype(np.int64) - centres[ch][ctx.block]
        ks = _context_k(streams.geometric_k[ch], n_block)[ctx.ctx]
        for k in np.unique(ks).tolist():
            at = ks == k
            q = integer_table(geometric_weights(k, r_min, r_max))
            out[at, ch] = -np.log2(q[r[at] - r_min] / float(1 << 24))
    return out


def _check_streams(s: AcStreams, c: int, n_block: int) -> None:
    shapes = {"model": (c,), "r_range": (c, 2), "geometric_k": (c, n_block + N_WEIGHT_CLASSES), "words": (c,), "crc32": (1,)}
    dtypes = {"model": np.uint8, "r_range": np.int32, "geometric_k": np.int16, "words": np.int64, "crc32": np.uint32}
    for name, shape in shapes.items():
        arr = getattr(s, name)
        if arr.shape != shape or arr.dtype != dtypes[name]:
            raise ValueError(f"{name} must be {np.dtype(dtypes[name]).name} {list(shape)}, got {arr.dtype} {list(arr.shape)}")
    if s.stream.dtype != np.uint32 or s.stream.ndim != 1:
        raise ValueError(f"stream must be a 1-D uint32 array, got {s.stream.dtype} {list(s.stream.shape)}")
    if (s.words < 0).any() or int(s.words.sum()) != s.stream.size:
        raise ValueError(f"per-channel word counts (sum {int(s.words.sum())}) disagree with the stream ({s.stream.size} words)")
