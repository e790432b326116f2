"""Rate–distortion benchmark: our curve beside SPZ, SOG, the input PLY and MesonGS's storage layout.

For each scene (default: the built-in scene, and ``../shared/data/fern`` with its pre-trained PLY
when present; or ``-s`` + ``--init_ply``), on the test views of ``--eval``:

- **ours** (``--quantizer rd``, format v2): the setup (importance, prune, voxelize, sensitivity) once,
  then for every ``--qualities`` value the same fine-tuning budget (``--ft_iterations``), saved with
  ``save_npz``, decoded with ``load_npz`` and rendered: bytes = the bundle;
- **min/max 8-bit** (``--quantizer vanilla``, the seed's quantizer) with the same budget, as v2 and as
  v1 (``--codec deflate``), and **MesonGS's layout** of that same quantized model from its documented
  storage (notes §8: int64 row-major voxel keys + float32 bbox in ``oct.npz``, float32 DC + uint8 AC
  codes channel-major in one npz, the float64 table ``t.npz``; each ``np.savez_compressed``, then all
  zipped together with DEFLATE) — a size reference only, at that model's PSNR;
- **SPZ** and **SOG** written by PlayCanvas's ``@playcanvas/splat-transform`` (installed into
  ``--tool_dir`` (default ``~/.cache/splatpress/tools``) with ``npm install`` when ``npm`` exists, by
  ``scene/splat_transform_tool.py``; skipped with one line otherwise), decoded
  back to PLY by the same tool and rendered by our renderer; SOG gets ``--sog_timeout`` seconds at the
  model's SH degree and, if that is not enough, is tried at ``-H 2`` (labelled so);
- the **input PLY**.

PSNR is reported against the ground-truth photos and against the uncompressed model's renders.
Ratios at equal PSNR interpolate our curve (log bytes, linear in PSNR between neighbouring points;
never extrapolated). Outputs in ``--out``: ``bench_rd.json``, ``bench_rd_<scene>.png`` (bytes vs test
PSNR, log x) and ``bench_rd.md`` (tables). Timing figures need a quiet machine.

    python scripts/bench_rd.py [--scenes demo fern] [-s SCENE --init_ply PLY -r 2] [--qualities 16 24 32 40 48 56]
        [--ft_iterations 100] [--no_competitors] [--out bench_out/rd]

``--image_free`` runs the image-free benchmark instead (``scripts/bench_image_free.py``: every file of
``../shared/data/captures/`` and fern's PLY without photos, held-out virtual views, ``compress.py``'s
default beside SPZ and SOG).

"""
from __future__ import annotations

import argparse
import copy
import io
import json
import math
import os
import subprocess
import sys
import tempfile
import time
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402
import torch  # noqa: E402

DATA = os.path.join(ROOT, "..", "shared", "data")


# ------------------------------------------------------------------------------------ helpers


def log(msg: str) -> None:
    print(f"[bench_rd] {msg}", flush=True)


def evaluate(gaussians_fn, sh_degree, cameras, refs=None):
    """(PSNR vs GT, PSNR vs reference renders or None, renders) over ``cameras``."""
    from compression.attributes import render_attributes
    from utils.image_metrics import psnr

    g = gaussians_fn()
    bg = torch.zeros(3)
    p_gt, p_ref, images = [], [], []
    with torch.no_grad():
        for i, cam in enumerate(cameras):
            img = render_attributes(g, cam, bg, "torch", sh_degree)["image"].clamp(0, 1)
            p_gt.append(float(psnr(img, cam.image())))
            if refs is not None:
                p_ref.append(float(psnr(img, refs[i])))
            images.append(img)
    return float(np.mean(p_gt)), (float(np.mean(p_ref)) if refs is not None else None), images


def mesongs_layout_bytes(payload) -> int:
    """Bytes of MesonGS's storage of ``payload`` (8-bit codes): oct.npz (int64 row-major keys, float32
    bbox), orgb.npz (float32 DC, uint8 AC codes channel-major), t.npz (float64 table); every file
    ``np.savez_compressed``, then ``zip -j`` (DEFLATE) of the files."""
    from codec import quant_table

    d = payload.depth
    c = payload.coords.astype(np.int64)
    keys = np.sort((c[:, 0] << (2 * d)) + (c[:, 1] << d) + c[:, 2])
    bbox = np.array([payload.bbox_min[0], payload.bbox_max[0], payload.bbox_min[1], payload.bbox_max[1],
                     payload.bbox_min[2], payload.bbox_max[2]], dtype=np.float32)
    files = {}
    for name, arrays in (("oct.npz", {"points": keys, "params": bbox}),
                         ("orgb.npz", {"f": payload.dc, "i": np.ascontiguousarray(payload.ac_codes.T).reshape(-1).astype(np.uint8)}),
                         ("t.npz", {"t": quant_table(payload.depth, payload.n_block, payload.scale, payload.zero_point)})):
        buf = io.BytesIO()
        np.savez_compressed(buf, **arrays)
        files[name] = buf.getvalue()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return len(buf.getvalue())


def interpolate_bytes(curve, target_psnr):
    """Bytes of our curve at ``target_psnr`` (log-linear between the two neighbouring points), or None outside it."""
    pts = sorted((p["psnr_gt"], p["bytes"]) for p in curve)
    for (p0, b0), (p1, b1) in zip(pts, pts[1:]):
        if p0 <= target_psnr <= p1:
            t = 0.0 if p1 == p0 else (target_psnr - p0) / (p1 - p0)
            return math.exp(math.log(b0) + t * (math.log(b1) - math.log(b0)))
    return None


# ------------------------------------------------------------------------------------ splat-transform


def splat_transform(tool_dir):
    """Path of the pinned splat-transform CLI (scene/splat_transform_tool.py: installed into ``tool_dir``
    on first use); None, with one line saying why, without Node.js / npm or when the install fails."""
    from scene.splat_transform_tool import ToolUnavailable, splat_transform_path

    try:
        return splat_transform_path(tool_dir)
    except ToolUnavailable as exc:
        log(f"{exc}: the SPZ and SOG curves are skipped")
        return None


def run_tool(exe, args, timeout):
    t0 = time.perf_counter()
    try:
        res = subprocess.run([exe, "-q", "-w"] + args, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, time.perf_counter() - t0, f"timed out after {timeout} s"
    if res.returncode != 0:
        return None, time.perf_counter() - t0, (res.stderr or res.stdout).strip().splitlines()[-1:]
    return True, time.perf_counter() - t0, ""


SOG_GPU_HELP = ("splat-transform's -g for SOG: 'cpu' (default; its SH k-means takes hours at 100k+ Gaussians with SH 3) "
                "or a WebGPU adapter index from `splat-transform --list-gpus`; without a GPU, Mesa's lavapipe "
                "(mesa-vulkan-drivers >= 23) is a software adapter that runs the tool's own GPU k-means on the CPU")


def competitor(exe, name, ply, work, ext, extra, timeout, cameras, refs, encoded=None):
    """Encode ``ply`` with splat-transform, decode back to PLY, render: a result dict or None.
    ``encoded``: a file splat-transform already wrote from the same input (its encoding is then not run
    nor timed)."""
    from scene.gaussian_model import GaussianModel
    from compression.evaluate import source_gaussians

    if encoded is not None:
        out, t_enc = encoded, None
        log(f"{name}: using {encoded} (encoded earlier from the same input)")
    else:
        out = os.path.join(work, f"{name}{ext}")
        ok, t_enc, err = run_tool(exe, extra + [ply, out], timeout)
        if not ok:
            log(f"{name}: skipped ({err})")
            return {"name": name, "skipped": str(err), "encode_s": t_enc}
    dec = os.path.join(work, f"{name}_decoded.ply")
    ok, t_dec, err = run_tool(exe, [out, dec], timeout)
    if not ok:
        log(f"{name}: decode failed ({err})")
        return {"name": name, "skipped": f"decode: {err}", "encode_s": t_enc}
    model = GaussianModel.from_ply(dec)
    p_gt, p_ref, _ = evaluate(lambda: source_gaussians(model), model.max_sh_degree, cameras, refs)
    size = os.path.getsize(out) if os.path.isfile(out) else sum(
        os.path.getsize(os.path.join(dp, f)) for dp, _, fs in os.walk(out) for f in fs)
    log(f"{name}: {size} B, test PSNR {p_gt:.3f} dB (vs uncompressed {p_ref:.2f})"
        + (f", encode {t_enc:.1f} s" if t_enc is not None else ""))
    return {"name": name, "bytes": size, "psnr_gt": p_gt, "psnr_ref": p_ref, "encode_s": t_enc, "decode_s": t_dec,
            "sh_degree": model.max_sh_degree, "n_gaussians": model.num_gaussians,
            **({"encoded_file": encoded} if encoded is not None else {})}


# ------------------------------------------------------------------------------------ one scene


def ours(model, params, train, test, refs, iterations, out_dir, label, codec="range"):
    """Fine-tune ``model`` (a copy) ``iterations`` steps, save, decode, render: a point."""
    from codec import load_npz, save_npz
    from compression.finetune import FineTuner

    t0 = time.perf_counter()
    if iterations > 0:
        FineTuner(model, params, train, background=torch.zeros(3), backend="torch").run(1, iterations)
    if model.quantizer == "rd":
        model.calibrate()  # steps re-fitted to the fine-tuned attributes, as train.py does at a save
    model.eval()
    t_ft = time.perf_counter() - t0
    payload = model.encode(codec=codec)
    pc = os.path.join(out_dir, label, "pc_npz")
    report = save_npz(payload, pc, plan=model.plan)
    decoded = load_npz(pc + ".bundle")
    p_gt, p_ref, _ = evaluate(decoded.gaussians,
                              decoded.sh_degree, test, refs)
    point = {"label": label, "bytes": report.bundle_bytes, "psnr_gt": p_gt, "psnr_ref": p_ref,
             "bits_per_gaussian": report.bits_per_gaussian, "components": report.component_bytes,
             "finetune_s": t_ft, "n_gaussians": model.n_gaussians}
    if model.quantizer == "rd":
        point["quality"] = float(-8.0 * math.log2(float(model.bank.kappa)))
    log(f"{label}: {report.bundle_bytes} B ({report.bits_per_gaussian:.1f} bits/Gaussian), test PSNR {p_gt:.3f} dB "
        f"(vs uncompressed {p_ref:.2f}), fine-tuning {t_ft:.0f} s")
    return point, payload


def run_scene(name, source_path, ply, resolution, args, exe):
    from arguments.compression import CompressionParams, resolve_compression_params
    from compression.attributes import QuantizedGaussians
    from compression.evaluate import source_gaussians
    from compression.setup import compression_setup
    from quant.rate_distortion import quality_to_kappa
    from scene.dataset_readers import load_scene
    from scene.gaussian_model import GaussianModel

    out_dir = os.path.join(args.out, name)
    os.makedirs(out_dir, exist_ok=True)
    scene = load_scene(source_path, resolution=resolution, eval=True)
    train, test = scene.train_cameras, scene.test_cameras
    source = GaussianModel.from_ply(ply)
    sh = source.max_sh_degree
    ply_bytes = os.path.getsize(ply)
    p_in, _, refs = evaluate(lambda: source_gaussians(source), sh, test)
    log(f"{name}: {len(train)} train / {len(test)} test views, {source.num_gaussians} Gaussians (SH {sh}), "
        f"PLY {ply_bytes} B, test PSNR {p_in:.3f} dB")
    res = {"scene": name, "source_path": source_path, "init_ply": ply, "resolution": resolution,
           "n_input": source.num_gaussians, "sh_degree": sh,
           "input": {"bytes": ply_bytes, "psnr_gt": p_in, "psnr_ref": math.inf},
           "ft_iterations": args.ft_iterations, "ours": [], "references": {}, "competitors": []}

    cli = CompressionParams(per_block_quant=True, quantizer="rd", depth=args.depth, percent=args.percent,
                            prune="fixed" if args.percent is not None else None)
    params, _ = resolve_compression_params(cli, source_path)
    res["settings"] = {k: getattr(params, k) for k in ("prune", "depth", "percent", "n_block", "bits", "lr_multiplier",
                                                       "channel_transform", "axes")}
    res["settings"]["sensitivity"] = args.sensitivity

    def setup_at(quality):
        """The setup at one quality: with --prune rd the pruning and the depth follow it."""
        return compression_setup(source, train, test, depth=params.depth, percent=params.percent, beta=params.beta,
                                 merge=params.merge, n_block=params.n_block, bits=params.bits, quantizer="rd",
                                 quality=quality, sensitivity=args.sensitivity, background=torch.zeros(3),
                                 backend="torch", evaluate=False, prune=params.prune, codec=params.codec,
                                 channel_transform=params.channel_transform, axes=params.axes).model

    t0 = time.perf_counter()
    base = setup_at(params.quality)
    res["setup_s"] = time.perf_counter() - t0
    for q in args.qualities:
        model = setup_at(q) if params.prune == "rd" else copy.deepcopy(base)
        model.bank.set_kappa(quality_to_kappa(q))
        model.calibrate()
        point, _ = ours(model, params, train, test, refs, args.ft_iterations, out_dir, f"rd_q{q:g}")
        point["quantizer"] = "rd"
        res["ours"].append(point)

    vparams, _ = resolve_compression_params(
        CompressionParams(per_block_quant=True, quantizer="vanilla", depth=args.depth, percent=args.percent), source_path)
    vanilla = QuantizedGaussians(base.attributes().detach(), base.coords, base.bbox_min, base.bbox_max, base.depth,
                                 base.sh_degree, n_block=base.n_block, bits=8, quantizer="vanilla", plan=base.plan)
    # (the min/max references keep the identity channels: format v1 has no channel transform)
    vanilla.calibrate()
    point, payload = ours(vanilla, vparams, train, test, refs, args.ft_iterations, out_dir, "vanilla8_v2")
    res["references"]["vanilla8_v2"] = point
    v1 = ours(vanilla, vparams, train, test, refs, 0, out_dir, "vanilla8_v1", codec="deflate")[0]
    res["references"]["vanilla8_v1"] = v1
    res["references"]["mesongs_layout"] = {"bytes": mesongs_layout_bytes(payload), "psnr_gt": point["psnr_gt"],
                                           "psnr_ref": point["psnr_ref"]}
    log(f"MesonGS storage layout of the min/max 8-bit model: {res['references']['mesongs_layout']['bytes']} B")

    if exe is not None:
        with tempfile.TemporaryDirectory() as work:
            res["competitors"].append(competitor(exe, "SPZ", ply, work, ".spz", [], args.sog_timeout, test, refs))
            if args.sog_harmonics is not None and args.sog_harmonics < sh:
                sog = competitor(exe, f"SOG (SH {args.sog_harmonics})", ply, work, ".sog",
                                 ["-g", args.sog_gpu, "-H", str(args.sog_harmonics)], args.sog_timeout, test, refs)
            else:
                sog = competitor(exe, "SOG", ply, work, ".sog", ["-g", args.sog_gpu], args.sog_timeout, test, refs)
            if "skipped" in sog and sh > 2 and args.sog_harmonics is None:
                sog_h2 = competitor(exe, "SOG (SH 2)", ply, work, ".sog", ["-g", args.sog_gpu, "-H", "2"], args.sog_timeout, test, refs)
                res["competitors"].append(sog)
                sog = sog_h2
            res["competitors"].append(sog)
    ratios = {}
    for c in res["competitors"] + [dict(res["input"], name="input PLY")]:
        if "bytes" not in c:
            continue
        b = interpolate_bytes(res["ours"], c["psnr_gt"])
        ratios[c["name"]] = {"their_bytes": c["bytes"], "their_psnr": c["psnr_gt"],
                             "ours_bytes_at_equal_psnr": b, "ratio": (b / c["bytes"]) if b else None}
    loss = p_in - 0.3
    b = interpolate_bytes(res["ours"], loss)
    best = [p for p in res["ours"] if p["psnr_gt"] >= loss]
    res["input_ratio_at_0.3dB"] = {"ours_bytes": b if b else (min(p["bytes"] for p in best) if best else None)}
    r = res["input_ratio_at_0.3dB"]["ours_bytes"]
    res["input_ratio_at_0.3dB"]["ratio"] = ply_bytes / r if r else None
    res["ratios_at_equal_psnr"] = ratios
    plot(res, os.path.join(args.out, f"bench_rd_{name}.png"))
    return res


def plot(res, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    pts = sorted(res["ours"], key=lambda p: p["bytes"])
    ax.plot([p["bytes"] for p in pts], [p["psnr_gt"] for p in pts], "o-", label=f"ours ({pts[0].get('quantizer', 'rd')}, v2)")
    for key, marker in (("vanilla8_v2", "s"), ("vanilla8_v1", "D"), ("mesongs_layout", "x")):
        r = res["references"].get(key)
        if r:
            ax.plot([r["bytes"]], [r["psnr_gt"]], marker, label={"vanilla8_v2": "min/max 8-bit, v2", "vanilla8_v1":
                    "min/max 8-bit, v1 (deflate)", "mesongs_layout": "MesonGS layout (same model)"}[key])
    for c in res["competitors"]:
        if "bytes" in c:
            ax.plot([c["bytes"]], [c["psnr_gt"]], "^", markersize=9, label=c["name"])
    ax.plot([res["input"]["bytes"]], [res["input"]["psnr_gt"]], "*", markersize=11, label="input PLY")
    ax.set_xscale("log")
    ax.set_xlabel("bytes (log)")
    ax.set_ylabel("test PSNR vs photos (dB)")
    ax.set_title(f"{res['scene']}: {res['n_input']} Gaussians, {res['ft_iterations']} fine-tuning iterations per point")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def markdown(results) -> str:
    lines = []
    for res in results:
        lines.append(f"### {res['scene']} ({res['n_input']} Gaussians, SH {res['sh_degree']}, -r {res['resolution']}, "
                     f"{res['ft_iterations']} fine-tuning iterations per point; settings {res['settings']})\n")
        lines.append("| method | bytes | bits/Gaussian (input count) | test PSNR vs photos | vs uncompressed renders |")
        lines.append("|---|---:|---:|---:|---:|")
        rows = [(f"ours {p.get('quantizer', 'rd')}, quality {p['quality']:g}", p) for p in sorted(res["ours"], key=lambda p: p["bytes"])]
        names = {"vanilla8_v2": "min/max 8-bit, v2", "vanilla8_v1": "min/max 8-bit, v1 (deflate)",
                 "mesongs_layout": "MesonGS layout of that model"}
        rows += [(names[k], v) for k, v in res["references"].items()]
        rows += [(c["name"], c) for c in res["competitors"] if "bytes" in c]
        rows.append(("input PLY", res["input"]))
        for label, p in rows:
            ref = p.get("psnr_ref")
            ref_s = "—" if ref is None or not math.isfinite(ref) else f"{ref:.2f}"
            lines.append(f"| {label} | {p['bytes']:,} | {8 * p['bytes'] / res['n_input']:.1f} | {p['psnr_gt']:.3f} | {ref_s} |")
        for c in res["competitors"]:
            if "skipped" in c:
                lines.append(f"| {c['name']} | skipped: {c['skipped']} | | | |")
        lines.append("")
        for name, r in res["ratios_at_equal_psnr"].items():
            if r["ratio"] is None:
                lines.append(f"- vs {name} ({r['their_bytes']:,} B at {r['their_psnr']:.2f} dB): its PSNR is outside our curve")
            else:
                lines.append(f"- vs {name} ({r['their_bytes']:,} B at {r['their_psnr']:.2f} dB): ours "
                             f"{r['ours_bytes_at_equal_psnr']:,.0f} B at equal PSNR = **{r['ratio']:.3f}×**")
        r = res["input_ratio_at_0.3dB"]
        if r["ratio"]:
            lines.append(f"- at ≤ 0.3 dB below the input model ({res['input']['psnr_gt'] - 0.3:.2f} dB): "
                         f"{r['ours_bytes']:,.0f} B = **{r['ratio']:.1f}× smaller** than the input PLY")
        lines.append("")
    return "\n".join(lines)


def demo_ply(args) -> tuple[str, str]:
    """(scene folder, pre-trained PLY) of the built-in scene, trained by scripts/demo.py when missing."""
    base = args.demo_dir
    scene_dir = os.path.join(base, "scene")
    ply = os.path.join(base, "model", "point_cloud", "iteration_1200", "point_cloud.ply")
    if not os.path.isfile(ply):
        log(f"no pre-trained built-in scene in {base}: running scripts/demo.py --no_compress (about 5 minutes on 2 cores)")
        subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "demo.py"), "--out", base, "--no_compress"], check=True)
    return scene_dir, ply


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if "--image_free" in argv:
        from scripts.bench_image_free import main as image_free_main

        return image_free_main(argv)
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenes", nargs="+", default=["demo", "fern"], help="demo (built-in) and/or fern; ignored with -s")
    ap.add_argument("-s", "--source_path", default=None, help="another scene folder (needs --init_ply)")
    ap.add_argument("--init_ply", default=None, help="its pre-trained 3DGS PLY")
    ap.add_argument("-r", "--resolution", type=int, default=None, help="-r of the scene (default: 2 for fern, 1 otherwise)")
    ap.add_argument("--qualities", type=float, nargs="+", default=[16, 24, 32, 40, 48, 56])
    ap.add_argument("--ft_iterations", type=int, default=100, help="fine-tuning iterations per point (the same for every method)")
    ap.add_argument("--sensitivity", default="hutchinson", choices=["fisher", "hutchinson"],
                    help="how the rd steps weigh each coefficient (compression/sensitivity.py)")
    ap.add_argument("--depth", type=int, default=None, help="octree depth (default: the scene's preset)")
    ap.add_argument("--percent", type=float, default=None, help="pruned fraction (default: the scene's preset)")
    ap.add_argument("--sog_timeout", type=int, default=300, help="seconds for each splat-transform call")
    ap.add_argument("--sog_harmonics", type=int, default=None,
                    help="write SOG at this SH degree only (-H n; default: the model's, then 2 if that times out)")
    ap.add_argument("--sog_gpu", default="cpu", help=SOG_GPU_HELP)
    ap.add_argument("--no_competitors", action="store_true", help="skip SPZ / SOG")
    ap.add_argument("--tool_dir", default=None,
                    help="npm install folder of splat-transform (default: $SPLATPRESS_TOOL_DIR or ~/.cache/splatpress/tools)")
    ap.add_argument("--demo_dir", default=os.path.join(ROOT, "output", "demo"), help="where scripts/demo.py keeps the built-in scene")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=os.path.join("bench_out", "rd"))
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    os.makedirs(args.out, exist_ok=True)
    exe = None if args.no_competitors else splat_transform(args.tool_dir)

    jobs = []
    if args.source_path:
        if not args.init_ply:
            ap.error("-s needs --init_ply (the pre-trained PLY to compress)")
        jobs.append((os.path.basename(os.path.normpath(args.source_path)), args.source_path, args.init_ply, args.resolution or 1))
    else:
        for name in args.scenes:
            if name == "demo":
                scene_dir, ply = demo_ply(args)
                jobs.append(("demo", scene_dir, ply, args.resolution or 1))
            elif name == "fern":
                src, ply = os.path.join(DATA, "fern"), os.path.join(DATA, "fern_3dgs", "point_cloud.ply")
                if not (os.path.isdir(src) and os.path.isfile(ply)):
                    log(f"fern skipped: {src} or {ply} is absent")
                    continue
                jobs.append(("fern", src, ply, args.resolution or 2))
            else:
                ap.error(f"unknown scene {name!r}; use demo, fern, or -s with --init_ply")
    results = [run_scene(name, src, ply, r, args, exe) for name, src, ply, r in jobs]
    with open(os.path.join(args.out, "bench_rd.json"), "w") as fh:
        json.dump(results, fh, indent=2, default=float)
    md = markdown(results)
    with open(os.path.join(args.out, "bench_rd.md"), "w") as fh:
        fh.write(md)
    print(md)
    log(f"wrote {args.out}/bench_rd.json, bench_rd.md and the plots")
    return 0


if __name__ == "__main__":
    sys.exit(main())
