"""`albert-edge check`: are the folder's files the bytes its manifest describes? (sizes and sha256)

Every command checks the artifacts it uses by itself; this is the same check on its own, for scripts
that copy artifacts elsewhere (the APK build runs it on the files it bundles) and for users.
"""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "check that an artifacts folder's files match manifest.json (size and sha256 of every artifact and supporting file)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("output", metavar="OUTPUT_DIR", help="artifacts folder (with manifest.json)")
    p.add_argument("files", metavar="FILE", nargs="*", help="only these files (default: every artifact and supporting file in the manifest)")
    p.add_argument("--quiet", action="store_true", help="print nothing on success")


def check(folder, files: list[str] | None = None) -> list[str]:
    """Raise AlbertEdgeError on the first file that does not match; returns the names checked."""
    from .errors import AlbertEdgeError
    from .integrity import verified_path
    from .manifest import load_manifest

    folder = Path(folder)
    manifest = load_manifest(folder)
    table = {a["file"]: a for a in manifest["artifacts"]}
    table.update({name: {"file": name, **meta} for name, meta in manifest["files"].items()})
    names = files or sorted(table)
    for name in names:
        if name not in table:
            raise AlbertEdgeError(f"{name} is not listed in {folder / 'manifest.json'}")
        verified_path(folder, table[name], what="artifact" if name in {a["file"] for a in manifest["artifacts"]} else "file")
    return names


def run(args) -> int:
    names = check(args.output, args.files or None)
    if not args.quiet:
        print(f"{len(names)} file(s) match the manifest of {args.output}: {', '.join(names)}")
    return 0
