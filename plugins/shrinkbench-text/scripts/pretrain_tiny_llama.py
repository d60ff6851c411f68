"""Pretrain tiny-llama on the bundled corpus and write the weights the package ships.

Usage (from the repository root, with the text plugin installed)::

    .venv/bin/python plugins/shrinkbench-text/scripts/pretrain_tiny_llama.py [--out FILE] [--threads N]

It runs ShrinkBench's own training loop (``shrinkbench.engine.train.train``) on the ``shakespeare`` training
split minus its validation windows (``val_fraction`` 0.1, the engine's split), tokenized by the bundled
tokenizer into windows of 256 tokens, from tiny-llama's random initialisation with seed 0 and the corpus's
pretraining recipe (``DatasetSpec.recipes[0]``); it prints the validation and test perplexity and writes the
state dict in float16 (``src/shrinkbench_text/tiny_llama.safetensors`` by default). The same command on the same
torch build gives the same file (one thread: bit-identical arithmetic).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

DEFAULT_OUT = Path(__file__).resolve().parents[1] / "src" / "shrinkbench_text" / "tiny_llama.safetensors"


def main() -> None:
    """Pretrain, evaluate, save (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()

    import torch
    from safetensors.torch import save_file

    from shrinkbench.engine.data import make_loader
    from shrinkbench.engine.experiment import Experiment
    from shrinkbench.engine.runtime import Runtime
    from shrinkbench.engine.tasking import load_data
    from shrinkbench.engine.train import train
    from shrinkbench.language import evaluate_lm
    from shrinkbench.plugins import get_registry

    torch.set_num_threads(args.threads)
    registry = get_registry()
    pretrain, finetune = registry.dataset("shakespeare").recipes
    experiment = Experiment("shakespeare", "tiny-llama", pretrain, finetune, task="causal-lm")
    splits = load_data(registry, experiment)
    torch.manual_seed(0)
    model = registry.model("tiny-llama").load()(0, (), "random")
    loader = make_loader(splits.train, pretrain.batch_size, True, 0, "cpu", False)
    val = make_loader(splits.val, 64, False)
    print(f"{sum(p.numel() for p in model.parameters()):,} parameters; {len(splits.train)} training windows of "
          f"{splits.protocol['eval_context']} tokens; recipe {pretrain}", flush=True)
    started = time.perf_counter()

    def report(log) -> None:  # noqa: ANN001 - an EpochLog
        print(f"epoch {log.epoch}: train loss {log.train_loss:.4f}, val perplexity {log.val_primary:.2f} "
              f"({time.perf_counter() - started:.0f} s)", flush=True)

    train(model, pretrain, loader, val, on_epoch=report, runtime=Runtime(),
          evaluate_fn=evaluate_lm, primary=registry.task("causal-lm").primary_metric)
    test = evaluate_lm(model, make_loader(splits.test, 64, False))
    print(f"test perplexity {test['perplexity']:.2f}, token top-1 {test['token_top1']:.4f}", flush=True)
    state = {k: v.detach().to(torch.float16).contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(args.out))
    print(f"wrote {args.out} ({args.out.stat().st_size:,} bytes)")


if __name__ == "__main__":
    main()
