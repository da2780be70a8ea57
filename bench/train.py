"""Training benchmark (not a test: this machine is shared and timings are noisy).

Prints:
  * sample project (20 photos): Train → Completed wall time through the product — a real
    Celery worker on the embedded broker, SQLite, local storage — with a cold feature cache:
    first as the fresh worker's first training (what a fresh `make run` shows), then again in
    the warm worker; each with the engine's phases (where the seconds go);
  * retrain after adding 10 images (only the new images' features are computed);
  * the worker's peak memory;
  * grocery-store (2,640 train images, 81 fine classes): quick training time, peak memory and
    top-1 on its 296 val images; with --advanced, advanced training too: seconds against the
    budget, fine-tuning images/s, GPU busy share (nvidia-smi), val top-1 against quick's and
    which model it kept.

    .venv/bin/python bench/train.py                 # sample project only
    .venv/bin/python bench/train.py --grocery       # + grocery-store quick
    .venv/bin/python bench/train.py --advanced      # + advanced, 150 s budget
    .venv/bin/python bench/train.py --no-sample --advanced 600
    .venv/bin/python bench/train.py --engine-only   # the engine alone, in one process
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples" / "custom-vision-sample"
sys.path.insert(0, str(ROOT))


def configure(data: Path) -> dict[str, str]:
    env = {
        "CV_DATA_DIR": str(data),
        "SECRET_KEY": "bench",
        "DATABASE_URL": f"sqlite:///{data}/db",
        "DJANGO_SETTINGS_MODULE": "portal.settings",
    }
    for key in ("CELERY_BROKER_URL", "CELERY_RESULT_BACKEND"):
        os.environ.pop(key, None)  # the embedded broker, as `make run` uses
    os.environ.update(env)
    return dict(os.environ)


def peak_rss_mb(pid: int) -> float:
    """Largest VmHWM among the process and its children (the prefork pool)."""
    peaks = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            text = status.read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
        if int(fields.get("PPid", "0").strip()) == pid or status.parent.name == str(pid):
            peaks.append(int(fields.get("VmHWM", "0 kB").split()[0]) / 1024)
    return max(peaks, default=0.0)


def sample_project(data: Path) -> None:
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    from django.contrib.auth.models import User

    from projects import services as p
    from projects.services import ImageUpload
    from training import services as t

    env = dict(os.environ)
    worker = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("celery")),
            "-A",
            "portal",
            "worker",
            "--queues=training,celery",
            "--concurrency=1",
            "--loglevel=WARNING",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        user = User.objects.create_user("bench")
        resource_, _ = p.resource_create(owner=user, name="bench", kind="training")

        def upload(project, folder, tag, files):
            tags = p.tags_get_or_create(project=project, names=[tag])
            p.images_create(
                project=project,
                tag_ids=[tags[0].id],
                uploads=[ImageUpload(name=f.name, data=f.read_bytes()) for f in files],
            )

        def train(project, label: str = "") -> float:
            started = time.monotonic()
            iteration = t.iteration_train_start(project=project)
            while True:
                iteration.refresh_from_db()
                if not iteration.is_active:
                    break
                time.sleep(0.02)
            seconds = time.monotonic() - started
            assert iteration.status == "Completed", iteration.error
            if label:
                print(f"{label}: {seconds:.2f} s")
                phases = dict(iteration.details.get("phases", []))
                queued = (iteration.started_at - iteration.created_at).total_seconds()
                print(
                    f"  queued {queued:.2f} s, trained {iteration.training_seconds:.2f} s; "
                    + ", ".join(f"{name} {value:.2f}" for name, value in phases.items())
                )
            return seconds

        hemlock = sorted((SAMPLES / "Hemlock").glob("*.jpg"))
        cherry = sorted((SAMPLES / "Japanese_Cherry").glob("*.jpg"))

        # The fresh worker's first training (torch is imported when its pool process starts).
        first = p.project_create(owner=user, resource=resource_, name="first")
        upload(first, "Hemlock", "Hemlock", hemlock)
        upload(first, "Japanese_Cherry", "Japanese Cherry", cherry)
        # As `make run` shows its address: once the worker has warmed up (a minute at most).
        from training.tasks import WARM_MARKER

        launched, warm = time.monotonic(), data / WARM_MARKER
        while not warm.exists() and time.monotonic() - launched < 60:
            time.sleep(0.1)
        print(
            f"worker warm {time.monotonic() - launched:.1f} s after the uploads (as make run waits)"
        )
        train(first, "sample project, 20 images, first training of a fresh worker")
        shutil.rmtree(data / "features", ignore_errors=True)

        full = p.project_create(owner=user, resource=resource_, name="sample")
        upload(full, "Hemlock", "Hemlock", hemlock)
        upload(full, "Japanese_Cherry", "Japanese Cherry", cherry)
        train(full, "sample project, 20 images, Train → Completed (cold feature cache)")

        shutil.rmtree(data / "features", ignore_errors=True)
        grow = p.project_create(owner=user, resource=resource_, name="grow")
        upload(grow, "Hemlock", "Hemlock", hemlock[:5])
        upload(grow, "Japanese_Cherry", "Japanese Cherry", cherry[:5])
        first = train(grow)
        upload(grow, "Hemlock", "Hemlock", hemlock[5:])
        upload(grow, "Japanese_Cherry", "Japanese Cherry", cherry[5:])
        again = train(grow)
        print(f"10 images: {first:.1f} s; retrain after adding 10 images: {again:.1f} s")
        print(f"worker peak memory: {peak_rss_mb(worker.pid):.0f} MB")
    finally:
        worker.terminate()
        worker.wait(timeout=30)


class GpuBusy:
    """Samples nvidia-smi's utilisation every 200 ms while training runs (None: no GPU)."""

    def __enter__(self) -> GpuBusy:
        self.samples: list[int] = []
        self.process = None
        if shutil.which("nvidia-smi"):
            self.process = subprocess.Popen(
                [
                    "nvidia-smi",
                    "--query-gpu=utilization.gpu",
                    "--format=csv,noheader,nounits",
                    "-lms",
                    "200",
                ],
                stdout=subprocess.PIPE,
                text=True,
            )
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process is not None:
            self.process.terminate()
            out, _ = self.process.communicate(timeout=10)
            self.samples = [int(v) for v in out.split() if v.strip().isdigit()]

    def summary(self) -> str:
        if not self.samples:
            return "GPU busy n/a (no GPU)"
        mean = sum(self.samples) / len(self.samples)
        return f"GPU busy {mean:.0f} % mean / {max(self.samples)} % max"


def grocery(data: Path, advanced_seconds: float) -> None:
    from bench.grocery import load_split, samples_and_targets
    from engine.features import DirectoryCache
    from engine.predict import Predictor
    from engine.recipes import recipe_for
    from engine.train import TrainRequest, train

    train_paths, train_labels, names = load_split("train")
    val_paths, val_labels, _ = load_split("val")
    samples, targets = samples_and_targets(train_paths, train_labels, len(names))
    runs = [("quick", False, 0.0)]
    if advanced_seconds:
        runs.append(("advanced", True, advanced_seconds))
    top1 = {}
    for label, advanced, budget in runs:
        request = TrainRequest(
            samples=samples,
            targets=targets,
            tag_names=names,
            multilabel=False,
            recipe=recipe_for("Food"),
            advanced=advanced,
            budget_seconds=budget,
        )
        started = time.monotonic()
        with GpuBusy() as busy:
            result = train(request, cache=DirectoryCache(data / f"features-{label}"))
        seconds = time.monotonic() - started
        predictor = Predictor(result.bundle)
        correct = 0
        for path, truth in zip(val_paths, val_labels, strict=True):
            probs = predictor.predict(path.read_bytes())
            correct += int(max(range(len(probs)), key=probs.__getitem__) == truth)
        top1[label] = correct / len(val_paths)
        cv = result.metrics["overall"]
        print(
            f"grocery-store {label}: {seconds:.0f} s for {len(samples)} images "
            f"({result.backbone}, {result.device}); val top-1 {top1[label]:.1%} "
            f"({correct}/{len(val_paths)}); cross-validated mAP {cv['average_precision']:.1%}; "
            f"peak memory {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB"
        )
        print("  phases: " + ", ".join(f"{n} {v:.1f} s" for n, v in result.phases.items()))
        if advanced:
            d = result.details
            print(
                f"  advanced: {seconds:.1f} s against a {budget:.0f} s budget "
                f"({seconds / budget:.1%}); fine-tuning {d.get('images_per_second')} images/s "
                f"planned, {d.get('fold_images_per_second')} measured per fold; "
                f"{busy.summary()}; val top-1 {top1['advanced']:.1%} against quick's "
                f"{top1['quick']:.1%}"
            )
            print(f"  kept: {d.get('why')}")
            print(f"  details: {d}")
    print("reference: frozen lite0 features + logistic regression = 74.7% (WEIGHTS.md)")


def engine_only(runs: int = 3) -> None:
    """The 20-photo sample trained `runs` times by the engine in this process, no Celery, no
    database: the first is a fresh worker's first training (after the worker's warm-up), the
    others a warm worker's."""
    import hashlib

    import torch

    import engine.train as engine
    from core import threads
    from engine.features import NoCache, Sample
    from engine.recipes import recipe_for

    torch.set_num_threads(threads.cores())  # what a training worker sets (core/threads.py)
    started = time.perf_counter()
    if hasattr(engine, "warm_up"):
        engine.warm_up(recipe_for("General"))
    warm_up = time.perf_counter() - started
    print(f"engine only, {torch.get_num_threads()} threads; warm-up {warm_up:.2f} s")
    samples, rows = [], []
    for c, folder in enumerate(("Hemlock", "Japanese_Cherry")):
        for path in sorted((SAMPLES / folder).glob("*.jpg")):
            data = path.read_bytes()
            samples.append(Sample(hashlib.sha256(data).hexdigest(), lambda d=data: d))
            rows.append([float(c == 0), float(c == 1)])
    for run in range(runs):
        request = engine.TrainRequest(
            samples=samples,
            targets=torch.tensor(rows),
            tag_names=["Hemlock", "Japanese Cherry"],
            multilabel=False,
            recipe=recipe_for("General"),
        )
        started = time.perf_counter()
        result = engine.train(request, cache=NoCache())
        phases = getattr(result, "phases", {})
        print(
            f"  training {run + 1}: {time.perf_counter() - started:.2f} s; "
            + ", ".join(f"{name} {value:.2f}" for name, value in phases.items())
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grocery", action="store_true")
    parser.add_argument(
        "--advanced",
        type=float,
        nargs="?",
        const=150.0,
        default=0.0,
        metavar="SECONDS",
        help="also advanced training on grocery-store with this budget (default 150 s)",
    )
    parser.add_argument("--no-sample", action="store_true", help="skip the sample project")
    parser.add_argument(
        "--engine-only",
        action="store_true",
        help="the sample's photos trained by the engine in this process, three times",
    )
    args = parser.parse_args()
    if args.engine_only:
        engine_only()
        return
    with tempfile.TemporaryDirectory(prefix="cv-bench-") as tmp:
        data = Path(tmp)
        configure(data)
        if not args.no_sample:
            sample_project(data)
        if args.grocery or args.advanced:
            grocery(data, args.advanced)


if __name__ == "__main__":
    main()
