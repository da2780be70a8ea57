"""What a red team did through Import from Azure, replayed: SSRF to loopback in every
spelling (and the `#` path trick), banners read back through error messages, the training key
sent to image hosts and redirect targets, a listing run inside the web request, one user's
imports starving everyone's, a source that pages for ever.

A fake Custom Vision account on loopback plays the remote: it answers the Training API and
records each request with the `Training-Key` it carried."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import StringIO
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.db import IntegrityError, transaction
from django.urls import reverse

from portal.celery import app as celery_app
from projects.models import AzureImport, Image
from projects.services import azure_import, azure_listing
from tests.training.synthetic import photo

API = "/customvision/v3.3/training"
PROJECT = "2b1d9f7e-5c1a-4a4e-9d55-1f0c2f0d3a11"
TAG = "7c0e3f52-9a3b-4d41-8f8e-3b6f5c2d1e22"
# Azure's projects always say their domain (General, classification): without one, a project's
# type is unknown and importazure leaves it out, saying so.
SETTINGS = {"classificationType": "Multiclass", "domainId": "ee85a74c-405e-4adc-bb47-ffa8ca0c9f31"}
BANNER = "SSH-2.0-OpenSSH_9.6 secret-banner-4711"
KEY = "k" * 32


@dataclass
class Seen:
    path: str
    key: str | None


@dataclass
class FakeAccount:
    """One Multiclass project whose tagged images are `images` (dicts as the API gives them);
    `files` are served at their paths; `tagged_count` is what the count call reports."""

    host: str = "127.0.0.1"
    port: int = 0
    images: list[dict[str, object]] = field(default_factory=list)
    tagged_count: int | None = None
    files: dict[str, bytes] = field(default_factory=dict)
    redirects: dict[str, str] = field(default_factory=dict)
    pages: Callable[[int, int], list[dict[str, object]]] | None = None  # (skip, take) → page
    count_answer: object = None
    seen: list[Seen] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def keys_at(self, prefix: str) -> list[str | None]:
        return [s.key for s in self.seen if s.path.startswith(prefix)]

    def answer(self, path: str, query: dict[str, list[str]]) -> tuple[int, str, bytes]:
        project = f"{API}/projects/{PROJECT}"
        if path in self.redirects:
            return 302, self.redirects[path], b""
        if path in self.files:
            return 200, "image/jpeg", self.files[path]
        if path == f"{API}/projects":
            body: object = [
                {
                    "id": PROJECT,
                    "name": "Garden",
                    "description": "",
                    "settings": SETTINGS,
                }
            ]
        elif path == project:
            body = {"id": PROJECT, "name": "Garden"}
        elif path == f"{project}/tags":
            body = [{"id": TAG, "name": "Rose", "type": "Regular"}]
        elif path == f"{project}/images/tagged/count":
            count = len(self.images) if self.tagged_count is None else self.tagged_count
            body = count if self.count_answer is None else self.count_answer
        elif path == f"{project}/images/untagged/count":
            body = 0
        elif path == f"{project}/images/tagged":
            skip, take = int(query["skip"][0]), int(query["take"][0])
            body = self.pages(skip, take) if self.pages else self.images[skip : skip + take]
        elif path in (f"{project}/images/untagged", f"{project}/iterations"):
            body = []
        else:
            return 404, "application/json", b'{"code": "NotFound"}'
        return 200, "application/json", json.dumps(body).encode()


@contextlib.contextmanager
def serving(account: FakeAccount) -> Iterator[FakeAccount]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            account.seen.append(Seen(parts.path, self.headers.get("Training-Key")))
            status, kind, body = account.answer(parts.path, parse_qs(parts.query))
            self.send_response(status)
            if status == 302:
                self.send_header("Location", kind)
            else:
                self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer((account.host, 0), Handler)
    server.daemon_threads = True
    account.port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield account
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def trap() -> Iterator[FakeAccount]:
    """A Custom Vision look-alike on loopback that must never hear from the portal."""
    with serving(FakeAccount()) as account:
        yield account


@pytest.fixture
def banner() -> Iterator[int]:
    """A loopback port that answers like sshd: its greeting, then nothing."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def greet() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn:
                conn.sendall(BANNER.encode() + b"\r\n")

    thread = threading.Thread(target=greet, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join()
    listener.close()


@pytest.fixture
def eager(monkeypatch):
    """Queued jobs (the listing, the import) run as soon as their transaction commits, as the
    imports worker would take them."""
    monkeypatch.setitem(celery_app.conf, "task_always_eager", True)


@pytest.fixture
def operator_allows_loopback(settings):
    settings.CV_AZURE_IMPORT_ALLOW = ["127.0.0.1/32"]


def list_in_portal(client, capture, endpoint: str, key: str = KEY):
    """Press List projects, let the worker list, and come back to the page."""
    url = reverse("projects:azure_import")
    with capture(execute=True):
        posted = client.post(url, {"step": "list", "endpoint": endpoint, "key": key})
    return posted, client.get(url)


def spellings(port: int) -> list[str]:
    return [
        f"http://127.0.0.1:{port}",
        f"http://127.0.0.1:{port}/admin/secret?q=1#",  # the path trick
        f"http://localhost:{port}/",
        f"HTTP://LOCALHOST:{port}",
        f"http://[::ffff:127.0.0.1]:{port}",
        f"http://[::ffff:7f00:1]:{port}",
        f"http://127.1:{port}",
        f"http://0x7f000001:{port}",
        f"http://2130706433:{port}",
        f"http://0177.0.0.1:{port}",
        f"http://0:{port}",
    ]


# --- 1. SSRF ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_no_spelling_of_loopback_reaches_a_listener_through_the_portal_listing(
    alice_client, trap, eager, django_capture_on_commit_callbacks
):
    for endpoint in spellings(trap.port):
        _posted, page = list_in_portal(alice_client, django_capture_on_commit_callbacks, endpoint)
        assert "Garden" not in page.content.decode(), endpoint
    assert trap.seen == []


@pytest.mark.django_db
def test_no_spelling_of_loopback_reaches_a_listener_through_an_import_job(alice, trap):
    for endpoint in spellings(trap.port):
        try:
            job = azure_import.azure_import_create(owner=alice, endpoint=endpoint, key=KEY)
        except ValidationError:
            continue  # refused when asked: fine
        job = azure_import.azure_import_run(job_id=job.id)
        assert job.status == "Failed", endpoint
    assert trap.seen == []
    assert not Image.objects.exists()


@pytest.mark.django_db
def test_a_name_that_resolves_to_loopback_reaches_nothing(
    alice_client, alice, trap, eager, monkeypatch, settings, django_capture_on_commit_callbacks
):
    """Checked on what the name resolves to, by the worker; and trusting a network for image
    URLs (CV_URL_FETCH_ALLOW) is not trusting it for imports."""
    from core import urlfetch

    settings.CV_URL_FETCH_ALLOW = ["127.0.0.1/32"]
    real = socket.getaddrinfo

    def resolve(host, port, *args, **kwargs):
        if host != "cv.attacker.example":
            return real(host, port, *args, **kwargs)
        if kwargs.get("flags", 0) & socket.AI_NUMERICHOST:
            raise socket.gaierror(socket.EAI_NONAME, "not a number")
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]

    monkeypatch.setattr(urlfetch.socket, "getaddrinfo", resolve)
    endpoint = f"http://cv.attacker.example:{trap.port}"
    _posted, page = list_in_portal(alice_client, django_capture_on_commit_callbacks, endpoint)
    assert "not on a public address" in page.content.decode()
    job = azure_import.azure_import_create(owner=alice, endpoint=endpoint, key=KEY)
    assert azure_import.azure_import_run(job_id=job.id).status == "Failed"
    assert trap.seen == []


@pytest.mark.django_db
def test_the_path_trick_is_a_form_error_not_a_request(
    alice_client, trap, operator_allows_loopback, django_capture_on_commit_callbacks
):
    """Even where the operator allows the address, an endpoint is a base URL only."""
    for tail in ("/admin/secret?q=1#", "/admin", "/?q=1", "/#x", "/customvision/v3.3/training"):
        posted, _page = list_in_portal(
            alice_client, django_capture_on_commit_callbacks, trap.url + tail
        )
        assert posted.status_code == 400, tail
        assert "base URL" in posted.content.decode()
    userinfo = f"http://user:pw@127.0.0.1:{trap.port}"
    posted, _page = list_in_portal(alice_client, django_capture_on_commit_callbacks, userinfo)
    assert posted.status_code == 400
    assert trap.seen == []


@pytest.mark.django_db
def test_image_links_on_loopback_are_not_fetched_for_a_public_endpoint(alice, monkeypatch, trap):
    """The endpoint is public; the images it lists point at a loopback port: refused."""
    from projects.azure import client

    trap.files["/secret.png"] = photo("red", seed=1)
    listing = [{"id": str(uuid.uuid4()), "originalImageUri": trap.url + "/secret.png",
                "tags": [{"tagId": TAG}]}]  # fmt: skip
    public = "https://cv.example.com"

    def fake_json(self, path, query=None):
        return {
            "projects": [{"id": PROJECT, "name": "Garden", "settings": SETTINGS}],
            f"projects/{PROJECT}/tags": [{"id": TAG, "name": "Rose"}],
            f"projects/{PROJECT}/images/tagged/count": 1,
            f"projects/{PROJECT}/images/untagged/count": 0,
            f"projects/{PROJECT}/images/tagged": listing if not (query or {}).get("skip") else [],
            f"projects/{PROJECT}/images/untagged": [],
            f"projects/{PROJECT}/iterations": [],
        }[path]

    monkeypatch.setattr(client.AzureTrainingSource, "_json", fake_json)
    job = azure_import.azure_import_create(owner=alice, endpoint=public, key=KEY)
    job = azure_import.azure_import_run(job_id=job.id)
    assert job.summary["failure_count"] == 1
    assert trap.seen == [] and not Image.objects.exists()


# --- 3. The key goes to the endpoint only -------------------------------------------------


def account_with_foreign_links(home: FakeAccount, other: FakeAccount) -> None:
    """Three images: one on the endpoint itself (as this server lists them), one on another
    port of the same host, one on the endpoint that redirects to that other port."""
    home.files["/own.jpg"] = photo("red", seed=1)
    other.files["/elsewhere.jpg"] = photo("blue", seed=2)
    other.files["/moved.jpg"] = photo("green", seed=3)
    home.redirects["/redirect.jpg"] = other.url + "/moved.jpg"
    home.images = [
        {"id": str(uuid.uuid4()), "originalImageUri": uri, "tags": [{"tagId": TAG}]}
        for uri in (home.url + "/own.jpg", other.url + "/elsewhere.jpg", home.url + "/redirect.jpg")
    ]


@pytest.mark.django_db
def test_the_command_sends_the_key_to_the_endpoint_only_never_to_image_hosts(alice):
    with serving(FakeAccount()) as home, serving(FakeAccount()) as other:
        account_with_foreign_links(home, other)
        out = StringIO()
        call_command(
            "importazure",
            endpoint=home.url,
            training_key=KEY,
            all=True,
            owner="alice",
            inline=True,
            stdout=out,
        )
    assert other.seen, "the image host was asked (without the key)"
    assert other.keys_at("/") == [None] * len(other.seen)
    assert home.keys_at(API) and set(home.keys_at(API)) == {KEY}
    assert home.keys_at("/own.jpg") == [KEY]  # the endpoint's own image links keep working
    assert Image.objects.count() == 3


@pytest.mark.django_db
def test_the_portal_import_sends_the_key_to_the_endpoint_only(
    alice, operator_allows_loopback, django_capture_on_commit_callbacks
):
    with serving(FakeAccount()) as home, serving(FakeAccount()) as other:
        account_with_foreign_links(home, other)
        job = azure_import.azure_import_create(owner=alice, endpoint=home.url, key=KEY)
        job = azure_import.azure_import_run(job_id=job.id)
    assert job.status == "Completed", job.error
    assert other.seen and other.keys_at("/") == [None] * len(other.seen)
    assert home.keys_at("/own.jpg") == [KEY]


# --- Banners and remote text stay out of what users see ------------------------------------


@pytest.mark.django_db
def test_a_banner_is_not_shown_by_the_listing(
    alice_client, banner, eager, operator_allows_loopback, django_capture_on_commit_callbacks
):
    posted, page = list_in_portal(
        alice_client, django_capture_on_commit_callbacks, f"http://127.0.0.1:{banner}"
    )
    text = posted.content.decode() + page.content.decode()
    assert "OpenSSH" not in text and "secret-banner" not in text
    assert "did not answer like a Custom Vision endpoint" in text


@pytest.mark.django_db
def test_a_banner_is_not_in_a_job_error(alice, banner):
    with pytest.raises(CommandError) as info:
        call_command(
            "importazure",
            endpoint=f"http://127.0.0.1:{banner}",
            training_key=KEY,
            all=True,
            owner="alice",
            inline=True,
            stdout=StringIO(),
        )
    job = AzureImport.objects.get()
    assert job.status == "Failed"
    for text in (str(info.value), job.error, job.phase):
        assert "OpenSSH" not in text and "secret-banner" not in text


@pytest.mark.django_db
def test_remote_text_in_an_answer_is_not_in_a_job_error(alice):
    with serving(FakeAccount(count_answer=BANNER)) as home, pytest.raises(CommandError):
        call_command(
            "importazure",
            endpoint=home.url,
            training_key=KEY,
            all=True,
            owner="alice",
            inline=True,
            stdout=StringIO(),
        )
    job = AzureImport.objects.get()
    assert "secret-banner" not in job.error
    assert "did not answer like a Custom Vision endpoint" in job.error


# --- 2. The listing runs off the web request -----------------------------------------------


@pytest.mark.django_db
def test_the_listing_does_not_run_inside_the_web_request(
    alice_client, operator_allows_loopback, django_capture_on_commit_callbacks, trap, eager
):
    url = reverse("projects:azure_import")
    with django_capture_on_commit_callbacks(execute=False) as queued:
        posted = alice_client.post(url, {"step": "list", "endpoint": trap.url, "key": KEY})
    assert trap.seen == []  # the request itself talked to nobody
    assert posted.status_code in (302, 303)
    waiting = alice_client.get(url).content.decode()
    assert "Listing projects" in waiting and "Import selected projects" not in waiting
    for callback in queued:  # the worker takes it
        callback()
    assert trap.seen
    assert "Garden" in alice_client.get(url).content.decode()


# --- The page forgets a listing -----------------------------------------------------------


@pytest.mark.django_db
def test_a_failed_listing_for_a_new_endpoint_forgets_the_old_projects(
    alice_client, alice, banner, eager, operator_allows_loopback, trap,
    django_capture_on_commit_callbacks,
):  # fmt: skip
    _posted, page = list_in_portal(alice_client, django_capture_on_commit_callbacks, trap.url)
    assert "Garden" in page.content.decode() and "Import selected projects" in page.content.decode()
    _posted, page = list_in_portal(
        alice_client, django_capture_on_commit_callbacks, f"http://127.0.0.1:{banner}"
    )
    text = page.content.decode()
    assert "Garden" not in text and 'type="checkbox"' not in text
    # Import is there, disabled: nothing of the previous account can be picked.
    assert text.count("Import selected projects") == text.count("disabled aria-describedby") == 1
    url = reverse("projects:azure_import")
    with django_capture_on_commit_callbacks(execute=False):
        alice_client.post(url, {"step": "import", "projects": [PROJECT]})
    assert not AzureImport.objects.exists()


# --- 8. Fairness --------------------------------------------------------------------------


@pytest.mark.django_db
def test_one_import_per_user_at_a_time(alice, bob, django_capture_on_commit_callbacks):
    endpoint = "https://cv.example.com"
    with django_capture_on_commit_callbacks(execute=False):
        azure_import.azure_import_start(owner=alice, endpoint=endpoint, key=KEY)
        with pytest.raises(ValidationError, match="already"):
            azure_import.azure_import_start(owner=alice, endpoint=endpoint, key=KEY)
        azure_import.azure_import_start(owner=bob, endpoint=endpoint, key=KEY)  # others may
    assert AzureImport.objects.filter(owner=alice).count() == 1


@pytest.mark.django_db(transaction=True)
def test_the_database_refuses_a_second_active_import_for_a_user(alice):
    """Race-safe: two requests that both checked first still can't both insert."""
    AzureImport.objects.create(owner=alice, endpoint="https://a.example", status="Running")
    with pytest.raises(IntegrityError), transaction.atomic():
        AzureImport.objects.create(owner=alice, endpoint="https://b.example", status="Queued")
    AzureImport.objects.create(owner=alice, endpoint="https://c.example", status="Failed")


@pytest.mark.django_db
def test_a_source_that_never_stops_paging_is_stopped(alice):
    """It reports 3 images, then sends full pages of new ones for ever (here: 20 pages)."""
    asked: list[int] = []

    def endless(skip: int, take: int) -> list[dict[str, object]]:
        asked.append(skip)
        if len(asked) > 20:
            return []
        return [{"id": str(uuid.uuid4()), "tags": [{"tagId": TAG}]} for _ in range(take)]

    with serving(FakeAccount(tagged_count=3, pages=endless)) as home:
        call_command(
            "importazure",
            endpoint=home.url,
            training_key=KEY,
            all=True,
            owner="alice",
            inline=True,
            stdout=StringIO(),
        )
    assert len(asked) <= 3
    job = AzureImport.objects.get()
    assert job.status == "Completed"
    assert any("kept sending" in note for note in job.summary["notes"])


@pytest.mark.django_db
def test_an_import_past_its_time_limit_fails_saying_it_can_be_resumed(alice, settings):
    settings.CV_IMPORT_TIME_LIMIT_SECONDS = 0
    with serving(FakeAccount()) as home:
        account_with_foreign_links(home, home)
        with pytest.raises(CommandError):
            call_command(
                "importazure",
                endpoint=home.url,
                training_key=KEY,
                all=True,
                owner="alice",
                inline=True,
                stdout=StringIO(),
            )
    job = AzureImport.objects.get()
    assert job.status == "Failed" and job.key_encrypted == ""
    assert "time limit" in job.error and "continues where it stopped" in job.error


@pytest.mark.django_db
def test_a_listing_has_a_total_time_budget(alice, settings, operator_allows_loopback, trap):
    settings.CV_AZURE_LISTING_TIMEOUT_SECONDS = 0  # spent before the first request
    listing = azure_listing.azure_listing_start(owner=alice, endpoint=trap.url, key=KEY)
    listing = azure_listing.azure_listing_run(listing_id=listing.id)
    assert listing is not None and listing.status == "Failed"
    assert "took longer than 0 seconds" in listing.error and listing.key_encrypted == ""
    assert trap.seen == []


@pytest.mark.django_db
def test_listings_a_worker_never_finished_fail_and_old_ones_are_forgotten(alice, bob):
    from datetime import timedelta

    from django.utils import timezone

    from projects.models import AzureListing

    long_ago = timezone.now() - timedelta(hours=1)
    stuck = AzureListing.objects.create(
        owner=alice, endpoint="https://a.example", key_encrypted="x", status="Running"
    )
    AzureListing.objects.filter(pk=stuck.pk).update(started_at=long_ago, created_at=long_ago)
    old = AzureListing.objects.create(owner=bob, endpoint="https://b.example", status="Completed")
    AzureListing.objects.filter(pk=old.pk).update(created_at=long_ago - timedelta(days=1))
    assert azure_listing.azure_listings_sweep() == 2
    stuck.refresh_from_db()
    assert stuck.status == "Failed" and stuck.key_encrypted == "" and "again" in stuck.error
    assert not AzureListing.objects.filter(pk=old.pk).exists()


@pytest.mark.django_db
def test_the_command_may_name_a_loopback_host_but_only_as_a_base_url(alice):
    with serving(FakeAccount()) as home:
        for endpoint in (home.url + "/admin/secret?q=1#", home.url + "/admin", f"{home.url}/#"):
            with pytest.raises(CommandError, match="base URL"):
                call_command(
                    "importazure",
                    endpoint=endpoint,
                    training_key=KEY,
                    all=True,
                    owner="alice",
                    inline=True,
                    stdout=StringIO(),
                )
        assert home.seen == []
        call_command(
            "importazure",
            endpoint=home.url + "/",
            training_key=KEY,
            all=True,
            owner="alice",
            inline=True,
            stdout=StringIO(),
        )
    assert AzureImport.objects.get().status == "Completed"
    assert home.keys_at(API) and set(home.keys_at(API)) == {KEY}
