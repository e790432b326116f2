"""Write the committed fixture of the current format version for tests/test_codec_versions.py (frozen bytes).

Run from the repository root, by the commit that introduces a format version and before any later
change of its layout, so that every later reader is checked against what files of that version look
like (``codec.FORMAT_VERSION`` is the version written; a folder that exists is never rewritten):

    python scripts/make_format_fixture.py            # → tests/fixtures/v<FORMAT_VERSION>

Each fixture holds small SH-degree-1 models (60 random points → voxels, 7 blocks), each as
``<name>/pc_npz.bundle``, with the decoded attribute matrix, voxel centres and codes (and, from
version 3, the channel basis; [0, 0] for none) as ``expected_<name>.npz``:

- version 2 (written by commit 18a7948 as scripts/make_v2_fixture.py, seed 12): ``rd16`` (rd quantizer,
  16-bit codes) and ``vanilla8`` (min/max 8-bit);
- version 3 (seed 13): ``rd16_klt`` (rd, 16-bit, a KLT of f_dc and f_rest fitted to the attributes) and
  ``vanilla8`` (no transform). Version 1's fixture was written by commit 12573d9.
- version 4 (seed 14): ``rd16_klt_frame`` (rd, 16-bit, KLT, a coding frame: a seeded random rotation) and
  ``vanilla8`` (no transform, the identity frame); the expected file also holds the world rotations
  (``quats``) and SH bands (``shN``) of ``DecodedModel.arrays()``.
- version 6 (seed 16): as version 4, written with integer probability tables.

``--chunked`` writes the chunked file's fixture instead (``tests/fixtures/v5/chunks.bundle``, format 5):
the two version-4 fixture bundles as its two chunks, with ``expected_chunks.npz`` holding the
concatenated ``arrays()`` of the chunks (what ``compression.api.decompress`` returns).
"""
import argparse
import os
import shutil
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402
import torch  # noqa: E402

#: format_version → (seed, [(name, quantizer, bits, klt, frame)])
MODELS = {
    2: (12, [("rd16", "rd", 16, False, False), ("vanilla8", "vanilla", 8, False, False)]),
    3: (13, [("rd16_klt", "rd", 16, True, False), ("vanilla8", "vanilla", 8, False, False)]),
    4: (14, [("rd16_klt_frame", "rd", 16, True, True), ("vanilla8", "vanilla", 8, False, False)]),
    6: (16, [("rd16_klt_frame", "rd", 16, True, True), ("vanilla8", "vanilla", 8, False, False)]),
}


def main():
    from codec import FORMAT_VERSION, load_npz, save_npz
    from compression.channel_basis import fit_channel_basis
    from scene.transform import random_rotation
    from tests.compression_helpers import synthetic_quantized
    from utils.rotations import euler_to_quat, rotmat_to_euler

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=None, help="default tests/fixtures/v<version>")
    ap.add_argument("--chunked", action="store_true", help="the chunked file's fixture (format 5) from the v4 bundles")
    args = ap.parse_args()
    torch.set_num_threads(1)
    if args.chunked:
        return write_chunked(args.out or os.path.join("tests", "fixtures", "v5"))
    args.out = args.out or os.path.join("tests", "fixtures", f"v{FORMAT_VERSION}")
    seed, models = MODELS[FORMAT_VERSION]
    for name, quantizer, bits, klt, with_frame in models:
        model = synthetic_quantized(n=60, sh_degree=1, n_block=7, bits=bits, quantizer=quantizer, seed=seed)
        if klt:
            model.channel_basis = fit_channel_basis(model.attributes().detach(), model.layout)
            model.calibrate()
        folder = os.path.join(args.out, name)
        if os.path.exists(folder):
            raise SystemExit(f"{folder} exists: frozen fixtures are never rewritten")
        d = os.path.join(folder, "pc_npz")
        frame = None
        if with_frame:
            q = euler_to_quat(rotmat_to_euler(torch.as_tensor(random_rotation(seed)))).numpy().astype(np.float32)
            frame = q / np.linalg.norm(q)
        save_npz(model.encode({"fixture": f"v{FORMAT_VERSION}"}, codec="range", frame=frame), d)
        shutil.rmtree(d)  # the bundle holds the same files
        dec = load_npz(d + ".bundle")
        assert dec.manifest["format_version"] == FORMAT_VERSION
        expected = dict(attributes=dec.attributes.numpy(), means=dec.means.numpy(), ac_codes=dec.payload.ac_codes)
        if FORMAT_VERSION >= 3:
            basis = dec.payload.channel_basis
            expected["basis"] = basis if basis is not None else np.zeros((0, 0), np.float32)
        if FORMAT_VERSION >= 4:
            world = dec.arrays()
            expected.update(frame=dec.payload.frame, quats=world["quats"], shN=world["shN"])
        np.savez(os.path.join(args.out, f"expected_{name}.npz"), **expected)
        print(f"wrote {d}.bundle ({dec.n_gaussians} Gaussians, {quantizer}, {bits}-bit, transform {'klt' if klt else 'none'})")


def write_chunked(out: str) -> None:
    from codec import load_npz
    from codec.chunked import CHUNKED_VERSION, chunked_bytes, load_chunks

    target = os.path.join(out, "chunks.bundle")
    if os.path.exists(target):
        raise SystemExit(f"{target} exists: frozen fixtures are never rewritten")
    paths = [os.path.join("tests", "fixtures", "v4", name, "pc_npz.bundle") for name in ("rd16_klt_frame", "vanilla8")]
    decoded = [load_npz(p) for p in paths]
    boxes = [np.concatenate([d.means.numpy().min(0), d.means.numpy().max(0)]) for d in decoded]
    data = chunked_bytes([open(p, "rb").read() for p in paths], [d.n_gaussians for d in decoded], boxes,
                         decoded[0].sh_degree, {"fixture": f"v{CHUNKED_VERSION}"})
    os.makedirs(out, exist_ok=True)
    with open(target, "wb") as fh:
        fh.write(data)
    parts = [r.model.arrays() for r in load_chunks(target)]
    np.savez(os.path.join(out, "expected_chunks.npz"), **{k: np.concatenate([p[k] for p in parts]) for k in parts[0]})
    print(f"wrote {target} ({len(data)} B, {len(parts)} chunks)")


if __name__ == "__main__":
    main()
