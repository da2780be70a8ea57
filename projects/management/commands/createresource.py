"""Create a training or prediction resource from scripts and CI; prints its keys once as JSON."""

from __future__ import annotations

import json
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from projects import services
from projects.management.owner import add_owner_arguments, owner_get
from projects.models import Resource


class Command(BaseCommand):
    help = "Create a Custom Vision resource and print {id, name, kind, key} as one JSON line."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name")
        parser.add_argument("--kind", choices=Resource.Kind.values, required=True)
        add_owner_arguments(parser, help="username of the owner", creatable=True)

    def handle(self, *args: Any, **options: Any) -> None:
        owner = owner_get(options)
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
