"""How the ``shrinkbench`` process ends: every exit handler runs, the interpreter's teardown does not.

Once torch is imported, the interpreter's own teardown (deallocating every module object of torch, Dynamo and
their extensions) takes over a second of CPU time on a 2-core machine, after the command's last line and with
nothing left to write: ``shrinkbench bench`` spent ~1.3 s of its ~50 s there. :func:`exit_process` ends the
process the way the interpreter would up to that point -- non-daemon threads joined, ``atexit`` handlers run
(these also join worker processes, flush multiprocessing queues and delete temporary directories), standard
streams flushed -- and then exits with the status at once.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
from typing import NoReturn

__all__ = ["exit_process", "exit_status"]


def exit_status(code: object) -> int:
    """The process status of ``SystemExit(code)``: ``None`` is 0, an int is itself, anything else is printed on
    stderr and gives 1 (what the interpreter does)."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


def exit_process(code: object = 0) -> NoReturn:
    """End the process with ``code`` (as ``sys.exit`` takes it) after joining non-daemon threads, running the
    ``atexit`` handlers and flushing stdout and stderr; the interpreter's module teardown is skipped where torch
    was imported (elsewhere it is cheap, and this is ``sys.exit``)."""
    status = exit_status(code)
    if "torch" not in sys.modules:
        sys.exit(status)
    for thread in threading.enumerate():
        if thread is not threading.current_thread() and not thread.daemon:
            thread.join()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe or stream: nothing more can reach the reader
            pass
    os._exit(status)
