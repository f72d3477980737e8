"""`manifest.json`: the one description of an artifacts folder that the CLI, benchmarks and the
Android app all read. Format documented in README.md ("Artifact folder and manifest")."""

from __future__ import annotations

import datetime as _dt
import importlib.metadata as _md
import json
import os
from pathlib import Path

from . import __version__
from . import formats as _formats
from .errors import AlbertEdgeError
from .fsutil import read_json, sha256_file, write_text_atomic

MANIFEST = "manifest.json"
FORMAT_VERSION = 1
PRECISIONS = _formats.PRECISIONS


def _known(fmt: str) -> bool:
    return _formats.find(fmt) is not None


def tool_versions(extra: tuple[str, ...] = ()) -> dict[str, str]:
    names = ("torch", "transformers", "tokenizers", *_formats.packages()) + extra
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
        "files": {},
        "artifacts": [],
    }


def record_files(folder: str | os.PathLike, manifest: dict, names: list[str]) -> None:
    """Record size and sha256 of supporting files (tokenizer, config) so their use can be checked too."""
    table = manifest.setdefault("files", {})
    for name in names:
        path = Path(folder) / name
        table[name] = {"bytes": path.stat().st_size, "sha256": sha256_file(path)}


def artifact_entry(folder: Path, file: str, fmt: str, precision: str, inputs: list[dict], outputs: list[dict], **extra) -> dict:
    """An entry for a file already in `folder`: size and sha256 are read from the file itself."""
    assert _known(fmt) and precision in PRECISIONS, (fmt, precision)
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
        raise AlbertEdgeError(f"{folder} has no {MANIFEST}: not an artifacts folder; create one with `albert-edge export FORMAT --model MODEL_DIR {folder}` or `albert-edge pipeline`")
    m = read_json(path)
    if not isinstance(m, dict) or m.get("format_version") != FORMAT_VERSION or not isinstance(m.get("artifacts"), list):
        raise AlbertEdgeError(f"{path} is not an albert-edge manifest (format_version {FORMAT_VERSION})")
    validate_manifest(m, path)
    return m


# The shape every reader relies on: field -> type, or a nested table. Extra fields are allowed.
_HEX64 = "sha256"
_SHAPE = {
    "created": str,
    "source": {"model_dir": str, "weights_file": str, "weights_sha256": _HEX64},
    "model": {
        "model_type": str, "vocab_size": "pos", "embedding_size": "pos", "hidden_size": "pos", "num_hidden_layers": "pos",
        "num_hidden_groups": "pos", "inner_group_num": "pos", "num_attention_heads": "pos", "intermediate_size": "pos",
        "hidden_act": str, "unique_parameters": "pos",
    },
    "labels": [str],
    "max_seq_length": "pos",
    "tokenizer": {"files": [str], "do_lower_case": bool, "cls_id": "id", "sep_id": "id", "pad_id": "id", "unk_id": "id"},
    "tools": dict,
}
_ENTRY = {"file": "name", "format": str, "precision": str, "bytes": "count", "sha256": _HEX64, "inputs": [dict], "outputs": [dict]}
_FILE = {"bytes": "count", "sha256": _HEX64}


def _check(value, kind, where: str, path) -> None:
    def bad(expect: str):
        raise AlbertEdgeError(f"{path}: {where} must be {expect}, got {json.dumps(value)[:60]}")

    if isinstance(kind, dict):
        if not isinstance(value, dict):
            bad("an object")
        for k, sub in kind.items():
            if k not in value:
                raise AlbertEdgeError(f"{path}: {where}.{k} is missing")
            _check(value[k], sub, f"{where}.{k}", path)
    elif isinstance(kind, list):
        if not isinstance(value, list):
            bad("a list")
        for i, v in enumerate(value):
            _check(v, kind[0], f"{where}[{i}]", path)
    elif kind in ("pos", "count", "id"):
        if not isinstance(value, int) or isinstance(value, bool) or value < (1 if kind == "pos" else 0):
            bad({"pos": "a positive integer", "count": "a non-negative integer", "id": "a token id (integer >= 0)"}[kind])
    elif kind == _HEX64:
        if not (isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdef" for c in value)):
            bad("a sha256 hex digest")
    elif kind == "name":
        # A plain file name: a manifest must never point outside its folder.
        if not (isinstance(value, str) and value and "/" not in value and "\\" not in value and value not in (".", "..")):
            bad("a plain file name")
    elif kind is dict:
        if not isinstance(value, dict):
            bad("an object")
    elif not isinstance(value, kind) or (kind is str and not value):
        bad({str: "a non-empty string", bool: "true or false"}.get(kind, kind.__name__))


def validate_manifest(m: dict, path="manifest.json") -> None:
    """One-line AlbertEdgeError naming the first missing or wrong-typed field."""
    for key, kind in _SHAPE.items():
        if key not in m:
            raise AlbertEdgeError(f"{path}: manifest.{key} is missing")
        _check(m[key], kind, key, path)
    if not m["labels"]:
        raise AlbertEdgeError(f"{path}: labels is empty")
    if "files" not in m:
        raise AlbertEdgeError(f"{path}: manifest.files is missing (made by an older albert-edge? export the folder again)")
    if not isinstance(m["files"], dict):
        raise AlbertEdgeError(f"{path}: files must be an object")
    for name, meta in m["files"].items():
        _check(name, "name", "files key", path)
        _check(meta, _FILE, f"files[{name!r}]", path)
    seen = set()
    for i, e in enumerate(m["artifacts"]):
        _check(e, _ENTRY, f"artifacts[{i}]", path)
        if e["precision"] not in PRECISIONS:
            raise AlbertEdgeError(f"{path}: artifacts[{i}].precision {e['precision']!r} is not one of {', '.join(PRECISIONS)}")
        if not _known(e["format"]):
            raise AlbertEdgeError(f"{path}: artifacts[{i}].format {e['format']!r} is not one of {', '.join(_formats.names())}")
        if e["file"] in seen:
            raise AlbertEdgeError(f"{path}: artifact {e['file']!r} is listed twice")
        seen.add(e["file"])


def save_manifest(folder: str | os.PathLike, manifest: dict) -> None:
    write_text_atomic(Path(folder) / MANIFEST, json.dumps(manifest, indent=2, sort_keys=False) + "\n")


def upsert_artifact(manifest: dict, entry: dict) -> None:
    """Replace the entry for the same file, else append; order: registry format, precision, file name."""
    arts = [a for a in manifest["artifacts"] if a["file"] != entry["file"]]
    arts.append(entry)
    manifest["artifacts"] = sorted(arts, key=_formats.order_key)
    manifest["tools"] = {**manifest.get("tools", {}), **tool_versions()}


def find_artifact(manifest: dict, file: str) -> dict:
    for a in manifest["artifacts"]:
        if a["file"] == file:
            return a
    names = ", ".join(a["file"] for a in manifest["artifacts"]) or "none"
    raise AlbertEdgeError(f"no artifact {file!r} in the manifest (have: {names})")


def check_artifact_file(folder: Path, entry: dict) -> Path:
    """The artifact's path once its size and sha256 match the entry (see integrity.verified_path)."""
    from .integrity import verified_path

    return verified_path(folder, entry)
