;; The two hot loops of the JavaScript decoder as WebAssembly (web/src/kernels.js loads it; `npm run
;; build:wasm` turns this file into web/src/kernels.wasm.js). Both are plain transcriptions of the
;; JavaScript reference in web/src/entropy.js (RangeReader.decode) and web/src/decode.js
;; (transformColumnsJs): WebAssembly gives the range decoder native 64-bit integers (one division per
;; symbol instead of a float64 estimate and an exact correction) and the channel transform 4-wide float32
;; SIMD. The memory layout is the caller's: every pointer is a byte offset chosen by kernels.js.

(module
  (memory (export "memory") 1)

  ;; ---------------------------------------------------------------------------------------------
  ;; Range decoder state at $state: d = point − lower (u64, offset 0), range (u64, offset 8),
  ;; pos = words consumed (u32, offset 16). The queue range decoder of constriction 0.5
  ;; (RangeDecoder<u32, u64>, 24-bit probabilities), as specified in web/src/entropy.js:
  ;;   scale = range >> 24;  q = d / scale  (q ≥ 2^24: invalid data);
  ;;   s = the last symbol with cdf[s] ≤ q;  d −= scale·cdf[s];  range = scale·(cdf[s+1] − cdf[s]);
  ;;   if range < 2^32: range <<= 32, d = (d << 32) | next word (0 past the end).
  ;; $cdf: u32 [$last + 2], the window whole[$base … $base + $last + 1] of the model's table, whose
  ;; symbols outside it have probability 1: whole[i] = i for i ≤ $base, whole[i] = top + (i − end) for
  ;; i ≥ end = $base + $last + 1, top = cdf[$last + 1] (a whole table: $base 0, top 2^24);
  ;; $table: 0 or u32 [4097], table[j] = the window's symbol (from $base, clamped to [0, $last]) of quantile
  ;; j·2^12 and table[4096] = $last (narrows the binary search); $out: i32 [count].
  ;; Returns 0, or 1 on invalid data (the state is stored either way).
  (func (export "range_decode")
    (param $state i32) (param $count i32) (param $cdf i32) (param $table i32) (param $last i32)
    (param $base i32) (param $out i32) (param $words i32) (param $n_words i32) (result i32)
    (local $d i64) (local $range i64) (local $pos i32) (local $scale i64) (local $q i64)
    (local $qi i32) (local $s i32) (local $hi i32) (local $mid i32) (local $left i32) (local $i i32)
    (local $word i64) (local $status i32) (local $top i32) (local $p i32)
    (local.set $top (i32.load (i32.add (local.get $cdf) (i32.shl (i32.add (local.get $last) (i32.const 1))
                                                                 (i32.const 2)))))
    (local.set $d (i64.load (local.get $state)))
    (local.set $range (i64.load offset=8 (local.get $state)))
    (local.set $pos (i32.load offset=16 (local.get $state)))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $count)))
        (local.set $scale (i64.shr_u (local.get $range) (i64.const 24)))
        (local.set $q (i64.div_u (local.get $d) (local.get $scale)))
        (if (i64.ge_u (local.get $q) (i64.const 16777216))
          (then (local.set $status (i32.const 1)) (br $done)))
        (local.set $qi (i32.wrap_i64 (local.get $q)))
        (if (i32.lt_u (local.get $qi) (local.get $base))
          (then  ;; the left tail: symbol q, probability 1
            (local.set $s (local.get $qi)) (local.set $left (local.get $qi)) (local.set $p (i32.const 1)))
          (else (if (i32.ge_u (local.get $qi) (local.get $top))
            (then  ;; the right tail
              (local.set $s (i32.add (i32.add (local.get $base) (i32.add (local.get $last) (i32.const 1)))
                                     (i32.sub (local.get $qi) (local.get $top))))
              (local.set $left (local.get $qi)) (local.set $p (i32.const 1)))
            (else
        ;; search range [s, hi] of the window for the symbol
        (if (local.get $table)
          (then
            (local.set $mid (i32.add (local.get $table)
                                     (i32.shl (i32.shr_u (local.get $qi) (i32.const 12)) (i32.const 2))))
            (local.set $s (i32.load (local.get $mid)))
            (local.set $hi (i32.load offset=4 (local.get $mid))))
          (else
            (local.set $s (i32.const 0))
            (local.set $hi (local.get $last))))
        (block $found
          (loop $search
            (br_if $found (i32.ge_u (local.get $s) (local.get $hi)))
            (local.set $mid (i32.shr_u (i32.add (i32.add (local.get $s) (local.get $hi)) (i32.const 1))
                                       (i32.const 1)))
            (if (i32.le_u (i32.load (i32.add (local.get $cdf) (i32.shl (local.get $mid) (i32.const 2))))
                          (local.get $qi))
              (then (local.set $s (local.get $mid)))
              (else (local.set $hi (i32.sub (local.get $mid) (i32.const 1)))))
            (br $search)))
        (local.set $mid (i32.add (local.get $cdf) (i32.shl (local.get $s) (i32.const 2))))
        (local.set $left (i32.load (local.get $mid)))
        (local.set $p (i32.sub (i32.load offset=4 (local.get $mid)) (local.get $left)))
        (local.set $s (i32.add (local.get $s) (local.get $base)))))))
        (i32.store (i32.add (local.get $out) (i32.shl (local.get $i) (i32.const 2))) (local.get $s))
        (local.set $d (i64.sub (local.get $d)
                               (i64.mul (local.get $scale) (i64.extend_i32_u (local.get $left)))))
        (local.set $range (i64.mul (local.get $scale) (i64.extend_i32_u (local.get $p))))
        (if (i64.lt_u (local.get $range) (i64.const 4294967296))
          (then
            (local.set $word (i64.const 0))
            (if (i32.lt_u (local.get $pos) (local.get $n_words))
              (then
                (local.set $word (i64.extend_i32_u
                  (i32.load (i32.add (local.get $words) (i32.shl (local.get $pos) (i32.const 2))))))))
            (local.set $pos (i32.add (local.get $pos) (i32.const 1)))
            (local.set $range (i64.shl (local.get $range) (i64.const 32)))
            (local.set $d (i64.or (i64.shl (local.get $d) (i64.const 32)) (local.get $word)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (i64.store (local.get $state) (local.get $d))
    (i64.store offset=8 (local.get $state) (local.get $range))
    (i32.store offset=16 (local.get $state) (local.get $pos))
    (local.get $status))

  ;; ---------------------------------------------------------------------------------------------
  ;; One diagonal block of the channel transform, in place on channel columns: column ch holds the N
  ;; float32 values of channel ch at $cols + ch·$col_stride (N rounded up to a multiple of 4, so rows go
  ;; four at a time, one per SIMD lane). For the columns [lo, lo + w):
  ;;   x[lo + a] = Σ_k y[lo + k]·B[lo + a, lo + k]   (float32, k ascending, from 0)
  ;; $m: the splatted matrix for groups of four outputs: the v128 at $m + ((g·w + k)·4 + j)·16 holds
  ;; B[lo + 4g + j, lo + k] in all lanes (zero for outputs past w); $tmp: w v128 of scratch.
  (func (export "basis_columns")
    (param $cols i32) (param $col_stride i32) (param $lo i32) (param $w i32) (param $m i32) (param $tmp i32)
    (param $n_chunks i32)
    (local $base i32) (local $off i32) (local $r i32) (local $k i32) (local $g i32) (local $groups i32)
    (local $src i32) (local $mp i32) (local $dst i32) (local $y v128)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128)
    (local.set $groups (i32.shr_u (i32.add (local.get $w) (i32.const 3)) (i32.const 2)))
    (local.set $base (i32.add (local.get $cols) (i32.mul (local.get $lo) (local.get $col_stride))))
    (block $chunks_done
      (loop $chunk
        (br_if $chunks_done (i32.ge_u (local.get $r) (local.get $n_chunks)))
        (local.set $off (i32.add (local.get $base) (i32.shl (local.get $r) (i32.const 4))))
        ;; gather the four rows' inputs
        (local.set $k (i32.const 0))
        (local.set $src (local.get $off))
        (loop $gather
          (v128.store (i32.add (local.get $tmp) (i32.shl (local.get $k) (i32.const 4))) (v128.load (local.get $src)))
          (local.set $src (i32.add (local.get $src) (local.get $col_stride)))
          (local.set $k (i32.add (local.get $k) (i32.const 1)))
          (br_if $gather (i32.lt_u (local.get $k) (local.get $w))))
        ;; four outputs at a time
        (local.set $g (i32.const 0))
        (local.set $mp (local.get $m))
        (loop $group
          (local.set $a0 (v128.const i32x4 0 0 0 0))
          (local.set $a1 (v128.const i32x4 0 0 0 0))
          (local.set $a2 (v128.const i32x4 0 0 0 0))
          (local.set $a3 (v128.const i32x4 0 0 0 0))
          (local.set $k (i32.const 0))
          (loop $term
            (local.set $y (v128.load (i32.add (local.get $tmp) (i32.shl (local.get $k) (i32.const 4)))))
            (local.set $a0 (f32x4.add (local.get $a0) (f32x4.mul (local.get $y) (v128.load (local.get $mp)))))
            (local.set $a1 (f32x4.add (local.get $a1) (f32x4.mul (local.get $y) (v128.load offset=16 (local.get $mp)))))
            (local.set $a2 (f32x4.add (local.get $a2) (f32x4.mul (local.get $y) (v128.load offset=32 (local.get $mp)))))
            (local.set $a3 (f32x4.add (local.get $a3) (f32x4.mul (local.get $y) (v128.load offset=48 (local.get $mp)))))
            (local.set $mp (i32.add (local.get $mp) (i32.const 64)))
            (local.set $k (i32.add (local.get $k) (i32.const 1)))
            (br_if $term (i32.lt_u (local.get $k) (local.get $w))))
          ;; store the outputs that exist: a = 4g + j < w
          (local.set $dst (i32.add (local.get $off)
                                   (i32.mul (i32.shl (local.get $g) (i32.const 2)) (local.get $col_stride))))
          (v128.store (local.get $dst) (local.get $a0))
          (if (i32.lt_u (i32.add (i32.shl (local.get $g) (i32.const 2)) (i32.const 1)) (local.get $w))
            (then (v128.store (i32.add (local.get $dst) (local.get $col_stride)) (local.get $a1))))
          (if (i32.lt_u (i32.add (i32.shl (local.get $g) (i32.const 2)) (i32.const 2)) (local.get $w))
            (then (v128.store (i32.add (local.get $dst) (i32.shl (local.get $col_stride) (i32.const 1))) (local.get $a2))))
          (if (i32.lt_u (i32.add (i32.shl (local.get $g) (i32.const 2)) (i32.const 3)) (local.get $w))
            (then (v128.store (i32.add (local.get $dst) (i32.mul (local.get $col_stride) (i32.const 3))) (local.get $a3))))
          (local.set $g (i32.add (local.get $g) (i32.const 1)))
          (br_if $group (i32.lt_u (local.get $g) (local.get $groups))))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $chunk))))
)
