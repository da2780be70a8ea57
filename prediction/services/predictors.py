"""The models this process serves: loaded once each (an ONNX Runtime session), dropped when
their iteration goes."""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict
from typing import TypeVar

from django.core.exceptions import ValidationError

from core import storage, threads
from core.codes import AzureCode
from engine.bundle import ModelBundle
from engine.predict import Detector, Predictor
from training.models import Iteration

_CACHE_SIZE = 4  # models held per process; a lite0 model is ~15 MB of weights
_cache: OrderedDict[tuple[uuid.UUID, str], Predictor | Detector] = OrderedDict()
_lock = threading.Lock()

_Model = TypeVar("_Model", Predictor, Detector)


def wrong_project_type() -> ValidationError:
    """Azure's answer to Classify* with a detector or Detect* with a classifier."""
    return ValidationError(
        "Invalid project type for operation: classify images with a classification "
        "project's iteration and detect objects with an object-detection project's.",
        code=AzureCode.BAD_REQUEST_OPERATION_NOT_SUPPORTED,
    )


def predictor_for(iteration: Iteration) -> Predictor:
    """The iteration's classifier, loaded once per process (keyed by its file, so a retrained
    or deleted iteration is never served from a stale copy)."""
    return _model_for(iteration, Predictor)


def detector_for(iteration: Iteration) -> Detector:
    """The iteration's object detector, as `predictor_for`."""
    return _model_for(iteration, Detector)


def _model_for(iteration: Iteration, kind: type[_Model]) -> _Model:
    if iteration.is_detection != (kind is Detector):
        raise wrong_project_type()
    if not iteration.is_completed or not iteration.model_file:
        raise ValidationError(
            "The iteration is not trained.", code=AzureCode.BAD_REQUEST_ITERATION_IS_NOT_TRAINED
        )
    key = (iteration.id, str(iteration.model_file.name))
    with _lock:
        model = _cache.get(key)
        if model is not None:
            _cache.move_to_end(key)
    if model is None:
        bundle = ModelBundle.from_bytes(storage.read(key[1]))
        count = threads.current(threads.WEB)
        model = Detector(bundle, count) if bundle.is_detection else Predictor(bundle, count)
        with _lock:
            _cache[key] = model
            while len(_cache) > _CACHE_SIZE:
                _cache.popitem(last=False)
    if not isinstance(model, kind):
        raise wrong_project_type()
    return model


def forget_predictor(iteration_id: uuid.UUID) -> None:
    with _lock:
        for key in [k for k in _cache if k[0] == iteration_id]:
            del _cache[key]
