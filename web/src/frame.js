// The coding frame of format version 4 (codec/frame.py): geometry.npz `frame`, a float32 unit
// quaternion (w, x, y, z). The grid, the Euler angles and the SH bands of the file describe the content
// turned by its inverse; the decoder turns it back, in float64 with float32 results:
//   position x = M·c of each voxel centre c, summed (M_k0·c_0 + M_k1·c_1) + M_k2·c_2;
//   rotation q_F ⊗ q;  SH band l of each colour: sh = A_l·sh_coded (c'(d) = c(Mᵀd)).
// An identity frame skips all three. A frame that is not finite or whose norm is not 1 within 1e-4 is
// refused, as codec/frame.py refuses it.

import { FormatError } from "./errors.js";

export const NORM_TOLERANCE = 1e-4;

/** The stored quaternion as a float32 [4] after the checks of codec/frame.py check_frame. */
export function checkFrame(arr, where) {
  if (arr.dtype !== "float32" || arr.shape.length !== 1 || arr.shape[0] !== 4) {
    throw new FormatError(`${where}: frame must be float32 [4] (a quaternion w x y z), got ${arr.dtype} [${arr.shape.join(", ")}]`);
  }
  const q = arr.data;
  const norm = Math.hypot(q[0], q[1], q[2], q[3]);
  if (!Array.from(q).every(Number.isFinite) || Math.abs(norm - 1) > NORM_TOLERANCE) {
    throw new FormatError(`${where}: frame [${Array.from(q).join(", ")}] is not a unit quaternion`);
  }
  return q;
}

export function isIdentity(frame) {
  return !frame || (frame[0] === 1 && frame[1] === 0 && frame[2] === 0 && frame[3] === 0);
}

/** [w, x, y, z] of the frame normalised in float64. */
function unit(frame) {
  const norm = Math.hypot(frame[0], frame[1], frame[2], frame[3]);
  return [frame[0] / norm, frame[1] / norm, frame[2] / norm, frame[3] / norm];
}

/** Row-major 3×3 rotation matrix (float64) of the frame: the 3DGS quaternion matrix (utils/rotations.py). */
export function frameMatrix(frame) {
  const [w, x, y, z] = unit(frame);
  return [
    1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
    2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
    2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y),
  ];
}

/** Turn positions [N·3] (float32) in place by the frame. */
export function turnPositions(positions, frame) {
  if (isIdentity(frame)) return positions;
  const m = frameMatrix(frame);
  for (let i = 0; i < positions.length; i += 3) {
    const c0 = positions[i], c1 = positions[i + 1], c2 = positions[i + 2];
    for (let k = 0; k < 3; k++) positions[i + k] = (m[3 * k] * c0 + m[3 * k + 1] * c1) + m[3 * k + 2] * c2;
  }
  return positions;
}

/** Replace quaternions [N·4] (w, x, y, z; float32) in place by q_F ⊗ q. */
export function turnQuaternions(quats, frame) {
  if (isIdentity(frame)) return quats;
  const [aw, ax, ay, az] = unit(frame);
  for (let i = 0; i < quats.length; i += 4) {
    const bw = quats[i], bx = quats[i + 1], by = quats[i + 2], bz = quats[i + 3];
    quats[i] = aw * bw - ax * bx - ay * by - az * bz;
    quats[i + 1] = aw * bx + ax * bw + ay * bz - az * by;
    quats[i + 2] = aw * by - ax * bz + ay * bw + az * bx;
    quats[i + 3] = aw * bz + ax * by - ay * bx + az * bw;
  }
  return quats;
}

const C1 = 0.4886025119029199;
const C2 = [1.0925484305920792, -1.0925484305920792, 0.31539156525252005, -1.0925484305920792, 0.5462742152960396];
const C3 = [-0.5900435899266435, 2.890611442640554, -0.4570457994644658, 0.3731763325901154, -0.4570457994644658,
  1.445305721320277, -0.5900435899266435];

/** Real SH bands 1..3 at a unit direction, in the 3DGS coefficient order (utils/sh.py), without band 0. */
function shBasisRest(x, y, z) {
  const xx = x * x, yy = y * y, zz = z * z;
  return [
    -C1 * y, C1 * z, -C1 * x,
    C2[0] * x * y, C2[1] * y * z, C2[2] * (2 * zz - xx - yy), C2[3] * x * z, C2[4] * (xx - yy),
    C3[0] * y * (3 * xx - yy), C3[1] * x * y * z, C3[2] * y * (4 * zz - xx - yy), C3[3] * z * (2 * zz - 3 * xx - 3 * yy),
    C3[4] * x * (4 * zz - xx - yy), C3[5] * z * (xx - yy), C3[6] * x * (xx - 3 * yy),
  ];
}

/** Solve the symmetric positive definite system A·X = B (A [w×w], B [w×w], row-major) by Gauss–Jordan. */
function solve(a, b, w) {
  a = a.slice(); b = b.slice();
  for (let col = 0; col < w; col++) {
    let pivot = col;
    for (let r = col + 1; r < w; r++) if (Math.abs(a[r * w + col]) > Math.abs(a[pivot * w + col])) pivot = r;
    for (let k = 0; k < w; k++) {
      [a[col * w + k], a[pivot * w + k]] = [a[pivot * w + k], a[col * w + k]];
      [b[col * w + k], b[pivot * w + k]] = [b[pivot * w + k], b[col * w + k]];
    }
    const d = a[col * w + col];
    for (let k = 0; k < w; k++) { a[col * w + k] /= d; b[col * w + k] /= d; }
    for (let r = 0; r < w; r++) {
      if (r === col) continue;
      const f = a[r * w + col];
      if (f === 0) continue;
      for (let k = 0; k < w; k++) { a[r * w + k] -= f * a[col * w + k]; b[r * w + k] -= f * b[col * w + k]; }
    }
  }
  return b;
}

/**
 * Per band l = 1..degree the (2l+1)×(2l+1) matrix A_l (row-major, float64) with sh' = A_l·sh for the content
 * turned by M: least squares Y(d)_l·X = Y(Mᵀd)_l on 64 Fibonacci directions, A_l = X, as utils/sh.py sh_rotation.
 */
export function shRotation(degree, m) {
  const samples = 64;
  const golden = Math.PI * (3 - Math.sqrt(5));
  const y = [], yRot = [];
  for (let i = 0; i < samples; i++) {
    const k = i + 0.5, z = 1 - 2 * k / samples, r = Math.sqrt(Math.max(0, 1 - z * z)), phi = golden * k;
    const d = [r * Math.cos(phi), r * Math.sin(phi), z];
    // Mᵀd: row j of the result is Σ_k M[k][j]·d[k] (the direction turned back)
    const dr = [0, 1, 2].map((j) => m[j] * d[0] + m[3 + j] * d[1] + m[6 + j] * d[2]);
    y.push(shBasisRest(...d));
    yRot.push(shBasisRest(...dr));
  }
  const bands = [];
  for (let l = 1; l <= degree; l++) {
    const lo = l * l - 1, w = 2 * l + 1;
    // normal equations (YᵀY)·X = Yᵀ·Y_rot; X is A (c'(d) = Σ_j Y_j(d)·Σ_k X_jk·sh_k)
    const ata = new Array(w * w).fill(0), atb = new Array(w * w).fill(0);
    for (let s = 0; s < samples; s++) {
      for (let a = 0; a < w; a++) {
        for (let b = 0; b < w; b++) {
          ata[a * w + b] += y[s][lo + a] * y[s][lo + b];
          atb[a * w + b] += y[s][lo + a] * yRot[s][lo + b];
        }
      }
    }
    bands.push(Float64Array.from(solve(ata, atb, w)));
  }
  return bands;
}

/** Rows per block of turnShColumns. */
const TURN_BLOCK = 2048;

/**
 * Turn the f_rest columns (attribute columns 7 … 7 + 3(K−1) − 1, channel-major: colour c, coefficient k at
 * 7 + c·(K−1) + k) in place by the frame, band by band.
 */
export function turnShColumns(columns, shDegree, n, frame) {
  if (isIdentity(frame) || shDegree < 1) return;
  const sums = new Float64Array((2 * shDegree + 1) * TURN_BLOCK);
  const bands = shRotation(shDegree, frameMatrix(frame));
  const rest = (shDegree + 1) ** 2 - 1;
  for (let c = 0; c < 3; c++) {
    for (let l = 1; l <= shDegree; l++) {
      const lo = l * l - 1, w = 2 * l + 1, a = bands[l - 1];
      const cols = [];
      for (let k = 0; k < w; k++) cols.push(columns[7 + c * rest + lo + k]);
      // row i: out_r = Σ_k a[r][k]·in_k summed in float64 from 0 in k order, a block of rows at a time
      // (each output of the block kept in `sums` until every input of the block is read)
      for (let i0 = 0; i0 < n; i0 += TURN_BLOCK) {
        const m = Math.min(TURN_BLOCK, n - i0);
        sums.fill(0, 0, w * TURN_BLOCK);
        for (let k = 0; k < w; k++) {
          const col = cols[k];
          for (let r = 0; r < w; r++) {
            const f = a[r * w + k], at = r * TURN_BLOCK - i0;
            for (let i = i0; i < i0 + m; i++) sums[at + i] += f * col[i];
          }
        }
        for (let r = 0; r < w; r++) cols[r].set(sums.subarray(r * TURN_BLOCK, r * TURN_BLOCK + m), i0);
      }
    }
  }
}

/**
 * The channel basis with the frame's turn of the SH bands folded in: turnShColumns applied after the channel
 * transform x = B·y is x' = A·(B·y) = (A·B)·y, A acting on the f_rest rows of each colour band by band, so the
 * rows of A·B replace B's f_rest rows (products summed in float64, k ascending, then rounded to float32 as the
 * basis is) and one transform does both. B's other rows are kept.
 * @param {Float32Array} basis [C, C] row-major
 * @returns {Float32Array} a new [C, C] basis
 */
export function turnedBasis(basis, c, shDegree, frame) {
  const out = Float32Array.from(basis);
  if (isIdentity(frame) || shDegree < 1) return out;
  const bands = shRotation(shDegree, frameMatrix(frame));
  const rest = (shDegree + 1) ** 2 - 1;
  for (let colour = 0; colour < 3; colour++) {
    for (let l = 1; l <= shDegree; l++) {
      const lo = 7 + colour * rest + l * l - 1, w = 2 * l + 1, a = bands[l - 1];
      for (let r = 0; r < w; r++) {
        for (let j = 0; j < c; j++) {
          let sum = 0;
          for (let k = 0; k < w; k++) sum += a[r * w + k] * basis[(lo + k) * c + j];
          out[(lo + r) * c + j] = sum;
        }
      }
    }
  }
  return out;
}
