"""The bundled ``tiny-llama``: its size, what is prunable, deterministic builds, its own tokenizer and the script
that trains that tokenizer."""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path

import pytest
import torch

from shrinkbench import Tokenizer
from shrinkbench.plugins import get_registry
from shrinkbench.pruning import count_parameters, prunable_parameters
from shrinkbench_text.models import tiny

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "train_tokenizer.py"


pytestmark = pytest.mark.usefixtures("one_thread")  # the testing kit's fixture: one torch thread


def build(seed: int, pretrained: str | None = "random") -> torch.nn.Module:
    torch.manual_seed(seed)
    return get_registry().model("tiny-llama").load()(0, (), pretrained)


def test_tiny_llama_has_1_4m_parameters_of_which_the_28_block_linears_are_prunable():
    model = build(0)
    prunable = prunable_parameters(model)
    assert count_parameters(model) == 1_377_408  # the tied head/embedding (524,288) counted once
    assert len(prunable) == 4 * 7 and sum(p.numel() for p in prunable.values()) == 851_968
    assert "model.lm_head.weight" not in prunable and model.shrinkbench_classifier == "model.lm_head"
    assert model.model.lm_head.weight is model.model.model.embed_tokens.weight
    assert model(torch.zeros(2, 256, dtype=torch.long)).shape == (2, 256, 4096)


def test_the_same_seed_builds_the_same_weights_and_another_seed_others():
    first, again, other = build(0).state_dict(), build(0).state_dict(), build(1).state_dict()
    assert all(torch.equal(first[k], again[k]) for k in first)
    assert not torch.equal(first["model.lm_head.weight"], other["model.lm_head.weight"])


def test_a_state_dict_loads_as_pretrained(tmp_path):
    model = build(5)
    torch.save(model.state_dict(), tmp_path / "dense.pt")
    torch.manual_seed(0)
    loaded = tiny.build(pretrained=str(tmp_path / "dense.pt"))
    assert torch.equal(loaded.model.lm_head.weight, model.model.lm_head.weight)
    assert loaded.shrinkbench_source == str(tmp_path / "dense.pt")


def test_its_tokenizer_is_the_bundled_4096_token_bpe():
    tokenizer = get_registry().model("tiny-llama").load_tokenizer()
    assert isinstance(tokenizer, Tokenizer)
    assert (tokenizer.vocab_size, tokenizer.context_length) == (4096, 256)
    bundled = Path(tiny.__file__).parents[1] / "tokenizer.json"
    digest = hashlib.sha256(tiny.bundled_tokenizer().to_str().encode()).hexdigest()[:12]
    assert bundled.is_file() and tokenizer.name == f"shrinkbench-bpe-4096#{digest}"
    text = "The quick brown fox.\n\n    indented code()\nÜnïcödé 🙂\n" * 3000
    ids = tokenizer.encode(text)
    assert ids == tiny.bundled_tokenizer().encode(text, add_special_tokens=False).ids  # cut into pieces, exactly
    assert tokenizer.decode(ids) == text and max(ids) < 4096
    assert tokenizer.encode("<|endoftext|>") == [0] and tokenizer.encode("") == []


def _script():
    spec = importlib.util.spec_from_file_location("train_tokenizer", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_tokenizer_script_is_reproducible(tmp_path):
    import pydoc_data.topics

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    topics = pydoc_data.topics.topics
    (corpus / "a.txt").write_text("\n\n".join(topics[k] for k in sorted(topics)[:40]))
    (corpus / "b.txt").write_text("\n\n".join(topics[k] for k in sorted(topics)[40:80]))
    script = _script()
    assert script.main([str(corpus), "--out", str(tmp_path / "one.json"), "--vocab", "600", "--check"]) == 0
    assert script.main([str(corpus), "--out", str(tmp_path / "two.json"), "--vocab", "600"]) == 0
    assert (tmp_path / "one.json").read_bytes() == (tmp_path / "two.json").read_bytes()
    from tokenizers import Tokenizer as Backend

    trained = Backend.from_file(str(tmp_path / "one.json"))
    assert trained.get_vocab_size() == 600 and trained.token_to_id("<|endoftext|>") == 0


def test_the_shipped_tokenizer_is_what_the_script_makes_of_the_corpus(tmp_path):
    corpus = tmp_path / "train.txt"
    corpus.write_text(get_registry().dataset("shakespeare").load()("train", None, False))
    out = tmp_path / "tokenizer.json"
    assert _script().main([str(corpus), "--out", str(out)]) == 0
    assert out.read_bytes() == (Path(tiny.__file__).parents[1] / "tokenizer.json").read_bytes()


def test_the_shipped_weights_are_the_pretrained_model_and_every_seed_starts_from_them():
    shipped, again = build(0, None), build(7, None)
    assert all(torch.equal(a, b) for a, b in zip(shipped.state_dict().values(), again.state_dict().values(), strict=True))
    assert get_registry().model("tiny-llama").trained  # sweeps do not pretrain it further unless asked
    text = get_registry().dataset("shakespeare").load()("test", None, False)[:20_000]
    ids = torch.tensor(tiny.tokenizer().encode(text)[: 8 * 256]).view(8, 256)

    def perplexity(model: torch.nn.Module) -> float:
        with torch.no_grad():
            logits = model(ids[:, :-1])
        return float(torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1)).exp())

    assert perplexity(shipped) < perplexity(build(0)) / 10  # trained: far below a random model's (~4,096)
