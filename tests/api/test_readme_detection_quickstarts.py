"""The README's object-detection quickstarts — Microsoft's Python and JavaScript ones with only
the endpoint and keys changed, and the calls of its `object-detector.sh` — run as written
against a live server with a real worker, each finding the fork in the test photo."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from projects import services
from tests.api.test_readme_quickstarts import NODE_MODULES, ROOT, snippet

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

OD_SAMPLES = ROOT / "samples" / "custom-vision-od-sample"
# Where the fork is in test/test_image.jpg (left, top, width, height), measured from its
# pixels: everything that differs from the plain background, tines and handle.
FORK = (0.11, 0.26, 0.65, 0.52)
NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:e-?\d+)?")


@dataclass(frozen=True)
class Found:
    tag: str
    percent: float
    box: tuple[float, float, float, float]


def iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    width = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    height = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    inter = max(width, 0.0) * max(height, 0.0)
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


def found(lines: list[str]) -> list[Found]:
    """The printed predictions, in the order printed (Azure's: most probable first). Python
    and curl print `tag: 97.00% bbox.left = 0.12, …`, JavaScript `tag: 97.00% 0.12,0.26,…`."""
    results = []
    for line in lines:
        match = re.match(r"^(\w+): (\d+\.\d+)% (.*)$", line)
        if match:
            left, top, width, height = (float(n) for n in NUMBER.findall(match.group(3)))
            results.append(Found(match.group(1), float(match.group(2)), (left, top, width, height)))
    return results


def _finds_the_fork(lines: list[str]) -> None:
    results = found(lines)
    assert results, lines
    best = results[0]
    assert best.tag.lower() == "fork", results[:3]
    assert best.percent >= 50.0, results[:3]
    assert iou(best.box, FORK) >= 0.5, (best, FORK)
    assert [r.percent for r in results] == sorted((r.percent for r in results), reverse=True)


# Microsoft's sample waits a second before each of its 40 uploads, for Azure's rate limit. This
# server has none to respect: preloaded, this shortens every pause to 10 ms (40 s of the test's
# 50), while the sample's own code runs as written.
SHORT_PAUSES = """
const util = require("util");
const timers = require("timers/promises");
const original = global.setTimeout;
function shortened(callback, ms, ...args) {
  return original(callback, Math.min(ms || 0, 10), ...args);
}
shortened[util.promisify.custom] = (ms, value) => timers.setTimeout(Math.min(ms || 0, 10), value);
global.setTimeout = shortened;
"""


@pytest.fixture
def quickstart(live_server, alice, start_worker, tmp_path):
    """Runs a quickstart command in `tmp_path`, with the environment the README's snippets
    read their endpoint and keys from."""
    start_worker("readme-detector")
    _t, training = services.resource_create(owner=alice, name="train", kind="training")
    prediction, prediction_keys = services.resource_create(
        owner=alice, name="cutlery-prediction", kind="prediction"
    )
    env = {
        **os.environ,
        "VISION_TRAINING_ENDPOINT": live_server.url,
        "VISION_PREDICTION_ENDPOINT": live_server.url,
        "VISION_TRAINING_KEY": training.key1,
        "VISION_PREDICTION_KEY": prediction_keys.key1,
        "VISION_PREDICTION_RESOURCE_ID": str(prediction.id),
        "IMAGES_FOLDER": str(OD_SAMPLES),
        "NODE_PATH": str(NODE_MODULES),
    }

    def run(*command: str) -> list[str]:
        done = subprocess.run(
            command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return [line.strip() for line in done.stdout.strip().splitlines()]

    return run, tmp_path


def _lay_out(root: Path, *, fork: str, scissors: str, test: str) -> None:
    """The sample photos where a quickstart looks for them (Microsoft's sample repositories
    each keep them in their own folders)."""
    (root / Path(test).parent).mkdir(parents=True)
    (root / fork).symlink_to(OD_SAMPLES / "fork")
    (root / scissors).symlink_to(OD_SAMPLES / "scissors")
    (root / test).symlink_to(OD_SAMPLES / "test" / "test_image.jpg")


def test_the_python_detection_quickstart_finds_the_fork(quickstart):
    run, folder = quickstart
    _lay_out(
        folder,
        fork="images/fork",
        scissors="images/scissors",
        test="images/Test/test_od_image.jpg",
    )
    (folder / "quickstart.py").write_text(snippet("moving-from-azure-od", "python"))
    lines = run(sys.executable, "quickstart.py")
    assert "Done!" in lines, lines
    _finds_the_fork(lines)


def test_the_javascript_detection_quickstart_finds_the_fork(quickstart):
    assert NODE_MODULES.is_dir(), "run `make test` (it installs clients/js with npm ci)"
    node = shutil.which("node")
    assert node, "Node.js is needed for the JavaScript SDK test"
    run, folder = quickstart
    _lay_out(
        folder,
        fork="Images/Fork",
        scissors="Images/Scissors",
        test="Images/Test/test_od_image.jpg",
    )
    (folder / "quickstart.js").write_text(snippet("moving-from-azure-od-js", "js"))
    (folder / "short-pauses.js").write_text(SHORT_PAUSES)
    lines = run(node, "--require", "./short-pauses.js", "quickstart.js")
    assert "Training status: Completed" in lines, lines
    _finds_the_fork(lines)


def test_the_rest_detection_quickstart_finds_the_fork(quickstart):
    run, folder = quickstart
    (folder / "quickstart.sh").write_text(snippet("moving-from-azure-od-rest", "sh"))
    lines = run("bash", "quickstart.sh")
    assert "Training status: Completed" in lines, lines
    _finds_the_fork(lines)
