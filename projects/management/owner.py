"""The `--owner` taken by the commands that make things in a user's name."""

from __future__ import annotations

import secrets
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.core.management.base import CommandError, CommandParser


def add_owner_arguments(parser: CommandParser, *, help: str, creatable: bool = False) -> None:
    """`--owner USERNAME`, and with `creatable` the `--create-owner` that owner_get obeys."""
    parser.add_argument("--owner", required=True, help=help)
    if creatable:
        parser.add_argument(
            "--create-owner",
            action="store_true",
            help="create the owner (with an unusable password) if missing",
        )


def owner_get(options: dict[str, Any]) -> User:
    """The user `--owner` names, created first when the command took `--create-owner` and it
    was given; otherwise a CommandError, which says `--create-owner` where it would help."""
    users = get_user_model().objects
    username = options["owner"]
    owner = users.filter(username=username).first()
    if owner is not None:
        return owner
    if "create_owner" not in options:
        raise CommandError(f"No user {username!r}.")
    if not options["create_owner"]:
        raise CommandError(f"No user {username!r}; pass --create-owner.")
    # Nobody logs in as it: a random password no one is told.
    return users.create_user(username=username, password=secrets.token_urlsafe(24))
