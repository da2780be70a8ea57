"""Request bodies are refused by route before they are read, and the API's multipart parts
come out byte for byte at about one copy of the body."""

from __future__ import annotations

import base64
import os
import socket
import subprocess
import threading
import uuid
from pathlib import Path

import pytest
from urllib3 import encode_multipart_formdata

from api.multipart import MultipartError, boundary_of, parts
from portal.bodylimit import _Budget
from projects import services
from projects.models import Resource
from tests.servers import portal_process
from tests.workers import database_url
from training.models import Iteration

PREDICT = f"/customvision/v3.0/Prediction/{uuid.uuid4()}/classify/iterations/m/image"
TRAINING = f"/customvision/v3.3/training/projects/{uuid.uuid4()}"


def _post(client, path, size, **headers):
    return client.generic("POST", path, b"x" * size, "application/octet-stream", **headers)


def test_a_prediction_image_over_its_limit_is_refused_unread(client, settings, db):
    settings.CV_MAX_PREDICTION_IMAGE_BYTES = 100 * 1024
    response = _post(client, PREDICT, 200 * 1024, HTTP_PREDICTION_KEY="any")
    assert response.status_code == 400
    assert response.json()["code"] == "BadRequestImageSizeBytes"
    # Within the limit the body goes on to the view (which says the key is wrong).
    assert _post(client, PREDICT, 90 * 1024, HTTP_PREDICTION_KEY="x").status_code == 401


def test_each_route_has_its_own_limit(client, settings, db):
    settings.CV_MAX_REQUEST_BODY_BYTES = 512 * 1024
    settings.CV_MAX_FORM_BODY_BYTES = 32 * 1024
    batch = _post(client, f"{TRAINING}/images", 600 * 1024, HTTP_TRAINING_KEY="x")
    assert (batch.status_code, batch.json()["code"]) == (413, "BadRequestImageBatch")
    assert _post(client, f"{TRAINING}/images", 400 * 1024).status_code == 401
    tags = _post(client, f"{TRAINING}/tags", 40 * 1024, HTTP_TRAINING_KEY="x")
    assert (tags.status_code, tags.json()["code"]) == (413, "RequestEntityTooLarge")
    page = _post(client, "/signin/", 40 * 1024)
    assert page.status_code == 413 and b"larger than this route takes" in page.content


def test_the_portal_upload_takes_a_batch_of_images(alice_client, project, settings):
    settings.CV_MAX_IMAGES_PER_BATCH = 2
    settings.CV_MAX_IMAGE_BYTES = 64 * 1024
    path = f"/projects/{project.id}/images/upload/"
    assert _post(alice_client, path, 200 * 1024).status_code == 413
    assert _post(alice_client, path, 100 * 1024).status_code != 413


def test_bodies_in_memory_share_a_budget_per_process():
    budget = _Budget()
    assert budget.take(60, total=100, wait=0) == 60
    assert budget.take(50, total=100, wait=0.01) is None  # 40 left
    given = threading.Timer(0.05, budget.give, args=(60,))
    given.start()
    assert budget.take(50, total=100, wait=5) == 50  # once the first is done
    given.join()
    # One request larger than the whole budget still runs, alone.
    budget.give(50)
    assert budget.take(500, total=100, wait=0) == 100


def test_multipart_parts_are_the_bytes_sent():
    image = bytes(range(256)) * 40 + b"\r\n--not-the-boundary\r\n"
    body, content_type = encode_multipart_formdata(
        [("a", ("a.jpg", image, "image/jpeg")), ("b", image), ("c", ("c.png", b"\x89PNG"))]
    )
    boundary = boundary_of(content_type)
    assert boundary is not None
    assert parts(b"preamble\r\n" + body, boundary) == [
        ("a.jpg", image),
        ("image 2", image),
        ("c.png", b"\x89PNG"),
    ]
    encoded = (
        b"--B\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + base64.b64encode(image)
        + b"\r\n--B\r\n\r\nraw\r\n--B--\r\n"
    )
    assert parts(encoded, b"B") == [("image 1", image), ("image 2", b"raw")]


@pytest.mark.parametrize(
    "body",
    [b"no boundary here", b"--B\r\nContent-Type: x\r\n\r\nnever closed", b"--B\r\nbroken"],
)
def test_malformed_multipart_is_an_error(body):
    with pytest.raises(MultipartError):
        parts(body, b"B")


def test_boundaries_are_read_from_the_content_type():
    assert boundary_of('multipart/form-data; boundary="a b"') == b"a b"
    assert boundary_of("multipart/form-data") is None
    assert boundary_of("multipart/form-data; boundary=" + "x" * 500) is None


def _peak_kb(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("VmHWM")).split()[1])


def _send_huge(port: int, path: str, key: str, size: int) -> bytes:
    """Announce `size` bytes of multipart body, send as much as the server will take, and
    return the status line it answers with."""
    boundary = "b0undary"
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nPrediction-Key: {key}\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
        f"Content-Length: {size}\r\n\r\n--{boundary}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(head)
        chunk = b"\0" * (1024 * 1024)
        try:
            for _ in range(size // len(chunk)):
                sock.sendall(chunk)
        except OSError:
            pass  # the server answered and closed: what a refused body should get
        return sock.recv(4096).split(b"\r\n", 1)[0]


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_huge_multipart_bodies_add_nothing_to_a_web_worker(tmp_path, project):
    """The red team's attack: 99 MB multipart bodies at the prediction endpoint with a valid
    key for a published iteration, four at once. The web worker's peak memory hardly moves."""
    resource, keys = services.resource_create(
        owner=project.owner, name="p", kind=Resource.Kind.PREDICTION
    )
    Iteration.objects.create(
        project=project,
        name="Iteration 1",
        status=Iteration.Status.COMPLETED,
        domain_id=project.domain_id,
        publish_name="m",
        prediction_resource=resource,
    )
    path = f"/customvision/v3.0/Prediction/{project.id}/classify/iterations/m/image"
    env = dict(
        os.environ,
        CV_DATA_DIR=str(tmp_path),
        DATABASE_URL=database_url(),
        SECRET_KEY="x",
        PYTHONUNBUFFERED="1",
    )
    with portal_process(env, tmp_path / "gunicorn.log") as (_url, port):
        found = subprocess.run(
            ["pgrep", "-o", "-f", f"bind=127.0.0.1:{port}"], capture_output=True, check=True
        )
        master = int(found.stdout.split()[0])
        worker = int(Path(f"/proc/{master}/task/{master}/children").read_text().split()[0])
        before = _peak_kb(worker)
        answers: list[bytes] = []
        threads = [
            threading.Thread(
                target=lambda: answers.append(_send_huge(port, path, keys.key1, 99 << 20))
            )
            for _ in range(4)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert answers == [b"HTTP/1.1 400 Bad Request"] * 4
        assert _peak_kb(worker) - before < 30 * 1024
