"""`albert-edge predict`: classify texts with an exported artifact."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from .errors import AlbertEdgeError
from .options import MAX_THREADS
from .options import threads as threads_type

HELP = "classify texts with an exported artifact (default: the smallest one that passed parity)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("output", metavar="OUTPUT_DIR", help="artifacts folder (with manifest.json)")
    p.add_argument("texts", metavar="TEXT", nargs="+", help="texts to classify; '-' reads one text per line from stdin")
    p.add_argument("--artifact", metavar="FILE", help="artifact file to use, e.g. model.int8.onnx")
    p.add_argument("--threads", type=threads_type, metavar="N", help=f"threads for the runtime, 1..{MAX_THREADS}")
    p.add_argument("--json", action="store_true", help="one JSON object per text (label, probability, probabilities)")


def choose_artifact(folder: Path, manifest: dict, requested: str | None) -> tuple[dict, str]:
    """The requested artifact, else the smallest that passed the last full `verify`; returns (entry, why)."""
    from .manifest import find_artifact
    from .artifacts import PARITY_FILE

    if requested:
        return find_artifact(manifest, requested), "requested"
    if not manifest["artifacts"]:
        raise AlbertEdgeError(f"{folder} has no artifacts; run `albert-edge export FORMAT --model MODEL_DIR {folder}` first")
    parity_path = folder / PARITY_FILE
    if parity_path.is_file():
        try:
            report = json.loads(parity_path.read_text(encoding="utf-8"))
            # Only results for the exact bytes in the folder count (open_runner then re-checks the bytes).
            rows = report.get("artifacts", [])
            failed = {(a["file"], a["sha256"]) for a in rows if not a.get("passed")}  # any runner row of the file
            passed = {(a["file"], a["sha256"]) for a in rows if a.get("passed")} - failed
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, AttributeError):
            passed = set()
        ok = [a for a in manifest["artifacts"] if (a["file"], a["sha256"]) in passed]
        if ok:
            best = min(ok, key=lambda a: a["bytes"])
            n = report.get("sentences")
            on = f" on {n} sentence{'' if n == 1 else 's'}" if n else ""
            return best, f"smallest artifact that passed parity{on}, sha256 {best['sha256'][:12]}"
        raise AlbertEdgeError(f"no artifact in {folder} passed the last `albert-edge verify`; pass --artifact to use one anyway")
    best = min(manifest["artifacts"], key=lambda a: a["bytes"])
    return best, "smallest artifact (not verified yet: run `albert-edge verify`)"


def read_texts(args_texts: list[str], stdin=None) -> list[str]:
    """Texts from the arguments, '-' = one text per line of stdin. Bytes that are not UTF-8 are an
    error naming the argument or line (argv arrives surrogate-escaped, stdin is read as bytes)."""
    texts: list[str] = []
    for k, t in enumerate(args_texts, start=1):
        if t == "-":
            texts.extend(_stdin_lines(stdin if stdin is not None else sys.stdin))
            continue
        try:
            t.encode("utf-8")
        except UnicodeEncodeError:
            raise AlbertEdgeError(f"text argument {k} is not valid UTF-8") from None
        if not t.strip():
            raise AlbertEdgeError(f"text argument {k} is empty")
        texts.append(t)
    if not texts:
        raise AlbertEdgeError("no text to classify (stdin was empty)" if "-" in args_texts else "no text to classify")
    return texts


def _stdin_lines(stream) -> list[str]:
    if stream is None or getattr(stream, "closed", False):
        raise AlbertEdgeError("'-' reads texts from stdin, but stdin is closed")
    raw = getattr(stream, "buffer", None)
    try:
        data = raw.read() if raw is not None else stream.read().encode("utf-8", "surrogateescape")
    except (OSError, ValueError) as e:
        raise AlbertEdgeError(f"cannot read stdin ({getattr(e, 'strerror', None) or e})") from None
    out = []
    for lineno, line in enumerate(data.splitlines(), start=1):
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError:
            raise AlbertEdgeError(f"stdin line {lineno} is not valid UTF-8") from None
        if text.strip():
            out.append(text)
    return out


# The text-in runtimes (onnxruntime-extensions' custom ops, MediaPipe's tokenizer) take each string as a
# C string and stop at its first U+0000, where Hugging Face maps the NUL to <unk> and reads on
# (measured: "a\x00b good film" scores exactly as "a" in both). U+E000, a private-use character that is
# in no ALBERT vocabulary, gives SentencePiece the same <unk> as Hugging Face's NUL.
NUL_WARNING = (
    "warning: text {k} holds U+0000 (NUL): {file} reads a text only up to its first NUL, where Hugging Face "
    "reads on (NUL -> <unk>); an app should replace U+0000 with U+E000 first"
)


def nul_warnings(texts: list[str], runner_inputs: str, file: str) -> list[str]:
    """One warning per text a text-in artifact will cut at a NUL (id-input artifacts tokenize in Python)."""
    if runner_inputs != "text":
        return []
    return [NUL_WARNING.format(k=k, file=file) for k, t in enumerate(texts, start=1) if "\x00" in t]


def predict(folder, texts: list[str], artifact: str | None = None, threads: int | None = None) -> tuple[dict, str, list[dict]]:
    from .manifest import load_manifest
    from .parity import softmax
    from .runners import open_runner
    from .tokenizer import artifact_encoder

    folder = Path(folder)
    manifest = load_manifest(folder)
    entry, why = choose_artifact(folder, manifest, artifact)
    runner = open_runner(folder, entry, manifest, threads=threads)
    for w in nul_warnings(texts, runner.inputs, entry["file"]):
        print(w, file=sys.stderr)
    enc = artifact_encoder(folder, manifest)
    ids = enc.encode(texts, max_length=int(entry.get("max_length") or manifest["max_seq_length"]))
    scores = runner.scores(texts, ids).astype(np.float64)
    probs = scores if runner.outputs == "probabilities" else softmax(scores)
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
