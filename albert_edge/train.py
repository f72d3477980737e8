"""`albert-edge train`: train a small ALBERT classifier from scratch on a labeled TSV.

This is how the embedded demo model (models/albert-sst2-demo/) is made: no hub weights exist here,
so the model starts from random weights, keeps ALBERT's cross-layer sharing (one layer group applied
`--layers` times) and the official 30k SentencePiece vocabulary, and is saved as an ordinary Hugging
Face folder plus a `training.json` record of how it was made.

The defaults are the demo recipe, so `albert-edge train --output DIR` retrains the demo model.
"""

from __future__ import annotations

import json
import os
import platform
import shlex
import sys
import time
from dataclasses import dataclass, fields, replace
from pathlib import Path

from .errors import AlbertEdgeError
from . import options

HELP = "train a small ALBERT classifier from scratch on a labeled TSV (how the demo model is made)"

DEFAULT_LABELS = ("negative", "positive")


@dataclass
class TrainConfig:
    output: str
    train: str | None = None  # default: ../shared/data/sst2/train.tsv
    dev: str | None = None  # default: ../shared/data/sst2/dev.tsv, else a held-out slice of train
    tokenizer: str | None = None  # default: the official albert-base-v2 SentencePiece folder
    labels: tuple[str, ...] = DEFAULT_LABELS
    embedding_size: int = 64
    hidden_size: int = 128
    layers: int = 4
    heads: int = 4
    intermediate_size: int = 512
    groups: int = 1
    dropout: float = 0.1
    init_std: float = 0.09
    max_position_embeddings: int = 512
    epochs: int = 2
    lr: float = 5e-4
    warmup: float = 0.06  # fraction of all steps
    weight_decay: float = 0.01
    batch_size: int = 32
    max_length: int = 128
    seed: int = 0
    limit: int | None = None
    threads: int | None = None
    # Progressive stacking: ((applications, epochs, lr), ...); the last stage's applications = layers.
    stages: tuple[tuple[int, float, float], ...] | None = None
    overwrite: bool = False
    quiet: bool = False


def parse_stages(text: str) -> tuple[tuple[int, float, float], ...]:
    """`--stages APPS:EPOCHS:LR,...` (argparse type): e.g. 1:1:3e-4,3:0.25:1e-4,6:0.12:5e-5,12:0.12:5e-5."""
    import argparse

    out = []
    for item in (x.strip() for x in str(text).split(",")):
        parts = item.split(":")
        if len(parts) != 3:
            raise argparse.ArgumentTypeError(f"each stage is APPLICATIONS:EPOCHS:LR (e.g. 3:0.25:1e-4), got {item!r}")
        try:
            apps, epochs, lr = int(parts[0]), float(parts[1]), float(parts[2])
        except ValueError:
            raise argparse.ArgumentTypeError(f"each stage is APPLICATIONS:EPOCHS:LR with numbers, got {item!r}") from None
        if apps < 1 or not 0 < epochs < 1e6 or not 0 < lr < 1:
            raise argparse.ArgumentTypeError(f"stage {item!r}: applications >= 1, epochs > 0 and 0 < lr < 1")
        out.append((apps, epochs, lr))
    if not out:
        raise argparse.ArgumentTypeError("--stages needs at least one APPLICATIONS:EPOCHS:LR")
    return tuple(out)


# ---------------------------------------------------------------------------------------------- CLI


def add_arguments(p) -> None:
    d = TrainConfig(output="")
    p.add_argument("--output", "-o", required=True, help="folder to write the trained model to")
    p.add_argument("--train", help="labeled TSV (sentence<TAB>label); default ../shared/data/sst2/train.tsv")
    p.add_argument("--dev", help="labeled TSV evaluated after each epoch; default ../shared/data/sst2/dev.tsv, else 10%% of --train held out")
    p.add_argument("--tokenizer", help="folder with the ALBERT SentencePiece tokenizer; default ../shared/tokenizers/albert-base-v2")
    p.add_argument("--labels", default=",".join(d.labels), help="comma-separated class names, id order (default %(default)s)")
    g = p.add_argument_group("model shape (ALBERT: one shared layer group applied --layers times)")
    g.add_argument("--embedding-size", type=options.positive_int, default=d.embedding_size, help="word-embedding width E (default %(default)s)")
    g.add_argument("--hidden-size", type=options.positive_int, default=d.hidden_size, help="default %(default)s")
    g.add_argument("--layers", type=options.positive_int, default=d.layers, help="layer applications (default %(default)s)")
    g.add_argument("--heads", type=options.positive_int, default=d.heads, help="attention heads (default %(default)s)")
    g.add_argument("--intermediate-size", type=options.positive_int, default=d.intermediate_size, help="FFN width (default %(default)s)")
    g.add_argument("--groups", type=options.positive_int, default=d.groups, help="distinct layer groups; 1 = full cross-layer sharing (default %(default)s)")
    g.add_argument("--dropout", type=options.fraction_or_zero, default=d.dropout, help="hidden/attention/classifier dropout (default %(default)s)")
    g.add_argument("--init-std", type=options.positive_float, default=d.init_std,
                   help="initializer_range; ~1/sqrt(hidden) lets a from-scratch model learn quickly (default %(default)s)")
    t = p.add_argument_group("optimisation")
    t.add_argument("--epochs", type=options.positive_int, default=None, help=f"default {d.epochs}; the best dev epoch is kept")
    t.add_argument("--lr", type=options.positive_float, default=None, help=f"AdamW peak learning rate (default {d.lr})")
    t.add_argument(
        "--stages", type=parse_stages, metavar="APPS:EPOCHS:LR,...",
        help="progressive stacking instead of --epochs/--lr: train the shared layer with APPS applications for EPOCHS "
             "passes (a fraction is a sample) at peak LR, then run the same weights more times; the last APPS is --layers. "
             "ALBERT-base shape (12 applications of H 768) stayed at chance trained directly; stages of 1, 3, 6 and 12 "
             "applications reached 81.2%% SST-2 dev (at most double the applications per stage: 3 -> 12 fell to 61%%; "
             "docs/demo-model.md has the recipe)")
    t.add_argument("--warmup", type=options.fraction_or_zero, default=d.warmup, help="linear warm-up, fraction of all steps (default %(default)s)")
    t.add_argument("--weight-decay", type=options.fraction_or_zero, default=d.weight_decay, help="default %(default)s")
    t.add_argument("--batch-size", type=options.positive_int, default=d.batch_size, help="default %(default)s")
    t.add_argument("--max-length", type=options.positive_int, default=d.max_length, help="tokens per text incl. [CLS]/[SEP] (default %(default)s)")
    t.add_argument("--seed", type=int, default=d.seed, help="default %(default)s; same seed + threads = same model")
    t.add_argument("--limit", type=options.positive_int, help="use only the first N training rows (quick runs)")
    t.add_argument("--threads", type=options.threads, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress output")


def run(args) -> int:
    # Every TrainConfig field is an option of the same name (labels: a comma-separated list).
    given = {f.name: getattr(args, f.name) for f in fields(TrainConfig) if hasattr(args, f.name)}
    given["labels"] = tuple(x.strip() for x in args.labels.split(",") if x.strip())
    if given.get("stages") and (given.get("epochs") is not None or given.get("lr") is not None):
        raise AlbertEdgeError("--stages sets each stage's epochs and learning rate; leave out --epochs and --lr")
    for name in ("epochs", "lr"):  # None = not given on the command line: the dataclass default
        if given.get(name) is None:
            given.pop(name, None)
    cfg = TrainConfig(**given)
    record = train_classifier(cfg)
    best = record["best_epoch"]
    which = f"stage {len(cfg.stages)} of {len(cfg.stages)}" if cfg.stages else f"epoch {best} of {cfg.epochs}"
    print(
        f"saved {record['output']} — dev accuracy {record['dev_accuracy']:.4f} ({which}), "
        f"{record['model']['unique_parameters']:,} parameters, {record['folder_bytes'] / 1e6:.1f} MB, "
        f"{record['wall_time_s'] / 60:.1f} min"
    )
    return 0


# ------------------------------------------------------------------------------------------ helpers


def _validate(cfg: TrainConfig) -> None:
    positive = ("embedding_size", "hidden_size", "layers", "heads", "intermediate_size", "groups", "epochs", "batch_size")
    for name in positive:
        if int(getattr(cfg, name)) <= 0:
            raise AlbertEdgeError(f"--{name.replace('_', '-')} must be a positive integer")
    if cfg.hidden_size % cfg.heads:
        raise AlbertEdgeError(f"--hidden-size {cfg.hidden_size} is not divisible by --heads {cfg.heads}")
    if cfg.groups > cfg.layers:
        raise AlbertEdgeError(f"--groups {cfg.groups} exceeds --layers {cfg.layers}")
    if not 3 <= cfg.max_length <= cfg.max_position_embeddings:
        raise AlbertEdgeError(f"--max-length must be between 3 and {cfg.max_position_embeddings}")
    if not cfg.lr > 0:
        raise AlbertEdgeError("--lr must be positive")
    if not 0 <= cfg.warmup < 1:
        raise AlbertEdgeError("--warmup is a fraction of all steps: 0 <= warmup < 1")
    if not 0 < cfg.init_std < 1:
        raise AlbertEdgeError("--init-std must be in (0, 1)")
    if not 0 <= cfg.dropout < 1:
        raise AlbertEdgeError("--dropout must be in [0, 1)")
    if cfg.limit is not None and cfg.limit <= 0:
        raise AlbertEdgeError("--limit must be a positive number of rows")
    if cfg.threads is not None and cfg.threads <= 0:
        raise AlbertEdgeError("--threads must be positive")
    if len(cfg.labels) < 2 or len(set(cfg.labels)) != len(cfg.labels):
        raise AlbertEdgeError("--labels needs at least two distinct class names")
    if cfg.stages:
        apps = [a for a, _, _ in cfg.stages]
        if cfg.groups != 1:
            # transformers maps application i to group i * groups // layers: with fewer applications the
            # groups would be trained in other positions than they run in.
            raise AlbertEdgeError("--stages needs --groups 1 (every application runs the same layer)")
        if apps[-1] != cfg.layers:
            raise AlbertEdgeError(f"--stages must end with --layers applications ({cfg.layers}), not {apps[-1]}")
        if any(b < a for a, b in zip(apps, apps[1:])):
            raise AlbertEdgeError(f"--stages must not lower the number of applications ({', '.join(map(str, apps))})")


def _resolve_inputs(cfg: TrainConfig) -> tuple[Path, Path | None, Path]:
    from .data import official_spiece_dir, sst2_dev, sst2_train

    if cfg.train:
        train = Path(cfg.train)
    else:
        train = sst2_train()
        if train is None:
            raise AlbertEdgeError("no training data: ../shared/data/sst2/train.tsv is absent; pass --train FILE.tsv")
    if not train.is_file():
        raise AlbertEdgeError(f"training file {train} does not exist")
    if cfg.dev:
        dev = Path(cfg.dev)
        if not dev.is_file():
            raise AlbertEdgeError(f"dev file {dev} does not exist")
    else:
        # SST-2 dev only fits when training on SST-2; a user's own --train gets a held-out slice.
        sst2 = sst2_train()
        dev = sst2_dev() if sst2 is not None and train.resolve() == sst2.resolve() else None
    if cfg.tokenizer:
        tok = Path(cfg.tokenizer)
    else:
        tok = official_spiece_dir()
        if tok is None:
            raise AlbertEdgeError("no tokenizer: ../shared/tokenizers/albert-base-v2 is absent; pass --tokenizer FOLDER")
    if not tok.is_dir():
        raise AlbertEdgeError(f"tokenizer folder {tok} does not exist")
    return train, dev, tok


def length_bucketed_batches(lengths: list[int], batch_size: int, rng, bucket_batches: int = 50) -> list[list[int]]:
    """Batches of similar-length rows, in a seed-determined random order.

    Rows are shuffled, cut into buckets of `bucket_batches` batches, sorted by length inside each
    bucket and split into batches; the batch order is then shuffled. Padding stays small (SST-2 is
    mostly short phrases) while every epoch still sees different batch compositions.
    """
    order = list(range(len(lengths)))
    rng.shuffle(order)
    span = batch_size * bucket_batches
    batches: list[list[int]] = []
    for start in range(0, len(order), span):
        bucket = sorted(order[start : start + span], key=lambda i: lengths[i])
        batches += [bucket[j : j + batch_size] for j in range(0, len(bucket), batch_size)]
    rng.shuffle(batches)
    return batches


def _collate(ids_list: list[list[int]], pad_id: int, device):
    """input_ids and attention_mask of a padded batch (the core's pad_batch, as every runner pads)."""
    import torch

    from .tokenizer import pad_batch

    b = pad_batch(ids_list, pad_id=pad_id)
    return torch.from_numpy(b["input_ids"]).to(device), torch.from_numpy(b["attention_mask"]).to(device)


def evaluate(model, ids_list: list[list[int]], ys: list[int], pad_id: int, device=None, batch_size: int = 128, desc: str = "dev") -> float:
    """Accuracy through the core's PyTorch runner (length-sorted batches, no dropout, no gradients),
    i.e. exactly what `verify` computes for the reference."""
    import numpy as np

    from .progress import bar
    from .runners import TorchRunner

    with bar(total=len(ids_list), desc=desc, unit="text") as pb:
        logits = TorchRunner(model, pad_id=pad_id).run_batched(ids_list, batch_size=batch_size, progress=pb)
    return float((logits.argmax(-1) == np.asarray(ys)).mean())


def _command_line(cfg: TrainConfig, train: Path, dev: Path | None, tok: Path) -> str:
    """The explicit command that reproduces this run (every option spelled out)."""
    parts = ["albert-edge", "train", "--output", cfg.output, "--train", str(train)]
    if dev is not None:
        parts += ["--dev", str(dev)]
    parts += ["--tokenizer", str(tok), "--labels", ",".join(cfg.labels)]
    names = ["embedding_size", "hidden_size", "layers", "heads", "intermediate_size", "groups", "dropout", "init_std"]
    names += ["stages"] if cfg.stages else ["epochs", "lr"]
    for name in (*names, "warmup", "weight_decay", "batch_size", "max_length", "seed", "limit", "threads"):
        v = getattr(cfg, name)
        if name == "stages":
            v = ",".join(f"{a}:{e:g}:{lr:g}" for a, e, lr in v)
        if v is not None:
            parts += [f"--{name.replace('_', '-')}", str(v)]
    return shlex.join(parts)


def _versions() -> dict:
    from importlib import metadata

    out = {"python": platform.python_version()}
    for pkg in ("albert-edge", "torch", "transformers", "tokenizers", "sentencepiece", "safetensors", "numpy"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            pass
    return out


def _machine(device, threads: int) -> dict:
    import torch

    info = {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": threads,
        "device": str(device),
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def _log(cfg: TrainConfig, msg: str) -> None:
    if not cfg.quiet:
        print(msg, file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------------------- train


def train_classifier(cfg: TrainConfig) -> dict:
    """Train, keep the best dev epoch, save a Hugging Face folder + training.json atomically.

    Returns the training record (also written as training.json).
    """
    _validate(cfg)
    train_path, dev_path, tok_dir = _resolve_inputs(cfg)

    import random

    import numpy as np
    import torch

    from .fsutil import staged_output_dir
    from .progress import step
    from .tokenizer import TextEncoder, copy_tokenizer_files, load_tokenizer

    t_start = time.perf_counter()
    texts, ys, dev_texts, dev_ys, dev_desc = _load_data(cfg, train_path, dev_path)
    tok = load_tokenizer(tok_dir)
    enc = TextEncoder(tok, cfg.max_length)
    pad_id = enc.pad_id

    # Fail on an existing output *before* spending minutes training.
    with staged_output_dir(cfg.output, cfg.overwrite) as stage:
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        threads = torch.get_num_threads()
        random.seed(cfg.seed)
        np.random.seed(cfg.seed)
        torch.manual_seed(cfg.seed)
        rng = random.Random(cfg.seed)

        with step(f"tokenizing {len(texts):,} training and {len(dev_texts):,} dev texts", quiet=cfg.quiet):
            train_ids = enc.encode(texts)
            dev_ids = enc.encode(dev_texts)
        model = _new_model(cfg, tok, pad_id).to(device)
        n_params = sum(p.numel() for p in model.parameters())
        steps_per_epoch = -(-len(train_ids) // cfg.batch_size)
        _log(cfg, f"model: {n_params:,} parameters (E={cfg.embedding_size}, H={cfg.hidden_size}, {cfg.layers} layer applications "
                  f"of {cfg.groups} group(s), {cfg.heads} heads, FFN {cfg.intermediate_size}); {len(train_ids):,} training rows, "
                  f"{steps_per_epoch} steps/epoch on {device} ({threads} threads)")

        if cfg.stages:
            history = _train_stages(model, train_ids, ys, dev_ids, dev_ys, pad_id, device, rng, cfg)
            # Earlier stages run the layer fewer times (a different model): the last stage is the result.
            best_acc, best_epoch = history[-1]["dev_accuracy"], len(history)
        else:
            history: list[dict] = []
            best_acc, best_epoch, best_state = -1.0, 0, None
            opt, sched = _optimizer(model, cfg, steps_per_epoch * cfg.epochs)
            for epoch in range(1, cfg.epochs + 1):
                t0 = time.perf_counter()
                loss = _train_epoch(model, opt, sched, train_ids, ys, pad_id, device, rng, cfg, epoch)
                train_s = time.perf_counter() - t0
                acc = evaluate(model, dev_ids, dev_ys, pad_id, device)
                history.append({"epoch": epoch, "train_loss": round(loss, 5), "dev_accuracy": round(acc, 5), "epoch_train_s": round(train_s, 1)})
                _log(cfg, f"epoch {epoch}: train loss {loss:.4f}, dev accuracy {acc:.4f} ({train_s:.0f} s)")
                if acc > best_acc:
                    best_acc, best_epoch = acc, epoch
                    best_state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
            model.load_state_dict(best_state)
        model.to("cpu").eval()
        wall = time.perf_counter() - t_start

        with step(f"saving the {'stage' if cfg.stages else 'epoch'}-{best_epoch} model", quiet=cfg.quiet):
            # One shared group means every application reuses the same tensors: nothing duplicated on disk.
            model.save_pretrained(str(stage), safe_serialization=True)
            copy_tokenizer_files(tok_dir, stage, tok, compact_json=True)
            files = sorted(p.name for p in stage.iterdir() if p.is_file())
            record = {
                "format_version": 1,
                "command": _command_line(cfg, train_path, dev_path, tok_dir),
                "argv": sys.argv,
                "seed": cfg.seed,
                "train_data": {"path": str(train_path), "rows": len(train_ids), "limit": cfg.limit},
                "dev_data": {"source": dev_desc, "rows": len(dev_ids)},
                "tokenizer": {"source": str(tok_dir), "vocab_size": len(tok)},
                "labels": list(cfg.labels),
                "model": {
                    "embedding_size": cfg.embedding_size, "hidden_size": cfg.hidden_size,
                    "num_hidden_layers": cfg.layers, "num_hidden_groups": cfg.groups,
                    "num_attention_heads": cfg.heads, "intermediate_size": cfg.intermediate_size,
                    "max_position_embeddings": cfg.max_position_embeddings, "unique_parameters": n_params,
                },
                "hyperparameters": {
                    "optimizer": "AdamW", "lr": None if cfg.stages else cfg.lr, "warmup_fraction": cfg.warmup,
                    "schedule": "linear warm-up, linear decay" + (" per stage" if cfg.stages else ""),
                    "stages": [{"applications": a, "epochs": e, "lr": lr} for a, e, lr in cfg.stages] if cfg.stages else None,
                    "weight_decay": cfg.weight_decay, "batch_size": cfg.batch_size, "max_length": cfg.max_length,
                    "dropout": cfg.dropout, "epochs": None if cfg.stages else cfg.epochs, "grad_clip": 1.0, "batching": "length-bucketed",
                },
                "epochs": history,
                "best_epoch": best_epoch,
                "dev_accuracy": round(best_acc, 5),
                "wall_time_s": round(wall, 1),
                "machine": _machine(device, threads),
                "versions": _versions(),
                "files": sorted(files + ["training.json"]),
            }
            (stage / "training.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
            # mkdtemp / safetensors create owner-only modes; a model folder is meant to be shared.
            os.chmod(stage, 0o755)
            for p in stage.iterdir():
                os.chmod(p, 0o644)
            record["folder_bytes"] = sum(p.stat().st_size for p in stage.iterdir() if p.is_file())
    record["output"] = str(cfg.output)
    return record


def _load_data(cfg: TrainConfig, train_path: Path, dev_path: Path | None):
    """(train texts, labels, dev texts, labels, dev description); without a dev file a seed-fixed 10%
    of the training rows is held out."""
    import random

    from .data import read_labeled_tsv

    labels = list(cfg.labels)
    texts, ys = read_labeled_tsv(train_path, labels, limit=cfg.limit)
    if dev_path is not None:
        dev_texts, dev_ys = read_labeled_tsv(dev_path, labels)
        return texts, ys, dev_texts, dev_ys, str(dev_path)
    perm = random.Random(cfg.seed).sample(range(len(texts)), len(texts))
    n_dev = max(1, len(texts) // 10)
    if len(texts) - n_dev < 2:
        raise AlbertEdgeError(f"{train_path} has too few rows ({len(texts)}) to hold out a dev split; pass --dev")
    dev_idx, tr_idx = perm[:n_dev], perm[n_dev:]
    return ([texts[i] for i in tr_idx], [ys[i] for i in tr_idx], [texts[i] for i in dev_idx], [ys[i] for i in dev_idx],
            f"{n_dev} rows held out of {train_path} (seed {cfg.seed})")


def _new_model(cfg: TrainConfig, tok, pad_id: int):
    from transformers import AlbertConfig, AlbertForSequenceClassification

    labels = list(cfg.labels)
    config = AlbertConfig(
        vocab_size=len(tok),
        embedding_size=cfg.embedding_size,
        hidden_size=cfg.hidden_size,
        num_hidden_layers=cfg.layers,
        num_hidden_groups=cfg.groups,
        inner_group_num=1,
        num_attention_heads=cfg.heads,
        intermediate_size=cfg.intermediate_size,
        hidden_act="gelu_new",
        hidden_dropout_prob=cfg.dropout,
        attention_probs_dropout_prob=cfg.dropout,
        classifier_dropout_prob=cfg.dropout,
        max_position_embeddings=cfg.max_position_embeddings,
        type_vocab_size=2,
        initializer_range=cfg.init_std,
        pad_token_id=pad_id,
        bos_token_id=tok.cls_token_id,
        eos_token_id=tok.sep_token_id,
        num_labels=len(labels),
        id2label={i: name for i, name in enumerate(labels)},
        label2id={name: i for i, name in enumerate(labels)},
    )
    # Eager attention is what load_checkpoint and the exporters use, so the dev accuracy recorded
    # here is exactly what an independent evaluation of the saved folder gets.
    config._attn_implementation = "eager"
    return AlbertForSequenceClassification(config)


def _optimizer(model, cfg: TrainConfig, total_steps: int):
    import torch

    # Standard BERT/ALBERT practice: no weight decay on biases and LayerNorm weights.
    decay, no_decay = [], []
    for _, p in model.named_parameters():
        (no_decay if p.ndim < 2 else decay).append(p)
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=cfg.lr, betas=(0.9, 0.999), eps=1e-6,
    )
    warm = max(1, int(cfg.warmup * total_steps))

    def lr_at(s: int) -> float:
        # Linear warm-up then linear decay to zero (BERT/ALBERT fine-tuning schedule).
        if s < warm:
            return (s + 1) / warm
        return max(0.0, (total_steps - s) / max(1, total_steps - warm))

    return opt, torch.optim.lr_scheduler.LambdaLR(opt, lr_at)


def _train_stages(model, train_ids, ys, dev_ids, dev_ys, pad_id: int, device, rng, cfg: TrainConfig) -> list[dict]:
    """Progressive stacking (Gong et al. 2019, "Efficient Training of BERT by Progressively Stacking"):
    train with few applications of the layer, then run the same weights more times and go on training.

    Why: from scratch, ALBERT-base's shape (12 post-LN applications of one H 768 layer) stayed on the
    ln 2 plateau at the majority class in every plain run here (four learning rates and init scales,
    up to 375 steps, and 300 more steps with the residual branches zero-initialised), while one
    application learns SST-2 within an epoch. Cross-layer sharing makes the hand-over exact: the
    weights of one application are the weights of all, so a stage only changes how often they run
    (config.num_hidden_layers, which transformers' encoder loops over). Each stage gets its own
    AdamW and warm-up/decay schedule, a seeded sample of `epochs` passes over the training rows,
    and a dev evaluation at its own application count."""
    n = len(train_ids)
    history = []
    if model.albert.encoder.config is not model.config:
        raise RuntimeError("the encoder does not read the model's config; progressive stacking cannot set its depth")
    try:
        for i, (apps, epochs, lr) in enumerate(cfg.stages, 1):
            model.config.num_hidden_layers = apps
            rows = max(1, round(epochs * n))
            order: list[int] = []
            while len(order) < rows:  # whole shuffled passes, the last one cut
                order += rng.sample(range(n), n)
            order = order[:rows]
            stage_cfg = replace(cfg, lr=lr, epochs=len(cfg.stages))
            steps = -(-rows // cfg.batch_size)
            opt, sched = _optimizer(model, stage_cfg, steps)
            t0 = time.perf_counter()
            loss = _train_epoch(model, opt, sched, [train_ids[j] for j in order], [ys[j] for j in order], pad_id, device, rng,
                                stage_cfg, i, label="stage")
            train_s = time.perf_counter() - t0
            acc = evaluate(model, dev_ids, dev_ys, pad_id, device)
            history.append({"stage": i, "applications": apps, "epochs": epochs, "lr": lr, "steps": steps, "train_loss": round(loss, 5),
                            "dev_accuracy": round(acc, 5), "epoch_train_s": round(train_s, 1)})
            _log(cfg, f"stage {i}: {apps} application(s), {steps} steps at lr {lr:g}: train loss {loss:.4f}, dev accuracy {acc:.4f} ({train_s:.0f} s)")
    finally:
        model.config.num_hidden_layers = cfg.layers
    return history


def _train_epoch(model, opt, sched, train_ids, ys, pad_id: int, device, rng, cfg: TrainConfig, epoch: int, label: str = "epoch") -> float:
    """One pass over length-bucketed batches; returns the mean training loss."""
    import torch

    from .progress import bar

    model.train()
    t0 = time.perf_counter()
    batches = length_bucketed_batches([len(x) for x in train_ids], cfg.batch_size, rng)
    loss_sum, seen = 0.0, 0
    win_sum, win_n = 0.0, 0
    interactive = sys.stderr.isatty()
    with bar(total=len(batches), desc=f"{label} {epoch}/{cfg.epochs}", unit="batch") as pb:
        for b, idx in enumerate(batches):
            input_ids, mask = _collate([train_ids[i] for i in idx], pad_id, device)
            y = torch.tensor([ys[i] for i in idx], dtype=torch.long, device=device)
            out = model(input_ids=input_ids, attention_mask=mask, labels=y)
            opt.zero_grad(set_to_none=True)
            out.loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            loss_sum += float(out.loss.detach()) * len(idx)
            seen += len(idx)
            win_sum += float(out.loss.detach()) * len(idx)
            win_n += len(idx)
            pb.update(1)
            if b % 50 == 0:
                pb.set_postfix(loss=f"{loss_sum / seen:.4f}")
            # Background runs (log files) get a line every ~10% instead of a bar.
            if not interactive and not cfg.quiet and (b + 1) % max(1, len(batches) // 10) == 0:
                _log(cfg, f"  {label} {epoch} step {b + 1}/{len(batches)} loss {loss_sum / seen:.4f} "
                          f"(last {win_n} rows {win_sum / win_n:.4f}, {time.perf_counter() - t0:.0f} s)")
                win_sum, win_n = 0.0, 0
    return loss_sum / seen
