"""`albert-edge train`: a tiny real run through the CLI, the saved folder, and bad-input handling."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from albert_edge.cli import main
from albert_edge.data import SAMPLES_TSV, read_labeled_tsv, sst2_train
from albert_edge.testing import tokenizer_source

N_ROWS = 300
TINY = ["--embedding-size", "16", "--hidden-size", "32", "--layers", "2", "--heads", "2", "--intermediate-size", "64",
        "--dropout", "0", "--batch-size", "16", "--max-length", "48", "--threads", "1", "--quiet"]


@pytest.fixture(scope="module")
def tok_dir(tmp_path_factory) -> Path:
    return tokenizer_source(tmp_path_factory.mktemp("spm"))


@pytest.fixture(scope="module")
def rows(tmp_path_factory) -> Path:
    """A few hundred labeled rows: SST-2 train when ../shared has it, else the shipped samples."""
    src = sst2_train() or SAMPLES_TSV
    texts, ys = read_labeled_tsv(src, limit=N_ROWS)
    path = tmp_path_factory.mktemp("data") / "rows.tsv"
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, delimiter="\t", quoting=csv.QUOTE_NONE, escapechar=None, quotechar=None, lineterminator="\n")
        w.writerow(["sentence", "label"])
        w.writerows(zip(texts, ys))
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory, rows, tok_dir) -> Path:
    out = tmp_path_factory.mktemp("train") / "model"
    # dev = the training rows themselves: the question is whether the loop learns at all.
    rc = main(["train", "--output", str(out), "--train", str(rows), "--dev", str(rows), "--tokenizer", str(tok_dir),
               "--epochs", "12", "--lr", "3e-3", "--warmup", "0.1", "--seed", "1", *TINY])
    assert rc == 0
    return out


def _accuracy(model_dir: Path, data: Path) -> tuple[float, list[str]]:
    """Accuracy recomputed independently of the training loop (the path verify/predict use)."""
    import numpy as np

    from albert_edge.checkpoint import load_checkpoint
    from albert_edge.runners import TorchRunner
    from albert_edge.tokenizer import TextEncoder

    ckpt = load_checkpoint(model_dir)
    texts, ys = read_labeled_tsv(data, ckpt.labels)
    ids = TextEncoder(ckpt.tokenizer, 48).encode(texts)
    logits = TorchRunner(ckpt.model, pad_id=ckpt.tokenizer.pad_token_id, threads=1).run_batched(ids)
    return float(np.mean(logits.argmax(-1) == np.array(ys))), ckpt.labels


def test_learns_above_chance_and_saves_a_loadable_folder(trained, rows):
    rec = json.loads((trained / "training.json").read_text())
    _, ys = read_labeled_tsv(rows)
    majority = max(sum(ys), len(ys) - sum(ys)) / len(ys)
    acc, labels = _accuracy(trained, rows)
    assert labels == ["negative", "positive"]
    # A loop that does not learn stays at the majority rate; memorising 300 rows is easy for a working one.
    assert acc >= max(0.85, majority + 0.2), (acc, majority, rec["epochs"])
    # The record's number is the one an independent evaluation of the saved folder gets.
    assert abs(acc - rec["dev_accuracy"]) <= 1.0 / len(ys)
    assert rec["best_epoch"] == max(rec["epochs"], key=lambda e: e["dev_accuracy"])["epoch"]
    assert len(rec["epochs"]) == 12 and rec["seed"] == 1 and rec["command"].startswith("albert-edge train ")


def test_saved_folder_is_a_normal_hf_albert_folder(trained):
    cfg = json.loads((trained / "config.json").read_text())
    assert cfg["model_type"] == "albert"
    assert cfg["id2label"] == {"0": "negative", "1": "positive"}
    assert cfg["label2id"] == {"negative": 0, "positive": 1}
    assert cfg["num_hidden_groups"] == 1 and cfg["num_hidden_layers"] == 2
    assert cfg["embedding_size"] == 16 and cfg["hidden_size"] == 32
    for name in ("model.safetensors", "spiece.model", "tokenizer.json", "tokenizer_config.json",
                 "special_tokens_map.json", "training.json"):
        assert (trained / name).is_file(), name
    # Cross-layer sharing: exactly one layer's weights are stored, however many applications.
    from safetensors import safe_open

    with safe_open(str(trained / "model.safetensors"), "pt") as f:
        layer_keys = {k.split(".albert_layers.")[0] for k in f.keys() if ".albert_layers." in k}
    assert layer_keys == {"albert.encoder.albert_layer_groups.0"}
    assert not list(trained.parent.glob(".model.*")), "staging folder left behind"


def test_same_seed_same_model(tmp_path, rows, tok_dir):
    from safetensors.torch import load_file

    outs = []
    for name in ("a", "b"):
        out = tmp_path / name
        assert main(["train", "--output", str(out), "--train", str(rows), "--dev", str(rows), "--tokenizer", str(tok_dir),
                     "--epochs", "1", "--limit", "64", "--seed", "7", *TINY]) == 0
        outs.append(load_file(str(out / "model.safetensors")))
    assert outs[0].keys() == outs[1].keys()
    assert all((outs[0][k] == outs[1][k]).all() for k in outs[0])


def _run_err(capsys, argv) -> tuple[int, str]:
    rc = main(argv)
    err = capsys.readouterr().err.strip()
    return rc, err


def test_missing_train_file(tmp_path, tok_dir, capsys):
    rc, err = _run_err(capsys, ["train", "--output", str(tmp_path / "m"), "--train", str(tmp_path / "nope.tsv"),
                                "--tokenizer", str(tok_dir), *TINY])
    assert rc != 0 and len(err.splitlines()) == 1 and "nope.tsv" in err and "does not exist" in err
    assert not (tmp_path / "m").exists()


def test_malformed_tsv(tmp_path, tok_dir, capsys):
    bad = tmp_path / "bad.tsv"
    bad.write_text("sentence\tlabel\na fine film\t1\nno label column here\n", encoding="utf-8")
    rc, err = _run_err(capsys, ["train", "--output", str(tmp_path / "m"), "--train", str(bad), "--tokenizer", str(tok_dir), *TINY])
    assert rc != 0 and len(err.splitlines()) == 1 and "bad.tsv:3" in err
    assert not (tmp_path / "m").exists()
    bad.write_text("sentence\tlabel\na fine film\tmaybe\n", encoding="utf-8")
    rc, err = _run_err(capsys, ["train", "--output", str(tmp_path / "m"), "--train", str(bad), "--tokenizer", str(tok_dir), *TINY])
    assert rc != 0 and len(err.splitlines()) == 1 and "'maybe'" in err


def test_existing_output_needs_overwrite(tmp_path, rows, tok_dir, capsys):
    out = tmp_path / "m"
    out.mkdir()
    (out / "keep.txt").write_text("precious")
    rc, err = _run_err(capsys, ["train", "--output", str(out), "--train", str(rows), "--tokenizer", str(tok_dir), *TINY])
    assert rc != 0 and len(err.splitlines()) == 1 and "--overwrite" in err
    assert (out / "keep.txt").read_text() == "precious"
    assert [p.name for p in tmp_path.iterdir()] == ["m"]  # no staging folder left


def test_bad_shape_is_one_line(tmp_path, rows, tok_dir, capsys):
    rc, err = _run_err(capsys, ["train", "--output", str(tmp_path / "m"), "--train", str(rows), "--tokenizer", str(tok_dir),
                                *TINY, "--hidden-size", "30", "--heads", "4"])
    assert rc != 0 and len(err.splitlines()) == 1 and "divisible" in err


def test_progressive_stages_train_the_shared_layer_shallow_then_deep(tmp_path, rows, tok_dir, monkeypatch):
    """--stages runs each stage at its own depth (the encoder really loops that often), evaluates it there,
    and saves the full-depth model whose recorded accuracy an independent evaluation reproduces."""
    import albert_edge.train as T

    depths = []
    real = T._train_epoch

    def spy(model, *a, **kw):
        depths.append(model.config.num_hidden_layers)
        calls = []
        layer = model.albert.encoder.albert_layer_groups[0].albert_layers[0]
        h = layer.register_forward_hook(lambda *_: calls.append(1))
        try:
            return real(model, *a, **kw)
        finally:
            h.remove()
            depths.append(len(calls))

    monkeypatch.setattr(T, "_train_epoch", spy)
    out = tmp_path / "m"
    tiny = [x for x in TINY]
    tiny[tiny.index("--layers") + 1] = "4"
    rc = main(["train", "--output", str(out), "--train", str(rows), "--dev", str(rows), "--tokenizer", str(tok_dir),
               "--stages", "1:8:3e-3,4:4:1e-3", "--warmup", "0.1", "--seed", "1", *tiny])
    assert rc == 0
    rec = json.loads((out / "training.json").read_text())
    # (depth during the stage, layer calls over the stage): stage 1 ran the layer once per batch, stage 2 four times.
    steps = [s["steps"] for s in rec["epochs"]]
    assert depths == [1, steps[0], 4, 4 * steps[1]], (depths, steps)
    assert [s["applications"] for s in rec["epochs"]] == [1, 4]
    assert rec["hyperparameters"]["stages"] == [{"applications": 1, "epochs": 8.0, "lr": 3e-3}, {"applications": 4, "epochs": 4.0, "lr": 1e-3}]
    assert "--stages 1:8:0.003,4:4:0.001" in rec["command"] and "--epochs" not in rec["command"]
    assert json.loads((out / "config.json").read_text())["num_hidden_layers"] == 4
    acc, _ = _accuracy(out, rows)
    assert abs(acc - rec["dev_accuracy"]) <= 1.0 / N_ROWS and rec["dev_accuracy"] == rec["epochs"][-1]["dev_accuracy"]
    _, ys = read_labeled_tsv(rows)
    assert acc >= max(sum(ys), len(ys) - sum(ys)) / len(ys) + 0.1, rec["epochs"]


@pytest.mark.parametrize(
    "extra, needle",
    [
        (["--stages", "1:1:1e-3,3:1:1e-3"], "must end with --layers applications (2)"),
        (["--stages", "2:1:1e-3,1:1:1e-3,2:1:1e-3"], "must not lower"),
        (["--stages", "1:1:1e-3,2:1:1e-3", "--epochs", "3"], "leave out --epochs and --lr"),
        (["--stages", "1:1:1e-3,2:1:1e-3", "--groups", "2"], "--groups 1"),
        (["--stages", "1:x:1e-3"], "APPLICATIONS:EPOCHS:LR"),
        (["--stages", "1:1"], "APPLICATIONS:EPOCHS:LR"),
        (["--stages", "0:1:1e-3"], "applications >= 1"),
    ],
)
def test_bad_stages_are_one_line(tmp_path, rows, tok_dir, capsys, extra, needle):
    rc, err = _run_err(capsys, ["train", "--output", str(tmp_path / "m"), "--train", str(rows), "--tokenizer", str(tok_dir), *TINY, *extra])
    assert rc == 2 and len(err.splitlines()) == 1 and needle in err, err
    assert not (tmp_path / "m").exists()
