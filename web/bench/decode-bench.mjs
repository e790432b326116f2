#!/usr/bin/env node
// Decode speed of the JavaScript decoder in Node (a benchmark, not a test; run it with nothing else
// busy on the machine):
//
//     node web/bench/decode-bench.mjs BUNDLE [--repeat 3] [--helpers K] [--no-wasm] [--preview]
//
// --helpers: helper threads decoding a share of the channels (default: CPUs − 1, at most 3; 0: one
// thread); --no-wasm: the JavaScript reference instead of the WebAssembly kernels; --preview: the viewer's
// preview decode (every channel but the SH bands).
//
// Prints per run the total time of decodeBundle (SHA-256 checks, octree, AC streams, dequantization,
// inverse RAHT, channel transform) and of splatArrays (activations, quaternions), and the peak
// resident memory of the process. BUNDLE: e.g. scripts/make_bench_bundle.py's tiled captures.

import { readFileSync } from "node:fs";
import { resourceUsage } from "node:process";

import { decodeBundle, splatArrays } from "../src/decode.js";
import { setWasmEnabled, wasmKernels } from "../src/kernels.js";
import { defaultHelperCount, nodeHelpers } from "../node/helpers.mjs";

const args = process.argv.slice(2);
const valueOf = (flag, fallback) => {
  const at = args.indexOf(flag);
  return at >= 0 ? Number(args[at + 1]) : fallback;
};
const path = args.find((a, i) => !a.startsWith("--") && !["--repeat", "--helpers"].includes(args[i - 1]));
const repeat = valueOf("--repeat", 3);
const helperCount = valueOf("--helpers", defaultHelperCount());
if (!path || !(repeat >= 1) || !(helperCount >= 0)) {
  console.error("usage: node web/bench/decode-bench.mjs BUNDLE [--repeat 3] [--helpers K] [--no-wasm] [--preview]");
  process.exit(2);
}
if (args.includes("--no-wasm")) setWasmEnabled(false);
const bytes = new Uint8Array(readFileSync(path));
const pool = nodeHelpers(helperCount);
const rows = [];
for (let r = 0; r < repeat; r++) {
  const stages = {};
  let last = performance.now(), lastStage = "verify";
  const t0 = last;
  const decoded = await decodeBundle(bytes, {
    label: path,
    helpers: pool.helpers,
    preview: args.includes("--preview"),
    progress: (stage) => {
      if (stage !== lastStage) {
        const now = performance.now();
        stages[lastStage] = (stages[lastStage] || 0) + (now - last) / 1000;
        last = now; lastStage = stage;
      }
    },
  });
  const t1 = performance.now();
  stages[lastStage] = (stages[lastStage] || 0) + (t1 - last) / 1000;
  splatArrays(decoded);
  const t2 = performance.now();
  rows.push({ n: decoded.n, sh: decoded.shDegree, decode: (t1 - t0) / 1000, arrays: (t2 - t1) / 1000, stages });
}
const peakMiB = resourceUsage().maxRSS / 1024;
for (const [i, r] of rows.entries()) {
  const parts = Object.entries(r.stages).map(([k, v]) => `${k} ${v.toFixed(3)}`).join(", ");
  console.log(`run ${i + 1}: ${r.n} Gaussians (SH ${r.sh}), ${bytes.length} B: decodeBundle ${r.decode.toFixed(3)} s `
    + `(${parts}), splatArrays ${r.arrays.toFixed(3)} s`);
}
console.log(`node ${process.version}, ${wasmKernels() ? "WebAssembly kernels" : "JavaScript reference"}, `
  + `${helperCount} helper thread(s)${args.includes("--preview") ? ", preview" : ""}, peak RSS ${peakMiB.toFixed(0)} MiB`);
await pool.close();
