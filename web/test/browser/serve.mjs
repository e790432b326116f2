// A static server of web/ plus one bundle at /__bundle__/NAME, on 127.0.0.1 at a random port, for the
// headless-browser scripts (test/browser/screenshot.mjs, bench/browser-decode-bench.mjs).

import { createReadStream, existsSync, statSync } from "node:fs";
import { createServer } from "node:http";
import { basename, dirname, extname, join, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";

/** The web/ directory. */
export const WEB = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
const TYPES = { ".html": "text/html", ".js": "text/javascript", ".mjs": "text/javascript", ".map": "application/json",
  ".json": "application/json", ".png": "image/png", ".css": "text/css", ".wasm": "application/wasm" };

/** Static server of web/ plus one bundle at /__bundle__/NAME. */
export function serve(bundlePath) {
  const name = basename(bundlePath);
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url, "http://x").pathname);
    let file;
    if (path === `/__bundle__/${name}`) file = bundlePath;
    else {
      file = resolve(WEB, "." + path);
      if (!(file === WEB || file.startsWith(WEB + sep))) { res.writeHead(403); res.end(); return; }
      if (existsSync(file) && statSync(file).isDirectory()) file = join(file, "index.html");
    }
    if (!existsSync(file)) { res.writeHead(404); res.end("not found"); return; }
    res.writeHead(200, { "Content-Type": TYPES[extname(file)] || "application/octet-stream", "Content-Length": statSync(file).size });
    createReadStream(file).pipe(res);
  });
  return new Promise((ok) => server.listen(0, "127.0.0.1", () => ok({ server, url: `http://127.0.0.1:${server.address().port}`, name })));
}

