"""shrinkbench-posttraining's registration (nothing heavy imported: every spec names its code lazily).

Strategies: ``wanda``, ``sparsegpt``, ``row-magnitude`` and the N:M forms ``2:4-wanda``, ``4:8-wanda``,
``2:4-sparsegpt``, ``4:8-sparsegpt``. StrategySpec has no options: SparseGPT's block size and dampening are the
module constants :data:`shrinkbench_posttraining.sparsegpt.BLOCKSIZE` (128) and ``DAMPENING`` (0.01), the
papers' defaults.
"""

from __future__ import annotations

from shrinkbench import StrategySpec, hookimpl

_WANDA = ("Sun, Liu, Bair & Kolter 2024, A Simple and Effective Pruning Approach for Large Language Models "
          "(ICLR), github.com/locuslab/wanda")
_SPARSEGPT = ("Frantar & Alistarh 2023, SparseGPT: Massive Language Models Can Be Accurately Pruned in One-Shot "
              "(ICML), github.com/IST-DASLab/sparsegpt")
_W = "shrinkbench_posttraining.wanda"
_S = "shrinkbench_posttraining.sparsegpt"
_LIMITS = "shrinkbench_posttraining.limits"


@hookimpl
def shrinkbench_strategies() -> list[StrategySpec]:
    """Wanda, SparseGPT (unstructured, 2:4, 4:8) and the per-row magnitude baseline."""
    specs = [
        StrategySpec("wanda", "Largest |w| x input norm per output row, block by block from calibration data",
                     f"{_W}:wanda", calibration=True, reference=_WANDA, check=f"{_LIMITS}:unstructured"),
        StrategySpec("sparsegpt", "OBS mask and reconstruction of the kept weights, block by block from "
                     "calibration data", f"{_S}:sparsegpt", calibration=True, reconstructs=True,
                     reference=_SPARSEGPT, check=f"{_LIMITS}:unstructured"),
        StrategySpec("row-magnitude", "Largest |w| per output row, every layer the same fraction",
                     f"{_W}:row_magnitude", reference=f"the magnitude baseline of {_WANDA}"),
    ]
    for n, m in ((2, 4), (4, 8)):
        specs += [
            StrategySpec(f"{n}:{m}-wanda", f"Wanda, at most {n} of every {m} along each output's inputs",
                         f"{_W}:wanda_{n}_{m}", calibration=True, pattern=(n, m), reference=_WANDA,
                         check=f"{_LIMITS}:n{n}_m{m}"),
            StrategySpec(f"{n}:{m}-sparsegpt", f"SparseGPT, at most {n} of every {m} along each output's inputs",
                         f"{_S}:sparsegpt_{n}_{m}", calibration=True, reconstructs=True, pattern=(n, m),
                         reference=_SPARSEGPT, check=f"{_LIMITS}:n{n}_m{m}"),
        ]
    return specs
