"""The README's "Moving from Azure Custom Vision" snippet, run as written against a live server
with a real worker (it is Microsoft's quickstart with only the endpoint and keys changed)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from projects import services

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

README = Path(__file__).resolve().parents[2] / "README.md"


def snippet() -> str:
    text = README.read_text()
    match = re.search(r"<!-- snippet: moving-from-azure -->\n```python\n(.*?)```", text, re.S)
    assert match, "the README lost its snippet"
    return match.group(1)


def test_the_readme_snippet_runs_unchanged(live_server, alice, start_worker, sample_dir, tmp_path):
    start_worker("readme-trainer")
    _t, training = services.resource_create(owner=alice, name="train", kind="training")
    prediction, prediction_keys = services.resource_create(
        owner=alice, name="trees-prediction", kind="prediction"
    )
    script = tmp_path / "quickstart.py"
    script.write_text(snippet())
    env = {
        **os.environ,
        "VISION_TRAINING_ENDPOINT": live_server.url,
        "VISION_TRAINING_KEY": training.key1,
        "VISION_PREDICTION_KEY": prediction_keys.key1,
        "VISION_PREDICTION_RESOURCE_ID": str(prediction.id),
        "IMAGES_FOLDER": str(sample_dir),
    }
    done = subprocess.run(
        [sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert lines[-2].startswith("Hemlock: "), done.stdout  # the sample test photo is a hemlock
    assert lines[-1].startswith("Japanese Cherry: ")
