"""How runs are dispatched. The engine only needs :class:`Executor`; a distributed back end (e.g. Ray) can
implement the same two methods in a plugin without touching the engine."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any, Protocol, TypeVar

T = TypeVar("T")


class Executor(Protocol):
    """Runs ``fn(task)`` for every task and yields ``(task, result)`` as each finishes. (Each task sets its
    own torch thread count, so results do not depend on the executor.)"""

    def map_unordered(self, fn: Callable[[T], Any], tasks: Sequence[T]) -> Iterator[tuple[T, Any]]:
        """Yield ``(task, fn(task))`` pairs in completion order; an exception in ``fn`` propagates."""
        ...


class SequentialExecutor:
    """Runs tasks one after another in this process (per-epoch progress is available)."""

    def map_unordered(self, fn: Callable[[T], Any], tasks: Sequence[T]) -> Iterator[tuple[T, Any]]:
        for task in tasks:
            yield task, fn(task)


class ProcessExecutor:
    """Runs tasks in ``jobs`` worker processes (spawned, so each starts with a clean torch)."""

    def __init__(self, jobs: int) -> None:
        self.jobs = jobs

    def map_unordered(self, fn: Callable[[T], Any], tasks: Sequence[T]) -> Iterator[tuple[T, Any]]:
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(self.jobs, mp_context=context) as pool:
            pending: dict[Future, T] = {pool.submit(fn, t): t for t in tasks}
            try:
                while pending:
                    done, _ = wait(pending, return_when=FIRST_COMPLETED)
                    for future in done:
                        task = pending.pop(future)
                        yield task, future.result()
            except BaseException:
                for future in pending:
                    future.cancel()
                raise


def make_executor(jobs: int) -> Executor:
    """The sequential executor for ``jobs <= 1``, else a local process pool of ``jobs`` workers."""
    return SequentialExecutor() if jobs <= 1 else ProcessExecutor(jobs)
