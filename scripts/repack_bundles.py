#!/usr/bin/env python
"""Rewrite bundles with the current container (same members, byte for byte; the manifest deflated).

    python scripts/repack_bundles.py A.bundle [B.bundle ...] [--in_place | --out_dir DIR]

Bundles written before session 6 store ``manifest.json`` uncompressed; the container now deflates it
(``codec/container.py``), 1–2 kB less per file. Every member is verified against the manifest (sizes,
SHA-256) before anything is written, the result decodes to the same model, and ``--in_place`` replaces a
file atomically. Without ``--in_place`` or ``--out_dir`` nothing is written: the table shows what
repacking would save.
"""
from __future__ import annotations

import argparse
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)


def repacked(path: str) -> bytes:
    from codec.container import MANIFEST, bundle_bytes, member_label, parse_manifest, read_model_files, verified_files
    from codec.io import VERSIONS

    raw = read_model_files(path)
    manifest = parse_manifest(raw[MANIFEST], path)
    version = manifest.get("format_version")
    if version not in VERSIONS:
        raise ValueError(f"{member_label(path, MANIFEST)}: format_version {version!r} is not readable here")
    files = verified_files(raw, manifest, VERSIONS[version].members, path)
    return bundle_bytes({MANIFEST: raw[MANIFEST], **{name: files[name] for name in VERSIONS[version].members}})


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("bundles", nargs="+")
    where = ap.add_mutually_exclusive_group()
    where.add_argument("--in_place", action="store_true", help="replace each bundle (atomically)")
    where.add_argument("--out_dir", help="write the repacked bundles here, under their names")
    args = ap.parse_args(argv)

    from codec.container import CompressedFormatError, write_file_atomic

    names = [os.path.basename(p) for p in args.bundles]
    if args.out_dir and len(set(names)) < len(names):
        print("repack_bundles.py: error: --out_dir needs bundles with different file names", file=sys.stderr)
        return 2

    print("| bundle | bytes before | after | saved |")
    print("|---|---|---|---|")
    for path in args.bundles:
        if not (os.path.isfile(path) and path.endswith(".bundle")):
            print(f"repack_bundles.py: error: {path}: not a .bundle file", file=sys.stderr)
            return 2
        try:
            data = repacked(path)
        except (CompressedFormatError, ValueError) as exc:
            print(f"repack_bundles.py: error: {exc}", file=sys.stderr)
            return 2
        before = os.path.getsize(path)
        if args.in_place:
            write_file_atomic(path, data)
        elif args.out_dir:
            os.makedirs(args.out_dir, exist_ok=True)
            write_file_atomic(os.path.join(args.out_dir, os.path.basename(path)), data)
        print(f"| {path} | {before:,} | {len(data):,} | {before - len(data):,} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
