// Web Worker of the viewer page: decode a .bundle off the main thread.
//
//   page → worker: {bytes: ArrayBuffer, label}            (the buffer is transferred)
//   worker → page: {type: "progress", stage, fraction}
//                  {type: "done", splats, seconds, label}  (splatArrays(), its buffers transferred)
//                  {type: "error", message}
//
// The same decoder as `node web/decode.mjs` (web/src/decode.js).

import { decodeBundle, splatArrays } from "./decode.js";

self.onmessage = async (event) => {
  const { bytes, label } = event.data;
  try {
    const t0 = performance.now();
    let last = 0;
    const progress = (stage, fraction) => {
      const now = performance.now();
      if (now - last > 50 || fraction === 0 || fraction === 1) {  // at most ~20 messages a second per stage
        last = now;
        self.postMessage({ type: "progress", stage, fraction });
      }
    };
    const decoded = await decodeBundle(new Uint8Array(bytes), { label, progress });
    const splats = splatArrays(decoded);
    const seconds = (performance.now() - t0) / 1000;
    const buffers = [splats.positions, splats.rotations, splats.scales, splats.opacities, splats.fdc, splats.frest]
      .map((a) => a.buffer);
    self.postMessage({ type: "done", splats, seconds, label, version: decoded.version }, [...new Set(buffers)]);
  } catch (err) {
    self.postMessage({ type: "error", message: (err && err.message) || String(err) });
  }
};
