#!/usr/bin/env node
// Decode speed of the JavaScript decoder in headless Chromium (a benchmark, not a test; run it with
// nothing else busy on the machine):
//
//     node web/bench/browser-decode-bench.mjs BUNDLE [--repeat 3] [--chromium /usr/bin/chromium]
//
// Opens bench/decode.html, which decodes BUNDLE in the viewer's Web Worker (viewer/dist/worker.js, with
// its helper workers) --repeat times without rendering, and prints per run the worker's time from the
// bytes to the renderer's arrays (decodeBundle + splatArrays) with its stages, then the peak resident
// memory (VmHWM) of the page's renderer process, which holds the page and its workers. Needs
// `npm run build` first.

import { readFileSync, readdirSync, existsSync } from "node:fs";
import { join, resolve } from "node:path";

import puppeteer from "puppeteer-core";

import { WEB, serve } from "../test/browser/serve.mjs";

function parseArgs(argv) {
  const a = { bundle: null, repeat: 3, chromium: process.env.CHROMIUM || "/usr/bin/chromium" };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--repeat") a.repeat = Number(argv[++i]);
    else if (argv[i] === "--chromium") a.chromium = argv[++i];
    else if (!argv[i].startsWith("--") && a.bundle === null) a.bundle = argv[i];
    else throw new Error(`unexpected argument ${argv[i]}`);
  }
  if (!a.bundle || !(a.repeat >= 1)) throw new Error("usage: browser-decode-bench.mjs BUNDLE [--repeat 3] [--chromium PATH]");
  return a;
}

/** Descendant processes of `root` (from /proc), with their command lines and peak RSS (kB). */
function descendants(root) {
  const parent = new Map();
  for (const pid of readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      parent.set(Number(pid), Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]));
    } catch { /* gone */ }
  }
  const out = [];
  const walk = (pid) => {
    for (const [child, ppid] of parent) {
      if (ppid !== pid) continue;
      try {
        const cmd = readFileSync(`/proc/${child}/cmdline`, "utf8");
        const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child}/status`, "utf8"));
        out.push({ pid: child, cmd, peakKiB: hwm ? Number(hwm[1]) : 0 });
      } catch { /* gone */ }
      walk(child);
    }
  };
  walk(root);
  return out;
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  if (!existsSync(join(WEB, "viewer", "dist", "worker.js"))) throw new Error("web/viewer/dist/worker.js is missing: run `npm run build` in web/ first");
  if (!existsSync(args.chromium)) throw new Error(`${args.chromium}: no Chromium (apt-get install chromium, or --chromium PATH)`);
  const { server, url, name } = await serve(resolve(args.bundle));
  const browser = await puppeteer.launch({ executablePath: args.chromium, headless: true, args: ["--no-sandbox", "--disable-dev-shm-usage"] });
  try {
    const page = await browser.newPage();
    await page.goto(`${url}/bench/decode.html?url=/__bundle__/${name}&repeat=${args.repeat}`, { waitUntil: "load" });
    await page.waitForFunction("window.__bench !== null || window.__benchError !== null", { timeout: 600000, polling: 200 });
    const error = await page.evaluate("window.__benchError");
    if (error) throw new Error(`page: ${error}`);
    const bench = await page.evaluate("window.__bench");
    const renderers = descendants(browser.process().pid).filter((p) => p.cmd.includes("--type=renderer"));
    const peakMiB = Math.max(0, ...renderers.map((p) => p.peakKiB)) / 1024;
    const version = await browser.version();
    bench.runs.forEach((r, i) => {
      const parts = Object.entries(r.stages).map(([k, v]) => `${k} ${v.toFixed(3)}`).join(", ");
      console.log(`run ${i + 1}: ${r.n} Gaussians (SH ${r.shDegree}), ${bench.bytes} B: ${r.seconds.toFixed(3)} s to renderer arrays (${parts})`);
    });
    console.log(`${version}, ${bench.hardwareConcurrency} CPUs reported, ${bench.runs[0].helpers} helper worker(s), `
      + `peak RSS of the renderer process ${peakMiB.toFixed(0)} MiB`);
  } finally {
    await browser.close();
    server.close();
  }
}

main().catch((err) => {
  process.stderr.write(`browser-decode-bench.mjs: error: ${err.message}\n`);
  process.exit(2);
});
