"""``check-models`` on language models: the bundled tiny-llama, a transformers architecture at a tiny size, a
Hugging Face model saved in a directory, and a hub id that is not on this machine (offline)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

CLI = "from shrinkbench_cli.main import main; main()"


def cli_env(cache: Path) -> dict[str, str]:
    """A CLI subprocess's environment: private cache and measuring locks, offline, every installed plugin."""
    env = {**os.environ, "SHRINKBENCH_CACHE": str(cache), "SHRINKBENCH_LOCK_DIR": str(cache / "locks"),
           "COLUMNS": "200", "HF_HUB_OFFLINE": "1"}
    for name in ("SHRINKBENCH_DISABLE_PLUGINS", "SHRINKBENCH_PLUGINS", "SHRINKBENCH_STRICT_PLUGINS"):
        env.pop(name, None)
    return env


def save_tiny_llama(directory: Path) -> None:
    """A random 2-layer Llama (vocabulary 4,096) and the bundled tokenizer, as ``save_pretrained`` writes them."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    from shrinkbench_text.models.tiny import bundled_tokenizer

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=4096, hidden_size=128, intermediate_size=384, num_hidden_layers=2,
                         num_attention_heads=4, max_position_embeddings=64, tie_word_embeddings=True)
    LlamaForCausalLM(config).save_pretrained(directory)
    PreTrainedTokenizerFast(tokenizer_object=bundled_tokenizer()).save_pretrained(directory)


def test_language_models_are_checked_on_token_batches(tmp_path):
    save_tiny_llama(tmp_path / "llama")
    names = ["tiny-llama", "hf-tiny:gpt2", f"hf:{tmp_path / 'llama'}", "hf:shrinkbench-tests/not-here"]
    result = subprocess.run([sys.executable, "-c", CLI, "check-models", *names, "--steps", "3", "--compression", "1.5",
                             "--json", str(tmp_path / "rows.json")], capture_output=True, text=True,
                            env=cli_env(tmp_path / "cache"), cwd=tmp_path, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    rows = {row["model"]: row for row in json.loads((tmp_path / "rows.json").read_text())}
    for name in names[:3]:
        row = rows[name]
        assert row["status"] == "passed" and row["px"] == "32 tokens" and row["batch"] == 8, row
        assert row["macs"] == row["reference_macs"] and row["compression"] == 1.5, row
    missing = rows["hf:shrinkbench-tests/not-here"]
    assert (missing["status"], missing["cause"]) == ("not checked", "weights")
    assert "hf download shrinkbench-tests/not-here" in missing["reason"]
    assert "3 passed, 0 failed, 1 not checked (weights 1); pass rate 100.0% (3 of 3 checked)" in result.stdout
