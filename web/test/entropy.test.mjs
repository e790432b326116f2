// Bit-exactness of web/src/entropy.js against the Python encoder (codec/entropy.py + constriction).
// Fixtures: web/test/make_entropy_fixtures.py writes entropy.json into web/test/fixtures/, or
// into the directory named by the environment variable SPLATPRESS_ENTROPY_FIXTURES.
//
//   node --test web/test/
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

import {
  CategoricalModel,
  K_MAX,
  K_MIN,
  RangeReader,
  adaptiveDecode,
  cdfOf,
  INTEGER_TABLES,
  geometricCdf,
  geometricTable,
  geometricTheta,
  geometricWeights,
  geometricWindow,
  integerCdf,
  quantizeProbabilities,
  quantizedCdf,
} from "../src/entropy.js";
import { setWasmEnabled, wasmKernels } from "../src/kernels.js";
import { encode } from "./range-encoder.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const fixtureDir = process.env.SPLATPRESS_ENTROPY_FIXTURES || join(here, "fixtures");
const fx = JSON.parse(readFileSync(join(fixtureDir, "entropy.json"), "utf8"));

/** First index where two sequences differ (−1 when equal), for short failure messages. */
function firstDifference(a, b) {
  if (a.length !== b.length) return Math.min(a.length, b.length);
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return i;
  return -1;
}

function assertSameSequence(actual, expected, what) {
  const i = firstDifference(actual, expected);
  assert.equal(
    i,
    -1,
    `${what}: differs at ${i} (length ${actual.length} vs ${expected.length}): got ${actual[i]}, expected ${expected[i]}`,
  );
}

function caseProbabilities(entry) {
  if (entry.geometric) {
    const [k, lo, hi] = entry.geometric;
    return geometricTable(k, lo, hi);
  }
  return Float64Array.from(entry.probabilities);
}

/** Run `check` with the WebAssembly symbol loop and again with the JavaScript reference. */
function inBothDecoders(check) {
  for (const [name, on] of [["WebAssembly", true], ["JavaScript", false]]) {
    setWasmEnabled(on);
    try {
      check(name);
    } finally {
      setWasmEnabled(true);
    }
  }
}

test("the WebAssembly kernels load here (so both decoders are tested)", () => {
  assert.notEqual(wasmKernels(), null);
});

test("fixtures come from constriction 0.5 with 24-bit precision", () => {
  assert.equal(fx.precision, 24);
  assert.match(String(fx.constriction), /^0\.5\./);
});

test("geometricTheta matches codec.entropy.geometric_theta bit for bit", () => {
  assert.equal(fx.theta.k_min, K_MIN);
  assert.equal(fx.theta.k_max, K_MAX);
  const got = [];
  for (let k = K_MIN; k <= K_MAX; k++) got.push(geometricTheta(k));
  assertSameSequence(got, fx.theta.values, "theta");
});

test("geometricTable matches codec.entropy.geometric_table bit for bit", () => {
  for (const t of fx.tables) {
    const got = geometricTable(t.k, t.r_min, t.r_max);
    assertSameSequence(Array.from(got), t.values, `table k=${t.k} [${t.r_min}, ${t.r_max}]`);
  }
});

test("quantizeProbabilities reproduces constriction's Categorical(perfect=False)", () => {
  assert.ok(fx.quantization.length >= 15);
  for (const q of fx.quantization) {
    const p = caseProbabilities(q);
    const got = quantizeProbabilities(p);
    assertSameSequence(Array.from(got), q.quantized, q.name);
    let sum = 0;
    for (const x of got) {
      assert.ok(x >= 1, `${q.name}: zero probability`);
      sum += x;
    }
    assert.equal(sum, 2 ** 24, q.name);
    assertSameSequence(Array.from(cdfOf(got)), Array.from(quantizedCdf(p)), `${q.name} cdf`);
  }
});

test("quantization refuses what constriction refuses", () => {
  assert.throws(() => quantizeProbabilities([1.0]));
  assert.throws(() => quantizeProbabilities([]));
  assert.throws(() => quantizeProbabilities([0.0, 0.0]));
  assert.throws(() => quantizeProbabilities([1.0, NaN]));
  assert.throws(() => quantizeProbabilities([1.0, Infinity]));
  assert.throws(() => quantizeProbabilities([1e-310, 1e-310])); // subnormal sum
});

test("i.i.d. streams of categorical models decode exactly", () => inBothDecoders((decoder) => {
    assert.ok(fx.categorical_streams.length >= 10);
    for (const s of fx.categorical_streams) {
      const q = fx.quantization[s.case];
      const reader = new RangeReader(Uint32Array.from(s.words));
      const got = reader.decode(s.symbols.length, reader.model(caseProbabilities(q)));
      assertSameSequence(Array.from(got), s.symbols, `${decoder}: stream of ${q.name}`);
      assert.ok(reader.position >= s.words.length, `${q.name}: stream not consumed`);
    }
}));

test("symbol-by-symbol decoding (binary search path) equals bulk decoding (lookup table path)", () => inBothDecoders((decoder) => {
    const s = fx.categorical_streams.find((c) => fx.quantization[c.case].name === "log_uniform_5000");
    const p = caseProbabilities(fx.quantization[s.case]);
    const reader = new RangeReader(s.words);
    const model = RangeReader.model(p);
    const got = [];
    for (let i = 0; i < 500; i++) got.push(reader.decode(1, model)[0]);
    assert.equal(model.table, null, "single-symbol decodes should not build the lookup table");
    got.push(...reader.decode(s.symbols.length - 500, model));
    assert.notEqual(model.table, null);
    assertSameSequence(got, s.symbols, `${decoder}: mixed decode`);
    // the lookup table brackets the symbol of every quantile
    const table = model.buildTable();
    for (let q = 0; q < 2 ** 24; q += 997) {
      const sym = model.symbolOf(q);
      assert.ok(model.cdf[sym] <= q && q < model.cdf[sym + 1]);
      assert.ok(table[q >>> 12] <= sym && sym <= table[(q >>> 12) + 1], `quantile ${q}`);
    }
}));

test("geometric streams (cached models keyed by k, as codec/ac_coding.py) decode exactly", () => inBothDecoders((decoder) => {
    for (const s of fx.geometric_streams) {
      const reader = new RangeReader(Uint32Array.from(s.words));
      const got = [];
      for (const seg of s.segments) {
        const model = reader.cachedModel(seg.k, () => geometricTable(seg.k, s.r_min, s.r_max));
        got.push(...reader.decode(seg.count, model));
      }
      assertSameSequence(got, s.symbols, `${decoder}: geometric [${s.r_min}, ${s.r_max}]`);
      const ks = new Set(s.segments.map((seg) => seg.k));
      assert.equal(reader.models.size, ks.size);
    }
}));

test("adaptive streams (several contexts, as codec/geometry.py) decode exactly with the same counts", () => inBothDecoders((decoder) => {
    for (const s of fx.adaptive_streams) {
      const reader = new RangeReader(Uint32Array.from(s.words));
      const got = [];
      // the counts of all contexts in one array, updated through subarray views (as numpy rows)
      const all = new Int32Array(s.contexts.length * s.alphabet);
      s.contexts.forEach((c, i) => all.set(c.initial_counts, i * s.alphabet));
      s.contexts.forEach((c, i) => {
        const counts = all.subarray(i * s.alphabet, (i + 1) * s.alphabet);
        got.push(...adaptiveDecode(reader, c.count, counts, s.first_chunk));
        assertSameSequence(Array.from(counts), c.final_counts, `adaptive counts, context ${i}`);
      });
      assertSameSequence(got, s.symbols, `${decoder}: adaptive alphabet ${s.alphabet}`);
    }
}));

test("integerCdf builds format 6's integer tables exactly as codec.entropy.integer_table", () => {
  assert.ok(fx.integer_tables.length >= 8);
  for (const e of fx.integer_tables) {
    const weights = e.geometric ? geometricWeights(...e.geometric) : e.weights;
    const cdf = integerCdf(weights);
    const table = Array.from({ length: cdf.length - 1 }, (_, i) => cdf[i + 1] - cdf[i]);
    assertSameSequence(table, e.table, `integer table ${e.name}`);
  }
  assert.throws(() => integerCdf([1]), RangeError);
  assert.throws(() => integerCdf([1.5, 2]), RangeError);
  assert.throws(() => integerCdf([-1, 2]), RangeError);
  assert.throws(() => integerCdf([2 ** 28, 1]), RangeError);
});

test("geometricCdf gives integerCdf's table of the geometric weights, tails and all", () => {
  let seed = 7;
  const rand = (n) => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed % n; };
  const cases = [[0, -1, 1], [K_MIN, -5, 5], [160, -30000, 30000], [40, -2000, 9], [-40, 3, 900], [-160, -900, -2],
    [0, 0, 1], [8, -1, 0], [100, 1, 2], [-8, -7, 25000]];
  for (let t = 0; t < 200; t++) {
    const rMin = rand(2) ? -rand(20000) : rand(50);
    cases.push([rand(321) - 160, rMin, rMin + 1 + rand(rand(2) ? 40000 : 60)]);
  }
  for (const [k, rMin, rMax] of cases) {
    const want = integerCdf(geometricWeights(k, rMin, rMax));
    const got = geometricCdf(k, rMin, rMax);
    assert.equal(got.length, want.length);
    for (let i = 0; i < want.length; i++) {
      if (got[i] !== want[i]) assert.fail(`k ${k} [${rMin}, ${rMax}]: cdf[${i}] ${got[i]} != ${want[i]}`);
    }
  }
});

test("a geometric model stored as a window decodes as its whole table, tails included", () => inBothDecoders((decoder) => {
  let seed = 11;
  const rand = (n) => { seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0; return seed % n; };
  // wide alphabets with narrow distributions (mostly tails), a wide distribution, one-sided ranges
  for (const [k, rMin, rMax] of [[-40, -30000, 30000], [0, -2000, 9], [40, -700, 700], [-16, 3, 25000], [120, -20000, 20000]]) {
    const { base, cdf } = geometricWindow(k, rMin, rMax);
    const size = rMax - rMin + 1;
    const windowed = new CategoricalModel(cdf, true, base, size);
    const whole = new CategoricalModel(geometricCdf(k, rMin, rMax));
    assert.ok(cdf.length <= whole.cdf.length);
    assertSameSequence(Array.from(windowed.probabilities()), Array.from(whole.probabilities()), `probabilities k ${k}`);
    for (const q of [0, base - 1, base, cdf[cdf.length - 1] - 1, cdf[cdf.length - 1], 2 ** 24 - 1]) {
      if (q >= 0) assert.equal(windowed.symbolOf(q), whole.symbolOf(q), `symbolOf(${q}), k ${k}`);
    }
    // symbols of the window, of both tails and the ends of the alphabet, coded with the whole table
    const counts = [3000, 300, 40, 3];  // with and without the lookup table; the kernel and the JS loop
    const symbols = Array.from({ length: counts.reduce((x, y) => x + y) }, (_, i) =>
      i % 3 ? base + rand(cdf.length - 1) : i % 2 ? rand(size) : [0, size - 1, base - 1, base + cdf.length - 1][rand(4)])
      .map((v) => Math.min(Math.max(v, 0), size - 1));
    assert.ok(symbols.some((v) => v < base) || base === 0);
    assert.ok(symbols.some((v) => v >= base + cdf.length - 1) || base + cdf.length - 1 === size);
    const words = encode(symbols, whole.cdf);
    const a = new RangeReader(words, INTEGER_TABLES), b = new RangeReader(words, INTEGER_TABLES);
    let at = 0;
    for (const count of counts) {
      const want = symbols.slice(at, at + count);
      assertSameSequence(Array.from(b.decode(count, whole)), want, `${decoder}: whole table, k ${k}, ${count} symbols`);
      assertSameSequence(Array.from(a.decode(count, windowed)), want, `${decoder}: window, k ${k} [${rMin}, ${rMax}], ${count} symbols`);
      at += count;
    }
    assert.deepEqual([a.pos, a.rH, a.rL, a.dH, a.dL], [b.pos, b.rH, b.rL, b.dH, b.dL]);
  }
}));

test("streams coded with integer tables (format 6) decode exactly", () => inBothDecoders((decoder) => {
    for (const s of fx.integer_geometric_streams) {
      const reader = new RangeReader(Uint32Array.from(s.words), INTEGER_TABLES);
      const got = [];
      for (const seg of s.segments) got.push(...reader.decode(seg.count, reader.geometricModel(seg.k, s.r_min, s.r_max)));
      assertSameSequence(got, s.symbols, `${decoder}: integer geometric [${s.r_min}, ${s.r_max}]`);
    }
    for (const s of fx.integer_adaptive_streams) {
      const reader = new RangeReader(Uint32Array.from(s.words), INTEGER_TABLES);
      const got = [];
      s.contexts.forEach((c, i) => {
        const counts = Int32Array.from(c.initial_counts);
        got.push(...adaptiveDecode(reader, c.count, counts, s.first_chunk));
        assertSameSequence(Array.from(counts), c.final_counts, `integer adaptive counts, context ${i}`);
      });
      assertSameSequence(got, s.symbols, `${decoder}: integer adaptive alphabet ${s.alphabet}`);
      // the same words read with constriction's float tables decode to something else (or to no valid stream)
      const wrong = new RangeReader(Uint32Array.from(s.words));
      let other = [];
      try {
        s.contexts.forEach((c) => other.push(...adaptiveDecode(wrong, c.count, Int32Array.from(c.initial_counts), s.first_chunk)));
      } catch (err) {
        assert.match(err.message, /does not decode/);
        other = null;
      }
      if (s.alphabet > 2) assert.notDeepEqual(other, s.symbols);
    }
}));

test("reading past the end and odd word arrays behave as constriction", () => inBothDecoders((decoder) => {
    for (const r of fx.raw_decodes) {
      const p = caseProbabilities(fx.quantization[r.case]);
      const reader = new RangeReader(r.words);
      if (r.error) {
        assert.throws(() => reader.decode(r.count, reader.model(p)), /does not decode/, `${decoder}: ${r.name}`);
      } else {
        assertSameSequence(Array.from(reader.decode(r.count, reader.model(p))), r.symbols, `${decoder}: ${r.name}`);
      }
    }
    assert.equal(new RangeReader([]).decode(0, RangeReader.model([1, 1])).length, 0);
}));

test("a corrupted stream decodes to different symbols (the checks can fail)", () => inBothDecoders((decoder) => {
    const s = fx.categorical_streams.find((c) => fx.quantization[c.case].name === "dirichlet_1000");
    const words = Uint32Array.from(s.words);
    words[3] ^= 1 << 20;
    const reader = new RangeReader(words);
    let got;
    try {
      got = Array.from(reader.decode(s.symbols.length, reader.model(caseProbabilities(fx.quantization[s.case]))));
    } catch {
      return; // also acceptable: detected as invalid
    }
    assert.notEqual(firstDifference(got, s.symbols), -1);
}));

test("CategoricalModel validates its cdf", () => {
  assert.throws(() => new CategoricalModel(Uint32Array.from([0, 2 ** 24])));
  assert.throws(() => new CategoricalModel(Uint32Array.from([0, 5, 5, 2 ** 24])));
  assert.throws(() => new CategoricalModel(Uint32Array.from([0, 5, 2 ** 23])));
  const m = new CategoricalModel(cdfOf([2 ** 23, 2 ** 22, 2 ** 22]));
  assert.deepEqual(Array.from(m.probabilities()), [2 ** 23, 2 ** 22, 2 ** 22]);
  assert.equal(m.symbolOf(2 ** 23 - 1), 0);
  assert.equal(m.symbolOf(2 ** 23), 1);
  assert.equal(m.symbolOf(2 ** 24 - 1), 2);
  // a window: symbols 0, 1 and 4 of probability 1 outside whole[2 … 4] = [2, 2^23, 2^24 − 1]
  const w = new CategoricalModel(Uint32Array.from([2, 2 ** 23, 2 ** 24 - 1]), true, 2, 5);
  assert.deepEqual(Array.from(w.probabilities()), [1, 1, 2 ** 23 - 2, 2 ** 23 - 1, 1]);
  assert.deepEqual([0, 1, 2, 2 ** 23, 2 ** 24 - 1].map((q) => w.symbolOf(q)), [0, 1, 2, 3, 4]);
  assert.throws(() => new CategoricalModel(Uint32Array.from([2, 2 ** 23, 2 ** 24 - 1]), true, 1, 5));  // cdf[0] ≠ base
  assert.throws(() => new CategoricalModel(Uint32Array.from([2, 2 ** 23, 2 ** 24 - 1]), true, 2, 6));  // not 2^24 at the end
});
