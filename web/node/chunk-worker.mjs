// A worker_threads decoder of whole chunks for `node web/decode.mjs` on a chunked file: it decodes each chunk
// it is sent (src/chunked.js decodeChunk, every check against the chunk's index entry) and answers with the
// chunk's PLY rows (src/ply.js plyRows), so that the main thread only writes them. Started by node/chunk-pool.mjs.
//
//   main → worker: {bytes: ArrayBuffer (transferred), i, entry, shDegree, label}
//   worker → main: {i, rows: ArrayBuffer (transferred)}  |  {i, error, format: true when a FormatError}
import { parentPort } from "node:worker_threads";

import { decodeChunk } from "../src/chunked.js";
import { FormatError } from "../src/errors.js";
import { plyRows } from "../src/ply.js";

parentPort.on("message", async ({ bytes, i, entry, shDegree, label }) => {
  try {
    const decoded = await decodeChunk(new Uint8Array(bytes), { shDegree, chunks: { [i]: entry } }, i, { label });
    const rows = plyRows(decoded);
    parentPort.postMessage({ i, rows: rows.buffer }, [rows.buffer]);
  } catch (err) {
    parentPort.postMessage({ i, error: (err && err.message) || String(err), format: err instanceof FormatError });
  }
});
