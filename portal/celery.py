"""The Celery application shared by the web process (producer) and the workers."""

from __future__ import annotations

import faulthandler
import os
import sys
from pathlib import Path
from typing import Any

from celery import Celery
from celery.signals import worker_shutting_down

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

app = Celery("portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def ensure_embedded_broker_dirs() -> None:
    """Create the folders the filesystem broker and file result backend write into.

    Done here rather than in settings (no side effects at settings import): this module is
    only imported by code that is about to talk to the broker.
    """
    options = app.conf.broker_transport_options or {}
    for key in ("data_folder_in", "data_folder_out", "control_folder"):
        if options.get(key):
            Path(options[key]).mkdir(parents=True, exist_ok=True)
    backend = str(app.conf.result_backend or "")
    if backend.startswith("file://"):
        Path(backend.removeprefix("file://")).mkdir(parents=True, exist_ok=True)


if str(app.conf.broker_url).startswith("filesystem://"):
    ensure_embedded_broker_dirs()

_stop_armed = False


@worker_shutting_down.connect
def bound_the_shutdown(**_: Any) -> None:
    """A worker told to stop ends within CV_WORKER_STOP_SECONDS, whatever it was doing.

    Celery's warm shutdown (SIGTERM) waits for the running tasks: a training for the rest of
    its budget, and a worker stuck in native code (a torch thread in a futex wait) for ever.
    faulthandler's watchdog is a C thread that needs no GIL: when the time is up it prints
    every thread's stack (where it hung) and exits. Prefork's pool processes die with their
    parent (Celery sets PDEATHSIG); a task cut short ends as after a crash (the sweeps fail a
    training, an import resumes)."""
    global _stop_armed
    from django.conf import settings

    seconds = settings.CV_WORKER_STOP_SECONDS
    # The process's own stderr: Celery puts a logging proxy with no file behind sys.stderr.
    stderr = sys.__stderr__
    if seconds and stderr is not None and not _stop_armed:
        _stop_armed = True  # armed once: the same signal sent again doesn't push it back
        faulthandler.dump_traceback_later(seconds, exit=True, file=stderr)
