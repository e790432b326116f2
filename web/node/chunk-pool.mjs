// Decode the chunks of a chunked file held in memory on several threads at once (node/chunk-worker.mjs, one
// chunk per thread at a time), handing each chunk's PLY rows to a callback in index order: what
// `node web/decode.mjs` writes, chunk after chunk, so that its memory is that of the chunks in flight, not of
// the scene.
//
//   const { index } = await decodeChunksInOrder(bytes, { threads: 2, label, onRows: (i, rows) => ... });

import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";

import { chunkRange, readChunkIndex } from "../src/chunked.js";
import { FormatError } from "../src/errors.js";

/** Default number of chunk threads: the CPUs Node may use, between 1 and 4. */
export function defaultChunkThreads() {
  return Math.max(1, Math.min(4, availableParallelism()));
}

/**
 * @param {Uint8Array} bytes the whole chunked file
 * @param {{threads?: number, label?: string, onRows: (i: number, rows: Uint8Array) => void,
 *   onIndex?: (index: object) => void}} options onIndex: called once the index is read, before any chunk
 * @returns {Promise<{index: object}>} rejects with the first error to arrive (a FormatError naming its chunk)
 */
export async function decodeChunksInOrder(bytes, { threads = defaultChunkThreads(), label = "file", onRows, onIndex }) {
  const index = await readChunkIndex(bytes, label);
  if (onIndex) onIndex(index);
  const count = Math.max(1, Math.min(threads, index.chunks.length));
  const workers = Array.from({ length: count }, () => new Worker(new URL("./chunk-worker.mjs", import.meta.url)));
  const ready = new Map();  // chunk → its rows, decoded but not yet handed on (an earlier chunk is still decoding)
  let next = 0;  // the next chunk to send to a thread
  let written = 0;  // the next chunk to hand to onRows
  try {
    await new Promise((resolve, reject) => {
      let failed = false;
      const idle = [...workers];
      const fail = (err) => { if (!failed) { failed = true; reject(err); } };
      // a thread takes the next chunk unless as many chunks as threads already wait for an earlier one
      const dispatch = () => {
        while (!failed && idle.length && next < index.chunks.length && ready.size < count) {
          const worker = idle.pop();
          const i = next++;
          const [s, e] = chunkRange(index, i);
          const copy = bytes.slice(s, e);  // transferred to the thread
          worker.postMessage({ bytes: copy.buffer, i, entry: index.chunks[i], shDegree: index.shDegree, label }, [copy.buffer]);
        }
      };
      for (const worker of workers) {
        worker.on("message", (m) => {
          if (failed) return;
          if (m.error !== undefined) { fail(m.format ? new FormatError(m.error) : new Error(m.error)); return; }
          ready.set(m.i, new Uint8Array(m.rows));
          idle.push(worker);
          try {
            while (ready.has(written)) {
              const rows = ready.get(written);
              ready.delete(written);
              onRows(written, rows);
              written++;
            }
          } catch (err) {
            fail(err);
            return;
          }
          if (written === index.chunks.length) resolve();
          else dispatch();
        });
        worker.on("error", fail);
        worker.on("exit", (code) => { if (written < index.chunks.length) fail(new Error(`a chunk thread exited (${code})`)); });
      }
      dispatch();
    });
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
  return { index };
}
