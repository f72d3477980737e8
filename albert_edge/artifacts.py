"""Writing to an artifacts folder: one folder per exported checkpoint, one manifest, staged writes.

`export` commands open a folder with `open_output` (creating it, or adding to a folder of the same
checkpoint); `quantize` commands with `update_output`. Both are transactions (albert_edge.staging): the
command writes into a staging folder and the result replaces the old folder in one swap, so a failure or
an interrupt at any point leaves the old folder exactly as it was.

A folder made from a different checkpoint, a non-albert-edge folder, or an existing artifact file is
refused unless --overwrite. With --overwrite and another checkpoint, everything albert-edge put there
(the manifest's artifacts, parity.json, tokenizer, config, weight caches, bench/) is dropped; files
albert-edge did not make are kept.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from . import faults
from .errors import AlbertEdgeError
from .fsutil import sha256_file
from .manifest import MANIFEST, load_manifest, new_manifest, record_files, save_manifest, upsert_artifact
from .staging import Transaction, active, transaction
from .tokenizer import TOKENIZER_FILES, copy_tokenizer_files

PARITY_FILE = "parity.json"
CONFIG_FILE = "config.json"
HF_SPM_FILE = "spiece.hf.model"  # albert_edge.spm_hf: plain SentencePiece runtimes then give HF's ids
REQUIRED_OPS_FILE = "required_operators.config"  # ORT Mobile reduced builds (quantize/onnx_mobile.py)
# What albert-edge itself writes into a folder besides the manifest's artifacts.
SUPPORT_FILES = (MANIFEST, PARITY_FILE, CONFIG_FILE, HF_SPM_FILE, REQUIRED_OPS_FILE, *TOKENIZER_FILES)
MADE_DIRS = ("bench",)


def _made_by_us(name: str, manifest: dict | None) -> bool:
    listed = {a["file"] for a in (manifest or {}).get("artifacts", [])} | set((manifest or {}).get("files", {}))
    return name in listed or name in SUPPORT_FILES or name in MADE_DIRS or name.endswith(".xnnpack_cache")


@dataclass
class Output:
    """An artifacts folder open for writing: write files into `dir`, then `add()` their entries."""

    txn: Transaction
    manifest: dict

    @property
    def dir(self) -> Path:
        return self.txn.dir

    @property
    def target(self) -> Path:
        return self.txn.target

    def add(self, entry: dict) -> None:
        """Record an artifact written into `dir`: manifest entry upserted, its stale parity result dropped."""
        upsert_artifact(self.manifest, entry)
        invalidate_parity(self.dir, entry["file"], entry["sha256"])
        faults.point(f"manifest:{entry['file']}")
        save_manifest(self.dir, self.manifest)


def invalidate_parity(folder: Path, file: str, sha256: str) -> None:
    """parity.json keeps only results for bytes still in the folder."""
    from .fsutil import read_json, write_text_atomic

    path = folder / PARITY_FILE
    if not path.is_file():
        return
    try:
        report = read_json(path)
        arts = report["artifacts"]
    except (AlbertEdgeError, KeyError, TypeError):
        path.unlink()
        return
    kept = [a for a in arts if not (a.get("file") == file and a.get("sha256") != sha256)]
    if len(kept) == len(arts):
        return
    report["artifacts"] = kept
    report["passed"] = bool(kept) and all(a.get("passed") for a in kept)
    report.setdefault("invalidated", []).append(file)
    write_text_atomic(path, json.dumps(report, indent=2) + "\n")


def check_not_model_folder(folder: str | os.PathLike, model_dir: str | os.PathLike) -> None:
    """The output may not be the model folder, inside it, or around it (swapping it would replace the model)."""
    out, model = Path(os.path.abspath(folder)).resolve(), Path(model_dir).resolve()
    if out == model or model in out.parents:
        raise AlbertEdgeError(f"output folder {folder} is the model folder or inside it; choose another folder")
    if out in model.parents:
        raise AlbertEdgeError(f"output folder {folder} contains the model folder {model_dir}; choose another folder")


def _plan(folder: Path, ckpt, max_seq_length: int, overwrite: bool, files: list[str]) -> tuple[dict | None, list[str]]:
    """(manifest to extend or None for a new one, names to drop) for writing `files` of `ckpt` into `folder`."""
    if not folder.is_dir() or not any(folder.iterdir()):
        return None, []
    names = [p.name for p in folder.iterdir()]
    if not (folder / MANIFEST).is_file():
        if not overwrite:
            raise AlbertEdgeError(f"output folder {folder} already exists and is not empty (use --overwrite)")
        return None, []  # --overwrite on a foreign folder: add to it, keep what is there
    try:
        old = load_manifest(folder)
    except AlbertEdgeError:
        if not overwrite:
            raise
        return None, [n for n in names if _made_by_us(n, None)]
    same_source = old["source"]["weights_sha256"] == sha256_file(ckpt.weights_file)
    if same_source and old["max_seq_length"] == max_seq_length:
        clash = [f for f in files if (folder / f).exists()]
        if clash and not overwrite:
            raise AlbertEdgeError(f"{folder / clash[0]} already exists (use --overwrite)")
        return old, []
    if not overwrite:
        why = "a different checkpoint" if not same_source else f"max_seq_length {old['max_seq_length']}"
        raise AlbertEdgeError(f"output folder {folder} holds artifacts of {why} (use --overwrite or another folder)")
    return None, [n for n in names if _made_by_us(n, old)]  # stale artifacts of another checkpoint must not survive


def _drop(folder: Path, names: list[str]) -> None:
    for n in names:
        p = folder / n
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p)
        else:
            p.unlink(missing_ok=True)


def check_length(max_seq_length: int, max_position_embeddings: int) -> None:
    if max_seq_length > max_position_embeddings:
        raise AlbertEdgeError(
            f"--max-length {max_seq_length} exceeds the model's max_position_embeddings ({max_position_embeddings}); "
            f"pass --max-length {max_position_embeddings} or less"
        )


def preflight(folder: str | Path, model_dir: str | Path, max_seq_length: int | None = None, overwrite: bool = False,
              files: list[str] | None = None) -> None:
    """The output checks open_output makes, done before the checkpoint is loaded (seconds for
    ALBERT-base) from what is on disk: the output is not the model folder, the length fits the
    config, and the folder accepts these files. Anything it cannot read here (no folder, no config,
    no weights) is left to load_checkpoint, whose errors say more."""
    from types import SimpleNamespace

    from .checkpoint import find_weights

    model = Path(model_dir)
    if not model.is_dir():
        return
    check_not_model_folder(folder, model)
    if max_seq_length is None:
        return
    try:
        limit = int(json.loads((model / CONFIG_FILE).read_text(encoding="utf-8")).get("max_position_embeddings", 512))
    except (OSError, ValueError, TypeError, AttributeError):
        return
    check_length(max_seq_length, limit)
    if files is not None:
        try:
            light = SimpleNamespace(weights_file=find_weights(model))
        except AlbertEdgeError:
            return
        outer = active(folder)
        _plan(outer.dir if outer else Path(folder), light, max_seq_length, overwrite, files)


@contextlib.contextmanager
def open_output(folder: str | Path, ckpt, max_seq_length: int, overwrite: bool, files: list[str]) -> Iterator[Output]:
    """Open `folder` to receive `files` exported from `ckpt`, as one transaction.

    Conflicts are refused before anything is written. Tokenizer files and config.json are (re)copied so
    the folder is self-contained for `predict` and the Android app, and their digests recorded.
    """
    check_length(max_seq_length, ckpt.config.max_position_embeddings)
    check_not_model_folder(folder, ckpt.model_dir)
    outer = active(folder)
    # Refuse before staging anything (the plan is made again on the staged copy, which is the same state).
    _plan(outer.dir if outer else Path(folder), ckpt, max_seq_length, overwrite, files)
    with transaction(folder) as txn:
        manifest, drop = _plan(txn.dir, ckpt, max_seq_length, overwrite, files)
        _drop(txn.dir, drop)
        tok_files = copy_tokenizer_files(Path(ckpt.model_dir), txn.dir, ckpt.tokenizer)
        shutil.copyfile(Path(ckpt.model_dir) / CONFIG_FILE, txn.dir / CONFIG_FILE)
        if manifest is None:
            manifest = new_manifest(ckpt, tok_files, max_seq_length)
        manifest["tokenizer"]["hf_spm"] = write_hf_spm(txn.dir, ckpt)
        made = [HF_SPM_FILE] if (txn.dir / HF_SPM_FILE).is_file() else []
        record_files(txn.dir, manifest, [*tok_files, CONFIG_FILE, *made])
        save_manifest(txn.dir, manifest)
        yield Output(txn, manifest)


def write_hf_spm(folder: Path, ckpt) -> dict:
    """Write spiece.hf.model (the checkpoint's SentencePiece model with Hugging Face's normalizer and
    scores compiled in; albert_edge/spm_hf.py) into folder, checked on the shipped sample texts; returns
    its facts for the manifest. A tokenizer it cannot reproduce gets {"error": ...} and no file: only the
    formats that tokenize inside the artifact (text-in ONNX, MediaPipe) need it, and they say so."""
    from .data import SAMPLES_TSV, read_labeled_tsv
    from .fsutil import atomic_path
    from .spm_hf import build_hf_spm, check_hf_spm
    from .tokenizer import LEFT_TRUNCATION, truncates_from_left

    path = folder / HF_SPM_FILE
    try:
        if truncates_from_left(ckpt.tokenizer):
            raise AlbertEdgeError(f"the tokenizer {LEFT_TRUNCATION}")
        data, facts = build_hf_spm(ckpt.model_dir, tokenizer=ckpt.tokenizer)
        texts = read_labeled_tsv(SAMPLES_TSV)[0]
        bad = [m for m in check_hf_spm(ckpt.model_dir, data, texts, tokenizer=ckpt.tokenizer) if m.reason is None]
        if bad:
            raise AlbertEdgeError(f"it tokenizes {len(bad)} of {len(texts)} sample texts differently from Hugging Face (first: {bad[0].text[:60]!r})")
    except AlbertEdgeError as e:
        path.unlink(missing_ok=True)
        return {"error": str(e)}
    if not path.is_file() or path.read_bytes() != data:
        with atomic_path(path) as tmp:
            tmp.write_bytes(data)
    return {k: facts[k] for k in ("file", "source", "sha256", "bytes", "rules", "score_changes", "exceptions") if k in facts}


def hf_spm_bytes(folder: Path, manifest: dict, what: str) -> bytes:
    """The folder's spiece.hf.model, checked against the manifest, for `what` (a format that needs it)."""
    from .integrity import verified_path

    facts = manifest["tokenizer"].get("hf_spm") or {}
    if HF_SPM_FILE not in manifest.get("files", {}):
        why = facts.get("error") or "the folder has none (exported by an older albert-edge?)"
        raise AlbertEdgeError(f"{what} needs {HF_SPM_FILE}, an HF-exact SentencePiece model: {why}")
    return verified_path(folder, {"file": HF_SPM_FILE, **manifest["files"][HF_SPM_FILE]}, what="file").read_bytes()


@contextlib.contextmanager
def update_output(folder: str | Path) -> Iterator[Output]:
    """Open an existing artifacts folder to add derived artifacts (quantize), as one transaction."""
    load_manifest(folder)  # one-line errors for a missing/foreign folder before staging
    with transaction(folder) as txn:
        yield Output(txn, load_manifest(txn.dir))
