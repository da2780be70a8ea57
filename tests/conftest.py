from __future__ import annotations

import logging
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.test import Client

from projects.models import Project, Resource
from tests.factories import ProjectFactory, ResourceFactory, UserFactory

SAMPLES = Path(__file__).resolve().parents[1] / "samples" / "custom-vision-sample"


@pytest.fixture(autouse=True)
def media_storage(settings, tmp_path) -> Path:
    """Each test stores files in its own folder, and static files need no manifest."""
    location = tmp_path / "media"
    settings.CV_DATA_DIR = tmp_path  # feature cache and other runtime state
    settings.STORAGES = {
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": location},
        },
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    return location


@pytest.fixture(autouse=True)
def predictions_written_in_the_request(settings):
    """Tests read a kept prediction right after classifying, inside their own transaction,
    which the writer thread's connection can't see: the write-behind path has tests of its own
    (tests/prediction/test_keeping.py)."""
    settings.CV_PREDICTION_WRITE_BEHIND = False


class _ServerErrors(logging.Handler):
    """Collects the 500s answered while a test runs: the API's own log line for a bug of ours,
    and Django's for any page (its live servers run in this process's threads, so theirs too)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.seen: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.name == "api.endpoint" or getattr(record, "status_code", None) == 500:
            self.seen.append(record.getMessage())


@pytest.fixture(autouse=True)
def no_server_error(request):
    """Any 500 fails the test that caused it: a client's bad input is a 400 with Azure's code,
    and a 500 is a bug of ours that no test may pass over. A test that forces a bug on purpose
    to see it answered says so with `@pytest.mark.server_error`."""
    errors = _ServerErrors()
    loggers = [logging.getLogger("api.endpoint"), logging.getLogger("django.request")]
    for logger in loggers:
        logger.addHandler(errors)
    yield
    for logger in loggers:
        logger.removeHandler(errors)
    if errors.seen and request.node.get_closest_marker("server_error") is None:
        pytest.fail("The server answered 500: " + "; ".join(errors.seen[:3]), pytrace=False)


def stored_files(location: Path) -> list[Path]:
    return sorted(p for p in location.rglob("*") if p.is_file()) if location.exists() else []


@pytest.fixture
def alice(db) -> User:
    return UserFactory(username="alice")


@pytest.fixture
def bob(db) -> User:
    return UserFactory(username="bob")


@pytest.fixture
def resource(alice) -> Resource:
    return ResourceFactory(owner=alice)


@pytest.fixture
def project(alice, resource) -> Project:
    return ProjectFactory(owner=alice, resource=resource)


@pytest.fixture
def multilabel_project(alice, resource) -> Project:
    return ProjectFactory(
        owner=alice, resource=resource, classification_type=Project.ClassificationType.MULTILABEL
    )


@pytest.fixture
def alice_client(alice) -> Client:
    client = Client()
    client.force_login(alice)
    return client


@pytest.fixture
def bob_client(bob) -> Client:
    client = Client()
    client.force_login(bob)
    return client


@pytest.fixture
def sample_dir() -> Path:
    if not SAMPLES.is_dir():
        pytest.fail(f"The sample images are missing: {SAMPLES}")
    return SAMPLES


# Worker-process fixtures, shared by the training and browser tests.
# A loopback image server for URL tests (and the SSRF trap).
from tests.servers import allow_local, image_server  # noqa: E402, F401
from tests.workers import sample_project, start_worker  # noqa: E402, F401


@pytest.fixture
def trained(project):
    """A completed iteration of `project` (5 red, 5 blue synthetic photos), trained in-process."""
    from tests.training.test_services import add
    from training import services as training_services

    add(project, "red", 5, ["Red"])
    add(project, "blue", 5, ["Blue"])
    iteration = training_services.iteration_train_start(project=project)
    training_services.iteration_run(iteration_id=iteration.id, worker="test")
    iteration.refresh_from_db()
    assert iteration.is_completed, iteration.error
    return iteration
