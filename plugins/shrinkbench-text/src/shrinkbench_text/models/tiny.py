"""``tiny-llama``: the bundled language model, a Llama-architecture decoder of 4.5M parameters with its own
tokenizer, small enough to pretrain and prune on a laptop CPU.

Architecture (transformers ``LlamaConfig``): hidden size 256, 4 decoder layers, 4 attention heads (head size
64, no grouped keys/values), SwiGLU MLP of 768, RMSNorm, rotary positions, 256 positions, vocabulary 4,096,
output head tied to the token embeddings (one 1.05M tensor, counted once, not pruned by default). The decoder
layers' 28 linear layers (3.41M weights) are prunable.

The tokenizer is a byte-level BPE of 4,096 tokens (``<|endoftext|>`` = 0) trained on the bundled corpus by
``scripts/train_tokenizer.py`` and shipped as ``shrinkbench_text/tokenizer.json``.

``build`` draws the weights from torch's generator (the engine seeds it with the run's seed, so the same seed
gives the same model); ``pretrained`` may name a state dict to load instead.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

from .tokenizer import TextTokenizer

__all__ = ["CONTEXT", "TOKENIZER_NAME", "VOCAB", "bundled_tokenizer", "build", "config", "tokenizer"]

VOCAB = 4096
CONTEXT = 256
TOKENIZER_NAME = "shrinkbench-bpe-4096"
"""The label of the bundled tokenizer (its ``name`` adds a hash of tokenizer.json)."""
END_OF_TEXT = "<|endoftext|>"


def config() -> Any:
    """tiny-llama's ``transformers.LlamaConfig``."""
    from transformers import LlamaConfig

    return LlamaConfig(vocab_size=VOCAB, hidden_size=256, intermediate_size=768, num_hidden_layers=4,
                       num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=CONTEXT,
                       tie_word_embeddings=True, bos_token_id=0, eos_token_id=0, pad_token_id=None,
                       rope_theta=10_000.0, attention_bias=False, mlp_bias=False)


def build(num_classes: int = 0, input_shape: tuple[int, ...] = (), pretrained: str | None = None):  # noqa: ANN201
    """A fresh tiny-llama (:class:`~shrinkbench_text.models.wrapper.CausalLM`): random weights from torch's
    generator, or the state dict file ``pretrained``. ``num_classes`` and ``input_shape`` are ignored."""
    import torch
    from transformers import LlamaForCausalLM

    from .wrapper import CausalLM

    model = CausalLM(LlamaForCausalLM(config()).to(torch.float32), "random")
    if pretrained:
        from shrinkbench.checkpoints import load_into, read_state_dict, weights_file

        file = weights_file(pretrained, "pass the path of a tiny-llama state dict (.pt/.safetensors)")
        if file is None:
            raise ValueError(f"tiny-llama has no pretrained weights {pretrained!r}; pass a state dict file")
        load_into(model, read_state_dict(file), str(file))
        model.shrinkbench_source = str(file)
    return model


@cache
def bundled_tokenizer() -> Any:
    """The bundled byte-level BPE (a ``tokenizers.Tokenizer``), read from the package's tokenizer.json."""
    from tokenizers import Tokenizer

    return Tokenizer.from_str(resources.files("shrinkbench_text").joinpath("tokenizer.json").read_text("utf-8"))


def tokenizer(pretrained: str | None = None) -> TextTokenizer:
    """tiny-llama's tokenizer (any weights: they are all trained on it), context length 256."""
    return TextTokenizer(bundled_tokenizer(), TOKENIZER_NAME, CONTEXT)
