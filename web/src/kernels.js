// WebAssembly versions of the decoder's two hot loops (web/wasm/kernels.wat): the range decoder's
// symbol loop and the channel transform. They compute what the JavaScript reference computes
// (entropy.js RangeReader.decode: the same symbols and state, bit for bit; decode.js
// applyBasisTranspose: float32 sums instead of float64 ones, within the documented tolerance), and
// the decoder falls back to the reference when WebAssembly (with SIMD) is unavailable or switched off
// with setWasmEnabled(false).
//
// Memory: one linear memory, grown on demand and never shrunk. Bytes 0..31 hold the range decoder's
// state; from byte 64 on, the arena belongs to one user at a time: a RangeReader keeps its words
// there between calls (and copies them again after someone else used the arena), the channel
// transform its matrix and a chunk of rows.

import { KERNELS_WASM_BASE64 } from "./kernels.wasm.js";

const STATE = 0;
const ARENA = 64;
const PAGE = 65536;

let enabled = true;
let exportsCache = null;
let loadFailed = false;
let arenaOwner = null;

/** Switch the WebAssembly kernels on or off (off: the JavaScript reference runs; tests compare both). */
export function setWasmEnabled(on) {
  enabled = Boolean(on);
}

/** The kernels' exports, or null when WebAssembly is unavailable or switched off. */
export function wasmKernels() {
  if (!enabled || loadFailed) return null;
  if (exportsCache) return exportsCache;
  try {
    const binary = atob(KERNELS_WASM_BASE64);
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    exportsCache = new WebAssembly.Instance(new WebAssembly.Module(bytes), {}).exports;
  } catch {
    loadFailed = true;  // no WebAssembly, or no SIMD: the JavaScript reference does the work
    return null;
  }
  return exportsCache;
}

function align16(v) {
  return (v + 15) & ~15;
}

/** Grow the memory to at least `bytes`; returns its (possibly new) buffer. */
function reserve(kernels, bytes) {
  const memory = kernels.memory;
  const have = memory.buffer.byteLength;
  if (bytes > have) memory.grow(Math.ceil((bytes - have) / PAGE));
  return memory.buffer;
}

/**
 * Decode `count` symbols of one model with the WebAssembly range decoder.
 * @param {object} kernels wasmKernels()
 * @param {object} reader a RangeReader: words (Uint32Array), pos, and the state rH, rL, dH, dL
 *   (range = rH·2^24 + rL, d = dH·2^24 + dL), updated here
 * @param {number} count
 * @param {Uint32Array} cdf
 * @param {Uint32Array|null} table the model's quantile lookup table (4097 entries) or null
 * @returns {Int32Array|null} the symbols, or null on invalid data (the reader's state is updated either way)
 */
export function wasmRangeDecode(kernels, reader, count, cdf, table) {
  const words = reader.words;
  const wordsEnd = align16(ARENA + 4 * words.length);
  const cdfPtr = wordsEnd;
  const tablePtr = table ? align16(cdfPtr + 4 * cdf.length) : 0;
  const outPtr = align16(table ? tablePtr + 4 * table.length : cdfPtr + 4 * cdf.length);
  const buffer = reserve(kernels, outPtr + 4 * count);
  const u32 = new Uint32Array(buffer);
  if (arenaOwner !== reader) {
    u32.set(words, ARENA >> 2);
    arenaOwner = reader;
  }
  u32.set(cdf, cdfPtr >> 2);
  if (table) u32.set(table, tablePtr >> 2);
  // state: u64 = H·2^24 + L as (low, high) 32-bit words
  const s = STATE >> 2;
  u32[s] = (reader.dH % 256) * 16777216 + reader.dL;
  u32[s + 1] = Math.floor(reader.dH / 256);
  u32[s + 2] = (reader.rH % 256) * 16777216 + reader.rL;
  u32[s + 3] = Math.floor(reader.rH / 256);
  u32[s + 4] = reader.pos;
  const status = kernels.range_decode(STATE, count, cdfPtr, tablePtr, cdf.length - 2, outPtr, ARENA, words.length);
  const after = new Uint32Array(kernels.memory.buffer, STATE, 5);
  reader.dH = after[1] * 256 + (after[0] >>> 24);
  reader.dL = after[0] & 0xffffff;
  reader.rH = after[3] * 256 + (after[2] >>> 24);
  reader.rL = after[2] & 0xffffff;
  reader.pos = after[4];
  if (status !== 0) return null;
  return new Int32Array(kernels.memory.buffer, outPtr, count).slice();
}

/**
 * The inverse RAHT and the channel transform in WebAssembly memory, ending in a copy of the attributes.
 * @param {object} kernels wasmKernels()
 * @param {(out: Float32Array) => void} fill writes the RAHT coefficients [N, C] (float32) into `out`
 * @param {object} plan buildPlan()'s pairs (left, right, a, b grouped by level; levelStarts)
 * @param {Float32Array|null} basis B [C, C] or null
 * @param {Array<[number, number]>} blocks the non-identity diagonal blocks of B
 * @returns {Float32Array|null} attributes [N, C], or null when the memory cannot grow that far (the
 *   caller then runs the JavaScript reference)
 */
export function wasmInverseTransform(kernels, fill, plan, n, c, basis, blocks) {
  const p = plan.left.length;
  arenaOwner = null;
  const left = ARENA, right = align16(left + 4 * p), a32 = align16(right + 4 * p), b32 = align16(a32 + 4 * p);
  let at = align16(b32 + 4 * p);
  const placed = blocks.map(([lo, hi]) => {
    const w = hi - lo, wp = (w + 3) & ~3;
    const block = { lo, w, wp, m: at };
    at = align16(at + 4 * w * wp);
    return block;
  });
  const acc = at;
  const work = align16(acc + 4 * Math.max(4, ...placed.map((b) => b.wp)));
  const end = work + 4 * n * c;
  let buffer;
  try {
    if (end > 2 ** 32) return null;
    buffer = reserve(kernels, end);
  } catch {
    return null;  // the memory cannot grow that far here
  }
  new Int32Array(buffer, left, p).set(plan.left);
  new Int32Array(buffer, right, p).set(plan.right);
  new Float32Array(buffer, a32, p).set(plan.a);  // float32 rounding of the float64 weights, as the reference
  new Float32Array(buffer, b32, p).set(plan.b);
  const f32 = new Float32Array(buffer);
  for (const { lo, w, wp, m } of placed) {
    const base = m >> 2;
    f32.fill(0, base, base + w * wp);
    for (let k = 0; k < w; k++) for (let a = 0; a < w; a++) f32[base + k * wp + a] = basis[(lo + a) * c + lo + k];
  }
  const rows = f32.subarray(work >> 2, (work >> 2) + n * c);
  fill(rows);
  const starts = plan.levelStarts;
  for (let li = starts.length - 2; li >= 0; li--) kernels.raht_level(work, c, left, right, a32, b32, starts[li], starts[li + 1]);
  for (const { lo, w, wp, m } of placed) kernels.basis_block(work, n, c, lo, w, wp, m, acc);
  return rows.slice();
}
