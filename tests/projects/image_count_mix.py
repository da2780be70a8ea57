"""Every way images change, at random, checking `ImageCount` against the rows after each step.

Shared by tests/projects/test_image_count.py on the test database (PostgreSQL in CI) and, run as
`python -m tests.projects.image_count_mix` with DATABASE_URL=sqlite:///…, by the same file's
SQLite test: `make run` uses SQLite, whose triggers are written separately.
"""

from __future__ import annotations

import os
import random
import sys
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def assert_counts_match(*projects) -> None:
    from projects import selectors
    from projects.models import Image

    for project in projects:
        live = Image.objects.filter(project=project, removed_at__isnull=True)
        counts = selectors.image_counts(project=project)
        expected = (live.count(), live.filter(tagged=True).count())
        assert (counts.all, counts.tagged) == expected, (project.name, counts, expected)
        assert counts.untagged == expected[0] - expected[1]


def add_images(project, rng: random.Random, n: int) -> None:
    """Rows as bulk loads write them, some tagged and some already removed; `width` 1-3 marks
    groups for the raw SQL below."""
    from django.utils import timezone

    from projects.models import Image

    Image.objects.bulk_create(
        Image(
            project=project,
            file="images/x.png",
            thumbnail="images/x.thumb.png",
            content_hash=uuid.uuid4().hex,
            width=rng.randint(1, 3),
            height=1,
            format="PNG",
            byte_size=1,
            tagged=rng.random() < 0.6,
            removed_at=timezone.now() if rng.random() < 0.1 else None,
        )
        for _ in range(n)
    )


def _some(rng: random.Random, project, live: bool | None = None) -> list[uuid.UUID]:
    from projects.models import Image

    images = Image.objects.filter(project=project)
    if live is not None:
        images = images.filter(removed_at__isnull=live)
    ids = list(images.values_list("id", flat=True))
    return rng.sample(ids, min(len(ids), rng.randint(0, 6)))


def _steps(rng: random.Random, project, other, tags):
    """Each step: a name (for the failure message) and what it does."""
    from django.db import connection
    from django.utils import timezone

    from projects import services
    from projects.models import Image

    def raw(sql: str) -> None:
        with connection.cursor() as cursor:
            cursor.execute(sql, [rng.randint(1, 3)])

    images = Image.objects
    return {
        "bulk_create": lambda: add_images(project, rng, rng.randint(1, 8)),
        "create": lambda: add_images(other, rng, 1),
        "tag": lambda: services.images_tags_add(
            project=project,
            image_ids=_some(rng, project, True),
            tags=[rng.choice(tags)],
            replace_conflicting=True,
        ),
        "untag": lambda: services.images_tags_remove(
            project=project, image_ids=_some(rng, project, True), tags=tags
        ),
        "service delete": lambda: services.images_delete(
            project=project, image_ids=_some(rng, project, True)
        ),
        "soft remove": lambda: images.filter(id__in=_some(rng, project, True)).update(
            removed_at=timezone.now()
        ),
        "restore": lambda: images.filter(id__in=_some(rng, project, False)).update(removed_at=None),
        "update tagged": lambda: images.filter(id__in=_some(rng, project)).update(
            tagged=rng.random() < 0.5
        ),
        "queryset delete": lambda: images.filter(id__in=_some(rng, project)).delete(),
        "move": lambda: images.filter(id__in=_some(rng, project)).update(project=other),
        "move back": lambda: images.filter(id__in=_some(rng, other)).update(project=project),
        "save": lambda: [i.save() for i in images.filter(id__in=_some(rng, project))],
        "unrelated column": lambda: images.filter(project=project).update(metadata={"k": "v"}),
        "raw flip": lambda: raw("UPDATE projects_image SET tagged = NOT tagged WHERE width = %s"),
        "raw delete": lambda: raw(
            "DELETE FROM projects_image WHERE width = %s"
            " AND id NOT IN (SELECT image_id FROM projects_imagetag)"
        ),
    }


def exercise(project, other, steps: int = 120, seed: int = 23) -> None:
    """`steps` random changes to two projects' images, the counts checked after each."""
    from projects import services

    rng = random.Random(seed)
    tags = services.tags_get_or_create(project=project, names=["Red", "Blue", "Green"])
    add_images(project, rng, 20)
    assert_counts_match(project, other)
    actions = _steps(rng, project, other, tags)
    names = sorted(actions) + ["bulk_create", "restore"] * 3  # so the projects don't run dry
    for n in range(steps):
        name = rng.choice(names)
        actions[name]()
        try:
            assert_counts_match(project, other)
        except AssertionError as exc:
            raise AssertionError(f"after step {n}, {name}: {exc}") from exc


def main() -> None:
    """On the database DATABASE_URL names (SQLite): migrate, exercise, then migrate back past
    the counts and forward again, which must count what is there (the backfill)."""
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from tests.factories import ProjectFactory

    call_command("migrate", verbosity=0)
    print("vendor", connection.vendor)
    project, other = ProjectFactory(name="A"), ProjectFactory(name="B")
    exercise(project, other)
    assert_rollback_keeps_counts(project)
    call_command("migrate", "projects", "0009", verbosity=0)
    add_images(project, random.Random(1), 5)
    call_command("migrate", verbosity=0)
    assert_counts_match(project, other)
    print("ok")


def assert_rollback_keeps_counts(project) -> None:
    from django.db import transaction

    from projects import selectors
    from projects.models import Image

    before = selectors.image_counts(project=project)
    try:
        with transaction.atomic():
            add_images(project, random.Random(2), 7)
            Image.objects.filter(project=project).update(tagged=False)
            assert selectors.image_counts(project=project) != before  # seen inside
            raise RuntimeError("roll back")
    except RuntimeError:
        pass
    assert selectors.image_counts(project=project) == before
    assert_counts_match(project)


if __name__ == "__main__":
    main()
