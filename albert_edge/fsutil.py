"""Filesystem helpers: nothing half-written is ever left behind."""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from pathlib import Path
from typing import Iterator

from .errors import AlbertEdgeError


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


@contextlib.contextmanager
def atomic_path(final: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temp path in the same folder; rename it onto `final` only if the block succeeds."""
    final = Path(final)
    fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.", suffix=suffix or ".tmp", dir=final.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        if tmp_path.exists():  # mkstemp creates 0600; artifacts are ordinary files
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp_path, 0o666 & ~umask)
        os.replace(tmp_path, final)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_text_atomic(final: str | os.PathLike, text: str) -> None:
    with atomic_path(final) as tmp:
        tmp.write_text(text, encoding="utf-8")


@contextlib.contextmanager
def staged_output_dir(output: str | os.PathLike, overwrite: bool) -> Iterator[Path]:
    """Build a whole new folder (e.g. a trained model) in a staging folder, then swap it in
    (albert_edge.staging: the same transaction the artifacts folders use).

    An existing non-empty folder is refused unless `overwrite`; on failure the old folder (if any)
    is left untouched and the staging folder removed.
    """
    from .staging import transaction

    output = Path(output)
    if output.exists() and not output.is_dir():
        raise AlbertEdgeError(f"output path {output} exists and is not a folder")
    if output.is_dir() and any(output.iterdir()) and not overwrite:
        raise AlbertEdgeError(f"output folder {output} already exists and is not empty (use --overwrite)")
    with transaction(output, fresh=True) as txn:
        yield txn.dir


def read_json(path: str | os.PathLike):
    """Parse a JSON file; a corrupt or non-UTF-8 file is a one-line AlbertEdgeError naming it."""
    import json

    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise AlbertEdgeError(f"{path} is not valid JSON ({e})") from None


def require_dir(path: str | os.PathLike, what: str) -> Path:
    p = Path(path)
    if not p.exists():
        raise AlbertEdgeError(f"{what} {p} does not exist")
    if not p.is_dir():
        raise AlbertEdgeError(f"{what} {p} is not a folder")
    return p
