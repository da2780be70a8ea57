"""The models this process serves: loaded once each (an ONNX Runtime session), dropped when
their iteration goes."""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict

from django.core.exceptions import ValidationError

from core import storage, threads
from core.codes import AzureCode
from engine.predict import Predictor
from training.models import Iteration

_CACHE_SIZE = 4  # models held per process; a lite0 model is ~15 MB of weights
_cache: OrderedDict[tuple[uuid.UUID, str], Predictor] = OrderedDict()
_lock = threading.Lock()


def predictor_for(iteration: Iteration) -> Predictor:
    """The iteration's model, loaded once per process (keyed by its file, so a retrained or
    deleted iteration is never served from a stale copy)."""
    if not iteration.is_completed or not iteration.model_file:
        raise ValidationError(
            "The iteration is not trained.", code=AzureCode.BAD_REQUEST_ITERATION_IS_NOT_TRAINED
        )
    key = (iteration.id, str(iteration.model_file.name))
    with _lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    predictor = Predictor.from_bytes(storage.read(key[1]), threads=threads.current(threads.WEB))
    with _lock:
        _cache[key] = predictor
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return predictor


def forget_predictor(iteration_id: uuid.UUID) -> None:
    with _lock:
        for key in [k for k in _cache if k[0] == iteration_id]:
            del _cache[key]
