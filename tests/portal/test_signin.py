"""Sign-in throttling: per account and per address, portal and admin, with an admin unlock."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.urls import reverse

pytestmark = pytest.mark.django_db

WRONG = "not-the-password"


@pytest.fixture
def carol():
    return User.objects.create_user("carol", password="right-password")


def sign_in(client, username, password, url=None, address="203.0.113.7"):
    return client.post(
        url or reverse("login"),
        {"username": username, "password": password},
        REMOTE_ADDR=address,
    )


def test_an_account_locks_after_five_wrong_passwords_even_for_the_right_one(client, carol):
    for _ in range(4):
        assert sign_in(client, "carol", WRONG).status_code == 200  # the form, with its error
    locked = sign_in(client, "carol", WRONG)
    assert locked.status_code == 429
    assert "Too many sign-in attempts" in locked.content.decode()
    assert "15 min" in locked.content.decode()
    # From another address too: the account itself is paused.
    assert sign_in(client, "carol", "right-password", address="198.51.100.9").status_code == 429
    assert "_auth_user_id" not in client.session


def test_one_address_trying_many_accounts_is_paused(client, carol, settings):
    settings.CV_SIGNIN_ADDRESS_FAILURE_LIMIT = 12  # 50 by default: each try hashes a password
    for number in range(settings.CV_SIGNIN_ADDRESS_FAILURE_LIMIT):
        sign_in(client, f"user{number % 4}", WRONG, address="192.0.2.50")
    assert sign_in(client, "carol", "right-password", address="192.0.2.50").status_code == 429
    # Another address is not affected.
    response = sign_in(client, "carol", "right-password", address="192.0.2.51")
    assert response.status_code == 302


def test_one_user_mistyping_does_not_lock_out_their_office(client, carol):
    """Everyone behind one NAT shares an address: carol's five wrong passwords pause carol's
    account, not dave's sign-in from the same address."""
    User.objects.create_user("dave", password="daves-password")
    for _ in range(5):
        sign_in(client, "carol", WRONG, address="198.51.100.1")
    assert sign_in(client, "carol", "right-password", address="198.51.100.1").status_code == 429
    assert sign_in(client, "dave", "daves-password", address="198.51.100.1").status_code == 302


def test_the_admin_sign_in_is_throttled_too(client):
    User.objects.create_superuser("root", "", "root-password")
    url = reverse("admin:login")
    for _ in range(5):
        sign_in(client, "root", WRONG, url=url)
    assert sign_in(client, "root", "root-password", url=url).status_code == 429


def test_an_admin_unlocks_an_account(client, carol):
    for _ in range(5):
        sign_in(client, "carol", WRONG)
    assert sign_in(client, "carol", "right-password").status_code == 429
    call_command("axes_reset_username", "carol")
    call_command("axes_reset_ip", "203.0.113.7")
    assert sign_in(client, "carol", "right-password").status_code == 302
