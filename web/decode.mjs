#!/usr/bin/env node
// Decode a compressed bundle (or a chunked file: every chunk, in order) with the JavaScript decoder and
// write an INRIA 3DGS PLY:
//
//     node web/decode.mjs IN.bundle -o OUT.ply [--codes CODES.bin] [--helpers K] [--quiet]
//
// The same decoder the viewer page runs (web/src/), with K helper threads decoding a share of the
// channels (default: CPUs − 1, at most 3; 0: one thread); a chunked file is decoded K + 1 chunks at a
// time, one per thread, and written chunk after chunk (its memory: the chunks in flight, not the scene's
// arrays). --codes also writes the decoded AC codes
// (uint8 or uint16, little endian, [N − 1, C] row-major) and the voxel coordinates (int32 x, y, z per
// voxel) for conformance tests. Errors: one line on stderr, exit code 2, nothing written at -o (the
// PLY goes to a temporary name, renamed at the end).

import { closeSync, openSync, readFileSync, renameSync, rmSync, writeFileSync, writeSync } from "node:fs";
import { basename, dirname, join } from "node:path";

import { decodeChunksInOrder } from "./node/chunk-pool.mjs";
import { defaultHelperCount, nodeHelpers } from "./node/helpers.mjs";
import { isChunked } from "./src/chunked.js";
import { decodeBundle } from "./src/decode.js";
import { FormatError } from "./src/errors.js";
import { plyBytes, plyHeader } from "./src/ply.js";

function usage() {
  return "usage: node web/decode.mjs IN.bundle -o OUT.ply [--codes CODES.bin] [--helpers K] [--quiet]";
}

function parseArgs(argv) {
  const args = { input: null, output: null, codes: null, quiet: false, helpers: defaultHelperCount() };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "-o" || a === "--output") args.output = argv[++i];
    else if (a === "--codes") args.codes = argv[++i];
    else if (a === "--quiet") args.quiet = true;
    else if (a === "--helpers") {
      args.helpers = Number(argv[++i]);
      if (!Number.isInteger(args.helpers) || args.helpers < 0 || args.helpers > 64) throw new Error(`--helpers must be an integer in [0, 64]; ${usage()}`);
    }
    else if (a === "-h" || a === "--help") { console.log(usage()); process.exit(0); }
    else if (a.startsWith("-")) throw new Error(`unknown option ${a}; ${usage()}`);
    else if (args.input === null) args.input = a;
    else throw new Error(`unexpected argument ${a}; ${usage()}`);
  }
  if (!args.input || !args.output) throw new Error(usage());
  if (!args.output.toLowerCase().endsWith(".ply")) throw new Error(`-o ${args.output}: the output must be a .ply file`);
  return args;
}

function temporaryName(path) {
  return join(dirname(path), `.${basename(path)}.tmp${process.pid}`);
}

function writeAtomic(path, bytes) {
  const tmp = temporaryName(path);
  try {
    writeFileSync(tmp, bytes);
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}

/** Write all of bytes at the file's current end (writeSync may write less than it was given). */
function writeAll(fd, bytes) {
  for (let at = 0; at < bytes.length;) at += writeSync(fd, bytes, at, bytes.length - at);
}

/** Decode a chunked file into the PLY at path, chunk after chunk (a temporary name, renamed at the end). */
async function decodeChunkedToPly(bytes, args) {
  const tmp = temporaryName(args.output);
  let fd = null;
  try {
    fd = openSync(tmp, "w");
    const { index } = await decodeChunksInOrder(bytes, {
      threads: args.helpers + 1, label: args.input,
      onIndex: (idx) => writeAll(fd, plyHeader(idx.n, idx.shDegree)),
      onRows: (i, rows) => writeAll(fd, rows),
    });
    closeSync(fd);
    fd = null;
    renameSync(tmp, args.output);
    return index;
  } catch (err) {
    if (fd !== null) closeSync(fd);
    rmSync(tmp, { force: true });
    throw err;
  }
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  let bytes;
  try {
    bytes = new Uint8Array(readFileSync(args.input));
  } catch (err) {
    throw new Error(`${args.input}: cannot read (${err.code || err.message})`);
  }
  const t0 = performance.now();
  if (isChunked(bytes)) {
    if (args.codes) throw new Error("--codes takes a single bundle, not a chunked file");
    const index = await decodeChunkedToPly(bytes, args);
    const seconds = (performance.now() - t0) / 1000;
    const atOnce = Math.min(args.helpers + 1, index.chunks.length);
    if (!args.quiet) {
      console.log(`${args.input}: format v5, ${index.chunks.length} chunks, ${index.n} Gaussians, SH degree ${index.shDegree}, `
        + `${bytes.length} B (${((8 * bytes.length) / index.n).toFixed(2)} bits/Gaussian); decoded and written in `
        + `${seconds.toFixed(3)} s (${atOnce} chunk${atOnce > 1 ? "s" : ""} at a time) -> ${args.output}`);
    }
    return;
  }
  const pool = nodeHelpers(args.helpers);
  let decoded;
  try {
    decoded = await decodeBundle(bytes, { label: args.input, helpers: pool.helpers });
  } finally {
    await pool.close();
  }
  const seconds = (performance.now() - t0) / 1000;
  writeAtomic(args.output, plyBytes(decoded));
  if (args.codes) {
    const { codes, coords } = decoded;
    const xyz = new Int32Array(3 * decoded.n);
    for (let i = 0; i < decoded.n; i++) { xyz[3 * i] = coords.x[i]; xyz[3 * i + 1] = coords.y[i]; xyz[3 * i + 2] = coords.z[i]; }
    const out = new Uint8Array(codes.byteLength + xyz.byteLength);
    out.set(new Uint8Array(codes.buffer, codes.byteOffset, codes.byteLength), 0);
    out.set(new Uint8Array(xyz.buffer), codes.byteLength);
    writeAtomic(args.codes, out);
  }
  if (!args.quiet) {
    const bpg = (8 * bytes.length) / decoded.n;
    console.log(`${args.input}: format v${decoded.version}, ${decoded.n} Gaussians, SH degree ${decoded.shDegree}, `
      + `${bytes.length} B (${bpg.toFixed(2)} bits/Gaussian); decoded in ${seconds.toFixed(3)} s -> ${args.output}`);
  }
}

main().catch((err) => {
  const msg = err instanceof FormatError ? err.message : (err && err.message) || String(err);
  process.stderr.write(`decode.mjs: error: ${msg}\n`);
  process.exit(2);
});
