/**
 * @file Range decoder and entropy models, bit-exact with `codec/entropy.py`.
 *
 * The Python encoder uses `constriction` 0.5.0: `constriction.stream.queue.RangeEncoder`
 * (32-bit words, 64-bit state, 24-bit probabilities) with models
 * `constriction.stream.model.Categorical(float64 probabilities, perfect=False)`. Format versions 2–4
 * let constriction quantize float weights (below); from version 6 the codec hands it integer tables
 * that it reproduces exactly ("Integer tables"). This module decodes both in plain JavaScript (no
 * BigInt, no dependencies).
 *
 * ## Quantization of `Categorical(p, perfect=False)` (constriction's "fast" leaky quantizer)
 *
 * For n = p.length float64 weights (2 ≤ n < 2^24 − 1, all ≥ 0):
 *
 * 1. `S` = p[0] + p[1] + … + p[n−1], summed sequentially from the left in float64
 *    (NOT numpy's pairwise sum); `S` must be a positive normal number.
 * 2. `scale` = (2^24 − n) / S (one float64 division; 2^24 − n is the "free weight" left after
 *    every symbol got its guaranteed weight 1).
 * 3. `cdf[i]` = trunc(C_i · scale) + i for i = 0 … n−1, where C_i = ((0 + p[0]) + p[1]) + … +
 *    p[i−1] is the sequential float64 prefix sum (C_0 = 0) and the product is one float64
 *    multiplication; `cdf[n]` = 2^24.
 * 4. The integer probability of symbol i is cdf[i+1] − cdf[i] ≥ 1 (the +i slack makes the
 *    model "leaky": even p[i] = 0 gets probability 2^−24). The rounding error of the whole
 *    table ends up in the last symbol (cdf[n] is fixed at 2^24, not computed).
 *
 * ## The queue range decoder (`RangeDecoder<u32, u64>`, PRECISION = 24)
 *
 * State: `lower` and `range` (u64), and the `point` read from the stream; only
 * d = point − lower (mod 2^64) matters, and 0 ≤ d < range always holds.
 *
 * - Init: lower = 0, range = 2^64 − 1; point = (w0 << 32) | w1 from the first two words
 *   (one word w0 only: point = w0 << 32; no words: point = 0).
 * - Decode one symbol: scale = range >> 24; quantile = floor(d / scale); quantile ≥ 2^24 is
 *   an error ("invalid data"; only possible for a stream starting with two all-ones words).
 *   The symbol s is the last index with cdf[s] ≤ quantile; then lower += scale · cdf[s]
 *   (so d −= scale · cdf[s]) and range = scale · (cdf[s+1] − cdf[s]).
 * - Renormalise (at most once per symbol): if range < 2^32 then range <<= 32,
 *   lower <<= 32, point = (point << 32) | next word — so d = (d << 32) | next word.
 *   Past the end of the word array the next word is 0 (constriction never fails there:
 *   decoding more symbols than were encoded returns deterministic filler symbols).
 *
 * Implementation: range and d are kept as pairs (H, L) of exactly representable float64
 * integers with x = H · 2^24 + L, L < 2^24, H < 2^40. Then scale = H of range; the 64-by-40-bit
 * division is estimated in float64 (off by at most one) and corrected with an exact remainder
 * built from products below 2^53; the products scale · (…) are formed by splitting scale into
 * 16 + 24 bits. Every float64 operation on the path is exact, so the result is bit-exact.
 * Symbol search: binary search of the cdf, narrowed (for decode calls of ≥ 256 symbols) by a
 * per-model table of 2^12 + 1 entries giving the symbol at every 2^12-th quantile; a model stored as a
 * window (CategoricalModel) finds the symbols of its tails, each of probability 1, without a search.
 *
 * Sources: constriction's src/stream/model/categorical.rs (`fast_quantized_cdf`),
 * categorical/contiguous.rs (`from_floating_point_probabilities_fast`, `quantile_function`),
 * src/stream/queue.rs (`RangeDecoder::read_point`, `decode_symbol`) and
 * src/pybindings/stream/model.rs (`Categorical(p, perfect=False)` → the "fast" constructor);
 * the behaviour is checked against the installed constriction 0.5.0 by web/test/ fixtures.
 *
 * Deliberate differences: weights that are negative, NaN or infinite, or so small that 2^24 / sum
 * overflows, are refused here (constriction would build a broken model or fail later).
 *
 * ## Integer tables (format version 6 on; `codec.entropy.integer_table`)
 *
 * From version 6 the codec computes each table itself, in integer arithmetic, and hands constriction
 * weights that it reproduces exactly; this decoder builds the same table without any float order:
 * weights w_i (integers in [0, 2^28)), n symbols, S = Σ w_i (all ones when S = 0), F = 2^24 − n,
 * q_i = 1 + ⌊w_i · F / S⌋, and 2^24 − Σ q_i added to the first symbol of largest weight. w_i · F and
 * S stay below 2^52, so a float64 quotient is at most one too large, and one exact product corrects
 * it. Geometric weights are ⌊θ^|r| · 2^24⌋ of the float table below (exact).
 *
 * ## Models of `codec/entropy.py`
 *
 * - geometric: θ(k) = m / (1 + √(1 + m²)), m = 2^(k/8) built by ldexp from eight exact
 *   constants; table θ^|r| for r = rMin … rMax from sequential products 1, θ, θ·θ, …
 * - adaptive: counts (≥ 1) → model(counts as float64) per chunk; chunk t holds
 *   firstChunk · 2^t symbols; after each chunk counts[s] += 1 for every decoded symbol s.
 */

import { wasmKernels, wasmRangeDecode } from "./kernels.js";

/** Bits of probability precision (constriction's default preset). */
export const PRECISION = 24;
/** How weights become probabilities (as `codec.entropy`): versions 2–4, and version 6 on. */
export const FLOAT_TABLES = "float";
export const INTEGER_TABLES = "integer";
const MAX_WEIGHT = 268435456; // 2^28
/** Range of the geometric parameter k (as `codec.entropy.K_MIN`, `K_MAX`). */
export const K_MIN = -160;
export const K_MAX = 160;

const TWO24 = 16777216; // 2^24
const INV_TWO24 = 1 / TWO24; // exact power of two
const TWO32 = 4294967296;
const MIN_NORMAL = 2.2250738585072014e-308;
/** Quantile bits resolved by a model's lookup table (2^12 buckets of 2^12 quantiles). */
const LOOKUP_BITS = 12;
const LOOKUP_SHIFT = PRECISION - LOOKUP_BITS;
/** Decode calls of at least this many symbols build the lookup table of their model (when it pays). */
const LOOKUP_MIN_COUNT = 256;
/** Decode calls of at least this many symbols run the WebAssembly loop (kernels.js), when available. */
const WASM_MIN_COUNT = 16;

/** 2^(i/8), i = 0..7, the same correctly rounded float64 values as codec/entropy.py. */
const EIGHTH_OCTAVES = [
  1.0, 1.0905077326652577, 1.189207115002721, 1.2968395546510096,
  1.4142135623730951, 1.5422108254079407, 1.681792830507429, 1.8340080864093424,
];

/**
 * Cumulative table (n + 1 entries, cdf[0] = 0, cdf[n] = 2^24) of constriction's leaky "fast"
 * quantization of float weights (see the module comment).
 * @param {ArrayLike<number>} probabilities nonnegative finite weights (need not sum to one)
 * @returns {Uint32Array}
 */
export function quantizedCdf(probabilities) {
  const n = probabilities.length;
  if (!(n >= 2) || n >= TWO24 - 1) {
    throw new RangeError(`a categorical model needs 2 to ${TWO24 - 2} symbols, not ${n}`);
  }
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const x = +probabilities[i];
    if (!(x >= 0 && x < Infinity)) throw new RangeError(`probability ${i} is ${x}: not finite and nonnegative`);
    sum += x;
  }
  if (!(sum >= MIN_NORMAL && sum < Infinity)) {
    throw new RangeError(`probabilities sum to ${sum}: not a positive normal number`);
  }
  const scale = (TWO24 - n) / sum;
  if (!(scale < Infinity)) throw new RangeError("probabilities too small to normalise");
  const cdf = new Uint32Array(n + 1);
  let cumulative = 0;
  for (let i = 0; i < n; i++) {
    cdf[i] = Math.floor(cumulative * scale) + i;
    cumulative += +probabilities[i];
  }
  cdf[n] = TWO24;
  return cdf;
}

/**
 * Integer probabilities (each ≥ 1, summing to 2^24) that constriction's
 * `Categorical(probabilities, perfect=False)` assigns to float64 weights.
 * @param {ArrayLike<number>} probabilities e.g. a Float64Array
 * @returns {Uint32Array}
 */
export function quantizeProbabilities(probabilities) {
  const cdf = quantizedCdf(probabilities);
  const out = new Uint32Array(cdf.length - 1);
  for (let i = 0; i < out.length; i++) out[i] = cdf[i + 1] - cdf[i];
  return out;
}

/**
 * Cumulative table (n + 1 entries) of the integer probabilities `codec.entropy.integer_table` makes of
 * integer weights (see the module comment).
 * @param {ArrayLike<number>} weights integers in [0, 2^28)
 * @returns {Uint32Array}
 */
export function integerCdf(weights) {
  const n = weights.length;
  if (!(n >= 2) || n >= TWO24) throw new RangeError(`a categorical table needs 2 to ${TWO24 - 1} symbols, not ${n}`);
  let sum = 0;
  let argmax = 0;
  for (let i = 0; i < n; i++) {
    const w = +weights[i];
    if (!(Number.isInteger(w) && w >= 0 && w < MAX_WEIGHT)) throw new RangeError(`weight ${i} is ${w}: not an integer in [0, 2^28)`);
    sum += w;
    if (w > weights[argmax]) argmax = i;
  }
  const uniform = sum === 0;
  if (uniform) sum = n;
  const free = TWO24 - n;
  const q = new Float64Array(n);
  let total = 0;
  for (let i = 0; i < n; i++) {
    const a = (uniform ? 1 : +weights[i]) * free;
    let f = Math.floor(a / sum);
    if (f * sum > a) f -= 1; // the rounded quotient reached the next integer
    q[i] = 1 + f;
    total += q[i];
  }
  q[argmax] += TWO24 - total;
  return cdfOf(q);
}

/**
 * Left-cumulative table of integer probabilities: n + 1 entries, cdf[0] = 0, cdf[n] = sum.
 * @param {ArrayLike<number>} intProbs
 * @returns {Uint32Array}
 */
export function cdfOf(intProbs) {
  const n = intProbs.length;
  const cdf = new Uint32Array(n + 1);
  let acc = 0;
  for (let i = 0; i < n; i++) {
    acc += intProbs[i];
    cdf[i + 1] = acc;
  }
  if (acc >= TWO32) throw new RangeError("probabilities overflow 32 bits");
  return cdf;
}

/**
 * A categorical model over [0, size): its 24-bit cdf and (lazily) a quantile lookup table.
 *
 * The cdf may be stored as a window: `cdf` holds the entries base … base + cdf.length − 1 of the whole
 * table, whose symbols outside the window all have probability 1 (2^−24): whole[i] = i for i ≤ base, and
 * whole[i] = top + (i − end) for i ≥ end, where end = base + cdf.length − 1 and top = cdf[cdf.length − 1].
 * A geometric model of a wide alphabet is mostly such tails, so its window is a small part of the table.
 * A whole table is the window with base 0 (and top = 2^24).
 */
export class CategoricalModel {
  /**
   * @param {Uint32Array} cdf the window: whole[base … base + cdf.length − 1] (all of it: n + 1 entries,
   *   cdf[0] = 0, strictly increasing, cdf[n] = 2^24)
   * @param {boolean} [check] check the table (false only for a table this module built)
   * @param {number} [base] the first symbol of the window
   * @param {number} [size] the number of symbols (default: the window's, base + cdf.length − 1)
   */
  constructor(cdf, check = true, base = 0, size = base + cdf.length - 1) {
    const end = base + cdf.length - 1;
    const top = cdf[cdf.length - 1];
    if (cdf.length < 2 || size < 2 || !Number.isInteger(base) || base < 0 || cdf[0] !== base || end > size
        || top + (size - end) !== TWO24) {
      throw new RangeError("cdf must start at 0, end at 2^24 and have at least 2 symbols");
    }
    for (let i = 1; check && i < cdf.length; i++) {
      if (cdf[i] <= cdf[i - 1]) throw new RangeError(`symbol ${base + i - 1} has zero probability`);
    }
    this.cdf = cdf;
    this.base = base;
    this.size = size;
    /** The window's last symbol, relative to base, and the cumulative probability at its end. */
    this.windowLast = cdf.length - 2;
    this.top = top;
    /**
     * @type {Uint32Array|null} table[j] = the window's symbol (relative to base, clamped to the window) of
     * quantile j << LOOKUP_SHIFT; table[2^12] = windowLast
     */
    this.table = null;
  }

  /** The model constriction builds from float weights (`Categorical(p, perfect=False)`). */
  static fromFloats(probabilities) {
    return new CategoricalModel(quantizedCdf(probabilities));
  }

  /** whole[i]: the cumulative probability of the symbols below i (0 ≤ i ≤ size). */
  cdfAt(i) {
    if (i <= this.base) return i;
    const rel = i - this.base;
    return rel <= this.windowLast + 1 ? this.cdf[rel] : this.top + (rel - this.windowLast - 1);
  }

  /** Integer probabilities (sum 2^24). */
  probabilities() {
    const p = new Uint32Array(this.size);
    for (let i = 0; i < this.size; i++) p[i] = this.cdfAt(i + 1) - this.cdfAt(i);
    return p;
  }

  /** Symbol s with whole[s] ≤ quantile < whole[s + 1] (quantile in [0, 2^24)). */
  symbolOf(quantile) {
    if (quantile < this.base) return quantile;
    if (quantile >= this.top) return this.base + this.windowLast + 1 + (quantile - this.top);
    const cdf = this.cdf;
    let lo = 0;
    let hi = this.windowLast;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (cdf[mid] <= quantile) lo = mid;
      else hi = mid - 1;
    }
    return this.base + lo;
  }

  buildTable() {
    if (this.table) return this.table;
    const buckets = 1 << LOOKUP_BITS;
    const table = new Uint32Array(buckets + 1);
    const cdf = this.cdf;
    const last = this.windowLast;
    let s = 0;
    for (let j = 0; j < buckets; j++) {
      const v = j << LOOKUP_SHIFT;
      while (s < last && cdf[s + 1] <= v) s++;
      table[j] = s;
    }
    table[buckets] = last;
    this.table = table;
    return table;
  }
}

/** θ(k) = m / (1 + √(1 + m²)), m = 2^(k/8): bit-exact with `codec.entropy.geometric_theta`. */
export function geometricTheta(k) {
  if (!Number.isInteger(k)) throw new TypeError(`k must be an integer, not ${k}`);
  const e = Math.floor(k / 8);
  if (e < -1000 || e > 1000) throw new RangeError(`k = ${k} is out of range`);
  let m = EIGHTH_OCTAVES[k - 8 * e]; // k mod 8 in 0..7 (Python semantics)
  // ldexp: exact scaling by a power of two (no subnormals in this range of e)
  let p = 1;
  for (let i = 0; i < Math.abs(e); i++) p *= 2;
  m = e >= 0 ? m * p : m / p;
  return m / (1 + Math.sqrt(1 + m * m));
}

/**
 * Unnormalised probabilities θ^|r| of r = rMin … rMax (Float64Array of rMax − rMin + 1):
 * bit-exact with `codec.entropy.geometric_table` (powers by sequential multiplication).
 */
export function geometricTable(k, rMin, rMax) {
  if (!Number.isInteger(rMin) || !Number.isInteger(rMax) || rMax < rMin) {
    throw new RangeError(`bad symbol range [${rMin}, ${rMax}]`);
  }
  const theta = geometricTheta(k);
  const reach = Math.max(Math.abs(rMin), Math.abs(rMax));
  const powers = new Float64Array(reach + 1);
  powers[0] = 1;
  for (let i = 1; i <= reach; i++) powers[i] = powers[i - 1] * theta;
  const out = new Float64Array(rMax - rMin + 1);
  for (let r = rMin; r <= rMax; r++) out[r - rMin] = powers[Math.abs(r)];
  return out;
}

/** Integer weights ⌊θ^|r| · 2^24⌋ of r = rMin … rMax: bit-exact with `codec.entropy.geometric_weights`. */
export function geometricWeights(k, rMin, rMax) {
  const table = geometricTable(k, rMin, rMax);
  for (let i = 0; i < table.length; i++) table[i] = Math.floor(table[i] * TWO24);
  return table;
}

/**
 * The window of `integerCdf(geometricWeights(k, rMin, rMax))` that holds its non-zero weights, computed without
 * touching the tails: the weights ⌊θ^|r| · 2^24⌋ fall to 0 for good once θ^|r| < 2^−24 (θ < 1, powers by
 * sequential multiplication as there), and a zero weight gets probability 1, so only the core of non-zero
 * weights needs the division; the tails' cdf steps by 1 (CategoricalModel's window). The same integers
 * (tested against the general path).
 * @returns {{base: number, cdf: Uint32Array}} the first symbol of the window and the whole table's entries
 *   base … b + 1 (b: the last symbol of non-zero weight); base 0 and the whole table when every weight is zero
 */
export function geometricWindow(k, rMin, rMax) {
  if (!Number.isInteger(rMin) || !Number.isInteger(rMax) || rMax < rMin) {
    throw new RangeError(`bad symbol range [${rMin}, ${rMax}]`);
  }
  const n = rMax - rMin + 1;
  if (!(n >= 2) || n >= TWO24) throw new RangeError(`a categorical table needs 2 to ${TWO24 - 1} symbols, not ${n}`);
  const theta = geometricTheta(k);
  // weights by magnitude |r| = 0 … reach − 1, up to the first zero (all later ones are zero too), with their
  // sum over the symbols of the range (magnitude m > 0 counts once per side that holds it)
  const mMax = Math.max(Math.abs(rMin), Math.abs(rMax));
  let wMag = scratchWeights;
  let reach = 0, sum = 0;
  for (let power = 1; reach <= mMax; reach++) {
    const w = Math.floor(power * TWO24);
    if (w === 0) break;
    if (reach === wMag.length) {
      const grown = new Float64Array(2 * wMag.length);
      grown.set(wMag);
      wMag = scratchWeights = grown;
    }
    wMag[reach] = w;
    sum += w * sidesIn(reach, rMin, rMax);
    power *= theta;
  }
  // the core: symbols with |r| < reach (non-zero weight), indices [a, b]
  const r0 = Math.max(rMin, -(reach - 1)), r1 = Math.min(rMax, reach - 1);
  if (r0 > r1) return { base: 0, cdf: integerCdf(geometricWeights(k, rMin, rMax)) };  // every weight zero: uniform
  const a = r0 - rMin, b = r1 - rMin;
  // the first maximum, as integerCdf: r = 0 when the core holds it (weight 2^24); else the core's end nearest
  // 0, or for a core of negative r the first of the weights equal to that end's
  let argmax = a;
  if (r0 <= 0 && r1 >= 0) argmax = -rMin;
  else if (r1 < 0) {
    const top = wMag[-r1];
    let r = r1;
    while (r > r0 && wMag[-(r - 1)] === top) r--;
    argmax = r - rMin;
  }
  // probabilities by magnitude: 1 + ⌊w · free / sum⌋ (the quotient corrected as integerCdf does), and their
  // total over the range (the tails: 1 each)
  const free = TWO24 - n;
  const mCore = Math.max(-r0, r1);
  const qMag = wMag;  // in place: each weight is read once, before its probability replaces it
  let total = n - (b - a + 1);
  for (let m = 0; m <= mCore; m++) {
    const x = wMag[m] * free;
    let f = Math.floor(x / sum);
    if (f * sum > x) f -= 1;
    qMag[m] = 1 + f;
    total += qMag[m] * sidesIn(m, r0, r1);
  }
  // the window: whole[a … b + 1], the rounding's remainder 2^24 − total on the first maximum
  const cdf = new Uint32Array(b - a + 2);
  const extra = TWO24 - total, at = argmax - a + 1;
  cdf[0] = a;
  let acc = a;
  let i = 1;
  for (let r = r0; r < 0 && r <= r1; r++, i++) {
    acc += qMag[-r];
    if (i === at) acc += extra;
    cdf[i] = acc;
  }
  for (let r = Math.max(r0, 0); r <= r1; r++, i++) {
    acc += qMag[r];
    if (i === at) acc += extra;
    cdf[i] = acc;
  }
  return { base: a, cdf };
}

/** How many of r = m and r = −m (one when m = 0) lie in [lo, hi]. */
function sidesIn(m, lo, hi) {
  return (m >= lo && m <= hi ? 1 : 0) + (m > 0 && -m >= lo && -m <= hi ? 1 : 0);
}

/** geometricWindow's weights and probabilities by magnitude (grown on demand, reused by every call). */
let scratchWeights = new Float64Array(1024);

/**
 * `integerCdf(geometricWeights(k, rMin, rMax))` (rMax − rMin + 2 entries), by way of geometricWindow.
 * @returns {Uint32Array}
 */
export function geometricCdf(k, rMin, rMax) {
  const { base, cdf: window } = geometricWindow(k, rMin, rMax);
  const model = new CategoricalModel(window, false, base, rMax - rMin + 1);
  const cdf = new Uint32Array(model.size + 1);
  for (let i = 0; i <= model.size; i++) cdf[i] = model.cdfAt(i);
  return cdf;
}

/**
 * Decoder of a `constriction` queue range-coded stream (`RangeEncoder.get_compressed()` words),
 * with the model helpers of `codec.entropy.RangeReader`.
 */
export class RangeReader {
  /**
   * @param {Uint32Array|ArrayLike<number>} words
   * @param {string} [tables] FLOAT_TABLES (format versions 2–4) or INTEGER_TABLES (6 on)
   */
  constructor(words, tables = FLOAT_TABLES) {
    if (tables !== FLOAT_TABLES && tables !== INTEGER_TABLES) throw new RangeError(`unknown probability tables ${tables}`);
    this.tables = tables;
    this.words = words instanceof Uint32Array ? words : Uint32Array.from(words);
    /** @type {Map<any, CategoricalModel>} */
    this.models = new Map();
    const n = this.words.length;
    const w0 = n > 0 ? this.words[0] : 0;
    const w1 = n > 1 ? this.words[1] : 0;
    this.pos = Math.min(n, 2);
    // range = 2^64 − 1 = rH·2^24 + rL; d = point − lower = point
    this.rH = TWO24 * 65536 - 1; // 2^40 − 1
    this.rL = TWO24 - 1;
    this.dH = w0 * 256 + (w1 >>> 24);
    this.dL = w1 & 0xffffff;
  }

  /** A categorical model over [0, len(probabilities)) of float weights, as constriction quantizes them. */
  static model(probabilities) {
    return CategoricalModel.fromFloats(probabilities);
  }

  /** The model of `weights` with this reader's tables (integers for INTEGER_TABLES). */
  model(weights) {
    return this.tables === INTEGER_TABLES ? new CategoricalModel(integerCdf(weights)) : RangeReader.model(weights);
  }

  /** The model for `key` (compared with `Map` semantics), built from `makeWeights()` once. */
  cachedModel(key, makeWeights) {
    let model = this.models.get(key);
    if (model === undefined) {
      model = this.model(makeWeights());
      this.models.set(key, model);
    }
    return model;
  }

  /** The two-sided geometric model of parameter k over rMin … rMax (cached per k). */
  geometricModel(k, rMin, rMax) {
    const key = `geometric ${k} ${rMin} ${rMax}`;
    if (this.tables === FLOAT_TABLES) return this.cachedModel(key, () => geometricTable(k, rMin, rMax));
    let model = this.models.get(key);
    if (model === undefined) {
      const { base, cdf } = geometricWindow(k, rMin, rMax);
      model = new CategoricalModel(cdf, false, base, rMax - rMin + 1);  // valid by construction
      this.models.set(key, model);
    }
    return model;
  }

  /** Words consumed so far (may exceed `words.length` once reading past the end). */
  get position() {
    return this.pos;
  }

  /**
   * `count` i.i.d. symbols of `model` (Int32Array). Throws an Error on invalid data (as the
   * Python reader raises ValueError).
   * @param {number} count
   * @param {CategoricalModel} model
   */
  decode(count, model) {
    const out = new Int32Array(count);
    if (count === 0) return out;
    if (!(model instanceof CategoricalModel)) throw new TypeError("decode needs a CategoricalModel");
    // the lookup table costs about 2^12 + window steps to build, and saves about log2(window) per symbol
    const table = model.table || (count >= LOOKUP_MIN_COUNT
      && count * Math.log2(model.windowLast + 2) > (1 << LOOKUP_BITS) + model.windowLast ? model.buildTable() : null);
    const cdf = model.cdf;
    const kernels = count >= WASM_MIN_COUNT ? wasmKernels() : null;
    if (kernels !== null) {
      const symbols = wasmRangeDecode(kernels, this, count, model, table);
      if (symbols === null) throw new Error("range-coded stream does not decode (invalid compressed data)");
      return symbols;
    }
    const base = model.base, last = model.windowLast, top = model.top;
    const words = this.words;
    const nWords = words.length;
    let pos = this.pos;
    let rH = this.rH;
    let rL = this.rL;
    let dH = this.dH;
    let dL = this.dL;
    for (let i = 0; i < count; i++) {
      // scale = rH = a·2^24 + b  (a < 2^16, b < 2^24)
      const a = Math.floor(rH * INV_TWO24);
      const b = rH - a * TWO24;
      // quantile = floor(d / scale): float estimate, then exact remainder and correction
      let q = Math.floor((dH * TWO24 + dL) / rH);
      let rem = (dH - q * a) * TWO24 + (dL - q * b);
      while (rem < 0) {
        q--;
        rem += rH;
      }
      while (rem >= rH) {
        q++;
        rem -= rH;
      }
      if (q >= TWO24) {
        this.pos = pos;
        throw new Error("range-coded stream does not decode (invalid compressed data)");
      }
      let left, p;
      if (q < base) {  // the window's tails: probability 1, cdf steps by 1
        out[i] = q;
        left = q;
        p = 1;
      } else if (q >= top) {
        out[i] = base + last + 1 + (q - top);
        left = q;
        p = 1;
      } else {
        let s, hi;
        if (table !== null) {
          const j = q >>> LOOKUP_SHIFT;
          s = table[j];
          hi = table[j + 1];
        } else {
          s = 0;
          hi = last;
        }
        while (s < hi) {
          const mid = (s + hi + 1) >>> 1;
          if (cdf[mid] <= q) s = mid;
          else hi = mid - 1;
        }
        out[i] = base + s;
        left = cdf[s];
        p = cdf[s + 1] - left;
      }
      const t = q - left; // d − scale·left = t·scale + rem
      const pb = p * b;
      const pbH = Math.floor(pb * INV_TWO24);
      const x = t * b + rem;
      const xH = Math.floor(x * INV_TWO24);
      rH = p * a + pbH; // range = scale·p
      rL = pb - pbH * TWO24;
      dH = t * a + xH;
      dL = x - xH * TWO24;
      if (rH < 256) {
        // range < 2^32: shift in one word
        const range = rH * TWO24 + rL;
        const d = dH * TWO24 + dL;
        const w = pos < nWords ? words[pos] : 0;
        pos++;
        rH = range * 256;
        rL = 0;
        dH = d * 256 + (w >>> 24);
        dL = w & 0xffffff;
      }
    }
    this.pos = pos;
    this.rH = rH;
    this.rL = rL;
    this.dH = dH;
    this.dL = dL;
    return out;
  }
}

function* chunks(n, firstChunk) {
  let start = 0;
  let size = firstChunk;
  while (start < n) {
    yield [start, Math.min(n, start + size)];
    start += size;
    size *= 2;
  }
}

/**
 * Inverse of `codec.entropy.adaptive_encode`: `count` symbols of the adaptive categorical model
 * whose state `counts` (numbers ≥ 1, e.g. an Int32Array, Float64Array or a subarray of one) is
 * updated in place exactly as the Python decoder does. Returns an Int32Array.
 */
export function adaptiveDecode(reader, count, counts, firstChunk = 32) {
  if (!(firstChunk >= 1)) throw new RangeError("firstChunk must be positive");
  const out = new Int32Array(count);
  const n = counts.length;
  const weights = new Float64Array(n);
  for (const [lo, hi] of chunks(count, firstChunk)) {
    for (let i = 0; i < n; i++) weights[i] = Number(counts[i]);
    const chunk = reader.decode(hi - lo, reader.model(weights));
    out.set(chunk, lo);
    for (let i = 0; i < chunk.length; i++) counts[chunk[i]] += 1;
  }
  return out;
}
