"""The prediction endpoint's one query: key and published iteration together, from SQL compiled
once per process."""

from __future__ import annotations

import pytest

from prediction.services import published_iteration_for_key
from projects import services
from projects.services.resources import key_hash
from training import services as training_services

pytestmark = pytest.mark.django_db


def test_either_key_of_the_resource_it_is_published_to_finds_it_and_nothing_else_does(
    trained, alice, bob
):
    target, keys = services.resource_create(owner=alice, name="edge", kind="prediction")
    _, other = services.resource_create(owner=alice, name="other", kind="prediction")
    _, training = services.resource_create(owner=alice, name="t2", kind="training")
    _, bobs = services.resource_create(owner=bob, name="bob", kind="prediction")
    training_services.iteration_publish(
        iteration=trained, publish_name="live", prediction_resource=target
    )

    def find(key, project=trained.project_id, name="live"):
        return published_iteration_for_key(
            key_digest=key_hash(key), project_id=project, publish_name=name
        )

    assert find(keys.key1).id == trained.id and find(keys.key2).id == trained.id
    assert find(keys.key1).tags == trained.tags  # a whole, usable row
    for wrong in (other.key1, training.key1, bobs.key1, "nonsense"):
        assert find(wrong) is None
    assert find(keys.key1, name="Live") is None and find(keys.key1, name="") is None
    assert find(keys.key1, project=target.id) is None
    training_services.iteration_unpublish(iteration=trained)
    assert find(keys.key1) is None


def test_a_nostore_prediction_makes_one_query(trained, alice, client, django_assert_num_queries):
    """The lookup reads only the columns a prediction uses (`PREDICTION_FIELDS`): a column it
    missed would be a second query, per request, when the view touches it."""
    from tests.training.synthetic import photo

    target, keys = services.resource_create(owner=alice, name="edge", kind="prediction")
    training_services.iteration_publish(
        iteration=trained, publish_name="live", prediction_resource=target
    )
    url = f"/customvision/v3.0/Prediction/{trained.project_id}/classify/iterations/live/image"
    image = photo("red")
    client.post(url + "/nostore", image, "application/octet-stream", HTTP_PREDICTION_KEY=keys.key1)
    with django_assert_num_queries(1):
        response = client.post(
            url + "/nostore", image, "application/octet-stream", HTTP_PREDICTION_KEY=keys.key1
        )
    assert response.status_code == 200
    assert response.json()["predictions"][0]["tagName"] == "Red"
