"""Celery adapters: take an id, call the service."""

from __future__ import annotations

import contextlib
import threading
from typing import Any

from celery import shared_task
from celery.signals import celeryd_after_setup, worker_process_init, worker_ready
from django.conf import settings

from core import threads
from engine.runtime import return_freed_memory
from training import exporting, services

# Written in the data folder once a training worker has warmed up (`make run` waits for it).
WARM_MARKER = "training-worker.warm"


@shared_task(
    name="training.train_iteration",
    bind=True,
    acks_late=True,  # a worker that dies mid-training leaves the message for another
    reject_on_worker_lost=True,
    ignore_result=True,
)
def train_iteration(self: Any, iteration_id: str) -> None:
    services.iteration_run(iteration_id=iteration_id, worker=self.request.hostname or "")


@shared_task(
    name="training.export_iteration", acks_late=True, reject_on_worker_lost=True, ignore_result=True
)
def export_iteration(export_id: str) -> None:
    exporting.export_run(export_id=export_id)


@shared_task(name="training.sweep_stale_iterations", ignore_result=True)
def sweep_stale_iterations() -> int:
    return services.iterations_fail_stale() + exporting.exports_fail_stale()


@worker_ready.connect
def _sweep_on_start(**_: Any) -> None:
    # A restarted worker cleans up after the one that died, without waiting for beat.
    services.iterations_fail_stale()


@celeryd_after_setup.connect
def _declare_role(sender: str, instance: Any, **_: Any) -> None:
    # A worker consuming the training queue trains with every core; any other is light work.
    queues = set(instance.app.amqp.queues.consume_from)
    threads.set_role(threads.TRAINING if "training" in queues else "light")
    if "training" not in queues:
        # Imports decode users' images on this worker's threads: freed, they go back.
        return_freed_memory()


@worker_process_init.connect
def _warm_up(**_: Any) -> None:
    # A training worker imports torch and the engine when its pool process starts, not when the
    # first user waits; a light worker never trains, so it never pays torch's ~700 MB.
    if threads.role() != threads.TRAINING:
        return
    import engine.train
    from engine.recipes import recipe_for
    from projects.domains import GENERAL

    threads.configure(threads.TRAINING)

    def warm_up() -> None:
        try:
            engine.train.warm_up(recipe_for(GENERAL.name))
        finally:
            # `make run` shows its address once this is here, so a first Train clicked after
            # it finds the worker ready (torch, the engine and a traced graph: ~5 s of start-up
            # that a first training would otherwise wait out).
            with contextlib.suppress(OSError):
                (settings.CV_DATA_DIR / WARM_MARKER).touch()

    # The default domain's trunk read and its graph traced (~2 s) while the worker waits for
    # work, not in the first training; a thread, so the pool process is ready at once.
    threading.Thread(target=warm_up, name="warm-up", daemon=True).start()
