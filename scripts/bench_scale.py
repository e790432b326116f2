"""Scale benchmark: compress.py on tiled copies of a real capture, from one chunk to millions of Gaussians.

For each ``--copies`` k, fern's PLY (or ``--input``) is tiled k times along x (``scene.transform.tiled_copies``,
as ``scripts/make_tiled_ply.py``: copies 1.1 × the whole x extent apart, so they never overlap, and with a
chunk size of one copy, the default here, every chunk is one copy), and the real command line runs on it in
a fresh process, alone on the machine:

    /usr/bin/time -v python compress.py TILED.ply -o OUT.bundle --chunk_size C [--workers K]

Reported per size: Gaussians in and kept, wall seconds and seconds per million input Gaussians, the peak
resident memory (``/usr/bin/time``'s maximum RSS: the largest process; and the processes together, sampled
from ``/proc``, which counts with ``--workers``), bytes and bits per Gaussian, chunks, the
held-out PSNR of every chunk (each chunk's own layout-independent views, from the file's index), and,
with ``--node``, the time and peak memory of ``node web/decode.mjs OUT.bundle -o OUT.ply`` (the JavaScript
decoder, with its default helper threads), and, with ``--browser MBPS``, the viewer in headless Chromium
loading the file over a throttled link (the first chunk shown, half the Gaussians, all of them, against the
time the whole file alone needs to arrive). Each tile is the same capture, so the PSNR of a chunk (one tile)
compares with the single copy's.

    python scripts/bench_scale.py [--input PLY] [--copies 1 4 8] [--chunk_size N] [--workers K] [--node] [--browser 50]
        [--budget N] [--out bench_out/scale]

``--competitors SPZ [SOG]``: the same tiled input also written by PlayCanvas's ``splat-transform`` (the pinned
tool of ``scene/splat_transform_tool.py``; SOG's SH k-means took 1 h 10 min for fern's 128k Gaussians on a
2-core CPU), reported with its bytes and the time its whole file needs to arrive at the ``--browser`` rate
(50 Mbit/s without one): what a viewer of that format waits before its first frame. SPZ (version 4) is
zstd-compressed, and zstd finds the repeated copies of a tiled input (fern: one copy 2 730 023 B, two
3 500 154 B), which a real scene does not offer: on tiles its bytes are a lower bound, not a size comparison;
compare bytes on one copy. ``--only_competitors`` skips compress.py and the decoders (the competitors of a
size encoded in another run).

``--bundles FILE …`` skips the encoder and measures the decoders and the viewer on files written before, e.g.
``scripts/make_tiled_bundle.py``'s copies of one chunk (millions of Gaussians at the cost of one encoding);
``--budget N``: the viewer's splat budget (its ``?budget=``; by default the viewer's own); ``--move``: then the
viewer's camera moves to the far end of the file (``far_view``), and the seconds until the chunks planned from
there are shown are reported with the chunks fetched and dropped for the budget.

Outputs in ``--out``: ``bench_scale.json`` and ``bench_scale.md``. Skips with a message when the input is absent.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402

FERN_PLY = os.path.join(ROOT, "..", "shared", "data", "fern_3dgs", "point_cloud.ply")


def log(msg: str) -> None:
    print(f"[bench_scale] {msg}", flush=True)


def _tree_rss(root: int) -> int:
    """Resident bytes of process ``root`` and all its descendants together (from /proc; 0 once it is gone)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        stack.extend(children.get(pid, []))
        try:
            with open(f"/proc/{pid}/status") as fh:
                total += next((int(line.split()[1]) * 1024 for line in fh if line.startswith("VmRSS:")), 0)
        except OSError:
            pass
    return total


def timed(cmd: list[str], cwd: str = ROOT) -> tuple[float, int, int, str]:
    """(wall seconds, peak RSS of the largest process in bytes (/usr/bin/time -v), peak RSS of all its
    processes together (sampled from /proc every 0.2 s), stdout) of ``cmd``; raises on failure."""
    t0 = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(["/usr/bin/time", "-v"] + cmd, cwd=cwd, stdout=out, stderr=err, text=True)
        tree_peak = 0
        while proc.poll() is None:
            tree_peak = max(tree_peak, _tree_rss(proc.pid))
            time.sleep(0.2)
        seconds = time.perf_counter() - t0
        out.seek(0), err.seek(0)
        stdout, stderr = out.read(), err.read()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{stderr[-3000:]}")
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", stderr)
    return seconds, int(m.group(1)) * 1024 if m else -1, tree_peak, stdout


def describe(bundle: str) -> dict:
    """Bytes, Gaussians, chunks and the held-out PSNR per chunk of a compress.py output."""
    from codec.chunked import is_chunked
    from codec.report import chunked_info_dict, describe_compressed, info_dict

    if is_chunked(bundle):
        info = chunked_info_dict(bundle)
        psnr = [c["heldout"]["psnr"] for c in info["chunks"]]
        worst = [c["heldout"]["psnr_worst"] for c in info["chunks"]]
        return {"bytes": info["total_bytes"], "n_gaussians": info["n_gaussians"], "chunks": info["n_chunks"],
                "psnr_per_chunk": psnr, "psnr_worst_view_per_chunk": worst, "index_bytes": info["index_bytes"]}
    info = info_dict(describe_compressed(bundle))
    return {"bytes": info["total_bytes"], "n_gaussians": info["n_gaussians"], "chunks": 1,
            "psnr_per_chunk": [info["heldout"]["psnr"]], "psnr_worst_view_per_chunk": [info["heldout"]["psnr_worst"]],
            "index_bytes": 0}


def run_size(src: dict, copies: int, args, work: str) -> dict:
    from scene.ply_io import write_gaussian_ply
    from scene.transform import tiled_copies

    ply = os.path.join(work, f"tiled_{copies}.ply")
    write_gaussian_ply(ply, tiled_copies(src, copies))
    n_in = copies * len(src["means"])
    try:
        if args.only_competitors:
            point = {"copies": copies, "n_input": n_in, "encoded": False}
        else:
            point = encode_size(ply, copies, n_in, args, work)
        point["competitors"] = [competitor(name, ply, copies, args, work) for name in args.competitors]
    finally:
        os.remove(ply)
    return point


def encode_size(ply: str, copies: int, n_in: int, args, work: str) -> dict:
    """compress.py on the tiled input ``ply``, timed, then the decoders on its output."""
    bundle = os.path.join(args.out, f"x{copies}.bundle")
    cmd = [sys.executable, "compress.py", ply, "-o", bundle, "--chunk_size", str(args.chunk_size), "--quiet",
           "--workers", str(args.workers)]
    log(f"x{copies}: {n_in:,} Gaussians: {' '.join(cmd[1:])}")
    seconds, rss, tree_rss, _ = timed(cmd)
    point = {"copies": copies, "n_input": n_in, "seconds": seconds, "seconds_per_million": seconds / (n_in / 1e6),
             "peak_rss": rss, "peak_rss_all_processes": tree_rss, **describe(bundle)}
    point["bits_per_gaussian"] = 8.0 * point["bytes"] / point["n_gaussians"]
    log(f"x{copies}: {point['bytes']:,} B in {point['chunks']} chunks, {seconds:.0f} s, peak RSS {rss / 2**30:.2f} GiB "
        f"(all processes together {tree_rss / 2**30:.2f} GiB), "
        f"PSNR per chunk {', '.join(f'{p:.2f}' for p in point['psnr_per_chunk'])}")
    log(f"x{copies}: {json.dumps(point)}")  # the encoder's numbers, before the decoders run
    decoders(point, bundle, args, work)
    return point


def competitor(name: str, ply: str, copies: int, args, work: str) -> dict:
    """``ply`` written as ``name`` (SPZ / SOG) by splat-transform: its bytes and encode seconds; ``skipped`` with the
    reason instead."""
    from scene.splat_transform_tool import ToolUnavailable, run_splat_transform

    out = os.path.join(work, f"tiled_{copies}.{name.lower()}")
    extra = ["-g", args.sog_gpu] if name == "SOG" else []
    log(f"x{copies}: splat-transform {' '.join(extra + [os.path.basename(ply), os.path.basename(out)])}")
    t0 = time.perf_counter()
    try:
        run_splat_transform(extra + [ply, out], timeout=args.competitor_timeout)
    except (ToolUnavailable, ValueError) as exc:
        log(f"x{copies}: {name} skipped: {exc}")
        return {"name": name, "skipped": str(exc)}
    seconds = time.perf_counter() - t0
    size = os.path.getsize(out)
    os.remove(out)
    log(f"x{copies}: {name} {size:,} B in {seconds:.0f} s")
    return {"name": name, "bytes": size, "encode_seconds": seconds}


def decoders(point: dict, bundle: str, args, work: str) -> None:
    """``--node``: node web/decode.mjs on ``bundle``; ``--browser``: the viewer streaming it (into ``point``)."""
    if args.node:
        if not os.path.isdir(os.path.join(ROOT, "web", "node_modules", "fflate")):
            log("--node skipped: web/node_modules is missing (cd web && npm ci)")
        else:
            out_ply = os.path.join(work, "decoded_js.ply")
            point["node_seconds"], point["node_peak_rss"], _, _ = timed(["node", "web/decode.mjs", bundle, "-o",
                                                                         out_ply, "--quiet"])
            os.remove(out_ply)
    if args.browser:
        try:
            point["browser"] = browser_stream(bundle, args.browser, work, args.budget, args.move, args.browser_timeout)
        except RuntimeError as err:  # recorded, so that the encoder's and Node's numbers are still written
            log(f"the viewer failed: {str(err).splitlines()[0]}")
            point["browser_error"] = str(err)[-2000:]


def decode_only(bundle: str, args, work: str) -> dict:
    """A file written before (``--bundles``): what it holds, and the decoders on it."""
    point = {"copies": None, "file": os.path.basename(bundle), **describe(bundle)}
    point["bits_per_gaussian"] = 8.0 * point["bytes"] / point["n_gaussians"]
    decoders(point, bundle, args, work)
    log(f"{point['file']}: {point['n_gaussians']:,} Gaussians in {point['chunks']} chunks"
        + (f", Node {point['node_seconds']:.1f} s" if "node_seconds" in point else ""))
    return point


def far_view(bundle: str) -> dict:
    """A viewer camera (``camera=``) at the far end of the file: beyond the chunk farthest from the centre of the
    file's box (the other end of a tiled strip), by half its distance from the centre, looking back at it; y down
    (the viewer's default "up")."""
    from codec.chunked import read_index

    boxes = np.array([c.bbox for c in read_index(bundle).chunks], dtype=np.float64)
    centre = 0.5 * (boxes[:, :3].min(0) + boxes[:, 3:].max(0))
    centres = 0.5 * (boxes[:, :3] + boxes[:, 3:])
    far = int(np.argmax(np.linalg.norm(centres - centre, axis=1)))
    target = centres[far]
    position = target + 0.5 * (target - centre)
    if np.linalg.norm(target - centre) < 1e-9:  # one chunk (or all centred): from −z at twice its size instead
        position = target - np.array([0.0, 0.0, float(np.linalg.norm(boxes[far, 3:] - boxes[far, :3]))])
    return {"position": position.tolist(), "target": target.tolist(), "up": [0.0, -1.0, 0.0], "fov": 50}


def browser_stream(bundle: str, mbps: float, work: str, budget=None, move: bool = False, timeout: int = 3600) -> dict:
    """The viewer in headless Chromium (software WebGL) loading ``bundle`` over a link of ``mbps`` Mbit/s
    (web/test/browser/screenshot.mjs --complete --throttle_mbps): seconds to the first chunk shown, to half
    the Gaussians, to all, and to the first stable frame; beside them the time the whole file alone takes
    to arrive at that rate (what a viewer of a file that must arrive whole waits at least). ``move``: then the
    camera moves to the far end (far_view; screenshot.mjs --move): the seconds until the chunks planned from
    there are shown, and the chunks fetched and dropped for the splat budget."""
    from codec.chunked import is_chunked

    web = os.path.join(ROOT, "web")
    move = move and is_chunked(bundle)  # a file of one chunk has no plan to change
    if not os.path.isdir(os.path.join(web, "node_modules", "puppeteer-core")) or not os.path.isfile("/usr/bin/chromium"):
        log("--browser skipped: needs web/node_modules (cd web && npm ci) and /usr/bin/chromium")
        return {}
    subprocess.run(["npm", "run", "build"], cwd=web, check=True, capture_output=True)  # the viewer of this checkout
    shot = os.path.join(work, "stream.png")
    _, _, page_rss, out = timed(["node", "test/browser/screenshot.mjs", "--bundle", os.path.abspath(bundle), "--out", shot,
                                 "--complete", "--throttle_mbps", str(mbps), "--timeout", str(timeout)]
                                + (["--budget", str(budget)] if budget is not None else [])
                                + (["--move", json.dumps(far_view(bundle))] if move else []), cwd=web)
    stats = json.loads(out.strip().splitlines()[-1])
    size = os.path.getsize(bundle)
    before = stats.get("statsBeforeMove") or stats
    moved = {}
    if move:
        moved = {"move_seconds": (stats["planShownSeconds"] - stats["planSeconds"]) if stats.get("planShownSeconds") else None,
                 "move_fetches": stats["fetches"] - before["fetches"], "move_dropped": stats["dropped"],
                 "gaussians_shown_after_move": stats.get("n")}
    stats = before
    return {**moved, "mbps": mbps, "first_content_seconds": stats.get("firstContentSeconds"),
            "first_chunk_seconds": stats.get("firstChunkSeconds"), "half_seconds": stats.get("halfSeconds"),
            "all_seconds": stats.get("allChunksSeconds"), "ready_seconds": stats.get("secondsToReady"),
            "whole_file_transfer_seconds": 8.0 * size / (mbps * 1e6), "webgl": stats.get("webgl"),
            "index_seconds": stats.get("indexSeconds"), "timeline": stats.get("timeline"),
            "gaussians_shown": stats.get("n"), "budget": stats.get("budget"), "chunks_in_budget": stats.get("chunksInBudget"),
            "peak_rss_browser": page_rss}  # Chromium's processes (GPU process included) and the puppeteer driver


def _seconds(v) -> str:
    return "—" if v is None else f"{v:.2f}"


def report(points: list, args) -> str:
    tail = (f"{' --node' if args.node else ''}{f' --browser {args.browser:g}' if args.browser else ''}"
            f"{f' --budget {args.budget}' if args.budget is not None else ''}{' --move' if args.move else ''}")
    encoded = [p for p in points if p["copies"] is not None and p.get("encoded", True)]
    lines = []
    if encoded:
        lines += [f"`python scripts/bench_scale.py --copies {' '.join(str(p['copies']) for p in encoded)} "
                  f"--chunk_size {args.chunk_size}{f' --workers {args.workers}' if args.workers > 1 else ''}{tail}` "
                  f"on {os.path.basename(args.input)} "
                  f"({time.strftime('%Y-%m-%d')}; timings need a machine running nothing else)", "",
                  "| copies | Gaussians in / kept | chunks | bytes (bits/Gaussian) | wall s (s per M) | peak RSS: largest process / all together | held-out PSNR per chunk: mean, min–max | "
                  + ("Node decode s / peak RSS |" if args.node else ""),
                  "|---|---|---|---|---|---|---|" + ("---|" if args.node else "")]
    files = [p for p in points if p["copies"] is None]
    if files:
        lines += ([""] if lines else []) + [
            f"`python scripts/bench_scale.py --bundles {' '.join(p['file'] for p in files)}{tail}` "
            f"({time.strftime('%Y-%m-%d')}; files written before; timings need a machine running nothing else)", "",
            "| file | Gaussians | chunks | bytes (bits/Gaussian) | held-out PSNR per chunk: mean, min–max | "
            + ("Node decode s / peak RSS |" if args.node else ""), "|---|---|---|---|---|" + ("---|" if args.node else "")]
        for p in files:
            psnr = [v for v in p["psnr_per_chunk"] if v is not None]
            lines.append(f"| {p['file']} | {p['n_gaussians']:,} | {p['chunks']} | {p['bytes']:,} ({p['bits_per_gaussian']:.1f}) | "
                         + (f"{np.mean(psnr):.2f}, {min(psnr):.2f}–{max(psnr):.2f} | " if psnr else "— | ")
                         + (f"{p['node_seconds']:.2f} / {p['node_peak_rss'] / 2**30:.2f} GiB |" if "node_seconds" in p
                            else ("— |" if args.node else "")))
    for p in encoded:
        psnr = p["psnr_per_chunk"]
        lines.append(f"| {p['copies']} | {p['n_input']:,} / {p['n_gaussians']:,} | {p['chunks']} | {p['bytes']:,} "
                     f"({p['bits_per_gaussian']:.1f}) | {p['seconds']:.0f} ({p['seconds_per_million']:.0f}) | "
                     f"{p['peak_rss'] / 2**30:.2f} / {p.get('peak_rss_all_processes', -1) / 2**30:.2f} GiB | {np.mean(psnr):.2f}, {min(psnr):.2f}–{max(psnr):.2f} | "
                     + (f"{p['node_seconds']:.2f} / {p['node_peak_rss'] / 2**30:.2f} GiB |" if "node_seconds" in p
                        else ("— |" if args.node else "")))
    streamed = [p for p in points if p.get("browser")]
    if streamed:
        lines += ["", f"Viewer in headless Chromium over a {args.browser:g} Mbit/s link (software WebGL): seconds from the "
                  "start of loading (a file of one chunk: to its first stable frame); the decode: the workers' seconds "
                  "summed over the chunks (one thread each) per million Gaussians.", "",
                  "| copies / file | Gaussians shown (splat budget) | first content (the first chunk without SH bands) | "
                  "first chunk whole | half the Gaussians shown | all shown | "
                  "the whole file's transfer alone | decode in the workers, s per million | browser peak RSS |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for p in streamed:
            b = p["browser"]
            if b["first_chunk_seconds"] is None:  # one bundle: shown whole, at the first stable frame
                content = first = half = whole = b["ready_seconds"]
            else:
                content, first = b.get("first_content_seconds"), b["first_chunk_seconds"]
                half, whole = b["half_seconds"], b["all_seconds"]
            rss = b.get("peak_rss_browser")
            timeline = b.get("timeline") or []
            shown = b.get("gaussians_shown") or p["n_gaussians"]
            per_million = (sum(t["decodeSeconds"] for t in timeline) / (shown / 1e6)) if timeline else None
            budget = f" ({b['budget']:,})" if b.get("budget") else ""
            lines.append(f"| {p['copies'] if p['copies'] is not None else p['file']} | {shown:,}{budget} | {_seconds(content)} | "
                         f"{_seconds(first)} | {_seconds(half)} | {_seconds(whole)} | "
                         f"{_seconds(b['whole_file_transfer_seconds'])} | {_seconds(per_million)} | "
                         f"{'—' if rss is None else f'{rss / 2**30:.2f} GiB'} |")
        moved = [p for p in streamed if "move_seconds" in p["browser"]]
        if moved:
            lines += ["", "Then the camera moves beyond the far end (the chunk farthest from the centre of the file's box): "
                      "seconds until the chunks planned from there are all shown, and the chunks fetched and dropped "
                      "for the splat budget (the peak RSS above includes this).", "",
                      "| copies / file | seconds to show the new plan | chunks fetched | chunks dropped | Gaussians shown after |",
                      "|---|---|---|---|---|"]
            for p in moved:
                b = p["browser"]
                lines.append(f"| {p['copies'] if p['copies'] is not None else p['file']} | {_seconds(b['move_seconds'])} | "
                             f"{b['move_fetches']} | {b['move_dropped']} | {b['gaussians_shown_after_move']:,} |")
    rivals = [p for p in points if p.get("competitors")]
    if rivals:
        from scene.splat_transform_tool import VERSION

        rate = args.browser or 50.0
        lines += ["", f"The same tiled input written by splat-transform {VERSION} "
                  f"(`--competitors {' '.join(args.competitors)}{' --only_competitors' if args.only_competitors else ''}"
                  f"{f' --sog_gpu {args.sog_gpu}' if 'SOG' in args.competitors else ''}`): its bytes, and the seconds "
                  f"the whole file needs to arrive at {rate:g} Mbit/s, the least a viewer of a file that must arrive "
                  "whole waits for its first frame. SPZ's zstd finds the repeated copies of a tiled input, which no "
                  "real scene has: above one copy its bytes are not a size comparison.", "",
                  "| copies | Gaussians in | format | bytes (bits per input Gaussian) | encode s | the whole file at "
                  f"{rate:g} Mbit/s, s |", "|---|---|---|---|---|---|"]
        for p in rivals:
            ours = [{"name": "this codec", "bytes": p["bytes"], "encode_seconds": p["seconds"]}] if p.get("encoded", True) else []
            for r in ours + p["competitors"]:
                if "skipped" in r:
                    lines.append(f"| {p['copies']} | {p['n_input']:,} | {r['name']} | skipped: {r['skipped']} | — | — |")
                else:
                    lines.append(f"| {p['copies']} | {p['n_input']:,} | {r['name']} | {r['bytes']:,} "
                                 f"({8.0 * r['bytes'] / p['n_input']:.1f}) | {r['encode_seconds']:.0f} | "
                                 f"{8.0 * r['bytes'] / (rate * 1e6):.2f} |")
    for p in points:
        if p.get("browser_error"):
            lines += ["", f"The viewer failed on {p['copies'] if p['copies'] is not None else p['file']}: "
                      f"{p['browser_error'].strip().splitlines()[-1]}"]
    return "\n".join(lines) + "\n"


def write_results(points: list, args, with_report: bool) -> None:
    """``bench_scale.json`` in ``--out``; with_report: also ``bench_scale.md``, printed."""
    with open(os.path.join(args.out, "bench_scale.json"), "w") as fh:
        json.dump(points, fh, indent=1)
    if with_report:
        text = report(points, args)
        with open(os.path.join(args.out, "bench_scale.md"), "w") as fh:
            fh.write(text)
        print(text)


def main(argv=None) -> int:
    from scene.splat_files import read_splat

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--input", default=FERN_PLY, help="the capture to tile (default fern's 3DGS PLY)")
    ap.add_argument("--copies", type=int, nargs="+", default=[1, 4, 8])
    ap.add_argument("--chunk_size", type=int, default=None,
                    help="compress.py --chunk_size (default: the input's Gaussians, so that every chunk is one copy "
                         "and its PSNR compares with the single copy's)")
    ap.add_argument("--workers", type=int, default=1,
                    help="compress.py --workers (both peaks are reported: the largest process's and all processes' together)")
    ap.add_argument("--node", action="store_true", help="also time node web/decode.mjs on each file")
    ap.add_argument("--browser", type=float, default=None, metavar="MBPS",
                    help="also open each file in the viewer (headless Chromium) over a link of MBPS Mbit/s")
    ap.add_argument("--budget", type=int, default=None, help="the viewer's splat budget (?budget=; default: its own)")
    ap.add_argument("--browser_timeout", type=int, default=3600,
                    help="seconds the viewer gets to show the file (and again after --move) before it counts as failed")
    ap.add_argument("--move", action="store_true",
                    help="with --browser: then move the viewer's camera to the far end of the file and time the chunks "
                         "planned from there")
    ap.add_argument("--competitors", nargs="+", default=[], choices=["SPZ", "SOG"],
                    help="also write each tiled input as these formats with splat-transform (bytes, and the whole "
                         "file's transfer time at the --browser rate)")
    ap.add_argument("--only_competitors", action="store_true",
                    help="with --competitors: skip compress.py and the decoders")
    ap.add_argument("--sog_gpu", default="cpu", help="splat-transform's -g for SOG: 'cpu' or a WebGPU adapter index")
    ap.add_argument("--competitor_timeout", type=int, default=7200, help="seconds for each splat-transform call")
    ap.add_argument("--bundles", nargs="+", default=None, metavar="FILE",
                    help="no encoding: the decoders (--node, --browser) on these files")
    ap.add_argument("--out", default=os.path.join("bench_out", "scale"))
    args = ap.parse_args(argv)
    if args.only_competitors and not args.competitors:
        ap.error("--only_competitors needs --competitors SPZ and/or SOG")
    if args.bundles:
        missing = [b for b in args.bundles if not os.path.isfile(b)]
        if missing:
            print(f"error: no such file: {', '.join(missing)}", file=sys.stderr)
            return 2
        os.makedirs(args.out, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="bench_scale-") as work:
            points = [decode_only(b, args, work) for b in args.bundles]
        write_results(points, args, with_report=True)
        return 0
    if not os.path.isfile(args.input):
        log(f"skipped: {args.input} is absent (fern's 3DGS PLY lives in ../shared/data/fern_3dgs/)")
        return 0
    os.makedirs(args.out, exist_ok=True)
    src = read_splat(args.input)
    if args.chunk_size is None:
        args.chunk_size = len(src["means"])
    points = []
    with tempfile.TemporaryDirectory(prefix="bench_scale-") as work:
        for copies in args.copies:
            points.append(run_size(src, copies, args, work))
            write_results(points, args, with_report=False)  # the JSON after every size
    write_results(points, args, with_report=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
