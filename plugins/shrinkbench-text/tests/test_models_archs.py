"""``hf-tiny:<model_type>``: transformers' causal-LM architectures shrunk to a tiny size, reading bytes."""

from __future__ import annotations

from collections import Counter

import pytest
import torch

from shrinkbench import Tokenizer
from shrinkbench.errors import IncompatibleError, UnknownNameError
from shrinkbench.metrics.flops import torch_flops_by_op
from shrinkbench.metrics.macs import count_macs
from shrinkbench.plugins import get_registry
from shrinkbench.pruning import make_context, prunable_parameters
from shrinkbench_text.models import archs

pytestmark = pytest.mark.usefixtures("one_thread")  # the testing kit's fixture: one torch thread


def test_the_members_are_transformers_causal_lm_types_cached_per_version(tmp_path, monkeypatch):
    monkeypatch.setenv("SHRINKBENCH_CACHE", str(tmp_path))
    names = archs.names()
    assert {"llama", "mistral", "qwen2", "gpt2", "opt", "phi", "gemma"} <= set(names) and len(names) > 100
    assert list((tmp_path / "names").glob("hf-tiny-*.json"))
    listed = [e.name for e in get_registry().list("models", "hf-tiny:*")]
    assert "hf-tiny:llama" in listed and "hf-tiny:*" not in listed
    with pytest.raises(UnknownNameError):
        get_registry().model("hf-tiny:no-such-type")
    with pytest.raises(UnknownNameError):
        archs.build("no-such-type")


def test_a_config_is_shrunk_by_name_and_keeps_its_head_ratio_and_layer_kinds():
    llama = archs.tiny_config("llama")
    assert (llama.hidden_size, llama.num_hidden_layers, llama.num_attention_heads, llama.num_key_value_heads,
            llama.intermediate_size, llama.vocab_size, llama.max_position_embeddings, llama.head_dim) == \
        (64, 3, 4, 4, 256, 257, 128, 16)  # Llama's default is multi-head: 32 key/value heads for 32 heads
    mistral = archs.tiny_config("mistral")
    assert (mistral.num_attention_heads, mistral.num_key_value_heads) == (4, 1)  # grouped: 32 / 8 by default
    hybrid = archs.tiny_config("qwen3_next")  # linear attention, with full attention every 4th layer
    assert set(hybrid.layer_types) == {"linear_attention", "full_attention"}
    assert len(hybrid.layer_types) == hybrid.num_hidden_layers == 4
    gpt2 = archs.tiny_config("gpt2")
    assert (gpt2.n_embd, gpt2.n_layer, gpt2.n_head, gpt2.n_positions, gpt2.bos_token_id) == (64, 3, 4, 128, 256)


@pytest.mark.parametrize("model_type", ["llama", "mistral", "qwen2", "gpt2", "opt", "phi", "gemma"])
def test_an_architecture_builds_prunes_and_counts_like_flop_counter_mode(model_type):
    torch.manual_seed(0)
    model = get_registry().model(f"hf-tiny:{model_type}").load()(0, (), None)
    tokens = torch.randint(0, 257, (1, 24), generator=torch.Generator().manual_seed(0))
    assert model(tokens).shape == (1, 24, 257)
    counted = count_macs(model, tokens)
    ours = Counter()
    for op in counted.ops:
        ours[op.op] += op.macs
    assert dict(ours) == {op: n // 2 for op, n in torch_flops_by_op(model, tokens).items()}
    assert counted.notes() == []
    prunable = prunable_parameters(model)
    assert prunable and not any(p.dim() != 2 for p in prunable.values())
    assert f"{model.shrinkbench_classifier}.weight" not in prunable
    make_context(model, 4.0)  # 4x over the whole model is reachable: the byte vocabulary keeps embeddings small


def test_same_seed_same_model():
    torch.manual_seed(7)
    first = archs.build("opt").state_dict()
    torch.manual_seed(7)
    again = archs.build("opt").state_dict()
    assert all(torch.equal(first[k], again[k]) for k in first)


def test_the_tokenizer_is_bytes():
    tokenizer = get_registry().model("hf-tiny:llama").load_tokenizer()
    assert isinstance(tokenizer, Tokenizer)
    assert (tokenizer.vocab_size, tokenizer.context_length) == (257, archs.POSITIONS)
    assert tokenizer.name.startswith("bytes#")
    assert tokenizer.encode("Aé\n") == [b + 1 for b in "Aé\n".encode()]


def test_a_config_that_does_not_build_is_incompatible_not_a_crash(monkeypatch):
    from transformers import LlamaConfig

    monkeypatch.setattr(archs, "tiny_config", lambda name: LlamaConfig(hidden_size=60, num_attention_heads=7,
                                                                       vocab_size=257, head_dim=None))
    with pytest.raises(IncompatibleError, match="hf-tiny:llama does not build at the tiny size"):
        archs.build("llama")
