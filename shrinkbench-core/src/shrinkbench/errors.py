"""Errors that mean "the user asked for something that cannot be done": the CLI shows them as one line and
exits with code 2. Anything else is a bug and keeps its traceback."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def one_line(exc: BaseException, limit: int = 300, *, with_type: bool | None = None) -> str:
    """``exc`` as one line for users: ``Type: message``, or the message alone with ``with_type=False`` and, by
    default, for a :class:`ShrinkBenchError` (its message is already written for users); the type's name when
    there is no message; whitespace collapsed, a message over ``limit`` characters cut with "..."."""
    if with_type is None:
        with_type = not isinstance(exc, ShrinkBenchError)
    text = " ".join(str(exc).split())
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    if not text:
        return type(exc).__name__
    return f"{type(exc).__name__}: {text}" if with_type else text


class ShrinkBenchError(Exception):
    """Bad input or setup; the message names the problem and the fix in one line."""


class UnknownNameError(ShrinkBenchError, KeyError):
    """A strategy, model, dataset or metric name that no installed plugin provides."""

    def __init__(self, kind: str, name: str, known: Iterable[str]) -> None:
        known = sorted(set(known))
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
        lowered = [k for k in known if k.lower() == name.lower()]
        hint = f"did you mean {' or '.join(repr(c) for c in (lowered or close))}?" if (lowered or close) else (
            f"see 'shrinkbench list {'strategies' if kind == 'strategy' else kind + 's'}'")
        self.kind, self.name, self.suggestions = kind, name, lowered or close
        super().__init__(f"unknown {kind} {name!r}: {hint}")

    def __str__(self) -> str:  # KeyError would quote the message
        return self.args[0]


class NameConflictError(ShrinkBenchError):
    """Two plugins provide the same name."""


class MaskError(ShrinkBenchError):
    """A strategy returned masks that do not fit the model (unknown names, wrong shape or dtype)."""


class CompressionError(ShrinkBenchError, ValueError):
    """A compression target below 1 or out of reach for the model."""


class DataNotFoundError(ShrinkBenchError, FileNotFoundError):
    """A dataset's files are missing; the message names the directory searched and the layout expected."""


class IncompatibleError(ShrinkBenchError):
    """A model and a dataset that cannot go together."""


class WeightsNotFoundError(ShrinkBenchError, FileNotFoundError):
    """Pretrained weights were asked for but are not on this machine (nothing is ever downloaded)."""


class PluginError(ShrinkBenchError):
    """Plugin code raised an unexpected exception; the message names the plugin, the exception and its message."""

    @classmethod
    def wrap(cls, who: str, exc: BaseException) -> ShrinkBenchError:
        """``exc`` as raised by ``who`` (e.g. ``"strategy 'snip' (shrinkbench-snip)"``): a :class:`ShrinkBenchError`
        passes through (its message is already meant for users), anything else becomes a :class:`PluginError`."""
        if isinstance(exc, ShrinkBenchError):
            return exc
        return cls(f"{who} raised {one_line(exc)}")


class MetricNote(UserWarning):
    """Something a metric wants the row to say about its value (e.g. operations it could not count). A metric
    raises it with ``warnings.warn(text, MetricNote)``; the engine records the text in the row's notes."""
