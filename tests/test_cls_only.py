"""export/cls_only.ClsOnlyLogits on transformers' own modules (the TFLite / MediaPipe path; the
ExecuTorch path, on rewritten modules, is tested in test_executorch.py): same logits as
transformers, the last application's FFN on one row (two with first_two_rows, the TFLite choice),
the barrier on every application's input, the model left untouched."""

from __future__ import annotations

import copy

import pytest
import torch


def _tiny_model(**over):
    from albert_edge.testing import tiny_classifier

    return tiny_classifier(seed=1, **{"num_labels": 3, **over})


IDS = torch.tensor([[2, 17, 45, 99, 3, 0, 0], [2, 8, 9, 10, 11, 12, 3]])
MASK = (IDS != 0).long()
TYPES = torch.tensor([[0, 0, 0, 0, 0, 0, 0], [0, 0, 0, 1, 1, 1, 1]])


@pytest.mark.parametrize("layout", [{}, {"num_hidden_groups": 3}, {"num_hidden_layers": 4, "num_hidden_groups": 2, "inner_group_num": 2}])
def test_cls_only_matches_transformers_with_the_last_ffn_on_one_row(layout):
    from albert_edge.export.cls_only import ClsOnlyLogits, layer_applications

    model = _tiny_model(**layout)
    before = copy.deepcopy(model.state_dict())
    modules_before = [type(m) for m in model.modules()]
    with torch.no_grad():
        want = model(input_ids=IDS, attention_mask=MASK, token_type_ids=TYPES).logits
    order = layer_applications(model)
    rows = []
    hook = order[-1].ffn.register_forward_hook(lambda m, i, o: rows.append(i[0].shape[1]))
    calls = []
    wrapped = ClsOnlyLogits(model, barrier=lambda x: calls.append(tuple(x.shape)) or x)
    with torch.no_grad():
        got = wrapped(IDS, MASK, TYPES)
        for b in range(2):  # the TFLite signatures are batch 1
            torch.testing.assert_close(wrapped(IDS[b : b + 1], MASK[b : b + 1], TYPES[b : b + 1])[0], want[b], atol=1e-5, rtol=1e-5)
        full = ClsOnlyLogits(model, cls_only=False)(IDS, MASK, TYPES)
    hook.remove()
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(full, want, atol=1e-5, rtol=1e-5)
    n = len(order)
    # The shared FFN module: every earlier application that uses it on all 7 rows, the last on [CLS] only
    # (3 wrapped calls with cls_only, then one without it: all rows).
    uses = sum(1 for x in order if x is order[-1])
    assert rows == ([7] * (uses - 1) + [1]) * 3 + [7] * uses, rows
    # The fold barrier: on every application's input (all rows, the last application's too).
    assert calls == [(2, 7, 32)] * n + [(1, 7, 32)] * n * 2, calls
    # Nothing in the model was replaced or changed, and no parameter was copied.
    assert [type(m) for m in model.modules()] == modules_before
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert {id(p) for p in wrapped.parameters()} == {id(p) for p in model.parameters()}


def test_first_two_rows_gives_the_same_logits_with_the_last_ffn_on_two_rows():
    from albert_edge.export.cls_only import ClsOnlyLogits, first_two_rows, layer_applications

    model = _tiny_model(num_hidden_layers=2)
    rows = []
    hook = layer_applications(model)[-1].ffn.register_forward_hook(lambda m, i, o: rows.append(tuple(i[0].shape[:2])))
    with torch.no_grad():
        want = model(input_ids=IDS, attention_mask=MASK, token_type_ids=TYPES).logits
        rows.clear()
        got = ClsOnlyLogits(model, first_row=first_two_rows)(IDS, MASK, TYPES)
        two = ClsOnlyLogits(model, first_row=first_two_rows)(IDS[:, :2], MASK[:, :2], TYPES[:, :2])  # the shortest sequence
        want2 = model(input_ids=IDS[:, :2], attention_mask=MASK[:, :2], token_type_ids=TYPES[:, :2]).logits
    hook.remove()
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(two, want2, atol=1e-5, rtol=1e-5)
    # got: the first application on all 7 rows, the last on 2; then the 2-token inputs (ours, transformers').
    assert rows == [(2, 7), (2, 2)] + [(2, 2)] * 4, rows
