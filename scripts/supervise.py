"""`make run`'s process supervisor: the web server and the workers, kept up, stopped together.

- Each process runs in a session (and process group) of its own, so its children (Celery's
  pool, the beat, gunicorn's workers) are signalled with it; a descendant that moved to a
  group of its own is still found by its session.
- A process that exits is started again (after 1 s, doubling to 30 s while it keeps failing
  fast) and the console says so: a worker killed by the kernel or by hand does not take the
  portal down with it.
- Ctrl-C (SIGINT), SIGTERM or SIGHUP (the terminal closed) stops everything: SIGTERM to every
  group, then SIGKILL to whatever of their sessions is still there after STOP_SECONDS, and
  the supervisor ends only once they are gone. So the command always ends within seconds, all
  of it, even when a worker is stuck (a training mid-batch, a torch thread in a futex wait: a
  Celery worker's warm shutdown would wait for its task, or for ever).
- With --ready-url, the banner is printed once that URL answers (and each --ready-file exists:
  the training worker's warm-up), after the processes' own start-up lines, so the address and
  the login are the last thing on screen and a first Train finds the worker ready.

Plain Python, no project imports: it runs before anything else is known to work.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

STOP_SECONDS = 5.0
GONE_SECONDS = 3.0  # after SIGKILL: how long to wait for the kernel to take them
FIRST_DELAY, MAX_DELAY = 1.0, 30.0
HEALTHY_AFTER = 60.0  # a process that ran this long failed for a new reason: restart promptly


@dataclass
class Child:
    name: str
    command: list[str]
    process: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    delay: float = FIRST_DELAY
    restart_at: float | None = None
    restarts: int = field(default=0)


def say(message: str) -> None:
    # A closed terminal (SIGHUP) makes writes fail: stopping must go on regardless.
    with contextlib.suppress(OSError, ValueError):
        print(f"[run] {message}", flush=True)


def start(child: Child) -> None:
    # The commands are run.sh's own, not anyone's input.
    child.process = subprocess.Popen(child.command, start_new_session=True)  # noqa: S603
    child.started, child.restart_at = time.monotonic(), None
    say(f"started {child.name} (pid {child.process.pid})")


def how_it_ended(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited with status {code}"


def signal_group(child: Child, sig: signal.Signals) -> None:
    if child.process is None:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(child.process.pid, sig)


def session_members(sessions: set[int]) -> set[int]:
    """The live processes of these sessions (each child leads its own), zombies left out:
    read from /proc; an empty set where there is none (not Linux)."""
    members = set()
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            fields = (entry / "stat").read_text().rsplit(") ", 1)[1].split()
        except (OSError, IndexError):
            continue  # gone meanwhile
        # After the command's ")": state, ppid, pgrp, session.
        if fields[0] != "Z" and int(fields[3]) in sessions:
            members.add(int(entry.name))
    return members


def kill_sessions(children: list[Child]) -> None:
    """SIGKILL to each child's group and to anything else left in its session, then wait
    (GONE_SECONDS at most) until none is left."""
    sessions = {child.process.pid for child in children if child.process is not None}
    for child in children:
        signal_group(child, signal.SIGKILL)
    deadline = time.monotonic() + GONE_SECONDS
    while (left := session_members(sessions)) and time.monotonic() < deadline:
        for pid in left:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.05)
    for child in children:
        if child.process is not None and child.process.poll() is None:
            child.process.wait()
    if left:
        say(f"still there after SIGKILL: pids {sorted(left)}")


def stop_all(children: list[Child]) -> None:
    """SIGTERM to every group, SIGKILL to what remains of their sessions after STOP_SECONDS."""
    for child in children:
        signal_group(child, signal.SIGTERM)
    deadline = time.monotonic() + STOP_SECONDS
    for child in children:
        if child.process is None:
            continue
        try:
            child.process.wait(timeout=max(deadline - time.monotonic(), 0.01))
        except subprocess.TimeoutExpired:
            say(f"{child.name} did not stop in {STOP_SECONDS:g} s: killing it")
    # Every session too: a pool child or the beat may outlive its parent.
    kill_sessions(children)


def _answers(url: str) -> bool:
    try:
        urllib.request.urlopen(url, timeout=1)  # noqa: S310 (our own loopback address)
    except Exception:
        return False
    return True


def banner_when_ready(
    url: str, lines: list[str], stopping: threading.Event, ready_files: Sequence[Path]
) -> None:
    deadline = time.monotonic() + 120
    while not stopping.is_set() and time.monotonic() < deadline:
        if _answers(url):
            break
        time.sleep(0.5)
    else:
        return
    # A ready file that never comes (a worker that can't start) only delays the banner.
    while not stopping.is_set() and time.monotonic() < deadline:
        if all(path.exists() for path in ready_files):
            break
        time.sleep(0.2)
    if stopping.is_set():
        return
    time.sleep(1)
    width = max(len(line) for line in lines) + 2
    print("\n  ┌" + "─" * width, *(f"  │ {line}" for line in lines), "  └" + "─" * width, sep="\n")
    print(flush=True)


def supervise(
    children: list[Child], ready_url: str, banner: list[str], ready_files: Sequence[Path] = ()
) -> int:
    stopping = threading.Event()

    def request_stop(signum: int, _frame: object) -> None:
        stopping.set()

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, request_stop)
    for child in children:
        start(child)
    if ready_url:
        threading.Thread(
            target=banner_when_ready,
            args=(ready_url, banner, stopping, ready_files),
            daemon=True,
        ).start()
    try:
        while not stopping.wait(0.2):
            now = time.monotonic()
            for child in children:
                assert child.process is not None
                code = child.process.poll()
                if code is not None and child.restart_at is None:
                    # Whatever it left behind in its session goes with it.
                    kill_sessions([child])
                    ran = now - child.started
                    child.delay = FIRST_DELAY if ran > HEALTHY_AFTER else child.delay
                    child.restart_at = now + child.delay
                    say(
                        f"{child.name} {how_it_ended(code)} after {ran:.0f} s; "
                        f"restarting it in {child.delay:g} s"
                    )
                    child.delay = min(child.delay * 2, MAX_DELAY)
                if child.restart_at is not None and now >= child.restart_at:
                    child.restarts += 1
                    start(child)
    finally:
        say("stopping")
        stop_all(children)
    say("stopped")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--process",
        nargs=2,
        action="append",
        metavar=("NAME", "COMMAND"),
        required=True,
        help="a name and a command line (split as a shell splits words)",
    )
    parser.add_argument("--ready-url", default="")
    parser.add_argument("--banner", action="append", default=[])
    parser.add_argument(
        "--ready-file",
        action="append",
        default=[],
        type=Path,
        help="the banner also waits (within its 120 s) until this file exists; "
        "it is removed first, so an old one does not count",
    )
    args = parser.parse_args()
    for path in args.ready_file:
        path.unlink(missing_ok=True)
    children = [Child(name, shlex.split(command)) for name, command in args.process]
    return supervise(children, args.ready_url, args.banner, args.ready_file)


if __name__ == "__main__":
    sys.exit(main())
