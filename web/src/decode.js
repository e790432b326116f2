// Decode a compressed bundle (format raht-gs-npz, versions 2 and 3) into the arrays a splat renderer
// takes: the JavaScript counterpart of codec.load_npz (codec/io.py) and codec/payload.py.
//
//   bundle → members (SHA-256 checked) → t.npz (steps, zero points), dc.npz, geometry.npz (octree →
//   voxels in Morton order), transform.npz (v3 basis), ac.npz (range-coded codes, CRC-checked)
//   → coefficients [N, C] = [DC; scale·(code − zero_point)] → inverse RAHT → ·Bᵀ → attributes [N, C]
//
// Conformance with Python: the voxels and the codes are identical (the octree and the CRC of the codes
// check it); the floats follow the same float32 operations, except the channel transform (a dot
// product summed in float64 here, a float32 BLAS product in torch) and sin/cos/exp, so decoded
// values agree within float32 rounding of those steps (docs: web/README.md).

import { decodeAc, splitLength } from "./ac.js";
import { expectArray, npzArrays, parseManifest, readBundle, verifiedFiles } from "./container.js";
import { RangeReader } from "./entropy.js";
import { FormatError } from "./errors.js";
import { wasmInverseTransform, wasmKernels } from "./kernels.js";
import { decodeOctree } from "./octree.js";
import { buildPlan, rahtInverse } from "./raht.js";

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
 * @param {{label?: string, progress?: (stage: string, fraction: number) => void}} [options]
 * @returns {Promise<object>} {manifest, version, n, shDegree, nChannels, names, depth, bits, nBlock,
 *   coords {x,y,z} (Morton order), codes [N−1, C], means Float32Array [N·3], attributes Float32Array [N·C]}
 */
export async function decodeBundle(bytes, options = {}) {
  const label = options.label || "bundle";
  const progress = options.progress || (() => {});
  progress("verify", 0);
  const files = readBundle(bytes, label);
  const manifest = parseManifest(files["manifest.json"], label);
  const version = manifest.format_version;
  const raw = await verifiedFiles(files, manifest, label);
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
  const geo = npzArrays(raw["geometry.npz"], where, ["bbox", "octree"]);
  const bbox = expectArray(geo.bbox, "float32", [6], where, "bbox");
  const octreeWords = expectArray(geo.octree, "uint32", [null], where, "octree");
  progress("octree", 0);
  let coords;
  try {
    coords = decodeOctree(new RangeReader(octreeWords), depth, n, (level) => progress("octree", level / depth));
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
  let codes;
  try {
    codes = decodeAc(ac, zeroPoint, plan.acWeight, { c, nBlock, bits }, (ch) => progress("ac", ch / c));
  } catch (err) {
    throw new FormatError(`${where}: AC streams do not decode (${err.message})`);
  }

  progress("transform", 0);
  const fill = (out) => dequantize(out, codes, dc, scale, zeroPoint, n, c, nBlock);
  const kernels = wasmKernels();
  let attributes = kernels && wasmInverseTransform(kernels, fill, plan, n, c, basis, basis ? nonIdentityBlocks(basis, c) : []);
  if (!attributes) {  // the JavaScript reference
    const work = new Float32Array(n * c);
    fill(work);
    rahtInverse(work, c, plan);
    attributes = basis ? applyBasisTranspose(work, basis, n, c) : work;
  }
  const means = voxelCentres(coords, bbox, depth);
  progress("done", 1);
  return { manifest, version, n, shDegree, nChannels: c, names, depth, bits, nBlock, coords, codes, means, attributes };
}

/** RAHT coefficients [N, C] (float32) into `work`: the DC row, then scale·(code − zero point) of every AC slot. */
function dequantize(work, codes, dc, scale, zeroPoint, n, c, nBlock) {
  work.set(dc, 0);
  if (n === 1) return work;
  // the quantizer parameters block by block, channels contiguous
  const s32 = new Float32Array(nBlock * c), z32 = new Float32Array(nBlock * c);
  for (let ch = 0; ch < c; ch++) {
    for (let j = 0; j < nBlock; j++) { s32[j * c + ch] = scale[ch * nBlock + j]; z32[j * c + ch] = zeroPoint[ch * nBlock + j]; }
  }
  const f = Math.fround;
  const lengths = splitLength(n - 1, nBlock);
  for (let j = 0, start = 0; j < nBlock; start += lengths[j], j++) {
    const base = j * c, end = start + lengths[j];
    for (let s = start; s < end; s++) {
      const row = (s + 1) * c, crow = s * c;
      for (let ch = 0; ch < c; ch++) {
        work[row + ch] = f(codes[crow + ch] - z32[base + ch]) * s32[base + ch];  // (code − z) rounded, then ·s rounded
      }
    }
  }
  return work;
}

/**
 * X = Y·Bᵀ per row. B is block diagonal over runs of columns (identity outside the KLT groups): the
 * blocks are found from its zero pattern, identity blocks are copied, the others multiplied densely
 * (four output columns per pass over the row, sums in float64).
 */
function applyBasisTranspose(y, basis, n, c) {
  const blocks = basisBlocks(basis, c);
  const bt = Float64Array.from(basis);
  const out = new Float32Array(n * c);
  const row = new Float64Array(c);
  for (let i = 0; i < n; i++) {
    const base = i * c;
    for (let k = 0; k < c; k++) row[k] = y[base + k];
    for (const [lo, hi, identity] of blocks) {
      if (identity) {
        for (let a = lo; a < hi; a++) out[base + a] = row[a];
        continue;
      }
      let a = lo;
      for (; a + 4 <= hi; a += 4) {
        const o0 = a * c, o1 = o0 + c, o2 = o1 + c, o3 = o2 + c;
        let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        for (let k = lo; k < hi; k++) {
          const v = row[k];
          s0 += v * bt[o0 + k]; s1 += v * bt[o1 + k]; s2 += v * bt[o2 + k]; s3 += v * bt[o3 + k];
        }
        out[base + a] = s0; out[base + a + 1] = s1; out[base + a + 2] = s2; out[base + a + 3] = s3;
      }
      for (; a < hi; a++) {
        const o = a * c;
        let sum = 0;
        for (let k = lo; k < hi; k++) sum += row[k] * bt[o + k];
        out[base + a] = sum;
      }
    }
  }
  return out;
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

/** Unit quaternions (w, x, y, z) [N·4] of the Euler ZYX angles in columns 1..3 of the attributes (utils/rotations.py). */
export function quaternions(attributes, n, c) {
  const out = new Float32Array(4 * n);
  for (let i = 0; i < n; i++) {
    const base = i * c;
    const hp = 0.5 * attributes[base + 1], ht = 0.5 * attributes[base + 2], hy = 0.5 * attributes[base + 3];
    const cp = Math.cos(hp), sp = Math.sin(hp), ct = Math.cos(ht), st = Math.sin(ht), cy = Math.cos(hy), sy = Math.sin(hy);
    out[4 * i] = cp * ct * cy + sp * st * sy;
    out[4 * i + 1] = sp * ct * cy - cp * st * sy;
    out[4 * i + 2] = cp * st * cy + sp * ct * sy;
    out[4 * i + 3] = cp * ct * sy - sp * st * cy;
  }
  return out;
}

/**
 * Renderer-ready arrays: positions [N·3], rotations (w, x, y, z) [N·4], scales (exp) [N·3],
 * opacities (sigmoid) [N], colour DC f_dc [N·3] and f_rest [N·3(K−1)] (INRIA order: channel-major).
 */
export function splatArrays(decoded) {
  const { n, nChannels: c, attributes, shDegree } = decoded;
  const nRest = 3 * ((shDegree + 1) ** 2 - 1);
  const scales = new Float32Array(3 * n), opacities = new Float32Array(n);
  const fdc = new Float32Array(3 * n), frest = new Float32Array(nRest * n);
  for (let i = 0; i < n; i++) {
    const base = i * c;
    opacities[i] = 1 / (1 + Math.exp(-attributes[base]));
    for (let k = 0; k < 3; k++) {
      fdc[3 * i + k] = attributes[base + 4 + k];
      scales[3 * i + k] = Math.exp(attributes[base + c - 3 + k]);
    }
    for (let k = 0; k < nRest; k++) frest[nRest * i + k] = attributes[base + 7 + k];
  }
  return { n, shDegree, positions: decoded.means, rotations: quaternions(attributes, n, c), scales, opacities, fdc, frest };
}
