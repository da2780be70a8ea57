from typing import Any

from django.apps import AppConfig


class PredictionConfig(AppConfig):
    name = "prediction"

    def ready(self) -> None:
        from training.signals import iteration_deleted

        iteration_deleted.connect(_forget, dispatch_uid="prediction.forget_predictor")


def _forget(sender: Any, iteration_id: Any, **_: Any) -> None:
    # A deleted iteration's model must not stay served from this process's cache.
    from prediction.services import forget_predictor

    forget_predictor(iteration_id)
