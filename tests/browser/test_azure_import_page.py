"""The Import from Azure page in a real browser: once the endpoint or the key is edited, the
projects listed for the previous account are forgotten (no project, no ticked box, Import
disabled)."""

from __future__ import annotations

import pytest
from django.contrib.sessions.backends.db import SessionStore
from playwright.sync_api import expect

from projects.azure_views import SESSION_KEY
from projects.models import AzureListing
from tests.browser.a11y import assert_accessible, assert_fits
from tests.browser.test_quickstart import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ENDPOINT = "https://first.cognitiveservices.azure.com"
PROJECTS = [
    {
        "id": f"5e9f0000-0000-4000-8000-00000000000{i}",
        "name": name,
        "classification_type": "Multiclass",
        "type": "Multiclass",
        "domain": "General",
        "note": "",
        "tagged": 10,
        "untagged": 2,
    }
    for i, name in enumerate(("Birds", "Boats"), start=1)
]


def open_with_listing(page, alice) -> None:
    """The page as it stands after the first account's projects were listed."""
    listing = AzureListing.objects.create(
        owner=alice, endpoint=ENDPOINT, status="Completed", projects=PROJECTS
    )
    [cookie] = [c for c in page.context.cookies() if c["name"] == "sessionid"]
    session = SessionStore(session_key=cookie["value"])
    session[SESSION_KEY] = str(listing.id)
    session.save()
    page.goto("/import/azure/")
    expect(page.locator("#azure-pick input[name=projects]:checked")).to_have_count(2)
    expect(page.get_by_role("button", name="Import selected projects")).to_be_enabled()


def expect_forgotten(page) -> None:
    expect(page.locator("input[name=projects]")).to_have_count(0)
    expect(page.locator("input:checked")).to_have_count(0)
    expect(page.get_by_role("button", name="Import selected projects")).to_be_disabled()
    expect(page.get_by_text("Birds")).to_have_count(0)
    expect(page.get_by_text(ENDPOINT)).to_have_count(0)
    expect(page.locator("#listing-forgotten")).to_contain_text(
        "the projects listed before are forgotten"
    )
    # Listing again is what is left to do, from the keyboard too.
    expect(page.get_by_role("button", name="List projects")).to_be_enabled()


def test_editing_the_endpoint_or_key_forgets_the_listed_projects(page, alice, browser_errors):
    sign_in(page)
    open_with_listing(page, alice)
    assert_accessible(page)
    assert_fits(page)
    # The listed endpoint, as the Azure portal copies it (a trailing slash): still the same.
    endpoint = page.get_by_label("Endpoint")
    endpoint.fill(ENDPOINT + "/")
    expect(page.locator("#azure-pick input[name=projects]:checked")).to_have_count(2)
    # The "remove what Azure removed" choice is a plain checkbox, ticked from the keyboard.
    remove = page.get_by_label("Remove here what was removed in Azure")
    expect(remove).not_to_be_checked()
    remove.focus()
    page.keyboard.press("Space")
    expect(remove).to_be_checked()
    # Another endpoint, typed: the first account's projects go.
    endpoint.fill("")
    endpoint.press_sequentially("https://second.cognitiveservices.azure.com")
    expect_forgotten(page)
    assert_accessible(page)

    # The key, typed over: the same.
    open_with_listing(page, alice)
    page.get_by_label("Training key").press_sequentially("0123456789abcdef")
    expect_forgotten(page)
    page.get_by_role("button", name="List projects").focus()
    expect(page.get_by_role("button", name="List projects")).to_be_focused()
