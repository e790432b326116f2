// Helper threads for decodeBundle in Node (worker_threads running node/channel-worker.mjs): one fewer
// than the CPUs Node may use, at most 3, so that the decoding thread and its helpers share the machine.
//
//   const pool = nodeHelpers();
//   const decoded = await decodeBundle(bytes, { helpers: pool.helpers });
//   pool.close();

import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";

/** Default number of helpers: CPUs − 1, between 0 and 3. */
export function defaultHelperCount() {
  return Math.max(0, Math.min(3, availableParallelism() - 1));
}

/**
 * @param {number} [count] helpers to start (default: defaultHelperCount())
 * @returns {{helpers: Array<(task: object, transfer: ArrayBuffer[]) => Promise<object>>, close: () => Promise<void>}}
 */
export function nodeHelpers(count = defaultHelperCount()) {
  const workers = [];
  for (let i = 0; i < count; i++) {
    const worker = new Worker(new URL("./channel-worker.mjs", import.meta.url));
    worker.unref();  // never keeps the process alive
    workers.push(worker);
  }
  const helpers = workers.map((worker) => (task, transfer) => new Promise((resolve, reject) => {
    const cleanup = () => { worker.off("message", onMessage); worker.off("error", onError); worker.off("exit", onExit); };
    const onMessage = (reply) => { cleanup(); resolve(reply); };
    const onError = (err) => { cleanup(); reject(err); };
    const onExit = (code) => { cleanup(); reject(new Error(`helper thread exited (${code})`)); };
    worker.on("message", onMessage);
    worker.on("error", onError);
    worker.on("exit", onExit);
    worker.postMessage(task, transfer);
  }));
  return { helpers, close: () => Promise.all(workers.map((w) => w.terminate())).then(() => {}) };
}
