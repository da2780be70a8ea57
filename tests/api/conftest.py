from __future__ import annotations

import pytest

from projects import services


@pytest.fixture
def keys(alice):
    training = services.resource_create(owner=alice, name="train", kind="training")
    prediction = services.resource_create(owner=alice, name="my-prediction", kind="prediction")
    return training, prediction
