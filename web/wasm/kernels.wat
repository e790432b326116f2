;; The two hot loops of the JavaScript decoder as WebAssembly (web/src/kernels.js loads it; `npm run
;; build:wasm` turns this file into web/src/kernels.wasm.js). Both are plain transcriptions of the
;; JavaScript reference in web/src/entropy.js (RangeReader.decode) and web/src/decode.js
;; (applyBasisTranspose): WebAssembly gives the range decoder native 64-bit integers (one division per
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
  ;; $cdf: u32 [size + 1]; $table: 0 or u32 [4097], table[j] = the symbol of quantile j·2^12 and
  ;; table[4096] = size − 1 (narrows the binary search); $last = size − 1; $out: i32 [count].
  ;; Returns 0, or 1 on invalid data (the state is stored either way).
  (func (export "range_decode")
    (param $state i32) (param $count i32) (param $cdf i32) (param $table i32) (param $last i32)
    (param $out i32) (param $words i32) (param $n_words i32) (result i32)
    (local $d i64) (local $range i64) (local $pos i32) (local $scale i64) (local $q i64)
    (local $qi i32) (local $s i32) (local $hi i32) (local $mid i32) (local $left i32) (local $i i32)
    (local $word i64) (local $status i32)
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
        ;; search range [s, hi] for the symbol
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
        (i32.store (i32.add (local.get $out) (i32.shl (local.get $i) (i32.const 2))) (local.get $s))
        (local.set $mid (i32.add (local.get $cdf) (i32.shl (local.get $s) (i32.const 2))))
        (local.set $left (i32.load (local.get $mid)))
        (local.set $d (i64.sub (local.get $d)
                               (i64.mul (local.get $scale) (i64.extend_i32_u (local.get $left)))))
        (local.set $range (i64.mul (local.get $scale)
                                   (i64.extend_i32_u (i32.sub (i32.load offset=4 (local.get $mid))
                                                              (local.get $left)))))
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
  ;; One diagonal block of the channel transform, in place: for each of $n rows of $c float32 values
  ;; at $rows, the columns [lo, lo + w) become x[lo + a] = Σ_k y[lo + k]·B[lo + a, lo + k].
  ;; $m: float32 [w, wp] with m[k, a] = B[lo + a, lo + k] (zero for a ≥ w; wp = w rounded up to 4,
  ;; 16-byte aligned); $acc: wp float32 of scratch, 16-byte aligned. Sums in float32, k ascending.
  (func (export "basis_block")
    (param $rows i32) (param $n i32) (param $c i32) (param $lo i32) (param $w i32) (param $wp i32)
    (param $m i32) (param $acc i32)
    (local $r i32) (local $y i32) (local $k i32) (local $a i32) (local $mk i32) (local $v v128)
    (local $wp_bytes i32) (local $w4 i32)
    (local.set $wp_bytes (i32.shl (local.get $wp) (i32.const 2)))
    (local.set $w4 (i32.and (local.get $w) (i32.const -4)))
    (local.set $y (i32.add (local.get $rows) (i32.shl (local.get $lo) (i32.const 2))))
    (block $rows_done
      (loop $row
        (br_if $rows_done (i32.ge_u (local.get $r) (local.get $n)))
        ;; acc = 0
        (local.set $a (i32.const 0))
        (loop $zero
          (v128.store (i32.add (local.get $acc) (local.get $a)) (v128.const i32x4 0 0 0 0))
          (local.set $a (i32.add (local.get $a) (i32.const 16)))
          (br_if $zero (i32.lt_u (local.get $a) (local.get $wp_bytes))))
        ;; acc += y[k] · m[k, :]
        (local.set $k (i32.const 0))
        (local.set $mk (local.get $m))
        (loop $col
          (local.set $v (f32x4.splat (f32.load (i32.add (local.get $y) (i32.shl (local.get $k) (i32.const 2))))))
          (local.set $a (i32.const 0))
          (loop $lane
            (v128.store (i32.add (local.get $acc) (local.get $a))
              (f32x4.add (v128.load (i32.add (local.get $acc) (local.get $a)))
                         (f32x4.mul (local.get $v) (v128.load (i32.add (local.get $mk) (local.get $a))))))
            (local.set $a (i32.add (local.get $a) (i32.const 16)))
            (br_if $lane (i32.lt_u (local.get $a) (local.get $wp_bytes))))
          (local.set $mk (i32.add (local.get $mk) (local.get $wp_bytes)))
          (local.set $k (i32.add (local.get $k) (i32.const 1)))
          (br_if $col (i32.lt_u (local.get $k) (local.get $w))))
        ;; y[0, w) = acc[0, w): four lanes at a time, then the tail
        (local.set $a (i32.const 0))
        (block $wide_done
          (loop $wide
            (br_if $wide_done (i32.ge_u (local.get $a) (local.get $w4)))
            (v128.store align=4 (i32.add (local.get $y) (i32.shl (local.get $a) (i32.const 2)))
              (v128.load (i32.add (local.get $acc) (i32.shl (local.get $a) (i32.const 2)))))
            (local.set $a (i32.add (local.get $a) (i32.const 4)))
            (br $wide)))
        (block $tail_done
          (loop $tail
            (br_if $tail_done (i32.ge_u (local.get $a) (local.get $w)))
            (f32.store (i32.add (local.get $y) (i32.shl (local.get $a) (i32.const 2)))
              (f32.load (i32.add (local.get $acc) (i32.shl (local.get $a) (i32.const 2)))))
            (local.set $a (i32.add (local.get $a) (i32.const 1)))
            (br $tail)))
        (local.set $y (i32.add (local.get $y) (i32.shl (local.get $c) (i32.const 2))))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $row))))
  ;; ---------------------------------------------------------------------------------------------
  ;; One level of the inverse RAHT, in place on float32 rows of $c values at $work: for each pair i in
  ;; [i0, i1) with rows L = left[i], R = right[i] and weights a = a32[i], b = b32[i] (float32):
  ;;   x_L = f32(low·a) − high·b,   x_R = f32(high·a) + low·b
  ;; where f32() rounds the product to float32 and the rest is computed in float64 and rounded to
  ;; float32 once at the end: exactly the JavaScript reference (web/src/raht.js rahtInverse), which
  ;; emulates torch's fused multiply-add (addcmul_) on x86. Four channels per step, then the tail.
  (func (export "raht_level")
    (param $work i32) (param $c i32) (param $left i32) (param $right i32) (param $a32 i32) (param $b32 i32)
    (param $i0 i32) (param $i1 i32)
    (local $i i32) (local $lo i32) (local $hi i32) (local $k i32) (local $c4 i32) (local $stride i32)
    (local $a f32) (local $b f64) (local $av v128) (local $bv v128)
    (local $low v128) (local $high v128) (local $la v128) (local $ha v128)
    (local $x f32) (local $y f32)
    (local.set $stride (i32.shl (local.get $c) (i32.const 2)))
    (local.set $c4 (i32.shl (i32.and (local.get $c) (i32.const -4)) (i32.const 2)))
    (local.set $i (local.get $i0))
    (block $pairs_done
      (loop $pair
        (br_if $pairs_done (i32.ge_u (local.get $i) (local.get $i1)))
        (local.set $lo (i32.add (local.get $work)
          (i32.mul (i32.load (i32.add (local.get $left) (i32.shl (local.get $i) (i32.const 2)))) (local.get $stride))))
        (local.set $hi (i32.add (local.get $work)
          (i32.mul (i32.load (i32.add (local.get $right) (i32.shl (local.get $i) (i32.const 2)))) (local.get $stride))))
        (local.set $a (f32.load (i32.add (local.get $a32) (i32.shl (local.get $i) (i32.const 2)))))
        (local.set $b (f64.promote_f32 (f32.load (i32.add (local.get $b32) (i32.shl (local.get $i) (i32.const 2))))))
        (local.set $av (f32x4.splat (local.get $a)))
        (local.set $bv (f64x2.splat (local.get $b)))
        (local.set $k (i32.const 0))
        (block $wide_done
          (loop $wide
            (br_if $wide_done (i32.ge_u (local.get $k) (local.get $c4)))
            (local.set $low (v128.load align=4 (i32.add (local.get $lo) (local.get $k))))
            (local.set $high (v128.load align=4 (i32.add (local.get $hi) (local.get $k))))
            (local.set $la (f32x4.mul (local.get $low) (local.get $av)))
            (local.set $ha (f32x4.mul (local.get $high) (local.get $av)))
            ;; x_L = f32(low·a) − high·b, lanes 0–1 and 2–3 in float64
            (v128.store align=4 (i32.add (local.get $lo) (local.get $k))
              (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23
                (f32x4.demote_f64x2_zero
                  (f64x2.sub (f64x2.promote_low_f32x4 (local.get $la))
                             (f64x2.mul (f64x2.promote_low_f32x4 (local.get $high)) (local.get $bv))))
                (f32x4.demote_f64x2_zero
                  (f64x2.sub (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $la) (local.get $la)))
                             (f64x2.mul (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $high) (local.get $high)))
                                        (local.get $bv))))))
            ;; x_R = f32(high·a) + low·b
            (v128.store align=4 (i32.add (local.get $hi) (local.get $k))
              (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23
                (f32x4.demote_f64x2_zero
                  (f64x2.add (f64x2.promote_low_f32x4 (local.get $ha))
                             (f64x2.mul (f64x2.promote_low_f32x4 (local.get $low)) (local.get $bv))))
                (f32x4.demote_f64x2_zero
                  (f64x2.add (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $ha) (local.get $ha)))
                             (f64x2.mul (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $low) (local.get $low)))
                                        (local.get $bv))))))
            (local.set $k (i32.add (local.get $k) (i32.const 16)))
            (br $wide)))
        (block $tail_done
          (loop $tail
            (br_if $tail_done (i32.ge_u (local.get $k) (local.get $stride)))
            (local.set $x (f32.load (i32.add (local.get $lo) (local.get $k))))
            (local.set $y (f32.load (i32.add (local.get $hi) (local.get $k))))
            (f32.store (i32.add (local.get $lo) (local.get $k))
              (f32.demote_f64 (f64.sub (f64.promote_f32 (f32.mul (local.get $x) (local.get $a)))
                                       (f64.mul (f64.promote_f32 (local.get $y)) (local.get $b)))))
            (f32.store (i32.add (local.get $hi) (local.get $k))
              (f32.demote_f64 (f64.add (f64.promote_f32 (f32.mul (local.get $y) (local.get $a)))
                                       (f64.mul (f64.promote_f32 (local.get $x)) (local.get $b)))))
            (local.set $k (i32.add (local.get $k) (i32.const 4)))
            (br $tail)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $pair))))
)
