"""Fixtures for web/test/entropy.test.mjs: what the Python encoder (codec/entropy.py, constriction)
produces, for the JavaScript decoder (web/src/entropy.js) to reproduce bit for bit.

    python web/test/make_entropy_fixtures.py [OUT_DIR]      # default: web/test/fixtures

Writes OUT_DIR/entropy.json (deterministic: fixed seeds, sorted keys). Floats are written with
Python's repr, which JSON.parse reads back to the same float64.

``integer_tables`` and the ``integer_*_streams`` hold format 6's integer tables
(``codec.entropy.integer_table``) and streams coded with them.

The integer probabilities constriction actually uses are read from constriction itself: after
encoding one symbol s into a fresh RangeEncoder, its state is lower = scale·cdf[s] and
range = scale·prob[s] with scale = (2^64 − 1) >> 24 = 2^40 − 1 (no renormalisation happens
for a first symbol), and ``RangeEncoder.pos()`` returns that state.
"""
from __future__ import annotations

import json
import os
import sys
from fractions import Fraction
from math import floor

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import constriction  # noqa: E402

from codec.entropy import (  # noqa: E402
    FLOAT_TABLES,
    INTEGER_TABLES,
    K_MAX,
    K_MIN,
    RangeReader,
    RangeWriter,
    adaptive_encode,
    geometric_table,
    geometric_theta,
    geometric_weights,
    integer_table,
)

PRECISION = 24
#: quantization cases θ^|r| (k, r_min, r_max): the fixture stores only (k, r_min, r_max), the test
#: builds the table with geometricTable (itself checked bit for bit against "tables")
GEOMETRIC_CASES = [(-160, -20, 20), (0, -100, 100), (160, -2000, 2000)]
FIRST_SCALE = ((1 << 64) - 1) >> PRECISION  # 2^40 − 1


def constriction_probabilities(probabilities: np.ndarray) -> list[int]:
    """The integer probabilities of ``Categorical(probabilities, perfect=False)``, read back from
    the state of a RangeEncoder after one symbol."""
    model = RangeWriter().model(probabilities)
    out, expected_lower = [], 0
    for s in range(probabilities.size):
        enc = constriction.stream.queue.RangeEncoder()
        enc.encode(np.array([s], dtype=np.int32), model)
        _, (lower, rng) = enc.pos()
        assert lower % FIRST_SCALE == 0 and rng % FIRST_SCALE == 0, "unexpected encoder state"
        assert lower // FIRST_SCALE == expected_lower, "cdf is not the running sum of probabilities"
        out.append(rng // FIRST_SCALE)
        expected_lower += out[-1]
    assert expected_lower == 1 << PRECISION
    return out


def spec_probabilities(probabilities: np.ndarray) -> list[int]:
    """The quantization as documented in web/src/entropy.js (plain float64 arithmetic)."""
    p = [float(x) for x in probabilities]
    n = len(p)
    total = 0.0
    for x in p:  # sequential, left to right
        total += x
    scale = float((1 << PRECISION) - n) / total
    cdf, cumulative = [], 0.0
    for i, x in enumerate(p):
        cdf.append(int(cumulative * scale) + i)
        cumulative += x
    cdf.append(1 << PRECISION)
    return [cdf[i + 1] - cdf[i] for i in range(n)]


def exact_rational_probabilities(counts: list[int]) -> list[int]:
    """The same rule in exact rational arithmetic (differs from float64 in edge cases)."""
    n, total = len(counts), sum(counts)
    free = (1 << PRECISION) - n
    cdf, cumulative = [], 0
    for i, c in enumerate(counts):
        cdf.append(floor(Fraction(cumulative * free, total)) + i)
        cumulative += c
    cdf.append(1 << PRECISION)
    return [cdf[i + 1] - cdf[i] for i in range(n)]


def floats(a) -> list[float]:
    return [float(x) for x in np.asarray(a, dtype=np.float64)]


def ints(a) -> list[int]:
    return [int(x) for x in np.asarray(a).ravel()]


def quantization_cases(rng: np.random.Generator) -> list[tuple[str, np.ndarray]]:
    cases = [
        ("two_equal", [0.5, 0.5]),
        ("two_zero", [1.0, 0.0]),
        ("two_subnormal", [5e-324, 1.0]),
        ("three_doc", [0.1, 0.6, 0.3]),
        ("dominant_middle_10", [1e-12] * 4 + [1.0] + [1e-12] * 5),
        ("dominant_first_21", [1.0] + [1e-30] * 20),
        ("dominant_last_21", [1e-30] * 20 + [1.0]),
        ("huge_values", [1e300, 3e300, 1e299, 1e-300, 0.0]),
        ("uniform_4097", [1.0] * 4097),
        ("powers_of_two_30", [2.0 ** -i for i in range(30)]),
    ]
    tiny = rng.random(50)
    tiny[rng.permutation(50)[:20]] = rng.choice([0.0, 5e-324, 1e-310, 1e-20, 1e-9, 3e-8], size=20)
    cases.append(("tiny_mixed_50", tiny))
    cases.append(("small_values_100", rng.random(100) * 1e-290))
    cases.append(("counts_300", rng.integers(1, 1_000_000, size=300).astype(np.float64)))
    cases.append(("dirichlet_1000", rng.dirichlet(np.full(1000, 0.3))))
    # a wide dynamic range (2^-17 .. 2^18) built exactly: numpy's exp ufunc rounds differently on CPUs with and
    # without AVX-512, and the fixture must come out the same on every machine
    cases.append(("log_uniform_5000", np.ldexp(1.0 + rng.random(5000), rng.integers(-17, 18, size=5000))))
    for k, lo, hi in GEOMETRIC_CASES:
        cases.append((f"geometric_k{k}_{lo}_{hi}", geometric_table(k, lo, hi)))
    # all-ones counts (how every adaptive model starts) where float64 and exact rational
    # arithmetic give different tables (n = 98, 196, 206): a decoder computing the rule
    # "exactly" would fail here
    found = 0
    for n in range(3, 1000):
        counts = [1] * n
        if spec_probabilities(np.array(counts, dtype=np.float64)) != exact_rational_probabilities(counts):
            cases.append((f"float_vs_exact_{n}", counts))
            found += 1
            if found == 3:
                break
    assert found == 3
    return [(name, np.asarray(p, dtype=np.float64)) for name, p in cases]


def draw(rng, probabilities: np.ndarray, count: int, noise: float = 0.3) -> np.ndarray:
    """Symbols mostly from the distribution, some uniform (to hit improbable symbols)."""
    p = probabilities / probabilities.sum()
    sym = rng.choice(p.size, size=count, p=p)
    uniform = rng.random(count) < noise
    sym[uniform] = rng.integers(0, p.size, size=int(uniform.sum()))
    return sym.astype(np.int32)


def main(out_dir: str) -> str:
    rng = np.random.default_rng(20240611)
    data: dict = {"constriction": getattr(constriction, "__version__", None) or _dist_version(), "precision": PRECISION}

    # geometric parameters and tables (bit-exact float64)
    data["theta"] = {"k_min": K_MIN, "k_max": K_MAX,
                     "values": floats(geometric_theta(np.arange(K_MIN, K_MAX + 1)))}
    data["tables"] = [{"k": k, "r_min": lo, "r_max": hi, "values": floats(geometric_table(k, lo, hi))}
                      for k, lo, hi in [(-160, -30, 30), (-57, -5, 40), (-1, 0, 3), (0, -100, 100),
                                        (13, -200, 7), (99, -300, 300), (160, -500, 500)]]

    # quantization of float weights
    cases = quantization_cases(rng)
    data["quantization"] = []
    for name, p in cases:
        q = constriction_probabilities(p)
        assert q == spec_probabilities(p), f"{name}: constriction does not follow the documented rule"
        entry = {"name": name, "quantized": q}
        geometric = [g for g in GEOMETRIC_CASES if name == f"geometric_k{g[0]}_{g[1]}_{g[2]}"]
        if geometric:
            entry["geometric"] = list(geometric[0])
        else:
            entry["probabilities"] = floats(p)
        data["quantization"].append(entry)

    # i.i.d. streams with those models
    data["categorical_streams"] = []
    for index, (name, p) in enumerate(cases):
        if name.startswith("float_vs_exact") or name == "uniform_4097" or name.startswith("geometric_k160"):
            continue
        count = 2000 if p.size <= 1000 else 4000
        sym = draw(rng, p, count)
        writer = RangeWriter()
        writer.encode(sym, writer.model(p))
        words = writer.words()
        assert np.array_equal(RangeReader(words).decode(count, RangeReader(words).model(p)), sym)
        data["categorical_streams"].append({"case": index, "symbols": ints(sym), "words": ints(words)})

    # geometric streams as codec/ac_coding.py writes them (cached models keyed by k)
    data["geometric_streams"] = [geometric_stream(rng, FLOAT_TABLES, r_min, r_max, n_seg) for r_min, r_max, n_seg in
                                 [(-3, 3, 6), (0, 7, 4), (-40, 25, 10), (-300, 300, 8), (-2000, 2000, 4)]]

    # adaptive streams as codec/geometry.py writes them (several contexts into one writer)
    data["adaptive_streams"] = [adaptive_stream(rng, FLOAT_TABLES, alphabet, n_ctx, first_chunk)
                                for alphabet, n_ctx, first_chunk in [(2, 3, 32), (5, 2, 1), (255, 4, 32), (1000, 2, 8)]]

    # decoding beyond the end of a stream and from odd word arrays (raw constriction behaviour)
    data["raw_decodes"] = []
    names = [name for name, _ in cases]
    p3, p5000 = names.index("three_doc"), names.index("log_uniform_5000")
    raw_inputs = [  # (name, quantization case, words, count)
        ("after_4_symbols", p3, None, 200),
        ("empty", p3, [], 20),
        ("one_word", p3, [0xFFFFFFFF], 20),
        ("almost_all_ones", p3, [0xFFFFFFFF, 0xFEFFFFFF, 0xFFFFFFFF], 50),  # fails at the 2nd symbol
        ("random_words", p5000, ints(rng.integers(0, 2 ** 32, size=64, dtype=np.uint64)), 3000),
        ("all_ones", p3, [0xFFFFFFFF, 0xFFFFFFFF], 5),
        ("all_ones_top_byte", p3, [0xFFFFFFFF, 0xFF000000], 5),
    ]
    for name, case, words, count in raw_inputs:
        p = cases[case][1]
        if words is None:
            writer = RangeWriter()
            writer.encode(np.array([2, 1, 0, 2], dtype=np.int32), writer.model(p))
            words = ints(writer.words())
        entry = {"name": name, "case": case, "words": words, "count": count}
        try:
            reader = RangeReader(np.array(words, dtype=np.uint32))
            entry["symbols"] = ints(reader.decode(count, reader.model(p)))
        except ValueError:
            entry["error"] = True
        data["raw_decodes"].append(entry)

    integer_fixtures(data, np.random.default_rng(20261206))

    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, "entropy.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(data, f, sort_keys=True, separators=(",", ":"))
        f.write("\n")
    return path


def integer_fixtures(data: dict, rng: np.random.Generator) -> None:
    """Format 6's integer tables (codec.entropy.integer_table): weights → tables, and geometric and
    adaptive streams coded with them; each table is checked against constriction's actual state."""
    cases = [
        ("zeros_3", [0, 0, 0]),
        ("doc_5", [0, 3, 1, 0, 3]),
        ("one_heavy_300", [0] * 150 + [(1 << 28) - 1] + [0] * 149),
        ("near_limit_4", [(1 << 28) - 1, (1 << 28) - 2, 1, 0]),
        ("counts_1000", rng.integers(1, 5000, size=1000)),
        ("counts_ones_255", [1] * 255),
    ]
    for k, lo, hi in [(-160, -20, 20), (0, -100, 100), (40, -3000, 3000), (160, -4000, 4000)]:
        cases.append((f"geometric_k{k}_{lo}_{hi}", geometric_weights(k, lo, hi)))
    data["integer_tables"] = []
    for name, w in cases:
        w = np.asarray(w, dtype=np.int64)
        q = integer_table(w)
        if w.size <= 5000:
            assert constriction_probabilities((q - 1).astype(np.float64)) == q.tolist(), f"{name}: constriction's table is not q"
        entry = {"name": name, "table": ints(q)}
        if name.startswith("geometric_k"):
            entry["geometric"] = [int(v) for v in name[len("geometric_k"):].split("_")]
        else:
            entry["weights"] = ints(w)
        data["integer_tables"].append(entry)

    data["integer_geometric_streams"] = [geometric_stream(rng, INTEGER_TABLES, r_min, r_max, n_seg)
                                         for r_min, r_max, n_seg in [(-3, 3, 6), (-40, 25, 10), (-2000, 2000, 4)]]
    data["integer_adaptive_streams"] = [adaptive_stream(rng, INTEGER_TABLES, alphabet, n_ctx, first_chunk)
                                        for alphabet, n_ctx, first_chunk in [(2, 3, 32), (255, 4, 32)]]


def geometric_stream(rng: np.random.Generator, tables: str, r_min: int, r_max: int, n_seg: int) -> dict:
    """Segments of geometric models in one stream, as codec/ac_coding.py writes them (cached per k)."""
    writer = RangeWriter(tables)
    segments, symbols = [], []
    for _ in range(n_seg):
        k = int(rng.choice([K_MIN, K_MAX, int(rng.integers(K_MIN, K_MAX + 1)), int(rng.integers(-24, 40))]))
        count = int(rng.integers(1, 1500))
        sym = draw(rng, geometric_table(k, r_min, r_max), count, noise=0.05)
        writer.encode(sym, writer.geometric_model(k, r_min, r_max))
        segments.append({"k": k, "count": count})
        symbols.append(sym)
    return {"r_min": r_min, "r_max": r_max, "segments": segments, "symbols": ints(np.concatenate(symbols)),
            "words": ints(writer.words())}


def adaptive_stream(rng: np.random.Generator, tables: str, alphabet: int, n_ctx: int, first_chunk: int) -> dict:
    """Several adaptive contexts in one stream, as codec/geometry.py writes them."""
    writer = RangeWriter(tables)
    contexts, symbols = [], []
    for _ in range(n_ctx):
        counts = (rng.integers(1, 200, size=alphabet) if rng.random() < 0.5 else np.ones(alphabet)).astype(np.int64)
        initial = counts.copy()
        count = int(rng.integers(0, 3000))
        skew = (1.0 / (1.0 + np.arange(alphabet) * (6.0 / max(1.0, alphabet))))[rng.permutation(alphabet)]  # no exp: see above
        sym = draw(rng, skew, count, noise=0.1)
        adaptive_encode(writer, sym, counts, first_chunk)
        contexts.append({"initial_counts": ints(initial), "count": count, "final_counts": ints(counts)})
        symbols.append(sym)
    return {"alphabet": alphabet, "first_chunk": first_chunk, "contexts": contexts,
            "symbols": ints(np.concatenate(symbols)), "words": ints(writer.words())}


def _dist_version():
    from importlib.metadata import version

    return version("constriction")


if __name__ == "__main__":
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")
    path = main(out)
    print(f"wrote {path} ({os.path.getsize(path)} bytes)")
