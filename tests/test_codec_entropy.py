"""codec/entropy.py, codec/ac_coding.py, codec/geometry.py: lossless range coding of codes and octrees."""
import numpy as np
import pytest
import torch

from codec.ac_coding import (
    ADAPTIVE_MAX_ALPHABET,
    MODEL_ADAPTIVE,
    MODEL_GEOMETRIC,
    code_centres,
    decode_ac,
    encode_ac,
    weight_classes,
)
from codec.entropy import (FLOAT_TABLES, INTEGER_TABLES, RangeReader, RangeWriter, adaptive_decode, adaptive_encode,
                           geometric_table, geometric_theta, geometric_weights, integer_table)
from codec.geometry import decode_geometry, encode_geometry
from raht import build_plan, encode_occupancy, morton_encode


def _weights(n_voxels, depth=8, seed=0):
    """(coords, ac_weight) of a random voxel set."""
    g = torch.Generator().manual_seed(seed)
    coords = torch.unique(torch.randint(0, 2 ** depth, (n_voxels, 3), generator=g), dim=0)
    coords = coords[torch.argsort(morton_encode(coords))]
    return coords, build_plan(coords, depth).ac_weight.numpy()


def _round_trip(codes, zero_point, bits, ac_weight, n_block, models=None, tables=INTEGER_TABLES):
    centres = code_centres(zero_point, bits)
    streams = encode_ac(codes, centres, ac_weight, n_block, models=models, tables=tables)
    out = decode_ac(streams, centres, ac_weight, n_block, bits, tables)
    assert out.dtype == (np.uint8 if bits <= 8 else np.uint16)
    assert np.array_equal(out, codes)
    return streams


def test_plan_ac_weight_is_pair_weight():
    coords, w = _weights(500)
    assert w.shape == (coords.shape[0] - 1,) and w.min() >= 2
    # the coarsest pair summarises every voxel; weights sum like a binary tree's internal nodes
    assert w.max() == coords.shape[0]
    assert weight_classes(np.array([2, 3, 4, 7, 8, 1 << 20])).tolist() == [0, 0, 1, 1, 2, 11]


def test_geometric_theta_is_deterministic_and_correct():
    k = np.arange(-160, 161)
    theta = geometric_theta(k)
    m = 2.0 ** (k / 8)
    assert np.allclose(theta, (np.sqrt(1 + m * m) - 1) / m, rtol=1e-12)
    # E|r| of the two-sided geometric equals m
    assert np.allclose(2 * theta / (1 - theta ** 2), m, rtol=1e-9)
    # exact values pinned, so a platform whose arithmetic differs fails here, not in a decoder
    assert geometric_theta(0) == 0.4142135623730951  # √2 − 1
    assert geometric_theta(13) == float.fromhex("0x1.743db265beab2p-1")
    assert geometric_theta(-77) == float.fromhex("0x1.4bfda49a06f98p-11")
    table = geometric_table(3, -4, 2)
    assert table[4] == 1.0 and table[3] == table[5] and table[0] == table[3] ** 4


def _laplace_codes(rng, n, c, bits, spread):
    qmax = (1 << bits) - 1
    zp = np.full((c, 4), (qmax + 1) // 2, dtype=np.float32)
    codes = np.clip(np.rint(rng.laplace(zp[0, 0], spread, size=(n, c))), 0, qmax)
    return codes.astype(np.uint8 if bits <= 8 else np.uint16), zp


@pytest.mark.parametrize("tables", [INTEGER_TABLES, FLOAT_TABLES])
@pytest.mark.parametrize("bits", list(range(1, 17)))
def test_every_bit_width_is_lossless(bits, tables):
    rng = np.random.default_rng(bits)
    coords, w = _weights(300, seed=bits)
    codes, zp = _laplace_codes(rng, w.size, 5, bits, spread=max(0.3, (1 << bits) / 20))
    codes[0, 0] = (1 << bits) - 1  # the extremes of the range
    codes[1, 0] = 0
    _round_trip(codes, zp, bits, w, 4, tables=tables)


@pytest.mark.parametrize("models,tables", [(("geometric",), INTEGER_TABLES), (("geometric",), FLOAT_TABLES),
                                           (("adaptive",), FLOAT_TABLES), (("geometric", "adaptive"), FLOAT_TABLES)])
@pytest.mark.parametrize("case", ["uniform", "laplace", "zeros", "constant", "skewed_zero_point"])
def test_distributions_and_models_are_lossless(models, tables, case):
    rng = np.random.default_rng(1)
    _, w = _weights(800, seed=2)
    n, c, bits = w.size, 6, 8
    zp = rng.integers(100, 156, size=(c, 5)).astype(np.float32)
    if case == "uniform":
        codes = rng.integers(0, 256, size=(n, c))
    elif case == "laplace":
        codes = np.clip(np.rint(rng.laplace(128, 3.0, size=(n, c))), 0, 255)
    elif case == "zeros":
        codes = np.zeros((n, c))
    elif case == "constant":
        codes = np.full((n, c), 77)
    else:
        zp[:] = 0.4  # rounds to 0; codes all on one side
        codes = np.clip(np.rint(np.abs(rng.laplace(0, 2.0, size=(n, c)))), 0, 255)
    streams = _round_trip(codes.astype(np.uint8), zp, bits, w, 5, models, tables)
    if models == ("adaptive",):
        assert (streams.model == MODEL_ADAPTIVE).all()
    if models == ("geometric",):
        assert (streams.model == MODEL_GEOMETRIC).all()


def test_laplace_codes_cost_less_than_raw_and_entropy_bound():
    rng = np.random.default_rng(3)
    _, w = _weights(3000, depth=10, seed=4)
    codes, zp = _laplace_codes(rng, w.size, 4, 8, spread=2.0)
    streams = _round_trip(codes, zp, 8, w, 4)
    bits_per_code = 32 * streams.stream.size / codes.size
    # i.i.d. Laplace with b = 2: entropy of the rounded variable ≈ 2.95 bits
    r = codes.astype(np.int64) - 128
    _, counts = np.unique(r, return_counts=True)
    h = -(counts / counts.sum() * np.log2(counts / counts.sum())).sum()
    assert h < bits_per_code < h + 0.25


def test_geometric_beats_adaptive_when_blocks_differ_and_choice_follows_size():
    rng = np.random.default_rng(5)
    _, w = _weights(3000, depth=10, seed=6)
    n = w.size
    spread = np.repeat([0.5, 8.0, 0.5, 8.0], [n // 4, n // 4, n // 4, n - 3 * (n // 4)])
    codes = np.clip(np.rint(128 + rng.laplace(0, 1, size=(n, 1)) * spread[:, None]), 0, 255).astype(np.uint8)
    zp = np.full((1, 4), 128, dtype=np.float32)
    g = _round_trip(codes, zp, 8, w, 4, ("geometric",), FLOAT_TABLES)
    a = _round_trip(codes, zp, 8, w, 4, ("adaptive",), FLOAT_TABLES)
    best = _round_trip(codes, zp, 8, w, 4, tables=FLOAT_TABLES)
    assert g.stream.size < a.stream.size
    assert best.stream.size == min(g.stream.size, a.stream.size)


def test_large_alphabet_uses_geometric():
    rng = np.random.default_rng(7)
    _, w = _weights(200, seed=8)
    codes = rng.integers(0, 65536, size=(w.size, 2)).astype(np.uint16)
    zp = np.full((2, 2), 32768, dtype=np.float32)
    streams = _round_trip(codes, zp, 16, w, 2, tables=FLOAT_TABLES)
    assert (streams.model == MODEL_GEOMETRIC).all()
    assert int(streams.r_range[0, 1] - streams.r_range[0, 0]) + 1 > ADAPTIVE_MAX_ALPHABET


def test_single_voxel_and_two_voxels():
    for n_vox in (1, 2):
        coords = torch.tensor([[0, 0, 0], [1, 0, 0]])[:n_vox]
        w = build_plan(coords, 3).ac_weight.numpy()
        codes = np.full((n_vox - 1, 3), 5, dtype=np.uint8)
        _round_trip(codes, np.full((3, 1), 5.0, dtype=np.float32), 4, w, 1)


def test_damaged_stream_or_tables_raise_value_error():
    rng = np.random.default_rng(9)
    _, w = _weights(500, seed=10)
    codes, zp = _laplace_codes(rng, w.size, 3, 8, spread=3.0)
    centres = code_centres(zp, 8)
    streams = encode_ac(codes, centres, w, 4)
    streams.stream = streams.stream.copy()
    streams.stream[len(streams.stream) // 2] ^= np.uint32(0x00FF00FF)
    with pytest.raises(ValueError):
        decode_ac(streams, centres, w, 4, 8)
    streams = encode_ac(codes, centres, w, 4)
    streams.words = streams.words + 1
    with pytest.raises(ValueError, match="word counts"):
        decode_ac(streams, centres, w, 4, 8)
    streams = encode_ac(codes, centres, w, 4)
    streams.model = np.full_like(streams.model, 7)
    with pytest.raises(ValueError, match="unknown model"):
        decode_ac(streams, centres, w, 4, 8)
    # integer tables (format 6) have no adaptive AC model; a stream of the other tables fails its checks
    streams = encode_ac(codes, centres, w, 4, models=("adaptive",), tables=FLOAT_TABLES)
    with pytest.raises(ValueError, match="unknown model id 2"):
        decode_ac(streams, centres, w, 4, 8, INTEGER_TABLES)
    with pytest.raises(ValueError, match="subset"):
        encode_ac(codes, centres, w, 4, models=("adaptive",), tables=INTEGER_TABLES)
    streams = encode_ac(codes, centres, w, 4, tables=FLOAT_TABLES)
    with pytest.raises(ValueError):
        decode_ac(streams, centres, w, 4, 8, INTEGER_TABLES)


@pytest.mark.parametrize("tables", [INTEGER_TABLES, FLOAT_TABLES])
def test_adaptive_coder_round_trip_and_state(tables):
    rng = np.random.default_rng(11)
    sym = rng.integers(0, 7, size=5000)
    writer = RangeWriter(tables)
    state = np.ones(7, dtype=np.int64)
    adaptive_encode(writer, sym, state)
    reader = RangeReader(writer.words(), tables)
    state2 = np.ones(7, dtype=np.int64)
    assert np.array_equal(adaptive_decode(reader, sym.size, state2), sym)
    assert np.array_equal(state, state2) and state.sum() == 7 + sym.size


@pytest.mark.parametrize("tables", [INTEGER_TABLES, FLOAT_TABLES])
@pytest.mark.parametrize("depth,n", [(1, 3), (4, 1), (6, 2), (8, 2000), (16, 3000), (21, 500)])
def test_geometry_round_trip(depth, n, tables):
    g = torch.Generator().manual_seed(depth)
    coords = torch.unique(torch.randint(0, 2 ** depth, (n, 3), generator=g), dim=0)
    words = encode_geometry(coords.numpy(), depth, tables)
    out = decode_geometry(words, depth, coords.shape[0], tables)
    expected = coords[torch.argsort(morton_encode(coords))]
    assert torch.equal(out, expected)


def test_geometry_beats_deflate_on_clustered_points():
    import zlib
    g = torch.Generator().manual_seed(0)
    centres = torch.rand(40, 3, generator=g) * 60000
    pts = (centres.repeat_interleave(200, 0) + torch.randn(8000, 3, generator=g) * 300).clamp(0, 65535).long()
    coords = torch.unique(pts, dim=0)
    words = encode_geometry(coords.numpy(), 16)
    deflated = len(zlib.compress(encode_occupancy(coords, 16).tobytes(), 9))
    assert 4 * words.size < deflated


def test_geometry_damage_is_detected():
    g = torch.Generator().manual_seed(1)
    coords = torch.unique(torch.randint(0, 256, (400, 3), generator=g), dim=0)
    words = encode_geometry(coords.numpy(), 8)
    with pytest.raises(ValueError, match="voxels"):
        decode_geometry(words, 8, coords.shape[0] + 1)
    bad = words.copy()
    bad[0] ^= np.uint32(0xFFFF0000)
    try:
        out = decode_geometry(bad, 8, coords.shape[0])
    except ValueError:
        return
    assert not torch.equal(out, coords)  # a wrong stream decodes to other voxels; load_npz's SHA-256 stops it first


# --- integer probability tables (format 6) ---------------------------------------------------------------

def _reference_decode(words, cdf, count):
    """A plain-integer decoder of constriction's queue range coder (32-bit words, 24-bit precision), as
    web/src/entropy.js documents it, decoding with the cumulative table ``cdf`` exactly."""
    import bisect

    words = [int(w) for w in words]
    mask = (1 << 64) - 1
    lower, rng = 0, mask
    point = ((words[0] << 32) | (words[1] if len(words) > 1 else 0)) if words else 0
    pos, out = 2, []
    for _ in range(count):
        scale = rng >> 24
        quantile = ((point - lower) & mask) // scale
        s = bisect.bisect_right(cdf, quantile) - 1
        out.append(s)
        lower = (lower + scale * cdf[s]) & mask
        rng = scale * (cdf[s + 1] - cdf[s])
        if rng < 1 << 32:
            rng <<= 32
            lower = (lower << 32) & mask
            point = ((point << 32) | (words[pos] if pos < len(words) else 0)) & mask
            pos += 1
    return out


def test_integer_table_rule():
    q = integer_table(np.array([0, 3, 1, 0, 3], dtype=np.int64))
    assert q.dtype == np.int64 and q.sum() == 1 << 24 and q.min() >= 1
    # the rule of codec/entropy.py by hand: F = 2^24 - 5, q = 1 + floor(w F / 7), remainder to index 1
    f = (1 << 24) - 5
    expected = [1, 1 + 3 * f // 7, 1 + f // 7, 1, 1 + 3 * f // 7]
    expected[1] += (1 << 24) - sum(expected)
    assert q.tolist() == expected
    assert integer_table(np.zeros(4, dtype=np.int64)).tolist() == [(1 << 22)] * 4  # all zero: uniform
    for bad in (np.array([1]), np.array([1.0, 2.0]), np.array([-1, 2]), np.array([1 << 28, 1])):
        with pytest.raises(ValueError):
            integer_table(bad)


def test_geometric_weights_are_the_float_table_floored_at_24_bits():
    for k, lo, hi in [(0, -5, 5), (13, -300, 40), (-77, -3, 3), (150, -65535, 65535)]:
        w = geometric_weights(k, lo, hi)
        t = geometric_table(k, lo, hi)
        assert w.dtype == np.int64 and np.array_equal(w, np.floor(t * 2.0 ** 24).astype(np.int64))
        assert w[-lo] == 1 << 24 if lo <= 0 <= hi else True
        q = integer_table(w)
        assert q.sum() == 1 << 24 and q.min() >= 1


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_constriction_codes_with_exactly_the_integer_table(seed):
    """The coder is handed q - 1; its scale factor is then exactly 1, so its table is q itself: a plain
    integer decoder with cdf = cumsum(q) decodes its stream."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 300))
    weights = rng.integers(0, [1, 50, 1 << 20][seed], size=n) if seed else rng.integers(0, 3, size=n)
    q = integer_table(weights)
    cdf = np.concatenate([[0], np.cumsum(q)]).tolist()
    sym = rng.choice(n, size=4000, p=q / q.sum())
    writer = RangeWriter(INTEGER_TABLES)
    writer.encode(sym, writer.model(weights))
    words = writer.words()
    assert _reference_decode(words, cdf, sym.size) == sym.tolist()
    reader = RangeReader(words, INTEGER_TABLES)
    assert np.array_equal(reader.decode(sym.size, reader.model(weights)), sym)
