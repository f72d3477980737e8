"""Fault injection: bad inputs, tampered artifacts, interrupts and full disks against the CLI.

Every case asserts the exit code, that the error is ONE line (`albert-edge: error: …`, no traceback),
and the sha256 listing of the output folder (and of the model folder) before and after: a failure
leaves the old state complete, a success the complete new one, and nothing half-written beside it.
Interrupts are delivered as real signals at named points (albert_edge/faults.py).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from albert_edge.cli import main
from albert_edge.data import SAMPLES_TSV
from albert_edge.faults import ENV as FAULT_ENV

from conftest import CLI, TINY  # pytest puts tests/ on sys.path (rootdir-relative conftest)

LOOSE = ["--int8-min-agreement", "0.5", "--int8-max-accuracy-drop", "0.5"]  # random tiny weights


# ------------------------------------------------------------------------------------------- helpers


def listing(folder: Path) -> dict[str, str]:
    """relative path -> sha256 (or 'dir') for everything under folder, hidden files included."""
    out = {}
    if not folder.exists():
        return out
    for p in sorted(folder.rglob("*")):
        rel = str(p.relative_to(folder))
        out[rel] = "dir" if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.parent.iterdir() if p.name.startswith(f".{folder.name}."))


def errors(text: str) -> list[str]:
    return [ln for ln in text.splitlines() if ln.startswith("albert-edge: error:")]


def assert_one_line(stderr: str, *needles: str) -> str:
    assert "Traceback" not in stderr, stderr[-2000:]
    errs = errors(stderr)
    assert len(errs) == 1, stderr[-2000:]
    for n in needles:
        assert n in errs[0], errs[0]
    return errs[0]


def run_main(argv, capsys, code=2, *needles) -> str:
    rc = main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert rc == code, err[-2000:]
    return assert_one_line(err, *needles) if code == 2 else err


def run_cli(*args, fault: str | None = None, input: bytes | None = None, stdin=None) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    env.pop(FAULT_ENV, None)
    if fault:
        env[FAULT_ENV] = fault
    kw = {"stdin": stdin} if stdin is not None else {"input": input if input is not None else b""}
    # A shell starts background jobs with SIGINT ignored, and Python installs its Ctrl-C handler only
    # when SIGINT is at its default: give the child the terminal's default, as a user's Ctrl-C meets it.
    return subprocess.run([os.fsencode(CLI), *[a if isinstance(a, bytes) else os.fsencode(str(a)) for a in args]], capture_output=True, env=env, timeout=600,
                          preexec_fn=_default_sigint, **kw)


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def flip(path: Path, offset_frac: float = 0.5, n: int = 4096) -> None:
    """Invert n bytes in the middle of a file: same size, different content."""
    data = bytearray(path.read_bytes())
    at = int(len(data) * offset_frac)
    data[at : at + n] = bytes(b ^ 0xFF for b in data[at : at + n])
    path.write_bytes(bytes(data))


@pytest.fixture(scope="module")
def other_ckpt(tmp_path_factory, spiece_dir):
    """Same shape as tiny_ckpt, other weights: its files have the same sizes."""
    from albert_edge.testing import make_checkpoint

    return make_checkpoint(tmp_path_factory.mktemp("other") / "model", spiece_dir, id2label={0: "negative", 1: "positive"}, seed=7, trained_looking=True, **TINY)


@pytest.fixture
def art(onnx_art, tmp_path):
    """A private copy of the tiny model's ONNX artifacts folder (fp32 + int8)."""
    dst = tmp_path / "art"
    shutil.copytree(onnx_art, dst)
    return dst


@pytest.fixture
def verified_art(art, capsys):
    assert main(["verify", str(art), "--data", str(SAMPLES_TSV), "--quiet", *LOOSE]) == 0
    capsys.readouterr()
    return art


# ------------------------------------------------------------------------------------------- integrity


def test_flipped_bytes_are_never_used_by_predict(verified_art, capsys):
    flip(verified_art / "model.int8.onnx")
    before = listing(verified_art)
    run_main(["predict", verified_art, "a fine film"], capsys, 2, "model.int8.onnx", "does not match its manifest")
    assert listing(verified_art) == before


def test_flipped_bytes_fail_verify(verified_art, capsys):
    flip(verified_art / "model.int8.onnx")
    before = listing(verified_art)
    run_main(["verify", verified_art, "--data", SAMPLES_TSV, "--quiet", *LOOSE], capsys, 2, "model.int8.onnx", "sha256")
    assert listing(verified_art) == before  # parity.json not rewritten


def test_tampered_source_is_not_quantized(art, capsys):
    flip(art / "model.onnx", 0.3)
    before = listing(art)
    run_main(["quantize", "onnx", art, "--overwrite", "--quiet"], capsys, 2, "model.onnx", "does not match")
    assert listing(art) == before and not leftovers(art)


def test_manifest_of_a_same_size_model_is_refused(art, other_ckpt, tmp_path, capsys):
    other = tmp_path / "other-art"
    assert main(["export", "onnx", "--model", str(other_ckpt), str(other), "--quiet"]) == 0
    assert (other / "model.onnx").stat().st_size == (art / "model.onnx").stat().st_size
    shutil.copyfile(other / "manifest.json", art / "manifest.json")
    before = listing(art)
    run_main(["predict", art, "--artifact", "model.onnx", "a fine film"], capsys, 2, "does not match its manifest")
    assert listing(art) == before


def test_tampered_tokenizer_is_refused(art, capsys):
    tj = art / "tokenizer.json"
    tj.write_text(tj.read_text().replace('"▁the"', '"▁teh"', 1))
    run_main(["predict", art, "--artifact", "model.onnx", "a fine film"], capsys, 2, "tokenizer.json", "does not match")


def test_check_command_names_the_tampered_file(art, capsys):
    assert main(["check", str(art), "--quiet"]) == 0
    flip(art / "model.onnx", 0.9, 16)
    run_main(["check", art], capsys, 2, "model.onnx")


@pytest.mark.parametrize(
    "mutate, needle",
    [
        (lambda m: m["artifacts"][0].pop("sha256"), "artifacts[0].sha256 is missing"),
        (lambda m: m["artifacts"][0].update(bytes="12"), "artifacts[0].bytes must be"),
        (lambda m: m["artifacts"][0].update(file="../model.onnx"), "plain file name"),
        (lambda m: m["artifacts"][1].update(file=m["artifacts"][0]["file"]), "listed twice"),
        (lambda m: m["tokenizer"].update(pad_id="0"), "tokenizer.pad_id"),
        (lambda m: m.pop("labels"), "manifest.labels is missing"),
        (lambda m: m.update(max_seq_length=-5), "max_seq_length must be a positive integer"),
        (lambda m: m["artifacts"][0].update(precision="int4"), "precision"),
    ],
    ids=["no-sha256", "bytes-str", "path-escape", "duplicate", "pad-id-str", "no-labels", "negative-length", "precision"],
)
def test_malformed_manifest_is_one_line(art, capsys, mutate, needle):
    m = json.loads((art / "manifest.json").read_text())
    mutate(m)
    (art / "manifest.json").write_text(json.dumps(m))
    before = listing(art)
    run_main(["predict", art, "hello"], capsys, 2, needle)
    run_main(["quantize", "onnx", art, "--overwrite", "--quiet"], capsys, 2, needle)
    assert listing(art) == before and not leftovers(art)


def test_corrupt_manifest_json(art, capsys):
    (art / "manifest.json").write_text('{"format_version": 1,')
    run_main(["verify", art], capsys, 2, "not valid JSON")


# ------------------------------------------------------------------------------------------- numbers


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["verify", "{art}", "--limit", "0"], "--limit: must be at least 1"),
        (["verify", "{art}", "--limit", "-1"], "--limit: must be at least 1"),
        (["verify", "{art}", "--threads", "-2"], "threads must be between 1"),
        (["predict", "{art}", "hi", "--threads", "10000"], "threads must be between 1"),
        (["predict", "{art}", "hi", "--threads", "0"], "threads must be between 1"),
        (["verify", "{art}", "--int8-min-agreement", "99.5"], "did you mean 0.995"),
        (["verify", "{art}", "--int8-max-accuracy-drop", "5"], "did you mean 0.05"),
        (["verify", "{art}", "--fp32-max-abs", "nan"], "finite"),
        (["export", "onnx", "--model", "{model}", "{tmp}/new", "--max-length", "0"], "at least 1"),
        (["bench", "{art}", "--threads", "100000", "--out", "{tmp}/b"], "--threads"),
        (["pipeline", "--model", "{model}", "--output", "{tmp}/p", "--buckets", "16,x"], "--buckets"),
    ],
    ids=["limit0", "limit-neg", "threads-neg", "threads-huge", "threads0", "agree-percent", "drop-percent", "nan", "maxlen0", "bench-threads", "buckets"],
)
def test_out_of_range_options(argv, needle, art, tiny_ckpt, tmp_path, capsys):
    before = listing(art)
    argv = [a.format(art=art, model=tiny_ckpt, tmp=tmp_path) for a in argv]
    run_main(argv, capsys, 2, needle)
    assert listing(art) == before
    assert not (tmp_path / "new").exists() and not (tmp_path / "p").exists() and not (tmp_path / "b").exists()


# ------------------------------------------------------------------------------------------- text input


def test_invalid_utf8_argument(art):
    r = run_cli("predict", art, b"caf\xe9 ok")
    assert r.returncode == 2
    assert_one_line(r.stderr.decode(), "text argument 1 is not valid UTF-8")


def test_invalid_utf8_on_stdin(art):
    r = run_cli("predict", art, "-", input=b"fine\nbad \xff\xfe line\n")
    assert r.returncode == 2
    assert_one_line(r.stderr.decode(), "stdin line 2 is not valid UTF-8")


def test_closed_stdin(art):
    r = run_cli("predict", art, "-", stdin=subprocess.DEVNULL)
    assert r.returncode == 2  # /dev/null: empty
    assert_one_line(r.stderr.decode(), "stdin was empty")
    # A really closed fd 0.
    r = subprocess.run(f"exec 0<&-; {CLI} predict {art} -", shell=True, capture_output=True, text=True)
    assert r.returncode == 2
    assert_one_line(r.stderr, "stdin is closed")


def test_non_utf8_path_is_reported_not_crashed(art, tmp_path):
    bad = os.fsencode(str(tmp_path)) + b"/caf\xe9"
    r = run_cli("verify", bad)
    assert r.returncode == 2
    assert_one_line(r.stderr.decode("utf-8", "replace"), "does not exist")


def test_megabyte_field_is_read(art, tmp_path, capsys):
    data = tmp_path / "long.tsv"
    data.write_text("sentence\tlabel\n" + ("wonderful " * 110_000) + "\t1\nawful film\t0\n", encoding="utf-8")
    assert main(["verify", str(art), "--data", str(data), "--quiet", "--artifacts", "model.onnx"]) == 0
    out = capsys.readouterr().out
    assert "model.onnx" in out and "PASS" in out


def test_tsv_that_is_not_utf8(art, tmp_path, capsys):
    data = tmp_path / "latin1.tsv"
    data.write_bytes(b"good film\t1\ncaf\xe9 awful\t0\n")
    before = listing(art)
    run_main(["verify", art, "--data", data], capsys, 2, "latin1.tsv:2: not UTF-8")
    assert listing(art) == before


# ------------------------------------------------------------------------------------------- model and output folders


def test_output_is_the_model_folder(tiny_ckpt, tmp_path, capsys):
    model = tmp_path / "m"
    shutil.copytree(tiny_ckpt, model)
    before = listing(model)
    run_main(["export", "onnx", "--model", model, model, "--overwrite"], capsys, 2, "is the model folder")
    run_main(["export", "tflite", "--model", model, model / "sub", "--overwrite"], capsys, 2, "inside it")
    run_main(["export", "onnx", "--model", model, tmp_path, "--overwrite"], capsys, 2, "contains the model folder")
    assert listing(model) == before and not leftovers(model)


def test_output_checks_come_before_loading_the_checkpoint(tiny_ckpt, tmp_path, capsys, monkeypatch):
    """Loading ALBERT-base takes seconds and lowering minutes: what the folders alone decide is refused first."""
    import albert_edge.checkpoint as checkpoint

    def never(*a, **k):
        raise AssertionError("the checkpoint was loaded before the output was checked")

    monkeypatch.setattr(checkpoint, "load_checkpoint", never)
    model = tmp_path / "m"
    shutil.copytree(tiny_ckpt, model)
    for fmt in ("onnx", "tflite", "executorch", "mediapipe"):
        run_main(["export", fmt, "--model", model, model / "out"], capsys, 2, "inside it")
    run_main(["export", "onnx", "--model", model, tmp_path / "o", "--max-length", "100000"], capsys, 2, "max_position_embeddings")
    art = tmp_path / "art"
    (art).mkdir()
    (art / "manifest.json").write_text("{}")  # an unreadable manifest without --overwrite
    run_main(["export", "onnx", "--model", model, art], capsys, 2)


def test_tokenizer_vocabulary_past_vocab_size(tiny_ckpt, tmp_path, capsys):
    """A config whose vocab_size is smaller than the tokenizer's, with weights to match the config."""
    from safetensors.torch import load_file, save_file

    model = tmp_path / "m"
    shutil.copytree(tiny_ckpt, model)
    cfg = json.loads((model / "config.json").read_text())
    n = cfg["vocab_size"] - 10
    cfg["vocab_size"] = n
    (model / "config.json").write_text(json.dumps(cfg))
    sd = load_file(str(model / "model.safetensors"))
    key = next(k for k in sd if k.endswith("word_embeddings.weight"))
    sd[key] = sd[key][:n].contiguous()
    save_file({k: v.contiguous() for k, v in sd.items()}, str(model / "model.safetensors"))
    out = tmp_path / "out"
    run_main(["export", "onnx", "--model", model, out], capsys, 2, "vocab_size")
    assert not out.exists() and not leftovers(out)


@pytest.mark.parametrize("keep_tokenizer_json", [True, False], ids=["with-tokenizer.json", "spiece-only"])
def test_corrupt_spiece_model(tiny_ckpt, tmp_path, capsys, keep_tokenizer_json):
    model = tmp_path / "m"
    shutil.copytree(tiny_ckpt, model)
    if not keep_tokenizer_json:
        (model / "tokenizer.json").unlink(missing_ok=True)
    sp = model / "spiece.model"
    sp.write_bytes(sp.read_bytes()[: sp.stat().st_size // 3])
    out = tmp_path / "out"
    msg = run_main(["export", "onnx", "--model", model, out], capsys, 2, "spiece.model")
    assert "tiktoken" not in msg and not out.exists()


def test_malicious_pickle_message(tiny_ckpt, tmp_path, capsys):
    import pickle

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    model = tmp_path / "m"
    shutil.copytree(tiny_ckpt, model)
    (model / "model.safetensors").unlink()
    with open(model / "pytorch_model.bin", "wb") as f:
        pickle.dump({"x": Evil()}, f)
    msg = run_main(["export", "onnx", "--model", model, tmp_path / "out"], capsys, 2, "never unpickles", "safetensors")
    assert "weights_only=False" not in msg


def test_pipeline_validates_data_before_exporting(tiny_ckpt, tmp_path, capsys):
    out = tmp_path / "out"
    run_main(["pipeline", "--model", tiny_ckpt, "--output", out, "--data", tmp_path / "missing.tsv", "--no-bench"], capsys, 2, "missing.tsv", "does not exist")
    bad = tmp_path / "bad.tsv"
    bad.write_text("only one column\n")
    run_main(["pipeline", "--model", tiny_ckpt, "--output", out, "--data", bad, "--no-bench"], capsys, 2, "2 tab-separated columns")
    assert not out.exists() and not leftovers(out)


def test_overwrite_with_another_checkpoint_drops_stale_parity(verified_art, other_ckpt, capsys):
    assert (verified_art / "parity.json").is_file()
    (verified_art / "notes.txt").write_text("mine")  # not albert-edge's: kept
    assert main(["export", "onnx", "--model", str(other_ckpt), str(verified_art), "--overwrite", "--quiet"]) == 0
    names = {p.name for p in verified_art.iterdir()}
    assert "parity.json" not in names and "model.int8.onnx" not in names and "notes.txt" in names
    m = json.loads((verified_art / "manifest.json").read_text())
    assert [a["file"] for a in m["artifacts"]] == ["model.onnx", "model.text.onnx"]
    assert main(["check", str(verified_art), "--quiet"]) == 0


# ------------------------------------------------------------------------------------------- interrupts and full disks


def _overwrite_with_other(art, other_ckpt, fault):
    return run_cli("export", "onnx", "--model", other_ckpt, art, "--overwrite", "--quiet", fault=fault)


@pytest.mark.parametrize("point", ["txn:staged", "manifest:model.onnx", "txn:before-swap"])
def test_sigint_during_export_overwrite_keeps_old_state(verified_art, other_ckpt, point):
    before = listing(verified_art)
    r = _overwrite_with_other(verified_art, other_ckpt, f"{point}:sigint")
    assert r.returncode == 130, r.stderr.decode()[-2000:]
    assert "Traceback" not in r.stderr.decode() and "interrupted" in r.stderr.decode()
    assert listing(verified_art) == before and not leftovers(verified_art)


def test_sigint_after_swap_leaves_the_complete_new_state(verified_art, other_ckpt, capsys):
    r = _overwrite_with_other(verified_art, other_ckpt, "txn:after-swap:sigint")
    assert r.returncode == 130  # delivered once the swap finished
    assert not leftovers(verified_art)
    m = json.loads((verified_art / "manifest.json").read_text())
    assert m["source"]["model_dir"] == str(Path(other_ckpt).resolve())
    assert not (verified_art / "parity.json").exists()
    assert main(["check", str(verified_art), "--quiet"]) == 0


def test_sigterm_during_quantize(art):
    before = listing(art)
    r = run_cli("quantize", "onnx", art, "--overwrite", "--quiet", fault="manifest:model.int8.onnx:sigterm")
    assert r.returncode == 143 and "terminated" in r.stderr.decode()
    assert listing(art) == before and not leftovers(art)


def test_sigint_during_quantize_tflite(tiny_ckpt, tmp_path, capsys):
    out = tmp_path / "tfl"
    assert main(["export", "tflite", "--model", str(tiny_ckpt), str(out), "--buckets", "16", "--max-length", "16", "--quiet"]) == 0
    capsys.readouterr()
    before = listing(out)
    r = run_cli("quantize", "tflite", out, "--quiet", fault="manifest:model.int8.tflite:sigint")
    assert r.returncode == 130
    assert listing(out) == before and not leftovers(out)


def test_kill_before_swap_then_next_command_recovers(verified_art, other_ckpt):
    before = listing(verified_art)
    r = _overwrite_with_other(verified_art, other_ckpt, "txn:before-swap:kill")
    assert r.returncode == -9
    assert listing(verified_art) == before
    assert leftovers(verified_art), "a killed process cannot clean up; the next transaction must"
    r = run_cli("quantize", "onnx", verified_art, "--overwrite", "--quiet")
    assert r.returncode == 0, r.stderr.decode()[-2000:]
    assert not leftovers(verified_art)


def test_injected_disk_full_during_export(verified_art, other_ckpt, capsys):
    before = listing(verified_art)
    os.environ[FAULT_ENV] = "manifest:model.onnx:enospc"
    try:
        run_main(["export", "onnx", "--model", other_ckpt, verified_art, "--overwrite", "--quiet"], capsys, 2, "no space left on device", "is unchanged")
    finally:
        del os.environ[FAULT_ENV]
    assert listing(verified_art) == before and not leftovers(verified_art)


def _mount_tmpfs(path: Path, size: str, ro: bool = False) -> bool:
    path.mkdir(parents=True, exist_ok=True)
    opts = f"size={size}" + (",ro" if ro else "")
    return shutil.which("mount") is not None and subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(path)], capture_output=True).returncode == 0


def test_real_disk_full_during_export(tiny_ckpt, tmp_path, spiece_dir, capsys):
    """On a small tmpfs when this machine allows mounting one (CI and the dev machines do, as root);
    elsewhere the same assertions run with a write that fails with ENOSPC at the same moment."""
    from albert_edge.testing import make_checkpoint

    small_size = (Path(tiny_ckpt) / "model.safetensors").stat().st_size
    disk_bytes = int(small_size * 1.6 + 4e6)
    # The new model's weights alone exceed the disk, whatever the vocabulary (30k official or the
    # 300-piece fallback when ../shared is absent): its FFN width is sized from the disk, not fixed.
    ffn = max(64, disk_bytes // (4 * 2 * TINY["hidden_size"]) + 1)
    big = make_checkpoint(tmp_path / "big", spiece_dir, id2label={0: "negative", 1: "positive"}, seed=3, **{**TINY, "embedding_size": 48, "intermediate_size": ffn})
    assert (big / "model.safetensors").stat().st_size > disk_bytes
    disk = tmp_path / "disk"
    mounted = _mount_tmpfs(disk, str(disk_bytes))
    try:
        out = disk / "art"
        assert main(["export", "onnx", "--model", str(tiny_ckpt), str(out), "--quiet", "--no-text"]) == 0
        capsys.readouterr()
        before = listing(out)
        if not mounted:
            os.environ[FAULT_ENV] = "manifest:model.onnx:enospc"
        try:
            run_main(["export", "onnx", "--model", big, out, "--overwrite", "--quiet", "--no-text"], capsys, 2, "no space left on device", "is unchanged")
        finally:
            os.environ.pop(FAULT_ENV, None)
        assert listing(out) == before and not leftovers(out)
    finally:
        if mounted:
            subprocess.run(["umount", str(disk)], capture_output=True)


def test_read_only_file_system(tiny_ckpt, tmp_path, capsys):
    ro = tmp_path / "ro"
    if _mount_tmpfs(ro, "1m", ro=True):
        try:
            run_main(["export", "onnx", "--model", tiny_ckpt, ro / "art", "--quiet"], capsys, 2, str(ro))
        finally:
            subprocess.run(["umount", str(ro)], capture_output=True)
    else:  # no mount here: a folder we cannot write into (effective only for non-root users)
        ro.mkdir(exist_ok=True)
        os.environ[FAULT_ENV] = "txn:staged:enospc"
        try:
            run_main(["export", "onnx", "--model", tiny_ckpt, ro / "art", "--quiet"], capsys, 2, "cannot write")
        finally:
            del os.environ[FAULT_ENV]
    assert not (ro / "art").exists()


def test_fault_points_are_real(art, capsys):
    """The fault machinery itself: an unknown point does nothing, so a renamed point would silently
    stop testing anything; each point used above must be reached by a normal run."""
    import albert_edge.faults as faults

    reached = []
    real = faults.point
    faults.point = lambda name, path=None: reached.append(name)
    try:
        assert main(["quantize", "onnx", str(art), "--overwrite", "--quiet"]) == 0
    finally:
        faults.point = real
    assert {"txn:staged", "txn:before-swap", "txn:after-swap", "manifest:model.int8.onnx"} <= set(reached)
    assert sys.modules["albert_edge.faults"] is faults
