"""New Project in a real browser: choosing Object Detection hides Classification Types and
lists the object-detection domains, and the project made is a detector."""

from __future__ import annotations

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from projects.domains import GENERAL_DETECTION
from projects.models import Project
from tests.browser.test_quickstart import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_project_types_switch_the_domains(page, shot, alice):
    sign_in(page)
    # The page the New Project link opens without JavaScript (the list's dialog holds the same
    # form): a click before dialogs.js runs would go there anyway.
    page.goto(reverse("projects:create"))
    dialog = page.locator("form").filter(has=page.get_by_role("button", name="Create project"))
    types = dialog.get_by_role("group", name="Classification Types")
    expect(types).to_be_visible()
    expect(dialog.get_by_role("radio", name="Food", exact=True)).to_be_visible()
    expect(dialog.get_by_role("radio", name="Logo")).to_be_hidden()

    dialog.get_by_role("radio", name="Object Detection").check()
    expect(types).to_be_hidden()
    expect(dialog.get_by_role("radio", name="Food", exact=True)).to_be_hidden()
    expect(dialog.get_by_role("radio", name="Products on Shelves")).to_be_visible()
    general = dialog.get_by_role("radio", name="General", exact=True)
    expect(general).to_be_checked()  # the chosen classification domain gave way to General
    expect(dialog.get_by_text(GENERAL_DETECTION.description)).to_be_visible()
    dialog.get_by_label("Name", exact=True).fill("Cutlery")
    shot(page, "new-project-object-detection")
    dialog.get_by_role("button", name="Create project").click()

    expect(page.get_by_role("heading", name="Cutlery")).to_be_visible()
    expect(page.locator(".project-head .badge").first).to_have_text("Object Detection")
    project = Project.objects.get(name="Cutlery")
    assert project.domain_id == GENERAL_DETECTION.id
