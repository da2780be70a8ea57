"""The Performance tab: threshold table, confusion matrix, mistakes, publish and unpublish.

Iterations here are completed by hand with chosen out-of-fold probabilities (and the engine's
own `evaluate` for the metrics), so every number on the page is known in advance; the browser
test trains for real.
"""

from __future__ import annotations

import json
import re

import pytest
import torch
from django.urls import reverse
from django.utils import timezone

from engine.metrics import evaluate
from projects import services as project_services
from projects.models import Image, Resource
from tests.factories import ResourceFactory
from tests.training.test_services import add
from training import services
from training.models import Iteration

pytestmark = pytest.mark.django_db

# Tag order is iteration.tags order: Red, then Blue.
RED_PROBABILITIES = [[0.9, 0.1], [0.9, 0.1], [0.9, 0.1], [0.55, 0.45], [0.3, 0.7]]
BLUE_PROBABILITIES = [[0.2, 0.8], [0.2, 0.8], [0.2, 0.8], [0.4, 0.6], [0.35, 0.65]]


def complete(iteration: Iteration, probabilities: dict[str, list[float]]) -> Iteration:
    """Finish an iteration as a worker would, with these out-of-fold probabilities by image."""
    rows = list(iteration.images.select_related("image").order_by("image__created_at", "image_id"))
    order = {tag["id"]: i for i, tag in enumerate(iteration.tags)}
    truth = torch.zeros(len(rows), len(order))
    for r, row in enumerate(rows):
        row.probabilities = probabilities[str(row.image_id)]
        row.fold = r % 2
        for tag_id in row.tag_ids:
            truth[r, order[tag_id]] = 1
        row.save(update_fields=["probabilities", "fold"])
    probs = torch.tensor([row.probabilities for row in rows])
    folds = torch.tensor([row.fold for row in rows])
    Iteration.objects.filter(pk=iteration.pk).update(
        status=Iteration.Status.COMPLETED,
        progress=100,
        phase="Completed",
        trained_at=timezone.now(),
        metrics=evaluate(truth, probs, folds),
        backbone="efficientnet_lite0",
        weights_source="bundled efficientnet-lite0",
    )
    iteration.refresh_from_db()
    return iteration


@pytest.fixture
def images(project):
    return {"red": add(project, "red", 5, ["Red"]), "blue": add(project, "blue", 5, ["Blue"])}


@pytest.fixture
def scored(project, images):
    """A multiclass iteration: one Red image predicted Blue, every Blue image right."""
    iteration = services.iteration_train_start(project=project)
    probabilities = {
        str(image.id): p
        for colour, table in (("red", RED_PROBABILITIES), ("blue", BLUE_PROBABILITIES))
        for image, p in zip(images[colour], table, strict=True)
    }
    return complete(iteration, probabilities)


@pytest.fixture
def prediction_resource(alice):
    return ResourceFactory(owner=alice, name="trees-prediction", kind=Resource.Kind.PREDICTION)


def tag_ids(iteration):
    return {tag["name"]: tag["id"] for tag in iteration.tags}


def performance_url(iteration):
    return reverse("training:performance", args=[iteration.project_id, iteration.id])


def cell_url(iteration, true_name, predicted_name):
    ids = tag_ids(iteration)
    return reverse(
        "training:confusion_cell",
        args=[iteration.project_id, iteration.id, ids[true_name], ids[predicted_name]],
    )


def errors_url(iteration, name, kind):
    return reverse(
        "training:tag_errors",
        args=[iteration.project_id, iteration.id, tag_ids(iteration)[name], kind],
    )


def publish_url(iteration):
    return reverse("training:publish", args=[iteration.project_id, iteration.id])


def unpublish_url(iteration):
    return reverse("training:unpublish", args=[iteration.project_id, iteration.id])


def published_as(iteration):
    iteration.refresh_from_db()
    return iteration.publish_name, iteration.prediction_resource_id


# --- Access ---------------------------------------------------------------------------------


def test_new_views_need_sign_in_and_are_404_to_others(
    client, bob_client, scored, prediction_resource
):
    gets = [cell_url(scored, "Red", "Blue"), errors_url(scored, "Red", "false-negatives")]
    posts = [publish_url(scored), unpublish_url(scored)]
    for url in gets:
        assert client.get(url).status_code == 302, url
        assert bob_client.get(url).status_code == 404, url
    data = {"publish_name": "treeModel", "prediction_resource": prediction_resource.id}
    for url in posts:
        response = client.post(url, data)
        assert response.status_code == 302 and "/signin/" in response["Location"], url
        assert bob_client.post(url, data).status_code == 404, url
    assert published_as(scored) == ("", None)
    services.iteration_publish(
        iteration=scored, publish_name="treeModel", prediction_resource=prediction_resource
    )
    assert bob_client.post(unpublish_url(scored)).status_code == 404
    assert published_as(scored) == ("treeModel", prediction_resource.id)


def test_publish_and_unpublish_only_take_post(alice_client, scored):
    assert alice_client.get(publish_url(scored)).status_code == 405
    assert alice_client.get(unpublish_url(scored)).status_code == 405


# --- The page -------------------------------------------------------------------------------


def test_performance_page_numbers_table_and_curves(alice_client, scored):
    text = alice_client.get(performance_url(scored)).content.decode()
    assert 'id="overall-precision">90.0%' in text
    assert 'id="overall-recall">90.0%' in text
    assert '<label for="threshold">Probability Threshold</label>' in text
    assert 'type="range" id="threshold" min="0" max="100" step="1" value="50"' in text
    # Red at 50%: the four reds at ≥ 0.5 → precision 100%, recall 80%.
    red_row = re.search(r'<tr data-tag-index="0">.*?</tr>', text, re.S)
    assert red_row is not None
    # AP 94.3%: the red image at 0.3 ranks below two blue ones (0.4, 0.35).
    assert re.findall(r'class="num[^"]*">([^<]+)<', red_row.group()) == [
        "100.0%",
        "80.0%",
        "94.3%",
        "5",
    ]
    table = json.loads(
        re.search(
            r'<script id="threshold-table" type="application/json">(.*?)</script>', text
        ).group(1)  # type: ignore[union-attr]
    )
    assert len(table["thresholds"]) == 101
    assert table["overall"]["precision"][75] == 1.0 and table["overall"]["recall"][75] == 0.6
    assert table["tags"][1]["precision"][50] == pytest.approx(5 / 6, abs=1e-4)
    assert text.count('<svg viewBox="-16 -6 124 128" role="img"') == 2
    assert "Precision–recall curve of Red, AP" in text


def test_confusion_matrix_counts_and_links(alice_client, scored):
    text = alice_client.get(performance_url(scored)).content.decode()
    matrix = re.search(r'<table class="confusion".*?</table>', text, re.S).group()  # type: ignore[union-attr]
    cells = re.findall(r"<td[^>]*>(.*?)</td>", matrix, re.S)
    counts = [re.sub(r"<[^>]+>", "", cell) for cell in cells]
    assert counts == ["4", "1", "0", "5"]  # Red→Red, Red→Blue, Blue→Red, Blue→Blue
    assert f'href="{cell_url(scored, "Red", "Blue")}"' in matrix
    assert 'aria-label="1 image tagged Red, predicted Blue"' in matrix
    assert f'href="{cell_url(scored, "Blue", "Red")}"' not in matrix  # empty cells link nowhere


def test_images_the_model_got_wrong(alice_client, scored, images):
    text = alice_client.get(performance_url(scored)).content.decode()
    mistakes = text[text.index('id="mistakes"') :]
    wrong = images["red"][4]
    assert "1 image, the most confident mistakes first" in mistakes
    assert reverse("projects:image_thumbnail", args=[scored.project_id, wrong.id]) in mistakes
    assert '<span class="chip wrong">Blue</span> <span class="probability">70.0%</span>' in mistakes
    assert '<span class="chip">Red</span>' in mistakes
    assert mistakes.count('<li class="thumb outcome">') == 1


def test_a_confusion_cell_shows_its_images(alice_client, scored, images):
    response = alice_client.get(cell_url(scored, "Red", "Blue"))
    text = response.content.decode()
    assert response.status_code == 200
    assert "<title>Tagged Red, predicted Blue · Iteration 1" in text
    assert "1 image in Iteration 1" in text
    wrong = images["red"][4]
    assert reverse("projects:image_thumbnail", args=[scored.project_id, wrong.id]) in text
    diagonal = alice_client.get(cell_url(scored, "Red", "Red")).content.decode()
    assert diagonal.count('<li class="thumb outcome">') == 4
    assert reverse("projects:image_thumbnail", args=[scored.project_id, wrong.id]) not in diagonal
    empty = alice_client.get(cell_url(scored, "Blue", "Red")).content.decode()
    assert "No images here." in empty


def test_a_removed_image_is_shown_as_removed(alice_client, project, scored, images):
    wrong = images["red"][4]
    project_services.images_delete(project=project, image_ids=[wrong.id])
    text = alice_client.get(cell_url(scored, "Red", "Blue")).content.decode()
    assert "Removed from the project" in text
    assert reverse("projects:image_thumbnail", args=[project.id, wrong.id]) not in text


def test_confusion_cell_bad_input_is_404(alice_client, project, scored):
    ids = tag_ids(scored)
    unknown = "00000000-0000-0000-0000-000000000000"
    for args in ([ids["Red"], unknown], [unknown, ids["Blue"]]):
        url = reverse("training:confusion_cell", args=[project.id, scored.id, *args])
        assert alice_client.get(url).status_code == 404
    assert alice_client.get(errors_url(scored, "Red", "true-positives")).status_code == 404
    Iteration.objects.filter(pk=scored.pk).update(status=Iteration.Status.TRAINING)
    assert alice_client.get(cell_url(scored, "Red", "Blue")).status_code == 404


def test_multilabel_shows_false_positives_and_negatives(alice_client, multilabel_project):
    reds = add(multilabel_project, "red", 3, ["Red"])
    blues = add(multilabel_project, "blue", 3, ["Blue"])
    iteration = services.iteration_train_start(project=multilabel_project)
    probabilities = {str(i.id): [0.9, 0.1] for i in reds} | {str(i.id): [0.1, 0.9] for i in blues}
    probabilities[str(reds[0].id)] = [0.8, 0.6]  # Blue wrongly predicted too
    probabilities[str(blues[0].id)] = [0.2, 0.3]  # nothing predicted
    iteration = complete(iteration, probabilities)

    text = alice_client.get(performance_url(iteration)).content.decode()
    assert 'class="confusion"' not in text
    errors = re.search(r'<table class="results" id="tag-errors">.*?</table>', text, re.S).group()  # type: ignore[union-attr]
    counts = [re.sub(r"<[^>]+>", "", c) for c in re.findall(r'<td class="num">(.*?)</td>', errors)]
    assert counts == ["0", "0", "1", "1"]  # Red: FP 0, FN 0; Blue: FP 1, FN 1
    assert "2 images, the most confident mistakes first" in text
    assert "Nothing at 50% (top: Blue 30.0%)" in text

    page = alice_client.get(errors_url(iteration, "Blue", "false-positives")).content.decode()
    assert "Predicted Blue but not tagged so" in page
    assert reverse("projects:image_thumbnail", args=[multilabel_project.id, reds[0].id]) in page
    page = alice_client.get(errors_url(iteration, "Blue", "false-negatives")).content.decode()
    assert reverse("projects:image_thumbnail", args=[multilabel_project.id, blues[0].id]) in page
    # A multilabel image can sit in several cells at once: no confusion matrix to open.
    assert alice_client.get(cell_url(iteration, "Red", "Blue")).status_code == 404


def test_a_training_iteration_has_no_numbers_yet(alice_client, project, images):
    iteration = services.iteration_train_start(project=project)
    text = alice_client.get(performance_url(iteration)).content.decode()
    assert 'id="progress"' in text
    assert 'id="threshold"' not in text and "Confusion matrix" not in text
    assert 'data-open="publish-dialog"' not in text


# --- Publish / unpublish --------------------------------------------------------------------


def test_publish_shows_the_prediction_url(alice_client, project, scored, prediction_resource):
    page = alice_client.get(performance_url(scored)).content.decode()
    assert 'data-open="publish-dialog"' in page
    assert 'value="Iteration1"' in page  # the name offered: the iteration's, without spaces
    assert f'<option value="{prediction_resource.id}" selected>trees-prediction' in page
    assert "Prediction URL" not in page

    response = alice_client.post(
        publish_url(scored),
        {"publish_name": "treeModel", "prediction_resource": prediction_resource.id},
        follow=True,
    )
    text = response.content.decode()
    assert published_as(scored) == ("treeModel", prediction_resource.id)
    assert "Published Iteration 1 as &#x27;treeModel&#x27;." in text
    base = f"http://testserver/customvision/v3.0/Prediction/{project.id}/classify/iterations"
    assert f'id="url-image">{base}/treeModel/image</code>' in text
    assert f'id="url-url">{base}/treeModel/url</code>' in text
    assert "Prediction-Key" in text and "application/octet-stream" in text
    assert (
        f'curl -X POST "{base}/treeModel/image" -H "Prediction-Key: $PREDICTION_KEY" '
        '-H "Content-Type: application/octet-stream" --data-binary @image.jpg' in text
    )
    assert 'data-copy="curl-image"' in text
    assert 'class="status status-published"' in text  # the sidebar's badge
    assert 'data-open="publish-dialog"' not in text
    # A published iteration can't be deleted: the button says why.
    assert 'disabled aria-describedby="delete-help"' in text


def test_publish_name_is_url_quoted(alice_client, project, scored, prediction_resource):
    alice_client.post(
        publish_url(scored),
        {"publish_name": "tree model?", "prediction_resource": prediction_resource.id},
    )
    text = alice_client.get(performance_url(scored)).content.decode()
    assert f"/{project.id}/classify/iterations/tree%20model%3F/image" in text


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("   ", "Give the published iteration a name."),
        ("trees/v1", "can&#x27;t contain /"),
    ],
)
def test_publish_refuses_a_bad_name(alice_client, scored, prediction_resource, name, message):
    response = alice_client.post(
        publish_url(scored),
        {"publish_name": name, "prediction_resource": prediction_resource.id},
        follow=True,
    )
    assert "Not published:" in response.content.decode()
    assert message in response.content.decode()
    assert published_as(scored) == ("", None)


def test_publish_refuses_a_name_another_iteration_has(
    alice_client, project, scored, prediction_resource
):
    other = services.iteration_train_start(project=project, force=True)
    other = complete(other, {str(r.image_id): r.probabilities for r in scored.images.all()})
    services.iteration_publish(
        iteration=other, publish_name="treeModel", prediction_resource=prediction_resource
    )
    response = alice_client.post(
        publish_url(scored),
        {"publish_name": "treeModel", "prediction_resource": prediction_resource.id},
        follow=True,
    )
    assert "Iteration 2 is already published as &#x27;treeModel&#x27;." in (
        response.content.decode()
    )
    assert published_as(scored) == ("", None)
    assert published_as(other) == ("treeModel", prediction_resource.id)


def test_publish_refuses_a_resource_that_is_not_yours_or_not_for_prediction(
    alice_client, bob, scored, resource
):
    bobs = ResourceFactory(owner=bob, kind=Resource.Kind.PREDICTION)
    for choice in (bobs.id, resource.id, "not-an-id"):
        response = alice_client.post(
            publish_url(scored),
            {"publish_name": "treeModel", "prediction_resource": choice},
            follow=True,
        )
        assert "Choose one of your prediction resources." in response.content.decode()
    assert published_as(scored) == ("", None)


def test_publish_refuses_an_iteration_that_is_not_completed(
    alice_client, project, images, prediction_resource
):
    iteration = services.iteration_train_start(project=project)
    response = alice_client.post(
        publish_url(iteration),
        {"publish_name": "treeModel", "prediction_resource": prediction_resource.id},
        follow=True,
    )
    assert "Only a completed iteration can be published." in response.content.decode()
    assert published_as(iteration) == ("", None)


def test_without_a_prediction_resource_publish_creates_one_and_shows_its_keys_once(
    alice_client, alice, scored
):
    text = alice_client.get(performance_url(scored)).content.decode()
    assert "You have no prediction resource yet" in text
    assert "Create a new prediction resource" in text
    suggested = f"{scored.project.resource.name}-Prediction"
    assert f'value="{suggested}"' in text
    response = alice_client.post(
        publish_url(scored),
        {"publish_name": "treeModel", "prediction_resource": "", "new_resource_name": suggested},
        follow=True,
    )
    page = response.content.decode()
    made = Resource.objects.get(owner=alice, kind=Resource.Kind.PREDICTION)
    assert made.name == suggested
    assert published_as(scored) == ("treeModel", made.id)
    key = response.context["new_keys"][0]["key1"]
    assert key in page and "Published Iteration" in page
    assert key not in alice_client.get(performance_url(scored)).content.decode()


def test_publish_needs_a_resource_or_a_name(alice_client, scored):
    response = alice_client.post(
        publish_url(scored),
        {"publish_name": "treeModel", "prediction_resource": "", "new_resource_name": " "},
        follow=True,
    )
    assert "Choose a prediction resource or name a new one." in response.content.decode()
    assert published_as(scored) == ("", None)


def test_unpublish(alice_client, scored, prediction_resource):
    services.iteration_publish(
        iteration=scored, publish_name="treeModel", prediction_resource=prediction_resource
    )
    response = alice_client.post(unpublish_url(scored), follow=True)
    assert "Unpublished Iteration 1: its prediction URL is gone." in response.content.decode()
    assert published_as(scored) == ("", None)
    assert 'id="prediction-url"' not in response.content.decode()
    again = alice_client.post(unpublish_url(scored), follow=True)
    assert "Iteration 1 is not published." in again.content.decode()


# --- Delete ---------------------------------------------------------------------------------


def test_delete_confirmation_counts_the_images_that_go_with_it(
    alice_client, project, scored, images
):
    text = alice_client.get(performance_url(scored)).content.decode()
    assert "No images go with it: your training images stay in the project." in text
    removed = images["red"][:2]
    project_services.images_delete(project=project, image_ids=[i.id for i in removed])
    text = alice_client.get(performance_url(scored)).content.decode()
    assert (
        "Delete Iteration 1 and its model? 2 images you removed from the project are kept only "
        "for this iteration and will be deleted with it." in text
    )
    response = alice_client.post(
        reverse("training:delete", args=[project.id, scored.id]), follow=True
    )
    assert "Deleted Iteration 1 and 2 images only it still kept." in response.content.decode()
    assert not Iteration.objects.filter(pk=scored.pk).exists()
    assert not Image.objects.filter(pk__in=[i.id for i in removed]).exists()
    assert Image.objects.filter(project=project).count() == 8


def test_a_published_iteration_is_not_deleted(alice_client, project, scored, prediction_resource):
    services.iteration_publish(
        iteration=scored, publish_name="treeModel", prediction_resource=prediction_resource
    )
    response = alice_client.post(
        reverse("training:delete", args=[project.id, scored.id]), follow=True
    )
    assert "Unpublish the iteration before deleting it." in response.content.decode()
    assert Iteration.objects.filter(pk=scored.pk).exists()


# --- The Negative tag: trained, not scored (as Custom Vision) ------------------------------


def test_the_negative_tag_trains_but_is_not_scored(alice, alice_client, project, images):
    from projects.selectors import dataset_health

    project_services.tag_create(project=project, name="Nothing", type="Negative")
    add(project, "green", 5, ["Nothing"])
    iteration = services.iteration_train_start(project=project)
    services.iteration_run(iteration_id=iteration.id, worker="test")
    iteration.refresh_from_db()
    assert iteration.is_completed, iteration.error
    names = [t["name"] for t in iteration.tags]
    metrics = iteration.metrics
    assert metrics["unscored"] == [names.index("Nothing")]
    classes = [
        t["average_precision"]
        for t, name in zip(metrics["tags"], names, strict=True)
        if name != "Nothing"
    ]
    overall_ap = metrics["overall"]["average_precision"]
    assert overall_ap == pytest.approx(sum(classes) / 2, abs=1e-4)

    # The page: no row of its own in the per-tag table, and a sentence saying why.
    text = alice_client.get(performance_url(iteration)).content.decode()
    table = re.search(r'<table class="results" id="tag-performance">.*?</table>', text, re.S)
    assert table and "Red" in table.group() and "Nothing" not in table.group()
    assert "The Negative tag is not scored:" in text
    assert "Precision–recall curve of Nothing" not in text
    # The slider finds each row and curve's dot by the tag's place in the threshold table.
    places = {str(names.index("Red")), str(names.index("Blue"))}
    assert set(re.findall(r'<tr data-tag-index="(\d)">', text)) == places
    assert set(re.findall(r'<circle r="3" data-tag-index="(\d)"', text)) == places

    # The API (GetIterationPerformance) keeps its row, and averages the classes only.
    _r, keys = project_services.resource_create(owner=alice, name="k", kind="training")
    url = f"/customvision/v3.3/training/projects/{project.id}/iterations/{iteration.id}/performance"
    answer = alice_client.get(url, HTTP_TRAINING_KEY=keys.key1).json()
    assert sorted(t["name"] for t in answer["perTagPerformance"]) == ["Blue", "Nothing", "Red"]
    assert answer["averagePrecision"] == pytest.approx(overall_ap)

    # Training Images' health: 5 Negative images draw no "fewer than 30" advice.
    health = dataset_health(project=project)
    assert [t.tag.name for t in health.low] == ["Blue", "Red"]
    assert health.negative is not None and health.negative.tag.name == "Nothing"
    page = alice_client.get(reverse("projects:images", args=[project.id])).content.decode()
    assert "The Negative tag is not scored:" in page


def test_advanced_trainings_choice_is_said_in_the_list_and_the_header(alice_client, scored):
    why = "Kept quick training's model: the budget ran out in the final fine-tune."
    Iteration.objects.filter(pk=scored.pk).update(
        training_type=Iteration.TrainingType.ADVANCED, details={"kept": "frozen", "why": why}
    )
    text = alice_client.get(performance_url(scored)).content.decode()
    listed = re.search(r'<ul class="iteration-list">.*?</ul>', text, re.S)
    assert listed and "Advanced training · kept the quick model</span>" in listed.group()
    header = re.search(r'<p id="iteration-choice">(.*?)</p>', text)
    assert header and header.group(1) == (
        "Advanced training · kept the quick model: the budget ran out in the final fine-tune."
    )

    Iteration.objects.filter(pk=scored.pk).update(
        details={"kept": "finetuned", "why": "Fine-tuned: on the same 10 held-out images …"}
    )
    text = alice_client.get(performance_url(scored)).content.decode()
    assert "Advanced training · fine-tuned: on the same 10 held-out images …" in text
    # Quick training says nothing more than its type.
    Iteration.objects.filter(pk=scored.pk).update(training_type=Iteration.TrainingType.REGULAR)
    assert 'id="iteration-choice"' not in alice_client.get(performance_url(scored)).content.decode()
