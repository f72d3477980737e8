"""Opening an artifacts folder for writing: one folder per exported checkpoint, one manifest.

`export onnx` and `export tflite` may write into the same folder (that is how one folder ends up
holding every format); a folder made from a different checkpoint, a non-albert-edge folder, or an
existing artifact file is refused unless --overwrite.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from .errors import AlbertEdgeError
from .fsutil import check_writable_dir, sha256_file
from .manifest import MANIFEST, load_manifest, new_manifest, save_manifest
from .tokenizer import copy_tokenizer_files


def open_output(folder: str | Path, ckpt, max_seq_length: int, overwrite: bool, files: list[str]) -> dict:
    """Prepare `folder` to receive `files` exported from `ckpt`; returns the manifest to update.

    Nothing is written if a conflict is found. Tokenizer files and config.json are (re)copied so
    the folder is self-contained for `predict` and the Android app.
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise AlbertEdgeError(f"output path {folder} exists and is not a folder")
    if max_seq_length > ckpt.config.max_position_embeddings:
        raise AlbertEdgeError(
            f"--max-length {max_seq_length} exceeds the model's max_position_embeddings ({ckpt.config.max_position_embeddings})"
        )
    manifest = None
    if folder.is_dir() and any(folder.iterdir()):
        if (folder / MANIFEST).is_file():
            old = load_manifest(folder)
            same_source = old.get("source", {}).get("weights_sha256") == sha256_file(ckpt.weights_file)
            if same_source and old.get("max_seq_length") == max_seq_length:
                clash = [f for f in files if (folder / f).exists()]
                if clash and not overwrite:
                    raise AlbertEdgeError(f"{folder / clash[0]} already exists (use --overwrite)")
                manifest = old
            elif not overwrite:
                why = "a different checkpoint" if not same_source else f"max_seq_length {old.get('max_seq_length')}"
                raise AlbertEdgeError(f"output folder {folder} holds artifacts of {why} (use --overwrite or another folder)")
            else:
                for a in old["artifacts"]:  # stale artifacts of another checkpoint must not survive
                    (folder / a["file"]).unlink(missing_ok=True)
        elif not overwrite:
            raise AlbertEdgeError(f"output folder {folder} already exists and is not empty (use --overwrite)")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise AlbertEdgeError(f"cannot create output folder {folder} ({e.strerror})") from None
    check_writable_dir(folder)
    tok_files = copy_tokenizer_files(Path(ckpt.model_dir), folder, ckpt.tokenizer)
    shutil.copyfile(Path(ckpt.model_dir) / "config.json", folder / "config.json")
    if manifest is None:
        manifest = new_manifest(ckpt, tok_files, max_seq_length)
        save_manifest(folder, manifest)
    return manifest
