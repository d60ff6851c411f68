"""``hf:<id or directory>``: any Hugging Face causal language model, through transformers' Auto classes.

A name is a hub id (``hf:facebook/opt-125m``, ``hf:facebook/opt-125m@<revision>``) or a local directory
written by ``save_pretrained`` (``hf:/models/opt``, ``hf:./opt``, ``hf:~/opt``; a relative name that is an
existing directory is one, as for ``from_pretrained``). The model is loaded by
``AutoModelForCausalLM.from_pretrained`` in float32 and wrapped in :class:`~shrinkbench_text.models.wrapper.CausalLM`;
its tokenizer by ``AutoTokenizer.from_pretrained`` (a fast tokenizer), as a
:class:`~shrinkbench_text.models.tokenizer.TextTokenizer` whose context length is the config's.

``pretrained`` (:func:`build`): ``None`` -- the model's own weights (hub or directory); ``"random"`` -- its
architecture, randomly initialised from the torch seed; a path -- a state dict (of the wrapper, as ShrinkBench
saves it, or of the transformers model) loaded into its architecture.

Weights come from the directory or the Hugging Face cache; the hub is asked only when it may be (not under
``HF_HUB_OFFLINE=1``). Weights that are not on this machine and cannot be fetched raise
:class:`~shrinkbench.errors.WeightsNotFoundError` in one line naming the id and the fix. Code from the hub
(``trust_remote_code``) is never run. Importing this module imports neither torch nor transformers.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shrinkbench.errors import ShrinkBenchError, WeightsNotFoundError, one_line

from .tokenizer import TextTokenizer, context_length_of

__all__ = ["RANDOM", "Source", "build", "hub_cache", "names", "source_of", "tokenizer"]

RANDOM = "random"
"""The ``pretrained`` value that asks for a random initialisation of the architecture."""
_HEADS = ("ForCausalLM", "LMHeadModel")
_WEIGHTS = ("*.safetensors", "*.bin")


@dataclass(frozen=True)
class Source:
    """Where ``hf:<name>`` lives: ``location`` (an absolute directory, or a hub repo id), ``revision`` (hub
    only: ``id@revision``), and ``name`` as the user gave it."""

    name: str
    location: str
    revision: str | None = None

    @property
    def is_dir(self) -> bool:
        """Whether the model is a local directory (not a hub id)."""
        return os.path.isabs(self.location)

    @property
    def label(self) -> str:
        """A short, machine-independent label: the hub id, or the directory's name."""
        return Path(self.location).name if self.is_dir else self.location


def source_of(name: str) -> Source:
    """The :class:`Source` of ``hf:<name>``. Raises :class:`WeightsNotFoundError` for a path that is not a
    directory holding a ``config.json``."""
    path = Path(name).expanduser()
    if name.startswith(("/", "./", "../", "~", ".\\", "..\\")) or os.path.isabs(name) or path.is_dir():
        if not (path / "config.json").is_file():
            what = "has no config.json" if path.is_dir() else "is not a directory"
            raise WeightsNotFoundError(f"hf:{name}: {path} {what}; give a directory written by save_pretrained, "
                                       "or a Hugging Face hub id such as hf:facebook/opt-125m")
        return Source(name, str(path.resolve()))
    repo, _, revision = name.partition("@")
    return Source(name, repo, revision or None)


def offline() -> bool:
    """Whether the hub may not be asked (``HF_HUB_OFFLINE`` or ``TRANSFORMERS_OFFLINE`` set, read now)."""
    return any(os.environ.get(var, "").lower() in {"1", "true", "yes", "on"}
               for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def hub_cache() -> Path:
    """The Hugging Face hub cache directory (``HF_HUB_CACHE``, else ``HF_HOME/hub``, else the default)."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    home = os.environ.get("HF_HOME") or os.path.join(os.environ.get("XDG_CACHE_HOME", "~/.cache"), "huggingface")
    return Path(home).expanduser() / "hub"


def names() -> list[str]:
    """The hub ids of the causal LMs in the Hugging Face cache (a snapshot with a ``config.json`` naming a
    ``*ForCausalLM``/``*LMHeadModel`` architecture, and weights), sorted. Reads files only: no network, no
    torch."""
    found = set()
    for repo in hub_cache().glob("models--*"):
        for config in repo.glob("snapshots/*/config.json"):
            if _is_causal_lm(config) and any(any(config.parent.glob(p)) for p in _WEIGHTS):
                found.add(repo.name.removeprefix("models--").replace("--", "/"))
    return sorted(found)


def _is_causal_lm(config: Path) -> bool:
    try:
        architectures = json.loads(config.read_text()).get("architectures") or []
    except (OSError, ValueError, AttributeError):
        return False
    return any(str(a).endswith(_HEADS) for a in architectures)


def _hub_options(source: Source) -> dict[str, Any]:
    if source.is_dir:
        return {}
    return {"revision": source.revision, "local_files_only": offline()}


def _missing(source: Source, what: str, exc: BaseException) -> ShrinkBenchError:
    """The one-line error for ``what`` (``"weights"``, ``"tokenizer"``) of ``source`` failing to load."""
    from huggingface_hub.errors import RepositoryNotFoundError, RevisionNotFoundError

    cause = exc.__cause__
    if isinstance(cause, RevisionNotFoundError):
        return ShrinkBenchError(f"hf:{source.name}: the hub has no revision {source.revision!r} of {source.location}")
    if isinstance(cause, RepositoryNotFoundError) and not offline():
        return ShrinkBenchError(f"hf:{source.name}: {source.location} is neither a local directory nor a model on "
                                "the Hugging Face hub (or it is private: log in with `hf auth login`)")
    if source.is_dir:
        return ShrinkBenchError(f"hf:{source.name}: cannot load its {what} from {source.location}: "
                                f"{one_line(exc, 200, with_type=False)}")
    why = "HF_HUB_OFFLINE is set" if offline() else "the hub cannot be reached"
    return WeightsNotFoundError(
        f"hf:{source.name}: {what} not in the Hugging Face cache ({hub_cache()}) and {why}; fetch them on a machine "
        f"with network (`hf download {source.location}`) and copy the cache here, or give a local directory: "
        "hf:/path/to/model")


def load_config(source: Source) -> Any:
    """The transformers config of ``source`` (never running code from the hub)."""
    from transformers import AutoConfig

    try:
        return AutoConfig.from_pretrained(source.location, **_hub_options(source))
    except OSError as exc:
        raise _missing(source, "config", exc) from None
    except ValueError as exc:  # a model_type this transformers does not know, or custom code
        raise ShrinkBenchError(f"hf:{source.name}: transformers cannot read its config: "
                               f"{one_line(exc, 200, with_type=False)}") from None


def build(name: str, num_classes: int = 0, input_shape: tuple[int, ...] = (), pretrained: str | None = None):  # noqa: ANN201
    """The :class:`~shrinkbench_text.models.wrapper.CausalLM` of ``hf:<name>`` (``num_classes`` and
    ``input_shape`` are ignored); ``pretrained`` as the module says. Raises :class:`WeightsNotFoundError`
    when the weights are not here (one line), :class:`ShrinkBenchError` for a model that is not a causal LM."""
    import torch
    from transformers import AutoModelForCausalLM

    from .wrapper import CausalLM

    source = source_of(name)
    config = load_config(source)
    _check_causal(source, config)
    if pretrained and pretrained != RANDOM:
        from shrinkbench.checkpoints import read_state_dict, weights_file

        file = weights_file(pretrained, f"pass a state dict of hf:{name}, {RANDOM!r}, or nothing for its own weights")
        if file is None:
            raise ShrinkBenchError(f"hf:{name}: pretrained must be a state dict file, {RANDOM!r} or empty, "
                                   f"not {pretrained!r}")
        return _load_state(CausalLM, AutoModelForCausalLM.from_config(config, dtype=torch.float32),
                           read_state_dict(file), str(file))
    if pretrained == RANDOM:
        return CausalLM(AutoModelForCausalLM.from_config(config, dtype=torch.float32), RANDOM)
    try:
        with _quiet():
            model = AutoModelForCausalLM.from_pretrained(source.location, config=config, dtype=torch.float32,
                                                         **_hub_options(source))
    except OSError as exc:
        raise _missing(source, "weights", exc) from None
    commit = getattr(config, "_commit_hash", None)
    return CausalLM(model, source.location if source.is_dir else f"{source.location}@{commit or source.revision}")


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """No transformers progress bar ("Loading weights") for the block: the command shows its own progress."""
    from transformers.utils import logging

    shown = logging.is_progress_bar_enabled()
    logging.disable_progress_bar()
    try:
        yield
    finally:
        if shown:
            logging.enable_progress_bar()


def _check_causal(source: Source, config: Any) -> None:
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    if config.model_type not in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES:
        raise ShrinkBenchError(f"hf:{source.name} is a {config.model_type!r} model, for which transformers has no "
                               "causal-LM class (AutoModelForCausalLM)")


def _load_state(wrap: Any, model: Any, state: dict, where: str) -> Any:
    """``wrap(model)`` with ``state`` loaded: keys of the transformers model (GPT-2's ``Conv1D`` weights in their
    own layout, or as the ``nn.Linear`` layers the wrapper makes of them) or of the wrapper."""
    from shrinkbench.checkpoints import load_into

    from .wrapper import linear_from_conv1d

    if len(state.keys() & model.state_dict().keys()) >= len(state.keys() & {f"model.{k}" for k in model.state_dict()}):
        try:
            load_into(model, state, where)
        except ShrinkBenchError:
            load_into(linear_from_conv1d(model), state, where)
        return wrap(model, where)
    wrapped = wrap(model, where)
    load_into(wrapped, state, where)
    return wrapped


def tokenizer(name: str, pretrained: str | None = None) -> TextTokenizer:
    """The tokenizer of ``hf:<name>`` (``AutoTokenizer``, fast) as a :class:`TextTokenizer` named
    ``<hub id or directory name>#<hash>``, with the config's context length (``pretrained`` does not change
    it: a state dict is trained for the model's own tokenizer)."""
    from transformers import AutoTokenizer

    source = source_of(name)
    config = load_config(source)
    try:
        loaded = AutoTokenizer.from_pretrained(source.location, **_hub_options(source))
    except OSError as exc:
        raise _missing(source, "tokenizer", exc) from None
    except ValueError as exc:
        raise ShrinkBenchError(f"hf:{name}: cannot load its tokenizer: {one_line(exc, 200, with_type=False)}") from None
    backend = getattr(loaded, "backend_tokenizer", None)
    if backend is None:
        raise ShrinkBenchError(f"hf:{name}: its tokenizer ({type(loaded).__name__}) has no fast (tokenizers) form")
    return TextTokenizer(backend, source.label, context_length_of(config))
