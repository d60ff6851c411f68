"""What the structured strategies cannot prune, said before any work (``StrategySpec.check``).

Removing channels of an attention layer must remove whole heads of the query, key and value projections
together and keep the head count the forward pass reshapes by; Torch-Pruning does that only when it is given
each model's attention modules and head counts, which a model-agnostic strategy cannot give. Left alone it
either breaks the forward pass (a Llama: ``shape [1, 255, -1, 32] is invalid``) or empties a layer (a ViT's
``qkv``). So a model with attention is refused up front: left out of the default set with a note, refused in
one line when named.
"""

from __future__ import annotations

from typing import Any

from torch import nn


def attention_layer(model: nn.Module) -> tuple[str, nn.Module] | None:
    """The qualified name and module of the first attention module of ``model`` -- an ``nn.MultiheadAttention`` or
    a module whose class name ends in ``Attention`` (Hugging Face's ``LlamaAttention``, ``GPT2Attention``; timm's
    and ShrinkBench's ViT ``Attention``) below the model itself -- or ``None``."""
    for name, module in model.named_modules():
        if name and (isinstance(module, nn.MultiheadAttention) or type(module).__name__.endswith("Attention")):
            return name, module
    return None


def channels_removable(ctx: Any) -> str | None:
    """Why channels of ``ctx.model`` cannot be removed consistently (an attention layer), or ``None``."""
    found = attention_layer(ctx.model)
    if found is None:
        return None
    name, module = found
    return (f"it removes channels, and the model has attention ({name!r}, {type(module).__name__}) whose heads it "
            "cannot remove consistently; use an unstructured or N:M strategy")
