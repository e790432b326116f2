#!/usr/bin/env python
"""Decode a compressed bundle back into a splat file other tools open, or describe it.

    python decompress.py IN.bundle -o OUT.ply        # or .spz, .sog, .compressed.ply, .splat
    python decompress.py IN.bundle --info [--json]   # what the bundle holds, nothing decoded

IN: a ``pc_npz.bundle`` (``compress.py`` / ``train.py --per_block_quant`` output), a ``pc_npz``
directory or an ``iteration_<k>`` folder; no training folder is needed. It is decoded with
``codec.load_npz`` (verify every file, dequantize, inverse RAHT) and written in the format of the
output's name (``scene/splat_export.py``):

| output | written by | |
|---|---|---|
| ``.ply`` | ``scene.ply_io.export_ply`` | INRIA 3DGS PLY, float32: exactly the decoded Gaussians |
| ``.splat`` | ``scene.dot_splat`` | 8-bit colour / α / rotation, SH degree 0 only |
| ``.spz``, ``.sog``, ``.compressed.ply`` | PlayCanvas splat-transform (Node.js; installed on first use into ``--tool_dir``) | lossy viewer formats |

``--info`` prints the format version, Gaussian count, SH degree, quantizer, the quality or target
size the file was made with (manifest ``configuration``: ``rd_quality``, ``target_size``,
``target_bpg``), bytes and bits per Gaussian of every component (``codec.report``: geometry,
quantization table, DC, the AC streams of each channel group, model tables, manifest, container),
and the PSNR/SSIM measured at compression on held-out views (``configuration["heldout"]``, or "not
recorded"). Errors (missing or damaged input, unknown output format, no Node.js for a format that
needs it) are one line on stderr, exit code 2, and nothing is written at ``-o`` (a write goes to a
temporary file renamed at the end).
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from typing import Optional, Sequence

LOGGER = logging.getLogger("decompress")

#: order and labels of the components in --info
COMPONENT_LABELS = {
    "geometry": "geometry (octree)",
    "quant_table": "quantization table (t.npz)",
    "dc": "DC coefficients (dc.npz)",
    "channel_transform": "channel transform (transform.npz)",
    "ac_opacity": "AC opacity",
    "ac_euler": "AC rotation (Euler)",
    "ac_f_dc": "AC colour (f_dc)",
    "ac_f_rest": "AC SH bands (f_rest)",
    "ac_scale": "AC scale",
    "ac_tables": "AC model tables",
    "manifest": "manifest.json",
    "container": "container (zip headers)",
}


def make_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description="Decode a compressed bundle (raht-gs-npz) into .ply / .spz / .sog / .compressed.ply / "
                    ".splat, or describe it with --info.")
    p.add_argument("input", help="pc_npz.bundle file, pc_npz directory or iteration_<k> folder")
    p.add_argument("-o", "--output", default=None,
                   help="output splat file; its name picks the format: .ply, .spz, .sog, .compressed.ply, .splat")
    p.add_argument("--info", action="store_true", help="print what the bundle holds (sizes per component, "
                                                       "settings, PSNR/SSIM recorded at compression)")
    p.add_argument("--json", action="store_true", help="with --info: print it as one JSON object")
    p.add_argument("--spz_version", type=int, default=4, choices=(3, 4), help="SPZ version to write (.spz output)")
    p.add_argument("--sog_gpu", action="store_true", help="let splat-transform use a GPU for the SOG SH k-means")
    p.add_argument("--tool_dir", default=None,
                   help="install folder of splat-transform (default: $SPLATPRESS_TOOL_DIR or ~/.cache/splatpress/tools)")
    p.add_argument("--device", default="cpu", help="torch device of the inverse RAHT (default: cpu)")
    return p


def _fmt_bytes(n: int) -> str:
    return f"{n:,}".replace(",", " ")


def info_lines(info: dict) -> list[str]:
    """--info as text lines."""
    rate = info["rate"]
    rate_parts = []
    if "rd_quality" in rate:
        rate_parts.append(f"quality {float(rate['rd_quality']):.2f}")
    if "target_size" in rate:
        rate_parts.append(f"target size {rate['target_size']}")
    if "target_bpg" in rate:
        rate_parts.append(f"target {float(rate['target_bpg']):g} bits/Gaussian")
    lines = [
        f"bundle        {info['path']}",
        f"format        {info['format']} version {info['format_version']} (codec {info['codec']})",
        f"Gaussians     {_fmt_bytes(info['n_gaussians'])}, SH degree {info['sh_degree']}",
        f"quantizer     {info['quantizer']} ({info['bits']} bits, {info['n_block']} blocks, octree depth {info['depth']})",
        f"rate          {', '.join(rate_parts) if rate_parts else 'not recorded'}",
    ]
    ratio = ""
    if info.get("input_ply_bytes"):
        ratio = (f", input PLY {_fmt_bytes(info['input_ply_bytes'])} B: ratio "
                 f"{info['input_ply_bytes'] / info['total_bytes']:.1f}x")
    lines.append(f"size          {_fmt_bytes(info['total_bytes'])} B, {info['bits_per_gaussian']:.2f} bits/Gaussian{ratio}")
    h = info["heldout"]
    if h and all(isinstance(h.get(k), (int, float)) for k in ("psnr", "ssim")):
        views = f"{h.get('n_views', '?')} {h.get('views', '')} views".replace("  ", " ")
        if h.get("split"):
            views += f", {h['split']} split"
        worst = ""
        if isinstance(h.get("psnr_worst"), (int, float)):
            worst = f" (worst view {float(h['psnr_worst']):.2f}"
            if isinstance(h.get("psnr_8bit"), (int, float)):
                worst += f"; 8-bit {float(h['psnr_8bit']):.2f}"
            worst += ")"
        lines.append(f"held-out      PSNR {float(h['psnr']):.2f} dB{worst}, SSIM {float(h['ssim']):.4f} ({views}, at compression)")
    else:
        lines.append("held-out      PSNR/SSIM not recorded")
    cov = info.get("coverage") or {}
    cov_parts = [f"{100 * float(cov[k]):.2f} % {label}" for k, label in (("in_view", "inside a fitting view"),
                                                                         ("seen", "seen by one"))
                 if isinstance(cov.get(k), (int, float))]
    if cov_parts:
        lines.append(f"coverage      {', '.join(cov_parts)} (share of the opacity)")
    lines.append(f"{'component':<30s} {'bytes':>12s} {'bits/Gaussian':>14s} {'share':>7s}")
    total = info["total_bytes"]
    order = list(COMPONENT_LABELS) + [k for k in info["components"] if k not in COMPONENT_LABELS]
    for name in order:
        if name not in info["components"]:
            continue
        c = info["components"][name]
        lines.append(f"{COMPONENT_LABELS.get(name, name):<30s} {_fmt_bytes(c['bytes']):>12s} "
                     f"{c['bits_per_gaussian']:>14.3f} {100.0 * c['bytes'] / total:>6.1f}%")
    lines.append(f"{'total':<30s} {_fmt_bytes(total):>12s} {info['bits_per_gaussian']:>14.3f} {100.0:>6.1f}%")
    return lines


def chunked_info_lines(info: dict) -> list[str]:
    """--info of a chunked file as text lines: the whole, then one line per chunk."""
    h = info.get("heldout") or {}
    ratio = ""
    if info.get("input_ply_bytes"):
        ratio = f", input {_fmt_bytes(info['input_ply_bytes'])} B: ratio {info['input_ply_bytes'] / info['total_bytes']:.1f}x"
    lines = [
        f"file          {info['path']}",
        f"format        {info['format']} version {info['format_version']}: {info['n_chunks']} chunks behind an index "
        f"of {_fmt_bytes(info['index_bytes'])} B",
        f"Gaussians     {_fmt_bytes(info['n_gaussians'])}, SH degree {info['sh_degree']}",
        f"size          {_fmt_bytes(info['total_bytes'])} B, {info['bits_per_gaussian']:.2f} bits/Gaussian{ratio}",
    ]
    if isinstance(h.get("psnr_mean_over_chunks"), (int, float)):
        lines.append(f"held-out      PSNR mean over chunks {h['psnr_mean_over_chunks']:.2f} dB, worst chunk "
                     f"{h['psnr_worst_chunk']:.2f} dB (each chunk's own virtual views, at compression)")
    else:
        lines.append("held-out      PSNR not recorded")
    lines.append(f"{'chunk':>5s} {'Gaussians':>10s} {'bytes':>12s} {'version':>7s} {'quality':>7s} {'PSNR':>7s}  box")
    for c in info["chunks"]:
        psnr = (c.get("heldout") or {}).get("psnr")
        q = c.get("rd_quality")
        box = ", ".join(f"{v:.3g}" for v in c["bbox"])
        lines.append(f"{c['index']:>5d} {_fmt_bytes(c['n_gaussians']):>10s} {_fmt_bytes(c['bytes']):>12s} "
                     f"{c['format_version']!s:>7s} {('%.2f' % q) if isinstance(q, (int, float)) else '-':>7s} "
                     f"{('%.2f' % psnr) if isinstance(psnr, (int, float)) else '-':>7s}  [{box}]")
    return lines


def write_chunked(in_path: str, out_path: str, fmt: str, args) -> int:
    """Decode a chunked file into ``out_path``: a PLY chunk by chunk (one chunk in memory at a time),
    the other formats from the whole scene."""
    from codec.chunked import iter_chunks, read_index

    index = read_index(in_path)
    parts = (r.model.arrays() for r in iter_chunks(in_path, device=args.device, index=index))
    if fmt == "ply":
        from scene.ply_io import write_gaussian_ply_parts

        write_gaussian_ply_parts(out_path, index.n_gaussians, index.sh_degree, parts)
    else:
        import numpy as np

        from scene.splat_export import write_splat

        arrays = list(parts)
        write_splat({k: np.concatenate([a[k] for a in arrays]) for k in arrays[0]}, out_path, fmt,
                    tool_dir=args.tool_dir, spz_version=args.spz_version, sog_gpu=args.sog_gpu)
    print(f"wrote {out_path} ({fmt}, {index.n_gaussians} Gaussians in {index.n_chunks} chunks, SH degree "
          f"{index.sh_degree}, {os.path.getsize(out_path)} B)")
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    from utils.threads import sleep_when_idle

    sleep_when_idle()  # before torch loads OpenMP
    from training.console import setup_logging

    args = make_parser().parse_args(argv)
    setup_logging()
    if args.output is None and not args.info:
        raise ValueError("nothing to do: give -o OUT (.ply, .spz, .sog, .compressed.ply, .splat) and/or --info")

    from codec.container import find_compressed

    in_path = find_compressed(os.path.abspath(args.input))  # FileNotFoundError when absent
    out_path, fmt = None, None
    if args.output is not None:
        from scene.splat_export import check_writable

        out_path = os.path.abspath(args.output)
        if os.path.realpath(out_path) == os.path.realpath(in_path):
            raise ValueError(f"-o {args.output!r} is the input; write the splat elsewhere")
        fmt = check_writable(out_path, tool_dir=args.tool_dir)  # before decoding: format, Node.js

    from codec.chunked import is_chunked

    chunked = is_chunked(in_path)
    if args.info:
        from codec.report import chunked_info_dict, describe_compressed, info_dict

        if chunked:
            info = chunked_info_dict(in_path)
            print(json.dumps(info, indent=2, default=float) if args.json else "\n".join(chunked_info_lines(info)))
        else:
            info = info_dict(describe_compressed(in_path))
            print(json.dumps(info, indent=2, default=float) if args.json else "\n".join(info_lines(info)))
    if out_path is None:
        return 0
    if chunked:
        return write_chunked(in_path, out_path, fmt, args)

    from codec import load_npz

    decoded = load_npz(in_path, device=args.device)
    if fmt == "ply":
        from scene.ply_io import export_ply

        export_ply(decoded, out_path)
    else:
        from scene.splat_export import write_splat

        write_splat(decoded.arrays(), out_path, fmt, tool_dir=args.tool_dir, spz_version=args.spz_version,
                    sog_gpu=args.sog_gpu)
    print(f"wrote {out_path} ({fmt}, {decoded.n_gaussians} Gaussians, SH degree {decoded.sh_degree}, "
          f"{os.path.getsize(out_path)} B)")
    return 0


if __name__ == "__main__":
    from training.console import run_cli

    sys.exit(run_cli(main, None, "decompress.py"))
