"""Listing and count costs against project size (not a test: read the ratios within one run).

Builds projects of 1k and 20k images (100k with --big) straight into the database (rows only:
listings and counts never read the files), 8 tags, 90 % of images tagged, then times through
Django's full request stack, the median of 5 or more (0.2 s of requests):

  * API GetTaggedImages (take=256) on the first page and deep in the list (a full page near
    its end, so both sizes answer the same number of images);
  * API GetTaggedImageCount, and GetImageCount filtered by one tag;
  * the portal's Training Images page, first and deep page (by position: ?after=).

    .venv/bin/python bench/scale.py [--big]
    DATABASE_URL=postgres://... .venv/bin/python bench/scale.py   # on PostgreSQL
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--big", action="store_true", help="also 100k images")
    args = parser.parse_args()
    data = Path(tempfile.mkdtemp(prefix="cv-bench-scale-"))
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{data}/db.sqlite3")
    os.environ.update(
        {
            "CV_DATA_DIR": str(data),
            "SECRET_KEY": "bench",
            "DJANGO_SETTINGS_MODULE": "portal.settings",
            "ALLOWED_HOSTS": "testserver",
        }
    )
    import django

    django.setup()
    from django.conf import settings

    # Pages render without collectstatic: plain static URLs.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.test.utils import setup_test_environment

    setup_test_environment()
    call_command("migrate", verbosity=0)
    from django.contrib.auth.models import User

    from projects import selectors, services
    from projects.models import Image, ImageTag, Tag

    owner = User.objects.create_user("bench")
    resource, keys = services.resource_create(owner=owner, name="t", kind="training")
    api, portal = Client(), Client()
    portal.force_login(owner)
    headers = {"HTTP_TRAINING_KEY": keys.key1}
    sizes = [1000, 20000] + ([100000] if args.big else [])
    rows = []
    for size in sizes:
        project = services.project_create(owner=owner, resource=resource, name=f"P{size}")
        tags = [Tag.objects.create(project=project, name=f"tag{i}") for i in range(8)]
        started = time.perf_counter()
        for start in range(0, size, 5000):
            batch = [
                Image(
                    project=project,
                    file=f"images/x/{i}.jpg",
                    thumbnail=f"images/x/{i}.thumb.jpg",
                    content_hash=hashlib.sha256(f"{size}-{i}".encode()).hexdigest(),
                    width=256,
                    height=256,
                    format="JPEG",
                    byte_size=1000,
                    tagged=bool(i % 10),  # as the services keep it: the rows below
                )
                for i in range(start, min(size, start + 5000))
            ]
            Image.objects.bulk_create(batch)
            ImageTag.objects.bulk_create(
                ImageTag(image=image, tag=tags[n % 8])
                for n, image in enumerate(batch)
                if n % 10  # one image in ten stays untagged
            )
        built = time.perf_counter() - started
        if connection.vendor == "postgresql":
            # What autovacuum does for a live database some seconds after a bulk load: fresh
            # statistics for the planner and a visibility map for index-only scans.
            with connection.cursor() as cursor:
                cursor.execute("VACUUM ANALYZE projects_image")
                cursor.execute("VACUUM ANALYZE projects_imagetag")
        base = f"/customvision/v3.3/training/projects/{project.id}"
        deep = size * 9 // 10 - 300  # of the 90 % tagged: a full page of 256 near the end
        images_url = f"/projects/{project.id}/images/"
        # The portal pages by position (?after=<cursor>): the one a user reaches near the end.
        near_end = selectors.image_list(project=project).prefetch_related(None)[deep]
        after = urlencode({"after": selectors.cursor_of(near_end)})
        checks = {
            "GetTaggedImages page 1": (api, f"{base}/images/tagged?take=256"),
            "GetTaggedImages deep": (api, f"{base}/images/tagged?take=256&skip={deep}"),
            "GetTaggedImageCount": (api, f"{base}/images/tagged/count"),
            "GetImageCount one tag": (api, f"{base}/images/count?tagIds={tags[3].id}"),
            "portal images page 1": (portal, images_url),
            "portal images deep page": (portal, f"{images_url}?{after}"),
        }
        timings = {}
        for name, (client, url) in checks.items():
            assert client.get(url, **headers).status_code == 200, name
            times: list[float] = []
            # Five at least, and 0.2 s of them: a 3 ms count gets ~60 samples, so the median
            # holds on a machine that other work shares.
            while len(times) < 5 or sum(times) < 200:
                t0 = time.perf_counter()
                response = client.get(url, **headers)
                times.append((time.perf_counter() - t0) * 1000)
                assert response.status_code == 200, name
            timings[name] = statistics.median(times)
        rows.append((size, built, timings))
        print(f"built {size:,} images in {built:.1f} s", flush=True)
    names = list(rows[0][2])
    print()
    print(f"{'request':<26}" + "".join(f"{s:>10,}" for s, _b, _t in rows) + "   ratio last/first")
    for name in names:
        first, last = rows[0][2][name], rows[-1][2][name]
        cells = "".join(f"{t[name]:>8.1f}ms" for _s, _b, t in rows)
        print(f"{name:<26}{cells}   {last / first:.2f}")


if __name__ == "__main__":
    main()
