// constriction's queue range encoder as a small BigInt port (slow; for tests and benchmarks, not part of
// the decoder): streams of any symbols for any 24-bit table.

const MASK = (1n << 64n) - 1n;
const WORD = 1n << 32n;

/**
 * constriction::stream::queue::RangeEncoder<u32, u64>, PRECISION 24: the words of `symbols` coded with the
 * whole table `cdf` (size + 1 entries).
 */
export function encode(symbols, cdf) {
  const out = [];
  let lower = 0n;
  let range = MASK;
  let inverted = 0; // number of held-back words (0: normal situation)
  let firstInverted = 0n;
  for (const s of symbols) {
    const scale = range >> 24n;
    range = scale * BigInt(cdf[s + 1] - cdf[s]);
    const newLower = (lower + scale * BigInt(cdf[s])) & MASK;
    if (inverted > 0 && ((newLower + range) & MASK) > newLower) {
      const carry = newLower < lower;
      out.push(Number(carry ? firstInverted + 1n : firstInverted));
      for (let i = 1; i < inverted; i++) out.push(carry ? 0 : 0xffffffff);
      inverted = 0;
    }
    lower = newLower;
    if (range < WORD) {
      range <<= 32n;
      const lowerWord = lower >> 32n;
      lower = (lower << 32n) & MASK;
      if (inverted > 0) inverted++;
      else if (((lower + range) & MASK) > lower) out.push(Number(lowerWord));
      else {
        inverted = 1;
        firstInverted = lowerWord;
      }
    }
  }
  if (range !== MASK) {
    const point = (lower + WORD - 1n) & MASK;
    if (inverted > 0) {
      const carry = point < lower;
      out.push(Number(carry ? firstInverted + 1n : firstInverted));
      for (let i = 1; i < inverted; i++) out.push(carry ? 0 : 0xffffffff);
    }
    const pointWord = point >> 32n;
    out.push(Number(pointWord));
    if (((lower + range) & MASK) >> 32n === pointWord) out.push(0);
  }
  return Uint32Array.from(out);
}
