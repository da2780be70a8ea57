"""`make run`'s script on a fresh data directory: migrates, prints a login, serves the portal
with static files, runs a worker on the embedded broker, and stops everything it started on
Ctrl-C within 10 s: a training in progress and a stopped worker included."""

from __future__ import annotations

import importlib.util
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("supervise", ROOT / "scripts" / "supervise.py")
assert _spec and _spec.loader
supervise = sys.modules.setdefault("supervise", importlib.util.module_from_spec(_spec))
_spec.loader.exec_module(supervise)

pytestmark = pytest.mark.worker


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_run_script_serves_the_portal_and_a_worker(tmp_path):
    port = free_port()
    env = _fresh_env(tmp_path, port)
    log = tmp_path / "run.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            ["bash", "scripts/run.sh"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 120
        _wait_for_the_portal_with_static_files(log, process, port, deadline)
        _read_the_printed_login(log, tmp_path, deadline)
        _ping_the_worker(env, log)
        _a_killed_worker_is_started_again(log, port, deadline)
        _a_training_in_progress(env, log)
        # A worker that ignores the polite stop (here: stopped outright) is killed.
        os.kill(_pid(log, "light worker"), signal.SIGSTOP)
    finally:
        # Each process the supervisor starts leads a session: everything under it is in it.
        started = {int(p) for p in re.findall(r"\(pid (\d+)\)", log.read_text())}
        members = supervise.session_members(started)
        os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            for pid in supervise.session_members(started | {process.pid}):
                os.kill(pid, signal.SIGKILL)
            pytest.fail(f"Ctrl-C took over 10 s\n{log.read_text()[-3000:]}")
    assert "light worker did not stop" in log.read_text()
    # The training's pool process (and gunicorn's workers, the beat…) were there, and are gone.
    assert len(members) > len(started - {process.pid}), (members, started)
    alive = [pid for pid in members if Path(f"/proc/{pid}").exists() and not _zombie(pid)]
    assert alive == [], log.read_text()[-3000:]
    assert supervise.session_members(started) == set()
    leftovers = subprocess.run(["pgrep", "-f", f"127.0.0.1:{port}"], capture_output=True)
    assert leftovers.stdout == b"", "gunicorn still running after Ctrl-C"


def _fresh_env(tmp_path: Path, port: int) -> dict[str, str]:
    """This environment without the test run's services: the script picks its own defaults."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND", "SECRET_KEY")
    }
    env.update(
        {
            "CV_DATA_DIR": str(tmp_path),
            "PORT": str(port),
            "PYTHONUNBUFFERED": "1",
            "CV_ADMIN_PASSWORD": "",
        }
    )
    return env


def _wait_for_the_portal_with_static_files(log: Path, process, port: int, deadline: float) -> None:
    # Celery logs "celery@host ready." once the worker consumes.
    while "ready." not in log.read_text() and time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()
        time.sleep(0.5)
    while time.monotonic() < deadline:
        try:
            page = urllib.request.urlopen(f"http://127.0.0.1:{port}/signin/", timeout=5)
            break
        except OSError:
            time.sleep(0.5)
    text = page.read().decode()
    assert "<title>Sign in" in text
    css = urllib.request.urlopen(f"http://127.0.0.1:{port}/static/portal/site.css")
    assert css.status == 200


def _read_the_printed_login(log: Path, tmp_path: Path, deadline: float) -> None:
    """The address and login are printed last, once the portal answers and the training
    worker is warm."""
    while "running at" not in log.read_text() and time.monotonic() < deadline:
        time.sleep(0.5)
    output = log.read_text()
    # ... and once the training worker has warmed up, so a first Train finds it ready.
    assert (tmp_path / "training-worker.warm").exists()
    password = (tmp_path / "admin-password").read_text().strip()
    assert f"password {password!r}" in output
    # No worker start-up banners to scroll the login away (Celery's lists "[queues]").
    assert "[queues]" not in output
    assert (tmp_path / "db.sqlite3").exists() and (tmp_path / "secret_key").exists()


def _ping_the_worker(env: dict[str, str], log: Path) -> None:
    """The worker that the script started answers on the embedded broker."""
    ping = subprocess.run(
        [
            str(ROOT / ".venv/bin/python"),
            "-c",
            "import django; django.setup(); from portal.tasks import ping; "
            "print(ping.delay().get(timeout=60))",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert ping.stdout.strip() == "pong", ping.stderr + log.read_text()


def _a_killed_worker_is_started_again(log: Path, port: int, deadline: float) -> None:
    """A worker killed outright is started again; the portal stays up meanwhile."""
    training = _pid(log, "training worker")
    os.kill(training, signal.SIGKILL)
    while _pid(log, "training worker") == training and time.monotonic() < deadline + 60:
        time.sleep(0.3)
    assert "training worker killed by SIGKILL" in log.read_text()
    assert _pid(log, "training worker") != training
    page = urllib.request.urlopen(f"http://127.0.0.1:{port}/signin/", timeout=5)
    assert page.status == 200


def _a_training_in_progress(env: dict[str, str], log: Path) -> None:
    """An Advanced training (a budget of an hour) that the training worker has started: what
    Ctrl-C must also end, pool process and torch threads included."""
    script = """
import time, django
django.setup()
from django.contrib.auth import get_user_model
from projects import services
from projects.services import ImageUpload
from tests.training.synthetic import photo
from training import services as training
from training.models import Iteration

admin = get_user_model().objects.get(username="admin")
resource, _keys = services.resource_create(owner=admin, name="stop-test", kind="training")
project = services.project_create(owner=admin, resource=resource, name="Stop me")
for colour, name in (("red", "Red"), ("blue", "Blue")):
    tags = services.tags_get_or_create(project=project, names=[name])
    uploads = [ImageUpload(name=f"{colour}{i}.jpg", data=photo(colour, seed=i)) for i in range(5)]
    services.images_create(project=project, uploads=uploads, tag_ids=[t.id for t in tags])
iteration = training.iteration_train_start(
    project=project, training_type="Advanced", reserved_budget_hours=1
)
deadline = time.monotonic() + 120
while time.monotonic() < deadline:
    iteration.refresh_from_db()
    if iteration.status != "Queued":
        break
    time.sleep(0.2)
print(iteration.status)
"""
    done = subprocess.run(
        [str(ROOT / ".venv/bin/python"), "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.stdout.strip() == "Training", done.stdout + done.stderr + log.read_text()[-3000:]


def _pid(log: Path, name: str) -> int:
    """The pid of the last `name` the supervisor started."""
    found = re.findall(rf"started {name} \(pid (\d+)\)", log.read_text())
    assert found, log.read_text()[-3000:]
    return int(found[-1])


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].startswith("Z")
    except (FileNotFoundError, IndexError):
        return False
