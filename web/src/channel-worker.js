// A Web Worker helper of the browser decoder (started by src/worker.js, itself a worker): decodes the
// channel ranges it is sent (channels.js runChannelTask).
import { runChannelTask } from "./channels.js";

self.onmessage = (event) => {
  const { reply, transfer } = runChannelTask(event.data);
  self.postMessage(reply, transfer);
};
