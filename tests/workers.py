"""Real Celery worker processes for the integration tests, sharing the test database."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from portal.celery import app as celery_app
from projects import services as project_services
from projects.services import ImageUpload
from training.models import Iteration

ROOT = Path(__file__).resolve().parents[1]
CELERY = Path(sys.executable).with_name("celery")


def database_url() -> str:
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture
def start_worker(tmp_path):
    if not settings.CELERY_BROKER_URL.startswith("redis://"):
        pytest.fail(
            "These tests need a broker shared between processes: set CELERY_BROKER_URL "
            "to a Redis URL (make test uses redis://127.0.0.1:6379/0)."
        )
    with celery_app.connection_for_write() as conn:  # leftovers from earlier runs
        conn.default_channel.queue_purge("training")
    workers: list[subprocess.Popen[bytes]] = []

    def start(name: str, **extra: str) -> subprocess.Popen[bytes]:
        env = dict(
            os.environ,
            DATABASE_URL=database_url(),
            CV_DATA_DIR=str(tmp_path),
            CELERY_BROKER_URL=settings.CELERY_BROKER_URL,
            PYTHONUNBUFFERED="1",
        )
        env.update(extra)  # may give the worker a data folder of its own (another "host")
        log = (tmp_path / f"{name}.log").open("w")
        worker = subprocess.Popen(
            [
                str(CELERY),
                "-A",
                "portal",
                "worker",
                "--queues=training,celery,exports,imports",
                "--concurrency=1",
                "--without-gossip",
                "--without-mingle",
                "--loglevel=INFO",
                f"--hostname={name}-{os.getpid()}@%h",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGTERM)
            worker.wait(timeout=30)


def wait_for(iteration: Iteration, done, seconds: float, logs: Path) -> Iteration:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        iteration.refresh_from_db()
        if done(iteration):
            return iteration
        time.sleep(0.25)
    worker_logs = "\n".join(p.read_text()[-3000:] for p in logs.glob("*.log"))
    pytest.fail(f"{iteration.name} is {iteration.status} ({iteration.phase})\n{worker_logs}")


@pytest.fixture
def sample_project(project, sample_dir):
    for folder, tag in (("Hemlock", "Hemlock"), ("Japanese_Cherry", "Japanese Cherry")):
        tags = project_services.tags_get_or_create(project=project, names=[tag])
        uploads = [
            ImageUpload(name=p.name, data=p.read_bytes())
            for p in sorted((sample_dir / folder).glob("*.jpg"))
        ]
        results = project_services.images_create(
            project=project, uploads=uploads, tag_ids=[tags[0].id]
        )
        assert [r.status for r in results] == ["OK"] * 10
    return project
