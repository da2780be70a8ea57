from __future__ import annotations

from celery import shared_task


@shared_task(name="portal.ping")
def ping() -> str:
    """Round trip through broker and worker; `make run` and the tests use it as a health check."""
    return "pong"
