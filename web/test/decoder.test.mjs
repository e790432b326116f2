// The decoder with its WebAssembly kernels against the JavaScript reference, on the frozen bundles of
// the Python test suite (tests/fixtures: formats v2, v3 and v6, with and without a channel transform):
// identical codes and voxels, identical attributes where no transform is stored (the same float32
// operations), and within float32 rounding of the transform's sums where one is.
//
//   npm test   (the Python suite compares both with load_npz: tests/test_web_decoder.py)
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

import { decodeBundle, splatArrays } from "../src/decode.js";
import { channelShares } from "../src/channels.js";
import { frameMatrix, shRotation, turnShColumns } from "../src/frame.js";
import { setWasmEnabled, wasmKernels } from "../src/kernels.js";
import { nodeHelpers } from "../node/helpers.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const fixtures = join(here, "..", "..", "tests", "fixtures");
const BUNDLES = ["v2/rd16", "v2/vanilla8", "v3/rd16_klt", "v3/vanilla8", "v6/rd16_klt_frame", "v6/vanilla8"];

async function decodeWith(wasm, bytes, label) {
  setWasmEnabled(wasm);
  try {
    return await decodeBundle(bytes, { label });
  } finally {
    setWasmEnabled(true);
  }
}

for (const name of BUNDLES) {
  test(`WebAssembly and JavaScript decode ${name} alike`, async () => {
    assert.notEqual(wasmKernels(), null);
    const bytes = new Uint8Array(readFileSync(join(fixtures, name, "pc_npz.bundle")));
    const fast = await decodeWith(true, bytes, name);
    const ref = await decodeWith(false, bytes, name);
    assert.deepEqual(Array.from(fast.codes), Array.from(ref.codes));
    assert.deepEqual(Array.from(fast.coords.x), Array.from(ref.coords.x));
    assert.deepEqual(Array.from(fast.means), Array.from(ref.means));
    const transformed = fast.manifest.format_version >= 3 && name.includes("klt");
    for (let ch = 0; ch < fast.nChannels; ch++) {
      const a = fast.columns[ch], b = ref.columns[ch];
      assert.equal(a.length, fast.n);
      let scale = 1, worst = 0;
      for (let i = 0; i < a.length; i++) { scale = Math.max(scale, Math.abs(b[i])); worst = Math.max(worst, Math.abs(a[i] - b[i])); }
      if (transformed) assert.ok(worst <= 64 * 2 ** -23 * scale, `${name} channel ${ch}: ${worst} apart`);
      else assert.equal(worst, 0, `${name} channel ${ch}: the same float32 operations must give the same values`);
    }
    const arrays = splatArrays(fast);
    assert.equal(arrays.frest.length, fast.n * 3 * ((fast.shDegree + 1) ** 2 - 1));
    for (let i = 0; i < fast.n; i++) assert.equal(arrays.fdc[3 * i + 1], fast.columns[5][i]);
  });
}

test("helper threads decode their channels exactly as one thread does", async () => {
  const bytes = new Uint8Array(readFileSync(join(fixtures, "v3/rd16_klt", "pc_npz.bundle")));
  const alone = await decodeBundle(bytes, { label: "alone" });
  const pool = nodeHelpers(2);
  try {
    const shared = await decodeBundle(bytes, { label: "shared", helpers: pool.helpers, minParallelGaussians: 0 });
    assert.deepEqual(Array.from(shared.codes), Array.from(alone.codes));
    for (let ch = 0; ch < alone.nChannels; ch++) assert.deepEqual(Array.from(shared.columns[ch]), Array.from(alone.columns[ch]));
  } finally {
    await pool.close();
  }
  // a helper that cannot run: its channels are decoded here, with the same result
  const broken = [() => Promise.reject(new Error("no thread"))];
  const fallback = await decodeBundle(bytes, { label: "fallback", helpers: broken, minParallelGaussians: 0 });
  assert.deepEqual(Array.from(fallback.codes), Array.from(alone.codes));
  for (let ch = 0; ch < alone.nChannels; ch++) assert.deepEqual(Array.from(fallback.columns[ch]), Array.from(alone.columns[ch]));
  // a helper that finds damaged data: one format error
  const damaged = [() => Promise.resolve({ error: "x: AC streams do not decode (test)", formatError: true })];
  await assert.rejects(decodeBundle(bytes, { label: "damaged", helpers: damaged, minParallelGaussians: 0 }),
    (err) => err.name === "FormatError" && /do not decode/.test(err.message));
});

test("a damaged stream fails in both decoders with a format error", async () => {
  const bytes = new Uint8Array(readFileSync(join(fixtures, "v3/vanilla8", "pc_npz.bundle")));
  for (const wasm of [true, false]) {
    const damaged = bytes.slice();
    damaged[Math.floor(damaged.length / 3)] ^= 0x10;
    await assert.rejects(decodeWith(wasm, damaged, "damaged"), (err) => err.name === "FormatError");
  }
});

test("web/src/kernels.wasm.js is the build of web/wasm/kernels.wat", () => {
  execFileSync(process.execPath, [join(here, "..", "wasm", "build.mjs"), "--check"], { stdio: "pipe" });
});

test("a preview decodes every channel but the SH bands, as the full decode does", async () => {
  for (const name of ["v6/rd16_klt_frame", "v3/rd16_klt"]) {
    const bytes = new Uint8Array(readFileSync(join(fixtures, name, "pc_npz.bundle")));
    const full = await decodeBundle(bytes, { label: name });
    const alone = await decodeBundle(bytes, { label: name, preview: true });
    // with helpers the preview's channels are shared out (one helper's share spans the bands: two ranges)
    const pool = nodeHelpers(1);
    let shared;
    try {
      shared = await decodeBundle(bytes, { label: name, preview: true, helpers: pool.helpers, minParallelGaussians: 0 });
    } finally {
      await pool.close();
    }
    // a helper that cannot run: both of its ranges are decoded here
    const fallback = await decodeBundle(bytes, { label: name, preview: true, helpers: [() => Promise.reject(new Error("no thread"))],
      minParallelGaussians: 0 });
    for (const preview of [alone, shared, fallback]) {
      assert.ok(full.shDegree > 0 && preview.preview && !full.preview);
      const bands = [7, full.nChannels - 3];
      for (let ch = 0; ch < full.nChannels; ch++) {
        if (ch >= bands[0] && ch < bands[1]) {
          assert.equal(preview.codeColumns[ch], null);
          assert.ok(preview.columns[ch].every((v) => v === 0), `${name} band channel ${ch} is not zero`);
        } else {
          assert.deepEqual(Array.from(preview.codeColumns[ch]), Array.from(full.codeColumns[ch]));
          assert.deepEqual(Array.from(preview.columns[ch]), Array.from(full.columns[ch]), `${name} channel ${ch}`);
        }
      }
      const a = splatArrays(full), b = splatArrays(preview);
      assert.equal(b.shDegree, 0);
      assert.equal(b.frest.length, 0);
      for (const key of ["positions", "rotations", "scales", "opacities", "fdc"]) assert.deepEqual(Array.from(b[key]), Array.from(a[key]), key);
      assert.throws(() => preview.codes, /no SH band codes/);
    }
  }
  // the preview still checks the members' hashes
  const damaged = new Uint8Array(readFileSync(join(fixtures, "v6/rd16_klt_frame", "pc_npz.bundle")));
  damaged[Math.floor(damaged.length / 2)] ^= 0x01;
  await assert.rejects(decodeBundle(damaged, { label: "damaged", preview: true }), (err) => err.name === "FormatError");
});

test("channel shares: equal counts of the spans' channels, each share contiguous ranges", () => {
  assert.deepEqual(channelShares([[0, 55]], 2), [[[0, 28]], [[28, 55]]]);
  assert.deepEqual(channelShares([[0, 7], [52, 55]], 2), [[[0, 5]], [[5, 7], [52, 55]]]);
  assert.deepEqual(channelShares([[0, 7], [52, 55]], 1), [[[0, 7], [52, 55]]]);
  assert.deepEqual(channelShares([[0, 2]], 4), [[[0, 1]], [[1, 2]]]);
});

test("turnShColumns turns every row by its band's matrix (float64 sums in order), blocks and all", () => {
  const n = 5000, degree = 3, rest = 15;
  let seed = 11;
  const rand = () => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed / 2147483648 - 0.5; };
  const columns = Array.from({ length: 7 + 3 * rest + 3 }, () => Float32Array.from({ length: n }, rand));
  const before = columns.map((col) => col.slice());
  const frame = Float32Array.from([0.9, 0.1, -0.3, 0.2]);
  const norm = Math.hypot(...frame);
  for (let i = 0; i < 4; i++) frame[i] /= norm;
  turnShColumns(columns, degree, n, frame);
  const bands = shRotation(degree, frameMatrix(frame));
  for (let c = 0; c < 3; c++) {
    for (let l = 1; l <= degree; l++) {
      const lo = l * l - 1, w = 2 * l + 1, a = bands[l - 1];
      for (const i of [0, 1, 2047, 2048, 4095, 4096, n - 1]) {
        for (let r = 0; r < w; r++) {
          let sum = 0;
          for (let k = 0; k < w; k++) sum += a[r * w + k] * before[7 + c * rest + lo + k][i];
          assert.equal(columns[7 + c * rest + lo + r][i], Math.fround(sum), `colour ${c} band ${l} row ${i}`);
        }
      }
    }
  }
  for (const ch of [0, 6, 7 + 3 * rest]) assert.deepEqual(columns[ch], before[ch]);  // not SH bands: untouched
});
