"""Quick Test, the Predictions tab and project export / import through the test client."""

from __future__ import annotations

import io
import re
import zipfile

import pytest
from django.core.files.storage import default_storage
from django.urls import reverse
from PIL import Image as PILImage

from engine.imaging import THUMBNAIL_EDGE
from prediction.models import StoredPrediction
from prediction.services import prediction_classify
from projects import services
from projects.models import Image, Project, Tag
from tests.training.synthetic import photo

pytestmark = pytest.mark.django_db


def _upload(data: bytes, name: str = "t.jpg"):
    return io.BytesIO(data), name


@pytest.fixture
def stored(trained):
    result = prediction_classify(iteration=trained, data=photo("blue", seed=4242), store=True)
    return StoredPrediction.objects.get(pk=result.id)


def page_urls(project, stored):
    return [
        ("get", reverse("prediction:quick_test", args=[project.id])),
        ("get", reverse("prediction:list", args=[project.id])),
        ("get", reverse("prediction:detail", args=[project.id, stored.id])),
        ("post", reverse("prediction:detail", args=[project.id, stored.id])),
        ("post", reverse("prediction:delete", args=[project.id, stored.id])),
        ("get", reverse("prediction:file", args=[project.id, stored.id])),
        ("get", reverse("prediction:thumbnail", args=[project.id, stored.id])),
        ("get", reverse("projects:export", args=[project.id])),
    ]


def test_pages_need_a_login_and_the_owner(client, bob_client, project, stored):
    for method, url in page_urls(project, stored):
        response = getattr(client, method)(url)
        assert response.status_code == 302 and "/signin/" in response["Location"], url
        assert getattr(bob_client, method)(url).status_code == 404, url
    assert StoredPrediction.objects.filter(pk=stored.pk).exists()


def test_quick_test_a_file_without_and_with_keeping_it(alice_client, project, trained):
    url = reverse("prediction:quick_test", args=[project.id])
    response = alice_client.post(
        url, {"iteration": trained.id, "image": _named(photo("blue", seed=9001))}
    )
    assert response.status_code == 200
    rows = response.context["result"].predictions
    assert rows[0].tag_name == "Blue" and rows[0].probability > rows[1].probability
    assert b"data:image/jpeg;base64," in response.content
    assert StoredPrediction.objects.count() == 0
    alice_client.post(
        url, {"iteration": trained.id, "image": _named(photo("red", seed=9002)), "store": "on"}
    )
    kept = StoredPrediction.objects.get()
    assert kept.application == "Quick Test" and kept.predictions[0]["tagName"] == "Red"


def _named(data: bytes):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile("test.jpg", data, content_type="image/jpeg")


def test_quick_test_by_url(alice_client, project, trained, image_server, allow_local):
    url = image_server.serve("/blue.jpg", photo("blue", seed=9003))
    response = alice_client.post(
        reverse("prediction:quick_test", args=[project.id]),
        {"iteration": trained.id, "url": url},
    )
    assert response.status_code == 200, response.context["form"].errors
    assert response.context["result"].predictions[0].tag_name == "Blue"


def test_quick_test_errors_are_clear_and_keep_nothing(alice_client, project, trained, image_server):
    url = reverse("prediction:quick_test", args=[project.id])
    trap = image_server.serve("/x.jpg", photo("blue", seed=1))
    cases = [
        ({"iteration": trained.id}, "one of them"),
        (
            {"iteration": trained.id, "url": trap, "image": _named(photo("red", seed=2))},
            "one of them",
        ),
        ({"iteration": trained.id, "url": trap, "store": "on"}, "loopback"),
        ({"iteration": trained.id, "url": "http://169.254.169.254/latest/"}, "link-local"),
        ({"iteration": trained.id, "image": _named(b"not an image")}, "image"),
    ]
    for data, words in cases:
        response = alice_client.post(url, data)
        assert response.status_code == 400, data
        assert words in response.content.decode(), (data, response.content)
    assert image_server.hits == [] and StoredPrediction.objects.count() == 0


def test_quick_test_without_a_trained_iteration_says_so(alice_client, project):
    response = alice_client.get(reverse("prediction:quick_test", args=[project.id]))
    assert b"needs a trained iteration" in response.content


def test_predictions_list_filters_by_iteration_tag_and_probability(alice_client, project, trained):
    for seed, colour in ((1, "red"), (2, "red"), (3, "blue")):
        prediction_classify(iteration=trained, data=photo(colour, seed=5000 + seed), store=True)
    url = reverse("prediction:list", args=[project.id])
    assert len(alice_client.get(url).context["items"]) == 3
    red = Tag.objects.get(project=project, name="Red")
    likely_red = alice_client.get(url, {"tag": red.id, "minimum": 50, "maximum": 100})
    assert len(likely_red.context["items"]) == 2
    assert all(i["shown"]["tagName"] == "Red" for i in likely_red.context["items"])
    unlikely = alice_client.get(url, {"tag": red.id, "minimum": 0, "maximum": 49})
    assert len(unlikely.context["items"]) == 1
    assert len(alice_client.get(url, {"iteration": trained.id}).context["items"]) == 3
    bad = alice_client.get(url, {"tag": red.id, "minimum": 80, "maximum": 20})
    assert bad.status_code == 400 and b"above the upper" in bad.content


def test_save_and_close_moves_a_prediction_into_training(alice_client, project, stored):
    blue = Tag.objects.get(project=project, name="Blue")
    url = reverse("prediction:detail", args=[project.id, stored.id])
    page = alice_client.get(url)
    # Multiclass: the radio button of the tag the model gave 50 % or more.
    assert str(page.context["form"].initial["tags"]) == str(blue.id)
    assert b'type="radio"' in page.content
    before = Image.objects.filter(project=project).count()
    response = alice_client.post(url, {"tags": [blue.id]})
    assert response.status_code == 302
    assert response["Location"] == reverse("prediction:list", args=[project.id])
    assert not StoredPrediction.objects.filter(pk=stored.pk).exists()
    new = Image.objects.filter(project=project).latest("created_at")
    assert Image.objects.filter(project=project).count() == before + 1
    assert [t.name for t in new.tags.all()] == ["Blue"] and new.source == "prediction"


def test_save_refused_by_a_rule_says_why_and_keeps_the_prediction(alice_client, project, stored):
    red, blue = Tag.objects.filter(project=project).order_by("name")[:2]
    url = reverse("prediction:detail", args=[project.id, stored.id])
    response = alice_client.post(url, {"tags": [red.id, blue.id]})  # multiclass: one tag
    assert response.status_code == 400 and b"Multiclass" in response.content
    assert StoredPrediction.objects.filter(pk=stored.pk).exists()


def test_delete_prediction(alice_client, project, stored, media_storage):
    response = alice_client.post(reverse("prediction:delete", args=[project.id, stored.id]))
    assert response.status_code == 302
    assert not StoredPrediction.objects.exists()


def test_files_are_served_to_the_owner(alice_client, project, stored):
    for name in ("prediction:file", "prediction:thumbnail"):
        response = alice_client.get(reverse(name, args=[project.id, stored.id]))
        assert response.status_code == 200
        assert b"".join(response.streaming_content)[:2] == b"\xff\xd8"


def test_a_kept_predictions_thumbnail_is_made_on_first_look(
    alice_client, project, stored, media_storage, django_capture_on_commit_callbacks
):
    # The prediction endpoint does not spend a resize, an encode and a write on it.
    assert stored.thumbnail.name == ""
    url = reverse("prediction:thumbnail", args=[project.id, stored.id])
    first = b"".join(alice_client.get(url).streaming_content)
    stored.refresh_from_db()
    name = stored.thumbnail.name
    assert name.endswith(".thumb.jpg") and default_storage.exists(name)
    with PILImage.open(io.BytesIO(first)) as thumb:
        assert thumb.format == "JPEG" and max(thumb.size) <= THUMBNAIL_EDGE
    second = b"".join(alice_client.get(url).streaming_content)
    stored.refresh_from_db()
    assert second == first and stored.thumbnail.name == name  # made once, then served
    with django_capture_on_commit_callbacks(execute=True):
        alice_client.post(reverse("prediction:delete", args=[project.id, stored.id]))
    assert not default_storage.exists(name)  # and deleted with the prediction


def test_export_then_import_makes_the_same_project(alice_client, alice, project, trained, resource):
    response = alice_client.get(reverse("projects:export", args=[project.id]))
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    data = b"".join(response.streaming_content)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert "project.json" in zf.namelist() and len(zf.namelist()) == 11
    upload = _named(data)
    upload.name = "export.zip"
    response = alice_client.post(
        reverse("projects:import"), {"archive": upload, "resource": resource.id, "name": "Copy"}
    )
    assert response.status_code == 302
    copy = Project.objects.get(name="Copy")
    assert copy.owner == alice and copy.classification_type == project.classification_type
    assert Image.objects.filter(project=copy).count() == 10
    pairs = {
        (i.content_hash, t.name) for i in Image.objects.filter(project=copy) for t in i.tags.all()
    }
    originals = {
        (i.content_hash, t.name)
        for i in Image.objects.filter(project=project)
        for t in i.tags.all()
    }
    assert pairs == originals


def test_a_bad_archive_imports_nothing(alice_client, resource):
    before = Project.objects.count()
    for data in (b"not a zip", _zip({"other.txt": b"x"}), _zip({"project.json": b"{}"})):
        upload = _named(data)
        response = alice_client.post(
            reverse("projects:import"), {"archive": upload, "resource": resource.id}
        )
        assert response.status_code == 400
        assert b"zip" in response.content or b"Not a project export" in response.content
    assert Project.objects.count() == before


def test_import_only_into_own_training_resource(alice_client, bob, project):
    _r, _ = services.resource_create(owner=bob, name="bobs", kind="training")
    upload = _named(_zip({"project.json": b"{}"}))
    response = alice_client.post(reverse("projects:import"), {"archive": upload, "resource": _r.id})
    assert response.status_code == 400 and "resource" in response.context["form"].errors


def test_an_image_that_fails_in_the_archive_fails_alone(alice_client, resource):
    """A file that is not an image fails alone (one the manifest names but the archive lacks
    makes the archive malformed: tests/projects/test_transfer_views.py)."""
    import json

    from tests.projects.test_transfer import MANIFEST

    manifest = MANIFEST | {
        "images": [
            {"file": "images/a.jpg", "tagIds": ["t1"]},
            {"file": "images/bad.jpg", "tagIds": ["t1"]},
        ],
    }
    data = _zip(
        {
            "project.json": json.dumps(manifest).encode(),
            "images/a.jpg": photo("blue", seed=1),
            "images/bad.jpg": b"garbage",
        }
    )
    response = alice_client.post(
        reverse("projects:import"), {"archive": _named(data), "resource": resource.id}
    )
    assert response.status_code == 302
    project = Project.objects.get(name="Zipped")
    assert Image.objects.filter(project=project).count() == 1
    assert [t.name for t in Image.objects.get(project=project).tags.all()] == ["Blue"]


def _zip(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, content in files.items():
            zf.writestr(name, content)
    return buffer.getvalue()


def test_suggested_tags_sort_filter_and_confirm(alice_client, bob_client, project, trained):
    from projects.services import ImageUpload, images_create

    uploads = [
        ImageUpload(name=f"{c}.jpg", data=photo(c, seed=7000 + i))
        for i, c in enumerate(["red", "red", "blue"])
    ]
    new = [r.image for r in images_create(project=project, uploads=uploads)]
    url = reverse("prediction:suggested", args=[project.id])
    assert bob_client.get(url).status_code == 404
    rows = alice_client.get(url).context["rows"]
    assert {r["image"].id for r in rows} == {i.id for i in new}
    uncertainties = [r["suggestion"].uncertainty for r in rows]
    assert uncertainties == sorted(uncertainties, reverse=True)
    red = Tag.objects.get(project=project, name="Red")
    only_red = alice_client.get(url, {"tag": str(red.id)}).context["rows"]
    assert {r["image"].id for r in only_red} == {new[0].id, new[1].id}
    confirm = [f"{r['image'].id}:{r['top']['tagId']}" for r in only_red]
    response = alice_client.post(url, {"confirm": confirm})
    assert response.status_code == 302
    assert [t.name for t in Image.objects.get(pk=new[0].id).tags.all()] == ["Red"]
    left = alice_client.get(url).context["rows"]
    assert [r["image"].id for r in left] == [new[2].id]
    # A tag that is not the project's is refused, and nothing changes.
    response = alice_client.post(
        url, {"confirm": [f"{new[2].id}:00000000-0000-0000-0000-000000000001"]}, follow=True
    )
    assert b"not in this project" in response.content
    assert list(Image.objects.get(pk=new[2].id).tags.all()) == []


def test_suggested_without_an_iteration_says_so(alice_client, project):
    response = alice_client.get(reverse("prediction:suggested", args=[project.id]))
    assert b"Train one" in response.content


def test_the_untagged_view_links_to_suggested_tags(alice_client, project):
    from projects.services import ImageUpload, images_create

    images_create(project=project, uploads=[ImageUpload(name="a.jpg", data=photo("red", seed=1))])
    page = alice_client.get(reverse("projects:images", args=[project.id]), {"state": "untagged"})
    assert reverse("prediction:suggested", args=[project.id]).encode() in page.content


def test_suggestions_are_scored_a_batch_per_request(alice_client, project, trained, settings):
    from projects.services import ImageUpload, images_create

    settings.CV_SUGGESTIONS_PER_REQUEST = 2
    uploads = [ImageUpload(name=f"{i}.jpg", data=photo("red", seed=8100 + i)) for i in range(3)]
    images_create(project=project, uploads=uploads)
    url = reverse("prediction:suggested", args=[project.id])
    first = alice_client.get(url)
    assert len(first.context["rows"]) == 2 and first.context["pending"] == 1
    assert b"1 more untagged image still to score" in first.content
    second = alice_client.get(url)
    assert len(second.context["rows"]) == 3 and second.context["pending"] == 0


def test_quick_test_keeps_the_image_unless_unticked(alice_client, project, trained):
    """Azure's Quick Test stores by default; a migrating user expects Predictions filled."""
    page = alice_client.get(reverse("prediction:quick_test", args=[project.id])).content.decode()
    box = re.search(r'<input type="checkbox" name="store"[^>]*>', page)
    assert box and "checked" in box.group(0)


def _kept(project, iteration, count, same_moment=False):
    """`count` stored prediction rows, alternately mostly Red and mostly Blue, newest last:
    enough for several pages without running the model for each."""
    from datetime import timedelta

    from django.utils import timezone

    red, blue = (Tag.objects.get(project=project, name=n) for n in ("Red", "Blue"))
    start = timezone.now() - timedelta(hours=1)
    rows = []
    for i in range(count):
        first, second = (red, blue) if i % 2 == 0 else (blue, red)
        rows.append(
            StoredPrediction(
                project=project,
                iteration=iteration,
                file=f"predictions/{i}.jpg",
                content_hash=f"{i:064x}",
                width=320,
                height=288,
                predictions=[
                    {
                        "tagId": str(first.id),
                        "tagName": first.name,
                        "tagType": "Regular",
                        "probability": 0.9,
                    },
                    {
                        "tagId": str(second.id),
                        "tagName": second.name,
                        "tagType": "Regular",
                        "probability": 0.1,
                    },
                ],
                # Half the rows share a moment: the id breaks the tie, so none is skipped.
                created_at=start + timedelta(seconds=i // 2 if same_moment else i),
            )
        )
    StoredPrediction.objects.bulk_create(rows)
    return rows


def newest_first(rows):
    """The ids in prediction_list's order: newest first, then by id."""
    return [r.id for r in sorted(rows, key=lambda r: (-r.created_at.timestamp(), r.id))]


def test_the_predictions_tab_pages_from_a_position_both_ways(alice_client, project, trained):
    from prediction.views import PREDICTIONS_PER_PAGE

    expected = newest_first(_kept(project, trained, PREDICTIONS_PER_PAGE * 2 + 5, True))
    url = reverse("prediction:list", args=[project.id])
    seen, page = [], alice_client.get(url)
    while True:
        seen += [item["prediction"].id for item in page.context["items"]]
        older = page.context["page"].next
        if older is None:
            break
        assert 'rel="next">Older</a>' in page.content.decode()
        page = alice_client.get(url, {"after": older})
    assert seen == expected  # every prediction once, in order, across three pages
    # Back from the last page: Newer gives the page before it again.
    back = alice_client.get(url, {"before": page.context["page"].previous})
    assert [i["prediction"].id for i in back.context["items"]] == expected[
        PREDICTIONS_PER_PAGE : 2 * PREDICTIONS_PER_PAGE
    ]
    # A tag filter pages the same way, and keeps itself in the links.
    red = Tag.objects.get(project=project, name="Red")
    likely = {"tag": red.id, "minimum": 50, "maximum": 100}
    first = alice_client.get(url, likely)
    assert all(i["shown"]["tagName"] == "Red" for i in first.context["items"])
    assert f"tag={red.id}" in first.content.decode().split('rel="next"')[0].rsplit("href=", 1)[1]
    rest = alice_client.get(url, {**likely, "after": first.context["page"].next})
    assert len(first.context["items"]) + len(rest.context["items"]) == (len(expected) + 1) // 2
    # A garbled position is the first page, not an error.
    garbled = alice_client.get(url, {"after": "yesterday"})
    assert garbled.context["items"][0]["prediction"].id == expected[0]
