// The RAHT plan and its inverse (raht/plan.py, raht/transform.py), on voxels in Morton order.
//
// Sibling pairs: boundary k between leaves k and k+1 (Morton order) splits at level
// h_k = msb(code_k XOR code_{k+1}); its left subtree starts at L = 1 + (the nearest boundary before k
// with a larger split level, or −1), its right subtree ends before 1 + (the nearest boundary after k
// with a larger split level, or M − 1). Weights w_L = k + 1 − L, w_R = end − (k + 1);
// a = √(w_L/(w_L+w_R)), b = √(w_R/(w_L+w_R)) in float64 (exactly rounded: the same bits as Python);
// the pair's high-pass coefficient is AC slot k + 1, and w_L + w_R is that slot's weight (a context of
// the entropy coder). Pairs are grouped by level, finest first; the inverse runs coarsest first:
//     x_L = a·low − b·high,   x_R = b·low + a·high
// in float32 with the operation order of the torch code on x86 (`low·a` rounded to float32, then the
// fused multiply-add of addcmul_: `− high·b` added exactly, one rounding — emulated here in float64, which
// rounds twice in rare halfway cases), so the result matches `raht_inverse` on float32 to the last bit
// almost everywhere and within float32 rounding elsewhere.

import { FormatError } from "./errors.js";

function msb(v) {
  return 31 - Math.clz32(v);
}

/** The split level of two different voxels (bit index of the Morton code: z at 3i, y at 3i+1, x at 3i+2). */
function splitLevel(x0, y0, z0, x1, y1, z1) {
  let h = -1;
  const dx = x0 ^ x1, dy = y0 ^ y1, dz = z0 ^ z1;
  if (dx) h = Math.max(h, 3 * msb(dx) + 2);
  if (dy) h = Math.max(h, 3 * msb(dy) + 1);
  if (dz) h = Math.max(h, 3 * msb(dz));
  return h;
}

/**
 * @param {{x: Int32Array, y: Int32Array, z: Int32Array}} coords M voxels, strictly increasing Morton order
 * @param {number} depth d
 * @returns {{n: number, left: Int32Array, right: Int32Array, a: Float32Array, b: Float32Array,
 *            levelStarts: Int32Array, acWeight: Float64Array}} pairs grouped by level (finest first);
 *            levelStarts[i]..levelStarts[i+1] is the i-th non-empty level
 */
export function buildPlan(coords, depth) {
  const m = coords.x.length;
  const p = Math.max(m - 1, 0);
  const h = new Int32Array(p);
  const { x, y, z } = coords;
  for (let k = 0; k < p; k++) {
    h[k] = splitLevel(x[k], y[k], z[k], x[k + 1], y[k + 1], z[k + 1]);
    if (h[k] < 0) throw new FormatError(`voxels ${k} and ${k + 1} are the same: the octree holds a duplicate`);
  }
  // nearest boundary with a larger split level before / after each boundary (monotonic stacks)
  const leftStart = new Int32Array(p), rightEnd = new Int32Array(p);
  const stack = new Int32Array(p);
  let top = 0;
  for (let k = 0; k < p; k++) {
    while (top > 0 && h[stack[top - 1]] <= h[k]) top--;
    leftStart[k] = top > 0 ? stack[top - 1] + 1 : 0;
    stack[top++] = k;
  }
  top = 0;
  for (let k = p - 1; k >= 0; k--) {
    while (top > 0 && h[stack[top - 1]] <= h[k]) top--;
    rightEnd[k] = top > 0 ? stack[top - 1] + 1 : m;
    stack[top++] = k;
  }
  const acWeight = new Float64Array(p);
  const aAll = new Float64Array(p), bAll = new Float64Array(p);
  for (let k = 0; k < p; k++) {
    const wl = k + 1 - leftStart[k], wr = rightEnd[k] - (k + 1), total = wl + wr;
    acWeight[k] = total;
    aAll[k] = Math.sqrt(wl / total);
    bAll[k] = Math.sqrt(wr / total);
  }
  // stable counting sort of the pairs by level
  const nLevels = 3 * depth;
  const counts = new Int32Array(nLevels + 1);
  for (let k = 0; k < p; k++) counts[h[k] + 1]++;
  for (let l = 0; l < nLevels; l++) counts[l + 1] += counts[l];
  const fill = counts.slice(0, nLevels);
  // the float32 weights the float32 transform multiplies by
  const left = new Int32Array(p), right = new Int32Array(p), a = new Float32Array(p), b = new Float32Array(p);
  for (let k = 0; k < p; k++) {
    const i = fill[h[k]]++;
    left[i] = leftStart[k]; right[i] = k + 1; a[i] = aAll[k]; b[i] = bAll[k];
  }
  const starts = [];
  for (let l = 0; l < nLevels; l++) if (counts[l + 1] > counts[l]) starts.push(counts[l]);
  starts.push(p);
  return { n: m, left, right, a, b, levelStarts: Int32Array.from(starts), acWeight };
}

/**
 * Inverse RAHT in place on a few channels: each column holds float32 coefficients [M] (slot order:
 * the DC first) and ends as the channel's attribute of every voxel (Morton order). Several columns per
 * pass read the plan once for all of them.
 * @param {Float32Array[]} columns
 */
export function rahtInverseColumns(columns, plan) {
  const { left, right, a, b, levelStarts } = plan;
  const f = Math.fround;
  const g = columns.length;
  for (let li = levelStarts.length - 2; li >= 0; li--) {
    for (let i = levelStarts[li], end = levelStarts[li + 1]; i < end; i++) {
      const lo = left[i], hi = right[i], ai = a[i], bi = b[i];
      for (let k = 0; k < g; k++) {
        const column = columns[k];
        const low = column[lo], high = column[hi];
        // torch's addcmul_ is a fused multiply-add on x86 CPUs: the second product is not rounded
        column[lo] = f(low * ai) - high * bi;
        column[hi] = f(high * ai) + low * bi;
      }
    }
  }
  return columns;
}
