"""Load a fine-tuned ALBERT classifier from a local Hugging Face folder, safely.

Weights come from `model.safetensors` or a legacy `pytorch_model.bin` read with
`torch.load(weights_only=True)`; nothing user-supplied is ever unpickled as arbitrary objects.
"""

from __future__ import annotations

import os
import pickle
from dataclasses import dataclass, field
from pathlib import Path

from .errors import AlbertEdgeError
from .fsutil import read_json, require_dir

WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
# Buffers transformers re-creates itself; their absence from a checkpoint is normal.
_OPTIONAL_KEYS = ("embeddings.position_ids", "embeddings.token_type_ids")


@dataclass
class Checkpoint:
    model_dir: Path
    config: "object"  # transformers.AlbertConfig
    model: "object"  # transformers.AlbertForSequenceClassification, in eval mode
    tokenizer: "object"  # a transformers fast tokenizer
    weights_file: Path
    labels: list[str] = field(default_factory=list)

    @property
    def unique_parameters(self) -> int:
        return sum(p.numel() for p in self.model.parameters())


def read_config(model_dir: str | os.PathLike) -> dict:
    model_dir = require_dir(model_dir, "model folder")
    cfg_path = model_dir / "config.json"
    if not cfg_path.is_file():
        raise AlbertEdgeError(f"model folder {model_dir} has no config.json")
    cfg = read_json(cfg_path)
    if not isinstance(cfg, dict):
        raise AlbertEdgeError(f"{cfg_path} must hold a JSON object")
    model_type = cfg.get("model_type")
    if model_type != "albert":
        raise AlbertEdgeError(f"{cfg_path} has model_type {model_type!r}; albert-edge needs an ALBERT model ('albert')")
    return cfg


def labels_from_config(config) -> list[str]:
    n = int(config.num_labels)
    id2label = {int(k): str(v) for k, v in (config.id2label or {}).items()}
    return [id2label.get(i, f"LABEL_{i}") for i in range(n)]


def _require_single_label_classifier(config, cfg_path: Path) -> None:
    """Refuse heads whose outputs are not one softmax over classes: the parity gate's agreement and
    accuracy, `predict`'s label + probability and the Android demo all read the logits that way, so a
    regression score or independent multi-label sigmoids would come out as a confident wrong label."""
    problem = getattr(config, "problem_type", None)
    if int(config.num_labels) < 2:  # transformers itself refuses one label with single_label_classification
        raise AlbertEdgeError(
            f"{cfg_path}: num_labels is {config.num_labels} (a regression head); albert-edge exports single-label "
            "classifiers (num_labels >= 2, one softmax over the classes)"
        )
    if problem == "multi_label_classification":
        raise AlbertEdgeError(
            f"{cfg_path}: problem_type is multi_label_classification (one sigmoid per label); albert-edge exports "
            "single-label classifiers (one softmax over the classes)"
        )


def find_weights(model_dir: Path) -> Path:
    for name in WEIGHT_FILES:
        if (model_dir / name).is_file():
            return model_dir / name
    if list(model_dir.glob("model-*.safetensors")) or (model_dir / "model.safetensors.index.json").exists():
        raise AlbertEdgeError(f"{model_dir} holds sharded weights; merge them into one model.safetensors (ALBERT is small)")
    raise AlbertEdgeError(f"model folder {model_dir} has no weights ({' or '.join(WEIGHT_FILES)})")


def read_state_dict(path: Path) -> dict:
    import torch

    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path))
        sd = torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        # torch's own text ends in advice to pass weights_only=False, i.e. to run the file's code.
        raise AlbertEdgeError(
            f"cannot read weights {path}: it holds Python objects other than tensors, and albert-edge never "
            "unpickles code; save the weights as model.safetensors instead"
        ) from None
    except Exception as e:  # corrupt/truncated files raise many different types
        raise AlbertEdgeError(f"cannot read weights {path}: {str(e).splitlines()[0][:200] if str(e) else type(e).__name__}") from None
    if isinstance(sd, dict) and "state_dict" in sd and isinstance(sd["state_dict"], dict):
        sd = sd["state_dict"]
    if not isinstance(sd, dict) or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise AlbertEdgeError(f"{path} does not hold a plain tensor state dict")
    return sd


def build_model(config, state_dict: dict, weights_file: Path):
    from transformers import AlbertForSequenceClassification

    model = AlbertForSequenceClassification(config)
    expected = model.state_dict()
    sd = dict(state_dict)
    # Accept checkpoints saved from a bare AlbertModel wrapper prefix-less, the common legacy variant.
    if not any(k.startswith("albert.") for k in sd) and any(k.startswith("embeddings.") for k in sd):
        sd = {("albert." + k if not k.startswith("classifier.") else k): v for k, v in sd.items()}
    missing = [k for k in expected if k not in sd and not k.endswith(_OPTIONAL_KEYS)]
    # The MLM head / decoder of pre-training checkpoints is irrelevant here.
    unexpected = [k for k in sd if k not in expected and not k.startswith("predictions.") and not k.endswith(_OPTIONAL_KEYS)]
    if missing:
        head = "classifier" if all(k.startswith("classifier.") for k in missing) else "model"
        raise AlbertEdgeError(
            f"{weights_file} lacks {len(missing)} {head} tensor(s) (e.g. {missing[0]}); "
            "is this a fine-tuned AlbertForSequenceClassification checkpoint?"
        )
    if unexpected:
        raise AlbertEdgeError(f"{weights_file} has {len(unexpected)} tensor(s) this config does not expect (e.g. {unexpected[0]})")
    for k, v in expected.items():
        if k in sd and tuple(sd[k].shape) != tuple(v.shape):
            raise AlbertEdgeError(f"{weights_file}: {k} has shape {tuple(sd[k].shape)}, config.json implies {tuple(v.shape)}")
    sd = {k: v.float() if v.is_floating_point() else v for k, v in sd.items() if k in expected}
    # A NaN or Inf weight (a diverged fine-tune, an fp16 overflow) makes every logit NaN: each exporter
    # would fail its own self-check with a message about outputs, far from the cause. Name the tensor.
    bad = next((k for k, v in sd.items() if v.is_floating_point() and not bool(v.isfinite().all())), None)
    if bad is not None:
        n = int((~sd[bad].isfinite()).sum())
        raise AlbertEdgeError(f"{weights_file}: {bad} holds {n} NaN/Inf value(s); the checkpoint is broken (a diverged or overflowed fine-tune?)")
    model.load_state_dict(sd, strict=False)
    model.eval()
    return model


def load_checkpoint(model_dir: str | os.PathLike, with_tokenizer: bool = True) -> Checkpoint:
    """Load config, weights and tokenizer; every user mistake becomes a one-line AlbertEdgeError."""
    from transformers import AlbertConfig

    from .tokenizer import load_tokenizer

    model_dir = require_dir(model_dir, "model folder")
    cfg_dict = read_config(model_dir)
    try:
        config = AlbertConfig.from_dict(cfg_dict)
    except Exception as e:
        raise AlbertEdgeError(f"{model_dir / 'config.json'} is not a valid ALBERT config ({e})") from None
    for key in ("hidden_size", "num_attention_heads", "num_hidden_layers", "vocab_size", "embedding_size"):
        if not isinstance(getattr(config, key, None), int) or getattr(config, key) <= 0:
            raise AlbertEdgeError(f"{model_dir / 'config.json'}: {key} must be a positive integer")
    if config.hidden_size % config.num_attention_heads:
        raise AlbertEdgeError(f"{model_dir / 'config.json'}: hidden_size is not divisible by num_attention_heads")
    _require_single_label_classifier(config, model_dir / "config.json")
    # transformers 4 offered relative position embeddings (an extra distance_embedding per layer);
    # transformers 5 ignores the field and would run the model with absolute positions only.
    pos = cfg_dict.get("position_embedding_type", "absolute")
    if pos != "absolute":
        raise AlbertEdgeError(
            f"{model_dir / 'config.json'}: position_embedding_type is {pos!r}; transformers 5 (and albert-edge) run "
            "ALBERT with absolute position embeddings only"
        )
    # Export needs deterministic graphs; eager attention maps cleanly onto ONNX/TFLite ops.
    config._attn_implementation = "eager"
    # chunk_size_feed_forward is a training-memory knob: the FFN is per token, so chunking it along the
    # sequence gives the same numbers, but transformers then refuses any length that is not a multiple of
    # the chunk (ValueError) and the exporters would trace the chunk loop. Run it unchunked.
    config.chunk_size_feed_forward = 0
    # Output flags saved with a config (return_dict False, hidden states or attentions returned) change
    # what forward returns, not the logits; every exporter and the parity reference read `.logits` only.
    config.return_dict, config.output_hidden_states, config.output_attentions = True, False, False
    weights_file = find_weights(model_dir)
    tokenizer = load_tokenizer(model_dir) if with_tokenizer else None
    if tokenizer is not None and len(tokenizer) > config.vocab_size:
        raise AlbertEdgeError(
            f"the tokenizer in {model_dir} has {len(tokenizer)} tokens but config.json's vocab_size is {config.vocab_size}: "
            "ids past the embedding table would fail at run time"
        )
    model = build_model(config, read_state_dict(weights_file), weights_file)
    return Checkpoint(
        model_dir=model_dir,
        config=config,
        model=model,
        tokenizer=tokenizer,
        weights_file=weights_file,
        labels=labels_from_config(config),
    )
