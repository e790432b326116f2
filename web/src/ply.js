// An INRIA 3DGS PLY (binary little endian, float32) of decoded Gaussians, with the columns of
// scene/ply_io.py write_gaussian_ply: x y z, nx ny nz (0), f_dc_0..2, f_rest_* (channel-major, as
// stored), opacity (logit), scale_0..2 (log), rot_0..3 (w, x, y, z).

import { quaternions } from "./decode.js";

/** The PLY bytes of a decodeBundle result. */
export function plyBytes(decoded) {
  const { n, nChannels: c, columns, means, shDegree } = decoded;
  const nRest = 3 * ((shDegree + 1) ** 2 - 1);
  const names = ["x", "y", "z", "nx", "ny", "nz", "f_dc_0", "f_dc_1", "f_dc_2"];
  for (let j = 0; j < nRest; j++) names.push(`f_rest_${j}`);
  names.push("opacity", "scale_0", "scale_1", "scale_2", "rot_0", "rot_1", "rot_2", "rot_3");
  const header = ["ply", "format binary_little_endian 1.0", `element vertex ${n}`,
    ...names.map((p) => `property float ${p}`), "end_header"].join("\n") + "\n";
  const head = new TextEncoder().encode(header);
  const width = names.length;
  const body = new Float32Array(n * width);
  const quats = quaternions(columns, n, decoded.frame);
  // property index ← attribute column
  const sources = [[6, 4], [7, 5], [8, 6], [9 + nRest, 0]];
  for (let k = 0; k < nRest; k++) sources.push([9 + k, 7 + k]);
  for (let k = 0; k < 3; k++) sources.push([10 + nRest + k, c - 3 + k]);
  for (let i = 0; i < n; i++) {
    const o = i * width;
    body[o] = means[3 * i]; body[o + 1] = means[3 * i + 1]; body[o + 2] = means[3 * i + 2];
    for (const [p, ch] of sources) body[o + p] = columns[ch][i];
    for (let k = 0; k < 4; k++) body[o + 13 + nRest + k] = quats[4 * i + k];
  }
  const out = new Uint8Array(head.length + body.byteLength);
  out.set(head, 0);
  out.set(new Uint8Array(body.buffer), head.length);
  return out;
}
