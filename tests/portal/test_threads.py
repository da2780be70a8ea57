"""Torch's thread count is set by process role, never left to torch's default."""

from __future__ import annotations

import os

import pytest
import torch

from core import threads


@pytest.fixture
def restore():
    before, role = torch.get_num_threads(), threads._role
    yield
    torch.set_num_threads(before)
    threads._role = role


def test_training_gets_every_core_and_web_one_thread(settings, restore):
    settings.CV_TORCH_THREADS = 0
    threads._role = None
    assert threads.configure(threads.TRAINING) == threads.cores() == torch.get_num_threads()
    assert threads.configure(threads.WEB) == 1 == torch.get_num_threads()


def test_a_declared_role_wins_over_the_caller_default(settings, restore):
    settings.CV_TORCH_THREADS = 0
    threads.set_role("light")
    assert threads.configure(threads.TRAINING) == 1
    threads.set_role(threads.TRAINING)
    assert threads.configure(threads.WEB) == threads.cores()


def test_the_setting_overrides_every_role(settings, restore):
    settings.CV_TORCH_THREADS = 3
    threads._role = None
    assert threads.configure(threads.WEB) == 3 == torch.get_num_threads()
    assert threads.configure(threads.TRAINING) == 3


def test_the_web_process_declares_its_role(restore):
    threads._role = None
    import importlib

    import portal.wsgi

    importlib.reload(portal.wsgi)
    assert threads._role == threads.WEB


def test_the_web_tier_and_the_light_worker_never_import_torch():
    """torch is ~700 MB a process: only a process that trains (or converts an old model file)
    imports it. Everything a web process or the light worker loads, prediction included
    (ONNX Runtime), stays clear of it."""
    import subprocess
    import sys

    code = (
        "import sys, django; django.setup(); "
        "import portal.urls, portal.wsgi, projects.tasks, training.tasks, prediction.services; "
        "import projects.services.azure_import, training.exporting; "
        "print(sorted(m for m in ('torch', 'torchvision') if m in sys.modules))"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "portal.settings"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, check=True)
    assert out.stdout.decode().strip() == "[]", out.stderr.decode()[-2000:]
