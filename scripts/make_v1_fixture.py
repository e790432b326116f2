"""Write the committed format-version-1 fixture of tests/test_codec_versions.py.

Run once with the code of the last commit that wrote format version 1 (12573d9, before the codec/
package existed) so the fixture is an independent witness of what v1 files look like:

    git worktree add /tmp/splatpress-v1 12573d9
    (cd /tmp/splatpress-v1 && /path/to/.venv/bin/python /path/to/scripts/make_v1_fixture.py --out /path/to/tests/fixtures/v1)

It saves a small SH-degree-1 model (120 Gaussians, 7 blocks) with 8-bit and 4-bit codes as
``pc_npz`` + bundle, and the decoded attribute matrix, voxel centres and codes as
``expected_<bits>.npz`` (the committed fixture keeps the 4-bit model's bundle only).
"""
import argparse
import os
import shutil
import sys

sys.path.insert(0, os.getcwd())

import numpy as np  # noqa: E402
import torch  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    torch.set_num_threads(1)
    from scene.compressed_format import load_npz, save_npz
    from tests.compression_helpers import synthetic_quantized

    for bits in (8, 4):
        model = synthetic_quantized(n=60, sh_degree=1, n_block=7, bits=bits, seed=11)
        d = os.path.join(args.out, f"bits{bits}", "pc_npz")
        shutil.rmtree(os.path.dirname(d), ignore_errors=True)
        save_npz(model.encode({"fixture": "v1"}, codec="deflate"), d)
        dec = load_npz(d)
        assert dec.manifest["format_version"] == 1
        np.savez(os.path.join(args.out, f"expected_{bits}.npz"), attributes=dec.attributes.numpy(), means=dec.means.numpy(),
                 ac_codes=dec.payload.ac_codes)
        print(f"wrote {d} ({dec.n_gaussians} Gaussians, {bits}-bit)")


if __name__ == "__main__":
    main()
