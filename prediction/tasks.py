"""Celery adapters for predictions: call the service."""

from __future__ import annotations

from celery import shared_task

from prediction.services.keeping import journals_replay


@shared_task(name="prediction.replay_journals", ignore_result=True)
def replay_journals() -> int:
    return journals_replay()
