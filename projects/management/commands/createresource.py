"""Create a training or prediction resource from scripts and CI; prints its keys once as JSON."""

from __future__ import annotations

import json
import secrets
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from projects import services
from projects.models import Resource


class Command(BaseCommand):
    help = "Create a Custom Vision resource and print {id, name, kind, key} as one JSON line."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name")
        parser.add_argument("--kind", choices=Resource.Kind.values, required=True)
        parser.add_argument("--owner", required=True, help="username of the owner")
        parser.add_argument(
            "--create-owner",
            action="store_true",
            help="create the owner (with an unusable password) if missing",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        User = get_user_model()
        owner = User.objects.filter(username=options["owner"]).first()
        if owner is None:
            if not options["create_owner"]:
                raise CommandError(f"No user {options['owner']!r}; pass --create-owner.")
            owner = User.objects.create_user(
                username=options["owner"], password=secrets.token_urlsafe(24)
            )
        try:
            resource, keys = services.resource_create(
                owner=owner, name=options["name"], kind=options["kind"]
            )
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        self.stdout.write(
            json.dumps(
                {
                    "id": str(resource.id),
                    "name": resource.name,
                    "kind": resource.kind,
                    "key": keys.key1,
                    "key2": keys.key2,
                }
            )
        )
