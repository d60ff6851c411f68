"""A Hugging Face causal language model as ShrinkBench builds it: ``forward(token_ids) -> logits``.

:class:`CausalLM` wraps a ``*ForCausalLM`` model: its forward takes a ``LongTensor`` of token ids
``(batch, tokens)`` and returns the logits ``(batch, tokens, vocabulary)`` as a plain tensor (no cache, no
output object). It names the output head (``lm_head``) in ``shrinkbench_classifier``, so strategies leave it
dense by default; token embeddings are ``nn.Embedding`` (not prunable unless asked), and a head tied to the
embeddings is one parameter, counted once.

GPT-2-style ``Conv1D`` layers (a linear layer storing its weight transposed, not an ``nn.Linear``) are
replaced by equivalent ``nn.Linear`` layers, so that every linear layer of the decoder blocks is prunable.
"""

from __future__ import annotations

import inspect

import torch
from torch import nn

__all__ = ["CausalLM", "linear_from_conv1d"]


class CausalLM(nn.Module):
    """``forward(token_ids: LongTensor (B, T)) -> logits (B, T, V)`` of the Hugging Face causal LM ``model``.

    Attributes: ``model`` (the wrapped ``PreTrainedModel``), ``shrinkbench_classifier`` (qualified name of the
    output head, e.g. ``"model.lm_head"``) and ``shrinkbench_source`` (where the weights came from: a hub id
    and its commit, a directory, or ``random``).
    """

    def __init__(self, model: nn.Module, source: str) -> None:
        super().__init__()
        linear_from_conv1d(model)
        self.model = model
        self.shrinkbench_classifier = f"model.{head_name(model)}"
        self.shrinkbench_source = source
        parameters = inspect.signature(model.forward).parameters
        self._options = {"use_cache": False} if "use_cache" in parameters else {}

    @property
    def config(self):  # noqa: ANN201 - a transformers PretrainedConfig
        """The wrapped model's configuration."""
        return self.model.config

    def forward(self, token_ids: torch.Tensor) -> torch.Tensor:
        """The next-token logits ``(batch, tokens, vocabulary)`` at every position of ``token_ids``."""
        out = self.model(input_ids=token_ids, **self._options)
        return out.logits if hasattr(out, "logits") else out[0]


def head_name(model: nn.Module) -> str:
    """Qualified name (within ``model``) of the layer producing the logits: ``get_output_embeddings()``, else
    the last ``nn.Linear`` with as many outputs as the vocabulary. Raises ``ValueError`` when there is none."""
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    vocab = getattr(getattr(model, "config", None), "vocab_size", None)
    found = None
    for name, module in model.named_modules():
        if module is head and isinstance(head, nn.Module):
            return name
        if isinstance(module, nn.Linear) and module.out_features == vocab:
            found = name
    if found is None:
        raise ValueError(f"cannot find the output head of {type(model).__name__} (no layer with {vocab} outputs)")
    return found


def linear_from_conv1d(model: nn.Module) -> nn.Module:
    """Replace every transformers ``Conv1D`` (``y = x @ W + b`` with ``W`` of shape (in, out)) by the
    ``nn.Linear`` computing the same (weight ``W.T``), in place; return ``model``."""
    try:
        from transformers.pytorch_utils import Conv1D
    except ImportError:  # pragma: no cover - transformers always has it
        return model
    for name, module in list(model.named_modules()):
        if not isinstance(module, Conv1D):
            continue
        weight = module.weight.detach()
        linear = nn.utils.skip_init(nn.Linear, weight.shape[0], weight.shape[1], bias=module.bias is not None,
                                    device=weight.device, dtype=weight.dtype)  # no random draw: copied below
        with torch.no_grad():
            linear.weight.copy_(weight.t())
            if module.bias is not None:
                linear.bias.copy_(module.bias.detach())
        parent, _, attr = name.rpartition(".")
        setattr(model.get_submodule(parent) if parent else model, attr, linear)
    return model
