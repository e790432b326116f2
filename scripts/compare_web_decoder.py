#!/usr/bin/env python
"""How close the JavaScript decoder comes to load_npz on a bundle: codes and voxels (must be identical) and
the largest difference of every PLY column (``node web/decode.mjs`` against ``decompress.py``'s export).

    python scripts/compare_web_decoder.py BUNDLE [BUNDLE ...]

Needs node and web/node_modules (``cd web && npm ci``).
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402


def ply_table(path: str) -> tuple[list[str], np.ndarray]:
    with open(path, "rb") as fh:
        data = fh.read()
    end = data.index(b"end_header\n") + len(b"end_header\n")
    header = data[:end].decode("ascii").splitlines()
    names = [line.split()[-1] for line in header if line.startswith("property")]
    n = int(next(line.split()[-1] for line in header if line.startswith("element vertex")))
    return names, np.frombuffer(data[end:], dtype="<f4").reshape(n, len(names))


def compare(bundle: str) -> None:
    from codec import load_npz
    from scene.ply_io import export_ply

    with tempfile.TemporaryDirectory() as tmp:
        js_ply, codes_path, py_ply = (os.path.join(tmp, f) for f in ("js.ply", "codes.bin", "py.ply"))
        res = subprocess.run(["node", os.path.join(ROOT, "web", "decode.mjs"), bundle, "-o", js_ply, "--codes", codes_path],
                             capture_output=True, text=True)
        if res.returncode != 0:
            print(f"{bundle}: {res.stderr.strip()}")
            return
        dec = load_npz(bundle)
        export_ply(dec, py_ply)
        raw = np.fromfile(codes_path, dtype=np.uint8)
        code_bytes = dec.payload.ac_codes.tobytes()
        codes_ok = raw[:len(code_bytes)].tobytes() == code_bytes
        voxels = np.frombuffer(raw[len(code_bytes):].tobytes(), dtype="<i4").reshape(-1, 3)
        voxels_ok = np.array_equal(voxels, dec.payload.coords)
        names, js = ply_table(js_ply)
        _, py = ply_table(py_ply)
        diff = np.abs(js.astype(np.float64) - py)
        print(f"{bundle}: {dec.payload.n_gaussians} Gaussians, SH {dec.payload.sh_degree}, format v{dec.manifest['format_version']}; "
              f"codes identical: {codes_ok}; voxels identical: {voxels_ok}; values bit-equal: {np.mean(js == py):.4f}")
        groups = {"position": [n for n in names if n in ("x", "y", "z")],
                  "f_dc": [n for n in names if n.startswith("f_dc")], "f_rest": [n for n in names if n.startswith("f_rest")],
                  "opacity": ["opacity"], "scale": [n for n in names if n.startswith("scale")],
                  "rotation": [n for n in names if n.startswith("rot")]}
        for g, cols in groups.items():
            if cols:
                idx = [names.index(c) for c in cols]
                print(f"  {g:9s} max |JS − Python| {diff[:, idx].max():.3g}, bit-equal {np.mean(js[:, idx] == py[:, idx]):.4f}")


def main(argv=None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args:
        print(__doc__)
        return 2
    for b in args:
        compare(b)
    return 0


if __name__ == "__main__":
    sys.exit(main())
