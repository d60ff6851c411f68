"""``tiny-llama``: the bundled language model, a Llama-architecture decoder of 1.4M parameters with its own
tokenizer and its own pretrained weights, small enough to prune and evaluate on a laptop CPU in seconds.

Architecture (transformers ``LlamaConfig``): hidden size 128, 4 decoder layers, 4 attention heads (head size
32, no grouped keys/values), SwiGLU MLP of 384, RMSNorm, rotary positions, 256 positions, vocabulary 4,096,
output head tied to the token embeddings (one 0.52M tensor, counted once, not pruned by default). The decoder
layers' 28 linear layers (0.85M weights) are prunable.

Weights: the package ships the dense model (``tiny_llama.safetensors``), pretrained on the bundled corpus's
training split by ``scripts/pretrain_tiny_llama.py`` with the engine's own training loop and the corpus's
pretraining recipe (seed 0), so the model is ``trained``: sweeps start from it without pretraining (as from a
hub model). ``--pretrained random`` starts from a random initialisation instead (then pretrain it with
``--pretrain-epochs N``).

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

__all__ = ["CONTEXT", "TOKENIZER_NAME", "VOCAB", "WEIGHTS", "bundled_tokenizer", "build", "config", "tokenizer"]

VOCAB = 4096
CONTEXT = 256
WEIGHTS = "tiny_llama.safetensors"
"""The shipped dense weights (float16 in the file, float32 in the model)."""
TOKENIZER_NAME = "shrinkbench-bpe-4096"
"""The label of the bundled tokenizer (its ``name`` adds a hash of tokenizer.json)."""
END_OF_TEXT = "<|endoftext|>"


def config() -> Any:
    """tiny-llama's ``transformers.LlamaConfig``."""
    from transformers import LlamaConfig

    return LlamaConfig(vocab_size=VOCAB, hidden_size=128, intermediate_size=384, num_hidden_layers=4,
                       num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=CONTEXT,
                       tie_word_embeddings=True, bos_token_id=0, eos_token_id=0, pad_token_id=None,
                       rope_theta=10_000.0, attention_bias=False, mlp_bias=False)


def build(num_classes: int = 0, input_shape: tuple[int, ...] = (), pretrained: str | None = None):  # noqa: ANN201
    """tiny-llama (:class:`~shrinkbench_text.models.wrapper.CausalLM`) with the shipped pretrained weights
    (``pretrained`` ``None``), random weights from torch's generator (``"random"``), or the state dict file
    ``pretrained``. ``num_classes`` and ``input_shape`` are ignored."""
    import torch
    from transformers import LlamaForCausalLM

    from .wrapper import CausalLM

    model = CausalLM(LlamaForCausalLM(config()).to(torch.float32), "random")
    if pretrained is None:
        from safetensors.torch import load

        from shrinkbench.checkpoints import load_into

        shipped = resources.files("shrinkbench_text").joinpath(WEIGHTS)
        if not shipped.is_file():
            raise FileNotFoundError(f"the package lacks {WEIGHTS}: run scripts/pretrain_tiny_llama.py, or pass "
                                    "--pretrained random")
        state = {k: v.to(torch.float32) for k, v in load(shipped.read_bytes()).items()}
        load_into(model, state, f"shrinkbench_text/{WEIGHTS}")
        model.shrinkbench_source = WEIGHTS
    elif pretrained != "random":
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
