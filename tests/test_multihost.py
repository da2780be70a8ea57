"""Workers on several hosts: a web process and two training workers, each with a data folder of
its own, sharing only PostgreSQL, Redis and an S3-compatible object store on loopback (moto's
server; MinIO or S3 in production). Everything goes through the official SDKs and the web
process: two projects train at once, one on each worker; a retrain on the other worker reuses
the features the first one cached in the bucket; both are published, predicted from and one
exported; and no process kept a file on its own disk.
"""

from __future__ import annotations

import http.client
import io
import json
import os
import signal
import time
import zipfile
from pathlib import Path
from types import SimpleNamespace

import boto3
import pytest
import requests
from azure.cognitiveservices.vision.customvision.prediction import CustomVisionPredictionClient
from azure.cognitiveservices.vision.customvision.training import CustomVisionTrainingClient
from azure.cognitiveservices.vision.customvision.training.models import (
    ImageFileCreateBatch,
    ImageFileCreateEntry,
)
from django.conf import settings
from moto.server import ThreadedMotoServer
from msrest.authentication import ApiKeyCredentials
from msrest.exceptions import HttpOperationError

from projects import services
from tests.servers import free_port, portal_process
from tests.workers import database_url
from training.models import Iteration

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples" / "custom-vision-sample"
GROCERY = ROOT / "tests" / "data" / "grocery"
BUCKET = "customvision"


@pytest.fixture
def s3():
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    env = {
        "CV_STORAGE": "s3",
        "AWS_STORAGE_BUCKET_NAME": BUCKET,
        "AWS_S3_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        "AWS_S3_REGION_NAME": "us-east-1",
        "AWS_ACCESS_KEY_ID": "multihost",
        "AWS_SECRET_ACCESS_KEY": "multihost-secret",
    }
    client = boto3.client(
        "s3",
        endpoint_url=env["AWS_S3_ENDPOINT_URL"],
        region_name=env["AWS_S3_REGION_NAME"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
    )
    client.create_bucket(Bucket=BUCKET)
    yield SimpleNamespace(env=env, client=client)
    server.stop()


def host_env(data: Path, s3_env: dict[str, str]) -> dict[str, str]:
    """What a host of this deployment is given: the shared services, and its own disk."""
    return {
        **os.environ,
        **s3_env,
        "CV_DATA_DIR": str(data),
        "DATABASE_URL": database_url(),
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "CELERY_RESULT_BACKEND": settings.CELERY_BROKER_URL,
        "SECRET_KEY": "multihost",
        "ALLOWED_HOSTS": "127.0.0.1",
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "CV_TORCH_THREADS": "1",  # two workers share this machine's two cores
        "PYTHONUNBUFFERED": "1",
    }


@pytest.fixture
def web(s3, tmp_path):
    data = tmp_path / "web-host"
    with portal_process(host_env(data, s3.env), tmp_path / "web.log") as (url, port):
        yield SimpleNamespace(url=url, data=data, port=port)


def wait_until_ready(*names: str, logs: Path, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not all(" ready." in (logs / f"{n}.log").read_text() for n in names):
        assert time.monotonic() < deadline, "\n".join(
            (logs / f"{n}.log").read_text()[-2000:] for n in names
        )
        time.sleep(0.5)


def wait_for(trainer, project_id, iteration_id, status: str, logs: Path, seconds: float = 420):
    deadline = time.monotonic() + seconds
    while True:
        iteration = trainer.get_iteration(project_id, iteration_id)
        if iteration.status == status:
            return iteration
        if time.monotonic() > deadline or iteration.status == "Failed":
            worker_logs = "\n".join(p.read_text()[-3000:] for p in logs.glob("*.log"))
            pytest.fail(f"{iteration.name} is {iteration.status}\n{worker_logs}")
        time.sleep(1)


def upload(trainer, project, folders: dict[str, Path]) -> None:
    for name, folder in folders.items():
        tag = trainer.create_tag(project.id, name)
        entries = [
            ImageFileCreateEntry(name=p.name, contents=p.read_bytes(), tag_ids=[tag.id])
            for p in sorted(folder.glob("*.jpg"))[:10]
        ]
        batch = trainer.create_images_from_files(project.id, ImageFileCreateBatch(images=entries))
        assert batch.is_batch_successful, [i.status for i in batch.images]


def kept_thumbnail(trainer, project_id, prediction_id) -> bytes:
    """A kept prediction's thumbnail: its row is written just after the answer."""
    deadline = time.monotonic() + 20
    while True:
        try:
            path = f"predictions/{prediction_id}/thumbnail"
            return b"".join(trainer.get_artifact(project_id, path))
        except HttpOperationError:  # a 404 until the row is written
            assert time.monotonic() < deadline, "the kept prediction never arrived"
            time.sleep(0.2)


def stored_keys(s3) -> list[str]:
    pages = s3.client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET)
    return [item["Key"] for page in pages for item in page.get("Contents", [])]


def files_on_disk(folder: Path) -> list[Path]:
    media = folder / "media"
    return [p for p in media.rglob("*") if p.is_file()] if media.exists() else []


def test_a_web_process_and_two_workers_share_nothing_but_services(
    s3, web, start_worker, alice, tmp_path
):
    _, training_keys = services.resource_create(owner=alice, name="train", kind="training")
    _, prediction_keys = services.resource_create(owner=alice, name="edge", kind="prediction")
    trainer = CustomVisionTrainingClient(
        web.url, ApiKeyCredentials(in_headers={"Training-key": training_keys.key1})
    )
    predictor = CustomVisionPredictionClient(
        web.url, ApiKeyCredentials(in_headers={"Prediction-key": prediction_keys.key1})
    )
    hosts = {name: tmp_path / f"{name}-host" for name in ("one", "two")}
    workers = {name: start_worker(name, **host_env(data, s3.env)) for name, data in hosts.items()}
    trees, groceries = _two_projects_uploaded(trainer)
    first, second, trained_by = _two_trainings_at_once(trainer, trees, groceries, tmp_path)
    again = _retrain_after_that_worker_goes(
        trainer, trees, first, trained_by, hosts, workers, tmp_path
    )
    tree_answer, carrot = _publish_and_predict(trainer, predictor, trees, groceries, again, second)
    _thumbnails_from_the_bucket(trainer, trees, tree_answer, training_keys)
    _export_built_by_the_remaining_worker(trainer, groceries, second)
    _a_wrong_key_keeps_the_connection_usable(web, groceries, carrot, prediction_keys)
    _every_file_in_the_bucket_none_on_disk(s3, web, hosts, trees)


def _two_projects_uploaded(trainer):
    trees = trainer.create_project("Trees")
    upload(
        trainer,
        trees,
        {"Hemlock": SAMPLES / "Hemlock", "Japanese Cherry": SAMPLES / "Japanese_Cherry"},
    )
    groceries = trainer.create_project("Groceries")
    upload(trainer, groceries, {"Carrots": GROCERY / "Carrots", "Orange": GROCERY / "Orange"})
    return trees, groceries


def _two_trainings_at_once(trainer, trees, groceries, logs):
    """Two trainings at once: the first is taken by one worker (which, acking late with a
    prefetch of one, holds no other message), so the second goes to the other."""
    wait_until_ready("one", "two", logs=logs)
    first = trainer.train_project(trees.id)
    wait_for(trainer, trees.id, first.id, "Training", logs, seconds=120)
    second = trainer.train_project(groceries.id)
    wait_for(trainer, trees.id, first.id, "Completed", logs)
    wait_for(trainer, groceries.id, second.id, "Completed", logs)
    trained_by = {
        str(i.id): i.worker for i in Iteration.objects.filter(pk__in=[first.id, second.id])
    }
    assert len(set(trained_by.values())) == 2, trained_by
    return first, second, trained_by


def _retrain_after_that_worker_goes(trainer, trees, first, trained_by, hosts, workers, logs):
    """The worker that trained the trees goes away; a retrain lands on the other host, which
    never saw those images, and reuses every feature the first one kept in the bucket."""
    gone = next(n for n in hosts if trained_by[str(first.id)].startswith(f"{n}-"))
    os.killpg(workers[gone].pid, signal.SIGTERM)
    workers[gone].wait(timeout=60)
    again = trainer.train_project(trees.id, force_train=True)
    wait_for(trainer, trees.id, again.id, "Completed", logs)
    retrained = Iteration.objects.get(pk=again.id)
    assert not retrained.worker.startswith(f"{gone}-")
    assert retrained.details["features_reused"] == 20
    return again


def _publish_and_predict(trainer, predictor, trees, groceries, again, second):
    """Through the web process, which loads both models from the bucket."""
    arm = "/subscriptions/x/resourceGroups/y/providers/Microsoft.CognitiveServices/accounts/edge"
    trainer.publish_iteration(trees.id, again.id, "trees", arm)
    trainer.publish_iteration(groceries.id, second.id, "groceries", arm)
    test_photo = (SAMPLES / "Test" / "test_image.jpg").read_bytes()
    tree_answer = predictor.classify_image(trees.id, "trees", test_photo)
    assert {p.tag_name for p in tree_answer.predictions} == {"Hemlock", "Japanese Cherry"}
    carrot = sorted((GROCERY / "Carrots").iterdir())[-1].read_bytes()  # not trained on
    grocery_answer = predictor.classify_image_with_no_store(groceries.id, "groceries", carrot)
    assert grocery_answer.predictions[0].tag_name == "Carrots"
    return tree_answer, carrot


def _thumbnails_from_the_bucket(trainer, trees, tree_answer, training_keys):
    """A kept prediction's thumbnail and a training image's, made and served from the bucket."""
    image = trainer.get_tagged_images(trees.id, take=1)[0]
    thumb = requests.get(
        image.thumbnail_uri, headers={"Training-key": training_keys.key1}, timeout=60
    )
    assert thumb.status_code == 200 and thumb.content[:2] == b"\xff\xd8"
    assert kept_thumbnail(trainer, trees.id, tree_answer.id)[:2] == b"\xff\xd8"


def _export_built_by_the_remaining_worker(trainer, groceries, second):
    """Built by the worker still running and downloaded from the web process."""
    trainer.export_iteration(groceries.id, second.id, "ONNX")
    deadline = time.monotonic() + 180
    while (export := trainer.get_exports(groceries.id, second.id)[0]).status == "Exporting":
        assert time.monotonic() < deadline, "the export did not finish"
        time.sleep(1)
    assert export.status == "Done", export
    with zipfile.ZipFile(io.BytesIO(requests.get(export.download_uri, timeout=60).content)) as zf:
        assert {"model.onnx", "labels.txt"} <= set(zf.namelist())


def _a_wrong_key_keeps_the_connection_usable(web, groceries, carrot, prediction_keys):
    """A wrong key on an upload is answered, and the kept-alive connection stays usable."""
    connection = http.client.HTTPConnection("127.0.0.1", web.port, timeout=60)
    path = f"/customvision/v3.0/Prediction/{groceries.id}/classify/iterations/groceries/image"
    for key, status in (("wrong", 401), (prediction_keys.key1, 200)):
        connection.request("POST", f"{path}/nostore", body=carrot, headers={"Prediction-Key": key})
        response = connection.getresponse()
        assert response.status == status, response.read()[:300]
        json.loads(response.read())


def _every_file_in_the_bucket_none_on_disk(s3, web, hosts, trees):
    """Every file is in the bucket, and none on any host's disk."""
    keys = stored_keys(s3)
    for root in ("images/", "predictions/", "models/", "exports/", "features/"):
        assert any(k.startswith(root) for k in keys), (root, keys[:20])
    assert sum(k.startswith(f"features/{trees.id}/") for k in keys) == 20
    for folder in (web.data, *hosts.values()):
        assert files_on_disk(folder) == [], folder
