"""`manifest.json`: the one description of an artifacts folder that the CLI, benchmarks and the
Android app all read. Format documented in README.md ("Artifact folder and manifest")."""

from __future__ import annotations

import datetime as _dt
import importlib.metadata as _md
import json
import os
from pathlib import Path

from . import __version__
from .errors import AlbertEdgeError
from .fsutil import read_json, sha256_file, write_text_atomic

MANIFEST = "manifest.json"
FORMAT_VERSION = 1
FORMATS = ("onnx", "tflite")
PRECISIONS = ("fp32", "fp16", "int8")


def tool_versions(extra: tuple[str, ...] = ()) -> dict[str, str]:
    names = ("torch", "transformers", "tokenizers", "onnx", "onnxruntime", "litert-torch", "ai-edge-quantizer", "ai-edge-litert") + extra
    out = {"albert-edge": __version__}
    for n in names:
        try:
            out[n] = _md.version(n)
        except _md.PackageNotFoundError:
            pass
    return out


def new_manifest(ckpt, tokenizer_files: list[str], max_seq_length: int) -> dict:
    cfg = ckpt.config
    tok = ckpt.tokenizer
    return {
        "format_version": FORMAT_VERSION,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "source": {
            "model_dir": str(Path(ckpt.model_dir).resolve()),
            "weights_file": ckpt.weights_file.name,
            "weights_sha256": sha256_file(ckpt.weights_file),
        },
        "model": {
            "model_type": "albert",
            "vocab_size": cfg.vocab_size,
            "embedding_size": cfg.embedding_size,
            "hidden_size": cfg.hidden_size,
            "num_hidden_layers": cfg.num_hidden_layers,
            "num_hidden_groups": cfg.num_hidden_groups,
            "inner_group_num": cfg.inner_group_num,
            "num_attention_heads": cfg.num_attention_heads,
            "intermediate_size": cfg.intermediate_size,
            "hidden_act": cfg.hidden_act,
            "unique_parameters": ckpt.unique_parameters,
        },
        "labels": list(ckpt.labels),
        "max_seq_length": int(max_seq_length),
        "tokenizer": {
            "files": tokenizer_files,
            "do_lower_case": bool(getattr(tok, "do_lower_case", True)),
            "cls_id": tok.cls_token_id,
            "sep_id": tok.sep_token_id,
            "pad_id": tok.pad_token_id,
            "unk_id": tok.unk_token_id,
        },
        "tools": tool_versions(),
        "artifacts": [],
    }


def artifact_entry(folder: Path, file: str, fmt: str, precision: str, inputs: list[dict], outputs: list[dict], **extra) -> dict:
    """An entry for a file already in `folder`: size and sha256 are read from the file itself."""
    assert fmt in FORMATS and precision in PRECISIONS, (fmt, precision)
    path = Path(folder) / file
    entry = {
        "file": file,
        "format": fmt,
        "precision": precision,
        "bytes": path.stat().st_size,
        "sha256": sha256_file(path),
        "inputs": inputs,
        "outputs": outputs,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    entry.update(extra)
    return entry


def load_manifest(folder: str | os.PathLike) -> dict:
    folder = Path(folder)
    if not folder.is_dir():
        raise AlbertEdgeError(f"artifacts folder {folder} does not exist")
    path = folder / MANIFEST
    if not path.is_file():
        raise AlbertEdgeError(f"{folder} has no {MANIFEST}; run `albert-edge export onnx` first")
    m = read_json(path)
    if not isinstance(m, dict) or m.get("format_version") != FORMAT_VERSION or not isinstance(m.get("artifacts"), list):
        raise AlbertEdgeError(f"{path} is not an albert-edge manifest (format_version {FORMAT_VERSION})")
    return m


def save_manifest(folder: str | os.PathLike, manifest: dict) -> None:
    write_text_atomic(Path(folder) / MANIFEST, json.dumps(manifest, indent=2, sort_keys=False) + "\n")


def upsert_artifact(manifest: dict, entry: dict) -> None:
    """Replace the entry for the same file, else append; keeps a stable order by file name."""
    arts = [a for a in manifest["artifacts"] if a["file"] != entry["file"]]
    arts.append(entry)
    manifest["artifacts"] = sorted(arts, key=lambda a: (FORMATS.index(a["format"]), PRECISIONS.index(a["precision"]), a["file"]))
    manifest["tools"] = {**manifest.get("tools", {}), **tool_versions()}


def find_artifact(manifest: dict, file: str) -> dict:
    for a in manifest["artifacts"]:
        if a["file"] == file:
            return a
    names = ", ".join(a["file"] for a in manifest["artifacts"]) or "none"
    raise AlbertEdgeError(f"no artifact {file!r} in the manifest (have: {names})")


def check_artifact_file(folder: Path, entry: dict, verify_hash: bool = False) -> Path:
    path = Path(folder) / entry["file"]
    if not path.is_file():
        raise AlbertEdgeError(f"artifact {path} listed in the manifest is missing")
    if path.stat().st_size != entry["bytes"] or (verify_hash and sha256_file(path) != entry["sha256"]):
        raise AlbertEdgeError(f"artifact {path} does not match its manifest entry (size/sha256 changed)")
    return path
