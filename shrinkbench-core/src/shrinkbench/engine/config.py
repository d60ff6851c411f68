"""What the user asks for: training recipes, recipe variants and the sweep request (flags and TOML say it).

:class:`SweepConfig` is the *request*, exactly as given: ``None`` means "decide for me" (``auto``), recipes may
be left to each dataset's standard ones. The *resolved* sweep -- the experiments with their concrete recipes,
file hashes and rewind epochs, the device, threads and jobs chosen for the machine -- is
:class:`shrinkbench.engine.resolution.Sweep`, made by :func:`shrinkbench.engine.resolution.resolve`, which also
reports every problem of a request at once. How flags, a TOML file and the standard recipes combine into a
request is :func:`shrinkbench.engine.assemble.build_sweep_config`. One word per concept: ``lr_schedule`` is
the optimizer's learning-rate schedule, ``schedule`` a pruning schedule. This module imports neither torch nor
any plugin.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import InitVar, asdict, dataclass, replace
from pathlib import Path
from typing import Any

from ..errors import ShrinkBenchError
from ..recipe import LR_SCHEDULES, OPTIMIZERS, RECIPE_FIELDS, Recipe

__all__ = ["DEFAULT_COMPRESSIONS", "DEFAULT_DATASET", "DEFAULT_RECIPES", "DEFAULT_MODEL", "DEFAULT_SCHEDULE", "DEFAULT_VARIANT",
           "LR_SCHEDULES", "MAX_NAME", "OPTIMIZERS", "PRECISIONS", "RESULTS_ROOT", "SELECTIONS", "VARIANT_KEYS", "Recipe",
           "SweepConfig", "Variant", "standard_recipes"]

SELECTIONS = ("final", "best-val")
PRECISIONS = ("fp32", "bf16", "fp16")
DEFAULT_DATASET = "mnist-5k"
DEFAULT_MODEL = "lenet-300-100"
DEFAULT_COMPRESSIONS: tuple[float, ...] = (1.0, 2.0, 4.0, 8.0, 16.0, 32.0)
RESULTS_ROOT = "shrinkbench-results"
MAX_NAME = 100
"""The longest default results-directory name (characters) before it is shortened with a hash."""
DEFAULT_SCHEDULE = "oneshot"
DEFAULT_VARIANT = "default"



DEFAULT_RECIPES = (Recipe(epochs=10, lr=0.01), Recipe(epochs=5, lr=0.01, lr_schedule="constant"))
"""The generic (pretrain, finetune) recipes of a dataset that declares none (:attr:`shrinkbench.DatasetSpec.recipes`);
a sweep that uses them says so."""


def standard_recipes(declared: tuple[Recipe, Recipe] | None) -> tuple[Recipe, Recipe]:
    """The (pretrain, finetune) recipes used for a dataset unless the user overrides them: the ones its plugin
    ``declared`` (:attr:`shrinkbench.DatasetSpec.recipes`), else :data:`DEFAULT_RECIPES`."""
    return declared if declared is not None else DEFAULT_RECIPES


VARIANT_KEYS = (*(f"pretrain.{f}" for f in RECIPE_FIELDS), *(f"finetune.{f}" for f in RECIPE_FIELDS), "pretrained",
                "dense_seed_offset", "calibration_samples", "calibration_source")
"""What a recipe variant may change: any field of either recipe, the weights pretraining starts from, an
offset added to every run seed to pick its dense model (another set of dense weights, same everything else),
and the calibration set of post-training strategies (its size, its source dataset)."""


@dataclass(frozen=True)
class Variant:
    """A named change of the fixed part, run beside the others in one results store: e.g.
    ``Variant("lr-high", (("finetune.lr", 0.05),))``. Its name becomes a column of every row; a variant that
    changes the dense model (pretraining, ``pretrained``, ``dense_seed_offset``) has dense models of its own.
    Keys are :data:`VARIANT_KEYS`."""

    name: str
    changes: tuple[tuple[str, Any], ...] = ()

    def __post_init__(self) -> None:
        if not self.name or any(c.isspace() or c in "/\\:" for c in self.name):
            raise ShrinkBenchError(f"variant name {self.name!r} must be non-empty, without spaces, '/', '\\' or ':'")
        for key, _ in self.changes:
            if key not in VARIANT_KEYS:
                from ..values import did_you_mean

                raise ShrinkBenchError(f"variant {self.name!r}: unknown key {key!r}; {did_you_mean(key, VARIANT_KEYS)}")

    def get(self, key: str, default: Any = None) -> Any:
        """The value this variant sets for ``key``, else ``default``."""
        return dict(self.changes).get(key, default)

    def recipe_changes(self, which: str) -> dict[str, Any]:
        """The fields of the ``which`` recipe (``pretrain`` / ``finetune``) this variant sets."""
        prefix = f"{which}."
        return {k[len(prefix):]: v for k, v in self.changes if k.startswith(prefix)}


@dataclass(frozen=True)
class SweepConfig:
    """A controlled sweep as requested: (datasets x models x variants) fixed, x (strategies x schedules x
    compressions x seeds) varying.

    Grids: every dataset meets every model it fits (a pair that cannot work is refused up front with its reason,
    the others run), under the ``default`` variant and each given one (:class:`Variant`). ``dataset`` /
    ``model`` are shorthands for a single one. Recipes: ``pretrain`` / ``finetune`` replace each dataset's
    standard recipes when given; ``recipe_changes`` (``("finetune.lr", 0.05)``, ...) then apply on top, and each
    variant's changes on top of those. Dense weights: pretrained from scratch (default); from ``pretrained``
    weights (a local file or a tag the model's source knows) then trained with the pretrain recipe (``epochs =
    0`` keeps them); or read from ``checkpoint``, a dense model used as it is (single dataset and model only).

    Where and how fast (none of it changes what a run computes, except ``precision``): ``device`` (``auto``,
    ``cpu``, ``cuda``, ``cuda:N``, ``mps``; resolved where each run executes), ``jobs`` (runs at once; ``None``:
    chosen for the machine and the model, see :mod:`shrinkbench.engine.layout`), ``threads`` (torch threads =
    CPUs of each run; ``None``: chosen likewise; an explicit value makes ``jobs = 2`` reproduce ``jobs = 1``
    exactly), ``gpus_per_run`` (a fraction shares a GPU; ``None``: chosen), ``workers`` (DataLoader processes for
    folder datasets; ``None``: min(8, the run's CPUs)), ``eval_batch_size`` (``None``: 1024 on CUDA, else 256),
    ``deterministic``, ``compile``, ``channels_last`` (``None``: on for CPU runs), ``tf32`` (see
    :class:`shrinkbench.engine.runtime.Runtime`),
    ``executor`` (``None``: ``sequential`` when one run at a time, else ``local``) and its ``executor_options``.
    ``schedule_options`` are ``(schedule, ((key, value), ...))`` pairs, each schedule's own. ``retry``: a re-run
    runs failed and lost runs again (``False`` keeps their rows). ``context_length``: the token window of text
    datasets (``None``: each language model's own; see :mod:`shrinkbench.language`); ``calibration_samples`` and
    ``calibration_source``: the calibration set of post-training strategies (:mod:`shrinkbench.engine.calibration`);
    ``eval_windows``: evaluate only the first N test windows of a text dataset (``None``: as many as the dataset
    declares, :attr:`shrinkbench.DatasetSpec.eval_windows`; ``0``: all; see :meth:`eval_windows_for`). ``sparsities``:
    when given, replace ``compressions``: each is the fraction of the prunable weights to remove (the language-model
    papers' axis), turned into the compression it means for each model (``sparsity_compression``).
    """

    datasets: tuple[str, ...] = (DEFAULT_DATASET,)
    models: tuple[str, ...] = (DEFAULT_MODEL,)
    pretrain: Recipe | None = None
    finetune: Recipe | None = None
    strategies: tuple[str, ...] = ()
    compressions: tuple[float, ...] = DEFAULT_COMPRESSIONS
    sparsities: tuple[float, ...] = ()
    seeds: tuple[int, ...] = (0,)
    schedules: tuple[str, ...] = (DEFAULT_SCHEDULE,)
    schedule_options: tuple[tuple[str, tuple[tuple[str, Any], ...]], ...] = ()
    variants: tuple[Variant, ...] = ()
    recipe_changes: tuple[tuple[str, Any], ...] = ()
    val_fraction: float = 0.1
    selection: str = "final"
    include_classifier: bool = False
    checkpoint: str | None = None
    pretrained: str | None = None
    data_root: str | None = None
    out: str | None = None
    precision: str = "fp32"
    device: str = "auto"
    jobs: int | None = None
    threads: int | None = None
    gpus_per_run: float | None = None
    workers: int | None = None
    eval_batch_size: int | None = None
    deterministic: bool = False
    compile: bool = False
    channels_last: bool | None = None
    tf32: bool = True
    executor: str | None = None
    executor_options: tuple[tuple[str, Any], ...] = ()
    retry: bool = True
    context_length: int | None = None
    calibration_samples: int = 128
    calibration_source: str | None = None
    eval_windows: int | None = None
    dataset: InitVar[str | None] = None
    model: InitVar[str | None] = None

    def __post_init__(self, dataset: str | None, model: str | None) -> None:
        if dataset is not None:
            object.__setattr__(self, "datasets", (dataset,))
        if model is not None:
            object.__setattr__(self, "models", (model,))
        for name in ("datasets", "models", "strategies", "compressions", "sparsities", "seeds", "schedules", "variants"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        if not 0 <= self.val_fraction < 1:
            raise ShrinkBenchError(f"val_fraction must be in [0, 1), got {self.val_fraction}")
        if self.selection not in SELECTIONS:
            raise ShrinkBenchError(f"selection must be one of {', '.join(SELECTIONS)}, got {self.selection!r}")
        if self.selection == "best-val" and self.val_fraction == 0:
            raise ShrinkBenchError("selection 'best-val' needs a validation split: set val_fraction > 0")
        if self.eval_windows is not None and self.eval_windows < 0:
            raise ShrinkBenchError(f"eval_windows must be at least 1 (0: all), got {self.eval_windows}")
        if any(not 0 <= s < 1 for s in self.sparsities):
            raise ShrinkBenchError(f"sparsities must be fractions in [0, 1), got {', '.join(map(str, self.sparsities))}")
        if self.calibration_samples < 1:
            raise ShrinkBenchError(f"calibration_samples must be at least 1, got {self.calibration_samples}")
        if self.context_length is not None and self.context_length < 2:
            raise ShrinkBenchError(f"context_length must be at least 2 tokens, got {self.context_length}")
        if self.precision not in PRECISIONS:
            raise ShrinkBenchError(f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        if self.checkpoint and self.pretrained:
            raise ShrinkBenchError("give either checkpoint (dense weights used as they are) or pretrained (weights "
                                   "to pretrain from), not both")
        names = [v.name for v in self.variants]
        if len(set(names)) != len(names):
            raise ShrinkBenchError(f"variant names must be unique, got {', '.join(names)}")

    @property
    def variant_list(self) -> tuple[Variant, ...]:
        """The variants to run: the ``default`` variant (the recipes as they are: the baseline every variant is
        compared with) and then the given ones; a variant named ``default`` replaces it."""
        given = tuple(self.variants)
        return given if any(v.name == DEFAULT_VARIANT for v in given) else (Variant(DEFAULT_VARIANT), *given)

    @property
    def results_dir(self) -> Path:
        """Where the results go: ``out``, else ``shrinkbench-results/<dataset>-<model>`` for one pair, else
        ``shrinkbench-results/grid-<datasets>-<models>``; a grid whose name would exceed :data:`MAX_NAME`
        characters is ``grid-<D>-datasets-<M>-models-<hash of the names>`` (a file name must stay under the
        file system's 255 bytes)."""
        if self.out:
            return Path(self.out)
        if len(self.datasets) == 1 and len(self.models) == 1:
            return Path(RESULTS_ROOT) / bounded_name(slug(f"{self.datasets[0]}-{self.models[0]}"))
        name = slug(f"grid-{'+'.join(self.datasets)}-{'+'.join(self.models)}")
        if len(name) > MAX_NAME:  # 2 datasets x 16 timm models made a 303-character name: "File name too long"
            key = hashlib.sha256("\n".join([*self.datasets, "", *self.models]).encode()).hexdigest()[:10]
            name = f"grid-{len(self.datasets)}-datasets-{len(self.models)}-models-{key}"
        return Path(RESULTS_ROOT) / name

    def options_of(self, schedule: str) -> dict[str, Any]:
        """The options given to ``schedule``."""
        return dict(dict(self.schedule_options).get(schedule, ()))

    def recipes_for(self, declared: tuple[Recipe, Recipe] | None, variant: Variant) -> tuple[Recipe, Recipe]:
        """The concrete (pretrain, finetune) recipes of a dataset under ``variant``: the standard ones (those
        the dataset ``declared``, see :func:`standard_recipes`) or the given ones, then :attr:`recipe_changes`,
        then the variant's changes."""
        standard = standard_recipes(declared)
        out = []
        for index, which in enumerate(("pretrain", "finetune")):
            base = getattr(self, which) or standard[index]
            changes = {k.partition(".")[2]: v for k, v in self.recipe_changes if k.partition(".")[0] == which}
            out.append(replace(base, **changes, **variant.recipe_changes(which)))
        return out[0], out[1]

    def eval_windows_for(self, declared: int | None) -> int | None:
        """The test windows a text dataset that ``declared`` its default (:attr:`shrinkbench.DatasetSpec.eval_windows`)
        is evaluated on: the sweep's ``eval_windows``, else the declared number; ``None`` for all of them."""
        if self.eval_windows == 0:
            return None
        return self.eval_windows if self.eval_windows is not None else declared

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (round-trips through :func:`sweep_from_json`)."""
        data = asdict(self)
        data["variants"] = [asdict(v) for v in self.variants]
        return data


def sweep_from_json(data: Mapping[str, Any]) -> SweepConfig:
    """Rebuild a :class:`SweepConfig` from :meth:`SweepConfig.to_json`."""
    data = dict(data)
    for which in ("pretrain", "finetune"):
        if data.get(which) is not None:
            data[which] = Recipe(**data[which])
    data["variants"] = tuple(Variant(v["name"], tuple(tuple(c) for c in v.get("changes", ()))) for v in data.get("variants", ()))
    data["schedule_options"] = tuple((name, tuple(tuple(o) for o in opts)) for name, opts in data.get("schedule_options", ()))
    for key in ("executor_options", "recipe_changes"):
        data[key] = tuple(tuple(pair) for pair in data.get(key, ()))
    return SweepConfig(**data)


def bounded_name(name: str) -> str:
    """``name`` if it has at most :data:`MAX_NAME` characters, else its first 80 and a hash of the whole."""
    if len(name) <= MAX_NAME:
        return name
    return f"{name[:80]}-{hashlib.sha256(name.encode()).hexdigest()[:10]}"


def slug(text: str) -> str:
    """``text`` as a file-system-safe name on every OS: letters, digits, ``.``, ``_``, ``+`` and ``-`` kept,
    anything else (``:`` of ``timm:resnet18`` or ``2:4-magnitude``, slashes, spaces) becomes ``-``."""
    return "".join(c if c.isalnum() or c in "._+-" else "-" for c in text)

