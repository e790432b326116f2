// Reading .npy arrays (numpy's format 1.0–3.0), as the bundle's .npz members hold them.
//
// Layout: the magic "\x93NUMPY", major and minor version bytes, the header length (uint16 little
// endian for 1.x, uint32 for 2.x/3.x), an ASCII/UTF-8 Python dict literal
// {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }, padding, then the raw data in C order.
// Only what the format writes is accepted: little-endian or byte-sized numeric dtypes, C order.

import { FormatError } from "./errors.js";

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59];

// descr → [typed array constructor, bytes per element]
const DTYPES = {
  "<f4": [Float32Array, 4], "<f8": [Float64Array, 8],
  "|u1": [Uint8Array, 1], "<u1": [Uint8Array, 1], "|i1": [Int8Array, 1], "<i1": [Int8Array, 1],
  "<u2": [Uint16Array, 2], "<i2": [Int16Array, 2],
  "<u4": [Uint32Array, 4], "<i4": [Int32Array, 4],
  "<i8": [BigInt64Array, 8], "<u8": [BigUint64Array, 8],
};

/** numpy's dtype name of a descr ("<f4" → "float32"), for messages and checks. */
export const DTYPE_NAMES = {
  "<f4": "float32", "<f8": "float64", "|u1": "uint8", "<u1": "uint8", "|i1": "int8", "<i1": "int8",
  "<u2": "uint16", "<i2": "int16", "<u4": "uint32", "<i4": "int32", "<i8": "int64", "<u8": "uint64",
};

function parseHeader(text, where) {
  const descr = /'descr'\s*:\s*'([^']+)'/.exec(text);
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(text);
  const shape = /'shape'\s*:\s*\(([^)]*)\)/.exec(text);
  if (!descr || !fortran || !shape) throw new FormatError(`${where}: unreadable .npy header ${JSON.stringify(text.slice(0, 80))}`);
  const dims = shape[1].split(",").map((s) => s.trim()).filter((s) => s.length > 0).map((s) => {
    if (!/^\d+$/.test(s)) throw new FormatError(`${where}: bad .npy shape (${shape[1]})`);
    return Number(s);
  });
  return { descr: descr[1], fortran: fortran[1] === "True", shape: dims };
}

/**
 * Parse one .npy member.
 * @param {Uint8Array} bytes the member's bytes
 * @param {string} where a label for error messages (e.g. "x.bundle:ac.npz/stream.npy")
 * @returns {{dtype: string, shape: number[], data: ArrayBufferView}} dtype is numpy's name ("float32", ...)
 */
export function parseNpy(bytes, where) {
  if (bytes.length < 10 || MAGIC.some((b, i) => bytes[i] !== b)) throw new FormatError(`${where}: not a .npy array (bad magic)`);
  const major = bytes[6];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let headerLen, start;
  if (major === 1) { headerLen = view.getUint16(8, true); start = 10; }
  else if (major === 2 || major === 3) {
    if (bytes.length < 12) throw new FormatError(`${where}: truncated .npy header`);
    headerLen = view.getUint32(8, true); start = 12;
  } else throw new FormatError(`${where}: .npy version ${major} is not supported`);
  if (start + headerLen > bytes.length) throw new FormatError(`${where}: truncated .npy header`);
  const text = new TextDecoder(major === 3 ? "utf-8" : "latin1").decode(bytes.subarray(start, start + headerLen));
  const { descr, fortran, shape } = parseHeader(text, where);
  const kind = DTYPES[descr];
  if (!kind) throw new FormatError(`${where}: dtype ${descr} is not one the format uses`);
  const count = shape.reduce((a, b) => a * b, 1);
  if (fortran && shape.length > 1 && count > 1) throw new FormatError(`${where}: Fortran-ordered arrays are not written by the format`);
  const [Ctor, size] = kind;
  const offset = start + headerLen;
  if (bytes.length - offset !== count * size) {
    throw new FormatError(`${where}: ${bytes.length - offset} data bytes for ${descr} [${shape}] (expected ${count * size}); truncated or corrupted`);
  }
  // copy into an aligned buffer (the member may sit at any offset of the zip)
  const copy = new Uint8Array(count * size);
  copy.set(bytes.subarray(offset));
  return { dtype: DTYPE_NAMES[descr], shape, data: new Ctor(copy.buffer) };
}

/** Number array view of an int64 array whose values are known to be small (|v| < 2^53). */
export function int64ToNumbers(data, where) {
  const out = new Float64Array(data.length);
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (v > 9007199254740991n || v < -9007199254740991n) throw new FormatError(`${where}: int64 value out of range`);
    out[i] = Number(v);
  }
  return out;
}
