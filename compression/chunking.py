"""Scenes larger than one chunk: split into spatial chunks, compress each on its own, write one chunked file.

A scene of millions of Gaussians does not fit one octree and one RAHT in bounded memory, and a viewer
that must receive the whole file before its first frame loses to the streaming formats. Without photos,
``compress.py`` therefore splits a scene of more than ``--chunk_size`` Gaussians (default: the largest
scene that gets the full view schedule, ``compression.views.FULL_SCHEDULE_GAUSSIANS``):

1. :func:`spatial_chunks`: a k-d split in the scene's principal axes (so a turned copy splits alike): a
   cell of n > ``chunk_size`` Gaussians needs m = ⌈n / chunk_size⌉ chunks; it is cut across the axis along
   which it is widest (1–99 % quantiles) at the rank n·⌊m/2⌋/m counted from the side the cell's skew
   points away from (a sign the content sets, not the axis), so that each side holds whole chunks' worth
   (⌊m/2⌋ and m − ⌊m/2⌋), until every cell holds at most ``chunk_size``. The cells, in depth-first
   order, are the chunks: about n / m each, never less than half of ``chunk_size`` (a plain median split
   would leave cells between half of ``chunk_size`` and all of it, hence more chunks). A scene of k equal
   copies side by side with ``chunk_size`` one copy splits into exactly one copy per chunk for any k.
2. :func:`compress_in_chunks`: the chunks' arrays are written to a scratch folder (``.npy`` files under
   ``$TMPDIR``, removed at the end) and, where the caller hands the input over (``release_input``), the
   input's arrays are dropped; then every chunk, read back on its own, goes through the whole image-free
   run of a splat file of its size (``compression.api.compress_splats``: its own virtual views framed on
   it, its own structure, steps and fine-tuning), each in a fresh process of its own (what a run leaves
   in the allocator goes with it), one at a time. The memory is then that of one chunk, not of the scene
   (at 6M Gaussians of SH 3 the input alone is 1.5 GB) nor of the chunks before; ``--workers K``: K chunks
   at once, K times the chunk's memory. A size target is shared out in
   proportion to the chunks' Gaussians.
3. Each chunk's bundle is decoded back (every check of the reader) for the box and count of the index,
   and the chunks go into one file behind an index (``codec/chunked.py``).

The rest of the scene is not rendered around a chunk (no occluding context): what a chunk's views score
is the chunk alone.
"""
from __future__ import annotations

import dataclasses
import logging
import math
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import numpy as np

logger = logging.getLogger(__name__)

__all__ = ["spatial_chunks", "compress_in_chunks", "ChunkedCompressed", "ChunkSummary", "share_target"]


def spatial_chunks(means: np.ndarray, chunk_size: int) -> list[np.ndarray]:
    """Row indices (ascending) of each chunk of ``means`` [N, 3] (module docstring, step 1)."""
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be at least 1, got {chunk_size}")
    x = np.asarray(means, dtype=np.float64)
    n = len(x)
    if n <= chunk_size:
        return [np.arange(n)]
    centred = x - x.mean(axis=0)
    _, axes = np.linalg.eigh(centred.T @ centred / n)
    proj = centred @ axes
    out: list[np.ndarray] = []
    stack = [np.arange(n)]
    while stack:
        rows = stack.pop()
        if len(rows) <= chunk_size:
            out.append(np.sort(rows))
            continue
        p = proj[rows]
        lo, hi = np.quantile(p, [0.01, 0.99], axis=0)
        axis = int(np.argmax(hi - lo))
        m = -(-len(rows) // chunk_size)
        cut = int(round(len(rows) * (m // 2) / m))
        q = p[:, axis] - p[:, axis].mean()
        q = q if np.sum(q ** 3) >= 0 else -q  # the axis's sign from the cell's skew, so a turned copy cuts alike
        order = np.argpartition(q, cut)
        stack.append(rows[order[cut:]])
        stack.append(rows[order[:cut]])
    return out


def share_target(target: int, counts: list[int], overhead: int) -> list[int]:
    """Bytes of each chunk's target: ``target`` less the index's ``overhead``, in proportion to ``counts``."""
    budget = target - overhead
    total = sum(counts)
    if budget < len(counts):
        raise ValueError(f"--target_size {target} B leaves nothing for {len(counts)} chunks after their index "
                         f"(about {overhead} B); give a larger target")
    return [int(math.floor(budget * c / total)) for c in counts]


@dataclass
class ChunkSummary:
    """One chunk of a chunked run: its size, what the file reports, and its time."""

    index: int
    n_input: int
    n_gaussians: int
    bytes: int
    heldout: dict
    coverage: dict
    seconds: float

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass
class ChunkedCompressed:
    """What :func:`compress_in_chunks` returns: the chunked file's bytes and the per-chunk outcome."""

    data: bytes
    chunks: list[ChunkSummary]
    n_input: int
    stages: dict = field(default_factory=dict)
    threads: int = 0
    workers: int = 1

    @property
    def n_gaussians(self) -> int:
        return sum(c.n_gaussians for c in self.chunks)


#: index bytes per chunk (offset, size, count, box, SHA-256 as JSON), for sharing a size target out
INDEX_BYTES_PER_CHUNK = 300


def compress_in_chunks(arrays: dict, chunk_size: int, *, run: Any, views: Any, pipe: Any, codec: Any,
                       input_name: str = "splats", input_bytes: Optional[int] = None,
                       on_chunk: Optional[Callable[[ChunkSummary, int], None]] = None,
                       release_input: bool = False) -> ChunkedCompressed:
    """The chunked file of ``arrays`` (the ``compression.api`` splat arrays; module docstring). ``run``,
    ``views``, ``pipe``, ``codec``: the parameters of ``compress_splats``, used for every chunk (a size
    target shared out); ``on_chunk(summary, n_chunks)`` after each chunk, in the order they finish.
    ``run.workers`` > 1: that many chunks at once, each in its own process with the run's CPU threads
    shared out (at least one each). ``release_input``: ``arrays`` is emptied once the chunks are in the scratch
    folder (the caller hands it over, so that its memory is freed before the first chunk)."""
    from codec.chunked import chunked_bytes
    from compression.pipeline import target_bytes
    from utils.threads import use_threads

    t_all = time.perf_counter()
    n = int(arrays["means"].shape[0])
    if run.source_path:
        raise ValueError("chunks are fitted on their own virtual views; with -s (photos) the scene is one chunk: "
                         "set --chunk_size 0 or leave -s out")
    t0 = time.perf_counter()
    parts = spatial_chunks(arrays["means"], chunk_size)
    split_s = time.perf_counter() - t0
    counts = [len(p) for p in parts]
    workers = min(run.workers, len(parts))  # compress_splats checked it
    threads = use_threads(None)  # the count compress_splats set
    pipe = dataclasses.replace(pipe, threads=max(1, threads // workers))  # each chunk's process: its share
    logger.info("%d Gaussians in %d spatial chunks of %d-%d (--chunk_size %d), compressed %s", n, len(parts),
                min(counts), max(counts), chunk_size, "one at a time" if workers == 1 else
                f"{workers} at a time ({pipe.threads} CPU threads each)")
    target = target_bytes(codec, n)
    targets = share_target(target, counts, 1024 + INDEX_BYTES_PER_CHUNK * len(parts)) if target is not None else None
    run = dataclasses.replace(run, quiet=True, workers=1)

    scratch = tempfile.mkdtemp(prefix="chunks-")
    try:
        t0 = time.perf_counter()
        keys = _save_chunks(arrays, parts, scratch)
        if release_input:
            arrays.clear()  # nothing else here holds the input's arrays (_save_chunks keeps no reference)
        split_s += time.perf_counter() - t0

        def job(i: int) -> tuple:
            chunk_codec = codec
            if targets is not None:
                chunk_codec = dataclasses.replace(codec, target_size=str(targets[i]), target_bpg=None)
            return (i, {k: _chunk_file(scratch, i, k) for k in keys}, run, views, pipe, chunk_codec)

        results = _compress_chunks(job, len(parts), workers, n, t_all, on_chunk)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    ordered = [results[i] for i in range(len(parts))]
    summaries = [r.summary for r in ordered]
    psnrs = [s.heldout["psnr"] for s in summaries]
    config = {"input_file": input_name, "input_ply_bytes": input_bytes, "chunk_size": int(chunk_size),
              "n_input": n, "target_size": target,
              "heldout": {"psnr_mean_over_chunks": float(np.mean(psnrs)), "psnr_worst_chunk": float(min(psnrs)),
                          "per_chunk": [round(float(p), 4) for p in psnrs], "views": "virtual, per chunk"}}
    data = chunked_bytes([r.data for r in ordered], [r.summary.n_gaussians for r in ordered],
                         [r.box for r in ordered], ordered[0].sh_degree, config)
    if target is not None and len(data) > target:  # the index took more than its share (an unusually long name)
        logger.warning("the chunked file is %d B, %d B over the target: its index took more than the %d B set aside",
                       len(data), len(data) - target, 1024 + INDEX_BYTES_PER_CHUNK * len(parts))
    stages = {"split": split_s, "chunks": time.perf_counter() - t_all - split_s, "total": time.perf_counter() - t_all}
    return ChunkedCompressed(data=data, chunks=summaries, n_input=n, stages=stages, threads=threads,
                             workers=workers)


def _save_chunks(arrays: dict, parts: list, folder: str) -> list[str]:
    """Every chunk's rows of every array into ``folder`` (``_chunk_file``); the keys."""
    for i, rows in enumerate(parts):
        for key, values in arrays.items():
            np.save(_chunk_file(folder, i, key), np.ascontiguousarray(values[rows]))
    return list(arrays)


def _chunk_file(folder: str, i: int, key: str) -> str:
    """The scratch file of chunk ``i``'s array ``key``."""
    return os.path.join(folder, f"chunk{i:05d}_{key}.npy")


def _compress_chunks(job: Callable[[int], tuple], n_chunks: int, workers: int, n: int, t_all: float,
                     on_chunk: Optional[Callable[[ChunkSummary, int], None]]) -> dict[int, "_ChunkResult"]:
    """Every chunk's :class:`_ChunkResult` by index: ``_compress_chunk(*job(i))``, each chunk in a process
    of its own, ``workers`` at a time, with a progress line and an ETA as each one finishes."""
    results: dict[int, _ChunkResult] = {}

    def finished(res: _ChunkResult) -> None:
        summary = res.summary
        results[summary.index] = res
        done = sum(r.summary.n_input for r in results.values())
        eta = (time.perf_counter() - t_all) / done * (n - done)
        logger.info("chunk %d/%d: %d Gaussians -> %d kept, %d B, held-out PSNR %.2f dB (worst view %.2f), %.0f s; "
                    "%d of %d Gaussians done, about %.0f s left", summary.index + 1, n_chunks, summary.n_input,
                    summary.n_gaussians, summary.bytes, summary.heldout["psnr"], summary.heldout["psnr_worst"],
                    summary.seconds, done, n, eta)
        if on_chunk is not None:
            on_chunk(summary, n_chunks)

    _in_processes(job, n_chunks, workers, finished)
    return results


@dataclass
class _ChunkResult:
    """One compressed chunk as it comes back (from this process or a worker): its bundle and what the index
    needs of it."""

    data: bytes
    box: np.ndarray
    sh_degree: int
    summary: ChunkSummary


def _compress_chunk(i: int, files: dict, run: Any, views: Any, pipe: Any, codec: Any) -> _ChunkResult:
    """Chunk ``i`` (its splat arrays, read from the scratch ``files`` by key) through the whole image-free
    run, decoded back for its box."""
    from compression.api import compress_splats

    t0 = time.perf_counter()
    sub = {k: np.load(path) for k, path in files.items()}
    out = compress_splats(sub, run=run, views=views, pipe=pipe, codec=codec)
    decoded = _decoded(out.data, i)
    means = decoded.means.detach().cpu().numpy()
    last = out.result.evaluations[out.result.final_iteration]
    summary = ChunkSummary(index=i, n_input=int(sub["means"].shape[0]), n_gaussians=decoded.n_gaussians,
                           bytes=len(out.data),
                           heldout={"psnr": last["PSNR"], "psnr_worst": last["PSNR_worst"],
                                    "psnr_8bit": last["PSNR_8bit"], "n_views": last["n_views"]},
                           coverage=dict(last.get("coverage") or {}), seconds=time.perf_counter() - t0)
    return _ChunkResult(out.data, np.concatenate([means.min(axis=0), means.max(axis=0)]), decoded.sh_degree, summary)


def _in_processes(job: Callable[[int], tuple], n_jobs: int, workers: int,
                  finished: Callable[[_ChunkResult], None]) -> None:
    """Run ``_compress_chunk(*job(i))`` for i < n_jobs, each in a fresh process, at most ``workers`` at a
    time; ``finished`` as each one returns. The first failure cancels the rest and is raised."""
    import concurrent.futures as cf
    import multiprocessing

    # spawn: a fresh interpreter per worker (no forked torch thread pools); the environment, hence the
    # OpenMP wait policy the command line set, is inherited. One chunk per process: what a chunk's run leaves
    # in the allocator is returned with the process, so the memory stays that of one chunk however many
    # chunks follow (an interpreter start costs seconds against a chunk's minutes).
    with cf.ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                                max_tasks_per_child=1) as pool:
        pending: set = set()
        next_job = 0
        try:
            while next_job < n_jobs or pending:
                while next_job < n_jobs and len(pending) < workers:
                    pending.add(pool.submit(_compress_chunk, *job(next_job)))
                    next_job += 1
                done, pending = cf.wait(pending, return_when=cf.FIRST_COMPLETED)
                for future in done:
                    finished(future.result())
        except BaseException:
            for future in pending:
                future.cancel()
            raise


def _decoded(data: bytes, i: int):
    """The decoded model of chunk ``i``'s bundle (every check of the reader)."""
    from codec.container import bundle_members
    from codec.io import decode_model_files

    label = f"chunk {i}"
    return decode_model_files(bundle_members(data, label), label)
