"""Coarse-to-fine inside a chunk, measured: a prefix of the RAHT levels against decimated levels of detail.

RAHT is a hierarchy, so the first levels of a file could be drawn before the rest arrives. This script
measures whether that would beat what the streaming viewers do today (levels of detail decimated from the
splat, each coded on its own) at equal bytes, before any file is ordered for it.

**Our coarse model at octree level L** (what a decoder holding only levels 0..L−1 of the octree and the
RAHT coefficients of the binary levels ℓ ≥ 3(d − L) can build; d = the file's depth): one Gaussian per
occupied node at level L,

- attributes: the node's low-pass coefficient divided by √w (w = the voxels under the node), which for
  RAHT with unit leaf weights is exactly the mean of the node's decoded voxel attributes, in the codec's
  attribute space (logit opacity, Euler angles, log-scales, SH) — so it is computed here as that mean;
- position: the centre of the node's cell (all the prefix knows of the geometry);
- scale, rule ``mean``: the mean log-scales as they are; rule ``cover``: where the node holds more than one
  voxel, each scale s grows to √(s² + Δ²/12) (Δ² the mean squared cell side: the variance of a uniform
  spread over the cell), so that the coarse Gaussian covers the cell its voxels fill.

Bytes of that prefix: everything of the file but the octree and AC streams (manifest, tables, DC, box,
zip headers), plus the octree's levels 0..L−1 as the codec codes them (level by level: the same bytes as the
context-coded octree of the coarse coordinates), plus the ideal code lengths of the selected AC symbols
under the file's own models (−log2 q of each symbol's integer probability; the range coder adds a few
bytes per stream).

**Decimated levels of detail**: ``splat-transform -d P%`` on the input (what SuperSplat publishes as
streamed SOG), each level written as SPZ by the same tool and, with ``--ours_on_decimated``, compressed by
``compress.py``'s default; decoded and rendered the same way.

Everything is scored against the input's renders on the layout-independent held-out views ``compress.py``
scores on (PSNR: mean over the views).

    python scripts/bench_coarse_to_fine.py [--input PLY] [--bundle OUT.bundle] [--levels 10]
        [--decimate 50 25 12.5 6.25] [--ours_on_decimated] [--out bench_out/coarse_to_fine]

``--bundle``: a ``compress.py`` file of the input written earlier (default: compressed here, a few
minutes). Outputs in ``--out``: ``coarse_to_fine.json`` and ``coarse_to_fine.md``. Skips with a message
when the input is absent.
"""
from __future__ import annotations

import argparse
import dataclasses
import io
import json
import math
import os
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402
import torch  # noqa: E402

FERN_PLY = os.path.join(ROOT, "..", "shared", "data", "fern_3dgs", "point_cloud.ply")
RULES = ("mean", "cover")


def log(msg: str) -> None:
    print(f"[bench_coarse_to_fine] {msg}", flush=True)


def node_groups(coords: np.ndarray, depth: int, level: int) -> tuple[np.ndarray, np.ndarray]:
    """(node coordinates at octree level ``level`` [n, 3], the node of every voxel [N]) of voxel ``coords``."""
    nodes, inverse = np.unique(np.asarray(coords, dtype=np.int64) >> (depth - level), axis=0, return_inverse=True)
    return nodes, inverse.reshape(-1)


def coarse_gaussians(decoded, level: int, rule: str) -> dict:
    """Renderer inputs of the coarse model of ``decoded`` (a ``codec.DecodedModel``) at octree ``level``
    (module docstring)."""
    from codec.channel_layout import pack_attributes, unpack_attributes
    from codec.frame import frame_positions
    from raht.voxelize import voxel_centers

    p = decoded.payload
    nodes, inverse = node_groups(p.coords, p.depth, level)
    n = len(nodes)
    idx = torch.from_numpy(inverse)
    count = torch.zeros(n, dtype=torch.float64).index_add_(0, idx, torch.ones(len(idx), dtype=torch.float64))
    attrs = decoded.attributes.detach().to(torch.float64)
    mean = torch.zeros(n, attrs.shape[1], dtype=torch.float64).index_add_(0, idx, attrs) / count[:, None]
    mean = mean.to(torch.float32)
    lo, hi = torch.from_numpy(p.bbox_min), torch.from_numpy(p.bbox_max)
    if rule == "cover":
        parts = unpack_attributes(mean, p.layout)
        cell = (hi - lo).to(torch.float64) / 2 ** level
        var = float((cell ** 2).mean()) / 12.0
        grow = (count > 1).to(torch.float64)[:, None]
        ls = parts["log_scales"].to(torch.float64)
        parts["log_scales"] = (0.5 * torch.log(torch.exp(2 * ls) + grow * var)).to(torch.float32)
        mean = pack_attributes(parts["logit_opacities"], parts["euler"], parts["sh0"], parts["shN"], parts["log_scales"])
    elif rule != "mean":
        raise ValueError(f"unknown rule {rule!r}; choose one of {RULES}")
    centres = voxel_centers(torch.from_numpy(nodes), lo, hi, level)
    coarse = dataclasses.replace(decoded, attributes=mean, means=frame_positions(centres, p.frame))
    with torch.no_grad():
        return coarse.gaussians()


def prefix_costs(bundle: str, decoded, plan) -> dict:
    """What every prefix of ``bundle`` is made of, read once: ``fixed`` (the file's bytes but the octree and
    AC streams), ``row_bits`` [N − 1] (each AC slot's ideal code length over all channels,
    ``codec.ac_coding.symbol_bits``) and ``row_level`` [N − 1] (the binary RAHT level of each slot's pair)."""
    from codec.ac_coding import AcStreams, code_centres, symbol_bits
    from codec.container import read_model_files
    from codec.report import describe_compressed

    p = decoded.payload
    members = read_model_files(bundle)
    components = describe_compressed(bundle).component_bytes
    octree = np.load(io.BytesIO(members["geometry.npz"]))["octree"]
    streamed = 4 * len(octree) + sum(v for k, v in components.items() if k.startswith("ac_") and k != "ac_tables")
    with np.load(io.BytesIO(members["ac.npz"])) as ac:
        streams = AcStreams(**{name: ac[name] for name in AcStreams.NAMES})
    row_bits = symbol_bits(streams, p.ac_codes, code_centres(p.zero_point, p.bits), plan.ac_weight.numpy(),
                           p.n_block).sum(axis=1)
    row_level = np.zeros(p.n_gaussians - 1, dtype=np.int64)
    right = plan.right.numpy()
    for lvl, start, end in plan.level_ranges:
        row_level[right[start:end] - 1] = lvl
    return {"fixed": int(os.path.getsize(bundle) - streamed), "row_bits": row_bits, "row_level": row_level}


def prefix_bytes(costs: dict, coords: np.ndarray, depth: int, level: int) -> dict:
    """Bytes a decoder needs for the coarse model at octree ``level`` (module docstring) of a file whose
    :func:`prefix_costs` are ``costs`` and whose voxels are ``coords`` at ``depth``: ``fixed``, ``geometry``
    (the octree's levels 0..level−1), ``ac`` (the slots of binary levels >= 3 (depth − level)) and ``total``."""
    from codec.entropy import INTEGER_TABLES
    from codec.geometry import encode_geometry

    coarse = np.unique(np.asarray(coords, dtype=np.int64) >> (depth - level), axis=0)
    geometry = 4 * len(encode_geometry(coarse, level, INTEGER_TABLES)) if level > 0 else 0
    ac_bytes = int(math.ceil(float(costs["row_bits"][costs["row_level"] >= 3 * (depth - level)].sum()) / 8))
    fixed = costs["fixed"]
    return {"fixed": fixed, "geometry": int(geometry), "ac": ac_bytes, "total": int(fixed + geometry + ac_bytes)}


def score(gaussians: dict, sh_degree: int, cameras: list) -> dict:
    from compression.evaluate import evaluate_gaussians

    res = evaluate_gaussians(gaussians, sh_degree, cameras, background=torch.zeros(3), backend="torch")
    return {"psnr": res.psnr, "psnr_worst": res.psnr_worst}


def decimated_points(input_ply: str, percents: list, cameras: list, ours: bool, work: str) -> list:
    """``splat-transform -d P%`` levels, as SPZ (and with ``ours`` as compress.py's default), scored."""
    from compression.evaluate import source_gaussians
    from scene.gaussian_model import GaussianModel
    from scene.splat_transform_tool import run_splat_transform

    points = []
    for pct in percents:
        dec = os.path.join(work, f"decimated_{pct:g}.ply")
        run_splat_transform(["-g", "cpu", input_ply, "-d", f"{pct:g}%", dec], timeout=3600)  # -g cpu: no WebGPU here
        model = GaussianModel.from_ply(dec)
        spz, back = os.path.join(work, f"d{pct:g}.spz"), os.path.join(work, f"d{pct:g}_spz.ply")
        run_splat_transform([dec, spz], timeout=3600)
        run_splat_transform([spz, back], timeout=3600)
        spz_model = GaussianModel.from_ply(back)
        point = {"percent": pct, "n_gaussians": model.num_gaussians, "uncoded": score(source_gaussians(model),
                                                                                    model.max_sh_degree, cameras),
                 "spz": {"bytes": os.path.getsize(spz), **score(source_gaussians(spz_model), spz_model.max_sh_degree,
                                                                cameras)}}
        if ours:
            from codec import load_npz
            from codec.container import write_file_atomic
            from compression.api import compress_splats
            from arguments.compress import CompressRunParams

            bundle = os.path.join(work, f"d{pct:g}.bundle")
            write_file_atomic(bundle, compress_splats(dec, run=CompressRunParams(quiet=True)).data)
            d = load_npz(bundle)
            with torch.no_grad():
                point["ours"] = {"bytes": os.path.getsize(bundle), **score(d.gaussians(), d.sh_degree, cameras)}
        log(f"decimated {pct:g} %: {point['n_gaussians']:,} Gaussians, SPZ {point['spz']['bytes']:,} B @ "
            f"{point['spz']['psnr']:.2f} dB" + (f", ours {point['ours']['bytes']:,} B @ {point['ours']['psnr']:.2f} dB"
                                                if "ours" in point else ""))
        points.append(point)
    return points


def report(res: dict) -> str:
    given = f" --bundle {os.path.basename(res['bundle'])}" if res.get("bundle_given") else ""
    lines = [f"`python scripts/bench_coarse_to_fine.py --input {os.path.basename(res['input'])}{given} --levels {res['levels']} "
             f"--decimate {' '.join(f'{p:g}' for p in res['decimate'])}{' --ours_on_decimated' if res['ours_on_decimated'] else ''}`"
             f" ({res['date']}); PSNR against the input on its {res['n_views']} layout-independent held-out views", "",
             f"The whole file: {res['file']['bytes']:,} B, {res['file']['n_gaussians']:,} Gaussians, depth "
             f"{res['file']['depth']}, {res['file']['psnr']:.2f} dB.", "",
             "| what is drawn | Gaussians | bytes needed (share of the file) | PSNR: " + " / ".join(RULES) + " |",
             "|---|---|---|---|"]
    total = res["file"]["bytes"]
    for c in res["coarse"]:
        lines.append(f"| RAHT prefix, octree level {c['level']} | {c['n_nodes']:,} | {c['bytes']['total']:,} "
                     f"({c['bytes']['total'] / total:.3f}) | " + " / ".join(f"{c[r]['psnr']:.2f}" for r in RULES) + " |")
    lines += ["", "| decimated level | Gaussians | SPZ bytes (share of our file) @ PSNR | compress.py on it | uncoded PSNR |",
              "|---|---|---|---|---|"]
    for d in res["decimated"]:
        ours = f"{d['ours']['bytes']:,} ({d['ours']['bytes'] / total:.3f}) @ {d['ours']['psnr']:.2f}" if "ours" in d else "—"
        lines.append(f"| {d['percent']:g} % | {d['n_gaussians']:,} | {d['spz']['bytes']:,} ({d['spz']['bytes'] / total:.3f})"
                     f" @ {d['spz']['psnr']:.2f} | {ours} | {d['uncoded']['psnr']:.2f} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    from codec import load_npz
    from codec.container import write_file_atomic
    from compression.api import compress_splats
    from compression.views import view_schedule, virtual_views
    from arguments.compress import CompressRunParams
    from raht import build_plan
    from scene.gaussian_model import GaussianModel

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--input", default=FERN_PLY, help="a splat PLY (default fern's 3DGS PLY)")
    ap.add_argument("--bundle", default=None, help="compress.py's file of --input (default: compressed here)")
    ap.add_argument("--levels", type=int, default=10, help="coarse octree levels to draw: d-1 .. d-LEVELS")
    ap.add_argument("--decimate", type=float, nargs="*", default=[50, 25, 12.5, 6.25],
                    help="splat-transform -d percentages (none: skip the decimated levels)")
    ap.add_argument("--ours_on_decimated", action="store_true", help="also compress.py each decimated level")
    ap.add_argument("--out", default=os.path.join("bench_out", "coarse_to_fine"))
    args = ap.parse_args(argv)
    if not os.path.isfile(args.input):
        log(f"skipped: {args.input} is absent (fern's 3DGS PLY lives in ../shared/data/fern_3dgs/)")
        return 0
    os.makedirs(args.out, exist_ok=True)
    t0 = time.perf_counter()
    source = GaussianModel.from_ply(args.input)
    views = virtual_views(source, view_schedule(source.num_gaussians), background=torch.zeros(3), backend="torch")
    cameras = views.test_cameras
    bundle = args.bundle
    if bundle is None:
        bundle = os.path.join(args.out, "input.bundle")
        log(f"compressing {args.input} (compress.py's default)")
        write_file_atomic(bundle, compress_splats(args.input, run=CompressRunParams(quiet=True)).data)
    decoded = load_npz(bundle)
    p = decoded.payload
    plan = build_plan(torch.from_numpy(p.coords), p.depth)
    with torch.no_grad():
        whole = score(decoded.gaussians(), p.sh_degree, cameras)
    res = {"input": args.input, "bundle": bundle, "bundle_given": args.bundle is not None,
           "date": time.strftime("%Y-%m-%d"), "levels": args.levels,
           "decimate": args.decimate, "ours_on_decimated": args.ours_on_decimated, "n_views": len(cameras),
           "file": {"bytes": os.path.getsize(bundle), "n_gaussians": p.n_gaussians, "depth": p.depth, **whole},
           "coarse": [], "decimated": []}
    log(f"{os.path.basename(bundle)}: {res['file']['bytes']:,} B, depth {p.depth}, {whole['psnr']:.2f} dB")
    costs = prefix_costs(bundle, decoded, plan)
    for level in range(p.depth - 1, max(0, p.depth - args.levels) - 1, -1):
        point = {"level": level, "n_nodes": int(len(node_groups(p.coords, p.depth, level)[0])),
                 "bytes": prefix_bytes(costs, p.coords, p.depth, level)}
        for rule in RULES:
            point[rule] = score(coarse_gaussians(decoded, level, rule), p.sh_degree, cameras)
        log(f"level {level}: {point['n_nodes']:,} nodes, {point['bytes']['total']:,} B, "
            + ", ".join(f"{r} {point[r]['psnr']:.2f} dB" for r in RULES))
        res["coarse"].append(point)
    if args.decimate:
        with tempfile.TemporaryDirectory(prefix="coarse_to_fine-") as work:
            res["decimated"] = decimated_points(args.input, args.decimate, cameras, args.ours_on_decimated, work)
    res["seconds"] = time.perf_counter() - t0
    with open(os.path.join(args.out, "coarse_to_fine.json"), "w") as fh:
        json.dump(res, fh, indent=1)
    text = report(res)
    with open(os.path.join(args.out, "coarse_to_fine.md"), "w") as fh:
        fh.write(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
