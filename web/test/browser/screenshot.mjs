#!/usr/bin/env node
// Open the viewer in headless Chromium on a bundle with a fixed camera and save the first rendered frame.
//
//   node web/test/browser/screenshot.mjs --bundle IN.bundle --out SHOT.png
//        [--camera '{"position":[..],"target":[..],"up":[..],"fov":deg}'] [--size 640x480]
//        [--chromium /usr/bin/chromium] [--timeout 180] [--spark JSON]
//        [--picker] [--page PAGE.png] [--complete] [--throttle_mbps 50] [--budget N] [--move JSON]
//
// Serves web/ on 127.0.0.1 (a random port; the bundle at /__bundle__/NAME), loads
// viewer/index.html?url=…&camera=…&size=…&bare, waits for window.__splatpressReady (first frame drawn
// and stable), writes the canvas pixels (PNG) to --out and prints one JSON line: the page's stats,
// the wall time to ready and the WebGL renderer string. Needs `npm run build` first (viewer/dist/).
// --picker opens the bundle through the page's file picker instead of ?url=; --page also saves a screenshot
// of the whole page (panel with the numbers included); --complete waits until every chunk of a chunked file
// is shown (window.__splatpressComplete) and the frame is stable again; --throttle_mbps limits the page's
// download rate (Chromium's network emulation, 20 ms latency), as a link of that speed would; --move CAMERA
// then moves the camera there (window.__splatpressView), waits until the chunks planned from there are shown and
// saves that frame instead (the stats then include statsBeforeMove). Exit 2 on any failure, with the page's console on stderr.

import { existsSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";

import puppeteer from "puppeteer-core";

import { WEB, serve } from "./serve.mjs";

function parseArgs(argv) {
  const a = { throttle: null, complete: false, picker: false, page: null, spark: null, bundle: null, out: null, camera: null, size: "640x480", chromium: process.env.CHROMIUM || "/usr/bin/chromium", timeout: 180 };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const v = () => { if (i + 1 >= argv.length) throw new Error(`${k} needs a value`); return argv[++i]; };
    if (k === "--bundle") a.bundle = v();
    else if (k === "--out") a.out = v();
    else if (k === "--camera") a.camera = v();
    else if (k === "--size") a.size = v();
    else if (k === "--chromium") a.chromium = v();
    else if (k === "--timeout") a.timeout = Number(v());
    else if (k === "--spark") a.spark = v();
    else if (k === "--picker") a.picker = true;
    else if (k === "--complete") a.complete = true;
    else if (k === "--throttle_mbps") a.throttle = Number(v());
    else if (k === "--page") a.page = v();
    else if (k === "--budget") a.budget = v();
    else if (k === "--move") a.move = v();
    else throw new Error(`unknown argument ${k}`);
  }
  if (!a.bundle || !a.out) throw new Error("usage: screenshot.mjs --bundle IN.bundle --out SHOT.png [--camera JSON] [--size WxH]");
  return a;
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  if (!existsSync(join(WEB, "viewer", "dist", "main.js"))) throw new Error("web/viewer/dist/main.js is missing: run `npm run build` in web/ first");
  if (!existsSync(args.chromium)) throw new Error(`${args.chromium}: no Chromium (apt-get install chromium, or --chromium PATH)`);
  const [w, h] = args.size.split("x").map(Number);
  const { server, url, name } = await serve(resolve(args.bundle));
  const logs = [];
  const browser = await puppeteer.launch({
    executablePath: args.chromium,
    headless: true,
    protocolTimeout: (args.timeout + 60) * 1000,  // a long wait is one protocol call: give it the whole --timeout
    // software WebGL 2 (SwiftShader): deterministic, no GPU needed
    args: ["--no-sandbox", "--use-angle=swiftshader", "--enable-unsafe-swiftshader", "--ignore-gpu-blocklist", "--disable-dev-shm-usage"],
  });
  try {
    const page = await browser.newPage();
    page.on("console", (m) => logs.push(`console.${m.type()}: ${m.text()}`));
    page.on("pageerror", (e) => logs.push(`pageerror: ${e.message}`));
    await page.setViewport({ width: w + 40, height: h + 40, deviceScaleFactor: 1 });
    if (args.throttle) {
      await page.emulateNetworkConditions({ download: (args.throttle * 1e6) / 8, upload: (args.throttle * 1e6) / 8, latency: 20 });
    }
    const q = new URLSearchParams(args.picker ? { size: `${w}x${h}` } : { url: `/__bundle__/${name}`, size: `${w}x${h}`, bare: "1" });
    if (args.camera) q.set("camera", args.camera);
    if (args.spark) q.set("spark", args.spark);
    if (args.budget !== undefined) q.set("budget", args.budget);
    const t0 = Date.now();
    await page.goto(`${url}/viewer/index.html?${q}`, { waitUntil: "load" });
    if (args.picker) await (await page.$("#file")).uploadFile(resolve(args.bundle));
    await page.waitForFunction("window.__splatpressReady === true || window.__splatpressError !== null",
      { timeout: args.timeout * 1000, polling: 200 });
    const seconds = (Date.now() - t0) / 1000;
    if (args.complete) {
      await page.waitForFunction("window.__splatpressComplete === true || window.__splatpressError !== null",
        { timeout: args.timeout * 1000, polling: 200 });
      await new Promise((ok) => setTimeout(ok, 1500));  // the last chunks drawn and sorted
    }
    let before = null;
    if (args.move) {
      if (!args.complete) {
        await page.waitForFunction("window.__splatpressComplete === true || window.__splatpressError !== null",
          { timeout: args.timeout * 1000, polling: 200 });
      }
      before = await page.evaluate("JSON.parse(JSON.stringify(window.__splatpressStats))");
      await page.evaluate((cam) => window.__splatpressView(cam), args.move);
      await page.waitForFunction("window.__splatpressComplete === true || window.__splatpressError !== null",
        { timeout: args.timeout * 1000, polling: 200 });
      await new Promise((ok) => setTimeout(ok, 1500));  // the new chunks drawn and sorted
    }
    const error = await page.evaluate("window.__splatpressError");
    if (error) throw new Error(`page: ${error}`);
    const dataUrl = await page.evaluate("window.__splatpressCapture()");
    writeFileSync(args.out, Buffer.from(dataUrl.split(",")[1], "base64"));
    const stats = await page.evaluate("window.__splatpressStats");
    if (args.page) await page.screenshot({ path: args.page });
    const gl = await page.evaluate(`(() => { const gl = document.createElement("canvas").getContext("webgl2");
      const e = gl && gl.getExtension("WEBGL_debug_renderer_info"); return gl ? (e ? gl.getParameter(e.UNMASKED_RENDERER_WEBGL) : "webgl2") : null; })()`);
    console.log(JSON.stringify({ ...stats, ...(before ? { statsBeforeMove: before } : {}), secondsToReady: seconds, webgl: gl, out: args.out }));
  } catch (err) {
    process.stderr.write(logs.join("\n") + "\n");
    throw err;
  } finally {
    await browser.close();
    server.close();
  }
}

main().catch((err) => {
  process.stderr.write(`screenshot.mjs: error: ${err.message}\n`);
  process.exit(2);
});
