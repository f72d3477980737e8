"""Integrity: every use of an artifact checks its bytes against the manifest's sha256 first.

One function, `verified_path`, is the only way code in albert-edge turns a manifest entry into a path to
open (runners, the quantizers' source files, verify, predict, bench, arm64 parity, the APK build). A
mismatch is a one-line error naming the file. Hashing ALBERT-base files costs ~0.1 s each, so digests are
cached per process, keyed by the file's identity and modification stamp (a rewrite changes the stamp).
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import AlbertEdgeError
from .fsutil import sha256_file

# (device, inode, size, mtime_ns, ctime_ns) -> sha256 hex
_DIGESTS: dict[tuple[int, int, int, int, int], str] = {}


def _stamp(st: os.stat_result) -> tuple[int, int, int, int, int]:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def file_digest(path: str | os.PathLike) -> str:
    """sha256 of a file, cached while the file's stat stamp stays the same."""
    path = Path(path)
    try:
        before = os.stat(path)
    except OSError as e:
        raise AlbertEdgeError(f"cannot read {path} ({e.strerror})") from None
    key = _stamp(before)
    digest = _DIGESTS.get(key)
    if digest is None:
        try:
            digest = sha256_file(path)
            after = os.stat(path)
        except OSError as e:
            raise AlbertEdgeError(f"cannot read {path} ({e.strerror})") from None
        if _stamp(after) != key:  # changed while being read: do not cache a torn digest
            raise AlbertEdgeError(f"{path} changed while it was being checked; try again")
        _DIGESTS[key] = digest
    return digest


def forget(path: str | os.PathLike) -> None:
    """Drop cached digests for `path` (tests that rewrite a file within the same mtime tick)."""
    try:
        st = os.stat(path)
    except OSError:
        return
    _DIGESTS.pop(_stamp(st), None)


def verified_path(folder: str | os.PathLike, entry: dict, what: str = "artifact") -> Path:
    """The path of `entry['file']` in `folder`, after checking size and sha256 against the entry."""
    path = Path(folder) / entry["file"]
    if not path.is_file():
        raise AlbertEdgeError(f"{what} {path} listed in the manifest is missing")
    size = path.stat().st_size
    if size != entry["bytes"]:
        raise AlbertEdgeError(f"{what} {path} does not match its manifest entry ({size} bytes, manifest says {entry['bytes']}); refusing to use it")
    digest = file_digest(path)
    if digest != entry["sha256"]:
        raise AlbertEdgeError(
            f"{what} {path} does not match its manifest entry (sha256 {digest[:12]}…, manifest says {entry['sha256'][:12]}…); refusing to use it"
        )
    return path


def verify_support_files(folder: str | os.PathLike, manifest: dict, names=None) -> None:
    """Check the folder's supporting files (tokenizer, config) against the manifest's `files` digests.

    Manifests written before digests were recorded for supporting files have no `files` table; they are
    accepted as they are (the artifacts themselves are always checked).
    """
    table = manifest.get("files") or {}
    for name, meta in table.items():
        if names is not None and name not in names:
            continue
        verified_path(folder, {"file": name, **meta}, what="file")
