"""A fresh `make run`, then the sample's 20 photos through Microsoft's Python SDK: Train →
Completed on the first training, timed as a user of the SDK sees it (not a test: read the
figures). Runs `scripts/run.sh` on an empty data folder and a free port, and stops it after.

    .venv/bin/python bench/first_training.py [--runs 2]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from azure.cognitiveservices.vision.customvision.training import CustomVisionTrainingClient
from azure.cognitiveservices.vision.customvision.training.models import (
    ImageFileCreateBatch,
    ImageFileCreateEntry,
)
from msrest.authentication import ApiKeyCredentials

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples" / "custom-vision-sample"
TAGS = {"Hemlock": "Hemlock", "Japanese Cherry": "Japanese_Cherry"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def first_training(data: Path) -> tuple[float, float]:
    """(seconds until make run's banner, seconds from Train to Completed)."""
    port = free_port()
    env = {**os.environ, "CV_DATA_DIR": str(data), "PORT": str(port)}
    for name in ("DATABASE_URL", "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND", "SECRET_KEY"):
        env.pop(name, None)  # make run's embedded defaults
    log = data.with_suffix(".log")
    with log.open("w") as out:
        run = subprocess.Popen(
            ["bash", "scripts/run.sh"], cwd=ROOT, env=env, stdout=out, stderr=out,
            start_new_session=True,
        )  # fmt: skip
    try:
        launched = time.monotonic()
        while "running at" not in log.read_text():
            if time.monotonic() - launched > 180:
                raise SystemExit(f"make run showed no address in 180 s; see {log}")
            time.sleep(0.2)
        banner = time.monotonic() - launched
        command = [sys.executable, "manage.py", "createresource", "bench", "--kind", "training"]
        made = subprocess.run(
            [*command, "--owner", "admin"],
            cwd=ROOT, env=env, capture_output=True, text=True, check=True,
        )  # fmt: skip
        key = json.loads(made.stdout.strip().splitlines()[-1])["key"]
        trainer = CustomVisionTrainingClient(
            f"http://127.0.0.1:{port}", ApiKeyCredentials(in_headers={"Training-key": key})
        )
        project = trainer.create_project("sample")
        for tag_name, folder in TAGS.items():
            tag = trainer.create_tag(project.id, tag_name)
            entries = [
                ImageFileCreateEntry(
                    name=p.name, contents=bytearray(p.read_bytes()), tag_ids=[tag.id]
                )
                for p in sorted((SAMPLES / folder).glob("*.jpg"))
            ]
            trainer.create_images_from_files(project.id, ImageFileCreateBatch(images=entries))
        started = time.monotonic()
        iteration = trainer.train_project(project.id)
        while iteration.status != "Completed":
            if iteration.status == "Failed":
                raise SystemExit(f"the training failed; see {log}")
            time.sleep(0.1)
            iteration = trainer.get_iteration(project.id, iteration.id)
        return banner, time.monotonic() - started
    finally:
        os.killpg(run.pid, signal.SIGINT)
        run.wait(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()
    for run in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="cv-bench-first-") as folder:
            banner, seconds = first_training(Path(folder) / "data")
        print(
            f"run {run + 1}: make run's address after {banner:.1f} s; "
            f"first training, Train → Completed through the SDK: {seconds:.2f} s"
        )


if __name__ == "__main__":
    main()
