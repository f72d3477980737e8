"""The one module both exporters trace: the HF classifier reduced to `logits`.

ONNX wants a bare tensor (its output is then named by `output_names`); litert-torch names a signature's
outputs after the keys of a returned dict.
"""

from __future__ import annotations


def logits_only(model, as_dict: bool = False):
    import torch

    class LogitsOnly(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, input_ids, attention_mask, token_type_ids):
            logits = self.m(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids).logits
            return {"logits": logits} if as_dict else logits

    return LogitsOnly(model).eval()
