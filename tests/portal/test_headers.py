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
