"""A real Celery worker process takes jobs from the broker `make run` uses (and CI's Redis)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CELERY = Path(sys.executable).with_name("celery")

pytestmark = pytest.mark.worker


def environment(tmp_path: Path, broker: str | None, backend: str | None) -> dict[str, str]:
    environ = {
        k: v
        for k, v in os.environ.items()
        if k not in ("CELERY_BROKER_URL", "CELERY_RESULT_BACKEND", "DATABASE_URL")
    }
    environ.update(
        {"CV_DATA_DIR": str(tmp_path), "SECRET_KEY": "worker-test", "PYTHONUNBUFFERED": "1"}
    )
    if broker:
        environ["CELERY_BROKER_URL"] = broker
    if backend:
        environ["CELERY_RESULT_BACKEND"] = backend
    return environ


def round_trip(tmp_path: Path, broker: str | None = None, backend: str | None = None) -> str:
    environ = environment(tmp_path, broker, backend)
    log = (tmp_path / "worker.log").open("w")
    worker = subprocess.Popen(
        [
            str(CELERY),
            "-A",
            "portal",
            "worker",
            "--concurrency=1",
            "--loglevel=INFO",
            "--without-heartbeat",
            "--hostname",
            f"test-{os.getpid()}@%h",
        ],
        cwd=ROOT,
        env=environ,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        producer = subprocess.run(
            [
                sys.executable,
                "-c",
                "import django; django.setup(); from portal.tasks import ping; "
                "print(ping.delay().get(timeout=90))",
            ],
            cwd=ROOT,
            env=environ,
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        worker.terminate()
        worker.wait(timeout=30)
        log.close()
    assert producer.returncode == 0, producer.stderr + (tmp_path / "worker.log").read_text()
    return producer.stdout.strip()


def test_embedded_filesystem_broker_runs_jobs_in_a_worker(tmp_path):
    assert round_trip(tmp_path) == "pong"
    assert (tmp_path / "broker" / "queue").is_dir()


def test_redis_broker_runs_jobs_in_a_worker(tmp_path):
    # Production's broker: CI points CELERY_BROKER_URL at the machine's Redis.
    broker = os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/0")
    if not broker.startswith("redis://"):
        broker = "redis://127.0.0.1:6379/0"
    backend = os.environ.get("CELERY_RESULT_BACKEND", broker)
    assert (
        round_trip(tmp_path, broker, backend if backend.startswith("redis://") else broker)
        == "pong"
    )
