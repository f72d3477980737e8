"""`albert-edge verify`: the cross-format parity gate (CI runs it).

Every artifact in the manifest is compared with the PyTorch reference on the same tokenized inputs:
max/mean |Δlogit|, label agreement, accuracy and accuracy drop, against thresholds per precision.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from . import formats
from .artifacts import PARITY_FILE
from .errors import AlbertEdgeError, ParityError
from .options import MAX_THREADS, fraction, fraction_or_zero, positive_float, positive_int
from .options import threads as threads_type

HELP = "check every artifact against the PyTorch reference on labeled data (the parity gate)"


@dataclass
class Thresholds:
    fp32_max_abs: float = 1e-4
    fp16_max_abs: float = 1e-2
    int8_min_agreement: float = 0.995
    int8_max_accuracy_drop: float = 0.005  # as a fraction: 0.005 = 0.5 points
    fp32_min_agreement: float = 0.999  # labels of an fp32 artifact (implied by max |Δ| for logits; checked for probabilities)
    probability_sum_tolerance: float = 1e-4  # artifacts that output probabilities: each row sums to 1 within this

    def check(self, precision: str, r: dict) -> list[str]:
        fails = []
        what = "max |Δp|" if r.get("scores") == "probabilities" else "max |Δlogit|"
        if precision == "fp32":
            if not r["max_abs_diff"] <= self.fp32_max_abs:
                fails.append(f"{what} {r['max_abs_diff']:.2e} > {self.fp32_max_abs:.0e}")
            if "agreement" in r and not r["agreement"] >= self.fp32_min_agreement:
                fails.append(f"label agreement {100 * r['agreement']:.2f}% < {100 * self.fp32_min_agreement:.1f}%")
        elif precision == "fp16" and not r["max_abs_diff"] <= self.fp16_max_abs:
            fails.append(f"{what} {r['max_abs_diff']:.2e} > {self.fp16_max_abs:.0e}")
        elif precision == "int8":
            if not r["agreement"] >= self.int8_min_agreement:
                fails.append(f"label agreement {100 * r['agreement']:.2f}% < {100 * self.int8_min_agreement:.2f}%")
            if not r["accuracy_drop"] <= self.int8_max_accuracy_drop + 1e-12:
                fails.append(f"accuracy drop {100 * r['accuracy_drop']:.2f} pt > {100 * self.int8_max_accuracy_drop:.2f} pt")
        if "max_sum_error" in r and not r["max_sum_error"] <= self.probability_sum_tolerance:
            fails.append(f"scores sum to 1 ± {r['max_sum_error']:.1e} (> {self.probability_sum_tolerance:g}): not probabilities")
        return fails


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("output", metavar="OUTPUT_DIR", help="artifacts folder (with manifest.json)")
    p.add_argument("--data", metavar="FILE.tsv", help="labeled sentences (sentence<TAB>label); default: SST-2 dev from ../shared, else the shipped samples")
    p.add_argument("--model", metavar="MODEL_DIR", help="PyTorch reference checkpoint (default: the manifest's source folder)")
    p.add_argument("--artifacts", metavar="FILES", help="comma-separated artifact files to check (default: all in the manifest)")
    p.add_argument("--limit", type=positive_int, metavar="N", help="use only the first N rows (N >= 1)")
    p.add_argument("--threads", type=threads_type, metavar="N", help=f"threads per runtime, 1..{MAX_THREADS} (default: runtime default)")
    add_threshold_arguments(p)
    p.add_argument("--json", action="store_true", help="print the report as JSON instead of a table")
    p.add_argument("--quiet", action="store_true")


def add_threshold_arguments(p: argparse.ArgumentParser) -> None:
    t = Thresholds()
    g = p.add_argument_group("parity thresholds")
    g.add_argument("--fp32-max-abs", type=positive_float, default=t.fp32_max_abs, help="fp32 max |Δlogit| (default %(default)g)")
    g.add_argument("--fp16-max-abs", type=positive_float, default=t.fp16_max_abs, help="fp16 max |Δlogit| (default %(default)g)")
    g.add_argument("--int8-min-agreement", type=fraction, default=t.int8_min_agreement, help="int8 label agreement as a fraction in (0, 1] (default %(default)g = 99.5 %%)")
    g.add_argument("--int8-max-accuracy-drop", type=fraction_or_zero, default=t.int8_max_accuracy_drop, help="int8 accuracy drop as a fraction in [0, 1] (default %(default)g = 0.5 pt)")


def thresholds_from_args(args) -> Thresholds:
    return Thresholds(args.fp32_max_abs, args.fp16_max_abs, args.int8_min_agreement, args.int8_max_accuracy_drop)


def run(args) -> int:
    thresholds = thresholds_from_args(args)
    files = [f.strip() for f in args.artifacts.split(",") if f.strip()] if args.artifacts else None
    report = verify(args.output, data=args.data, model_dir=args.model, thresholds=thresholds, files=files, limit=args.limit, threads=args.threads, quiet=args.quiet)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(format_table(report))
    if not report["passed"]:
        failed = [f"{a['file']} ({'; '.join(a['failures'])})" for a in report["artifacts"] if not a["passed"]]
        raise ParityError("parity failed: " + ", ".join(failed))
    return 0


def softmax(x: np.ndarray) -> np.ndarray:
    z = np.asarray(x, dtype=np.float64)
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def compare(ref_logits: np.ndarray, scores: np.ndarray, labels: np.ndarray, probabilities: bool = False) -> dict:
    """Scores of an artifact against the reference logits. probabilities=True: the artifact outputs
    probabilities, compared with softmax(reference); max_sum_error = max |row sum - 1|."""
    s = np.asarray(scores, dtype=np.float64)
    ref = softmax(ref_logits) if probabilities else np.asarray(ref_logits, dtype=np.float64)
    diff = np.abs(s - ref)
    ref_pred, pred = np.asarray(ref_logits).argmax(-1), s.argmax(-1)
    ref_acc = float((ref_pred == labels).mean())
    acc = float((pred == labels).mean())
    out = {
        "max_abs_diff": float(diff.max()),
        "mean_abs_diff": float(diff.mean()),
        "agreement": float((pred == ref_pred).mean()),
        "disagreements": int((pred != ref_pred).sum()),
        "accuracy": acc,
        "accuracy_drop": ref_acc - acc,
    }
    if probabilities:
        out["scores"] = "probabilities"
        out["max_sum_error"] = float(np.abs(s.sum(-1) - 1).max())
    if ref.shape[-1] >= 2:
        out["margins"] = margins(np.asarray(ref_logits, dtype=np.float64), s, pred != ref_pred, probabilities)
    return out


def margins(ref_logits: np.ndarray, scores: np.ndarray, flipped: np.ndarray, probabilities: bool) -> dict:
    """How close the reference's decisions are, and how far the artifact moved them (logit units).

    margin = the reference's top logit minus its runner-up; the artifact's margin is taken on the same
    two classes (log p1 - log p2 for an artifact that outputs probabilities: the same quantity). A
    failed label agreement reads differently when the artifact's error is as large as the model's
    typical margin (most decisions within the noise) than when a few confident decisions flipped."""
    top = np.argsort(ref_logits, axis=-1, kind="stable")[:, ::-1][:, :2]
    rows = np.arange(len(ref_logits))
    ref_margin = ref_logits[rows, top[:, 0]] - ref_logits[rows, top[:, 1]]
    art = np.log(np.clip(scores, 1e-30, None)) if probabilities else scores
    err = np.abs(art[rows, top[:, 0]] - art[rows, top[:, 1]] - ref_margin)
    out = {"median": float(np.median(ref_margin)), "error_p95": float(np.percentile(err, 95))}
    if flipped.any():
        i = int(np.flatnonzero(flipped)[np.argmax(ref_margin[flipped])])
        out["flipped_max"], out["flipped_max_sentence"] = float(ref_margin[i]), i + 1
    return out


def diagnose(r: dict, fp32_passed: list[str] | None = None) -> str | None:
    """One line on a failed label agreement, from compare()'s margins; None if none failed.
    fp32_passed: the fp32 files that passed in the same run (they tell the model's sensitivity to int8
    noise apart from a broken file); None when unknown."""
    m = r.get("margins") or {}
    if "flipped_max" not in m or not any(f.startswith("label agreement") for f in r.get("failures", [])):
        return None
    facts = (f"the reference's margins (top logit - runner-up) have median {m['median']:.3g}; this file moved 95% of them by "
             f"≤ {m['error_p95']:.3g}; the flipped sentences' margins were ≤ {m['flipped_max']:.3g} (sentence {m['flipped_max_sentence']} of the data)")
    if m["error_p95"] >= m["median"]:
        hint = ""
        if r["precision"] == "int8" and fp32_passed:
            hint = f" {', '.join(fp32_passed)} passed: the model's decisions hinge on differences below int8 noise; ship fp32 for it."
        elif r["precision"] == "int8":
            hint = " If the fp32 file passes, the model's decisions hinge on differences below int8 noise: ship fp32 for it."
        return f"{facts}: its error is as large as this model's typical margin, so many decisions fall within it.{hint}"
    if m["flipped_max"] > m["error_p95"]:
        return f"{facts}: decisions made with more room than 95% of the error flipped; look at those inputs and at the file"
    return f"{facts}: the flips are the data's decisions that sit within this file's error"


def verify(folder, data=None, model_dir=None, thresholds: Thresholds | None = None, files=None, limit=None, threads=None, quiet=False) -> dict:
    from .checkpoint import load_checkpoint
    from .data import default_eval_data, read_labeled_tsv
    from .fsutil import sha256_file, write_text_atomic
    from .manifest import find_artifact, load_manifest
    from .progress import bar, step
    from .runners import TorchRunner, make_runner, open_runner, tokenizer_ids
    from .tokenizer import artifact_encoder

    thresholds = thresholds or Thresholds()
    folder = Path(folder)
    manifest = load_manifest(folder)
    entries = [find_artifact(manifest, f) for f in files] if files else list(manifest["artifacts"])
    if not entries:
        raise AlbertEdgeError(f"{folder} has no artifacts to verify")
    if data is None:
        data, data_desc = default_eval_data()
        if not quiet:
            print(f"data: {data_desc}", file=sys.stderr)
    texts, ys = read_labeled_tsv(data, manifest["labels"], limit=limit)
    model_dir = Path(model_dir or manifest["source"]["model_dir"])
    with step(f"loading the PyTorch reference from {model_dir}", quiet):
        ckpt = load_checkpoint(model_dir, with_tokenizer=False)
    if sha256_file(ckpt.weights_file) != manifest["source"]["weights_sha256"]:
        raise AlbertEdgeError(f"{ckpt.weights_file} is not the checkpoint these artifacts were exported from (sha256 differs)")
    enc = artifact_encoder(folder, manifest)
    ids = enc.encode(texts)
    labels = np.asarray(ys)
    ref_runner = TorchRunner(ckpt.model, pad_id=manifest["tokenizer"]["pad_id"], threads=threads)
    refs: dict[int, tuple[list, np.ndarray]] = {}

    def reference(length: int):
        """(ids, PyTorch logits) at an artifact's sequence length (a MediaPipe file may serve fewer tokens)."""
        if length not in refs:
            ids_l = ids if length == manifest["max_seq_length"] else enc.encode(texts, max_length=length)
            with bar(len(ids_l), f"pytorch reference ({length} tokens)", "sent", lines=not quiet) as pb:
                refs[length] = (ids_l, ref_runner.run_batched(ids_l, progress=pb))
        return refs[length]

    ref = reference(manifest["max_seq_length"])[1]
    ref_acc = float((ref.argmax(-1) == labels).mean())
    results = []
    scores_by_file: dict[str, np.ndarray] = {}
    for e in entries:
        fmt = formats.get(e["format"])
        length = int(e.get("max_length") or manifest["max_seq_length"])
        ids_l, ref_l = reference(length)
        runner = open_runner(folder, e, manifest, threads=threads)
        with bar(len(ids_l), e["file"], "sent", lines=not quiet) as pb:
            scores = runner.scores(texts, ids_l, progress=pb)
        r = _result(e, runner, compare(ref_l, scores, labels, probabilities=fmt.outputs == "probabilities"), thresholds)
        _check_tokenizer(runner, texts, ids_l, r)
        _check_equivalent(e, scores, scores_by_file, r)
        r["passed"] = not r["failures"]
        results.append(r)
        scores_by_file[e["file"]] = scores
        del runner
        for other in fmt.also_runs_as:  # the same bytes through another format's runner (MediaPipe file in LiteRT)
            alt = make_runner(other, folder / e["file"], e["precision"], tokenizer_ids(manifest), threads=threads, entry=e, weight_cache=False)
            alt.sha256 = e["sha256"]
            with bar(len(ids_l), f"{e['file']} ({other})", "sent", lines=not quiet) as pb:
                alt_scores = alt.scores(texts, ids_l, progress=pb)
            ra = _result(e, alt, compare(ref_l, alt_scores, labels, probabilities=fmt.outputs == "probabilities"), thresholds)
            ra["runner_format"] = other
            ra["passed"] = not ra["failures"]
            results.append(ra)
            del alt
    passed = [(r["file"], r["format"]) for r in results if r["precision"] == "fp32" and r["passed"]]
    for r in results:
        # The fp32 files of the same format if any passed (same runtime), else every fp32 file that did.
        same = [f for f, fmt in passed if fmt == r["format"]]
        if d := diagnose(r, list(dict.fromkeys(same or [f for f, _ in passed]))):
            r["diagnosis"] = d
    report = {
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "data": str(data),
        "sentences": len(texts),
        "truncated": sum(1 for n in enc.untruncated_lengths(texts) if n > manifest["max_seq_length"]),
        "max_seq_length": manifest["max_seq_length"],
        "reference": {"model_dir": str(model_dir), "accuracy": ref_acc},
        "thresholds": asdict(thresholds),
        "artifacts": results,
        "passed": all(r["passed"] for r in results),
    }
    if files is None:  # only a full run is the folder's parity record
        write_text_atomic(folder / PARITY_FILE, json.dumps(report, indent=2) + "\n")
    return report


def _result(e: dict, runner, cmp: dict, thresholds: Thresholds) -> dict:
    # The digest of the bytes that ran (open_runner checked them against the manifest).
    r = {"file": e["file"], "format": e["format"], "precision": e["precision"], "bytes": e["bytes"], "sha256": runner.sha256}
    r.update(cmp)
    r["runtime"] = runner.info()
    # How the scores were batched: a file whose int8 activation scales span the whole batch is scored one
    # text per call (runners.dynamic_activation_scales), as an app runs it.
    from .runners import SCORE_BATCH

    r["batch"] = SCORE_BATCH if runner.batch_invariant else 1
    r["failures"] = thresholds.check(e["precision"], r)
    return r


def _check_tokenizer(runner, texts: list[str], ids: list[list[int]], r: dict) -> None:
    """An artifact that tokenizes by itself must give Hugging Face's ids, where its runtime shows them."""
    got = runner.token_ids(texts)
    if got is None:
        return
    bad = [i for i, (a, b) in enumerate(zip(got, ids)) if list(a) != list(b)]
    r["token_id_mismatches"] = len(bad)
    if bad:
        r["failures"].append(f"{len(bad)} of {len(texts)} texts tokenized differently from Hugging Face (first: {texts[bad[0]][:40]!r})")


def _check_equivalent(e: dict, scores: np.ndarray, scores_by_file: dict, r: dict) -> None:
    """A re-packaging of another artifact (tokenizer in the graph, ORT format) must give its scores."""
    v = formats.variant_of(e)
    if v is None or not v.equivalent or not v.derived_from:
        return
    base = scores_by_file.get(v.derived_from)
    if base is None:
        r["vs_derived_from"] = {"file": v.derived_from, "max_abs_diff": None, "note": "not verified in this run"}
        return
    d = float(np.abs(np.asarray(scores, np.float64) - np.asarray(base, np.float64)).max())
    r["vs_derived_from"] = {"file": v.derived_from, "max_abs_diff": d, "tolerance": formats.EQUIVALENT_MAX_ABS}
    if not d <= formats.EQUIVALENT_MAX_ABS:
        r["failures"].append(f"differs from {v.derived_from} by {d:.1e} (> {formats.EQUIVALENT_MAX_ABS:g}); it should be the same network")


def _same_note(a: dict) -> str:
    v = a.get("vs_derived_from") or {}
    note = f" (= {v['file']}, Δ {v['max_abs_diff']:.0e})" if v.get("max_abs_diff") is not None else ""
    if "token_id_mismatches" in a and not a["token_id_mismatches"]:
        note += " (ids = HF)"
    return note


def format_table(report: dict) -> str:
    rows = [("artifact", "sha256", "size MB", "max|Δ|", "mean|Δ|", "agree", "acc", "Δacc pt", "result")]
    rows.append(("pytorch (reference)", "", "", "", "", "", f"{100 * report['reference']['accuracy']:.2f}%", "", ""))
    for a in report["artifacts"]:
        rows.append(
            (
                a["file"] + (f" ({a['runner_format']} runner)" if a.get("runner_format") else ""),
                a["sha256"][:12],
                f"{a['bytes'] / 1e6:.2f}",
                f"{a['max_abs_diff']:.2e}",
                f"{a['mean_abs_diff']:.2e}",
                f"{100 * a['agreement']:.2f}%",
                f"{100 * a['accuracy']:.2f}%",
                f"{-100 * a['accuracy_drop'] + 0.0:+.2f}",
                ("PASS" if a["passed"] else "FAIL: " + "; ".join(a["failures"])) + _same_note(a),
            )
        )
    from .table import render

    notes = [f"{a['file']}: {a['diagnosis']}" for a in report["artifacts"] if a.get("diagnosis")]
    header = f"parity on {report['sentences']} sentences from {report['data']} (max {report['max_seq_length']} tokens)"
    return "\n".join([header] + render(rows) + ([""] + notes if notes else []))
