// The chunked file (format version 5, codec/chunked.py): independent chunks behind an index.
//
//   bytes 0–15   magic "RAHT-GS-CHUNKS/1"
//   bytes 16–19  L, the index length (uint32 little endian)
//   20 … 20+L−1  the index: UTF-8 JSON {format, format_version 5, n_gaussians, sh_degree,
//                chunks: [{offset, bytes, n_gaussians, bbox [x0 y0 z0 x1 y1 z1], sha256}], configuration}
//   then         SHA-256 of bytes 0 … 20+L−1 (32 bytes)
//   then         the chunks' bundles, in index order, nothing between or after
//
// Every check of the Python reader is made here, in the same order, before a chunk is decoded; a client
// that fetches with HTTP Range requests reads the first 20 bytes, then the index (indexRange), then any
// chunk in any order (chunkRange).

import { sha256Hex } from "./container.js";
import { decodeBundle } from "./decode.js";
import { FormatError } from "./errors.js";

export const CHUNKED_MAGIC = "RAHT-GS-CHUNKS/1";
export const CHUNKED_FORMAT = "raht-gs-chunks";
export const CHUNKED_VERSION = 5;
export const HEADER_BYTES = CHUNKED_MAGIC.length + 4;
const DIGEST_BYTES = 32;
const MAX_INDEX_BYTES = 64 << 20;
const BBOX_SLACK = 1e-5;

/** Whether bytes (at least the first 16) start a chunked file. */
export function isChunked(bytes) {
  if (bytes.length < CHUNKED_MAGIC.length) return false;
  for (let i = 0; i < CHUNKED_MAGIC.length; i++) if (bytes[i] !== CHUNKED_MAGIC.charCodeAt(i)) return false;
  return true;
}

function require(cond, where, what) {
  if (!cond) throw new FormatError(`${where}: ${what}`);
}

function intField(d, key, where, lo, hi) {
  const v = d[key];
  require(Number.isInteger(v) && v >= lo && v <= hi, where, `${key} must be an integer in [${lo}, ${hi}], got ${JSON.stringify(v)}`);
  return v;
}

/** The byte range [start, end) holding the header, the index and its checksum, from the first 20 bytes. */
export function indexRange(head, label = "file") {
  require(isChunked(head), label, `not a chunked file (the magic '${CHUNKED_MAGIC}' is missing)`);
  require(head.length >= HEADER_BYTES, `${label} (chunk index)`, "truncated before the index length");
  const length = new DataView(head.buffer, head.byteOffset, head.byteLength).getUint32(CHUNKED_MAGIC.length, true);
  require(length > 0 && length <= MAX_INDEX_BYTES, `${label} (chunk index)`, `index length ${length} B is not in [1, ${MAX_INDEX_BYTES}]`);
  return [0, HEADER_BYTES + length + DIGEST_BYTES];
}

/**
 * The checked index of a chunked file.
 * @param {Uint8Array} head the file's first bytes, at least through the index checksum (indexRange)
 * @param {number} totalBytes the file's size (the chunks must end exactly there)
 */
export async function parseChunkIndex(head, totalBytes, label = "file") {
  const where = `${label} (chunk index)`;
  const [, end] = indexRange(head, label);
  const length = end - HEADER_BYTES - DIGEST_BYTES;
  require(head.length >= end && totalBytes >= end, where, `the file ends inside the index (${Math.min(head.length, totalBytes)} of ${end} B): truncated`);
  const digest = await sha256Hex(head.subarray(0, HEADER_BYTES + length));
  const stored = Array.from(head.subarray(HEADER_BYTES + length, end), (b) => b.toString(16).padStart(2, "0")).join("");
  require(digest === stored, where, "checksum mismatch (the index or its length is corrupted)");
  let index;
  try {
    index = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(head.subarray(HEADER_BYTES, HEADER_BYTES + length)));
  } catch (err) {
    throw new FormatError(`${where}: not valid JSON (${err.message})`);
  }
  require(index && typeof index === "object" && index.format === CHUNKED_FORMAT, where, `format must be '${CHUNKED_FORMAT}'`);
  const version = index.format_version;
  require(Number.isInteger(version), where, `invalid format_version ${JSON.stringify(version)}`);
  require(version <= CHUNKED_VERSION, where, `written by a newer version of the format (format_version ${version} > ${CHUNKED_VERSION} supported here); update this code to read it`);
  require(version === CHUNKED_VERSION, where, `format_version ${version} is not a chunked version`);
  const shDegree = intField(index, "sh_degree", where, 0, 3);
  const nTotal = intField(index, "n_gaussians", where, 1, 2 ** 40);
  require(Array.isArray(index.chunks) && index.chunks.length >= 1, where, "chunks must be a non-empty list");
  const chunks = [];
  let offset = end;
  index.chunks.forEach((c, i) => {
    const cw = `${where} chunk ${i}`;
    require(c && typeof c === "object" && !Array.isArray(c), cw, "not an object");
    const off = intField(c, "offset", cw, 0, 2 ** 50);
    const bytes = intField(c, "bytes", cw, 1, 2 ** 50);
    const n = intField(c, "n_gaussians", cw, 1, 2 ** 40);
    require(off === offset, cw, `starts at byte ${off}, expected ${offset} (chunks follow the index without gaps)`);
    const box = c.bbox;
    require(Array.isArray(box) && box.length === 6 && box.every((v) => typeof v === "number" && Number.isFinite(v)), cw,
      `bbox must be 6 finite numbers, got ${JSON.stringify(box)}`);
    require([0, 1, 2].every((k) => box[k] <= box[k + 3]), cw, `bbox [${box.join(", ")}] has a minimum above its maximum`);
    require(typeof c.sha256 === "string" && /^[0-9a-f]{64}$/.test(c.sha256), cw, "sha256 must be 64 lowercase hex digits");
    chunks.push({ offset: off, bytes, n, bbox: box.slice(), sha256: c.sha256 });
    offset += bytes;
  });
  require(offset === totalBytes, where, `the chunks end at byte ${offset} but the file has ${totalBytes} B (${offset > totalBytes ? "truncated" : "trailing bytes"})`);
  const sum = chunks.reduce((s, c) => s + c.n, 0);
  require(sum === nTotal, where, `n_gaussians ${nTotal} is not the sum over the chunks (${sum})`);
  const configuration = index.configuration === undefined ? {} : index.configuration;
  require(configuration && typeof configuration === "object" && !Array.isArray(configuration), where, "configuration must be an object");
  return { n: nTotal, shDegree, chunks, configuration, dataOffset: end, totalBytes };
}

/** The byte range [start, end) of chunk i (for an HTTP Range request). */
export function chunkRange(index, i) {
  const c = index.chunks[i];
  return [c.offset, c.offset + c.bytes];
}

/**
 * Decode one chunk's bundle after checking it against its index entry (SHA-256, count, SH degree, box).
 * @returns the decodeBundle result of the chunk
 */
export async function decodeChunk(bytes, index, i, options = {}) {
  const label = `${options.label || "file"} chunk ${i}`;
  const entry = index.chunks[i];
  require(bytes.length === entry.bytes, label, `truncated (${bytes.length} of ${entry.bytes} B)`);
  require(await sha256Hex(bytes) === entry.sha256, label, "SHA-256 mismatch with the index (corrupted chunk)");
  const decoded = await decodeBundle(bytes, { ...options, label });
  require(decoded.n === entry.n, label, `holds ${decoded.n} Gaussians, the index says ${entry.n}`);
  require(decoded.shDegree === index.shDegree, label, `SH degree ${decoded.shDegree}, the index says ${index.shDegree}`);
  const b = entry.bbox;
  const slack = BBOX_SLACK * Math.max(Math.hypot(b[3] - b[0], b[4] - b[1], b[5] - b[2]), 1e-6);
  let outside = 0;
  const m = decoded.means;
  for (let k = 0; k < decoded.n; k++) {
    for (let a = 0; a < 3; a++) {
      const v = m[3 * k + a];
      if (v < b[a] - slack || v > b[a + 3] + slack) { outside++; break; }
    }
  }
  require(outside === 0, label, `${outside} decoded positions lie outside the index's bbox [${b.join(", ")}]`);
  return decoded;
}

/** The index of a whole chunked file held in memory (parseChunkIndex of its head). */
export async function readChunkIndex(bytes, label = "file") {
  const end = indexRange(bytes.subarray(0, HEADER_BYTES), label)[1];
  return parseChunkIndex(bytes.subarray(0, Math.min(bytes.length, end)), bytes.length, label);
}

/**
 * Decode every chunk of a whole chunked file held in memory, in index order.
 * @returns {{index, chunks: Array}} chunks: the decodeBundle results; with options.partial a damaged chunk
 *   is {error: message} and the others still decode
 */
export async function decodeChunkedFile(bytes, options = {}) {
  const label = options.label || "file";
  const index = await readChunkIndex(bytes, label);
  const chunks = [];
  for (let i = 0; i < index.chunks.length; i++) {
    const [s, e] = chunkRange(index, i);
    try {
      chunks.push(await decodeChunk(bytes.subarray(s, e), index, i, options));
    } catch (err) {
      if (!options.partial || !(err instanceof FormatError)) throw err;
      chunks.push({ error: err.message });
    }
  }
  return { index, chunks };
}
