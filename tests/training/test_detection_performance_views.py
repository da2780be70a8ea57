"""A detector's Performance tab without JavaScript: the figures at the sliders' values (Azure's
portal opens at 50 % and 30 %; ?threshold=&overlap= is the no-JS form), the data the sliders
recompute from, and the images drawn with their missed and false boxes."""

from __future__ import annotations

import json
import re

import pytest
from django.urls import reverse

from tests.training.detection_scored import scored_detector
from training import selectors
from training.templatetags.training_format import percent

pytestmark = pytest.mark.django_db


@pytest.fixture
def scored(alice, resource, monkeypatch):
    return scored_detector(alice, resource, monkeypatch)


def url(iteration, **query):
    base = reverse("training:performance", args=[iteration.project_id, iteration.id])
    return base + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


def shown(html: str, element_id: str) -> str:
    return re.search(rf'id="{element_id}"[^>]*>([^<]*)<', html).group(1)


@pytest.mark.parametrize(
    ("query", "threshold", "overlap"),
    [({}, 0.5, 0.3), ({"threshold": 70, "overlap": 60}, 0.7, 0.6), ({"threshold": "x"}, 0.5, 0.3)],
)
def test_figures_at_the_sliders_values(alice_client, scored, query, threshold, overlap):
    html = alice_client.get(url(scored, **query)).content.decode()
    expected = selectors.iteration_detection_performance(scored, threshold, overlap)
    assert f'value="{round(threshold * 100)}"' in html and "Probability Threshold" in html
    assert (
        f'id="overlap" name="overlap" min="0" max="100" step="1" value="{round(overlap * 100)}"'
        in html
    )
    assert shown(html, "overall-precision") == percent(expected["overall"]["precision"])
    assert shown(html, "overall-recall") == percent(expected["overall"]["recall"])
    assert shown(html, "overall-map") == percent(expected["overall"]["average_precision"])
    for tag in expected["tags"]:
        assert f'<td class="tag-name">{tag["name"]}</td>' in html
        assert f">{percent(tag['average_precision'])}</td>" in html
    # Details name the type, not a classification type a detector does not have.
    assert "· Object Detection</dd>" in html and "Multiclass" not in html


def test_the_page_ships_what_the_sliders_recompute_from(alice_client, scored):
    response = alice_client.get(url(scored))
    data = json.loads(
        re.search(
            r'id="detection-data"[^>]*>(.*?)</script>', response.content.decode(), re.S
        ).group(1)
    )
    assert data == selectors.detection_page_data(scored)
    assert [t["name"] for t in data["tags"]] == ["fork", "scissors"]
    assert len(data["images"]) == 10 and data["images"][-1]["detections"] == []


def test_images_with_missed_or_false_boxes_are_drawn(alice_client, scored):
    html = alice_client.get(url(scored, threshold=50, overlap=30)).content.decode()
    drawn = selectors.detection_mistakes(scored, 0.5, 0.3)
    wrong = [d for d in drawn if d.count]
    assert wrong and len(wrong) < len(drawn)
    assert re.search(rf'id="mistake-count">{len(wrong)}<', html)
    # Every image is drawn (ten); those without a mistake hidden, for the sliders to show.
    assert html.count('<li class="thumb outcome" data-image-index=') == len(drawn)
    assert html.count("hidden>") >= len(drawn) - len(wrong)
    for kind in ("region", "missed", "found", "false"):
        assert f'class="box box-{kind}"' in html
    # The last image has no detection: its fork or scissors is missed.
    last = next(d for d in drawn if d.index == 9)
    assert last.missed == 1 and [b["kind"] for b in last.boxes] == ["missed"]
    # Weaker detections come along hidden.
    assert re.search(r'<g class="box box-false" data-probability="0\.(2|3|4)\d*" hidden>', html)


def test_a_detection_iteration_is_the_owners_only(client, bob, scored):
    assert client.get(url(scored)).status_code == 302
    client.force_login(bob)
    assert client.get(url(scored)).status_code == 404
