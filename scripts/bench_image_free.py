"""Image-free rate–distortion benchmark (``python scripts/bench_rd.py --image_free`` runs this).

For every splat file of ``../shared/data/captures/`` and for fern's PLY *without its photos*, and for
copies of each that are the same content turned (``--variants``: ``side`` = 90° about x, ``upside_down``
= 180° about x, ``random`` = a seeded random rotation) or other content (``flat`` = world z scaled by 0.3:
a thin object), everything scored on the **layout-independent held-out views** (a Fibonacci sphere at
two distances with random rotation and roll, ``scene.virtual_cameras.evaluation_cameras``: views the
codec never chose), with float renders of that input as references:

- **ours, default**: ``python compress.py IN -o OUT`` with no other flag (run in-process), decoded with
  ``load_npz`` and rendered;
- **ours, curve** (original only): the default settings at each of ``--qualities`` without fine-tuning;
- **ours, fine-tuned curve** (``--ft_qualities``, original only): ``compress.py IN -o OUT --quality Q``;
- **--target_size** (``--targets F ...``, original only): ``compress.py IN -o OUT --target_size F×SPZ``,
  with the PSNR the fine-tuned ``--quality`` curve reaches at the bytes it wrote;
- **SPZ** and **SOG** by ``@playcanvas/splat-transform`` (encoded from the input as a PLY, decoded
  back by the tool, rendered by our renderer on the same views);
- fern only: also PSNR against fern's real test photos (``-r 2``, the 3DGS split), and the photo-based
  ``compress.py -s`` default point beside it.

Every point has the mean PSNR over the views, the worst view, and the 8-bit PSNR (renders and
references rounded to 8 bits, as a screen shows them). A turned copy is scored on the original's views
turned with it (its references rendered from the copy), so its numbers compare with the original's
directly: the table gives each copy's PSNR and bytes against the original's. The flattened copy is
scored on its own views; its table gives the PSNR per side (views grouped by the nearest ± principal
axis of the copy) for ours and SPZ.

Ratios at equal PSNR interpolate our curve (log bytes, linear in PSNR; never extrapolated): the one
without fine-tuning with the default point, and the fine-tuned one with the default point when
``--ft_qualities`` is given. ``--competitors_from`` takes the SPZ and SOG points of an earlier run's
JSON instead of running splat-transform again (same tool, input and views; copies the earlier run lacks are
encoded, with ``--variant_competitors``); ``--encoded SOG=FILE``
(one input) scores a file splat-transform wrote earlier from that input (original only), for a SOG that
takes longer than ``--sog_timeout`` on the CPU. ``--variant_targets F …`` also runs ``--target_size F × SPZ's
bytes`` on every copy, against the copy's SPZ. ``--tables_from A.json B.json …`` runs nothing and writes the
tables of earlier runs together. Outputs in ``--out``: ``bench_image_free.json``,
``bench_image_free.md``, ``bench_image_free_<name>.png``. Timings need a quiet machine.

    python scripts/bench_rd.py --image_free [--inputs a.ply b.sog ...] [--variants side upside_down random flat]
        [--qualities 24 32 40 48 56] [--ft_qualities 40 52] [--targets 0.5 0.6 0.8] [--variant_targets 0.6]
        [--out bench_out/image_free]
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from typing import Optional

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402
import torch  # noqa: E402

from scripts.bench_rd import SOG_GPU_HELP, interpolate_bytes, log, run_tool, splat_transform  # noqa: E402

DATA = os.path.join(ROOT, "..", "shared", "data")
CAPTURES = os.path.join(DATA, "captures")
FERN_PLY = os.path.join(DATA, "fern_3dgs", "point_cloud.ply")
VARIANTS = ("side", "upside_down", "random", "flat")
#: the flattened copy: world axis and factor
FLAT_AXIS, FLAT_FACTOR = 2, 0.3
#: seed of the random rotation
RANDOM_ROTATION_SEED = 1


def default_inputs() -> list[str]:
    files = []
    if os.path.isdir(CAPTURES):
        files += sorted(os.path.join(CAPTURES, f) for f in os.listdir(CAPTURES) if not f.lower().endswith(".md"))
    else:
        log(f"{CAPTURES} is absent: the captures are skipped")
    if os.path.isfile(FERN_PLY):
        files.append(FERN_PLY)
    else:
        log(f"{FERN_PLY} is absent: fern is skipped")
    return files


def short_name(path: str) -> str:
    if os.path.abspath(path) == os.path.abspath(FERN_PLY):
        return "fern"
    base = os.path.basename(path)
    for ext in (".compressed.ply", ".ply", ".sog", ".spz", ".splat"):
        if base.endswith(ext):
            return base[: -len(ext)]
    return base


def variant_rotation(name: str):
    """The rotation [3, 3] of a turned variant, None for ``flat``."""
    from scene.transform import axis_rotation, random_rotation

    return {"side": axis_rotation(0, 90.0), "upside_down": axis_rotation(0, 180.0),
            "random": random_rotation(RANDOM_ROTATION_SEED)}.get(name)


def variant_arrays(arrays: dict, name: str) -> dict:
    from scene.transform import rotate_gaussians, scale_gaussians_axis

    if name == "flat":
        return scale_gaussians_axis(arrays, FLAT_AXIS, FLAT_FACTOR)
    return rotate_gaussians(arrays, variant_rotation(name))


def score_views(gaussians: dict, sh_degree: int, cameras: list) -> dict:
    """Mean / worst / 8-bit PSNR of renderer inputs on ``cameras`` (their float targets), and per view."""
    from compression.evaluate import evaluate_gaussians

    res = evaluate_gaussians(gaussians, sh_degree, cameras, background=torch.zeros(3), backend="torch")
    return {"psnr": res.psnr, "psnr_worst": res.psnr_worst, "psnr_8bit": res.psnr_8bit,
            "psnr_8bit_worst": res.psnr_8bit_worst, "per_view": [v.psnr for v in res.views]}


def default_setup(source, views, params, quality: float, **overrides):
    """The image-free defaults ``params`` at ``quality`` (rd pruning and depth per quality), no fine-tuning;
    ``overrides`` replace single settings (e.g. ``axes``)."""
    from compression.setup import compression_setup

    kw = dict(depth=params.depth, percent=params.percent, beta=params.beta, merge=params.merge,
              n_block=params.n_block, bits=params.bits, quantizer="rd", quality=quality,
              sensitivity=params.sensitivity, background=torch.zeros(3), backend="torch", evaluate=False,
              prune=params.prune, codec=params.codec, channel_transform=params.channel_transform, axes=params.axes,
              sensitivity_prior=params.sensitivity_prior)
    kw.update(overrides)
    return compression_setup(source, views.train_cameras, views.test_cameras, **kw).model


def curve_point(source, views, params, quality: float, out_dir: str, photo_cams=None):
    """One point of our curve: the defaults at ``quality`` without fine-tuning, saved to
    ``out_dir/q<Q>/pc_npz.bundle``, decoded and rendered on the held-out views.
    Returns (model, bundle path, point)."""
    from codec import save_npz
    from quant.rate_distortion import quality_to_kappa

    model = default_setup(source, views, params, quality)
    model.bank.set_kappa(quality_to_kappa(quality))
    model.calibrate()
    model.eval()
    pc = os.path.join(out_dir, f"q{quality:g}", "pc_npz")
    save_npz(model.encode(codec="range"), pc, plan=model.plan)
    point = dict(decoded_point(pc + ".bundle", views.test_cameras, photo_cams=photo_cams), quality=quality)
    return model, pc + ".bundle", point


def decoded_point(bundle: str, cameras: list, photo_cams=None) -> dict:
    """Bytes and PSNR of a bundle, decoded by load_npz and rendered on ``cameras`` (and the photos)."""
    from codec import load_npz
    from codec.report import describe_compressed

    decoded = load_npz(bundle)
    with torch.no_grad():
        gauss = decoded.gaussians()
    point = {"bytes": os.path.getsize(bundle), **score_views(gauss, decoded.sh_degree, cameras),
             "n_gaussians": decoded.payload.n_gaussians, "components": describe_compressed(bundle).component_bytes}
    if photo_cams is not None:
        point["psnr_photos"] = score_views(gauss, decoded.sh_degree, photo_cams)["psnr"]
    return point


def competitor_point(exe, label: str, ply: str, work: str, cameras: list, args, photo_cams=None, encoded=None) -> dict:
    """SPZ / SOG of ``ply`` by splat-transform (or the file ``encoded`` it wrote earlier), decoded back by the
    tool and scored on ``cameras``."""
    from compression.evaluate import source_gaussians
    from scene.gaussian_model import GaussianModel

    ext, extra = {"SPZ": (".spz", []), "SOG": (".sog", ["-g", args.sog_gpu])}[label]
    out, t_enc = encoded, None
    if encoded is None:
        out = os.path.join(work, label + ext)
        ok, t_enc, err = run_tool(exe, extra + [ply, out], args.sog_timeout)
        if not ok:
            log(f"{label}: skipped ({err})")
            return {"name": label, "skipped": str(err)}
    dec = os.path.join(work, f"{label}_decoded.ply")
    ok, _, err = run_tool(exe, [out, dec], args.sog_timeout)
    if not ok:
        log(f"{label}: decode failed ({err})")
        return {"name": label, "skipped": f"decode: {err}"}
    model = GaussianModel.from_ply(dec)
    gauss = source_gaussians(model)
    point = {"name": label, "bytes": os.path.getsize(out), **score_views(gauss, model.max_sh_degree, cameras),
             "encode_s": t_enc, **({"encoded_file": encoded} if encoded else {})}
    if photo_cams is not None:
        point["psnr_photos"] = score_views(gauss, model.max_sh_degree, photo_cams)["psnr"]
    log(f"{label}: {point['bytes']:,} B, PSNR {point['psnr']:.2f} dB (worst {point['psnr_worst']:.2f})")
    return point


def side_of_views(cameras: list, frame) -> list[str]:
    """The side each camera looks from: the nearest ± principal axis of ``frame`` (``+e1`` .. ``-e3``)."""
    sides = []
    for cam in cameras:
        w2c = cam.world_to_camera.to(torch.float64).numpy()
        centre = -w2c[:3, :3].T @ w2c[:3, 3]
        rel = (centre - frame.centre) @ frame.axes
        k = int(np.argmax(np.abs(rel)))
        sides.append(f"{'+' if rel[k] >= 0 else '-'}e{k + 1}")
    return sides


def per_side(psnrs: list, sides: list) -> dict:
    out = {}
    for p, s in zip(psnrs, sides):
        out.setdefault(s, []).append(p)
    return {s: float(np.mean(v)) for s, v in sorted(out.items())}


def compress_file(path: str, bundle: str, *, run: Optional[dict] = None, codec: Optional[dict] = None) -> None:
    """What ``python compress.py PATH -o BUNDLE [flags]`` writes (``compression.api.compress_splats``)."""
    from arguments.compress import CompressRunParams
    from arguments.compression import CompressionParams
    from codec.container import write_file_atomic
    from compression.api import compress_splats

    out = compress_splats(path, run=CompressRunParams(quiet=True, **(run or {})), codec=CompressionParams(**(codec or {})))
    write_file_atomic(bundle, out.data)


def run_variant(name: str, variant: str, arrays: dict, in_path: str, base_views, args, exe, out_dir: str,
                photo_cams=None) -> dict:
    """compress.py's default and SPZ / SOG on one variant of an input, scored on its held-out views."""
    from compression.views import render_target, rotated_camera, view_schedule, virtual_views
    from scene.gaussian_model import GaussianModel
    from scene.ply_io import write_gaussian_ply
    from scene.virtual_cameras import scene_frame

    os.makedirs(out_dir, exist_ok=True)
    res = {"variant": variant}
    source = GaussianModel.from_arrays(arrays)
    if variant == "original":
        cams, ply_in = base_views.test_cameras, in_path
    elif variant == "flat":
        views = virtual_views(source, view_schedule(source.num_gaussians), background=torch.zeros(3), backend="torch")
        cams, ply_in = views.test_cameras, os.path.join(out_dir, "input.ply")
        with torch.no_grad():
            frame = scene_frame(source.means.numpy(), source.opacities_act.numpy())
        res["sides"] = side_of_views(cams, frame)
    else:
        rot = variant_rotation(variant)
        cams = []
        for cam in base_views.test_cameras:
            turned = rotated_camera(cam, rot)
            cams.append(render_target(source, turned.name, turned.world_to_camera.numpy(), turned.intrinsics.numpy(),
                                      cam.width, cam.height, torch.zeros(3), "torch"))
        ply_in = os.path.join(out_dir, "input.ply")
    if ply_in != in_path:
        write_gaussian_ply(ply_in, arrays)
    bundle = os.path.join(out_dir, "default.bundle")
    t0 = time.perf_counter()
    compress_file(ply_in, bundle)
    res["default"] = dict(decoded_point(bundle, cams, photo_cams=photo_cams), seconds=time.perf_counter() - t0)
    from codec.report import describe_compressed

    cfg = describe_compressed(bundle).configuration
    res["default"]["manifest"] = {k: cfg.get(k) for k in ("heldout", "coverage")}
    res["default"]["layout"] = (cfg.get("views") or {}).get("layout")
    d = res["default"]
    log(f"{name} [{variant}]: compress.py default {d['bytes']:,} B, PSNR {d['psnr']:.2f} dB (worst {d['psnr_worst']:.2f}, "
        f"8-bit {d['psnr_8bit']:.2f}), {d['seconds']:.0f} s")
    res["competitors"] = []
    earlier = (args.earlier or {}).get(name, {}).get("variants", {}).get(variant)
    if earlier is not None:
        res["competitors"] = earlier["competitors"]
    elif exe is not None:
        with tempfile.TemporaryDirectory() as work:
            ply = os.path.join(work, "original.ply")
            write_gaussian_ply(ply, arrays)
            for label in ("SPZ", "SOG") if variant == "original" else args.variant_competitors:
                enc = (args.encoded or {}).get(label) if variant == "original" else None
                res["competitors"].append(competitor_point(exe, label, ply, work, cams, args, photo_cams, enc))
    if "sides" in res:
        res["default"]["per_side"] = per_side(res["default"]["per_view"], res["sides"])
        for c in res["competitors"]:
            if c.get("per_view"):
                c["per_side"] = per_side(c["per_view"], res["sides"])
    if variant != "original" and getattr(args, "variant_targets", None):
        res["targets"] = variant_target_points(f"{name} [{variant}]", ply_in, res, args.variant_targets, cams, out_dir)
    return res


def variant_target_points(label: str, path: str, res: dict, fractions: list, cams: list, out_dir: str) -> list:
    """``compress.py IN -o OUT --target_size F × SPZ's bytes`` on a copy (``--variant_targets``), scored on the
    copy's views beside the copy's SPZ."""
    spz = next((c for c in res["competitors"] if c["name"] == "SPZ" and c.get("bytes")), None)
    if spz is None:
        log(f"{label}: --variant_targets skipped (no SPZ point)")
        return []
    out = []
    for f in fractions:
        target = int(f * spz["bytes"])
        bundle = os.path.join(out_dir, f"target_{f:g}.bundle")
        t0 = time.perf_counter()
        try:
            compress_file(path, bundle, codec={"target_size": str(target)})
        except ValueError as exc:  # below the smallest file the codec can make of it
            log(f"{label}: --target_size {target:,} ({f:g}x SPZ) skipped: {exc}")
            out.append({"fraction": f, "target": target, "skipped": str(exc)})
            continue
        point = dict(decoded_point(bundle, cams), fraction=f, target=target, seconds=time.perf_counter() - t0,
                     spz_psnr=spz["psnr"])
        out.append(point)
        log(f"{label}: --target_size {target:,} ({f:g}x SPZ): {point['bytes']:,} B, PSNR {point['psnr']:.2f} dB "
            f"(SPZ {spz['bytes']:,} B @ {spz['psnr']:.2f})")
    return out


def interpolate_psnr(points: list, nbytes: float, reach: float = 0.02):
    """PSNR of a curve (points with ``bytes`` and ``psnr``) at ``nbytes``: linear in log bytes between the
    neighbouring points; just outside the curve (the nearest point within ``reach`` of ``nbytes`` in
    bytes), the line through the two nearest points; None farther out."""
    pts = sorted((p["bytes"], p["psnr"]) for p in points)
    for (b0, p0), (b1, p1) in zip(pts, pts[1:]):
        if b0 <= nbytes <= b1:
            t = 0.0 if b1 == b0 else (math.log(nbytes) - math.log(b0)) / (math.log(b1) - math.log(b0))
            return p0 + t * (p1 - p0)
    if len(pts) < 2 or not min(abs(math.log(nbytes / b)) for b, _ in pts) <= math.log1p(reach):
        return None
    (b0, p0), (b1, p1) = pts[:2] if nbytes < pts[0][0] else pts[-2:]
    return p0 + (math.log(nbytes) - math.log(b0)) / (math.log(b1) - math.log(b0)) * (p1 - p0)


def target_points(name: str, path: str, res: dict, args, cams: list) -> list:
    """``compress.py IN -o OUT --target_size F × SPZ's bytes`` for each F of ``--targets``, scored on the
    held-out views, then ``compress.py IN -o OUT --quality Q`` at the quality Q the target's file ended at
    (its manifest's ``rd_quality``), which joins the fine-tuned curve: the curve then has a point at about
    the bytes of each target, and each target's PSNR is compared with the curve's there."""

    spz = next((c for c in res["variants"]["original"]["competitors"] if c["name"] == "SPZ" and c.get("bytes")), None)
    if spz is None:
        log(f"{name}: --targets skipped (no SPZ point)")
        return []
    from codec.report import describe_compressed

    out = []
    for f in args.targets:
        target = int(f * spz["bytes"])
        bundle = os.path.join(args.out, name, f"target_{f:g}.bundle")
        t0 = time.perf_counter()
        try:
            compress_file(path, bundle, codec={"target_size": str(target)})
        except ValueError as exc:  # TargetUnreachable: below the smallest file the codec can make of it
            log(f"{name}: --target_size {target:,} ({f:g}x SPZ) skipped: {exc}")
            out.append({"fraction": f, "target": target, "skipped": str(exc)})
            continue
        point = dict(decoded_point(bundle, cams), fraction=f, target=target, seconds=time.perf_counter() - t0)
        cfg = describe_compressed(bundle).configuration
        point["quality"] = round(float(cfg["rd_quality"]), 2)
        point["depth"] = cfg.get("depth")
        out.append(point)
        log(f"{name}: --target_size {target:,} ({f:g}x SPZ): {point['bytes']:,} B, PSNR {point['psnr']:.2f} dB, "
            f"quality {point['quality']:g}, depth {point['depth']}")
        q = point["quality"]
        if not any(abs(p["quality"] - q) < 1e-6 for p in res["ours_finetuned"]):
            ft_bundle = os.path.join(args.out, name, f"ft_q{q:g}.bundle")
            t0 = time.perf_counter()
            compress_file(path, ft_bundle, codec={"quality": q})
            matched = dict(decoded_point(ft_bundle, cams), quality=q, seconds=time.perf_counter() - t0,
                           depth=describe_compressed(ft_bundle).configuration.get("depth"))
            res["ours_finetuned"].append(matched)
            log(f"{name}: compress.py --quality {q:g}: {matched['bytes']:,} B, PSNR {matched['psnr']:.2f} dB, "
                f"depth {matched['depth']}")
    curve = res["ours_finetuned"] + [res["variants"]["original"]["default"]]
    for point in out:
        if "skipped" in point:
            continue
        point["curve_psnr"] = interpolate_psnr(curve, point["bytes"])
        gap = (f"{point['psnr'] - point['curve_psnr']:+.2f} dB against the --quality curve" if point["curve_psnr"]
               is not None else "outside the curve")
        log(f"{name}: --target_size {point['target']:,}: {point['bytes']:,} B, PSNR {point['psnr']:.2f} dB, {gap}")
    return out


def run_input(path: str, args, exe) -> dict:
    from arguments.compression import CompressionParams, resolve_compression_params
    from arguments.compress import SPLAT_FILE_PRESET
    from compression.evaluate import source_gaussians
    from compression.views import view_schedule, virtual_views
    from scene.gaussian_model import GaussianModel
    from scene.splat_files import read_splat

    name = short_name(path)
    out_dir = os.path.join(args.out, name)
    os.makedirs(out_dir, exist_ok=True)
    arrays = read_splat(path)
    source = GaussianModel.from_arrays(arrays)
    n, sh = source.num_gaussians, source.max_sh_degree
    res = {"name": name, "file": os.path.basename(path), "bytes": os.path.getsize(path), "n_gaussians": n,
           "sh_degree": sh, "ours": [], "variants": {}}
    views = virtual_views(source, view_schedule(n), background=torch.zeros(3), backend="torch")
    res["views"] = views.description
    photo_cams = fern_photo_cameras(name)
    if photo_cams is not None:
        res["input_psnr_photos"] = score_views(source_gaussians(source), sh, photo_cams)["psnr"]
    log(f"{name}: {n} Gaussians, SH {sh}, {res['bytes']} B; shape {views.description['shape']}")

    res["variants"]["original"] = run_variant(name, "original", arrays, path, views, args, exe, out_dir, photo_cams)
    if photo_cams is not None:
        photo_bundle = os.path.join(out_dir, "photos.bundle")
        compress_file(path, photo_bundle, run={"source_path": os.path.join(DATA, "fern"), "resolution": 2,
                                              "iterations": args.photo_iterations})
        res["photo_default"] = decoded_point(photo_bundle, views.test_cameras, photo_cams=photo_cams)
        res["photo_default"]["iterations"] = args.photo_iterations

    # our curve: the default settings at each quality, without fine-tuning
    params, _ = resolve_compression_params(CompressionParams(preset=SPLAT_FILE_PRESET), "")
    for q in args.qualities:
        _, _, point = curve_point(source, views, params, q, out_dir, photo_cams=photo_cams)
        res["ours"].append(point)
        log(f"{name}: Q{q:g} {point['bytes']:,} B, PSNR {point['psnr']:.2f} dB")
    res["ours_finetuned"] = []
    for q in args.ft_qualities or []:
        ft_bundle = os.path.join(out_dir, f"ft_q{q:g}.bundle")
        t0 = time.perf_counter()
        compress_file(path, ft_bundle, codec={"quality": q})
        point = dict(decoded_point(ft_bundle, views.test_cameras, photo_cams=photo_cams), quality=q,
                     seconds=time.perf_counter() - t0)
        res["ours_finetuned"].append(point)
        log(f"{name}: compress.py --quality {q:g}: {point['bytes']:,} B, PSNR {point['psnr']:.2f} dB")
    res["targets"] = target_points(name, path, res, args, views.test_cameras) if args.targets else []
    score(res, args.out)

    for variant in args.variants:
        res["variants"][variant] = run_variant(name, variant, variant_arrays(arrays, variant), path, views, args, exe,
                                               os.path.join(out_dir, variant))
    return res


def fern_photo_cameras(name: str):
    """Fern's real test photos (``-r 2``, the 3DGS split) when ``name`` is fern and its folder exists, else None."""
    if name != "fern" or not os.path.isdir(os.path.join(DATA, "fern")):
        return None
    from scene.dataset_readers import load_scene

    return load_scene(os.path.join(DATA, "fern"), resolution=2, eval=True).test_cameras


def score(res: dict, out: str) -> None:
    """Our bytes at each competitor's PSNR on the original (both curves), the ratios, and the plot."""
    orig = res["variants"]["original"]
    default = orig["default"]
    curve = [{"psnr_gt": p["psnr"], "bytes": p["bytes"]} for p in res["ours"] + [default]]
    ft_curve = [{"psnr_gt": p["psnr"], "bytes": p["bytes"]} for p in res["ours_finetuned"] + [default]]
    for c in orig["competitors"]:
        if c.get("bytes"):
            b = interpolate_bytes(curve, c["psnr"])
            c["ours_bytes_at_equal_psnr"] = b
            c["ratio"] = b / c["bytes"] if b else None
            b = interpolate_bytes(ft_curve, c["psnr"]) if res["ours_finetuned"] else None
            c["ratio_finetuned"] = b / c["bytes"] if b else None
    plot(res, os.path.join(out, f"bench_image_free_{res['name']}.png"))


def smaller_and_better(variant: dict, label: str):
    """Whether the default file is smaller than the competitor's and scores a higher PSNR (None without it)."""
    c = next((c for c in variant["competitors"] if c["name"] == label and c.get("bytes")), None)
    if c is None:
        return None
    d = variant["default"]
    return bool(d["bytes"] < c["bytes"] and d["psnr"] > c["psnr"])


def plot(res, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    orig = res["variants"]["original"]
    fig, ax = plt.subplots(figsize=(6, 4))
    pts = sorted(res["ours"], key=lambda p: p["bytes"])
    ax.plot([p["bytes"] for p in pts], [p["psnr"] for p in pts], "o-", label="ours (no fine-tuning)")
    ft = sorted(res.get("ours_finetuned", []) + ([orig["default"]] if res.get("ours_finetuned") else []),
                key=lambda p: p["bytes"])
    if ft:
        ax.plot([p["bytes"] for p in ft], [p["psnr"] for p in ft], "o--", label="ours: compress.py --quality Q")
    ax.plot([orig["default"]["bytes"]], [orig["default"]["psnr"]], "*", ms=14, label="ours: compress.py default")
    for c in orig["competitors"]:
        if c.get("bytes"):
            ax.plot([c["bytes"]], [c["psnr"]], "s", ms=8, label=c["name"])
    ax.set_xscale("log")
    ax.set_xlabel("bytes")
    ax.set_ylabel("PSNR vs original, layout-independent views (dB)")
    ax.set_title(f"{res['name']}: {res['n_gaussians']} Gaussians, SH {res['sh_degree']}")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _point(p: dict) -> str:
    return f"{p['bytes']:,} B @ {p['psnr']:.2f} (worst {p['psnr_worst']:.2f})"


def markdown(results) -> str:
    lines = ["PSNR against the input on 16 layout-independent held-out views (mean, worst view), dB.", "",
             "| input | Gaussians, SH | compress.py default | SPZ | SOG | ours at SPZ's PSNR / SPZ | ours at SOG's PSNR / SOG | default smaller and better than SPZ / SOG |",
             "|---|---|---|---|---|---|---|---|"]
    for r in results:
        orig = r["variants"]["original"]
        comp = {c["name"]: c for c in orig["competitors"]}

        def cell(label):
            c = comp.get(label)
            return _point(c) if c and c.get("bytes") else "—"

        def ratio(label, key="ratio"):
            c = comp.get(label)
            return f"{c[key]:.3f}×" if c and c.get(key) else "—"

        def wins(label):
            w = smaller_and_better(orig, label)
            return "—" if w is None else ("yes" if w else "no")

        d = orig["default"]
        lines.append(f"| {r['file']} | {r['n_gaussians']:,}, {r['sh_degree']} | {_point(d)} ({d['seconds']:.0f} s) | "
                     f"{cell('SPZ')} | {cell('SOG')} | {ratio('SPZ')}"
                     + (f" ({ratio('SPZ', 'ratio_finetuned')} fine-tuned)" if r.get("ours_finetuned") else "")
                     + f" | {ratio('SOG')}" + (f" ({ratio('SOG', 'ratio_finetuned')} fine-tuned)" if r.get("ours_finetuned") else "")
                     + f" | {wins('SPZ')} / {wins('SOG')} |")
    turned = [(r, v) for r in results for v in r["variants"] if v in ("side", "upside_down", "random")]
    if turned:
        lines += ["", "Turned copies (the same content; views turned with it): the default file's PSNR and bytes "
                  "against the original's, and against SPZ / SOG of the same copy.", "",
                  "| input | copy | default | ΔPSNR vs original (dB) | bytes / original | smaller and better than SPZ / SOG |",
                  "|---|---|---|---|---|---|"]
        for r, v in turned:
            o, d = r["variants"]["original"]["default"], r["variants"][v]["default"]
            w = [smaller_and_better(r["variants"][v], label) for label in ("SPZ", "SOG")]
            lines.append(f"| {r['name']} | {v} | {_point(d)} | {d['psnr'] - o['psnr']:+.2f} | {d['bytes'] / o['bytes']:.3f} | "
                         + " / ".join("—" if x is None else ("yes" if x else "no") for x in w) + " |")
    flat = [r for r in results if "flat" in r["variants"]]
    if flat:
        lines += ["", f"Flattened copies (world axis {FLAT_AXIS} × {FLAT_FACTOR}: other content, its own views): PSNR per "
                  "side (the views nearest each ± principal axis), ours / SPZ.", "",
                  "| input | default | SPZ | per side: ours / SPZ | smaller and better than SPZ / SOG |", "|---|---|---|---|---|"]
        for r in flat:
            v = r["variants"]["flat"]
            spz = next((c for c in v["competitors"] if c["name"] == "SPZ" and c.get("bytes")), None)
            sides = "; ".join(f"{s} {p:.2f}" + (f" / {spz['per_side'][s]:.2f}" if spz else "")
                              for s, p in v["default"]["per_side"].items())
            w = [smaller_and_better(v, label) for label in ("SPZ", "SOG")]
            lines.append(f"| {r['name']} | {_point(v['default'])} | {_point(spz) if spz else '—'} | {sides} | "
                         + " / ".join("—" if x is None else ("yes" if x else "no") for x in w) + " |")
    copy_targets = [(r, v) for r in results for v in VARIANTS if r["variants"].get(v, {}).get("targets")]
    if copy_targets:
        lines += ["", "`--target_size F × SPZ's bytes` on the copies (`--variant_targets`), against the copy's SPZ:", "",
                  "| input | copy | F | target | file (under the target) | PSNR (worst view) | SPZ's PSNR | at least SPZ's |",
                  "|---|---|---|---|---|---|---|---|"]
        for r, v in copy_targets:
            for t in r["variants"][v]["targets"]:
                if "skipped" in t:
                    lines.append(f"| {r['name']} | {v} | {t['fraction']:g} | {t['target']:,} | unreachable | — | — | — |")
                    continue
                under = 100.0 * (t["target"] - t["bytes"]) / t["target"]
                lines.append(f"| {r['name']} | {v} | {t['fraction']:g} | {t['target']:,} | {t['bytes']:,} ({under:.2f} %) | "
                             f"{t['psnr']:.2f} ({t['psnr_worst']:.2f}) | {t['spz_psnr']:.2f} | "
                             f"{'yes' if t['psnr'] >= t['spz_psnr'] else 'no'} |")
    with_targets = [r for r in results if r.get("targets")]
    if with_targets:
        lines += ["", "`--target_size F × SPZ's bytes` against the `--quality Q` curve (fine-tuned points and the default) "
                  "at the bytes it wrote:", "", "| input | F | target | file (under the target) | PSNR | quality, depth | "
                  "curve's PSNR there | Δ |", "|---|---|---|---|---|---|---|---|"]
        for r in with_targets:
            for t in r["targets"]:
                if "skipped" in t:
                    lines.append(f"| {r['name']} | {t['fraction']:g} | {t['target']:,} | unreachable | — | — | — | — |")
                    continue
                c = t.get("curve_psnr")
                under = 100.0 * (t["target"] - t["bytes"]) / t["target"]
                lines.append(f"| {r['name']} | {t['fraction']:g} | {t['target']:,} | {t['bytes']:,} ({under:.2f} %) | "
                             f"{t['psnr']:.2f} | {t.get('quality', '—')}, {t.get('depth', '—')} | "
                             + (f"{c:.2f} | {t['psnr'] - c:+.2f} |" if c is not None else "outside | — |"))
    lines += ["", "Our curve (no fine-tuning), bytes @ PSNR per quality:", ""]
    for r in results:
        lines.append(f"- {r['name']}: " + "; ".join(f"Q{p['quality']:g} {p['bytes']:,} @ {p['psnr']:.2f}" for p in r["ours"]))
    if any(r.get("ours_finetuned") for r in results):
        lines += ["", "Fine-tuned curve (`compress.py IN -o OUT --quality Q`), bytes @ PSNR:", ""]
        for r in results:
            lines.append(f"- {r['name']}: " + "; ".join(f"Q{p['quality']:g} {p['bytes']:,} @ {p['psnr']:.2f}"
                                                       for p in r.get("ours_finetuned", [])))
    sources = sorted({r["competitors_from"] for r in results if r.get("competitors_from")})
    if sources:
        lines += ["", "SPZ and SOG points taken from " + ", ".join(f"`{s}`" for s in sources) + " (same tool, input and views)."]
    for r in results:
        if "input_psnr_photos" not in r:
            continue
        orig = r["variants"]["original"]
        lines.append("")
        lines.append(f"{r['name']} against its real test photos (input PLY {r['input_psnr_photos']:.2f} dB): "
                     f"image-free default {orig['default']['bytes']:,} B @ {orig['default']['psnr_photos']:.2f} dB"
                     + (f"; photo-based ({r['photo_default']['iterations']} iterations) {r['photo_default']['bytes']:,} B @ "
                        f"{r['photo_default']['psnr_photos']:.2f} dB" if "photo_default" in r else "")
                     + "".join(f"; {c['name']} {c['bytes']:,} B @ {c['psnr_photos']:.2f} dB"
                               for c in orig["competitors"] if c.get("psnr_photos") is not None)
                     + "; curve: " + ", ".join(f"Q{p['quality']:g} {p['bytes']:,} @ {p['psnr_photos']:.2f}" for p in r["ours"]))
    return "\n".join(lines) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--image_free", action="store_true", help="(accepted: bench_rd.py passes it on)")
    ap.add_argument("--inputs", nargs="+", default=None, help="splat files (default: ../shared/data/captures/* and fern's PLY)")
    ap.add_argument("--variants", nargs="*", default=list(VARIANTS), choices=VARIANTS,
                    help="copies scored beside each original (none: --variants with no value)")
    ap.add_argument("--qualities", type=float, nargs="*", default=[32, 40, 48, 56])
    ap.add_argument("--photo_iterations", type=int, default=100, help="fern: fine-tuning iterations of the photo-based point")
    ap.add_argument("--sog_timeout", type=int, default=600, help="seconds for each splat-transform call")
    ap.add_argument("--ft_qualities", type=float, nargs="+", default=None,
                    help="also run compress.py IN -o OUT --quality Q (fine-tuning included) at these qualities")
    ap.add_argument("--targets", type=float, nargs="+", default=None, metavar="F",
                    help="also run compress.py IN -o OUT --target_size F x SPZ's bytes (original only), compared with "
                         "the --ft_qualities curve at the bytes it wrote")
    ap.add_argument("--variant_targets", type=float, nargs="+", default=None, metavar="F",
                    help="also run compress.py IN -o OUT --target_size F x SPZ's bytes on each turned or flattened copy, "
                         "against that copy's SPZ")
    ap.add_argument("--competitors_from", default=None,
                    help="bench_image_free.json of an earlier run: take its SPZ / SOG points instead of running splat-transform")
    ap.add_argument("--sog_gpu", default="cpu", help=SOG_GPU_HELP)
    ap.add_argument("--no_competitors", action="store_true", help="skip SPZ / SOG")
    ap.add_argument("--variant_competitors", nargs="*", default=["SPZ", "SOG"], choices=["SPZ", "SOG"],
                    help="the competitors written for each turned or flattened copy (SOG takes minutes per copy on a CPU)")
    ap.add_argument("--encoded", dest="encoded_files", nargs="+", default=None, metavar="LABEL=FILE",
                    help="one input only: SPZ=a.spz / SOG=a.sog written earlier by splat-transform from that input "
                         "(e.g. a SOG that took longer than --sog_timeout); decoded and scored on the original's views")
    ap.add_argument("--tool_dir", default=None, help="npm install folder of splat-transform")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=os.path.join("bench_out", "image_free"))
    ap.add_argument("--tables_from", nargs="+", default=None, metavar="JSON",
                    help="run nothing: write the tables of earlier runs' bench_image_free.json files together")
    args = ap.parse_args(argv)
    if args.tables_from:
        joined = []
        for path in args.tables_from:
            with open(path) as fh:
                joined += json.load(fh)
        os.makedirs(args.out, exist_ok=True)
        md = markdown(joined)
        with open(os.path.join(args.out, "bench_image_free.md"), "w") as fh:
            fh.write(md)
        print(md)
        return 0
    args.encoded = None
    if args.encoded_files:
        pairs = [item.split("=", 1) for item in args.encoded_files]
        if len(args.inputs or []) != 1 or any(len(p) != 2 or p[0] not in ("SPZ", "SOG") or not os.path.isfile(p[1]) for p in pairs):
            ap.error("--encoded needs exactly one --inputs file and LABEL=FILE items with LABEL SPZ or SOG and an existing FILE")
        args.encoded = dict(pairs)
    torch.set_num_threads(args.threads)
    os.makedirs(args.out, exist_ok=True)
    from training.console import setup_logging

    setup_logging()
    args.earlier = None
    if args.competitors_from:
        with open(args.competitors_from) as fh:
            args.earlier = {r["name"]: r for r in json.load(fh)}
    exe = None if args.no_competitors else splat_transform(args.tool_dir)
    results = []
    for path in args.inputs or default_inputs():
        res = run_input(path, args, exe)
        if args.earlier is not None:
            res["competitors_from"] = args.competitors_from
        results.append(res)
        with open(os.path.join(args.out, "bench_image_free.json"), "w") as fh:
            json.dump(results, fh, indent=2, default=float)
        with open(os.path.join(args.out, "bench_image_free.md"), "w") as fh:
            fh.write(markdown(results))
    md = markdown(results)
    print(md)
    log(f"wrote {args.out}/bench_image_free.json, .md and the plots")
    return 0


if __name__ == "__main__":
    sys.exit(main())
