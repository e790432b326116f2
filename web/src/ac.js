// The range-coded AC codes of format v2/v3 (codec/ac_coding.py), one stream per channel.
//
// For channel c and AC slot s (0-based here: slot s + 1 of the RAHT), the stored symbol is
// r − r_min with r = code − centre[c, j(s)], j(s) the quantizer block of the slot (the first
// (N−1) mod B blocks one longer) and centre = clip(rint(zero_point), 0, 2^b − 1). Contexts: the
// block j and the RAHT weight class w(s) = min(⌊log2 weight⌋ − 1, 11); symbols are coded context by
// context in the stable order of w·B + j. Models: 1 = geometric per (j, w) with
// k = clip(k_block[j] + k_class[w], −160, 160) (codec/entropy.py), 2 = adaptive categorical per
// weight class over the channel's alphabet. The CRC-32 of the decoded codes (a little-endian
// [N − 1, C] uint8/uint16 array) must match the stored one.

import { adaptiveDecode, FLOAT_TABLES, INTEGER_TABLES, RangeReader } from "./entropy.js";
import { FormatError } from "./errors.js";

export const N_WEIGHT_CLASSES = 12;
const K_MIN = -160, K_MAX = 160;
const ADAPTIVE_MAX_ALPHABET = 4096;
const MODEL_GEOMETRIC = 1, MODEL_ADAPTIVE = 2;

/** Lengths of B near-equal contiguous blocks of L elements (quant.split_length). */
export function splitLength(length, nBlocks) {
  if (length < nBlocks) throw new FormatError(`cannot split ${length} AC coefficients into ${nBlocks} blocks`);
  const base = Math.floor(length / nBlocks), rem = length - base * nBlocks;
  return Array.from({ length: nBlocks }, (_, j) => base + (j < rem ? 1 : 0));
}

/** Round half to even (numpy's rint). */
export function rint(v) {
  const r = Math.round(v);
  return (r - v === 0.5 && r % 2 !== 0) ? r - 1 : r;
}

const LITTLE_ENDIAN = new Uint8Array(Uint32Array.of(1).buffer)[0] === 1;
let CRC_TABLES = null;
/**
 * CRC-32 (zlib's) of bytes: slicing by four (four 256-entry tables, one 32-bit word per step).
 * `previous`: the CRC of the bytes before these (to checksum a sequence piece by piece).
 */
export function crc32(bytes, previous = 0) {
  if (!CRC_TABLES) {
    CRC_TABLES = new Int32Array(4 * 256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      CRC_TABLES[n] = c;
    }
    for (let n = 0; n < 256; n++) {
      for (let t = 1; t < 4; t++) {
        const prev = CRC_TABLES[(t - 1) * 256 + n];
        CRC_TABLES[t * 256 + n] = CRC_TABLES[prev & 0xff] ^ (prev >>> 8);
      }
    }
  }
  const T = CRC_TABLES;
  let crc = previous ^ -1;
  const n = bytes.length;
  let i = 0;
  // whole 32-bit words where the bytes are 4-aligned (read little-endian, as every browser and Node host is)
  if (bytes.byteOffset % 4 === 0 && LITTLE_ENDIAN) {
    const words = new Uint32Array(bytes.buffer, bytes.byteOffset, n >>> 2);
    for (let k = 0; k < words.length; k++) {
      crc ^= words[k];
      crc = T[768 + (crc & 0xff)] ^ T[512 + ((crc >>> 8) & 0xff)] ^ T[256 + ((crc >>> 16) & 0xff)] ^ T[crc >>> 24];
    }
    i = 4 * words.length;
  }
  for (; i < n; i++) crc = T[(crc ^ bytes[i]) & 0xff] ^ (crc >>> 8);
  return (crc ^ -1) >>> 0;
}

/**
 * The coding contexts of the AC slots: order (the slots sorted stably by context w·B + j), bounds
 * (bounds[q]..bounds[q+1] is context q's run in that order), the block of each position of the order,
 * and the length of every block (slot order).
 * @param {Float64Array} acWeight [N − 1] RAHT weights of the slots
 */
export function acContexts(acWeight, nBlock) {
  const n = acWeight.length;
  const blockLengths = splitLength(n, nBlock);
  const block = new Int32Array(n);
  blockLengths.reduce((start, len, j) => { block.fill(j, start, start + len); return start + len; }, 0);
  const nCtx = nBlock * N_WEIGHT_CLASSES;
  const ctx = new Int32Array(n);
  for (let s = 0; s < n; s++) {
    const w = acWeight[s];  // a count of voxels: an integer below 2^31
    if (!(w >= 2 && w < 2 ** 31)) throw new FormatError("RAHT pair weights must be in [2, 2^31)");
    const e = 31 - Math.clz32(w);  // ⌊log2 w⌋
    ctx[s] = Math.min(e - 1, N_WEIGHT_CLASSES - 1) * nBlock + block[s];
  }
  const bounds = new Int32Array(nCtx + 1);
  for (let s = 0; s < n; s++) bounds[ctx[s] + 1]++;
  for (let q = 0; q < nCtx; q++) bounds[q + 1] += bounds[q];
  const fill = bounds.slice(0, nCtx);
  const order = new Int32Array(n);
  for (let s = 0; s < n; s++) order[fill[ctx[s]]++] = s;
  const blockInOrder = new Int32Array(n);
  for (let i = 0; i < n; i++) blockInOrder[i] = block[order[i]];
  return { n, nBlock, order, bounds, blockInOrder, blockLengths };
}

/** Word offset of every channel's stream in ac.npz's `stream` (C + 1 entries). */
export function streamOffsets(words) {
  const offsets = [0];
  for (const w of words) offsets.push(offsets[offsets.length - 1] + w);
  return offsets;
}

/**
 * Decode the AC codes of one channel.
 * @param {object} arrays the members of ac.npz (parsed .npy: model, r_range, geometric_k, words, stream)
 * @param {number} ch the channel
 * @param {number} offset its stream's first word (streamOffsets)
 * @param {object} ctx acContexts()
 * @param {Float32Array} zeroPoint [C·B] (channel-major)
 * @param {{nBlock: number, bits: number, tables: string}} dims tables: FLOAT_TABLES (versions 2–4) or
 *   INTEGER_TABLES (6 on, geometric models only)
 * @returns {Uint8Array|Uint16Array} the channel's codes of AC slots 0 … N − 2 (slot order)
 */
export function decodeAcChannel(arrays, ch, offset, ctx, zeroPoint, dims) {
  const { nBlock, bits } = dims;
  const tables = dims.tables || FLOAT_TABLES;
  const { n, order, bounds, blockInOrder } = ctx;
  const qmax = 2 ** bits - 1;
  const codes = bits <= 8 ? new Uint8Array(n) : new Uint16Array(n);
  if (n === 0) return codes;
  const { model, r_range: rRange, geometric_k: geoK, words, stream } = arrays;
  const rMin = rRange[2 * ch], rMax = rRange[2 * ch + 1];
  if (rMin > rMax || rMin < -qmax || rMax > qmax) {
    throw new FormatError(`channel ${ch}: symbol range [${rMin}, ${rMax}] is impossible for ${bits}-bit codes`);
  }
  const reader = new RangeReader(stream.subarray(offset, offset + words[ch]), tables);
  const alphabet = rMax - rMin + 1;
  const kind = model[ch];
  const sym = new Int32Array(n);  // context order
  if (alphabet === 1) {
    // one symbol: nothing was coded
  } else if (kind === MODEL_GEOMETRIC) {
    const kRow = geoK.subarray(ch * (nBlock + N_WEIGHT_CLASSES), (ch + 1) * (nBlock + N_WEIGHT_CLASSES));
    for (let q = 0; q < nBlock * N_WEIGHT_CLASSES; q++) {
      const lo = bounds[q], hi = bounds[q + 1];
      if (hi <= lo) continue;
      const j = q % nBlock, w = (q - j) / nBlock;
      const k = Math.min(Math.max(kRow[nBlock + w] + kRow[j], K_MIN), K_MAX);
      sym.set(reader.decode(hi - lo, reader.geometricModel(k, rMin, rMax)), lo);
    }
  } else if (kind === MODEL_ADAPTIVE && tables === FLOAT_TABLES) {
    if (alphabet > ADAPTIVE_MAX_ALPHABET) {
      throw new FormatError(`channel ${ch}: adaptive model over ${alphabet} symbols (at most ${ADAPTIVE_MAX_ALPHABET})`);
    }
    for (let w = 0; w < N_WEIGHT_CLASSES; w++) {
      const lo = bounds[w * nBlock], hi = bounds[(w + 1) * nBlock];
      if (hi <= lo) continue;
      sym.set(adaptiveDecode(reader, hi - lo, new Float64Array(alphabet).fill(1)), lo);
    }
  } else {
    throw new FormatError(`channel ${ch}: unknown model id ${kind} (with ${tables} tables: ${tables === INTEGER_TABLES ? "geometric" : "geometric, adaptive"})`);
  }
  const centres = new Int32Array(nBlock);
  for (let j = 0; j < nBlock; j++) centres[j] = Math.min(Math.max(rint(zeroPoint[ch * nBlock + j]), 0), qmax) + rMin;
  let bad = 0;
  for (let i = 0; i < n; i++) {
    const r = sym[i], v = r + centres[blockInOrder[i]];
    bad |= (r >= alphabet) | (r < 0) | (v < 0) | (v > qmax);
    codes[order[i]] = v;
  }
  if (bad) throw new FormatError(`channel ${ch}: decoded symbols leave the stored range or the codes leave [0, ${qmax}]`);
  return codes;
}

/** Rows per piece when the codes are interleaved for the CRC. */
const CRC_ROWS = 2048;

/**
 * CRC-32 of the codes as the format stores them: a little-endian [N − 1, C] row-major array (uint8 or
 * uint16), computed from the per-channel columns piece by piece.
 */
export function codesCrc32(columns, n) {
  const c = columns.length;
  if (c === 0 || n === 0) return crc32(new Uint8Array(0));
  const Codes = columns[0].constructor;
  const piece = new Codes(CRC_ROWS * c);
  const bytes = new Uint8Array(piece.buffer);
  let crc = 0;
  for (let r0 = 0; r0 < n; r0 += CRC_ROWS) {
    const rows = Math.min(CRC_ROWS, n - r0);
    for (let ch = 0; ch < c; ch++) {
      const col = columns[ch];
      for (let r = 0, at = ch; r < rows; r++, at += c) piece[at] = col[r0 + r];
    }
    crc = crc32(bytes.subarray(0, rows * c * Codes.BYTES_PER_ELEMENT), crc);
  }
  return crc;
}

/** The codes as one little-endian [N − 1, C] row-major array (the layout the CRC covers). */
export function interleaveCodes(columns, n) {
  const c = columns.length;
  const Codes = c ? columns[0].constructor : Uint8Array;
  const out = new Codes(n * c);
  for (let r0 = 0; r0 < n; r0 += CRC_ROWS) {
    const r1 = Math.min(n, r0 + CRC_ROWS);
    for (let ch = 0; ch < c; ch++) {
      const col = columns[ch];
      for (let r = r0, at = r0 * c + ch; r < r1; r++, at += c) out[at] = col[r];
    }
  }
  return out;
}
