"""A Celery worker told to stop ends within CV_WORKER_STOP_SECONDS even when what it runs never
returns (Celery's warm shutdown alone would wait for ever), and says where it was stuck."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# What a worker's main process does on SIGTERM (Celery's handler sends worker_shutting_down),
# then a wait that never ends: a stand-in for a task stuck in a futex wait.
STUCK = """
import threading, django
django.setup()
from celery.signals import worker_shutting_down
import portal.celery
worker_shutting_down.send(sender="test@host", sig="SIGTERM", how="Warm", exitcode=0)
worker_shutting_down.send(sender="test@host", sig="SIGTERM", how="Warm", exitcode=0)
threading.Event().wait()
"""


def test_a_stuck_worker_exits_after_the_grace_and_prints_its_stacks():
    env = {**os.environ, "CV_WORKER_STOP_SECONDS": "1"}
    done = subprocess.run(
        [sys.executable, "-c", STUCK], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1, done.stderr
    assert "most recent call first" in done.stderr and "threading" in done.stderr
