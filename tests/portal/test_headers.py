"""Content-Security-Policy without unsafe-inline, and no-store on signed-in pages."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"


def test_every_page_forbids_inline_script_and_style(client, alice_client, project):
    for response in (
        client.get(reverse("login")),
        alice_client.get(reverse("projects:list")),
        alice_client.get(reverse("projects:images", args=[project.id])),
    ):
        policy = response["Content-Security-Policy"]
        assert "script-src 'self'" in policy and "style-src 'self'" in policy
        assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
        assert "frame-ancestors 'none'" in policy


def test_no_template_carries_inline_script_or_style():
    """What the policy would block must not be in the pages in the first place."""
    for path in TEMPLATES.rglob("*.html"):
        text = path.read_text()
        for tag in re.findall(r"<script\b[^>]*>", text):
            assert "src=" in tag or "application/json" in tag, (path, tag)
        assert not re.search(r"\sstyle=", text), path
        assert not re.search(r"\son[a-z]+=", text), path  # onclick= and friends


def test_signed_in_pages_are_never_stored(alice_client, project):
    page = alice_client.get(reverse("projects:images", args=[project.id]))
    assert "no-store" in page["Cache-Control"] and "private" in page["Cache-Control"]


def test_the_api_skips_the_portals_middleware(client, alice):
    """A key-authenticated API call gets no session, cookie or page headers (`portal_only`),
    and still gets the security middleware's."""
    from projects import services

    _, keys = services.resource_create(owner=alice, name="t", kind="training")
    # A signed-in browser's cookies ride along: the API still ignores them.
    client.force_login(alice)
    response = client.get("/customvision/v3.3/training/domains", HTTP_TRAINING_KEY=keys.key1)
    assert response.status_code == 200
    for header in ("Content-Security-Policy", "X-Frame-Options", "Cache-Control", "Set-Cookie"):
        assert not response.has_header(header), header
    assert response["X-Content-Type-Options"] == "nosniff"
    request = response.wsgi_request
    assert not hasattr(request, "session") and not hasattr(request, "user")


def test_the_portal_keeps_its_middleware_next_to_the_api():
    """The same wrapped middleware still guards pages: CSRF rejects a forged sign-in post,
    and the sign-in page sets its CSRF cookie and page headers."""
    from django.test import Client

    browser = Client(enforce_csrf_checks=True)
    page = browser.get(reverse("login"))
    assert page.has_header("X-Frame-Options") and "csrftoken" in page.cookies
    forged = browser.post(reverse("login"), {"username": "a", "password": "b"})
    assert forged.status_code == 403
