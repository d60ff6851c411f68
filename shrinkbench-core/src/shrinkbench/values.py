"""Checking user-given values: one set of checkers for sweep settings (flags and TOML) and for the options of
schedules and executors, so that every value gets the same rule and the same one-line message.

A checker takes a raw value (a TOML value, or a string from the command line) and returns it typed, or raises
:class:`BadValue` whose message says what was expected (``must be an integer >= 1, got 'x'``); the caller
prefixes where the value came from. :class:`Options` applies them to a plugin's options::

    options = Options("schedule iterative", {"rounds": "3"})
    options.integer("rounds", 3)            # 3; "x" would raise "schedule iterative option rounds must be ..."

This module imports neither torch nor any plugin.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from .errors import ShrinkBenchError

__all__ = ["BadValue", "Checker", "Options", "choice", "did_you_mean", "flag", "fraction", "integer", "number",
           "text", "text_list"]


class BadValue(ValueError):
    """A value of the wrong type or range; the message says what is expected (without saying where from)."""


Checker = Callable[[Any], Any]


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """``did you mean 'x'?`` for the closest of ``known``, else ``known: a, b`` (``it takes none`` if empty)."""
    known = sorted(set(known))
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    if close:
        return f"did you mean {close[0]!r}?"
    return f"known: {', '.join(known)}" if known else "it takes none"


def _from_text(value: Any) -> Any:
    """A command-line string as the number or boolean it spells (TOML values pass unchanged)."""
    if not isinstance(value, str):
        return value
    stripped = value.strip()
    if stripped.lower() in ("true", "false"):
        return stripped.lower() == "true"
    for convert in (int, float):
        try:
            return convert(stripped)
        except ValueError:
            continue
    return value


def text(value: Any) -> str:
    """A non-empty string."""
    if not isinstance(value, str) or not value.strip():
        raise BadValue(f"must be a non-empty string, got {value!r}")
    return value


def text_list(value: Any) -> tuple[str, ...]:
    """A non-empty list of non-empty names (duplicates dropped, order kept)."""
    if not isinstance(value, (list, tuple)) or not value or not all(isinstance(v, str) and v for v in value):
        raise BadValue(f"must be a list of names, e.g. [\"global-magnitude\", \"random\"], got {value!r}")
    return tuple(dict.fromkeys(value))


def integer(minimum: int = 0, maximum: int | None = None) -> Checker:
    """An integer from ``minimum`` to ``maximum`` (a string of digits from the command line counts)."""

    def check(value: Any) -> int:
        number = _from_text(value)
        if isinstance(number, bool) or not isinstance(number, int) or number < minimum or (
                maximum is not None and number > maximum):
            bound = f">= {minimum}" if maximum is None else f"from {minimum} to {maximum}"
            raise BadValue(f"must be an integer {bound}, got {value!r}")
        return number

    return check


def number(minimum: float = -math.inf, *, strict: bool = False, maximum: float = math.inf,
           strict_maximum: bool = False) -> Checker:
    """A finite real number above ``minimum`` (``strict``: strictly) and below ``maximum``."""

    def check(value: Any) -> float:
        got = _from_text(value)
        low = ">" if strict else ">="
        high = "<" if strict_maximum else "<="
        if math.isinf(maximum):
            expected = f"a number {low} {minimum:g}" if not math.isinf(minimum) else "a number"
        else:
            expected = f"a number {low} {minimum:g} and {high} {maximum:g}"
        if isinstance(got, bool) or not isinstance(got, (int, float)) or not math.isfinite(got):
            raise BadValue(f"must be {expected}, got {value!r}")
        if (got <= minimum if strict else got < minimum) or (got >= maximum if strict_maximum else got > maximum):
            raise BadValue(f"must be {expected}, got {value!r}")
        return float(got)

    return check


def fraction(*, include_one: bool = False) -> Checker:
    """A number in [0, 1) (``include_one``: [0, 1])."""
    inner = number(0.0, maximum=1.0, strict_maximum=not include_one)

    def check(value: Any) -> float:
        try:
            return inner(value)
        except BadValue:
            raise BadValue(f"must be a number in [0, {'1]' if include_one else '1)'}, got {value!r}") from None

    return check


def flag(value: Any) -> bool:
    """``true`` or ``false`` (booleans in TOML; the words on the command line)."""
    got = _from_text(value)
    if not isinstance(got, bool):
        raise BadValue(f"must be true or false, got {value!r}")
    return got


def choice(*choices: str) -> Checker:
    """One of ``choices``."""

    def check(value: Any) -> str:
        if value not in choices:
            raise BadValue(f"must be one of {', '.join(choices)}, got {value!r}")
        return value

    return check


def checked(check: Checker, value: Any, where: str) -> Any:
    """``check(value)``, or a one-line :class:`ShrinkBenchError` starting with ``where``."""
    try:
        return check(value)
    except BadValue as exc:
        raise ShrinkBenchError(f"{where} {exc}") from None


class Options(Mapping[str, Any]):
    """The options a user gave one plugin (``--schedule-option``, ``--executor-option``, TOML tables): a
    read-only mapping of the raw values (strings from the command line, TOML values from a file), and typed
    getters -- :meth:`integer`, :meth:`number`, :meth:`fraction`, :meth:`choice`, :meth:`text` -- whose errors
    are one line naming ``owner`` (e.g. ``schedule iterative``) and the option. ``declared`` (when given) are the
    option names the plugin's spec declares: any other is an error with the closest declared name."""

    def __init__(self, owner: str, values: Mapping[str, Any], declared: Iterable[str] | None = None) -> None:
        self.owner, self.values = owner, dict(values)
        if declared is not None:
            declared = list(declared)
            for key in self.values:
                if key not in declared:
                    raise ShrinkBenchError(f"{owner} has no option {key!r}; {did_you_mean(key, declared)}")

    def __getitem__(self, key: str) -> Any:
        return self.values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.values)

    def __len__(self) -> int:
        return len(self.values)

    def value(self, key: str, check: Checker, default: Any) -> Any:
        """The option ``key`` checked by ``check``, or ``default`` when it was not given (``none``/empty: not
        given either)."""
        value = self.values.get(key)
        if value is None or (isinstance(value, str) and value.strip().lower() in ("", "none")):
            return default
        return checked(check, value, f"{self.owner} option {key}")

    def integer(self, key: str, default: int | None, minimum: int = 1) -> int | None:
        """An integer option ``>= minimum``."""
        return self.value(key, integer(minimum), default)

    def number(self, key: str, default: float | None, minimum: float = 0.0, strict: bool = False) -> float | None:
        """A real option above ``minimum``."""
        return self.value(key, number(minimum, strict=strict), default)

    def fraction(self, key: str, default: float, include_one: bool = True) -> float:
        """A fraction option in [0, 1] (or [0, 1) without ``include_one``)."""
        return self.value(key, fraction(include_one=include_one), default)

    def choice(self, key: str, default: str, *choices: str) -> str:
        """One of ``choices``."""
        return self.value(key, choice(*choices), default)

    def text(self, key: str, default: str | None) -> str | None:
        """A string option."""
        return self.value(key, text, default)
