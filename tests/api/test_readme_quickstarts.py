"""The README's "Moving from Azure Custom Vision" quickstarts — Microsoft's Python, JavaScript
and REST quickstarts with only the endpoint and keys changed — run as written against a live
server with a real worker. The JavaScript one runs on the official npm packages pinned in
clients/js (installed by `make test`)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from projects import services

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
NODE_MODULES = ROOT / "clients" / "js" / "node_modules"


def snippet(name: str, language: str) -> str:
    text = README.read_text()
    match = re.search(rf"<!-- snippet: {name} -->\n```{language}\n(.*?)```", text, re.S)
    assert match, f"the README lost its {name} snippet"
    return match.group(1)


def quickstart_env(
    endpoint: str, training_key: str, prediction_key: str, prediction_id: str, images: Path
) -> dict[str, str]:
    """The environment Microsoft's samples (and the README's and the API page's) read their
    endpoint and keys from."""
    return {
        **os.environ,
        "VISION_TRAINING_ENDPOINT": endpoint,
        "VISION_PREDICTION_ENDPOINT": endpoint,
        "VISION_TRAINING_KEY": training_key,
        "VISION_PREDICTION_KEY": prediction_key,
        "VISION_PREDICTION_RESOURCE_ID": prediction_id,
        "IMAGES_FOLDER": str(images),
        "NODE_PATH": str(NODE_MODULES),
    }


def runner(folder: Path, env: dict[str, str]) -> Callable[..., list[str]]:
    """Runs a command in `folder` with `env`: its output lines, once it succeeded."""

    def run(*command: str) -> list[str]:
        done = subprocess.run(
            command, cwd=folder, env=env, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return [line.strip() for line in done.stdout.strip().splitlines()]

    return run


@pytest.fixture
def quickstart(live_server, alice, start_worker, sample_dir, tmp_path):
    """Runs a quickstart command in a folder holding the sample set as Images/, with the
    environment Microsoft's samples read their endpoint and keys from."""
    start_worker("readme-trainer")
    _t, training = services.resource_create(owner=alice, name="train", kind="training")
    prediction, prediction_keys = services.resource_create(
        owner=alice, name="trees-prediction", kind="prediction"
    )
    (tmp_path / "Images").symlink_to(sample_dir)
    env = quickstart_env(
        live_server.url, training.key1, prediction_keys.key1, str(prediction.id), sample_dir
    )
    return runner(tmp_path, env), tmp_path


def _predicts_hemlock(lines: list[str]) -> None:
    # The sample test photo shows a hemlock twig (see the README); best guess first.
    assert lines[-2].startswith("Hemlock: "), lines
    assert lines[-1].startswith("Japanese Cherry: "), lines


def test_the_python_quickstart_runs_unchanged(quickstart):
    run, folder = quickstart
    (folder / "quickstart.py").write_text(snippet("moving-from-azure", "python"))
    _predicts_hemlock(run(sys.executable, "quickstart.py"))


def test_the_javascript_quickstart_runs_unchanged(quickstart):
    assert NODE_MODULES.is_dir(), "run `make test` (it installs clients/js with npm ci)"
    node = shutil.which("node")
    assert node, "Node.js is needed for the JavaScript SDK test"
    run, folder = quickstart
    (folder / "quickstart.js").write_text(snippet("moving-from-azure-js", "js"))
    lines = run(node, "quickstart.js")
    assert "Training status: Completed" in lines, lines
    _predicts_hemlock(lines)


def test_the_rest_quickstart_runs_unchanged(quickstart):
    run, folder = quickstart
    (folder / "quickstart.sh").write_text(snippet("moving-from-azure-rest", "sh"))
    lines = run("bash", "quickstart.sh")
    assert "Training status: Completed" in lines, lines
    _predicts_hemlock(lines)
