// Decode throughput of web/src/entropy.js.
//   node web/bench/entropy-bench.mjs [millions of symbols, default 55] [k, default 8] [reach, default 64]
// Encodes 1 M symbols of a geometric model (k, r in [-reach, reach]) with a small BigInt port of
// constriction's queue RangeEncoder (slow, not part of the library), checks that they decode,
// then decodes that stream repeatedly until the requested number of symbols is reached.
import { RangeReader, geometricTable } from "../src/entropy.js";
import { encode } from "../test/range-encoder.mjs";

const total = Math.round(Number(process.argv[2] ?? 55) * 1e6);
const k = Number(process.argv[3] ?? 8);
const reach = Number(process.argv[4] ?? 64);
const perStream = Math.min(total, 1 << 20);

let seed = 0x9e3779b9;
function xorshift() {
  seed ^= seed << 13;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  return seed >>> 0;
}

const model = RangeReader.model(geometricTable(k, -reach, reach));
const symbols = new Int32Array(perStream);
for (let i = 0; i < perStream; i++) symbols[i] = model.symbolOf(xorshift() >>> 8);
const words = encode(symbols, model.cdf);
const check = new RangeReader(words).decode(perStream, model);
for (let i = 0; i < perStream; i++) {
  if (check[i] !== symbols[i]) throw new Error(`round trip fails at symbol ${i}`);
}

const t0 = process.hrtime.bigint();
let done = 0;
let checksum = 0;
while (done < total) {
  const reader = new RangeReader(words);
  const n = Math.min(perStream, total - done);
  const out = reader.decode(n, reader.cachedModel(k, () => geometricTable(k, -reach, reach)));
  checksum = (checksum + out[n - 1]) | 0;
  done += n;
}
const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
console.log(
  `${done} symbols (k=${k}, alphabet ${2 * reach + 1}, ${((words.length * 32) / perStream).toFixed(2)} bits/symbol) ` +
    `in ${seconds.toFixed(3)} s: ${(done / seconds / 1e6).toFixed(1)} M symbols/s (checksum ${checksum})`,
);
