// A static server of web/ plus one bundle at /__bundle__/NAME, on 127.0.0.1 at a random port, for the
// headless-browser scripts (test/browser/screenshot.mjs, bench/browser-decode-bench.mjs); it answers
// single-range Range requests (206), as the viewer's streaming of chunked files uses them.

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
    const size = statSync(file).size;
    const type = TYPES[extname(file)] || "application/octet-stream";
    // single byte ranges (bytes=a-b, bytes=a-), as static servers and CDNs answer them
    const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range || "");
    if (range) {
      const start = Number(range[1]);
      const end = Math.min(size - 1, range[2] === "" ? size - 1 : Number(range[2]));
      if (start > end) { res.writeHead(416, { "Content-Range": `bytes */${size}` }); res.end(); return; }
      res.writeHead(206, { "Content-Type": type, "Content-Length": end - start + 1, "Content-Range": `bytes ${start}-${end}/${size}`,
        "Accept-Ranges": "bytes" });
      createReadStream(file, { start, end }).pipe(res);
      return;
    }
    res.writeHead(200, { "Content-Type": type, "Content-Length": size, "Accept-Ranges": "bytes" });
    createReadStream(file).pipe(res);
  });
  return new Promise((ok) => server.listen(0, "127.0.0.1", () => ok({ server, url: `http://127.0.0.1:${server.address().port}`, name })));
}

