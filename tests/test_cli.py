"""The CLI as users run it: the installed `albert-edge` script, one-line errors, nothing half-written."""

from __future__ import annotations

import json
import shutil

import pytest

from albert_edge.cli import COMMANDS, build_parser, main


def test_every_command_is_registered():
    # A command module missing from the package is a packaging bug, not an optional feature.
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    names = set(sub.choices)
    for words, _ in COMMANDS:
        assert words[0] in names
        if len(words) == 2:
            group = sub.choices[words[0]]
            fmt = next(a for a in group._actions if a.dest == "format")
            assert words[1] in fmt.choices, words


def test_end_to_end_through_console_script(cli, tiny_ckpt, tmp_path):
    out = tmp_path / "art"
    r = cli("export", "onnx", "--model", tiny_ckpt, out)
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    r = cli("quantize", "onnx", out)
    assert r.returncode == 0, r.stderr
    r = cli("verify", out, "--data", _samples(), "--int8-min-agreement", "0.8", "--int8-max-accuracy-drop", "0.1")
    assert r.returncode == 0, r.stderr + r.stdout
    assert "model.int8.onnx" in r.stdout and "PASS" in r.stdout
    parity = json.loads((out / "parity.json").read_text())
    # export onnx / quantize onnx also write the text-in and ORT-format files by default (issue 14).
    assert parity["passed"] and {a["file"] for a in parity["artifacts"]} == {
        "model.onnx", "model.int8.onnx", "model.text.onnx", "model.int8.text.onnx", "model.int8.text.ort", "model.int8.ort"}
    r = cli("predict", out, "what a wonderful film", "-", "--json", input="dull and lifeless\n")
    assert r.returncode == 0, r.stderr
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    assert [row["text"] for row in rows] == ["what a wonderful film", "dull and lifeless"]
    assert all(row["label"] in ("negative", "positive") and 0.5 <= row["probability"] <= 1 for row in rows)
    assert rows[0]["artifact"] == "model.int8.onnx"  # smallest artifact that passed parity
    files = {p.name for p in out.iterdir()}
    assert {"model.onnx", "model.int8.onnx", "manifest.json", "parity.json", "spiece.model", "tokenizer.json", "config.json"} <= files
    assert not [f for f in files if f.startswith(".")], "temp files left behind"


def _samples():
    from albert_edge.data import SAMPLES_TSV

    return SAMPLES_TSV


def _err(capsys):
    err = capsys.readouterr().err.strip().splitlines()
    return [line for line in err if line.startswith("albert-edge: error:")]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["export", "onnx", "--model", "{tmp}/missing", "{tmp}/out"], "does not exist"),
        (["export", "onnx", "--model", "{bad_config}", "{tmp}/out"], "not valid JSON"),
        (["export", "onnx", "--model", "{tiny}", "{tmp}/out", "--max-length", "4096"], "max_position_embeddings (128); pass --max-length 128 or less"),
        # The default length (128) on a model with 64 positions: the error says what to pass.
        (["export", "onnx", "--model", "{short}", "{tmp}/out"], "--max-length 128 exceeds the model's max_position_embeddings (64); pass --max-length 64"),
        (["pipeline", "--model", "{short}", "--output", "{tmp}/out", "--no-bench"], "max_position_embeddings (64); pass --max-length 64"),
        (["quantize", "onnx", "{tmp}/nothing"], "does not exist"),
        (["quantize", "onnx", "{tmp}", "--mode", "static"], "needs --calibration"),
        (["verify", "{tmp}/nothing"], "does not exist"),
        # A folder without a manifest: the hint names no one format (it used to say `export onnx` to every stage).
        (["quantize", "executorch", "{tmp}"], "has no manifest.json: not an artifacts folder; create one with `albert-edge export FORMAT"),
        (["quantize", "tflite", "{tmp}"], "has no manifest.json: not an artifacts folder"),
        (["verify", "{tmp}"], "has no manifest.json: not an artifacts folder"),
        (["predict", "{tmp}/nothing", "hi"], "does not exist"),
        (["pipeline", "--model", "{tmp}/missing", "--output", "{tmp}/out"], "does not exist"),
        (["pipeline", "--model", "{tmp}", "--output", "{tmp}/out"], "has no config.json"),
    ],
    ids=["missing-model", "corrupt-config", "too-long", "default-too-long", "pipeline-default-too-long", "quantize-missing", "static-no-calib", "verify-missing", "quantize-et-no-manifest", "quantize-tflite-no-manifest", "verify-no-manifest", "predict-missing",
         "pipeline-missing-model", "pipeline-folder-without-config"],
)
def test_bad_input_one_line_nonzero(argv, message, tmp_path, tiny_ckpt, capsys):
    bad = tmp_path / "bad"
    shutil.copytree(tiny_ckpt, bad)
    (bad / "config.json").write_text("{oops")
    short = tmp_path / "short"
    shutil.copytree(tiny_ckpt, short)
    cfg = json.loads((short / "config.json").read_text())
    (short / "config.json").write_text(json.dumps({**cfg, "max_position_embeddings": 64}))
    argv = [a.format(tmp=tmp_path, bad_config=bad, tiny=tiny_ckpt, short=short) for a in argv]
    assert main(argv) == 2
    errs = _err(capsys)
    assert len(errs) == 1 and message in errs[0], errs


def test_existing_output_refused_and_nothing_half_written(tmp_path, tiny_ckpt, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    assert main(["export", "onnx", "--model", str(tiny_ckpt), str(out)]) == 2
    assert "not empty" in _err(capsys)[0]
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]
    # Truncated weights: the export fails before anything is written.
    broken = tmp_path / "broken"
    shutil.copytree(tiny_ckpt, broken)
    (broken / "model.safetensors").write_bytes((broken / "model.safetensors").read_bytes()[:1000])
    out2 = tmp_path / "out2"
    assert main(["export", "onnx", "--model", str(broken), str(out2)]) == 2
    assert "cannot read weights" in _err(capsys)[0]
    assert not out2.exists()


def test_export_into_folder_of_other_checkpoint_refused(onnx_art, grouped_ckpt, tmp_path, capsys):
    out = tmp_path / "art"
    shutil.copytree(onnx_art, out)
    assert main(["export", "onnx", "--model", str(grouped_ckpt), str(out)]) == 2
    assert "different checkpoint" in _err(capsys)[0]


@pytest.mark.parametrize(
    "content, message",
    [("", "no labeled rows"), ("sentence\tlabel\n", "no labeled rows"), ("good film\t1\nbad\n", ":2: expected 2"), ("good film\tmaybe\n", "not a class id"), ("good film\t7\n", "out of range")],
    ids=["empty", "header-only", "missing-column", "bad-label", "label-range"],
)
def test_bad_data_files(onnx_art, tmp_path, content, message, capsys):
    data = tmp_path / "d.tsv"
    data.write_text(content)
    assert main(["verify", str(onnx_art), "--data", str(data)]) == 2
    assert message in _err(capsys)[0]


def test_label_names_accepted_in_data(onnx_art, tmp_path, capsys):
    data = tmp_path / "d.tsv"
    data.write_text("sentence\tlabel\nwhat a great film\tpositive\nawful\tnegative\n")
    rc = main(["verify", str(onnx_art), "--data", str(data), "--artifacts", "model.onnx", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0 and out["sentences"] == 2


def test_predict_names_how_many_sentences_the_choice_rests_on(onnx_art, tmp_path, capsys):
    import shutil

    art = tmp_path / "art"
    shutil.copytree(onnx_art, art)
    data = tmp_path / "d.tsv"
    for rows, said in (("what a great film\t1\n", "on 1 sentence,"), ("what a great film\t1\nawful\t0\n", "on 2 sentences,")):
        data.write_text("sentence\tlabel\n" + rows)
        main(["verify", str(art), "--data", str(data), "--quiet"])  # a full run: the folder's parity record
        capsys.readouterr()
        assert main(["predict", str(art), "fine"]) == 0
        err = capsys.readouterr().err
        assert f"(smallest artifact that passed parity {said} sha256" in err, err
