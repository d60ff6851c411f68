"""Building a sweep request (:class:`SweepConfig`) from its sources: standard recipes < a TOML file < flags.

The command line maps its flags onto ``overrides`` and nothing else, so a notebook rebuilds exactly what
``shrinkbench bench`` runs with :func:`build_sweep_config`. Each setting has one word, used as the TOML key and
(with ``-`` for ``_``) as the flag: ``compression = [2, 4]`` in a file is ``--compression 2,4``. Recipe settings
also have tables: ``[pretrain]`` and ``[finetune]`` take every :class:`Recipe` field; ``[schedules.NAME]`` the
options of one pruning schedule; ``[executor]`` the executor and its options; ``[variants.NAME]`` a recipe
variant (``finetune.lr = 0.05``, ``pretrained = "..."``, ``dense_seed_offset = 100``). Every value is
type-checked; a wrong one -- or a key of an earlier version, like ``schedule`` for the learning-rate schedule --
is a one-line :class:`ShrinkBenchError` naming the setting, where it came from, and the right word or value.
This module imports neither torch nor any plugin.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import values as v
from ..errors import ShrinkBenchError
from ..values import BadValue, checked, did_you_mean
from .config import (
    DEFAULT_COMPRESSIONS,
    DEFAULT_DATASET,
    DEFAULT_MODEL,
    PRECISIONS,
    RECIPE_FIELDS,
    SELECTIONS,
    VARIANT_KEYS,
    SweepConfig,
    Variant,
)

__all__ = ["RENAMED", "SETTINGS", "Setting", "build_sweep_config", "read_toml"]

MAX_SEED = 2**32 - 1


def _names(value: Any) -> tuple[str, ...]:
    """One name or a list of names."""
    return v.text_list([value] if isinstance(value, str) else value)


def _list_of(check: v.Checker, each: str, example: str, hint: str = "", unique: bool = False) -> v.Checker:
    """A non-empty list whose items pass ``check`` (duplicates dropped, or refused with ``unique``); an item that
    does not is named with ``each`` (what every item must be) and ``hint``."""

    def checked_list(value: Any) -> tuple[Any, ...]:
        if not isinstance(value, (list, tuple)) or not value:
            raise BadValue(f"must be a list of {example}, got {value!r}")
        out = []
        for item in value:
            try:
                out.append(check(item))
            except BadValue:
                raise BadValue(f"must be {each}, got {item!r}{hint}") from None
        if unique and len(set(out)) < len(out):
            twice = next(item for item in out if out.count(item) > 1)
            raise BadValue(f"gives {twice:g} more than once; give each target once{hint}")
        return tuple(dict.fromkeys(out))

    return checked_list


_compressions = _list_of(v.number(1.0), "a finite number >= 1 (1 = no pruning)", "numbers >= 1, e.g. [1, 2, 4.5]",
                         "; e.g. 1,2,4", unique=True)
_sparsities = _list_of(v.fraction(), "a fraction in [0, 1) of the prunable weights", "fractions, e.g. [0.5, 0.7]",
                       "; e.g. 0.5,0.7", unique=True)
_seeds = _list_of(v.integer(0, MAX_SEED), f"integers from 0 to {MAX_SEED}", "integers, e.g. [0, 1, 2]")


def _word_or(word: str, meaning: Any, check: v.Checker) -> v.Checker:
    """``check``, or ``word`` (any case), returned as ``meaning``."""

    def checked_or_word(value: Any) -> Any:
        if isinstance(value, str) and value.strip().lower() == word:
            return meaning
        try:
            return check(value)
        except BadValue as exc:
            raise BadValue(f"{exc} (or {word})") from None

    return checked_or_word


def _auto_or(check: v.Checker) -> v.Checker:
    """``check``, or the word ``auto`` (returned as ``None``: decided when the sweep starts)."""
    return _word_or("auto", None, check)


def _all_or(check: v.Checker) -> v.Checker:
    """``check``, or the word ``all`` (returned as ``0``: no limit)."""
    return _word_or("all", 0, check)


def _device(value: Any) -> str:
    text = v.text(value).strip().lower()
    if text not in ("auto", "cpu", "cuda", "mps") and not (text.startswith("cuda:") and text[5:].isdigit()):
        raise BadValue(f"must be auto, cpu, cuda, cuda:N or mps, got {value!r}")
    return text


def _key_values(value: Any) -> dict[str, str]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)) or not all(isinstance(i, str) and "=" in i for i in items):
        raise BadValue(f"must be KEY=VALUE (e.g. address=auto), got {value!r}")
    return {k.strip(): val.strip() for k, _, val in (i.partition("=") for i in items)}


def _variant_spec(value: Any) -> tuple[Variant, ...]:
    """``NAME:KEY=VALUE,KEY=VALUE`` strings (the flag) into variants."""
    out = []
    for item in [value] if isinstance(value, str) else value:
        name, sep, body = str(item).partition(":")
        if not sep or not name.strip():
            raise BadValue(f"must be NAME:KEY=VALUE[,KEY=VALUE], e.g. lr-high:finetune_lr=0.05, got {item!r}")
        changes = _key_values([p for p in body.split(",") if p.strip()]) if body.strip() else {}
        out.append(_variant(name.strip(), changes, "--variant"))
    return tuple(out)


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
    Setting("dataset", _names, f"dataset name(s) (default {DEFAULT_DATASET}); several make a grid"),
    Setting("model", _names, f"model name(s) (default {DEFAULT_MODEL}); several make a grid"),
    Setting("strategy", v.text_list, "strategies to run (default: every installed one the model allows)"),
    Setting("compression", _compressions, "target compressions (default 1,2,4,8,16,32)"),
    Setting("sparsity", _sparsities, "fractions of the prunable weights to remove, instead of --compression "
            "(e.g. 0.5: the language-model papers' axis)"),
    Setting("seeds", _seeds, "seeds (default 0)"),
    Setting("select", v.choice(*SELECTIONS), "final (default) or best-val"),
    Setting("val_fraction", v.fraction(), "fraction of the training data held out for validation (default 0.1)"),
    Setting("include_classifier", v.flag, "prune the classifier too (default false)"),
    Setting("context_length", v.integer(2), "token window of text datasets (default: each language model's own)"),
    Setting("eval_windows", _all_or(v.integer(1)), "evaluate the first N test windows of text datasets, or all "
            "(default: as many as the dataset declares, else all)"),
    Setting("calibration_samples", v.integer(1), "calibration inputs of post-training strategies (default 128)"),
    Setting("calibration_source", v.text, "dataset whose training split calibrates (default: the dataset itself)"),
    Setting("checkpoint", v.text, "dense weights used as they are instead of pretraining"),
    Setting("pretrained", v.text, "weights (file or tag) that dense pretraining starts from"),
    Setting("data_root", v.text, "directory of the dataset files (default $DATAPATH)"),
    Setting("out", v.text, "results directory"),
    Setting("jobs", _auto_or(v.integer(1)), "runs at once, for every executor (default auto: see the layout rule)"),
    Setting("threads", _auto_or(v.integer(1)), "torch threads = CPUs of each run (default auto)"),
    Setting("gpus_per_run", _auto_or(v.number(0.0, strict=True, maximum=1.0)),
            "GPUs of each run, a fraction shares one (default auto: 1, or 1/4 for small models)"),
    Setting("eval_batch_size", _auto_or(v.integer(1)), "evaluation batch size (default auto: 1024 on CUDA, else 256)"),
    Setting("device", _device, "auto (default: CUDA, else MPS, else CPU), cpu, cuda, cuda:N or mps"),
    Setting("precision", v.choice(*PRECISIONS), "fp32 (default), bf16 or fp16 (autocast, training and evaluation)"),
    Setting("workers", _auto_or(v.integer(0)), "DataLoader worker processes for folder datasets (default auto)"),
    Setting("deterministic", v.flag, "deterministic algorithms (default false)"),
    Setting("compile", v.flag, "torch.compile the model (CUDA graphs on CUDA; default false)"),
    Setting("channels_last", _auto_or(v.flag),
            "NHWC memory format for convolutional models (default auto: on for CPU runs, off elsewhere)"),
    Setting("tf32", v.flag, "on CUDA, float32 matmuls and convolutions may use TensorFloat-32 (default true)"),
    Setting("retry", v.flag, "a re-run runs failed and lost runs again (default true)"),
    Setting("schedule", v.text_list, "pruning schedules: oneshot (default), iterative, gradual (several compare)"),
    Setting("schedule_option", _key_values, "a schedule option [NAME.]KEY=VALUE (repeatable), e.g. iterative.rounds=3"),
    Setting("executor", v.text, "how runs are dispatched: sequential, local (processes), or a plugin's"),
    Setting("executor_option", _key_values, "an executor option KEY=VALUE (repeatable); in TOML: [executor] table"),
    Setting("variant", _variant_spec, "a recipe variant NAME:KEY=VALUE,... (repeatable), e.g. lr-high:finetune_lr=0.05"),
    Setting("batch_size", v.integer(1), "batch size of pretraining and finetuning"),
    Setting("pretrain_epochs", v.integer(0), "pretraining epochs"),
    Setting("pretrain_lr", v.number(0.0, strict=True), "pretraining learning rate"),
    Setting("finetune_epochs", v.integer(0), "finetuning epochs"),
    Setting("finetune_lr", v.number(0.0, strict=True), "finetuning learning rate"),
)}

_RECIPE_CHECKS: dict[str, Callable[[Any], Any]] = {
    "epochs": v.integer(0), "lr": v.number(0.0, strict=True), "batch_size": v.integer(1), "optimizer": v.text,
    "momentum": v.number(0.0), "nesterov": v.flag, "weight_decay": v.number(0.0), "lr_schedule": v.text,
    "loss": v.text, "label_smoothing": v.fraction(),
}
assert set(_RECIPE_CHECKS) == set(RECIPE_FIELDS), "every Recipe field needs a checker"

RENAMED = {"schedule": "lr_schedule"}
"""Recipe keys of earlier versions and their words now (``schedule`` is a pruning schedule now)."""

TABLES = ("pretrain", "finetune", "executor", "schedules", "variants")


def _unknown(key: str, known: list[str], where: str) -> ShrinkBenchError:
    return ShrinkBenchError(f"{where}: unknown key {key!r}; {did_you_mean(key, known)}")


def _recipe_table(table: Mapping[str, Any], source: str, name: str) -> dict[str, Any]:
    """The ``[name]`` recipe table of ``source`` (e.g. ``config file x.toml``), checked."""
    where = f"{source}: {name}"
    out = {}
    for sub, item in table.items():
        word = sub.replace("-", "_")
        if word in RENAMED:
            raise ShrinkBenchError(f"{where}.{sub} is now called {RENAMED[word]!r} (the learning-rate schedule; "
                                   "'schedule' names a pruning schedule)")
        if word not in _RECIPE_CHECKS:
            raise _unknown(sub, list(_RECIPE_CHECKS), f"{source}, [{name}]")
        out[word] = checked(_RECIPE_CHECKS[word], item, f"{where}.{sub}")
    return out


def _variant(name: str, changes: Mapping[str, Any], where: str) -> Variant:
    """A variant from ``key = value`` changes (``finetune.lr`` or ``finetune_lr``; nested tables flattened)."""
    flat: dict[str, Any] = {}
    for key, value in changes.items():
        if isinstance(value, dict):
            flat.update({f"{key}.{k}": val for k, val in value.items()})
        else:
            flat[key] = value
    out = []
    for key, value in flat.items():
        word = key.replace("-", "_")
        for recipe in ("pretrain", "finetune"):
            if word.startswith(f"{recipe}_"):
                word = f"{recipe}.{word[len(recipe) + 1:]}"
        if word not in VARIANT_KEYS:
            raise _unknown(key, list(VARIANT_KEYS), f"{where} variant {name!r}")
        field_name = word.partition(".")[2]
        check = _RECIPE_CHECKS.get(field_name) if "." in word else (
            v.integer(0) if word == "dense_seed_offset" else v.text)
        out.append((word, checked(check, value, f"{where} variant {name!r}: {word}")))
    try:
        return Variant(name, tuple(out))
    except ShrinkBenchError as exc:
        raise ShrinkBenchError(f"{where}: {exc}") from None


def read_toml(path: str | Path) -> dict[str, Any]:
    """The settings of a TOML config file, type-checked; recipe tables under ``"pretrain"``/``"finetune"``,
    schedule options under ``"schedule_option"`` (``{"iterative.rounds": 3}``), variants under ``"variant"``.

    Raises :class:`ShrinkBenchError` for an unreadable file, a syntax error, an unknown or renamed key (with the
    word to use) or a value of the wrong type.
    """
    try:
        data = tomllib.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError) as exc:
        raise ShrinkBenchError(f"cannot read config file {path}: {getattr(exc, 'strerror', None) or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ShrinkBenchError(f"config file {path} is not valid TOML: {exc}") from None
    where = f"config file {path}"
    out: dict[str, Any] = {}
    for key, value in data.items():
        word = key.replace("-", "_")
        if word in TABLES and isinstance(value, dict):
            if word == "executor":  # [executor] name = "ray", then its options
                options = dict(value)
                if "name" in options:
                    out["executor"] = checked(v.text, options.pop("name"), f"{where}: executor.name")
                out["executor_option"] = options
            elif word == "schedules":  # [schedules.iterative] rounds = 3
                out["schedule_option"] = {f"{name}.{k}": val for name, table in value.items()
                                          for k, val in (table or {}).items()}
            elif word == "variants":
                out["variant"] = tuple(_variant(name, table or {}, where) for name, table in value.items())
            else:
                out[word] = _recipe_table(value, where, word)
        elif word in ("pretrain", "finetune"):
            raise ShrinkBenchError(f"{where}: [{word}] must be a table, e.g. [{word}] epochs = 5")
        elif word in SETTINGS:
            out[word] = checked(SETTINGS[word].check, value, f"{where}: {key}")
        else:
            raise _unknown(key, [*SETTINGS, *TABLES], where)
    return out


def _schedule_options(registry: Any, schedules: tuple[str, ...], given: Mapping[str, Any]) -> tuple:
    """``{"NAME.KEY" | "KEY": value}`` into ``((schedule, ((key, value), ...)), ...)``: a bare KEY goes to every
    chosen schedule that declares it (an error when none does)."""
    out: dict[str, dict[str, Any]] = {}
    for key, value in given.items():
        name, dot, option = key.partition(".")
        if dot:
            out.setdefault(name, {})[option] = value
            continue
        takers = [s for s in schedules if key in registry.schedule(s).option_names]
        if not takers:
            declared = [o for s in schedules for o in registry.schedule(s).option_names]
            raise ShrinkBenchError(f"no chosen schedule ({', '.join(schedules)}) takes option {key!r}; "
                                   f"{did_you_mean(key, declared)}")
        for name in takers:
            out.setdefault(name, {})[key] = value
    return tuple(sorted((name, tuple(sorted(opts.items()))) for name, opts in out.items()))


def build_sweep_config(registry: Any, toml_path: str | Path | None = None,
                       overrides: Mapping[str, Any] | None = None) -> SweepConfig:
    """The request ``shrinkbench bench`` runs for a config file and flag values.

    ``overrides`` maps setting words (:data:`SETTINGS`) to values, ``None`` meaning "not given"; they win over
    the file, which wins over each dataset's standard recipes. Strategy aliases become canonical names; with no
    strategies given, every installed one the model allows runs. Raises :class:`ShrinkBenchError` for a wrong
    value or key; unknown names are reported (all at once) when the sweep is resolved.
    """
    file_values = read_toml(toml_path) if toml_path else {}
    given: dict[str, Any] = {}
    for key, value in (overrides or {}).items():
        if value is None:
            continue
        if key not in SETTINGS:
            raise _unknown(key, list(SETTINGS), "overrides")
        given[key] = checked(SETTINGS[key].check, value, SETTINGS[key].flag)
    values = {**{k: val for k, val in file_values.items() if k not in ("pretrain", "finetune")}, **given}
    executor_options = {**file_values.get("executor_option", {}), **given.get("executor_option", {})}
    schedule_given = {**file_values.get("schedule_option", {}), **given.get("schedule_option", {})}
    recipe_changes = [(f"{table}.{k}", val) for table in ("pretrain", "finetune")
                      for k, val in file_values.get(table, {}).items()]
    for table in ("pretrain", "finetune"):
        for word, field_name in (("epochs", "epochs"), ("lr", "lr")):
            if f"{table}_{word}" in values:
                recipe_changes.append((f"{table}.{field_name}", values[f"{table}_{word}"]))
        if "batch_size" in values:
            recipe_changes.append((f"{table}.batch_size", values["batch_size"]))
    strategies = tuple(dict.fromkeys(_canonical(registry, s) for s in values.get("strategy", ())))
    schedules = values.get("schedule", ("oneshot",))
    variants = tuple(values.get("variant", ()))
    if "sparsity" in values and "compression" in values:
        raise ShrinkBenchError("give targets either as --compression or as --sparsity (the fraction of prunable "
                               "weights removed), not both")
    return SweepConfig(
        datasets=values.get("dataset", (DEFAULT_DATASET,)),
        models=values.get("model", (DEFAULT_MODEL,)),
        recipe_changes=tuple(dict(recipe_changes).items()),
        strategies=strategies,
        compressions=values.get("compression", DEFAULT_COMPRESSIONS if "sparsity" not in values else (1.0,)),
        sparsities=tuple(values.get("sparsity", ())),
        seeds=values.get("seeds", (0,)),
        schedules=schedules,
        schedule_options=_schedule_options(registry, schedules, schedule_given) if schedule_given else (),
        variants=variants,
        val_fraction=values.get("val_fraction", 0.1),
        selection=values.get("select", "final"),
        include_classifier=values.get("include_classifier", False),
        context_length=values.get("context_length"),
        eval_windows=values.get("eval_windows"),
        calibration_samples=values.get("calibration_samples", 128),
        calibration_source=values.get("calibration_source"),
        checkpoint=values.get("checkpoint"),
        pretrained=values.get("pretrained"),
        data_root=values.get("data_root") or os.environ.get("DATAPATH") or None,
        out=values.get("out"),
        precision=values.get("precision", "fp32"),
        device=values.get("device", "auto"),
        jobs=values.get("jobs"),
        threads=values.get("threads"),
        gpus_per_run=values.get("gpus_per_run"),
        workers=values.get("workers"),
        eval_batch_size=values.get("eval_batch_size"),
        deterministic=values.get("deterministic", False),
        compile=values.get("compile", False),
        channels_last=values.get("channels_last"),
        tf32=values.get("tf32", True),
        executor=values.get("executor"),
        executor_options=tuple(sorted(executor_options.items())),
        retry=values.get("retry", True),
    )


def _canonical(registry: Any, name: str) -> str:
    """The canonical name of strategy ``name`` (an alias becomes its strategy; unknown names stay, to be
    reported with every other problem when the sweep is resolved)."""
    try:
        return registry.strategy(name).name
    except ShrinkBenchError:
        return name
