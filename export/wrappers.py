"""The one output wrapper every exporter traces: the HF classifier (or export/cls_only.ClsOnlyLogits)
reduced to `logits` (or probabilities).

ONNX wants a bare tensor (its output is then named by `output_names`); litert-torch names a signature's
outputs after the keys of a returned dict. MediaPipe reports the output as its scores unchanged, so its
file ends in a softmax (`probabilities=True`).
"""

from __future__ import annotations


def logits_only(model, as_dict: bool = False, probabilities: bool = False):
    import torch

    name = "probabilities" if probabilities else "logits"

    class LogitsOnly(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, input_ids, attention_mask, token_type_ids):
            out = self.m(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
            out = getattr(out, "logits", out)  # a transformers output, or a module that returns the logits (cls_only)
            if probabilities:
                out = torch.softmax(out, dim=-1)
            return {name: out} if as_dict else out

    return LogitsOnly(model).eval()
