"""Prediction benchmark (not a test: timings on this shared machine are noisy).

Trains the sample project (20 photos) in-process, publishes it, then times the Prediction API
as a client sees it, through Django's full request stack (key check, multipart parsing, image
checks, model, JSON), and Suggested tags over untagged images:

  * classify image (store / nostore): first call (model load) and the median of 20;
  * classify image URL from a local server (allow-listed) through the SSRF-safe fetcher;
  * suggested tags for 10 untagged photos: first pass (computes), second pass (stored).

    .venv/bin/python bench/predict.py
"""

from __future__ import annotations

import io
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples" / "custom-vision-sample"
sys.path.insert(0, str(ROOT))


def main() -> None:
    data = Path(tempfile.mkdtemp(prefix="cv-bench-predict-"))
    os.environ.update(
        {
            "CV_DATA_DIR": str(data),
            "SECRET_KEY": "bench",
            "DATABASE_URL": f"sqlite:///{data}/db",
            "DJANGO_SETTINGS_MODULE": "portal.settings",
            "CV_URL_FETCH_ALLOW": "127.0.0.1/32",
            "ALLOWED_HOSTS": "testserver",
        }
    )
    import django
    from PIL import Image as PILImage

    django.setup()
    from django.core.management import call_command
    from django.test import Client

    call_command("migrate", verbosity=0)
    from django.contrib.auth.models import User

    from prediction import services as prediction_services
    from projects import services
    from projects.models import Image
    from projects.services import ImageUpload
    from tests.servers import start_server
    from training import services as training_services

    owner = User.objects.create_user("bench")
    resource, _ = services.resource_create(owner=owner, name="t", kind="training")
    target, keys = services.resource_create(owner=owner, name="p", kind="prediction")
    project = services.project_create(owner=owner, resource=resource, name="Trees")
    for folder, tag in (("Hemlock", "Hemlock"), ("Japanese_Cherry", "Japanese Cherry")):
        [t] = services.tags_get_or_create(project=project, names=[tag])
        uploads = [
            ImageUpload(name=p.name, data=p.read_bytes())
            for p in sorted((SAMPLES / folder).glob("*.jpg"))
        ]
        services.images_create(project=project, uploads=uploads, tag_ids=[t.id])
    iteration = training_services.iteration_train_start(project=project)
    started = time.perf_counter()
    training_services.iteration_run(iteration_id=iteration.id, worker="bench")
    print(f"train sample project in-process: {time.perf_counter() - started:.1f} s")
    iteration.refresh_from_db()
    training_services.iteration_publish(
        iteration=iteration, publish_name="m", prediction_resource=target
    )

    photo = (SAMPLES / "Test" / "test_image.jpg").read_bytes()
    client = Client()
    root = f"/customvision/v3.0/Prediction/{project.id}/classify/iterations/m"
    headers = {"HTTP_PREDICTION_KEY": keys.key1}

    def call(path: str, **kwargs: object) -> float:
        t0 = time.perf_counter()
        response = client.post(f"{root}/{path}", **kwargs, **headers)  # type: ignore[arg-type]
        assert response.status_code == 200, response.content
        return (time.perf_counter() - t0) * 1000

    octet = {"data": photo, "content_type": "application/octet-stream"}
    print(f"classify image, first call (loads the model): {call('image', **octet):.0f} ms")
    for path in ("image", "image/nostore"):
        times = [call(path, **octet) for _ in range(20)]
        print(f"classify {path}: median {statistics.median(times):.0f} ms over 20")

    state, server = start_server()
    url = state.serve("/test.jpg", photo)
    body = {"data": f'{{"url": "{url}"}}', "content_type": "application/json"}
    times = [call("url/nostore", **body) for _ in range(20)]
    print(f"classify url/nostore (local server): median {statistics.median(times):.0f} ms")
    server.shutdown()

    cherries = sorted((SAMPLES / "Japanese_Cherry").glob("*.jpg"))
    uploads = []
    for i, path in enumerate(cherries):
        out = io.BytesIO()
        PILImage.open(path).rotate(3 + i).save(out, "JPEG")
        uploads.append(ImageUpload(name=path.name, data=out.getvalue()))
    services.images_create(project=project, uploads=uploads)
    untagged = Image.objects.filter(project=project, image_tags__isnull=True).count()
    for label in ("first pass (computes)", "second pass (stored)"):
        t0 = time.perf_counter()
        found, _pending = prediction_services.suggested_untagged(
            project=project, iteration=iteration
        )
        print(
            f"suggested tags, {untagged} untagged, {label}: "
            f"{(time.perf_counter() - t0) * 1000:.0f} ms; top: {found[0].predictions[0]['tagName']}"
        )


if __name__ == "__main__":
    main()
