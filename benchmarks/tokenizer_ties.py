"""Tied segmentations: how many texts get other ids than Hugging Face from SentencePiece runtimes, with
`spiece.hf.model` as built now and as built before the 2^-13 score grid and the normal-typed user-defined
pieces (albert_edge.spm_hf; docs/tokenizer-hf-exact.md, "Tied segmentations"). A correctness
measurement, not a speed one: it writes JSON + Markdown under benchmarks/results/tokenizer/.

    python -m albert_edge.benchmarks.tokenizer_ties [--tokenizer DIR] [--out DIR]

Runtimes: SentencePiece's Python package, and onnxruntime-extensions' SentencepieceTokenizer inside
albert-edge's tokenizer graph (what the text-in ONNX models run). MediaPipe needs an exported model;
its before/after is the `verify` JSON of two pipeline folders, recorded beside this report.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import gzip
import json
import random
import tempfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "android_demo" / "app" / "src" / "test" / "resources" / "golden" / "generated_albert_base_v2.tsv.gz"
# Review-style runs appended to SST-2 sentences (the same list as the verify data below).
BURSTS = ["!!!!", "!!!!!!!", "wow!!!!", "sooooo", "nooooo", "?!?!", "....", "hahahaha", "lol", "zzzzzzzzzzz", "!!!!!!!!!!", "nonono", "yes!!!!"]


def bursts_tsv(dev: Path, out: Path) -> Path:
    """SST-2 dev with one run appended to each sentence (seed 1): the data of the recorded verify runs."""
    from albert_edge.data import read_labeled_tsv

    texts, ys = read_labeled_tsv(dev)
    rng = random.Random(1)
    out.write_text("".join(f"{t} {rng.choice(BURSTS)}\t{y}\n" for t, y in zip(texts, ys)), encoding="utf-8")
    return out


def _reviews(train: list[str], sentences: int, n: int, rng: random.Random) -> list[str]:
    return [" ".join(s + (" " + rng.choice(BURSTS) if rng.random() < 0.5 else "") for s in (rng.choice(train) for _ in range(sentences))) for _ in range(n)]


@contextmanager
def _build_variant(grid_log2: int | None, user_defined_as_normal: bool):
    """spm_hf with another score grid (None: none, as before the tie fix) or with user-defined pieces kept."""
    from albert_edge import spm_hf

    saved = spm_hf._quantize_scores, spm_hf._user_defined_as_normal, spm_hf.SCORE_QUANTUM_LOG2
    if grid_log2 is None:
        spm_hf._quantize_scores = lambda m, scores: None
    else:
        spm_hf.SCORE_QUANTUM_LOG2 = grid_log2
    if not user_defined_as_normal:
        spm_hf._user_defined_as_normal = lambda m: []
    try:
        yield
    finally:
        spm_hf._quantize_scores, spm_hf._user_defined_as_normal, spm_hf.SCORE_QUANTUM_LOG2 = saved


# (name, grid log2, user-defined pieces as normal): the shipped build is "after"; the others are the
# alternatives docs/tokenizer-hf-exact.md compares it with.
BUILDS = (
    ("before", None, False),
    ("grid 2^-13 only", -13, False),
    ("grid 2^-12", -12, True),
    ("grid 2^-14", -14, True),
    ("after", -13, True),
)


def _graph_ids(model: bytes, texts: list[str]) -> list[list[int]]:
    import onnxruntime as ort

    from albert_edge.onnx_text_graph import TEXT_INPUT, build_tokenizer_graph
    from albert_edge.runners import ort_session_options

    g = build_tokenizer_graph(model, 1 << 20, cls_id=2, sep_id=3, pad_id=0)
    sess = ort.InferenceSession(g.SerializeToString(), ort_session_options(custom_ops=True), providers=["CPUExecutionProvider"])
    out: list[list[int]] = []
    for i in range(0, len(texts), 256):
        ids, mask, _ = sess.run(None, {TEXT_INPUT: np.array(texts[i : i + 256], dtype=object)})
        out += [row[m == 1].tolist()[1:-1] for row, m in zip(ids, mask)]
    return out


def measure(tokenizer_dir: Path, sets: dict[str, list[str]]) -> dict:
    import sentencepiece as spm

    from albert_edge import spm_hf
    from albert_edge.tokenizer import load_tokenizer

    tok = load_tokenizer(tokenizer_dir)
    hf = {name: [x[1:-1] for x in tok(v, truncation=False)["input_ids"]] for name, v in sets.items()}
    assert (spm_hf.SCORE_QUANTUM_LOG2, BUILDS[-1]) == (-13, ("after", -13, True)), "the shipped build changed: update BUILDS"
    models = {}
    for name, grid, normal in BUILDS:
        with _build_variant(grid, normal):
            models[name], facts = spm_hf._build_hf_spm(tokenizer_dir, tokenizer=tok)
    rows = []
    for build, model in models.items():
        sp = spm.SentencePieceProcessor(model_proto=model)
        for runtime, encode in (("sentencepiece (Python)", sp.encode), ("onnxruntime-extensions graph", lambda v, m=model: _graph_ids(m, v))):
            for name, v in sets.items():
                got = encode(v)
                bad = [t for t, g, h in zip(v, got, hf[name]) if g != h]
                # What a model with max_seq_length 128 sees: the first 126 pieces.
                seen = sum(1 for g, h in zip(got, hf[name]) if g[:126] != h[:126])
                # No examples from SST-2-derived sets: ../shared's data stays out of the repository.
                examples = [] if name.startswith(("sst2", "reviews")) else bad[:3]
                rows.append({"build": build, "runtime": runtime, "set": name, "texts": len(v), "differ": len(bad), "differ_in_first_126": seen, "examples": examples})
                print(f"{build:6} {runtime:30} {name:28} {len(bad):5} ({seen:5} in the first 126) / {len(v)}", flush=True)
    return {"sha256_after": facts["sha256"], "rows": rows}


def main(argv=None) -> int:
    from albert_edge.data import official_spiece_dir, read_labeled_tsv, sst2_dev, sst2_train
    from albert_edge.testing import tie_texts
    from .machine import host_info

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tokenizer", type=Path, help="tokenizer folder (default: the official albert-base-v2 one in ../shared)")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "tokenizer")
    a = ap.parse_args(argv)
    tokenizer = a.tokenizer or official_spiece_dir()
    dev, train_tsv = sst2_dev(), sst2_train()
    if tokenizer is None or dev is None or train_tsv is None:
        raise SystemExit("needs ../shared (the albert-base-v2 tokenizer and SST-2 train/dev), or --tokenizer and ../shared/data")
    a.out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="albert-edge-ties-"))
    train, _ = read_labeled_tsv(train_tsv)
    rng = random.Random(0)
    with gzip.open(GOLDEN, "rt", encoding="utf-8") as f:
        generated = [t for t in (json.loads(line.split("\t", 1)[0]) for line in f if line.strip()) if t.strip()]
    sets = {
        "sst2-dev + run": read_labeled_tsv(bursts_tsv(dev, tmp / "sst2-dev-with-runs.tsv"))[0],
        "tie_texts()": tie_texts(),
        "reviews, 1 sentence": _reviews(train, 1, 2000, rng),
        "reviews, 3 sentences": _reviews(train, 3, 2000, rng),
        "reviews, 10 sentences": _reviews(train, 10, 400, rng),
        "reviews, 30 sentences": _reviews(train, 30, 400, rng),
        "sst2-train": train,
        "generated strings (golden)": generated,
    }
    result = {"created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"), "tokenizer": str(tokenizer), "host": host_info(), **measure(tokenizer, sets)}
    stem = a.out / f"{_dt.date.today().isoformat()}-tied-segmentations"
    stem.with_suffix(".json").write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    lines = [f"# Tied segmentations ({result['created']})", "", f"Tokenizer: `{tokenizer}`; `spiece.hf.model` after: sha256 `{result['sha256_after']}`.",
             "Texts whose ids differ from Hugging Face's, whole text (in the first 126 pieces, what max_seq_length 128 keeps). The generated strings",
             "include the special-token exception and, for the graph, NUL characters (docs/tokenizer-hf-exact.md).", ""]
    for runtime in ("sentencepiece", "onnxruntime"):
        title = next(r["runtime"] for r in result["rows"] if r["runtime"].startswith(runtime))
        lines += [f"## {title}", "", "| set | texts | " + " | ".join(b[0] for b in BUILDS) + " |", "|---|---|" + "---|" * len(BUILDS)]
        for name, v in sets.items():
            cells = [next(f"{r['differ']} ({r['differ_in_first_126']})" for r in result["rows"] if r["set"] == name and r["build"] == b[0] and r["runtime"] == title) for b in BUILDS]
            lines.append(f"| {name} | {len(v)} | " + " | ".join(cells) + " |")
        lines.append("")
    stem.with_suffix(".md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {stem}.json and .md; the SST-2 dev file with runs (for `verify --data`): {tmp / 'sst2-dev-with-runs.tsv'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
