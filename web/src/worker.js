// Web Worker of the viewer page: decode a .bundle (or one chunk of a chunked file) off the main thread.
//
//   page → worker: {bytes: ArrayBuffer, label}            (the buffer is transferred)
//                  {bytes, label, chunk: {i, entry, shDegree}}  one chunk of a chunked file: checked against
//                                                         its index entry first (web/src/chunked.js)
//                  preview: true (either form)            every channel but the SH bands (decode.js
//                                                         decodeBundle's preview: a quick first look)
//                  parallel: false (either form)          this worker alone, without its helpers (the
//                                                         viewer's chunk pool already shares the cores)
//   worker → page: {type: "progress", stage, fraction}
//                  {type: "done", splats, seconds, stages, helpers, label, version}
//                      (splatArrays(), its buffers transferred; stages: seconds per decoder stage)
//                  {type: "error", message}
//
// The same decoder as `node web/decode.mjs` (web/src/decode.js), with helper workers of its own (none when
// the page starts it as worker.js?helpers=0: the pool that decodes the chunks of a chunked file in parallel).

import { decodeChunk } from "./chunked.js";
import { decodeBundle, splatArrays } from "./decode.js";

/**
 * Helper workers (channel-worker.js) that decode a share of the channels: one fewer than the CPUs the
 * browser reports, at most 3; started with this worker so they are ready when a file arrives. Where
 * workers cannot start here, there are none and this worker decodes everything.
 */
function startHelpers() {
  const asked = new URLSearchParams(self.location.search).get("helpers");
  const count = asked !== null ? Math.max(0, Math.min(3, Number(asked) || 0))
    : Math.max(0, Math.min(3, (self.navigator && self.navigator.hardwareConcurrency || 1) - 1));
  const helpers = [];
  for (let i = 0; i < count; i++) {
    let helper;
    try {
      helper = new Worker(new URL("./channel-worker.js", import.meta.url), { type: "module" });
    } catch {
      break;
    }
    helpers.push((task, transfer) => new Promise((resolve, reject) => {
      helper.onmessage = (event) => resolve(event.data);
      helper.onerror = (event) => { event.preventDefault(); reject(new Error(event.message || "helper worker failed")); };
      helper.postMessage(task, transfer);
    }));
  }
  return helpers;
}

const helpers = startHelpers();

self.onmessage = async (event) => {
  const { bytes, label, chunk, preview, parallel } = event.data;
  const mine = parallel === false ? [] : helpers;
  try {
    const t0 = performance.now();
    let last = 0;
    // seconds per stage (the time from a stage's first progress call to the next stage's)
    const stages = {};
    let stage = null, stageStart = t0;
    const progress = (name, fraction) => {
      const now = performance.now();
      if (name !== stage) {
        if (stage !== null) stages[stage] = (stages[stage] || 0) + (now - stageStart) / 1000;
        stage = name; stageStart = now;
      }
      if (now - last > 50 || fraction === 0 || fraction === 1) {  // at most ~20 messages a second per stage
        last = now;
        self.postMessage({ type: "progress", stage: name, fraction });
      }
    };
    const decoded = chunk
      ? await decodeChunk(new Uint8Array(bytes), { shDegree: chunk.shDegree, chunks: { [chunk.i]: chunk.entry } }, chunk.i,
        { label, progress, helpers: mine, preview })
      : await decodeBundle(new Uint8Array(bytes), { label, progress, helpers: mine, preview });
    progress("arrays", 0);
    const splats = splatArrays(decoded);
    progress("sent", 1);
    const seconds = (performance.now() - t0) / 1000;
    const buffers = [splats.positions, splats.rotations, splats.scales, splats.opacities, splats.fdc, splats.frest]
      .map((a) => a.buffer);
    self.postMessage({ type: "done", splats, seconds, stages, helpers: mine.length, label, version: decoded.version },
      [...new Set(buffers)]);
  } catch (err) {
    self.postMessage({ type: "error", message: (err && err.message) || String(err) });
  }
};
