// The context-coded octree of format v2/v3 (codec/geometry.py) → voxel coordinates in Morton order.
//
// Level t = 0..d−1 holds the occupied nodes in Morton order; each has one occupancy byte whose bit k
// says whether child k is occupied, k = the next three Morton bits (bit 0: z, bit 1: y, bit 2: x, as
// raht/morton.py interleaves them). Symbols are byte − 1, coded with one adaptive categorical per
// context = the parent's child count (0 for the root), counts carried from level to level and halved
// ((c + 1) >> 1) at each new level; inside a level, the nodes of context 0, then 1, …, 8, each run in
// Morton order. Nodes are kept as (x, y, z) integer triples: depth 21 needs 63-bit Morton codes,
// which no JavaScript number holds, while coordinates stay below 2^21.

import { adaptiveDecode } from "./entropy.js";
import { FormatError } from "./errors.js";

const N_CONTEXTS = 9;
const ALPHABET = 255;
const POPCOUNT = new Uint8Array(256).map((_, b) => {
  let c = 0;
  for (let v = b; v; v >>= 1) c += v & 1;
  return c;
});

/**
 * @param {import("./entropy.js").RangeReader} reader over the octree's words
 * @param {number} depth d
 * @param {number} nVoxels N from the manifest (checked level by level: a damaged stream never grows past it)
 * @param {(t: number) => void} [progress] called after each level
 * @returns {{x: Int32Array, y: Int32Array, z: Int32Array}} N coordinates, Morton order
 */
export function decodeOctree(reader, depth, nVoxels, progress) {
  const counts = [];
  for (let q = 0; q < N_CONTEXTS; q++) counts.push(new Float64Array(ALPHABET).fill(1));
  let x = new Int32Array(1), y = new Int32Array(1), z = new Int32Array(1);
  let context = new Uint8Array(1);
  for (let t = 0; t < depth; t++) {
    const n = x.length;
    for (const c of counts) for (let s = 0; s < ALPHABET; s++) c[s] = Math.floor((c[s] + 1) / 2);
    // stable counting sort of the nodes by context
    const runStart = new Int32Array(N_CONTEXTS + 1);
    for (let i = 0; i < n; i++) runStart[context[i] + 1]++;
    for (let q = 0; q < N_CONTEXTS; q++) runStart[q + 1] += runStart[q];
    const fill = runStart.slice(0, N_CONTEXTS);
    const order = new Int32Array(n);
    for (let i = 0; i < n; i++) order[fill[context[i]]++] = i;
    const bytes = new Uint8Array(n);
    for (let q = 0; q < N_CONTEXTS; q++) {
      const lo = runStart[q], hi = runStart[q + 1];
      if (hi <= lo) continue;
      const sym = adaptiveDecode(reader, hi - lo, counts[q]);
      for (let i = 0; i < hi - lo; i++) bytes[order[lo + i]] = sym[i] + 1;
    }
    let total = 0;
    for (let i = 0; i < n; i++) total += POPCOUNT[bytes[i]];
    if (total > nVoxels) throw new FormatError(`octree level ${t + 1} has ${total} nodes, more than the ${nVoxels} voxels stored`);
    const nx = new Int32Array(total), ny = new Int32Array(total), nz = new Int32Array(total);
    const nctx = new Uint8Array(total);
    let j = 0;
    for (let i = 0; i < n; i++) {
      let b = bytes[i];
      const cnt = POPCOUNT[b];
      const bx = x[i] << 1, by = y[i] << 1, bz = z[i] << 1;
      while (b !== 0) {  // the set bits k, lowest first (children in Morton order)
        const low = b & -b;
        const k = 31 - Math.clz32(low);
        b ^= low;
        nx[j] = bx | (k >> 2);
        ny[j] = by | ((k >> 1) & 1);
        nz[j] = bz | (k & 1);
        nctx[j] = cnt;
        j++;
      }
    }
    x = nx; y = ny; z = nz; context = nctx;
    if (progress) progress(t + 1);
  }
  if (x.length !== nVoxels) throw new FormatError(`octree decodes to ${x.length} voxels, expected ${nVoxels}`);
  return { x, y, z };
}
