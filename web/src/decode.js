// Decode a compressed bundle (format raht-gs-npz, versions 2, 3, 4 and 6) into the arrays a splat renderer
// takes: the JavaScript counterpart of codec.load_npz (codec/io.py) and codec/payload.py.
//
//   bundle → members (SHA-256 checked) → t.npz (steps, zero points), dc.npz, geometry.npz (octree →
//   voxels in Morton order; v4: the coding frame), transform.npz (v3/v4 basis), ac.npz (range-coded
//   codes, CRC-checked)
//   → per channel: coefficients [N] = [DC; scale·(code − zero_point)] → inverse RAHT → attribute column
//   → ·Bᵀ across the columns of each transform block → attributes as C columns of N values
//   → v4: positions and SH bands turned back by the coding frame (frame.js; the Euler angles are turned
//   by quaternions(columns, n, frame))
//
// Channels are decoded column by column (each channel is one range-coded stream and one RAHT), which
// keeps each step's memory small and lets channels be decoded independently.
//
// Conformance with Python: the voxels and the codes are identical (the octree and the CRC of the codes
// check it); the floats follow the same float32 operations, except the channel transform (a dot
// product summed in another order: float32 SIMD sums here, a float32 BLAS product in torch) and
// sin/cos/exp, so decoded values agree within float32 rounding of those steps (docs: web/README.md).

import { acContexts, codesCrc32, interleaveCodes, streamOffsets } from "./ac.js";
import { decodeChannels } from "./channels.js";
import { expectArray, npzArrays, parseManifest, readBundle, verifiedFiles } from "./container.js";
import { FLOAT_TABLES, INTEGER_TABLES, RangeReader } from "./entropy.js";
import { FormatError } from "./errors.js";
import { checkFrame, turnPositions, turnQuaternions, turnShColumns, turnedBasis } from "./frame.js";
import { channelColumns } from "./kernels.js";
import { decodeOctree } from "./octree.js";
import { buildPlan } from "./raht.js";

const MAX_DEPTH = 21;

/** Column names of the attribute matrix for SH degree d (codec/channel_layout.py). */
export function channelNames(shDegree) {
  const nRest = (shDegree + 1) ** 2 - 1;
  const names = ["opacity", "euler_phi", "euler_theta", "euler_psi", "f_dc_0", "f_dc_1", "f_dc_2"];
  for (let j = 0; j < 3 * nRest; j++) names.push(`f_rest_${j}`);
  return names.concat(["scale_0", "scale_1", "scale_2"]);
}

function requireInt(manifest, key, where, lo, hi) {
  const v = manifest[key];
  if (!Number.isInteger(v) || v < lo || v > hi) throw new FormatError(`${where}: ${key} must be an integer in [${lo}, ${hi}], got ${JSON.stringify(v)}`);
  return v;
}

/**
 * @param {Uint8Array} bytes a .bundle file
 * @param {{label?: string, progress?: (stage: string, fraction: number) => void,
 *          helpers?: Array<(task: object, transfer: ArrayBuffer[]) => Promise<object>>}} [options]
 *   helpers: threads that decode a share of the channels (channels.js runChannelTask on the other side;
 *   node/helpers.mjs and src/worker.js make them), used from options.minParallelGaussians Gaussians on
 *   (default channels.js MIN_PARALLEL_GAUSSIANS)
 *   preview: decode every channel but the SH bands (f_rest: three quarters of the channels at SH degree 3),
 *   which stay zero, on this thread: a quick first look for a viewer, followed by the full decode. Every
 *   check that does not need the bands' codes runs (the members' hashes, the manifest, the values, the
 *   octree); the CRC-32 of the AC codes covers all channels, so only the full decode checks it.
 * @returns {Promise<object>} {manifest, version, n, shDegree, nChannels, names, depth, bits, nBlock,
 *   coords {x,y,z} (Morton order), codeColumns (C arrays of the N − 1 AC codes; null for the bands of a
 *   preview), codes (the same as one [N − 1, C] row-major array, built on first use; not for a preview),
 *   means Float32Array [N·3], columns (C Float32Arrays of N: the attributes, channel by channel; the SH
 *   bands in world axes, the Euler angles relative to the coding frame: quaternions(columns, n, frame)
 *   turns them), frame (v4: Float32Array [4], else null), preview (true for a preview)}
 */
export async function decodeBundle(bytes, options = {}) {
  const label = options.label || "bundle";
  const progress = options.progress || (() => {});
  progress("verify", 0);
  const files = readBundle(bytes, label);
  const manifest = parseManifest(files["manifest.json"], label);
  const version = manifest.format_version;
  const raw = await verifiedFiles(files, manifest, label);
  const tables = version >= 6 ? INTEGER_TABLES : FLOAT_TABLES; // the models' probability tables (entropy.js)
  const mwhere = `${label}:manifest.json`;
  const depth = requireInt(manifest, "depth", mwhere, 1, MAX_DEPTH);
  const nBlock = requireInt(manifest, "n_block", mwhere, 1, 2 ** 31);
  const bits = requireInt(manifest, "bits", mwhere, 1, 16);
  const shDegree = requireInt(manifest, "sh_degree", mwhere, 0, 3);
  const n = requireInt(manifest, "n_gaussians", mwhere, 1, 2 ** 40);
  const names = channelNames(shDegree);
  const c = names.length;
  if (manifest.n_channels !== c || JSON.stringify(manifest.channel_names) !== JSON.stringify(names)) {
    throw new FormatError(`${mwhere}: channel layout does not match SH degree ${shDegree} (n_channels ${manifest.n_channels}, expected ${c})`);
  }
  if ((manifest.codec || "deflate") !== "range") throw new FormatError(`${mwhere}: codec ${JSON.stringify(manifest.codec)} does not belong to format_version ${version}`);
  if (n > 1 && n - 1 < nBlock) throw new FormatError(`${mwhere}: n_block ${nBlock} exceeds the ${n - 1} AC coefficients`);

  let where = `${label}:t.npz`;
  const t = expectArray(npzArrays(raw["t.npz"], where, ["t"]).t, "float64", [2 + 2 * c * nBlock], where, "t");
  if (t[0] !== depth || t[1] !== nBlock) throw new FormatError(`${where}: depth/n_block (${t[0]}, ${t[1]}) disagree with the manifest (${depth}, ${nBlock})`);
  const scale = new Float32Array(c * nBlock), zeroPoint = new Float32Array(c * nBlock);
  for (let i = 0; i < c * nBlock; i++) {
    scale[i] = t[2 + 2 * i]; zeroPoint[i] = t[3 + 2 * i];
    if (scale[i] !== t[2 + 2 * i] || zeroPoint[i] !== t[3 + 2 * i]) throw new FormatError(`${where}: quantizer parameters are not float32 values (corrupted table)`);
  }

  where = `${label}:dc.npz`;
  const dc = expectArray(npzArrays(raw["dc.npz"], where, ["dc"]).dc, "float32", [c], where, "dc");

  where = `${label}:geometry.npz`;
  const geo = npzArrays(raw["geometry.npz"], where, version >= 4 ? ["bbox", "frame", "octree"] : ["bbox", "octree"]);
  const bbox = expectArray(geo.bbox, "float32", [6], where, "bbox");
  const frame = version >= 4 ? checkFrame(geo.frame, where) : null;
  const octreeWords = expectArray(geo.octree, "uint32", [null], where, "octree");
  progress("octree", 0);
  let coords;
  try {
    coords = decodeOctree(new RangeReader(octreeWords, tables), depth, n, (level) => progress("octree", level / depth));
  } catch (err) {
    throw new FormatError(`${where}: octree does not decode (${err.message})`);
  }

  let basis = null;
  if (version >= 3) {
    where = `${label}:transform.npz`;
    const b = npzArrays(raw["transform.npz"], where, ["basis"]).basis;
    if (b.dtype !== "float32" || !(b.shape.length === 2 && ((b.shape[0] === 0 && b.shape[1] === 0) || (b.shape[0] === c && b.shape[1] === c)))) {
      throw new FormatError(`${where}: basis must be float32 [${c}, ${c}] or [0, 0], got ${b.dtype} [${b.shape.join(", ")}]`);
    }
    basis = b.data.length ? b.data : null;
  }
  checkValues({ scale, zeroPoint, dc, bbox, basis, bits, c }, label);

  progress("plan", 0);
  const plan = buildPlan(coords, depth);
  where = `${label}:ac.npz`;
  const acArrays = npzArrays(raw["ac.npz"], where, ["model", "r_range", "geometric_k", "words", "stream", "crc32"]);
  const ac = {
    model: expectArray(acArrays.model, "uint8", [c], where, "model"),
    r_range: expectArray(acArrays.r_range, "int32", [c, 2], where, "r_range"),
    geometric_k: expectArray(acArrays.geometric_k, "int16", [c, nBlock + 12], where, "geometric_k"),
    words: Array.from(expectArray(acArrays.words, "int64", [c], where, "words"), Number),
    stream: expectArray(acArrays.stream, "uint32", [null], where, "stream"),
    crc32: expectArray(acArrays.crc32, "uint32", [1], where, "crc32"),
  };
  if (ac.words.some((w) => w < 0) || ac.words.reduce((a, b) => a + b, 0) !== ac.stream.length) {
    throw new FormatError(`${where}: AC streams do not decode (per-channel word counts disagree with the stream)`);
  }
  const ctx = acContexts(plan.acWeight, nBlock);
  const offsets = streamOffsets(ac.words);
  const { columns, transform } = channelColumns(n, c);
  const job = { ac, offsets, ctx, plan, quant: { dc, scale, zeroPoint, nBlock, bits, tables }, where };
  const preview = Boolean(options.preview);
  const bands = [7, c - 3];  // the f_rest channels [lo, hi)
  // a preview decodes every channel but the SH bands (their columns stay zero), the helpers taking a share
  const spans = preview ? [[0, bands[0]], [bands[1], c]] : [[0, c]];
  const codeColumns = await decodeChannels(job, spans, columns, options.helpers || [],
    (fraction) => progress("channels", fraction), options.minParallelGaussians);
  if (!preview && codesCrc32(codeColumns, n - 1) !== ac.crc32[0]) {
    throw new FormatError(`${where}: AC streams do not decode (decoded AC codes fail their CRC-32: decoder models differ from the encoder's)`);
  }

  // (every code is in [0, 2^bits − 1]: decodeAcChannel refuses a channel whose codes leave it)

  progress("transform", 0);
  // the frame's turn of the SH bands rides on the channel transform when there is one (a preview's bands are
  // zero: neither applies to them)
  const turnInBasis = Boolean(basis) && !preview;
  if (basis) {
    const b = turnInBasis ? turnedBasis(basis, c, shDegree, frame) : basis;
    // a preview skips the blocks of the bands alone (their columns are zero)
    const blocks = nonIdentityBlocks(b, c).filter(([lo, hi]) => !(preview && lo >= bands[0] && hi <= bands[1]));
    if (transform) transform(b, blocks);
    else transformColumnsJs(columns, b, blocks, n, c);
  }
  const means = turnPositions(voxelCentres(coords, bbox, depth), frame);
  if (!preview && !turnInBasis) turnShColumns(columns, shDegree, n, frame);
  progress("done", 1);
  let codes = null;
  return {
    manifest, version, n, shDegree, nChannels: c, names, depth, bits, nBlock, coords, codeColumns, means, columns, frame,
    preview,
    /** The AC codes as one [N − 1, C] row-major array (built on first use). */
    get codes() {
      if (preview) throw new Error("a preview decodes no SH band codes");
      codes = codes || interleaveCodes(codeColumns, n - 1);
      return codes;
    },
  };
}

/**
 * The value checks of codec/payload.py CompressedPayload.validate, in its order and with its messages:
 * finite steps, zero points, DC and box; steps > 0; zero points in [0, 2^bits − 1]; box min ≤ max; a
 * finite, orthonormal channel basis (|B·Bᵀ − I| ≤ 1e-4, in float64). (The frame: frame.js checkFrame.)
 */
export function checkValues({ scale, zeroPoint, dc, bbox, basis, bits, c }, label) {
  const bad = (msg) => { throw new FormatError(`${label}: ${msg}`); };
  const finite = (arr) => arr.every((v) => Number.isFinite(v));
  for (const [name, arr] of [["scale", scale], ["zero_point", zeroPoint], ["dc", dc], ["bbox_min", bbox.subarray(0, 3)],
    ["bbox_max", bbox.subarray(3, 6)]]) {
    if (!finite(arr)) bad(`${name} contains NaN or inf`);
  }
  if (!scale.every((v) => v > 0)) bad("every quantizer scale must be > 0");
  const qmax = 2 ** bits - 1;
  if (!zeroPoint.every((v) => v >= 0 && v <= qmax)) bad(`zero points must lie in [0, ${qmax}] for ${bits}-bit codes`);
  if (!(bbox[0] <= bbox[3] && bbox[1] <= bbox[4] && bbox[2] <= bbox[5])) {
    bad(`bbox min [${Array.from(bbox.subarray(0, 3)).join(", ")}] exceeds max [${Array.from(bbox.subarray(3, 6)).join(", ")}]`);
  }
  if (basis) {
    if (!finite(basis)) bad(`channel_basis must be finite float32 [${c}, ${c}]`);
    let worst = 0;
    for (let a = 0; a < c; a++) {
      for (let k = 0; k < c; k++) {
        let sum = 0;
        for (let j = 0; j < c; j++) sum += basis[a * c + j] * basis[k * c + j];
        worst = Math.max(worst, Math.abs(sum - (a === k ? 1 : 0)));
      }
    }
    if (worst > 1e-4) bad("channel_basis is not orthonormal");
  }
}

/**
 * The channel transform on columns in JavaScript (without WebAssembly): for every non-identity
 * diagonal block [lo, hi) of B, x[lo + a] = Σ_k y[lo + k]·B[lo + a, lo + k] per row, summed in float64.
 */
function transformColumnsJs(columns, basis, blocks, n, c) {
  for (const [lo, hi] of blocks) {
    const w = hi - lo;
    const cols = columns.slice(lo, hi);
    const m = new Float64Array(w * w);
    for (let a = 0; a < w; a++) for (let k = 0; k < w; k++) m[a * w + k] = basis[(lo + a) * c + lo + k];
    const y = new Float64Array(w);
    for (let i = 0; i < n; i++) {
      for (let k = 0; k < w; k++) y[k] = cols[k][i];
      for (let a = 0; a < w; a++) {
        let sum = 0;
        for (let k = 0, o = a * w; k < w; k++) sum += y[k] * m[o + k];
        cols[a][i] = sum;
      }
    }
  }
}

/** [lo, hi] of the diagonal blocks of B that are not the identity. */
function nonIdentityBlocks(basis, c) {
  return basisBlocks(basis, c).filter((b) => !b[2]).map(([lo, hi]) => [lo, hi]);
}

/** [lo, hi, isIdentity] runs of columns that B maps onto themselves (its diagonal blocks). */
function basisBlocks(basis, c) {
  // reach[a]: the largest column index coupled to column a (either direction)
  const blocks = [];
  let lo = 0, hi = 0;
  for (let a = 0; a < c; a++) {
    if (a >= hi && a > lo) { blocks.push([lo, hi]); lo = a; }
    for (let k = 0; k < c; k++) if (basis[a * c + k] !== 0 || basis[k * c + a] !== 0) hi = Math.max(hi, k + 1, a + 1);
    hi = Math.max(hi, a + 1);
  }
  blocks.push([lo, hi]);
  return blocks.map(([l, h]) => {
    let identity = true;
    for (let a = l; a < h && identity; a++) for (let k = l; k < h; k++) if (basis[a * c + k] !== (a === k ? 1 : 0)) { identity = false; break; }
    return [l, h, identity];
  });
}

/** Voxel centres min + (c + ½)·Δ, Δ = (max − min)/2^d, in float32 (raht/voxelize.py). */
export function voxelCentres(coords, bbox, depth) {
  const f = Math.fround;
  const n = coords.x.length;
  const out = new Float32Array(3 * n);
  const axes = [coords.x, coords.y, coords.z];
  for (let a = 0; a < 3; a++) {
    const lo = bbox[a], delta = f(f(bbox[a + 3] - lo) / 2 ** depth);
    const v = axes[a];
    for (let i = 0; i < n; i++) out[3 * i + a] = lo + f((v[i] + 0.5) * delta);
  }
  return out;
}

/**
 * Unit quaternions (w, x, y, z) [N·4] of the Euler ZYX angles (columns 1..3 of the attributes;
 * utils/rotations.py), turned by the coding frame when there is one (q_F ⊗ q).
 */
export function quaternions(columns, n, frame = null) {
  const out = new Float32Array(4 * n);
  const phi = columns[1], theta = columns[2], psi = columns[3];
  for (let i = 0; i < n; i++) {
    const hp = 0.5 * phi[i], ht = 0.5 * theta[i], hy = 0.5 * psi[i];
    const cp = Math.cos(hp), sp = Math.sin(hp), ct = Math.cos(ht), st = Math.sin(ht), cy = Math.cos(hy), sy = Math.sin(hy);
    out[4 * i] = cp * ct * cy + sp * st * sy;
    out[4 * i + 1] = sp * ct * cy - cp * st * sy;
    out[4 * i + 2] = cp * st * cy + sp * ct * sy;
    out[4 * i + 3] = cp * ct * sy - sp * st * cy;
  }
  return turnQuaternions(out, frame);
}

/** Rows per block when columns are interleaved (a block of rows stays in the cache while it fills). */
const INTERLEAVE_ROWS = 1024;

/** Interleave `count` columns starting at `first` into one [N, count] row-major array. */
export function interleaveColumns(columns, first, count, n) {
  const out = new Float32Array(n * count);
  for (let r0 = 0; r0 < n; r0 += INTERLEAVE_ROWS) {
    const r1 = Math.min(n, r0 + INTERLEAVE_ROWS);
    for (let k = 0; k < count; k++) {
      const col = columns[first + k];
      for (let i = r0, at = r0 * count + k; i < r1; i++, at += count) out[at] = col[i];
    }
  }
  return out;
}

/**
 * Renderer-ready arrays: positions [N·3], rotations (w, x, y, z) [N·4], scales (exp) [N·3],
 * opacities (sigmoid) [N], colour DC f_dc [N·3] and f_rest [N·3(K−1)] (INRIA order: channel-major);
 * shDegree 0 and no f_rest for a preview.
 */
export function splatArrays(decoded) {
  const { n, nChannels: c, columns } = decoded;
  const shDegree = decoded.preview ? 0 : decoded.shDegree;  // a preview has no bands
  const nRest = 3 * ((shDegree + 1) ** 2 - 1);
  const opacities = new Float32Array(n);
  const logit = columns[0];
  for (let i = 0; i < n; i++) opacities[i] = 1 / (1 + Math.exp(-logit[i]));
  const scales = interleaveColumns(columns, c - 3, 3, n);
  for (let i = 0; i < 3 * n; i++) scales[i] = Math.exp(scales[i]);
  return {
    n, shDegree, positions: decoded.means, rotations: quaternions(columns, n, decoded.frame), scales, opacities,
    fdc: interleaveColumns(columns, 4, 3, n), frest: interleaveColumns(columns, 7, nRest, n),
  };
}
