"""`albert-edge predict`: classify texts with an exported artifact."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from .errors import AlbertEdgeError

HELP = "classify texts with an exported artifact (default: the smallest one that passed parity)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("output", metavar="OUTPUT_DIR", help="artifacts folder (with manifest.json)")
    p.add_argument("texts", metavar="TEXT", nargs="+", help="texts to classify; '-' reads one text per line from stdin")
    p.add_argument("--artifact", metavar="FILE", help="artifact file to use, e.g. model.int8.onnx")
    p.add_argument("--threads", type=int, help="threads for the runtime")
    p.add_argument("--json", action="store_true", help="one JSON object per text (label, probability, probabilities)")


def choose_artifact(folder: Path, manifest: dict, requested: str | None) -> tuple[dict, str]:
    """The requested artifact, else the smallest that passed the last full `verify`; returns (entry, why)."""
    from .manifest import find_artifact
    from .parity import PARITY_FILE

    if requested:
        return find_artifact(manifest, requested), "requested"
    if not manifest["artifacts"]:
        raise AlbertEdgeError(f"{folder} has no artifacts; run `albert-edge export onnx` first")
    parity_path = folder / PARITY_FILE
    if parity_path.is_file():
        try:
            report = json.loads(parity_path.read_text(encoding="utf-8"))
            # Only results for the exact bytes in the folder count.
            passed = {(a["file"], a["sha256"]) for a in report.get("artifacts", []) if a.get("passed")}
        except (json.JSONDecodeError, KeyError, TypeError):
            passed = set()
        ok = [a for a in manifest["artifacts"] if (a["file"], a["sha256"]) in passed]
        if ok:
            return min(ok, key=lambda a: a["bytes"]), "smallest artifact that passed parity"
        raise AlbertEdgeError(f"no artifact in {folder} passed the last `albert-edge verify`; pass --artifact to use one anyway")
    best = min(manifest["artifacts"], key=lambda a: a["bytes"])
    return best, "smallest artifact (not verified yet: run `albert-edge verify`)"


def read_texts(args_texts: list[str]) -> list[str]:
    texts: list[str] = []
    for t in args_texts:
        if t == "-":
            texts.extend(line.rstrip("\n") for line in sys.stdin if line.strip())
        else:
            texts.append(t)
    if not texts:
        raise AlbertEdgeError("no text to classify")
    if any(not t.strip() for t in texts):
        raise AlbertEdgeError("empty text given")
    return texts


def softmax(x: np.ndarray) -> np.ndarray:
    z = x - x.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def predict(folder, texts: list[str], artifact: str | None = None, threads: int | None = None) -> tuple[dict, str, list[dict]]:
    from .manifest import load_manifest
    from .runners import open_runner
    from .tokenizer import TextEncoder, load_tokenizer

    folder = Path(folder)
    manifest = load_manifest(folder)
    entry, why = choose_artifact(folder, manifest, artifact)
    runner = open_runner(folder, entry, manifest, threads=threads)
    enc = TextEncoder(load_tokenizer(folder), manifest["max_seq_length"])
    probs = softmax(runner.run_batched(enc.encode(texts)).astype(np.float64))
    labels = manifest["labels"]
    out = []
    for t, p in zip(texts, probs):
        k = int(p.argmax())
        out.append({"text": t, "label": labels[k], "probability": float(p[k]), "probabilities": {lab: float(v) for lab, v in zip(labels, p)}})
    return entry, why, out


def run(args) -> int:
    texts = read_texts(args.texts)
    entry, why, results = predict(args.output, texts, args.artifact, args.threads)
    if args.json:
        for r in results:
            print(json.dumps({**r, "artifact": entry["file"]}, ensure_ascii=False))
        return 0
    print(f"artifact: {entry['file']} ({why})", file=sys.stderr)
    width = max(len(r["label"]) for r in results)
    for r in results:
        print(f"{r['label']:<{width}}  {r['probability']:.3f}  {r['text']}")
    return 0
