"""Finding plugins that end the process while being imported (``os._exit``, a crash in native code).

Such a plugin cannot be caught in process: the interpreter is gone before any ``except``. So before the first
real import of a new set of installed plugins, a forked child imports them one by one, telling the parent
through a pipe which one it is about to import; if the child dies, the last name it sent is the culprit. The
parent then skips that plugin and records why. A set of plugins that imported cleanly is remembered in the
cache directory, so the probe runs once per installed set, not on every command.

Only where ``os.fork`` exists and this process runs a single Python thread (forking a multi-threaded process
can deadlock the child); elsewhere nothing is probed.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Sequence
from importlib import metadata

from .atomic import atomic_write_text
from .cache import cache_dir

__all__ = ["hard_exits"]

_DONE = "\x00done"


def hard_exits(entry_points: Sequence[tuple[str, metadata.EntryPoint]]) -> dict[str, str]:
    """``{plugin name: reason}`` for the entry points whose import ends the process ({} when all are fine)."""
    if not entry_points or not hasattr(os, "fork") or threading.active_count() > 1:
        return {}
    key = hashlib.sha256(json.dumps(sorted((n, ep.value) for n, ep in entry_points)).encode()).hexdigest()[:16]
    record = cache_dir() / "plugins" / f"clean-{key}"
    if record.exists():
        return {}
    found: dict[str, str] = {}
    remaining = list(entry_points)
    while remaining:
        last, code = _probe(remaining)
        if last == _DONE:
            break
        culprit = last if last in dict(remaining) else remaining[0][0]
        found[culprit] = (f"ended the process while being imported (exit code {code}: os._exit or a crash in native "
                          "code); skipped -- fix or uninstall it")
        remaining = remaining[[n for n, _ in remaining].index(culprit) + 1:]
    if not found:
        try:
            record.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(record, "\n".join(n for n, _ in entry_points))
        except OSError:
            pass  # a read-only cache: probe again next time
    return found


def _probe(entry_points: Sequence[tuple[str, metadata.EntryPoint]]) -> tuple[str, int]:
    """Import ``entry_points`` in order in a forked child; return the last name it announced and its exit code."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: announce each import, silence its output, never return
        try:
            os.close(read_end)
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.dup2(devnull, 2)
            for name, entry_point in entry_points:
                os.write(write_end, f"{name}\n".encode())
                try:
                    entry_point.load()
                except BaseException:  # noqa: BLE001 - only hard exits matter here
                    pass
            os.write(write_end, f"{_DONE}\n".encode())
        finally:
            os._exit(0)
    os.close(write_end)
    chunks = []
    while chunk := os.read(read_end, 65536):
        chunks.append(chunk)
    os.close(read_end)
    _, status = os.waitpid(pid, 0)
    lines = b"".join(chunks).decode(errors="replace").splitlines()
    return (lines[-1] if lines else ""), os.waitstatus_to_exitcode(status)
