// WebAssembly versions of the decoder's two hot loops (web/wasm/kernels.wat): the range decoder's
// symbol loop and the channel transform. They compute what the JavaScript reference computes
// (entropy.js RangeReader.decode: the same symbols and state, bit for bit; decode.js
// transformColumnsJs: float32 sums instead of float64 ones, within the documented tolerance), and
// the decoder falls back to the reference when WebAssembly (with SIMD) is unavailable or switched off
// with setWasmEnabled(false).
//
// Memory: the range decoder's instance has one linear memory, grown on demand and never shrunk. Bytes
// 0..31 hold its state; from byte 64 on, a RangeReader keeps its words there between calls (and copies
// them again after another reader used them), then the tables of the models it used (each copied once
// while the reader owns the memory: a channel's contexts come back to the same few models), then the
// output. The decoded channels live in a separate instance per decode (channelColumns), sized once.

import { KERNELS_WASM_BASE64 } from "./kernels.wasm.js";

const STATE = 0;
const ARENA = 64;
const PAGE = 65536;

let enabled = true;
let exportsCache = null;
let moduleCache = null;
let loadFailed = false;
let arenaOwner = null;
/** Where the owner's models' tables lie: cdf → {cdfPtr, tablePtr (0: not placed)}; the next free byte. */
let placed = new Map();
let placedEnd = ARENA;

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
    moduleCache = new WebAssembly.Module(bytes);
    exportsCache = new WebAssembly.Instance(moduleCache, {}).exports;
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
 * @param {{cdf: Uint32Array, base: number}} model a CategoricalModel: its cdf (a window from symbol base on)
 * @param {Uint32Array|null} table the model's quantile lookup table (4097 entries) or null
 * @returns {Int32Array|null} the symbols, or null on invalid data (the reader's state is updated either way)
 */
export function wasmRangeDecode(kernels, reader, count, model, table) {
  const cdf = model.cdf;
  const words = reader.words;
  if (arenaOwner !== reader) {
    const end = align16(ARENA + 4 * words.length);
    new Uint32Array(reserve(kernels, end)).set(words, ARENA >> 2);
    arenaOwner = reader;
    placed = new Map();
    placedEnd = end;
  }
  let at = placed.get(cdf);
  if (at === undefined) {
    at = { cdfPtr: placedEnd, tablePtr: 0 };
    placedEnd = align16(placedEnd + 4 * cdf.length);
    new Uint32Array(reserve(kernels, placedEnd)).set(cdf, at.cdfPtr >> 2);
    placed.set(cdf, at);
  }
  if (table && at.tablePtr === 0) {
    at.tablePtr = placedEnd;
    placedEnd = align16(placedEnd + 4 * table.length);
    new Uint32Array(reserve(kernels, placedEnd)).set(table, at.tablePtr >> 2);
  }
  const cdfPtr = at.cdfPtr, tablePtr = table ? at.tablePtr : 0;
  const outPtr = placedEnd;
  const u32 = new Uint32Array(reserve(kernels, outPtr + 4 * count));
  // state: u64 = H·2^24 + L as (low, high) 32-bit words
  const s = STATE >> 2;
  u32[s] = (reader.dH % 256) * 16777216 + reader.dL;
  u32[s + 1] = Math.floor(reader.dH / 256);
  u32[s + 2] = (reader.rH % 256) * 16777216 + reader.rL;
  u32[s + 3] = Math.floor(reader.rH / 256);
  u32[s + 4] = reader.pos;
  const status = kernels.range_decode(STATE, count, cdfPtr, tablePtr, cdf.length - 2, model.base, outPtr, ARENA, words.length);
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
 * Float32 columns [C] × [N] for the decoded channels, in the memory of a WebAssembly instance of their
 * own (so the channel transform runs on them in place and the arrays stay valid after the next decode),
 * or plain Float32Arrays without WebAssembly or when the memory cannot grow that far.
 * @returns {{columns: Float32Array[], transform: ((basis: Float32Array, blocks: Array<[number, number]>) => void)|null}}
 *   transform: the WebAssembly channel transform (null: the caller runs the JavaScript one)
 */
export function channelColumns(n, c) {
  const kernels = wasmKernels();
  if (kernels !== null) {
    try {
      return wasmColumns(n, c);
    } catch {
      // the memory cannot grow that far here: plain arrays
    }
  }
  return { columns: Array.from({ length: c }, () => new Float32Array(n)), transform: null };
}

function wasmColumns(n, c) {
  const instance = new WebAssembly.Instance(moduleCache, {}).exports;
  const stride = align16(4 * n);  // bytes per column: N rounded up to four rows
  const groups = (c + 3) >> 2;
  const m = ARENA, tmp = align16(m + 64 * groups * c), cols = align16(tmp + 16 * c);
  const end = cols + stride * c;
  if (end > 2 ** 32 - PAGE) throw new RangeError("too large for a 32-bit memory");
  const buffer = reserve(instance, end);
  const columns = Array.from({ length: c }, (_, ch) => new Float32Array(buffer, cols + ch * stride, n));
  const transform = (basis, blocks) => {
    const f32 = new Float32Array(instance.memory.buffer);
    for (const [lo, hi] of blocks) {
      const w = hi - lo, nGroups = (w + 3) >> 2;
      const base = m >> 2;
      f32.fill(0, base, base + 16 * nGroups * w);
      for (let g = 0; g < nGroups; g++) {
        for (let k = 0; k < w; k++) {
          for (let j = 0; j < 4 && 4 * g + j < w; j++) {
            f32.fill(basis[(lo + 4 * g + j) * c + lo + k], base + ((g * w + k) * 4 + j) * 4, base + ((g * w + k) * 4 + j + 1) * 4);
          }
        }
      }
      instance.basis_columns(cols, stride, lo, w, m, tmp, stride >> 4);
    }
  };
  return { columns, transform };
}
