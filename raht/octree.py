"""Octree occupancy coding of voxel geometry (lossless, about 1–2 bytes per voxel before entropy coding).

Layout: the octree of depth d over the Morton codes; octree level t = 0..d−1 holds the distinct
prefixes code >> 3(d − t) (level 0 is the root). Every occupied internal node writes one byte
whose bit k (k = 0..7, LSB first) says whether child k is occupied, where the child index is
k = (x_bit << 2) | (y_bit << 1) | z_bit, i.e. the next three Morton bits. Bytes are written
breadth first: level by level, and inside a level in increasing prefix (Morton) order. So the
byte count is the number of occupied internal nodes, and decoding yields the voxels in Morton
order directly. Both directions are vectorised per level (a loop over d levels).
"""
from __future__ import annotations

import numpy as np
import torch

from .morton import morton_decode, morton_encode
from .voxelize import check_depth


def encode_occupancy(coords, depth: int) -> np.ndarray:
    """Occupancy bytes of a set of voxels.

    Args:
        coords: [M, 3] integer voxel coordinates in [0, 2^depth) (torch or numpy, any order;
            duplicates are counted once).
        depth: octree depth d in 1..21.

    Returns:
        uint8 array [K], K = Σ_{t<d} #distinct(code >> 3(d − t)) (one byte per occupied internal node).
    """
    depth = check_depth(depth)
    coords = torch.as_tensor(np.asarray(coords) if not isinstance(coords, torch.Tensor) else coords)
    if coords.ndim != 2 or coords.shape[1] != 3:
        raise ValueError(f"coords must have shape [M, 3], got {tuple(coords.shape)}")
    if coords.shape[0] == 0:
        return np.zeros(0, dtype=np.uint8)
    coords = coords.to(torch.int64)
    hi = int(coords.max())
    if int(coords.min()) < 0 or hi >= (1 << depth):
        raise ValueError(f"coords must lie in [0, 2^{depth}) for depth {depth}, got max {hi}")
    codes = torch.unique(morton_encode(coords.cpu()), sorted=True)
    chunks = []
    for t in range(depth):
        children = torch.unique_consecutive(codes >> (3 * (depth - t - 1)))
        parents, first = torch.unique_consecutive(children >> 3, return_inverse=True)
        bits = torch.ones_like(children) << (children & 7)
        byte = torch.zeros(parents.shape[0], dtype=torch.int64).index_add_(0, first, bits)
        chunks.append(byte)
    return torch.cat(chunks).to(torch.uint8).numpy()


def decode_occupancy(data, depth: int) -> torch.Tensor:
    """Voxel coordinates from occupancy bytes (inverse of :func:`encode_occupancy`).

    Args:
        data: the uint8 bytes (bytes, bytearray, numpy uint8 array or torch uint8 tensor).
        depth: the octree depth d used to encode them.

    Returns:
        [M, 3] int64 coordinates, sorted by Morton code. Raises ValueError on truncated data,
        trailing bytes or an empty (zero) node byte.
    """
    depth = check_depth(depth)
    if isinstance(data, torch.Tensor):
        arr = data.detach().cpu().numpy()
    elif isinstance(data, (bytes, bytearray, memoryview)):
        arr = np.frombuffer(bytes(data), dtype=np.uint8)
    else:
        arr = np.asarray(data)
    if arr.ndim != 1 or arr.dtype != np.uint8:
        raise ValueError(f"occupancy data must be a 1-D uint8 array, got shape {arr.shape} dtype {arr.dtype}")
    if arr.size == 0:
        return torch.zeros((0, 3), dtype=torch.int64)
    stream = torch.from_numpy(arr.astype(np.int64))
    child_ids = torch.arange(8, dtype=torch.int64)
    nodes = torch.zeros(1, dtype=torch.int64)  # root prefix
    pos = 0
    for t in range(depth):
        n = nodes.shape[0]
        if pos + n > stream.shape[0]:
            raise ValueError(f"occupancy data truncated: level {t} needs {n} bytes at offset {pos}, "
                             f"only {stream.shape[0] - pos} left (wrong depth {depth}?)")
        byte = stream[pos:pos + n]
        pos += n
        if bool((byte == 0).any()):
            raise ValueError(f"occupancy data corrupt: empty node byte at level {t} (wrong depth {depth}?)")
        present = ((byte.unsqueeze(1) >> child_ids) & 1).bool()  # [n, 8]
        nodes = ((nodes.unsqueeze(1) << 3) | child_ids)[present]  # row-major mask keeps Morton order
    if pos != stream.shape[0]:
        raise ValueError(f"occupancy data has {stream.shape[0] - pos} trailing bytes after depth {depth} "
                         "(wrong depth or corrupt file)")
    return morton_decode(nodes)
