// An INRIA 3DGS PLY (binary little endian, float32) of decoded Gaussians, with the columns of
// scene/ply_io.py write_gaussian_ply: x y z, nx ny nz (0), f_dc_0..2, f_rest_* (channel-major, as
// stored), opacity (logit), scale_0..2 (log), rot_0..3 (w, x, y, z).

import { quaternions } from "./decode.js";

function propertyNames(shDegree) {
  const nRest = 3 * ((shDegree + 1) ** 2 - 1);
  const names = ["x", "y", "z", "nx", "ny", "nz", "f_dc_0", "f_dc_1", "f_dc_2"];
  for (let j = 0; j < nRest; j++) names.push(`f_rest_${j}`);
  names.push("opacity", "scale_0", "scale_1", "scale_2", "rot_0", "rot_1", "rot_2", "rot_3");
  return names;
}

/** The PLY header of n Gaussians of SH degree shDegree. */
export function plyHeader(n, shDegree) {
  const header = ["ply", "format binary_little_endian 1.0", `element vertex ${n}`,
    ...propertyNames(shDegree).map((p) => `property float ${p}`), "end_header"].join("\n") + "\n";
  return new TextEncoder().encode(header);
}

/** The PLY rows (no header) of a decodeBundle result. */
export function plyRows(decoded) {
  const { n, nChannels: c, columns, means, shDegree } = decoded;
  const nRest = 3 * ((shDegree + 1) ** 2 - 1);
  const width = propertyNames(shDegree).length;
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
  return new Uint8Array(body.buffer);
}

/** The PLY bytes of decodeBundle results (one, or the chunks of a chunked file, in order). */
export function plyBytes(...decoded) {
  const n = decoded.reduce((s, d) => s + d.n, 0);
  const head = plyHeader(n, decoded[0].shDegree);
  const rows = decoded.map(plyRows);
  const out = new Uint8Array(head.length + rows.reduce((s, r) => s + r.length, 0));
  out.set(head, 0);
  let at = head.length;
  for (const r of rows) { out.set(r, at); at += r.length; }
  return out;
}
