"""Remove stored files that no row refers to (left by a crash between file and row)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from projects.services.reconcile import storage_reconcile


class Command(BaseCommand):
    help = "Delete stored files no image, prediction or model row refers to, past a grace period."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--grace-minutes",
            type=int,
            default=60,
            help="leave younger files alone: their row may be about to commit (default 60)",
        )
        parser.add_argument("--dry-run", action="store_true", help="list, delete nothing")

    def handle(self, *args: Any, **options: Any) -> None:
        report = storage_reconcile(
            grace=timedelta(minutes=options["grace_minutes"]), dry_run=options["dry_run"]
        )
        verb = "Would remove" if options["dry_run"] else "Removed"
        for name in report.removed:
            self.stdout.write(f"{verb} {name}")
        self.stdout.write(
            f"{report.checked} files checked; {verb.lower()} {len(report.removed)}; "
            f"{report.too_recent} too recent to judge."
        )
