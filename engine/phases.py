"""Where a training's seconds go: wall time per phase, summed over the phase's stretches.

Plain `time.perf_counter` around each phase, so the figures cost nothing and mean the same on
every machine; the iteration's Details and `bench/train.py` show them. Phases nest (decoding
happens inside feature extraction when there are no squares yet): a second is counted once,
in the innermost phase, so the phases add up to the training's time.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

# In the order a training runs them (a phase a training skips is left out).
ORDER = (
    "load",  # the pretrained backbone: built and its weights read
    "decode",  # the photos decoded into squares
    "features",  # frozen features of every view
    "folds",  # cross-validation: a head, or a fine-tune, per fold and its held-out scores
    "probe",  # Advanced: fine-tuning's speed measured, to plan the fine-tunes
    "final",  # the final model on every image
    "metrics",  # precision, recall and AP from the out-of-fold probabilities
    "export",  # the ONNX graph
    "save",  # the model file and the figures written (the service's part)
)


class Phases:
    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._inner: list[float] = []  # per open phase, the seconds its inner phases took

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        self._inner.append(0.0)
        try:
            yield
        finally:
            spent = time.perf_counter() - started
            self.add(name, spent - self._inner.pop())
            if self._inner:
                self._inner[-1] += spent

    def add(self, name: str, seconds: float) -> None:
        self.seconds[name] = self.seconds.get(name, 0.0) + seconds

    def rounded(self) -> dict[str, float]:
        """Seconds per phase to the millisecond, in the order a training runs them."""
        known = [name for name in ORDER if name in self.seconds]
        others = [name for name in self.seconds if name not in ORDER]
        return {name: round(self.seconds[name], 3) for name in known + others}
