"""Move an Azure Custom Vision account (projects, tags, images) here, through Azure's API."""

from __future__ import annotations

import os
import sys
import time
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from projects.management.owner import add_owner_arguments, owner_get
from projects.models import AzureImport
from projects.services import azure_import

KEY_VARIABLE = "CUSTOM_VISION_TRAINING_KEY"
NEW_ID = " (a new id here: the source's could not be kept)"


class Command(BaseCommand):
    help = (
        "Import projects, tags and tagged and untagged images from an Azure Custom Vision "
        "training resource, keeping their Azure ids where they are free here. Run it again to "
        "continue an interrupted import or to sync what changed in Azure: nothing is copied "
        "twice."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--endpoint",
            required=True,
            help="the resource's endpoint, a base URL (https://<name>.cognitiveservices.azure.com/)",
        )
        parser.add_argument(
            "--training-key",
            help=f"the resource's training key (or set {KEY_VARIABLE}, which stays out of "
            "your shell history)",
        )
        which = parser.add_mutually_exclusive_group(required=True)
        which.add_argument("--project", action="append", help="a project id (repeatable)")
        which.add_argument("--all", action="store_true", help="every project of the account")
        add_owner_arguments(parser, help="username of the local owner")
        parser.add_argument(
            "--remove-missing",
            action="store_true",
            help="remove here the images and tags an earlier import brought that the source no "
            "longer has (without it they are only counted)",
        )
        parser.add_argument(
            "--inline",
            action="store_true",
            help="run in this process instead of a worker (no worker needed)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        owner = owner_get(options)
        key = options["training_key"] or os.environ.get(KEY_VARIABLE, "")
        if not key:
            raise CommandError(f"Give --training-key or set {KEY_VARIABLE}.")
        arguments = {
            "owner": owner,
            "endpoint": options["endpoint"],
            "key": key,
            "project_ids": options["project"] or [],
            # The operator names the endpoint: its host may be private or loopback (a second
            # instance on the same network). Image links elsewhere keep the public-only rule.
            "trust_endpoint_host": True,
            "remove_missing": options["remove_missing"],
        }
        try:
            if options["inline"]:
                job = azure_import.azure_import_create(**arguments)
                job = azure_import.azure_import_run(job_id=job.id, on_progress=self._bar)
            else:
                job = azure_import.azure_import_start(**arguments)
                job = self._follow(job)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        self._end_bar()
        self._summary(job)
        if job.status != AzureImport.Status.COMPLETED:
            raise CommandError(f"The import failed: {job.error}")

    # --- output ---------------------------------------------------------------------------

    def _follow(self, job: AzureImport) -> AzureImport:
        """Draw the worker's progress until the job ends."""
        waited = 0.0
        while True:
            job.refresh_from_db()
            if job.status in (AzureImport.Status.COMPLETED, AzureImport.Status.FAILED):
                return job
            if job.status == AzureImport.Status.QUEUED and waited > 60:
                self.stderr.write(
                    "\nNo worker has taken the import after a minute: is `make run` (or a "
                    "Celery worker) running? Or use --inline."
                )
                waited = -1e9  # said once
            self._bar(job)
            time.sleep(1.0)
            waited += 1.0

    def _bar(self, job: AzureImport) -> None:
        width = 30
        filled = round(width * job.percent / 100)
        line = (
            f"\r[{'#' * filled}{'.' * (width - filled)}] {job.percent:3d}% "
            f"{job.images_done:,}/{job.images_total:,} images  {job.phase[:60]:<60}"
        )
        self.stdout.write(line, ending="")
        if sys.stdout.isatty():
            self.stdout.flush()

    def _end_bar(self) -> None:
        self.stdout.write("")

    def _summary(self, job: AzureImport) -> None:
        summary = job.summary or {}
        for project in summary.get("projects", []):
            source = project["source_images"]
            boxes = f" with {project['regions']:,} boxes" if project.get("regions") else ""
            removed = (
                f" ({project['removed_here']:,} removed here)"
                if project.get("removed_here")
                else ""
            )
            gone = project.get("tags_removed_in_source", 0)
            tags = f" (and {gone:,} tag{'s' if gone != 1 else ''})" if gone else ""
            self.stdout.write(
                f"{project['name']}: {project['added']:,} added{boxes}, "
                f"{project['updated']:,} updated, {project['unchanged']:,} unchanged, "
                f"{project['removed_in_source']:,} removed in source{removed}{tags}, "
                f"{project['failed']:,} failed (the source has {source['tagged']:,} tagged and "
                f"{source['untagged']:,} untagged) → project {project['project_id']}"
                f"{'' if project.get('id_kept', True) else NEW_ID}"
            )
            for iteration in project["iterations"]:
                self.stdout.write(
                    f"  iteration not copied (models stay in Azure): {iteration['name']} "
                    f"({iteration['status']}, trained {iteration['trained'] or '—'})"
                )
        for skipped in summary.get("skipped", []):
            self.stdout.write(f"{skipped['name']}: {skipped['reason']}")
        for note in summary.get("notes", []):
            self.stdout.write(f"  note: {note}")
        for failure in summary.get("failures", [])[:20]:
            self.stdout.write(
                f"  failed: {failure['project']} image {failure['image']}: {failure['reason']}"
            )
        more = summary.get("failure_count", 0) - min(20, len(summary.get("failures", [])))
        if more > 0:
            self.stdout.write(f"  … and {more:,} more failures (see the import in the admin)")
