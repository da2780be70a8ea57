"""Torch's and ONNX Runtime's CPU thread counts, set on purpose in every process.

Torch's default is one thread per core in every process. Here several processes share the
cores: gunicorn's web workers each answering predictions with their own threads, a light
worker, and a training worker that wants every core. Oversubscribed, each intra-op pool
spins against the others: on a busy 2-core machine one prediction on a process's main
thread took 295–709 ms with torch's default of 2 threads against 44–57 ms with 1
(`bench/cpu.py` measures it). So: the training worker gets every core it may use, each
web or light process one thread, and CV_TORCH_THREADS overrides both.

The role is declared where a process starts (wsgi.py, the Celery worker's start-up) and
applied when torch is first needed, so a process that never loads a model never imports it.
"""

from __future__ import annotations

import os

TRAINING = "training"
WEB = "web"

_role: str | None = None


def set_role(role: str) -> None:
    global _role
    _role = role


def role() -> str | None:
    """The role this process declared, if any."""
    return _role


def cores() -> int:
    return len(os.sched_getaffinity(0))


def threads_for(role: str) -> int:
    from django.conf import settings

    return settings.CV_TORCH_THREADS or (cores() if role == TRAINING else 1)


def current(default_role: str) -> int:
    """Threads for this process's role (declared, else `default_role`): torch's and each
    ONNX Runtime session's intra-op pool."""
    return threads_for(_role or default_role)


def configure(default_role: str) -> int:
    """Set torch's thread count for this process's role (declared, else `default_role`)."""
    import torch

    count = current(default_role)
    if torch.get_num_threads() != count:
        torch.set_num_threads(count)
    return count
