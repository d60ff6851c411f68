"""``hf:<id or dir>`` without the network: tiny random Llama, OPT and GPT-2 models and the bundled tokenizer are
saved to directories with ``save_pretrained`` and loaded back through the real ``from_pretrained`` path."""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"  # noqa: E402 - before huggingface_hub reads it

from collections import Counter
from pathlib import Path

import pytest
import torch

from shrinkbench import Tokenizer
from shrinkbench.errors import ShrinkBenchError, WeightsNotFoundError
from shrinkbench.metrics.flops import torch_flops_by_op
from shrinkbench.metrics.macs import count_macs
from shrinkbench.plugins import get_registry
from shrinkbench.pruning import count_parameters, prunable_parameters
from shrinkbench_text.models import hf
from shrinkbench_text.models.tiny import bundled_tokenizer

SMALL = {"vocab_size": 4096, "max_position_embeddings": 64}


def _configs() -> dict:
    from transformers import GPT2Config, LlamaConfig, OPTConfig

    return {
        "llama": LlamaConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                             num_key_value_heads=2, bos_token_id=0, eos_token_id=0, tie_word_embeddings=True, **SMALL),
        "opt": OPTConfig(hidden_size=64, ffn_dim=128, num_hidden_layers=2, num_attention_heads=4, word_embed_proj_dim=64,
                         bos_token_id=0, eos_token_id=0, pad_token_id=1, **SMALL),
        "gpt2": GPT2Config(n_embd=64, n_layer=2, n_head=4, vocab_size=4096, n_positions=64, bos_token_id=0,
                           eos_token_id=0),
    }


LINEARS_PER_LAYER = {"llama": 7, "opt": 6, "gpt2": 4}


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> dict[str, Path]:
    """Directories holding a tiny random model of each architecture and the bundled tokenizer."""
    from transformers import AutoModelForCausalLM, PreTrainedTokenizerFast

    root = tmp_path_factory.mktemp("hf")
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bundled_tokenizer(), eos_token="<|endoftext|>")
    out = {}
    for name, config in _configs().items():
        torch.manual_seed(0)
        model = AutoModelForCausalLM.from_config(config)
        model.save_pretrained(root / name)
        tokenizer.save_pretrained(root / name)
        out[name] = root / name
    return out


pytestmark = pytest.mark.usefixtures("one_thread")  # the testing kit's fixture: one torch thread


@pytest.mark.parametrize("arch", ["llama", "opt", "gpt2"])
def test_a_saved_model_loads_through_the_registry_with_its_weights_and_gives_logits(saved, arch):
    from transformers import AutoModelForCausalLM

    spec = get_registry().model(f"hf:{saved[arch]}")
    assert spec.tasks == ("causal-lm",)
    model = spec.load()(10, (3, 32, 32), None)  # classification arguments are ignored
    tokens = torch.randint(0, 4096, (2, 16), generator=torch.Generator().manual_seed(0))
    logits = model(tokens)
    assert type(logits) is torch.Tensor and logits.shape == (2, 16, 4096)
    original = AutoModelForCausalLM.from_pretrained(saved[arch])
    assert torch.allclose(logits, original(input_ids=tokens, use_cache=False).logits, atol=1e-5)
    assert model.shrinkbench_source == str(saved[arch])


@pytest.mark.parametrize("arch", ["llama", "opt", "gpt2"])
def test_every_block_linear_is_prunable_and_the_head_and_embeddings_are_not(saved, arch):
    model = hf.build(str(saved[arch]))
    prunable = prunable_parameters(model)
    assert model.shrinkbench_classifier.endswith("lm_head")
    assert f"{model.shrinkbench_classifier}.weight" not in prunable
    assert not any("embed" in name or "wte" in name or "wpe" in name for name in prunable)
    assert len(prunable) == 2 * LINEARS_PER_LAYER[arch]  # GPT-2's Conv1D layers became nn.Linear
    assert all(p.dim() == 2 for p in prunable.values())
    head = model.get_submodule(model.shrinkbench_classifier).weight
    embeddings = model.model.get_input_embeddings().weight
    assert head is embeddings  # tied: one tensor, counted once
    assert count_parameters(model) == sum(p.numel() for p in model.parameters()) == model.model.num_parameters()


@pytest.mark.parametrize("arch", ["llama", "opt", "gpt2"])
def test_macs_equal_flop_counter_mode_per_operation(saved, arch):
    model = hf.build(str(saved[arch]))
    tokens = torch.randint(0, 4096, (1, 16), generator=torch.Generator().manual_seed(1))
    counted = count_macs(model, tokens)
    ours = Counter()
    for op in counted.ops:
        ours[op.op] += op.macs
    reference = {op: flops // 2 for op, flops in torch_flops_by_op(model, tokens).items()}
    assert dict(ours) == reference and counted.notes() == []
    assert any("attention" in op for op in ours)  # attention through SDPA is counted (weight-free)
    attributed = {op.weight for op in counted.ops if op.weight}
    assert set(prunable_parameters(model)) <= attributed  # each linear's MACs are charged to its weight


def test_the_tokenizer_is_a_shrinkbench_tokenizer_matching_transformers(saved):
    from transformers import AutoTokenizer

    tokenizer = hf.tokenizer(str(saved["llama"]))
    assert isinstance(tokenizer, Tokenizer)
    assert tokenizer.vocab_size == 4096 and tokenizer.context_length == 64
    assert tokenizer.name.startswith("llama#") and len(tokenizer.name) == len("llama#") + 12
    assert hf.tokenizer(str(saved["opt"])).name == tokenizer.name.replace("llama", "opt")  # same file, same hash
    text = "def f(x):\n    return x + 1\n\nPruning keeps the largest weights.\n" * 2000
    ids = tokenizer.encode(text)
    assert ids == AutoTokenizer.from_pretrained(saved["llama"]).encode(text, add_special_tokens=False)
    assert tokenizer.cuts and len(text) > 5 * 16_384  # the long text was encoded in pieces, exactly
    assert tokenizer.decode(ids) == text


def test_a_relative_directory_and_random_and_state_dict_weights(saved, monkeypatch, tmp_path):
    monkeypatch.chdir(saved["llama"].parent)
    own = hf.build("./llama")
    torch.manual_seed(3)
    random = hf.build("./llama", pretrained=hf.RANDOM)
    assert random.shrinkbench_source == "random"
    assert not torch.equal(random.model.lm_head.weight, own.model.lm_head.weight)
    torch.save(random.state_dict(), tmp_path / "wrapper.pt")  # as ShrinkBench saves a run's weights
    again = hf.build("llama", pretrained=str(tmp_path / "wrapper.pt"))
    assert torch.equal(again.model.lm_head.weight, random.model.lm_head.weight)
    torch.save(random.model.state_dict(), tmp_path / "transformers.pt")  # the transformers model's own keys
    gpt2 = hf.build("./gpt2")
    torch.save(gpt2.model.state_dict(), tmp_path / "gpt2.pt")  # Linear layout, loaded into the wrapper
    assert torch.equal(hf.build("gpt2", pretrained=str(tmp_path / "gpt2.pt")).model.transformer.h[0].attn.c_attn.weight,
                       gpt2.model.transformer.h[0].attn.c_attn.weight)
    assert torch.equal(hf.build("llama", pretrained=str(tmp_path / "transformers.pt")).model.lm_head.weight,
                       random.model.lm_head.weight)


def test_a_hub_id_not_in_the_cache_offline_is_one_line_naming_the_id_and_the_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    spec = get_registry().model("hf:shrinkbench-tests/no-such-model")
    with pytest.raises(WeightsNotFoundError) as caught:
        spec.load()(0, (), None)
    message = str(caught.value)
    assert "\n" not in message and "hf:shrinkbench-tests/no-such-model" in message
    assert "hf download shrinkbench-tests/no-such-model" in message and "HF_HUB_OFFLINE" in message
    with pytest.raises(WeightsNotFoundError):
        spec.load_tokenizer()
    with pytest.raises(WeightsNotFoundError, match="is not a directory"):
        hf.build(str(tmp_path / "missing"))
    with pytest.raises(WeightsNotFoundError, match="has no config.json"):
        hf.build(str(tmp_path))


def test_a_model_that_is_not_a_causal_lm_is_refused(tmp_path):
    from transformers import ViTConfig

    ViTConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64).save_pretrained(tmp_path)
    with pytest.raises(ShrinkBenchError, match="no causal-LM class"):
        hf.build(str(tmp_path))


def test_names_lists_the_causal_lms_in_the_hub_cache_without_the_network(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    for repo, architecture, weights in (("org--lm", "LlamaForCausalLM", "model.safetensors"),
                                        ("org--vit", "ViTModel", "model.safetensors"),
                                        ("org--config-only", "GPT2LMHeadModel", None)):
        snapshot = tmp_path / f"models--{repo}" / "snapshots" / "abc123"
        snapshot.mkdir(parents=True)
        (snapshot / "config.json").write_text(f'{{"architectures": ["{architecture}"]}}')
        if weights:
            (snapshot / weights).write_bytes(b"")
    assert hf.names() == ["org/lm"]


def test_names_with_slashes_and_revisions_parse_and_slug():
    from shrinkbench.engine.config import slug

    registry = get_registry()
    assert registry.model("hf:facebook/opt-125m").name == "hf:facebook/opt-125m"
    assert registry.plugin_of("models", "hf:facebook/opt-125m") == "shrinkbench-text"
    assert hf.source_of("facebook/opt-125m@main") == hf.Source("facebook/opt-125m@main", "facebook/opt-125m", "main")
    assert slug("hf:facebook/opt-125m") == "hf-facebook-opt-125m"
