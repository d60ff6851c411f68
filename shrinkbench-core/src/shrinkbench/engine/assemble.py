"""Building a :class:`SweepConfig` from its three sources: standard recipes < a TOML file < explicit overrides.

The command line maps its flags onto ``overrides`` and nothing else, so a notebook rebuilds exactly what
``shrinkbench bench`` runs with :func:`build_sweep_config`. Each setting has one word, used as the TOML key
and (with ``-`` for ``_``) as the flag: ``compression = [2, 4]`` in a file is ``--compression 2,4``. Recipe
settings also have tables: ``[pretrain]`` and ``[finetune]`` take every :class:`Recipe` field. Every value is
type-checked, and a wrong one is a one-line :class:`ShrinkBenchError` naming the setting, where it came
from, and an example of a right value. This module imports neither torch nor any plugin.
"""

from __future__ import annotations

import difflib
import math
import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from ..errors import ShrinkBenchError
from .config import (
    DEFAULT_COMPRESSIONS,
    DEFAULT_DATASET,
    DEFAULT_MODEL,
    PRECISIONS,
    SELECTIONS,
    Recipe,
    SweepConfig,
    standard_recipes,
)

__all__ = ["SETTINGS", "Setting", "build_sweep_config", "read_toml"]

MAX_SEED = 2**32 - 1


class _Bad(ValueError):
    """A value of the wrong type or range; the message says what is expected."""


# -- value checkers: each returns the typed value or raises _Bad ---------------------------------------------


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _Bad(f"must be a non-empty string, got {value!r}")
    return value


def _text_list(value: Any) -> tuple[str, ...]:
    if not isinstance(value, (list, tuple)) or not value or not all(isinstance(v, str) and v for v in value):
        raise _Bad(f"must be a list of names, e.g. [\"global-magnitude\", \"random\"], got {value!r}")
    return tuple(dict.fromkeys(value))


def _real(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _Bad(f"must be a number, got {value!r}")
    return float(value)


def _compressions(value: Any) -> tuple[float, ...]:
    if not isinstance(value, (list, tuple)) or not value:
        raise _Bad(f"must be a list of numbers >= 1, e.g. [1, 2, 4.5], got {value!r}")
    out = []
    for item in value:
        number = _real(item)
        if not math.isfinite(number) or number < 1:
            raise _Bad(f"must be a finite number >= 1 (1 = no pruning), got {number:g}; e.g. 1,2,4")
        out.append(number)
    return tuple(dict.fromkeys(out))


def _seeds(value: Any) -> tuple[int, ...]:
    if not isinstance(value, (list, tuple)) or not value:
        raise _Bad(f"must be a list of integers, e.g. [0, 1, 2], got {value!r}")
    for item in value:
        if isinstance(item, bool) or not isinstance(item, int) or not 0 <= item <= MAX_SEED:
            raise _Bad(f"must be integers from 0 to {MAX_SEED}, got {item!r}")
    return tuple(dict.fromkeys(value))


def _integer(minimum: int) -> Callable[[Any], int]:
    def check(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise _Bad(f"must be an integer >= {minimum}, got {value!r}")
        return value

    return check


def _auto_or(check: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``check``, or the word ``auto`` (returned as ``None``: decided when the sweep starts)."""

    def checked(value: Any) -> Any:
        if value == "auto":
            return None
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value)
        try:
            return check(value)
        except _Bad as exc:
            raise _Bad(f"{exc} (or auto)") from None

    return checked


def _device(value: Any) -> str:
    text = _text(value).strip().lower()
    if text not in ("auto", "cpu", "cuda", "mps") and not (text.startswith("cuda:") and text[5:].isdigit()):
        raise _Bad(f"must be auto, cpu, cuda, cuda:N or mps, got {value!r}")
    return text


def _key_values(value: Any) -> dict[str, str]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)) or not all(isinstance(i, str) and "=" in i for i in items):
        raise _Bad(f"must be KEY=VALUE (e.g. address=auto), got {value!r}")
    return {k.strip(): v.strip() for k, _, v in (i.partition("=") for i in items)}


def _fraction(value: Any) -> float:
    number = _real(value)
    if not 0 <= number < 1:
        raise _Bad(f"must be a number in [0, 1), got {value!r}")
    return number


def _positive(value: Any) -> float:
    number = _real(value)
    if not (math.isfinite(number) and number > 0):
        raise _Bad(f"must be a number > 0, got {value!r}")
    return number


def _non_negative(value: Any) -> float:
    number = _real(value)
    if not (math.isfinite(number) and number >= 0):
        raise _Bad(f"must be a number >= 0, got {value!r}")
    return number


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise _Bad(f"must be true or false, got {value!r}")
    return value


def _choice(*choices: str) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if value not in choices:
            raise _Bad(f"must be one of {', '.join(choices)}, got {value!r}")
        return value

    return check


@dataclass(frozen=True)
class Setting:
    """One sweep setting: its word (TOML key; flag ``--word`` with dashes), its checker and what it means."""

    name: str
    check: Callable[[Any], Any]
    help: str

    @property
    def flag(self) -> str:
        """The command-line flag, e.g. ``--finetune-epochs``."""
        return "--" + self.name.replace("_", "-")


SETTINGS: dict[str, Setting] = {s.name: s for s in (
    Setting("dataset", _text, f"dataset name (default {DEFAULT_DATASET})"),
    Setting("model", _text, f"model name (default {DEFAULT_MODEL})"),
    Setting("strategy", _text_list, "strategies to run (default: every installed one)"),
    Setting("compression", _compressions, "target compressions (default 1,2,4,8,16,32)"),
    Setting("seeds", _seeds, "seeds (default 0)"),
    Setting("select", _choice(*SELECTIONS), "final (default) or best-val"),
    Setting("val_fraction", _fraction, "fraction of the training data held out for validation (default 0.1)"),
    Setting("include_classifier", _flag, "prune the classifier too (default false)"),
    Setting("checkpoint", _text, "dense weights used as they are instead of pretraining"),
    Setting("pretrained", _text, "weights (file or tag) that dense pretraining starts from"),
    Setting("data_root", _text, "directory of the dataset files (default $DATAPATH)"),
    Setting("out", _text, "results directory"),
    Setting("jobs", _integer(1), "runs in parallel worker processes (default 1)"),
    Setting("threads", _auto_or(_integer(1)), "torch threads inside each run (default auto: cores / jobs)"),
    Setting("eval_batch_size", _auto_or(_integer(1)), "evaluation batch size (default auto: 1024 on CUDA, else 256)"),
    Setting("device", _device, "auto (default: CUDA, else MPS, else CPU), cpu, cuda, cuda:N or mps"),
    Setting("precision", _choice(*PRECISIONS), "fp32 (default), bf16 or fp16 (autocast)"),
    Setting("workers", _auto_or(_integer(0)), "DataLoader worker processes for folder datasets (default auto)"),
    Setting("deterministic", _flag, "deterministic algorithms on CUDA (default false)"),
    Setting("compile", _flag, "torch.compile the model (CUDA graphs on CUDA; default false)"),
    Setting("channels_last", _flag, "NHWC memory format for convolutional models (default false)"),
    Setting("tf32", _flag, "on CUDA, float32 matmuls and convolutions may use TensorFloat-32 (default true)"),
    Setting("schedule", _text_list, "pruning schedules: oneshot (default), iterative, gradual (several compare)"),
    Setting("schedule_option", _key_values, "a schedule option KEY=VALUE (repeatable), e.g. rounds=3"),
    Setting("executor", _text, "how runs are dispatched: sequential (default), local (processes), or a plugin's"),
    Setting("executor_option", _key_values, "an executor option KEY=VALUE (repeatable); in TOML: [executor] table"),
    Setting("batch_size", _integer(1), "batch size of pretraining and finetuning"),
    Setting("pretrain_epochs", _integer(0), "pretraining epochs"),
    Setting("pretrain_lr", _positive, "pretraining learning rate"),
    Setting("finetune_epochs", _integer(0), "finetuning epochs"),
    Setting("finetune_lr", _positive, "finetuning learning rate"),
)}

RECIPE_TABLES = ("pretrain", "finetune")
_RECIPE_CHECKS: dict[str, Callable[[Any], Any]] = {
    "epochs": _integer(0), "lr": _positive, "batch_size": _integer(1), "optimizer": _text,
    "momentum": _non_negative, "nesterov": _flag, "weight_decay": _non_negative, "schedule": _text,
    "loss": _text, "label_smoothing": _fraction,
}
assert set(_RECIPE_CHECKS) == {f.name for f in fields(Recipe)}, "every Recipe field needs a checker"


def _unknown(key: str, known: list[str], where: str) -> ShrinkBenchError:
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    hint = f"did you mean {close[0]!r}?" if close else f"known: {', '.join(sorted(known))}"
    return ShrinkBenchError(f"{where}: unknown key {key!r}; {hint}")


def read_toml(path: str | Path) -> dict[str, Any]:
    """The settings of a TOML config file, type-checked; recipe tables under ``"pretrain"``/``"finetune"``.

    Raises :class:`ShrinkBenchError` for an unreadable file, a syntax error, an unknown key (with the closest
    known one) or a value of the wrong type.
    """
    try:
        data = tomllib.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError) as exc:
        raise ShrinkBenchError(f"cannot read config file {path}: {getattr(exc, 'strerror', None) or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ShrinkBenchError(f"config file {path} is not valid TOML: {exc}") from None
    out: dict[str, Any] = {}
    for key, value in data.items():
        word = key.replace("-", "_")
        if word == "executor" and isinstance(value, dict):  # [executor] name = "ray", then its options
            options = dict(value)
            if "name" in options:
                out["executor"] = _checked(_text, options.pop("name"), f"config file {path}: executor.name")
            out["executor_option"] = options
        elif word in RECIPE_TABLES:
            if not isinstance(value, dict):
                raise ShrinkBenchError(f"config file {path}: [{word}] must be a table, e.g. [{word}] epochs = 5")
            out[word] = {}
            for sub, item in value.items():
                field_name = sub.replace("-", "_")
                if field_name not in _RECIPE_CHECKS:
                    raise _unknown(sub, list(_RECIPE_CHECKS), f"config file {path}, [{word}]")
                out[word][field_name] = _checked(_RECIPE_CHECKS[field_name], item, f"config file {path}: {word}.{sub}")
        elif word in SETTINGS:
            out[word] = _checked(SETTINGS[word].check, value, f"config file {path}: {key}")
        else:
            raise _unknown(key, [*SETTINGS, *RECIPE_TABLES], f"config file {path}")
    return out


def _checked(check: Callable[[Any], Any], value: Any, where: str) -> Any:
    try:
        return check(value)
    except _Bad as exc:
        raise ShrinkBenchError(f"{where} {exc}") from None


def build_sweep_config(registry: Any, toml_path: str | Path | None = None,
                       overrides: Mapping[str, Any] | None = None) -> SweepConfig:
    """The :class:`SweepConfig` that ``shrinkbench bench`` runs for a config file and flag values.

    ``overrides`` maps setting words (:data:`SETTINGS`) to values, ``None`` meaning "not given"; they win over
    the file, which wins over the dataset's standard recipes. Strategy aliases become canonical names; the
    default strategies are every one in ``registry``. Raises :class:`ShrinkBenchError` for a wrong value or an
    unknown dataset or strategy.
    """
    file_values = read_toml(toml_path) if toml_path else {}
    given: dict[str, Any] = {}
    for key, value in (overrides or {}).items():
        if value is None:
            continue
        if key not in SETTINGS:
            raise _unknown(key, list(SETTINGS), "overrides")
        given[key] = _checked(SETTINGS[key].check, value, SETTINGS[key].flag)
    values = {**{k: v for k, v in file_values.items() if k not in RECIPE_TABLES}, **given}
    options = {**file_values.get("executor_option", {}), **given.get("executor_option", {})}

    dataset = values.get("dataset", DEFAULT_DATASET)
    registry.dataset(dataset)  # unknown names fail here, with a suggestion
    pretrain, finetune = standard_recipes(dataset)
    recipes = {}
    for table, base in (("pretrain", pretrain), ("finetune", finetune)):
        recipe = Recipe(**{**vars(base), **file_values.get(table, {})})
        recipes[table] = recipe.updated(epochs=values.get(f"{table}_epochs"), lr=values.get(f"{table}_lr"),
                                        batch_size=values.get("batch_size"))
    strategies = values.get("strategy") or tuple(e.name for e in registry.list("strategies"))
    return SweepConfig(
        dataset=dataset,
        model=values.get("model", DEFAULT_MODEL),
        pretrain=recipes["pretrain"],
        finetune=recipes["finetune"],
        strategies=tuple(dict.fromkeys(registry.strategy(s).name for s in strategies)),
        compressions=values.get("compression", DEFAULT_COMPRESSIONS),
        seeds=values.get("seeds", (0,)),
        val_fraction=values.get("val_fraction", 0.1),
        selection=values.get("select", "final"),
        include_classifier=values.get("include_classifier", False),
        checkpoint=values.get("checkpoint"),
        pretrained=values.get("pretrained"),
        data_root=values.get("data_root") or os.environ.get("DATAPATH") or None,
        eval_batch_size=values.get("eval_batch_size"),
        threads=values.get("threads"),
        out=values.get("out"),
        jobs=values.get("jobs", 1),
        device=values.get("device", "auto"),
        precision=values.get("precision", "fp32"),
        workers=values.get("workers"),
        deterministic=values.get("deterministic", False),
        compile=values.get("compile", False),
        channels_last=values.get("channels_last", False),
        tf32=values.get("tf32", True),
        executor=values.get("executor"),
        executor_options=tuple(sorted(options.items())),
        schedules=values.get("schedule", ("oneshot",)),
        schedule_options=tuple(sorted(values.get("schedule_option", {}).items())),
    )
