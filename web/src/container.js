// The bundle container (codec/container.py): a zip (members stored or deflated) whose archive comment is the
// magic "RAHT-GS-NPZ-BUNDLE/1"; "manifest.json" lists every other member with its size and SHA-256,
// and each data member is itself an .npz (a zip of .npy arrays). Unzipping is fflate's.
//
// Everything here is checked before a byte reaches a decoder: the magic, the manifest's format
// name and version, the presence, size and SHA-256 of each member the version needs.

import { unzipSync } from "fflate";

import { crc32 } from "./ac.js";
import { FormatError } from "./errors.js";
import { parseNpy } from "./npy.js";

export const FORMAT_NAME = "raht-gs-npz";
export const BUNDLE_MAGIC = "RAHT-GS-NPZ-BUNDLE/1";
export const MANIFEST = "manifest.json";
const DATA_FILES = ["t.npz", "dc.npz", "ac.npz", "geometry.npz"];
/** format_version → its data members; versions this decoder reads (v1 is refused with a message) */
export const VERSION_MEMBERS = {
  2: DATA_FILES, 3: [...DATA_FILES, "transform.npz"], 4: [...DATA_FILES, "transform.npz"], 6: [...DATA_FILES, "transform.npz"],
};
export const NEWEST_VERSION = 6;

/** The archive comment of a zip (from its end-of-central-directory record), or null when there is none. */
function zipComment(bytes) {
  // EOCD: signature 0x06054b50, 22 bytes + comment (≤ 65535 bytes), at the very end of the file
  const min = Math.max(0, bytes.length - 22 - 65535);
  for (let i = bytes.length - 22; i >= min; i--) {
    if (bytes[i] === 0x50 && bytes[i + 1] === 0x4b && bytes[i + 2] === 0x05 && bytes[i + 3] === 0x06) {
      const len = bytes[i + 20] | (bytes[i + 21] << 8);
      if (i + 22 + len === bytes.length) return bytes.subarray(i + 22, i + 22 + len);
    }
  }
  return null;
}

function unzip(bytes, where) {
  try {
    return unzipSync(bytes);
  } catch (err) {
    throw new FormatError(`${where}: not a readable zip archive (${err.message}); truncated, corrupted or a foreign file`);
  }
}

/**
 * The members of a bundle.
 * @param {Uint8Array} bytes the whole .bundle file
 * @param {string} label the file's name, for messages
 * @returns {Object<string, Uint8Array>}
 */
export function readBundle(bytes, label) {
  const comment = zipComment(bytes);
  const magic = new TextEncoder().encode(BUNDLE_MAGIC);
  const isMagic = comment && comment.length === magic.length && magic.every((b, i) => comment[i] === b);
  if (!isMagic) {
    const startsLikeBundle = bytes.length > 30 + MANIFEST.length && bytes[0] === 0x50 && bytes[1] === 0x4b
      && new TextDecoder().decode(bytes.subarray(30, 30 + MANIFEST.length)) === MANIFEST;
    if (startsLikeBundle) {
      throw new FormatError(`${label}: truncated or corrupted bundle (its end, holding the magic '${BUNDLE_MAGIC}', is missing or damaged)`);
    }
    throw new FormatError(`${label}: foreign file: the bundle magic '${BUNDLE_MAGIC}' is missing`);
  }
  const files = unzip(bytes, label);
  if (!(MANIFEST in files)) throw new FormatError(`${label}: member ${MANIFEST} is missing from the bundle`);
  // the data members are covered by the manifest's SHA-256; the manifest itself by the zip's CRC-32 (as
  // Python's zipfile checks it)
  const stored = centralCrc32(bytes, MANIFEST);
  if (stored === null || (crc32(files[MANIFEST]) >>> 0) !== stored) {
    throw new FormatError(`${label}: member ${MANIFEST} is corrupted or truncated (CRC-32 mismatch with the zip directory)`);
  }
  return files;
}

/** The CRC-32 the zip's central directory records for member `name` (null when it has no such entry). */
function centralCrc32(bytes, name) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const min = Math.max(0, bytes.length - 22 - 65535);
  for (let i = bytes.length - 22; i >= min; i--) {
    if (view.getUint32(i, true) !== 0x06054b50) continue;
    const count = view.getUint16(i + 10, true);
    let p = view.getUint32(i + 16, true);
    const want = new TextEncoder().encode(name);
    for (let k = 0; k < count && p + 46 <= bytes.length; k++) {
      if (view.getUint32(p, true) !== 0x02014b50) return null;
      const nameLen = view.getUint16(p + 28, true), extra = view.getUint16(p + 30, true), comment = view.getUint16(p + 32, true);
      const entry = bytes.subarray(p + 46, p + 46 + nameLen);
      if (entry.length === want.length && entry.every((b, j) => b === want[j])) return view.getUint32(p + 16, true);
      p += 46 + nameLen + extra + comment;
    }
    return null;
  }
  return null;
}

/** The manifest, after checking the format name and that its version is one this decoder reads. */
export function parseManifest(raw, label) {
  const where = `${label}:${MANIFEST}`;
  let manifest;
  try {
    manifest = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(raw));
  } catch (err) {
    throw new FormatError(`${where}: not valid JSON (${err.message}); corrupted or foreign file`);
  }
  if (manifest === null || typeof manifest !== "object" || manifest.format !== FORMAT_NAME) {
    throw new FormatError(`${where}: foreign file: format is ${JSON.stringify(manifest && manifest.format)}, expected '${FORMAT_NAME}'`);
  }
  const version = manifest.format_version;
  if (!Number.isInteger(version) || version < 1) throw new FormatError(`${where}: invalid format_version ${JSON.stringify(version)}`);
  if (version > NEWEST_VERSION) {
    throw new FormatError(`${where}: written by a newer version of the format (format_version ${version} > ${NEWEST_VERSION} supported here); update this decoder`);
  }
  if (version === 1) {
    throw new FormatError(`${where}: format_version ${version} is not decoded in the browser (zip-compressed raw codes); `
      + `decode it with Python (decompress.py) or re-encode it with compress.py (format ${NEWEST_VERSION})`);
  }
  if (!(version in VERSION_MEMBERS)) {
    throw new FormatError(`${where}: format_version ${version} is not a bundle version (readers for ${Object.keys(VERSION_MEMBERS).join(", ")})`);
  }
  return manifest;
}

function hex(buffer) {
  return Array.from(new Uint8Array(buffer), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** SHA-256 (hex) of bytes, with WebCrypto (the browser's, and Node's globalThis.crypto). */
export async function sha256Hex(bytes) {
  const subtle = globalThis.crypto && globalThis.crypto.subtle;
  if (!subtle) throw new Error("WebCrypto (crypto.subtle) is not available: the SHA-256 checks cannot run");
  return hex(await subtle.digest("SHA-256", bytes));
}

/** The data members of the manifest's version, each present and matching its size and SHA-256. */
export async function verifiedFiles(files, manifest, label) {
  const mwhere = `${label}:${MANIFEST}`;
  const listed = manifest.files;
  if (listed === null || typeof listed !== "object") throw new FormatError(`${mwhere}: no 'files' table`);
  const out = {};
  for (const name of VERSION_MEMBERS[manifest.format_version]) {
    const where = `${label}:${name}`;
    const raw = files[name];
    if (raw === undefined) throw new FormatError(`${where}: missing member (incomplete or foreign compressed model)`);
    const entry = listed[name];
    if (entry === null || typeof entry !== "object") throw new FormatError(`${mwhere}: no entry for ${name}`);
    if (entry.bytes !== raw.length) {
      throw new FormatError(`${where}: size ${raw.length} B differs from the manifest's ${entry.bytes} B (truncated or replaced file)`);
    }
    if (entry.sha256 !== await sha256Hex(raw)) throw new FormatError(`${where}: SHA-256 mismatch with the manifest (corrupted file)`);
    out[name] = raw;
  }
  return out;
}

/**
 * Arrays of an .npz member.
 * @param {Uint8Array} raw the member
 * @param {string} where label for messages
 * @param {string[]} keys the arrays it must hold
 * @returns {Object<string, {dtype: string, shape: number[], data: ArrayBufferView}>}
 */
export function npzArrays(raw, where, keys) {
  const members = unzip(raw, where);
  const out = {};
  const missing = keys.filter((k) => !((k + ".npy") in members));
  if (missing.length) {
    const found = Object.keys(members).map((n) => n.replace(/\.npy$/, "")).sort();
    throw new FormatError(`${where}: missing array(s) ${JSON.stringify(missing)} (found ${JSON.stringify(found)})`);
  }
  for (const k of keys) out[k] = parseNpy(members[k + ".npy"], `${where}/${k}.npy`);
  return out;
}

/** Check an array's dtype and shape (``shape`` entries null = any length). */
export function expectArray(arr, dtype, shape, where, name) {
  const okShape = arr.shape.length === shape.length && shape.every((s, i) => s === null || s === arr.shape[i]);
  if (arr.dtype !== dtype || !okShape) {
    const want = shape.map((s) => (s === null ? "n" : s)).join(", ");
    throw new FormatError(`${where}: ${name} must be ${dtype} [${want}], got ${arr.dtype} [${arr.shape.join(", ")}]`);
  }
  return arr.data;
}
