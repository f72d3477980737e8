"""Checkpoint loading: safetensors and legacy .bin, grouped layers, labels, and every user mistake."""

from __future__ import annotations

import json
import pickle
import shutil

import pytest
import torch

from albert_edge.checkpoint import load_checkpoint
from albert_edge.errors import AlbertEdgeError


def test_loads_safetensors_and_labels(tiny_ckpt):
    c = load_checkpoint(tiny_ckpt)
    assert c.weights_file.name == "model.safetensors"
    assert c.labels == ["negative", "positive"]
    assert not c.model.training
    # ALBERT shares one layer: unique parameters are far fewer than an unshared BERT of the same shape.
    layer = c.model.albert.encoder.albert_layer_groups[0].albert_layers[0]
    assert sum(p.numel() for p in layer.parameters()) < c.unique_parameters


def test_loads_grouped_legacy_bin(grouped_ckpt):
    c = load_checkpoint(grouped_ckpt)
    assert c.weights_file.name == "pytorch_model.bin"
    assert c.config.num_hidden_groups == 2 and c.config.inner_group_num == 2
    assert c.labels == ["sad", "meh", "glad"]
    ids = torch.tensor([c.tokenizer("good film")["input_ids"]])
    assert c.model(input_ids=ids).logits.shape == (1, 3)


def test_loaded_weights_equal_saved(grouped_ckpt):
    saved = torch.load(grouped_ckpt / "pytorch_model.bin", weights_only=True)
    got = load_checkpoint(grouped_ckpt).model.state_dict()
    for k, v in saved.items():
        assert torch.equal(got[k], v), k


def _edit_config(d, **changes):
    cfg = json.loads((d / "config.json").read_text())
    cfg.pop("num_labels", None)
    cfg.update(changes)
    (d / "config.json").write_text(json.dumps(cfg))


def _copy(src, tmp_path):
    dst = tmp_path / "m"
    shutil.copytree(src, dst)
    return dst


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: shutil.rmtree(d), "does not exist"),
        (lambda d: (d / "config.json").unlink(), "no config.json"),
        (lambda d: (d / "config.json").write_text("{not json"), "not valid JSON"),
        (lambda d: (d / "config.json").write_text(json.dumps({"model_type": "bert"})), "model_type 'bert'"),
        (lambda d: (d / "model.safetensors").unlink(), "has no weights"),
        (lambda d: (d / "model.safetensors").write_bytes((d / "model.safetensors").read_bytes()[:5000]), "cannot read weights"),
        (lambda d: [(d / n).unlink() for n in ("spiece.model", "tokenizer.json") if (d / n).exists()], "no tokenizer"),
        (lambda d: _edit_config(d, id2label={"0": "score"}, label2id={"score": 0}), "num_labels is 1 .a regression head"),
        (lambda d: _edit_config(d, problem_type="multi_label_classification"), "multi_label_classification"),
        (lambda d: _edit_config(d, id2label={"0": "only"}, label2id={"only": 0}, problem_type="single_label_classification"), "requires .num_labels > 1."),
        # A transformers 4 config with relative positions: transformers 5 would silently run absolute ones.
        (lambda d: _edit_config(d, position_embedding_type="relative_key"), "position_embedding_type is 'relative_key'"),
    ],
    ids=["missing-folder", "no-config", "corrupt-config", "not-albert", "no-weights", "truncated-weights", "no-tokenizer",
         "regression-head", "multi-label-head", "one-class", "relative-positions"],
)
def test_user_mistakes_are_one_line_errors(tiny_ckpt, tmp_path, mutate, message):
    d = _copy(tiny_ckpt, tmp_path)
    mutate(d)
    with pytest.raises(AlbertEdgeError, match=message) as e:
        load_checkpoint(d)
    assert "\n" not in str(e.value)


def test_missing_classifier_is_explained(grouped_ckpt, tmp_path):
    d = _copy(grouped_ckpt, tmp_path)
    sd = torch.load(d / "pytorch_model.bin", weights_only=True)
    torch.save({k: v for k, v in sd.items() if not k.startswith("classifier.")}, d / "pytorch_model.bin")
    with pytest.raises(AlbertEdgeError, match="classifier"):
        load_checkpoint(d)


def test_shape_mismatch_names_the_tensor(tiny_ckpt, tmp_path):
    d = _copy(tiny_ckpt, tmp_path)
    cfg = json.loads((d / "config.json").read_text())
    cfg["intermediate_size"] = 48
    (d / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(AlbertEdgeError, match="ffn"):
        load_checkpoint(d)


@pytest.mark.parametrize("value", [float("nan"), float("-inf")], ids=["nan", "inf"])
def test_non_finite_weights_are_refused_naming_the_tensor(tiny_ckpt, tmp_path, value):
    """A diverged fine-tune's NaN makes every logit NaN; without this the exporters' own self-checks
    failed later with messages about outputs ("gave logits of shape (3, 2)")."""
    from safetensors.torch import load_file, save_file

    d = _copy(tiny_ckpt, tmp_path)
    sd = load_file(str(d / "model.safetensors"))
    key = next(k for k in sd if k.endswith("ffn.weight"))
    sd[key][1, 2] = value
    save_file(sd, str(d / "model.safetensors"), metadata={"format": "pt"})
    with pytest.raises(AlbertEdgeError, match=f"{key} holds 1 NaN/Inf value") as e:
        load_checkpoint(d)
    assert "\n" not in str(e.value)


class _Evil:
    def __reduce__(self):
        return (print, ("unpickled arbitrary code!",))


def test_legacy_bin_is_never_unpickled_as_objects(grouped_ckpt, tmp_path, capsys):
    d = _copy(grouped_ckpt, tmp_path)
    with open(d / "pytorch_model.bin", "wb") as f:
        pickle.dump({"x": _Evil()}, f)
    with pytest.raises(AlbertEdgeError, match="cannot read weights"):
        load_checkpoint(d)
    assert "unpickled arbitrary code!" not in capsys.readouterr().out


def test_feed_forward_chunking_is_turned_off_with_the_same_numbers(tiny_ckpt, tmp_path):
    """A config saved with chunk_size_feed_forward > 0 loads and runs any length (transformers itself
    raises for a length that is not a multiple of the chunk), with the chunked model's logits."""
    import torch
    from transformers import AlbertConfig, AlbertForSequenceClassification

    d = _copy(tiny_ckpt, tmp_path)
    _edit_config(d, chunk_size_feed_forward=4)
    ckpt = load_checkpoint(d)
    assert ckpt.model.config.chunk_size_feed_forward == 0
    ids = torch.tensor([[2, 11, 12, 13, 14, 15, 16, 3]])  # 8 tokens: a multiple of 4, so chunked runs too
    odd = ids[:, :5]
    cfg = AlbertConfig.from_pretrained(str(d))
    cfg._attn_implementation = "eager"
    chunked = AlbertForSequenceClassification.from_pretrained(str(d), config=cfg).eval()
    assert chunked.config.chunk_size_feed_forward == 4
    with torch.no_grad():
        torch.testing.assert_close(ckpt.model(ids).logits, chunked(ids).logits, atol=1e-6, rtol=1e-6)
        with pytest.raises(ValueError, match="multiple of the chunk size"):
            chunked(odd)
        assert torch.isfinite(ckpt.model(odd).logits).all()


def test_output_flags_saved_in_the_config_do_not_change_what_the_model_returns(tiny_ckpt, tmp_path):
    import torch

    d = _copy(tiny_ckpt, tmp_path)
    _edit_config(d, return_dict=False, output_hidden_states=True, output_attentions=True)
    ids = torch.tensor([[2, 11, 12, 13, 3]])
    with torch.no_grad():
        out = load_checkpoint(d).model(ids)
        want = load_checkpoint(tiny_ckpt).model(ids).logits
    assert out.hidden_states is None and out.attentions is None
    torch.testing.assert_close(out.logits, want, atol=0, rtol=0)
