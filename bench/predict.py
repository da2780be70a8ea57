"""Prediction benchmark: the HTTP endpoint against the raw model, side by side (not a test:
timings on this shared machine are noisy, so read the ratios within one run).

Trains the sample project (20 photos), publishes it and serves it with gunicorn as `make run`
does (2 workers × 4 threads, one ONNX Runtime thread each). Then, at 1, 2, 4 and 8 clients:

  * raw: the model in this process, as a script using the exported ONNX model would run it
    (decode the JPEG, resize, ONNX Runtime with one intra-op thread per client thread);
  * HTTP `/nostore`: the Prediction API's ClassifyImageWithNoStore, key check and JSON;
  * HTTP stored: ClassifyImage, which also keeps the image and its answer.

and the server's CPU time per `/nostore` and per stored request (all its processes, from
/proc; a stored one's includes the writing behind its answer). Each figure is the median of
five rounds that take the three measurements in turn.

    .venv/bin/python bench/predict.py                 # this tree
    .venv/bin/python bench/predict.py --compare HEAD~1  # and the same figures for an older
                                                       # commit, served from a git worktree
    .venv/bin/python bench/predict.py --detection     # an object detector instead: Microsoft's
                                                       # fork/scissors photos (15 a tag), served
                                                       # by DetectImage, against ONNX Runtime
                                                       # decoding and suppressing the same boxes
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PHOTO = ROOT / "samples" / "custom-vision-sample" / "Test" / "test_image.jpg"
OD_PHOTO = ROOT / "samples" / "custom-vision-od-sample" / "test" / "test_image.jpg"
CLIENTS = (1, 2, 4, 8)
ROUNDS = 5

# Run in the tree being measured (this one or an older worktree): trains and publishes the
# sample project with that tree's own code, then prints what the benchmark needs.
SETUP = r"""
import json, sys
from pathlib import Path
import django
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from django.contrib.auth.models import User
from projects import services
from projects.services import ImageUpload
from training import services as training_services
samples = Path("samples/custom-vision-sample")
owner = User.objects.create_user("bench")
resource, _ = services.resource_create(owner=owner, name="t", kind="training")
target, keys = services.resource_create(owner=owner, name="p", kind="prediction")
project = services.project_create(owner=owner, resource=resource, name="Trees")
for folder, tag in (("Hemlock", "Hemlock"), ("Japanese_Cherry", "Japanese Cherry")):
    [t] = services.tags_get_or_create(project=project, names=[tag])
    files = sorted((samples / folder).glob("*.jpg"))
    uploads = [ImageUpload(name=p.name, data=p.read_bytes()) for p in files]
    services.images_create(project=project, uploads=uploads, tag_ids=[t.id])
iteration = training_services.iteration_train_start(project=project)
training_services.iteration_run(iteration_id=iteration.id, worker="bench")
iteration.refresh_from_db()
training_services.iteration_publish(
    iteration=iteration, publish_name="m", prediction_resource=target
)
model = iteration.model_file.name
print(json.dumps({"project": str(project.id), "key": keys.key1, "model": model}))
"""

# The same for a detector: General (compact), 15 forks and 15 scissors with their boxes.
SETUP_DETECTION = r"""
import json, time
from pathlib import Path
import django
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from django.contrib.auth.models import User
from projects import services
from projects.domains import DOMAINS
from projects.services import ImageUpload
from projects.services.regions import regions_replace
from training import services as training_services
samples = Path("samples/custom-vision-od-sample")
boxes = json.loads((samples / "regions.json").read_text())
owner = User.objects.create_user("bench")
resource, _ = services.resource_create(owner=owner, name="t", kind="training")
target, keys = services.resource_create(owner=owner, name="p", kind="prediction")
compact = next(d for d in DOMAINS if d.type == "ObjectDetection" and d.name == "General (compact)")
project = services.project_create(
    owner=owner, resource=resource, name="Cutlery", domain_id=compact.id
)
tags = {t.name: t for t in services.tags_get_or_create(project=project, names=["fork", "scissors"])}
for folder in ("fork", "scissors"):
    files = sorted((samples / folder).glob("*.jpg"))[:15]
    uploads = [ImageUpload(name=p.name, data=p.read_bytes()) for p in files]
    for upload, result in zip(uploads, services.images_create(project=project, uploads=uploads)):
        b = boxes[upload.name]
        box = (tags[b["tag"]], b["left"], b["top"], b["width"], b["height"])
        regions_replace(image=result.image, boxes=[box])
started = time.monotonic()
# Eager Celery (as the server here runs) trains within iteration_train_start; iteration_run
# then finds nothing Queued, or trains it when the task was not run eagerly.
iteration = training_services.iteration_train_start(project=project)
training_services.iteration_run(iteration_id=iteration.id, worker="bench")
iteration.refresh_from_db()
assert iteration.status == "Completed", iteration.error
training_services.iteration_publish(
    iteration=iteration, publish_name="m", prediction_resource=target
)
model = iteration.model_file.name
print(json.dumps({"project": str(project.id), "key": keys.key1, "model": model,
                  "seconds": round(time.monotonic() - started, 1),
                  "map": iteration.metrics["mean_average_precision"]}))
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """The portal of `tree` on its own data folder and SQLite database, under gunicorn."""

    def __init__(self, tree: Path, data: Path, detection: bool = False) -> None:
        self.tree, self.data, self.port = tree, data, free_port()
        self.detection = detection
        self.env = {
            **os.environ,
            "CV_DATA_DIR": str(data),
            "SECRET_KEY": "bench",
            "DATABASE_URL": f"sqlite:///{data}/db.sqlite3",
            "DJANGO_SETTINGS_MODULE": "portal.settings",
            "ALLOWED_HOSTS": "127.0.0.1",
            "CELERY_TASK_ALWAYS_EAGER": "true",
            "PYTHONPATH": str(tree),
        }
        self.env.pop("CV_TORCH_THREADS", None)
        self.process: subprocess.Popen[bytes] | None = None

    def setup(self) -> dict[str, str]:
        script = SETUP_DETECTION if self.detection else SETUP
        out = subprocess.run(
            [sys.executable, "-c", script], cwd=self.tree, env=self.env, capture_output=True
        )
        if out.returncode:
            sys.exit(out.stderr.decode()[-3000:])
        return json.loads(out.stdout.decode().strip().splitlines()[-1])

    def start(self) -> None:
        gunicorn = Path(sys.executable).with_name("gunicorn")
        self.process = subprocess.Popen(
            [
                str(gunicorn),
                "portal.wsgi",
                f"--bind=127.0.0.1:{self.port}",
                # As `make run` serves: two workers of four threads.
                "--workers=2",
                f"--threads={os.environ.get('BENCH_THREADS', '4')}",
                "--timeout=120",
                "--log-level=warning",
            ],
            cwd=self.tree,
            env=self.env,
        )

    def stop(self) -> None:
        if self.process:
            self.process.terminate()
            self.process.wait(timeout=30)

    def cpu_seconds(self) -> float:
        """User + system CPU of gunicorn's master and workers so far."""
        assert self.process
        pids = [self.process.pid]
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        pids += [int(p) for p in children.read_text().split()]
        ticks = os.sysconf("SC_CLK_TCK")
        total = 0.0
        for pid in pids:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks
        return total


def rate(work: Callable[[int], object], clients: int, seconds: float) -> float:
    """Calls per second of `work(client number)` from `clients` threads over `seconds`."""
    done = [0] * clients
    stop = time.monotonic() + seconds

    def loop(i: int) -> None:
        while time.monotonic() < stop:
            work(i)
            done[i] += 1

    threads = [threading.Thread(target=loop, args=(i,)) for i in range(clients)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(done) / (time.monotonic() - started)


def http_caller(server: Server, info: dict[str, str], store: bool) -> Callable[[int], None]:
    """One POST of the test photo, on a kept-alive connection per client thread. http.client,
    not requests: the clients share the server's cores, so the lighter they are, the more the
    figures are the server's."""
    verb = "detect" if server.detection else "classify"
    path = (
        f"/customvision/v3.0/Prediction/{info['project']}"
        f"/{verb}/iterations/m/image{'' if store else '/nostore'}"
    )
    photo = (OD_PHOTO if server.detection else PHOTO).read_bytes()
    headers = {"Prediction-Key": info["key"], "Content-Type": "application/octet-stream"}
    local = threading.local()

    def post() -> tuple[int, bytes]:
        connection = getattr(local, "connection", None)
        if connection is None:
            connection = local.connection = http.client.HTTPConnection(
                "127.0.0.1", server.port, timeout=60
            )
        try:
            connection.request("POST", path, body=photo, headers=headers)
            response = connection.getresponse()
            return response.status, response.read()
        except (OSError, http.client.HTTPException):
            local.connection = None  # closed while idle, or the server is still starting
            raise

    def call(_client: int = 0) -> None:
        try:
            status, body = post()
        except (OSError, http.client.HTTPException):
            status, body = post()
        assert status == 200, body[:300]

    return call


def wait_ready(server: Server, call: Callable[[int], None]) -> None:
    deadline = time.monotonic() + 120
    while True:
        try:
            call(0)
            break
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    # Every worker loads the model before anything is timed.
    rate(call, 8, 3)


def server_cpu(
    server: Server, call: Callable[[int], None], requests: int = 60, settle: float = 0.0
) -> float:
    """The server's CPU milliseconds per request of `call`, one client; `settle` seconds
    for what is written behind the last answers."""
    before = server.cpu_seconds()
    for _ in range(requests):
        call(0)
    time.sleep(settle)
    return (server.cpu_seconds() - before) / requests * 1000


def cpu_figures(server: Server, info: dict[str, str], label: str) -> float:
    nostore, stored = http_caller(server, info, False), http_caller(server, info, True)
    cpu = server_cpu(server, nostore)
    kept = server_cpu(server, stored, settle=0.5)
    print(f"server CPU per request ({label}): /nostore {cpu:.1f} ms, stored {kept:.1f} ms")
    return cpu


def measure_now(seconds: float, detection: bool = False) -> float:
    data = Path(tempfile.mkdtemp(prefix="cv-bench-predict-"))
    server = Server(ROOT, data, detection)
    info = server.setup()
    if detection:
        print(
            f"detector trained on 30 photos (General (compact)) in {info['seconds']} s, "
            f"out-of-fold mAP {info['map']}"
        )
    server.start()
    try:
        nostore, stored = http_caller(server, info, False), http_caller(server, info, True)
        wait_ready(server, nostore)

        sys.path.insert(0, str(ROOT))
        from engine.bundle import ModelBundle
        from engine.pixels import load_rgb, pixels_of
        from engine.predict import Detector, Predictor
        from engine.signature import INPUT_NAME

        bundle = ModelBundle.from_bytes((data / "media" / info["model"]).read_bytes())
        photo = (OD_PHOTO if detection else PHOTO).read_bytes()
        # A session per client thread, one intra-op thread each, made before any timing.
        # Raw detection is what a script using the exported model does: decode, resize, ONNX
        # Runtime, then the grid's boxes decoded and suppressed (engine.boxes).
        kind = Detector if detection else Predictor
        sessions = [kind(bundle, 1) for _ in range(max(CLIENTS))]
        single = sessions[0]
        raw = [s.detect if isinstance(s, Detector) else s.predict for s in sessions]
        prepared = pixels_of(load_rgb(photo, bundle.image_size), bundle.image_size)
        model_only = rate(lambda _: single.session.run(None, {INPUT_NAME: prepared}), 1, seconds)
        print(f"ONNX Runtime, model only (pixels ready), 1 thread: {model_only:.1f}/s")
        print()
        print(f"median of {ROUNDS} rounds, each measuring the three in turn for {seconds:g} s:")
        print("clients  raw ORT/s   HTTP nostore/s (÷raw)   HTTP stored/s (÷raw)")
        for clients in CLIENTS:
            # Interleaved rounds: a burst of noise from this shared machine's other tenants
            # lands on one round of one measurement, and the median leaves it out.
            rounds = [
                (
                    rate(lambda i: raw[i](photo), clients, seconds),
                    rate(nostore, clients, seconds),
                    rate(stored, clients, seconds),
                )
                for _ in range(ROUNDS)
            ]
            r, n, s = (statistics.median(column) for column in zip(*rounds, strict=True))
            print(
                f"{clients:>7}  {r:>9.1f}   {n:>8.1f} ({n / r:.2f})        {s:>8.1f} ({s / r:.2f})"
            )
        print()
        return cpu_figures(server, info, "this tree")
    finally:
        server.stop()
        shutil.rmtree(data, ignore_errors=True)


def measure_ref(ref: str, seconds: float) -> float:
    tree = Path(tempfile.mkdtemp(prefix="cv-bench-ref-")) / "tree"
    subprocess.run(["git", "worktree", "add", "--detach", str(tree), ref], cwd=ROOT, check=True)
    data = Path(tempfile.mkdtemp(prefix="cv-bench-ref-data-"))
    server = Server(tree, data)
    try:
        info = server.setup()
        server.start()
        nostore = http_caller(server, info, False)
        wait_ready(server, nostore)
        n = rate(nostore, 1, seconds)
        print(f"{ref}: HTTP nostore, 1 client: {n:.1f}/s")
        return cpu_figures(server, info, ref)
    finally:
        server.stop()
        subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT, check=False)
        shutil.rmtree(data, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="per measurement and round")
    parser.add_argument("--compare", metavar="REF", help="also measure this git commit")
    parser.add_argument("--detection", action="store_true", help="an object detector")
    args = parser.parse_args()
    now = measure_now(args.seconds, args.detection)
    if args.compare:
        print()
        before = measure_ref(args.compare, args.seconds)
        print(f"CPU per /nostore request: {before / now:.1f}× less than {args.compare}")


if __name__ == "__main__":
    main()
