"""What the stock-recipe peers (litert_stock.py, executorch_stock.py) share: the model as transformers
loads it, wrapped in the bare glue a converter needs, and quiet conversions."""

from __future__ import annotations

import contextlib
import io
import warnings


@contextlib.contextmanager
def quiet():
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        yield


def stock_module(model_dir: str):
    """(module, hf_model): `from_pretrained` with transformers' defaults (attention implementation
    included), nothing rewritten; the module takes (input_ids, attention_mask, token_type_ids) and
    returns the logits."""
    import torch
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(model_dir).eval()

    class Logits(torch.nn.Module):  # the bare glue torch.export / the converter needs: tensors in, logits out
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.m(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids).logits

    return Logits(model).eval(), model
