"""Morton codes (bit layout, round trip) and octree occupancy coding (round trip, byte count)."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from raht import decode_occupancy, encode_occupancy, morton_decode, morton_encode


def python_morton(x, y, z, bits=21):
    code = 0
    for i in range(bits):
        code |= ((z >> i) & 1) << (3 * i)
        code |= ((y >> i) & 1) << (3 * i + 1)
        code |= ((x >> i) & 1) << (3 * i + 2)
    return code


# ---------------------------------------------------------------- Morton


def test_morton_bit_layout():
    coords = torch.tensor([[0, 0, 1], [0, 1, 0], [1, 0, 0], [0, 0, 2], [2, 0, 0], [1, 1, 1],
                           [0, 0, (1 << 20)], [(1 << 20), 0, 0]])
    assert morton_encode(coords).tolist() == [1, 2, 4, 8, 32, 7, 1 << 60, 1 << 62]
    top = (1 << 21) - 1
    assert morton_encode(torch.tensor([[top, top, top]])).item() == (1 << 63) - 1


def test_morton_matches_python_reference_and_round_trips():
    g = torch.Generator().manual_seed(0)
    coords = torch.randint(0, 1 << 21, (20000, 3), generator=g)
    coords[:4] = torch.tensor([[0, 0, 0], [(1 << 21) - 1] * 3, [(1 << 21) - 1, 0, 0], [0, 0, (1 << 21) - 1]])
    codes = morton_encode(coords)
    assert codes.dtype == torch.int64 and int(codes.min()) >= 0
    for i in list(range(4)) + list(range(4, 20000, 997)):
        assert codes[i].item() == python_morton(*coords[i].tolist())
    assert torch.equal(morton_decode(codes), coords)


def test_morton_order_is_octree_depth_first():
    # sorting by code visits octants in the order (x, y, z) bits = 000, 001, ..., 111 at every level
    c = torch.tensor([[x, y, z] for x in range(2) for y in range(2) for z in range(2)])
    assert morton_encode(c).tolist() == list(range(8))


def test_morton_errors():
    with pytest.raises(ValueError, match="2\\^21"):
        morton_encode(torch.tensor([[1 << 21, 0, 0]]))
    with pytest.raises(ValueError, match="2\\^21"):
        morton_encode(torch.tensor([[-1, 0, 0]]))
    with pytest.raises(ValueError, match="integer"):
        morton_encode(torch.tensor([[0.5, 0.0, 0.0]]))
    with pytest.raises(ValueError, match=">= 0"):
        morton_decode(torch.tensor([-5]))


# ---------------------------------------------------------------- occupancy


def count_internal_nodes(coords, depth):
    """Occupied internal nodes = distinct prefixes at octree levels 0..d−1 (independent count)."""
    total = 0
    for t in range(depth):
        shift = depth - t
        total += len({(int(x) >> shift, int(y) >> shift, int(z) >> shift) for x, y, z in coords.tolist()})
    return total


def test_occupancy_hand_examples():
    # depth 1, voxels (0,0,0) and (1,1,1): root byte with child 0 and child 7 -> 0b10000001
    assert encode_occupancy(torch.tensor([[0, 0, 0], [1, 1, 1]]), 1).tolist() == [129]
    # depth 2, voxel (3,0,0): x bits 1,1 -> child 4 at both levels -> [16, 16]
    assert encode_occupancy(np.array([[3, 0, 0]]), 2).tolist() == [16, 16]
    # depth 2, voxels (0,0,1) and (2,0,0): root {child 0, child 4} = 17, then node 0 {child 1} = 2,
    # node 4 {child 0} = 1, breadth first in Morton order
    assert encode_occupancy(torch.tensor([[2, 0, 0], [0, 0, 1]]), 2).tolist() == [17, 2, 1]
    assert decode_occupancy(bytes([17, 2, 1]), 2).tolist() == [[0, 0, 1], [2, 0, 0]]


@pytest.mark.parametrize("depth,n", [(1, 5), (2, 20), (5, 300), (10, 2000), (16, 1000), (21, 500)])
def test_occupancy_round_trip_and_byte_count(depth, n):
    g = torch.Generator().manual_seed(depth)
    coords = torch.randint(0, 1 << depth, (n, 3), generator=g)
    if depth > 3:  # add a dense cluster so that nodes have several children
        coords = torch.cat([coords, torch.randint(0, 4, (64, 3), generator=g)])
    data = encode_occupancy(coords, depth)
    assert data.dtype == np.uint8 and data.ndim == 1
    assert data.size == count_internal_nodes(coords, depth)
    decoded = decode_occupancy(data, depth)
    expected = torch.unique(coords, dim=0)
    expected = expected[torch.argsort(morton_encode(expected))]
    assert decoded.dtype == torch.int64
    assert torch.equal(decoded, expected)  # unique voxels, Morton order
    assert torch.equal(decode_occupancy(data.tobytes(), depth), expected)
    assert torch.equal(decode_occupancy(torch.from_numpy(data), depth), expected)


def test_single_voxel_depth_21_and_empty():
    top = (1 << 21) - 1
    data = encode_occupancy(torch.tensor([[top, top, top]]), 21)
    assert data.tolist() == [128] * 21
    assert decode_occupancy(data, 21).tolist() == [[top, top, top]]
    assert encode_occupancy(torch.zeros((0, 3), dtype=torch.int64), 5).size == 0
    assert decode_occupancy(b"", 5).shape == (0, 3)


def test_occupancy_errors():
    coords = torch.tensor([[0, 0, 0], [3, 1, 2], [1, 1, 1]])
    data = encode_occupancy(coords, 2)
    with pytest.raises(ValueError, match="truncated"):
        decode_occupancy(data[:-1], 2)
    with pytest.raises(ValueError, match="trailing"):
        decode_occupancy(np.concatenate([data, np.array([1], np.uint8)]), 2)
    with pytest.raises(ValueError, match="empty node"):
        decode_occupancy(np.array([0], np.uint8), 1)
    with pytest.raises(ValueError, match="2\\^2"):
        encode_occupancy(torch.tensor([[4, 0, 0]]), 2)
    with pytest.raises(ValueError, match="uint8"):
        decode_occupancy(np.array([1.0, 2.0]), 2)


@settings(max_examples=25, deadline=None)
@given(
    depth=st.integers(min_value=1, max_value=21),
    points=st.lists(st.tuples(st.integers(0, 2**21 - 1), st.integers(0, 2**21 - 1), st.integers(0, 2**21 - 1)),
                    min_size=1, max_size=30),
)
def test_property_occupancy_round_trip(depth, points):
    coords = torch.tensor(points) >> (21 - depth)
    decoded = decode_occupancy(encode_occupancy(coords, depth), depth)
    assert sorted(map(tuple, decoded.tolist())) == sorted(set(map(tuple, coords.tolist())))
    codes = morton_encode(decoded)
    assert bool((codes[1:] > codes[:-1]).all())
    assert torch.equal(morton_decode(morton_encode(coords)), coords)
