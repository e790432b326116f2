"""Write the committed format-version-3 fixture of tests/test_codec_versions.py (frozen bytes).

Version 3 is version 2 plus the channel transform member (``transform.npz``). Made by the code of
the commit that added it, so that every later reader is checked against what v3 files look like.
Run from the repository root:

    python scripts/make_v3_fixture.py --out tests/fixtures/v3

It saves two small SH-degree-1 models (60 random points → voxels, 7 blocks): ``rd16_klt`` (rd
quantizer, 16-bit codes, a KLT of f_dc and f_rest fitted to the attributes) and ``vanilla8``
(min/max 8-bit, no transform: an empty basis), each as ``<name>/pc_npz.bundle``, and the decoded
attribute matrix, voxel centres, codes and basis as ``expected_<name>.npz``. Never regenerate an
existing fixture: a new format version gets a new folder.
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


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    torch.set_num_threads(1)
    from codec import load_npz, save_npz
    from compression.channel_basis import fit_channel_basis
    from tests.compression_helpers import synthetic_quantized

    for name, quantizer, bits, klt in (("rd16_klt", "rd", 16, True), ("vanilla8", "vanilla", 8, False)):
        model = synthetic_quantized(n=60, sh_degree=1, n_block=7, bits=bits, quantizer=quantizer, seed=13)
        if klt:
            model.channel_basis = fit_channel_basis(model.attributes().detach(), model.layout)
            model.calibrate()
        folder = os.path.join(args.out, name)
        if os.path.exists(folder):
            raise SystemExit(f"{folder} exists: frozen fixtures are never rewritten")
        d = os.path.join(folder, "pc_npz")
        save_npz(model.encode({"fixture": "v3"}, codec="range"), d)
        shutil.rmtree(d)  # the bundle holds the same files
        dec = load_npz(d + ".bundle")
        assert dec.manifest["format_version"] == 3
        basis = dec.payload.channel_basis if dec.payload.channel_basis is not None else np.zeros((0, 0), np.float32)
        np.savez(os.path.join(args.out, f"expected_{name}.npz"), attributes=dec.attributes.numpy(),
                 means=dec.means.numpy(), ac_codes=dec.payload.ac_codes, basis=basis)
        print(f"wrote {d}.bundle ({dec.n_gaussians} Gaussians, {quantizer}, {bits}-bit, transform {'klt' if klt else 'none'})")


if __name__ == "__main__":
    main()
