"""Run the code blocks of Markdown documents that are marked as runnable, so that the docs cannot drift.

Markers (HTML comments, invisible on GitHub), each on the line right before a fenced code block:

- ``<!-- docs: file PATH -->``: write the block's text to ``PATH`` (relative to the document's work directory);
- ``<!-- docs: run -->``: run the block -- a ``python`` block with this Python, any other with
  ``bash -e -o pipefail`` -- in the document's work directory; it must exit 0.

Each document gets one fresh work directory that stands for a clone a stranger has used: it holds the symlinks
``examples`` and ``plugins`` to the checkout's (so that the README's repository-relative paths resolve) and
``.venv`` to this Python's environment (the one ``uv run`` makes in a clone), and no virtual environment is
activated (``VIRTUAL_ENV`` is unset): ``uv pip install`` finds ``.venv`` as it would in the clone. Its blocks run
in order, sharing it: a block may use the files and results of the blocks above it. ``uv run CMD`` inside a block
runs ``CMD`` in this Python's environment (what ``uv run`` does in the workspace); any other ``uv`` command is the
real one. ``$SHRINKBENCH_CACHE`` points into the work directory. Usage::

    python tests/run_doc_blocks.py README.md docs/writing-a-plugin.md

Prints one line per block (``file:line  ok  seconds``) and, for a failing block, its output; exits 1 if any
block failed (the later blocks of that document are skipped), 2 on a marker without a block.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MARKER = re.compile(r"^<!--\s*docs:\s*(run|file\s+(?P<path>\S+))\s*-->\s*$")
FENCE = re.compile(r"^(```+|~~~+)\s*(?P<lang>[\w+-]*)")
BLOCK_TIMEOUT = 900
UV_RUN = 'uv() { if [ "${1:-}" = run ]; then shift; "$@"; else command uv "$@"; fi; }\n'


@dataclass(frozen=True)
class Block:
    """A marked code block: ``action`` is ``run`` or ``file``; ``line`` is its fence's 1-based line number."""

    document: Path
    line: int
    action: str
    path: str | None
    lang: str
    text: str


def marked_blocks(document: Path) -> list[Block]:
    """The marked blocks of ``document`` in order; ``ValueError`` for a marker not followed by a whole fenced
    block."""
    lines = document.read_text(encoding="utf-8").splitlines()
    blocks = []
    for i, line in enumerate(lines):
        marker = MARKER.match(line.strip())
        if not marker:
            continue
        fence = FENCE.match(lines[i + 1]) if i + 1 < len(lines) else None
        if fence is None:
            raise ValueError(f"{document}:{i + 1}: a docs marker must be followed by a fenced code block")
        end = next((j for j in range(i + 2, len(lines)) if lines[j].startswith(fence.group(1))), None)
        if end is None:
            raise ValueError(f"{document}:{i + 2}: the code block never closes")
        action = "file" if marker.group("path") else "run"
        blocks.append(Block(document, i + 2, action, marker.group("path"), fence.group("lang"),
                            "\n".join(lines[i + 2:end]) + "\n"))
    return blocks


def run_block(block: Block, work: Path, env: dict[str, str]) -> tuple[bool, str]:
    """Carry out one block in ``work``: (succeeded, its output)."""
    if block.action == "file":
        target = work / block.path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(block.text, encoding="utf-8")
        return True, ""
    if block.lang == "python":
        command = [sys.executable, "-c", block.text]
    else:
        command = ["bash", "-e", "-o", "pipefail", "-c", UV_RUN + block.text]
    try:
        done = subprocess.run(command, cwd=work, env=env, capture_output=True, text=True, timeout=BLOCK_TIMEOUT,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as exc:
        return False, f"did not finish within {BLOCK_TIMEOUT} s\n{exc.stdout or ''}{exc.stderr or ''}"
    return done.returncode == 0, f"exit code {done.returncode}\n{done.stdout}{done.stderr}"


def run_document(document: Path) -> bool:
    """Every marked block of ``document`` in one fresh work directory; True if all succeeded."""
    blocks = marked_blocks(document)
    with tempfile.TemporaryDirectory(prefix="docs-") as tmp:
        work = Path(tmp)
        for name in ("examples", "plugins"):
            (work / name).symlink_to(ROOT / name)
        (work / ".venv").symlink_to(Path(sys.prefix), target_is_directory=True)
        env = {**os.environ, "SHRINKBENCH_CACHE": str(work / ".cache"), "COLUMNS": "200",
               "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])}
        env.pop("VIRTUAL_ENV", None)  # as a stranger's shell: nothing activated
        env.pop("CONDA_PREFIX", None)
        for block in blocks:
            started = time.perf_counter()
            ok, output = run_block(block, work, env)
            where = f"{block.document.relative_to(ROOT) if block.document.is_relative_to(ROOT) else block.document}:{block.line}"
            label = block.action if block.action == "run" else f"file {block.path}"
            print(f"{where}  {label}  {'ok' if ok else 'FAILED'}  {time.perf_counter() - started:.1f} s", flush=True)
            if not ok:
                print(block.text + "---\n" + output[-6000:], flush=True)
                return False
    return True


def main(argv: list[str]) -> int:
    """Run the marked blocks of every document named on the command line."""
    documents = [Path(a).resolve() for a in argv] or [ROOT / "README.md"]
    try:
        found = [marked_blocks(d) for d in documents]
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not any(found):
        print("no marked blocks found", file=sys.stderr)
        return 2
    results = [run_document(d) for d in documents]
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
