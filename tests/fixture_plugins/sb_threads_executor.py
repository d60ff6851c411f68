"""A third-party executor written from docs/writing-a-plugin.md alone: runs tasks in a thread pool.

The whole contract: a spec from the ``shrinkbench_executors`` hook whose ``create(options, context)`` returns an
object with ``run(tasks, emit)`` that runs every task (``task.work(TaskContext(emit))``: tasks are data, see
``shrinkbench.Task``) and hands their events to ``emit`` in the calling thread.
"""

from __future__ import annotations

import queue
from concurrent.futures import ThreadPoolExecutor

from shrinkbench import ExecutorSpec, TaskContext, hookimpl


class ThreadsExecutor:
    """Tasks in ``workers`` threads; events are queued and emitted from the calling thread."""

    def __init__(self, workers: int) -> None:
        self.workers = workers

    def run(self, tasks, emit) -> None:
        events: queue.Queue = queue.Queue()
        with ThreadPoolExecutor(self.workers) as pool:
            futures = [pool.submit(task.work, TaskContext(events.put)) for task in tasks]
            while not all(f.done() for f in futures) or not events.empty():
                try:
                    emit(events.get(timeout=0.1))
                except queue.Empty:
                    pass
            for future in futures:
                future.result()


def create(options, context):
    """``workers`` threads (default: the sweep's --jobs, else 2)."""
    return ThreadsExecutor(options.integer("workers", context.jobs or 2))


@hookimpl
def shrinkbench_executors():
    return [ExecutorSpec("threads", "Runs tasks in a thread pool", create, options=(("workers", "threads"),))]
