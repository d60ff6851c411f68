"""Writing report files, with a one-line error naming the file and the fix when it fails (a read-only results
directory, a full disk). Report files are derived from results.csv and rewritten by every report, so they
are written in place (with the user's umask), not atomically like the results themselves."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from shrinkbench.errors import ShrinkBenchError


@dataclass(frozen=True)
class OutputDir:
    """A directory that receives report files. ``fix`` completes the error message, e.g. ``"write the report
    elsewhere with 'shrinkbench report DIR --to OTHER_DIR'"``."""

    directory: Path
    fix: str

    def write(self, name: str, content: bytes | str) -> Path:
        """Write ``content`` to ``directory/name`` (the directory is created with its parents if needed) and
        return the path. Raises :class:`ShrinkBenchError` ``cannot write PATH: REASON; FIX`` on any OS error."""
        path = self.directory / name
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content if isinstance(content, bytes) else content.encode())
        except OSError as exc:
            raise ShrinkBenchError(f"cannot write {path}: {exc.strerror or exc}; {self.fix}") from None
        return path
