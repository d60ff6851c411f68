"""How the shrinkbench process ends (shrinkbench_cli.process_exit): the status is the command's, output and exit
handlers are not lost, worker threads finish; only the interpreter's teardown is skipped."""

from __future__ import annotations

import subprocess
import sys

import pytest

from shrinkbench_cli.process_exit import exit_status

_ENDING = """
import atexit, sys, threading, time
import torch  # the teardown worth skipping
from shrinkbench_cli.process_exit import exit_process
marker = sys.argv[1]
atexit.register(lambda: open(marker, "a").write("atexit;"))
def late():
    time.sleep(0.3)
    open(marker, "a").write("thread;")
threading.Thread(target=late).start()
sys.stdout.write("x" * 200_000)  # more than a pipe holds: still buffered when exit_process starts
exit_process(None if sys.argv[2] == "None" else int(sys.argv[2]) if sys.argv[2].isdigit() else sys.argv[2])
"""


@pytest.mark.parametrize("code, status", [("0", 0), ("2", 2), ("None", 0), ("bad input", 1)])
def test_the_status_output_handlers_and_threads_survive_the_skipped_teardown(tmp_path, code, status):
    marker = tmp_path / "marker"
    done = subprocess.run([sys.executable, "-c", _ENDING, str(marker), code], capture_output=True, text=True)
    assert done.returncode == status
    assert done.stdout == "x" * 200_000
    assert marker.read_text() == "thread;atexit;"  # threads joined first, then the handlers, as the interpreter does
    assert done.stderr == ("bad input\n" if code == "bad input" else "")


def test_exit_status_follows_the_interpreter_s_rules(capsys):
    assert (exit_status(None), exit_status(0), exit_status(130)) == (0, 0, 130)
    assert exit_status("error: x") == 1
    assert capsys.readouterr().err == "error: x\n"
