"""tests/run_doc_blocks.py, the docs session's runner: markers, shared work directory, failures."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

RUNNER = Path(__file__).with_name("run_doc_blocks.py")
sys.path.insert(0, str(RUNNER.parent))
from run_doc_blocks import marked_blocks  # noqa: E402

DOC = """# A document

<!-- docs: file data/greeting.txt -->
```text
hello
```

Not marked: never runs.

```bash
exit 1
```

<!-- docs: run -->
```bash
grep -q hello data/greeting.txt
uv run python -c "print('uv run is this venv')"
```

<!-- docs: run -->
```python
from pathlib import Path
assert Path("data/greeting.txt").read_text() == "hello\\n"
```
"""


def run(document: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(RUNNER), str(document)], capture_output=True, text=True, timeout=300)


def test_marked_blocks_are_found_in_order(tmp_path):
    (tmp_path / "doc.md").write_text(DOC)
    blocks = marked_blocks(tmp_path / "doc.md")
    assert [(b.action, b.path, b.lang, b.line) for b in blocks] == [
        ("file", "data/greeting.txt", "text", 4), ("run", None, "bash", 15), ("run", None, "python", 21)]


def test_the_blocks_run_in_one_directory_and_pass(tmp_path):
    (tmp_path / "doc.md").write_text(DOC)
    done = run(tmp_path / "doc.md")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("  ok  ") == 3


def test_a_failing_block_fails_the_run_and_shows_its_output(tmp_path):
    (tmp_path / "doc.md").write_text(DOC.replace("grep -q hello", "echo looking >&2; grep -q goodbye"))
    done = run(tmp_path / "doc.md")
    assert done.returncode == 1
    assert "FAILED" in done.stdout and "looking" in done.stdout
    assert done.stdout.count("  ok  ") == 1  # the file; the python block after the failure never ran


@pytest.mark.parametrize("text", ["<!-- docs: run -->\nno block here\n", "<!-- docs: run -->\n```bash\nopen\n"])
def test_a_marker_without_a_whole_block_is_an_error(tmp_path, text):
    (tmp_path / "doc.md").write_text(text)
    assert run(tmp_path / "doc.md").returncode not in (0, 1)
