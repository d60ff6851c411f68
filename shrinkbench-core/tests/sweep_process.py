"""``python sweep_process.py OUT STRATEGY COMPRESSIONS``: one toy sweep of ``toy-slow`` into ``OUT`` in its own
process (the cache is ``$SHRINKBENCH_CACHE``), as a second ``shrinkbench bench`` would run beside a first: a
dense model that takes a few seconds to train (26 slow steps), then quick runs (one step each), so that two
sweeps started together train at the same time and append their rows at the same time. It prints
``dense-epochs N`` (the dense epochs it trained itself) and ``rows N`` at the end."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import slow_plugin  # noqa: E402
import toy_plugin  # noqa: E402

from shrinkbench.engine import Recipe, ResultsStore, SweepConfig, run_sweep  # noqa: E402
from shrinkbench.engine import plugin as core_engine  # noqa: E402
from shrinkbench.engine.events import EpochDone  # noqa: E402
from shrinkbench.metrics import plugin as core_metrics  # noqa: E402
from shrinkbench.plugins import load_registry  # noqa: E402


def main(out: str, strategy: str, compressions: str) -> None:
    registry = load_registry(inline=[("core-metrics", core_metrics), ("core-engine", core_engine),
                                     ("toy", toy_plugin), ("slow", slow_plugin)], entry_points=False)
    config = SweepConfig(dataset="toy-blobs", model="toy-slow", pretrain=Recipe(2, 0.05, batch_size=32),
                         finetune=Recipe(1, 0.01, batch_size=400), strategies=(strategy,),
                         compressions=tuple(float(c) for c in compressions.split(",")), jobs=1)
    dense_epochs = []
    outcome = run_sweep(registry, config, ResultsStore(out),
                        progress=lambda e: dense_epochs.append(e) if isinstance(e, EpochDone) and
                        e.key.startswith("dense/") else None)
    print(f"dense-epochs {len(dense_epochs)}")
    print(f"rows {len(outcome.new_rows)} failed {len(outcome.failed)}")


if __name__ == "__main__":
    main(*sys.argv[1:4])
