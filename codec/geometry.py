"""Geometry coding: the voxel set of the compressed model as a context-coded octree (format v2).

The octree is the one of ``raht.encode_occupancy`` (format v1 stores those bytes with DEFLATE):
level t = 0..d−1 holds the occupied nodes (Morton prefixes code >> 3(d − t), sorted), and every
node has one occupancy byte whose bit k says whether child k is occupied (k = the next three
Morton bits). Version 2 range-codes the bytes (symbol = byte − 1, 255 values; a byte is never 0):

- context of a node at level t ≥ 1: the number of occupied children of its parent (1..8; the
  root has context 0), which the decoder knows from the previous level. Context 1 is the
  single-child chain that dominates the finest levels of real captures: a separate adaptive model
  learns there that almost every byte has one bit set (about 3 bits per node: which child);
- model: one adaptive categorical per context (``codec.entropy.adaptive_encode``) whose counts
  carry over from level to level, halved at each new level ((c + 1) // 2, so they stay ≥ 1) so
  that the statistics follow the level;
- order: level by level; inside a level the nodes of context 0, then 1, … 8, each in Morton order.

The decoder rebuilds level t + 1 from the decoded bytes of level t, so the voxel count is checked
level by level (a damaged stream can never blow up the node count) and the result comes out in
Morton order, as ``raht.decode_occupancy`` gives it.
"""
from __future__ import annotations

import numpy as np
import torch

from raht import morton_decode, morton_encode

from .entropy import INTEGER_TABLES, RangeReader, RangeWriter, adaptive_decode, adaptive_encode

__all__ = ["encode_geometry", "decode_geometry", "occupancy_levels", "encode_level_bytes", "decode_level_bytes",
           "expand_children", "N_CONTEXTS"]

N_CONTEXTS = 9
_POPCOUNT = np.array([bin(i).count("1") for i in range(256)], dtype=np.int64)
# _SET_BITS[b, i]: index of the i-th set bit of byte b (ascending)
_SET_BITS = np.array([[k for k in range(8) if b >> k & 1] + [0] * (8 - bin(b).count("1")) for b in range(256)], dtype=np.int64)


def occupancy_levels(coords, depth: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per level t = 0..d−1: (node prefixes [n_t] int64 sorted, occupancy bytes [n_t] int64)."""
    codes = torch.unique(morton_encode(torch.as_tensor(np.asarray(coords)).to(torch.int64)), sorted=True)
    levels = []
    for t in range(depth):
        children = torch.unique_consecutive(codes >> (3 * (depth - t - 1)))
        nodes, first = torch.unique_consecutive(children >> 3, return_inverse=True)
        byte = torch.zeros(nodes.shape[0], dtype=torch.int64).index_add_(0, first, torch.ones_like(children) << (children & 7))
        levels.append((nodes.numpy(), byte.numpy()))
    return levels


def _expand(nodes: np.ndarray, byte: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Children (sorted prefixes) of ``nodes`` with occupancy ``byte``, and each child's context
    (its parent's child count)."""
    count = _POPCOUNT[byte]
    parent = np.repeat(np.arange(nodes.size), count)
    rank = np.arange(parent.size) - np.repeat(np.cumsum(count) - count, count)  # i-th set bit of the parent
    children = (nodes[parent] << 3) | _SET_BITS[byte[parent], rank]
    return children, count[parent]


def _context_runs(context: np.ndarray):
    order = np.argsort(context, kind="stable")
    bounds = np.searchsorted(context[order], np.arange(N_CONTEXTS + 1))
    return order, bounds


def encode_level_bytes(writer: RangeWriter, byte: np.ndarray, context: np.ndarray, counts: np.ndarray) -> None:
    """Code one level's occupancy bytes (nodes in Morton order, ``context`` their parents' child counts):
    context by context, each with its adaptive model ``counts[q]`` (updated in place)."""
    order, bounds = _context_runs(context)
    sym = byte[order] - 1
    for q in range(N_CONTEXTS):
        if bounds[q + 1] > bounds[q]:
            adaptive_encode(writer, sym[bounds[q]:bounds[q + 1]], counts[q])


def decode_level_bytes(reader: RangeReader, context: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Inverse of :func:`encode_level_bytes`: the occupancy bytes of one level's nodes (Morton order)."""
    order, bounds = _context_runs(context)
    sym = np.empty(context.size, dtype=np.int64)
    for q in range(N_CONTEXTS):
        if bounds[q + 1] > bounds[q]:
            sym[bounds[q]:bounds[q + 1]] = adaptive_decode(reader, int(bounds[q + 1] - bounds[q]), counts[q])
    byte = np.empty(context.size, dtype=np.int64)
    byte[order] = sym + 1
    return byte


def expand_children(nodes: np.ndarray, byte: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Children (sorted prefixes) of ``nodes`` with occupancy ``byte``, and each child's context
    (its parent's child count)."""
    return _expand(nodes, byte)


def encode_geometry(coords, depth: int, tables: str = INTEGER_TABLES) -> np.ndarray:
    """uint32 words of the context-coded octree of ``coords`` [M, 3] (unique, any order), with the
    probability tables ``tables`` of the format version (``codec.entropy``)."""
    writer = RangeWriter(tables)
    counts = np.ones((N_CONTEXTS, 255), dtype=np.int64)
    context = np.zeros(1, dtype=np.int64)
    for nodes, byte in occupancy_levels(coords, depth):
        counts = (counts + 1) // 2
        encode_level_bytes(writer, byte, context, counts)
        context = np.repeat(_POPCOUNT[byte], _POPCOUNT[byte])
    return writer.words()


def decode_geometry(words: np.ndarray, depth: int, n_voxels: int, tables: str = INTEGER_TABLES) -> torch.Tensor:
    """[n_voxels, 3] int64 voxel coordinates in Morton order (``tables`` as the encoder's). ``ValueError``
    when the stream does not decode to exactly ``n_voxels`` voxels."""
    reader = RangeReader(words, tables)
    counts = np.ones((N_CONTEXTS, 255), dtype=np.int64)
    nodes = np.zeros(1, dtype=np.int64)
    context = np.zeros(1, dtype=np.int64)
    for t in range(depth):
        counts = (counts + 1) // 2
        byte = decode_level_bytes(reader, context, counts)
        nodes, context = _expand(nodes, byte)
        if nodes.size > n_voxels:
            raise ValueError(f"octree level {t + 1} has {nodes.size} nodes, more than the {n_voxels} voxels stored")
    if nodes.size != n_voxels:
        raise ValueError(f"octree decodes to {nodes.size} voxels, expected {n_voxels}")
    return morton_decode(torch.from_numpy(nodes))
