"""Image-free rate–distortion benchmark (``python scripts/bench_rd.py --image_free`` runs this).

For every splat file of ``../shared/data/captures/`` and for fern's PLY *without its photos*:

- the held-out virtual views of ``compress.py`` (the same placement and size: ``compression/views.py``)
  with float renders of the original as references;
- **ours, default**: ``python compress.py IN -o OUT`` with no other flag (run in-process), decoded with
  ``load_npz`` and rendered: the point the issue's "done when" is about;
- **ours, curve**: the default settings at each of ``--qualities`` without fine-tuning (the setup —
  rate–distortion pruning and depth, Hutchinson sensitivity — runs per quality; save → load → render);
- **ours, fine-tuned curve** (``--ft_qualities``): ``python compress.py IN -o OUT --quality Q``, the
  product's defaults (fine-tuning included) with only the quality changed;
- **SPZ** and **SOG** by ``@playcanvas/splat-transform`` (encoded from the decoded original as a PLY,
  decoded back by the tool, rendered by our renderer on the same views);
- fern only: also PSNR against fern's real test photos (``-r 2``, the 3DGS split), and the photo-based
  ``compress.py -s`` default point beside it.

Ratios at equal PSNR interpolate our curve (log bytes, linear in PSNR; never extrapolated): the one
without fine-tuning with the default point, and the fine-tuned one with the default point when
``--ft_qualities`` is given. ``--competitors_from`` takes the SPZ and SOG points of an earlier run's
JSON instead of running splat-transform again (same tool, input and views: the same points); ``--encoded
SOG=FILE`` (one input) scores a file splat-transform wrote earlier from that input, for a SOG that takes
longer than ``--sog_timeout`` on the CPU. ``--repack
EARLIER_OUT`` encodes nothing: it rewrites an earlier run's bundles with the current container (the same
members; the models are checked equal), keeps their PSNR and scores the new sizes. Outputs in
``--out``: ``bench_image_free.json``, ``bench_image_free.md``, ``bench_image_free_<name>.png``.
Timings need a quiet machine.

    python scripts/bench_rd.py --image_free [--inputs a.ply b.sog ...] [--qualities 24 32 40 48 56]
        [--ft_qualities 40 52] [--competitors_from bench_out/X/bench_image_free.json] [--out bench_out/image_free]
    python scripts/bench_rd.py --image_free --repack bench_out/EARLIER --out bench_out/image_free_repacked
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import torch  # noqa: E402

from scripts.bench_rd import SOG_GPU_HELP, competitor, evaluate, interpolate_bytes, log, splat_transform  # noqa: E402

DATA = os.path.join(ROOT, "..", "shared", "data")
CAPTURES = os.path.join(DATA, "captures")
FERN_PLY = os.path.join(DATA, "fern_3dgs", "point_cloud.ply")


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


def default_setup(source, views, params, quality: float, **overrides):
    """The image-free defaults ``params`` at ``quality`` (rd pruning and depth per quality), no fine-tuning;
    ``overrides`` replace single settings (e.g. ``axes``)."""
    from compression.setup import compression_setup

    kw = dict(depth=params.depth, percent=params.percent, beta=params.beta, merge=params.merge,
              n_block=params.n_block, bits=params.bits, quantizer="rd", quality=quality,
              sensitivity=params.sensitivity, background=torch.zeros(3), backend="torch", evaluate=False,
              prune=params.prune, codec=params.codec, channel_transform=params.channel_transform, axes=params.axes)
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


def decoded_point(bundle: str, cameras: list, refs=None, photo_cams=None) -> dict:
    """Bytes and PSNR of a bundle, decoded by load_npz and rendered on ``cameras`` (and the photos)."""
    from codec import load_npz
    from codec.report import describe_compressed
    from compression.attributes import activate_attributes

    decoded = load_npz(bundle)
    gauss = lambda: activate_attributes(decoded.attributes, decoded.means, decoded.payload.layout)  # noqa: E731
    p, _, _ = evaluate(gauss, decoded.sh_degree, cameras)
    point = {"bytes": os.path.getsize(bundle), "psnr": p, "n_gaussians": decoded.payload.n_gaussians,
             "components": describe_compressed(bundle).component_bytes}
    if photo_cams is not None:
        point["psnr_photos"] = evaluate(gauss, decoded.sh_degree, photo_cams)[0]
    return point


def run_input(path: str, args, exe) -> dict:
    import compress
    from arguments.compression import CompressionParams, resolve_compression_params
    from arguments.compress import SPLAT_FILE_PRESET
    from compression.evaluate import source_gaussians
    from compression.views import view_schedule, virtual_views
    from scene.gaussian_model import GaussianModel
    from scene.ply_io import write_gaussian_ply
    from scene.splat_files import read_splat

    name = short_name(path)
    out_dir = os.path.join(args.out, name)
    os.makedirs(out_dir, exist_ok=True)
    arrays = read_splat(path)
    source = GaussianModel.from_arrays(arrays)
    n, sh = source.num_gaussians, source.max_sh_degree
    res = {"name": name, "file": os.path.basename(path), "bytes": os.path.getsize(path), "n_gaussians": n,
           "sh_degree": sh, "ours": [], "competitors": []}
    schedule = view_schedule(n)
    views = virtual_views(source, schedule, background=torch.zeros(3), backend="torch")
    held = views.test_cameras
    res["views"] = views.description
    photo_cams = fern_photo_cameras(name)
    if photo_cams is not None:
        res["input_psnr_photos"] = evaluate(lambda: source_gaussians(source), sh, photo_cams)[0]
    log(f"{name}: {n} Gaussians, SH {sh}, {res['bytes']} B; layout {views.description['layout']}")

    # the default compress.py run (the product's own command, no flag)
    bundle = os.path.join(out_dir, "default.bundle")
    t0 = time.perf_counter()
    compress.main([path, "-o", bundle, "--quiet"])
    res["default"] = dict(decoded_point(bundle, held, photo_cams=photo_cams), seconds=time.perf_counter() - t0)
    log(f"{name}: compress.py default {res['default']['bytes']} B, PSNR {res['default']['psnr']:.2f} dB, "
        f"{res['default']['seconds']:.0f} s")
    if photo_cams is not None:
        photo_bundle = os.path.join(out_dir, "photos.bundle")
        compress.main([path, "-o", photo_bundle, "-s", os.path.join(DATA, "fern"), "-r", "2", "--iterations",
                       str(args.photo_iterations), "--quiet"])
        res["photo_default"] = decoded_point(photo_bundle, held, photo_cams=photo_cams)
        res["photo_default"]["iterations"] = args.photo_iterations

    # our curve: the default settings at each quality, without fine-tuning (the setup runs per quality:
    # with --prune rd the pruning and the depth follow the quality)
    params, _ = resolve_compression_params(CompressionParams(preset=SPLAT_FILE_PRESET), "")
    for q in args.qualities:
        _, _, point = curve_point(source, views, params, q, out_dir, photo_cams=photo_cams)
        res["ours"].append(point)
        log(f"{name}: Q{q:g} {point['bytes']} B, PSNR {point['psnr']:.2f} dB")

    # the fine-tuned curve: the product's command with only --quality changed
    res["ours_finetuned"] = []
    for q in args.ft_qualities or []:
        ft_bundle = os.path.join(out_dir, f"ft_q{q:g}.bundle")
        t0 = time.perf_counter()
        compress.main([path, "-o", ft_bundle, "--quality", f"{q:g}", "--quiet"])
        point = dict(decoded_point(ft_bundle, held, photo_cams=photo_cams), quality=q, seconds=time.perf_counter() - t0)
        res["ours_finetuned"].append(point)
        log(f"{name}: compress.py --quality {q:g}: {point['bytes']} B, PSNR {point['psnr']:.2f} dB")

    earlier = (args.earlier or {}).get(name)
    if earlier is not None:
        res["competitors"] = [{k: c[k] for k in ("name", "bytes", "psnr", "psnr_photos") if k in c}
                              for c in earlier["competitors"]]
        res["competitors_from"] = args.competitors_from
    elif exe is not None:
        with tempfile.TemporaryDirectory() as work:
            ply = os.path.join(work, "original.ply")
            write_gaussian_ply(ply, arrays)
            for label, ext, extra in (("SPZ", ".spz", []), ("SOG", ".sog", ["-g", args.sog_gpu])):
                c = competitor(exe, label, ply, work, ext, extra, args.sog_timeout, held, [cam.image() for cam in held],
                               encoded=(args.encoded or {}).get(label))
                res["competitors"].append(scored_competitor(c, work, photo_cams))
    score(res, args.out)
    return res


def fern_photo_cameras(name: str):
    """Fern's real test photos (``-r 2``, the 3DGS split) when ``name`` is fern and its folder exists, else None."""
    if name != "fern" or not os.path.isdir(os.path.join(DATA, "fern")):
        return None
    from scene.dataset_readers import load_scene

    return load_scene(os.path.join(DATA, "fern"), resolution=2, eval=True).test_cameras


def scored_competitor(c: dict, work: str, photo_cams) -> dict:
    """``competitor``'s result with its PSNR named ``psnr`` and, for fern, its PSNR on the real test photos
    (the decoded PLY ``competitor`` left in ``work``)."""
    from compression.evaluate import source_gaussians
    from scene.gaussian_model import GaussianModel

    c["psnr"] = c.pop("psnr_gt", None)
    if photo_cams is not None and "bytes" in c:
        dec = GaussianModel.from_ply(os.path.join(work, f"{c['name']}_decoded.ply"))
        c["psnr_photos"] = evaluate(lambda: source_gaussians(dec), dec.max_sh_degree, photo_cams)[0]
    return c


def score(res: dict, out: str) -> None:
    """Our bytes at each competitor's PSNR (both curves), the ratios, and the plot."""
    curve = [{"psnr_gt": p["psnr"], "bytes": p["bytes"]} for p in res["ours"] + [res["default"]]]
    ft_curve = [{"psnr_gt": p["psnr"], "bytes": p["bytes"]} for p in res["ours_finetuned"] + [res["default"]]]
    for c in res["competitors"]:
        if c.get("bytes"):
            b = interpolate_bytes(curve, c["psnr"])
            c["ours_bytes_at_equal_psnr"] = b
            c["ratio"] = b / c["bytes"] if b else None
            b = interpolate_bytes(ft_curve, c["psnr"]) if res["ours_finetuned"] else None
            c["ratio_finetuned"] = b / c["bytes"] if b else None
            c["default_smaller_and_better"] = bool(res["default"]["bytes"] < c["bytes"]
                                                   and res["default"]["psnr"] > c["psnr"])
    plot(res, os.path.join(out, f"bench_image_free_{res['name']}.png"))


def add_encoded_competitors(res: dict, encoded: dict, exe, timeout: int) -> None:
    """Score competitor files written earlier from ``res``'s input (``--encoded``) on its held-out views,
    replacing the competitors of the same name."""
    from compression.views import view_schedule, virtual_views
    from scene.gaussian_model import GaussianModel
    from scene.splat_files import read_splat

    if exe is None:
        raise RuntimeError("--encoded needs splat-transform to decode the files")
    source = GaussianModel.from_arrays(read_splat(res["input_path"]))
    views = virtual_views(source, view_schedule(source.num_gaussians), background=torch.zeros(3), backend="torch")
    if short_name(res["input_path"]) != res["name"] or json.loads(json.dumps(views.description, default=float)) != res["views"]:
        raise RuntimeError(f"{res['name']}: not the earlier run's input or views; cannot score against its curve")
    held = views.test_cameras
    photo_cams = fern_photo_cameras(res["name"])
    with tempfile.TemporaryDirectory() as work:
        for label, path in encoded.items():
            c = competitor(exe, label, None, work, None, [], timeout, held, [cam.image() for cam in held], encoded=path)
            res["competitors"] = [x for x in res["competitors"] if x["name"] != label] + [
                scored_competitor(c, work, photo_cams)]


def repack_input(res: dict, earlier_dir: str, out: str, encoded=None, exe=None, sog_timeout: int = 600) -> dict:
    """An earlier run's result with its bundles rewritten by the current container (scripts/repack_bundles.py):
    the decoded models are checked equal to the earlier files' (so their PSNR stands), the bytes are the new
    files', and the ratios are scored again."""
    from codec import load_npz
    from codec.container import write_file_atomic
    from codec.report import describe_compressed
    from scripts.repack_bundles import repacked

    name = res["name"]
    res = json.loads(json.dumps(res))  # a copy
    points = [("default.bundle", res["default"])]
    points += [(os.path.join(f"q{p['quality']:g}", "pc_npz.bundle"), p) for p in res["ours"]]
    points += [(f"ft_q{p['quality']:g}.bundle", p) for p in res["ours_finetuned"]]
    if "photo_default" in res:
        points.append(("photos.bundle", res["photo_default"]))
    for rel, point in points:
        old, new = os.path.join(earlier_dir, name, rel), os.path.join(out, name, rel)
        if not os.path.isfile(old):
            raise FileNotFoundError(f"{old}: the earlier run's bundle is missing (--repack needs its files)")
        os.makedirs(os.path.dirname(new), exist_ok=True)
        write_file_atomic(new, repacked(old))
        a, b = load_npz(old), load_npz(new)
        if not (torch.equal(a.attributes, b.attributes) and torch.equal(a.means, b.means)):
            raise RuntimeError(f"{new}: the repacked bundle decodes to another model than {old}")
        point["bytes_before_repack"] = point["bytes"]
        point["bytes"] = os.path.getsize(new)
        point["components"] = describe_compressed(new).component_bytes
    res["repacked_from"] = earlier_dir
    if encoded:
        add_encoded_competitors(res, encoded, exe, sog_timeout)
    score(res, out)
    log(f"{name}: repacked {len(points)} bundles of {earlier_dir}: default {res['default']['bytes_before_repack']:,} -> "
        f"{res['default']['bytes']:,} B")
    return res


def plot(res, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    pts = sorted(res["ours"], key=lambda p: p["bytes"])
    ax.plot([p["bytes"] for p in pts], [p["psnr"] for p in pts], "o-", label="ours (no fine-tuning)")
    ft = sorted(res.get("ours_finetuned", []) + ([res["default"]] if res.get("ours_finetuned") else []),
                key=lambda p: p["bytes"])
    if ft:
        ax.plot([p["bytes"] for p in ft], [p["psnr"] for p in ft], "o--", label="ours: compress.py --quality Q")
    ax.plot([res["default"]["bytes"]], [res["default"]["psnr"]], "*", ms=14, label="ours: compress.py default")
    for c in res["competitors"]:
        if c.get("bytes"):
            ax.plot([c["bytes"]], [c["psnr"]], "s", ms=8, label=c["name"])
    ax.set_xscale("log")
    ax.set_xlabel("bytes")
    ax.set_ylabel("PSNR vs original, held-out virtual views (dB)")
    ax.set_title(f"{res['name']}: {res['n_gaussians']} Gaussians, SH {res['sh_degree']}")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def markdown(results) -> str:
    lines = ["| input | Gaussians, SH | layout | compress.py default: bytes @ PSNR (time) | SPZ | SOG | ours at SPZ's PSNR / SPZ | ours at SOG's PSNR / SOG | default smaller and better than SPZ / SOG |",
             "|---|---|---|---|---|---|---|---|---|"]
    ft = any(r.get("ours_finetuned") for r in results)
    if ft:
        lines[0] += " fine-tuned curve: / SPZ, / SOG |"
        lines[1] += "---|"
    for r in results:
        comp = {c["name"]: c for c in r["competitors"]}

        def cell(name):
            c = comp.get(name)
            return f"{c['bytes']:,} B @ {c['psnr']:.2f}" if c and c.get("bytes") else "—"

        def ratio(name, key="ratio"):
            c = comp.get(name)
            return f"{c[key]:.3f}×" if c and c.get(key) else "—"

        def wins(name):
            c = comp.get(name)
            return ("yes" if c["default_smaller_and_better"] else "no") if c and c.get("bytes") else "—"

        d = r["default"]
        lines.append(f"| {r['file']} | {r['n_gaussians']:,}, {r['sh_degree']} | {r['views']['layout']} | "
                     f"{d['bytes']:,} B @ {d['psnr']:.2f} dB ({d['seconds']:.0f} s) | {cell('SPZ')} | {cell('SOG')} | "
                     f"{ratio('SPZ')} | {ratio('SOG')} | {wins('SPZ')} / {wins('SOG')} |"
                     + (f" {ratio('SPZ', 'ratio_finetuned')}, {ratio('SOG', 'ratio_finetuned')} |" if ft else ""))
    lines.append("")
    lines.append("Our curve (no fine-tuning), bytes @ PSNR per quality:")
    lines.append("")
    for r in results:
        lines.append(f"- {r['name']}: " + "; ".join(f"Q{p['quality']:g} {p['bytes']:,} @ {p['psnr']:.2f}" for p in r["ours"]))
    if ft:
        lines += ["", "Fine-tuned curve (`compress.py IN -o OUT --quality Q`), bytes @ PSNR:", ""]
        for r in results:
            lines.append(f"- {r['name']}: " + "; ".join(f"Q{p['quality']:g} {p['bytes']:,} @ {p['psnr']:.2f}"
                                                       for p in r.get("ours_finetuned", [])))
    sources = sorted({r["competitors_from"] for r in results if r.get("competitors_from")})
    if sources:
        lines += ["", "SPZ and SOG points taken from " + ", ".join(f"`{s}`" for s in sources) + " (same tool, input and views)."]
    for r in results:
        for c in r["competitors"]:
            if c.get("encoded_file"):
                lines += ["", f"{r['name']}: {c['name']} scored from `{c['encoded_file']}` (written earlier by splat-transform "
                          "from the same input, `--encoded`), decoded by the tool and rendered on the same views."]
    repacked = sorted({r["repacked_from"] for r in results if r.get("repacked_from")})
    if repacked:
        lines += ["", "Our bundles: those of " + ", ".join(f"`{s}`" for s in repacked) + " rewritten with the current "
                  "container (`--repack`; the same models, checked; PSNR unchanged, bytes of the new files)."]
    fern = [r for r in results if "input_psnr_photos" in r]
    for r in fern:
        lines.append("")
        lines.append(f"fern against its real test photos (input PLY {r['input_psnr_photos']:.2f} dB): "
                     f"image-free default {r['default']['bytes']:,} B @ {r['default']['psnr_photos']:.2f} dB"
                     + (f"; photo-based ({r['photo_default']['iterations']} iterations) {r['photo_default']['bytes']:,} B @ "
                        f"{r['photo_default']['psnr_photos']:.2f} dB" if "photo_default" in r else "")
                     + "".join(f"; {c['name']} {c['bytes']:,} B @ {c['psnr_photos']:.2f} dB"
                               for c in r["competitors"] if c.get("psnr_photos") is not None)
                     + "; curve: " + ", ".join(f"Q{p['quality']:g} {p['bytes']:,} @ {p['psnr_photos']:.2f}" for p in r["ours"]))
    return "\n".join(lines) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--image_free", action="store_true", help="(accepted: bench_rd.py passes it on)")
    ap.add_argument("--inputs", nargs="+", default=None, help="splat files (default: ../shared/data/captures/* and fern's PLY)")
    ap.add_argument("--qualities", type=float, nargs="+", default=[24, 32, 40, 48, 56])
    ap.add_argument("--photo_iterations", type=int, default=100, help="fern: fine-tuning iterations of the photo-based point")
    ap.add_argument("--sog_timeout", type=int, default=600, help="seconds for each splat-transform call")
    ap.add_argument("--ft_qualities", type=float, nargs="+", default=None,
                    help="also run compress.py IN -o OUT --quality Q (fine-tuning included) at these qualities")
    ap.add_argument("--competitors_from", default=None,
                    help="bench_image_free.json of an earlier run: take its SPZ / SOG points instead of running splat-transform")
    ap.add_argument("--sog_gpu", default="cpu", help=SOG_GPU_HELP)
    ap.add_argument("--no_competitors", action="store_true", help="skip SPZ / SOG")
    ap.add_argument("--encoded", dest="encoded_files", nargs="+", default=None, metavar="LABEL=FILE",
                    help="one input only: SPZ=a.spz / SOG=a.sog written earlier by splat-transform from that input "
                         "(e.g. a SOG that took longer than --sog_timeout); decoded and scored as if encoded here")
    ap.add_argument("--repack", default=None, metavar="EARLIER_OUT",
                    help="no new encoding: rewrite the bundles of an earlier run's --out folder with the current "
                         "container, check they decode to the same models, and score the new sizes")
    ap.add_argument("--tool_dir", default=None, help="npm install folder of splat-transform")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=os.path.join("bench_out", "image_free"))
    args = ap.parse_args(argv)
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
    results = []
    if args.repack:
        with open(os.path.join(args.repack, "bench_image_free.json")) as fh:
            earlier_results = json.load(fh)
        if args.encoded:
            if len(earlier_results) != 1 or not os.path.isfile(args.inputs[0]):
                ap.error("--repack with --encoded needs an earlier run of exactly one input, given again as --inputs")
            earlier_results[0]["input_path"] = args.inputs[0]
        exe = splat_transform(args.tool_dir) if args.encoded else None
        for earlier in earlier_results:
            results.append(repack_input(earlier, args.repack, args.out, args.encoded, exe, args.sog_timeout))
        with open(os.path.join(args.out, "bench_image_free.json"), "w") as fh:
            json.dump(results, fh, indent=2, default=float)
    else:
        exe = None if args.no_competitors or args.earlier is not None else splat_transform(args.tool_dir)
        for path in args.inputs or default_inputs():
            results.append(run_input(path, args, exe))
            with open(os.path.join(args.out, "bench_image_free.json"), "w") as fh:
                json.dump(results, fh, indent=2, default=float)
    md = markdown(results)
    with open(os.path.join(args.out, "bench_image_free.md"), "w") as fh:
        fh.write(md)
    print(md)
    log(f"wrote {args.out}/bench_image_free.json, .md and the plots")
    return 0


if __name__ == "__main__":
    sys.exit(main())
