// A worker_threads helper of the Node decoder: decodes the channel ranges it is sent
// (src/channels.js runChannelTask). Started by node/helpers.mjs.
import { parentPort } from "node:worker_threads";

import { runChannelTask } from "../src/channels.js";

parentPort.on("message", (task) => {
  const { reply, transfer } = runChannelTask(task);
  parentPort.postMessage(reply, transfer);
});
