// The per-channel part of the decoder: each channel of the attribute matrix is one range-coded stream
// of AC codes and one inverse RAHT, independent of the others, so channels are decoded in contiguous
// groups, on this thread and on helper threads (Web Workers in the browser, worker_threads in Node).
//
// A job holds what every channel needs: ac (the ac.npz arrays), offsets (each stream's first word),
// ctx (acContexts), plan (buildPlan's pairs), quant {dc, scale, zeroPoint, nBlock, bits} and `where`
// (the member named in errors). A helper receives a task (the job cut down to its channels, a plain
// structured-cloneable object) and answers with its codes and columns in two transferable buffers.

import { decodeAcChannel } from "./ac.js";
import { FormatError } from "./errors.js";
import { rahtInverseColumns } from "./raht.js";

/** Channels per pass of the inverse RAHT (one pass over the plan serves them all). */
const RAHT_GROUP = 8;
/** Below this many Gaussians the helpers are not worth their messages. */
export const MIN_PARALLEL_GAUSSIANS = 50000;

/** One channel: its AC codes (slot order), and its RAHT coefficients (dequantized) written into `column` [N]. */
function decodeChannel(job, ch, column) {
  const { ac, offsets, ctx, quant, where } = job;
  const { dc, scale, zeroPoint, nBlock, bits, tables } = quant;
  let codes;
  try {
    codes = decodeAcChannel(ac, ch, offsets[ch], ctx, zeroPoint, { nBlock, bits, tables });
  } catch (err) {
    throw new FormatError(`${where}: AC streams do not decode (${err.message})`);
  }
  // coefficients: the DC, then scale·(code − zero point) of every AC slot, (code − z) rounded to float32
  // and the product rounded to float32 (the float32 operations of torch)
  const f = Math.fround;
  column[0] = dc[ch];
  const lengths = ctx.blockLengths;
  for (let j = 0, start = 0; j < nBlock; start += lengths[j], j++) {
    const z = zeroPoint[ch * nBlock + j], sc = scale[ch * nBlock + j];
    for (let s = start, end = start + lengths[j]; s < end; s++) column[s + 1] = f(codes[s] - z) * sc;
  }
  return codes;
}

/**
 * Channels [ch0, ch1) on this thread: their codes (returned, one array per channel) and their
 * attribute columns (inverse RAHT done, channel transform not yet) written into columns[ch − ch0].
 */
export function decodeChannelRange(job, ch0, ch1, columns, progress) {
  const codes = [];
  for (let g0 = ch0; g0 < ch1; g0 += RAHT_GROUP) {
    const g1 = Math.min(ch1, g0 + RAHT_GROUP);
    for (let ch = g0; ch < g1; ch++) codes.push(decodeChannel(job, ch, columns[ch - ch0]));
    rahtInverseColumns(columns.slice(g0 - ch0, g1 - ch0), job.plan);
    if (progress) progress(g1 - ch0);
  }
  return codes;
}

/**
 * The channels of `spans` (a list of [ch0, ch1) ranges, in order) cut into `parts` shares of about equal
 * channel counts, each share a list of contiguous ranges.
 */
export function channelShares(spans, parts) {
  const channels = spans.flatMap(([ch0, ch1]) => Array.from({ length: Math.max(0, ch1 - ch0) }, (_, k) => ch0 + k));
  const shares = [];
  for (let p = 0; p < parts; p++) {
    const mine = channels.slice(Math.round((p * channels.length) / parts), Math.round(((p + 1) * channels.length) / parts));
    const ranges = [];
    for (const ch of mine) {
      const last = ranges[ranges.length - 1];
      if (last && last[1] === ch) last[1] = ch + 1;
      else ranges.push([ch, ch + 1]);
    }
    if (ranges.length) shares.push(ranges);
  }
  return shares;
}

/** The message for a helper decoding channels [ch0, ch1) (copies only that part of the streams). */
function channelTask(job, ch0, ch1) {
  const { ac, offsets, ctx, plan, quant, where } = job;
  return {
    ch0, ch1, where, quant,
    ac: {
      model: ac.model, r_range: ac.r_range, geometric_k: ac.geometric_k, words: ac.words,
      stream: ac.stream.slice(offsets[ch0], offsets[ch1]),
    },
    offsets: offsets.map((o) => o - offsets[ch0]),
    ctx: { n: ctx.n, nBlock: ctx.nBlock, order: ctx.order, bounds: ctx.bounds, blockInOrder: ctx.blockInOrder,
      blockLengths: ctx.blockLengths },
    plan: { left: plan.left, right: plan.right, a: plan.a, b: plan.b, levelStarts: plan.levelStarts },
  };
}

/**
 * In a helper: decode a task's channels. Returns the reply {codes, values} (codes: the channels' codes
 * one after the other, values: their columns one after the other) and the buffers to transfer; a
 * damaged stream gives {error, formatError: true}.
 */
export function runChannelTask(task) {
  const { ch0, ch1, ctx, quant } = task;
  const g = ch1 - ch0, slots = ctx.n, n = slots + 1;
  try {
    const values = new Float32Array(g * n);
    const columns = Array.from({ length: g }, (_, k) => values.subarray(k * n, (k + 1) * n));
    const codeList = decodeChannelRange(task, ch0, ch1, columns);
    const codes = quant.bits <= 8 ? new Uint8Array(g * slots) : new Uint16Array(g * slots);
    codeList.forEach((col, k) => codes.set(col, k * slots));
    return { reply: { codes, values }, transfer: [codes.buffer, values.buffer] };
  } catch (err) {
    return { reply: { error: (err && err.message) || String(err), formatError: err instanceof FormatError }, transfer: [] };
  }
}

/**
 * The channels of `spans` ([ch0, ch1) ranges; [[0, c]] for all): helpers take a share each (one range after
 * another), this thread the first share. A helper is a function (task, transfer) => Promise<reply>; one that
 * fails for a reason other than damaged data (it could not start, say) has its share decoded here instead.
 * Below `minParallel` Gaussians no helper is used.
 * @returns {Promise<Array<Uint8Array|Uint16Array|null>>} the codes of every channel of `columns` (null for a
 *   channel outside `spans`); the spans' columns filled
 */
export async function decodeChannels(job, spans, columns, helpers, progress, minParallel = MIN_PARALLEL_GAUSSIANS) {
  const useHelpers = job.ctx.n + 1 >= minParallel ? helpers : [];
  const shares = channelShares(spans, 1 + useHelpers.length);
  const failed = (err) => ({ error: (err && err.message) || String(err), formatError: false });
  const ask = (h, [ch0, ch1]) => {
    try {
      const task = channelTask(job, ch0, ch1);
      return useHelpers[h](task, [task.ac.stream.buffer]).catch(failed);
    } catch (err) {
      return Promise.resolve(failed(err));
    }
  };
  // every helper's first range posted now, before this thread starts on its own share (this thread's decode
  // is synchronous); its further ranges as the one before is answered
  const pending = shares.slice(1).map(async (ranges, h) => {
    const replies = [];
    for (const range of ranges) replies.push(await ask(h, range));
    return replies;
  });
  const codeColumns = new Array(columns.length).fill(null);
  progress(0);
  const mine = shares.length ? shares[0] : [];
  const total = mine.reduce((sum, [ch0, ch1]) => sum + ch1 - ch0, 0);
  let done = 0;
  for (const [ch0, ch1] of mine) {
    decodeChannelRange(job, ch0, ch1, columns.slice(ch0, ch1), (k) => progress((done + k) / total))
      .forEach((codes, k) => { codeColumns[ch0 + k] = codes; });
    done += ch1 - ch0;
  }
  const answered = await Promise.all(pending);
  const n = columns[0].length, slots = n - 1;
  answered.forEach((replies, h) => {
    shares[h + 1].forEach(([ch0, ch1], r) => {
      const reply = replies[r];
      if (reply.error !== undefined) {
        if (reply.formatError) throw new FormatError(reply.error);
        // the helper could not run: decode its channels here
        decodeChannelRange(job, ch0, ch1, columns.slice(ch0, ch1)).forEach((codes, k) => { codeColumns[ch0 + k] = codes; });
        return;
      }
      for (let ch = ch0; ch < ch1; ch++) {
        const k = ch - ch0;
        codeColumns[ch] = reply.codes.subarray(k * slots, (k + 1) * slots);
        columns[ch].set(reply.values.subarray(k * n, (k + 1) * n));
      }
    });
  });
  return codeColumns;
}
