"""A tiny HTTP server on a loopback address that serves given bytes and counts requests: the
"internet" for URL tests (images from URLs, classify URL) and the trap for SSRF tests."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Page:
    body: bytes = b""
    status: int = 200
    content_type: str = "image/jpeg"
    location: str = ""  # a redirect when set
    delay: float = 0.0
    send_length: bool = True


@dataclass
class ImageServer:
    host: str
    port: int
    pages: dict[str, Page] = field(default_factory=dict)
    hits: list[str] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)  # of each request, in order

    def url(self, path: str) -> str:
        return f"http://{self.host}:{self.port}{path}"

    def serve(self, path: str, body: bytes = b"", **page: object) -> str:
        self.pages[path] = Page(body=body, **page)  # type: ignore[arg-type]
        return self.url(path)


def start_server(host: str = "127.0.0.1") -> tuple[ImageServer, ThreadingHTTPServer]:
    state = ImageServer(host, 0)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"

        def do_GET(self) -> None:
            state.hits.append(self.path)
            state.headers.append(dict(self.headers))
            page = state.pages.get(self.path)
            if page is None:
                self.send_error(404)
                return
            time.sleep(page.delay)
            self.send_response(page.status)
            if page.location:
                self.send_header("Location", page.location)
            self.send_header("Content-Type", page.content_type)
            if page.send_length:
                self.send_header("Content-Length", str(len(page.body)))
            self.end_headers()
            # The client may stop reading: a size cap doing its job.
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(page.body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer((host, 0), Handler)
    server.daemon_threads = True
    state.port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return state, server


@pytest.fixture
def image_server() -> Iterator[ImageServer]:
    """A server on 127.0.0.1. Tests that should reach it allow-list 127.0.0.1 themselves."""
    state, server = start_server()
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture
def allow_local(settings) -> None:
    settings.CV_URL_FETCH_ALLOW = ["127.0.0.1/32"]


def wait_until_answering(
    url: str,
    process: subprocess.Popen[bytes],
    output: Callable[[], str],
    failure: str,
    seconds: float = 90,
) -> None:
    """Wait for a server `process` to answer `url` (any status); fail with its output if it
    stops, or with `failure` if it takes longer than `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            requests.get(url, timeout=30)
            return
        except requests.RequestException:
            assert process.poll() is None, output()
            assert time.monotonic() < deadline, failure
            time.sleep(0.3)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Portal:
    """A portal served by gunicorn in a process of its own."""

    url: str
    port: int
    master: subprocess.Popen[bytes]

    def worker_pids(self) -> set[int]:
        """The master's worker processes now."""
        children = Path(f"/proc/{self.master.pid}/task/{self.master.pid}/children")
        try:
            return {int(pid) for pid in children.read_text().split()}
        except FileNotFoundError:  # the master is gone
            return set()


@contextlib.contextmanager
def portal_server(env: dict[str, str], log: Path, *, workers: int = 1) -> Iterator[Portal]:
    """This portal under gunicorn in a process of its own, as `make run` serves it (`workers`
    of four threads): yields it once it answers."""
    port = free_port()
    with log.open("w") as out:
        server = subprocess.Popen(
            [
                str(Path(sys.executable).with_name("gunicorn")),
                "portal.wsgi",
                f"--bind=127.0.0.1:{port}",
                f"--workers={workers}",
                "--threads=4",
                "--log-level=warning",
            ],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            # Its own process group: a test that kills the master can still end its workers.
            start_new_session=True,
        )
        portal = Portal(f"http://127.0.0.1:{port}", port, server)
        try:
            wait_until_answering(
                f"{portal.url}/customvision/v3.3/training/projects",
                server,
                lambda: log.read_text()[-3000:],
                "the portal did not start",
            )
            yield portal
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)


@contextlib.contextmanager
def portal_process(env: dict[str, str], log: Path) -> Iterator[tuple[str, int]]:
    """This portal under gunicorn in a process of its own, as `make run` serves it (one
    worker): yields its base URL and port once it answers."""
    with portal_server(env, log) as portal:
        yield portal.url, portal.port
