"""`make run`'s supervisor stops everything it started, even what ignores SIGTERM or left its
process group, when the terminal closes (SIGHUP, its output gone) as on Ctrl-C; without
Django or workers, in a few seconds."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

from tests.test_make_run import ROOT, supervise

# Ignored signals stay ignored across exec: the sleep ignores SIGTERM too.
DEAF = "trap '' TERM; sleep 1000 & wait"
# A grandchild that moves to a process group of its own (still in the child's session).
ESCAPER = f"{sys.executable} -c 'import os, time; os.setpgid(0, 0); time.sleep(1000)' & wait"


def test_a_closed_terminal_stops_the_deaf_and_the_escaped():
    process = subprocess.Popen(
        [
            *(sys.executable, "scripts/supervise.py"),
            *("--process", "deaf", f"bash -c {DEAF!r}"),
            *("--process", "escaper", f"bash -c {ESCAPER!r}"),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert process.stdout is not None
    started = {int(re.findall(r"pid (\d+)", process.stdout.readline())[0]) for _ in range(2)}
    deadline = time.monotonic() + 30
    # Each bash, its sleep, and the escaped python in a group of its own.
    while len(supervise.session_members(started)) < 4 and time.monotonic() < deadline:
        time.sleep(0.1)
    members = supervise.session_members(started)
    assert len(members) == 4, members
    process.stdout.close()  # the terminal is gone: what the supervisor prints goes nowhere
    process.send_signal(signal.SIGHUP)
    try:
        process.wait(timeout=10)
    finally:
        for pid in supervise.session_members(started):  # a failed test leaves nothing behind
            os.kill(pid, signal.SIGKILL)
    assert supervise.session_members(started) == set()
