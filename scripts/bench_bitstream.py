"""Bitstream v2 against v1 on a real capture, and the octree depth as a rate knob.

For a scene (``-s``) and its pre-trained 3DGS PLY (``--init_ply``); by default the fern scene of
``../shared/data`` at ``-r 2`` with ``--eval``. The importance is computed once on the training
views; then for every ``--depths`` value: prune ``--percent`` → voxelize + merge → RAHT → 8-bit
per-block quantizers (calibrated, no fine-tuning), saved as format v2 (``--codec range``) and v1
(``--codec deflate``). Reported per depth: voxels, bytes per component of both versions, geometry
bits per voxel (raw occupancy bytes, v1 DEFLATE, v2 context coding), AC bits per code, and the
test PSNR after merging and after quantization — the latter from the decoded v2 file, so it is
what render.py shows. Timings are not the point here (scripts/bench_codec.py has them).

    python scripts/bench_bitstream.py [-s ../shared/data/fern --init_ply ../shared/data/fern_3dgs/point_cloud.ply]
        [--depths 14 16 18] [--percent 0.2] [--out bench_out/bench_bitstream.json]
"""
import argparse
import json
import os
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import torch  # noqa: E402

DATA = os.path.join(ROOT, "..", "shared", "data")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-s", "--source_path", default=os.path.join(DATA, "fern"))
    ap.add_argument("--init_ply", default=os.path.join(DATA, "fern_3dgs", "point_cloud.ply"))
    ap.add_argument("-r", "--resolution", type=int, default=2)
    ap.add_argument("--depths", type=int, nargs="+", default=[14, 16, 18])
    ap.add_argument("--percent", type=float, default=0.2, help="pruned fraction (default: configs/default.json's 0.2)")
    ap.add_argument("--n_block", type=int, default=57)
    ap.add_argument("--bits", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default="bench_out/bench_bitstream.json")
    args = ap.parse_args(argv)
    for path in (args.source_path, args.init_ply):
        if not os.path.exists(path):
            print(f"bench_bitstream: skipped: {path} is absent (the fern data lives in ../shared/data; "
                  f"pass -s and --init_ply for another scene)")
            return 0
    torch.set_num_threads(args.threads)

    from codec import load_npz, save_npz
    from compression.evaluate import evaluate_attributes, evaluate_gaussians, source_gaussians
    from compression.importance import importance_scores
    from compression.setup import build_quantized, raw_columns
    from raht import encode_occupancy
    from scene.dataset_readers import load_scene
    from scene.gaussian_model import GaussianModel

    scene = load_scene(args.source_path, resolution=args.resolution, eval=True)
    source = GaussianModel.from_ply(args.init_ply)
    bg = torch.zeros(3)
    sh = source.max_sh_degree
    print(f"scene {args.source_path}: {len(scene.train_cameras)} train / {len(scene.test_cameras)} test views; "
          f"{source.num_gaussians} Gaussians, SH degree {sh}, {os.path.getsize(args.init_ply)} B PLY")
    input_psnr = evaluate_gaussians(source_gaussians(source), sh, scene.test_cameras, background=bg, backend="torch").psnr
    with torch.no_grad():
        scores = importance_scores(source.means, source.quats_wxyz, source.log_scales, source.logit_opacities,
                                   scene.train_cameras, beta=0.1, backend="torch")
    res = {"scene": args.source_path, "init_ply": args.init_ply, "input_ply_bytes": os.path.getsize(args.init_ply),
           "n_input": source.num_gaussians, "input_test_psnr": input_psnr, "percent": args.percent, "bits": args.bits,
           "n_block": args.n_block, "depths": []}
    print(f"input model test PSNR {input_psnr:.3f} dB")
    raw = raw_columns(source, sh)
    for depth in args.depths:
        def psnr_of(g):
            return evaluate_gaussians(g, sh, scene.test_cameras, background=bg, backend="torch").psnr

        model, steps = build_quantized(raw, source.means, scores, sh, depth=depth, percent=args.percent, n_block=args.n_block,
                                       bits=args.bits, psnr_of=psnr_of)
        n = model.n_gaussians
        row = {"depth": depth, "voxels": n, "pruned_test_psnr": steps[0].psnr_after, "merged_test_psnr": steps[1].psnr_after}
        raw_occupancy = encode_occupancy(model.coords, depth).size
        row["geometry_bits_per_voxel_raw"] = 8.0 * raw_occupancy / n
        with tempfile.TemporaryDirectory() as tmp:
            for codec, version in (("deflate", "v1"), ("range", "v2")):
                report = save_npz(model.encode(codec=codec), os.path.join(tmp, codec, "pc_npz"))
                comp = report.component_bytes
                ac = sum(v for k, v in comp.items() if k.startswith("ac_"))
                row[version] = {"bundle_bytes": report.bundle_bytes, "bits_per_gaussian": report.bits_per_gaussian,
                                "components": comp, "geometry_bits_per_voxel": 8.0 * comp["geometry"] / n,
                                "ac_bits_per_code": 8.0 * ac / ((n - 1) * model.layout.n_channels)}
            decoded = load_npz(os.path.join(tmp, "range", "pc_npz.bundle"))
            row["quantized_test_psnr"] = evaluate_attributes(decoded.attributes, decoded.means, decoded.payload.layout,
                                                             scene.test_cameras, background=bg, backend="torch").psnr
        row["v2_over_v1"] = row["v2"]["bundle_bytes"] / row["v1"]["bundle_bytes"]
        res["depths"].append(row)
        print(f"depth {depth}: {n} voxels; geometry bits/voxel raw {row['geometry_bits_per_voxel_raw']:.2f}, "
              f"v1 {row['v1']['geometry_bits_per_voxel']:.2f}, v2 {row['v2']['geometry_bits_per_voxel']:.2f}; "
              f"AC bits/code v1 {row['v1']['ac_bits_per_code']:.2f}, v2 {row['v2']['ac_bits_per_code']:.2f}; "
              f"bundle v1 {row['v1']['bundle_bytes']} B, v2 {row['v2']['bundle_bytes']} B (v2/v1 {row['v2_over_v1']:.3f}); "
              f"test PSNR merged {row['merged_test_psnr']:.3f}, quantized (decoded v2) {row['quantized_test_psnr']:.3f} dB",
              flush=True)

    print("\n| depth | voxels | geometry bits/voxel raw / v1 / v2 | AC bits/code v1 / v2 | bundle v1 | bundle v2 | v2/v1 | "
          "test PSNR merged | test PSNR quantized |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in res["depths"]:
        print(f"| {r['depth']} | {r['voxels']} | {r['geometry_bits_per_voxel_raw']:.1f} / {r['v1']['geometry_bits_per_voxel']:.1f} / "
              f"{r['v2']['geometry_bits_per_voxel']:.1f} | {r['v1']['ac_bits_per_code']:.2f} / {r['v2']['ac_bits_per_code']:.2f} | "
              f"{r['v1']['bundle_bytes']} | {r['v2']['bundle_bytes']} | {r['v2_over_v1']:.3f} | {r['merged_test_psnr']:.2f} | "
              f"{r['quantized_test_psnr']:.2f} |")
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as fh:
        json.dump(res, fh, indent=2)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
