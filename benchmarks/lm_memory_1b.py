"""A 1B-parameter causal LM through one-shot pruning and perplexity on this machine: peak memory.

Usage (from the repository root, with the text and post-training plugins installed: ``uv sync --all-packages``)::

    .venv/bin/python benchmarks/lm_memory_1b.py [--strategy layer-magnitude] [--keep DIR]

It writes a Hugging Face directory holding only the config of a Llama-architecture model of 1.1B parameters
(TinyLlama-1.1B's shape: hidden 2048, 22 layers, 32 heads with 4 key/value heads, MLP 5632, vocabulary 32,000)
and the bundled tokenizer, then runs the real command a user runs::

    shrinkbench bench --dataset shakespeare --model hf:DIR --pretrained random --strategy S --sparsity 0.5 \\
        --context-length 128 --eval-windows 4 --jobs 1

(random weights: ``--pretrained random``; one-shot; a short evaluation so the CPU finishes in minutes) under
``/usr/bin/time -v``, and prints the command's peak resident memory, its wall time and the row's status,
perplexity and sparsity. The numbers go to ``benchmarks/README.md`` ("A 1B language model on 24 GB").
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def write_model_dir(directory: Path) -> int:
    """The config and tokenizer of the 1.1B Llama in ``directory``; returns its parameter count (meta device)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    from shrinkbench_text.models.tiny import bundled_tokenizer

    config = LlamaConfig(vocab_size=32_000, hidden_size=2048, intermediate_size=5632, num_hidden_layers=22,
                         num_attention_heads=32, num_key_value_heads=4, max_position_embeddings=2048,
                         tie_word_embeddings=False)
    config.save_pretrained(directory)
    PreTrainedTokenizerFast(tokenizer_object=bundled_tokenizer(), eos_token="<|endoftext|>").save_pretrained(directory)
    with torch.device("meta"):
        return sum(p.numel() for p in LlamaForCausalLM(config).parameters())


def main() -> None:
    """Write the model directory, run the bench under /usr/bin/time -v, print what it measured."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strategy", default="layer-magnitude")
    parser.add_argument("--keep", type=Path, help="work directory to keep (default: a temporary one)")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="lm1b-"))
    work.mkdir(parents=True, exist_ok=True)
    model_dir = work / "llama-1.1b"
    params = write_model_dir(model_dir)
    out = work / "results"
    command = [str(Path(sys.executable).with_name("shrinkbench")), "bench", "--dataset", "shakespeare",
               "--model", f"hf:{model_dir}", "--pretrained", "random", "--strategy", args.strategy,
               "--sparsity", "0.5", "--context-length", "128", "--eval-windows", "4", "--jobs", "1",
               "--out", str(out), "--no-report"]
    env = {"SHRINKBENCH_CACHE": str(work / "cache"), "HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"}
    started = time.perf_counter()
    done = subprocess.run(["/usr/bin/time", "-v", *command], capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - started
    peak_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr).group(1))
    rows = list(csv.DictReader((out / "results.csv").open())) if (out / "results.csv").exists() else []
    pruned = [r for r in rows if r["compression_target"] != "1"]
    print(json.dumps({"parameters": params, "peak_rss_gib": round(peak_kb / 2**20, 2), "wall_s": round(seconds),
                      "returncode": done.returncode,
                      "rows": [{k: r.get(k) for k in ("strategy", "status", "error", "sparsity", "perplexity",
                                                        "dense_perplexity", "eval_windows")} for r in pruned]},
                     indent=2))
    if done.returncode:
        print(done.stdout[-2000:], done.stderr[-3000:], file=sys.stderr)


if __name__ == "__main__":
    main()
