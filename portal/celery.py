"""The Celery application shared by the web process (producer) and the workers."""

from __future__ import annotations

import os
from pathlib import Path

from celery import Celery

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
