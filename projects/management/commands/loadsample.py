"""Give a user the Trees sample project (Custom Vision's quickstart photos, tagged)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.urls import reverse

from projects import selectors, services


class Command(BaseCommand):
    help = (
        "Create the Trees sample project (10 Hemlock and 10 Japanese Cherry photos, tagged) "
        "for a user, ready to train."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--user", help="username of the owner (default: the first superuser)")

    def handle(self, *args: Any, **options: Any) -> None:
        User = get_user_model()
        if options["user"]:
            owner = User.objects.filter(username=options["user"]).first()
            if owner is None:
                raise CommandError(f"No user {options['user']!r}.")
        else:
            owner = User.objects.filter(is_superuser=True).order_by("pk").first()
            if owner is None:
                raise CommandError("No superuser to own the project; pass --user USERNAME.")
        try:
            project = services.sample_project_load(owner=owner)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        count = selectors.active_images(project).count()
        path = reverse("projects:images", args=[project.id])
        self.stdout.write(f"Created {project.name!r} for {owner.get_username()}: {count} images.")
        self.stdout.write(f"Open {path} and press Train.")
