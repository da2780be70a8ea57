"""Advanced training and honest figures, on real photos (tests/data/grocery), no Django."""

from __future__ import annotations

import dataclasses
import hashlib
import random
from pathlib import Path

import pytest
import torch

from engine import finetune
from engine import train as engine
from engine.augment import augment
from engine.data import Sample, square
from engine.features import DirectoryCache
from engine.pixels import square_size
from engine.predict import Predictor
from engine.recipes import recipe_for
from engine.squares import SquareStore

GROCERY = Path(__file__).resolve().parents[1] / "data" / "grocery"


def grocery() -> tuple[list[Sample], list[int], list[str]]:
    """The 96 shipped photos, 16 of each of 6 products, in a fixed order."""
    folders = sorted(d for d in GROCERY.iterdir() if d.is_dir())
    samples, labels = [], []
    for index, folder in enumerate(folders):
        for path in sorted(folder.glob("*.jpg")):
            data = path.read_bytes()
            samples.append(Sample(hashlib.sha256(data).hexdigest(), lambda d=data: d))
            labels.append(index)
    return samples, labels, [f.name for f in folders]


def one_hot(labels: list[int], classes: int) -> torch.Tensor:
    targets = torch.zeros(len(labels), classes)
    targets[torch.arange(len(labels)), torch.tensor(labels)] = 1
    return targets


def classify(
    samples: list[Sample], labels: list[int], names: list[str], **options
) -> engine.TrainRequest:
    """A Multiclass request for these photos (General domain unless `recipe` says)."""
    options.setdefault("recipe", recipe_for("General"))
    return engine.TrainRequest(
        samples=samples,
        targets=one_hot(labels, len(names)),
        tag_names=names,
        multilabel=False,
        **options,
    )


# Few epochs so that a fine-tune of every fold fits a test's budget on two CPU cores.
SHORT = dataclasses.replace(recipe_for("General"), min_epochs=2, good_epochs=3, max_epochs=3)


def near_chance(value: float | None, chance: float = 0.5, slack: float = 0.2) -> bool:
    return value is not None and abs(value - chance) <= slack


@pytest.fixture(scope="module")
def features_cache(tmp_path_factory) -> DirectoryCache:
    """One cache of the grocery photos' trunk features for the tests that train on them: each
    test's own cache made every test pay for the same features again (about 10 s each)."""
    return DirectoryCache(tmp_path_factory.mktemp("features"))


# --- Planning ---------------------------------------------------------------------------------


def test_plan_estimates_every_fold_when_the_budget_affords_good_fine_tunes():
    recipe = recipe_for("General")
    # 1,000 images at 1,000 images/s: an epoch of every fold and the final model is 5 s.
    plan = finetune.plan(images=1000, k=5, seconds=600, images_per_second=1000, recipe=recipe)
    assert plan.folds == 5
    assert plan.epochs == recipe.max_epochs  # more would be affordable, but no better
    assert "5 fold fine-tunes" in plan.reason


def test_plan_estimates_with_fewer_folds_rather_than_under_training():
    recipe = recipe_for("General")
    plan = finetune.plan(images=2640, k=5, seconds=125, images_per_second=3900, recipe=recipe)
    assert 1 <= plan.folds < 5
    assert plan.epochs >= recipe.good_epochs
    assert f"affords {plan.folds} of 5 folds" in plan.reason
    # What it planned fits the time it was given.
    per_epoch = 2640 / 3900 * (1 + plan.folds * 4 / 5)
    assert plan.epochs * per_epoch <= 125


def test_plan_declines_when_the_budget_cannot_improve_on_quick():
    plan = finetune.plan(
        images=2640, k=5, seconds=5, images_per_second=100, recipe=recipe_for("General")
    )
    assert plan.folds == 0 and plan.epochs == 0
    assert "under the" in plan.reason


# --- Data path --------------------------------------------------------------------------------


def test_squares_are_decoded_once_into_a_mapped_file(tmp_path):
    samples, _, _ = grocery()
    store = SquareStore.build(samples[:10], 224, tmp_path)
    side = square_size(224)
    assert store.host.shape == (10, 3, side, side) and store.host.dtype == torch.uint8
    assert (tmp_path / "squares.u8").stat().st_size == 10 * 3 * side * side
    rows = torch.tensor([7, 2])
    batch = store.gather(rows, torch.device("cpu"))
    assert torch.equal(batch[0], square(samples[7].read(), 224))
    assert torch.equal(batch[1], square(samples[2].read(), 224))


def halves(n: int) -> torch.Tensor:
    """Squares dark on the left, bright on the right."""
    squares = torch.zeros(n, 3, 256, 256, dtype=torch.uint8)
    squares[..., 128:] = 250
    return squares


def test_augmentation_is_batched_reproducible_and_within_range():
    recipe = recipe_for("General")
    first = augment(halves(8), recipe, 224, torch.Generator().manual_seed(3))
    again = augment(halves(8), recipe, 224, torch.Generator().manual_seed(3))
    assert first.shape == (8, 3, 224, 224) and first.dtype == torch.float32
    assert torch.equal(first, again)
    assert float(first.min()) >= 0 and float(first.max()) <= 255
    other = augment(halves(8), recipe, 224, torch.Generator().manual_seed(4))
    assert not torch.equal(first, other)


def test_landmarks_are_never_mirrored_and_other_domains_are():
    def mirrored(domain: str) -> int:
        recipe = dataclasses.replace(recipe_for(domain), rotation=0.0, color_jitter=0.0)
        out = augment(halves(64), recipe, 224, torch.Generator().manual_seed(0), scale=(1, 1))
        left, right = out[..., :100].mean((1, 2, 3)), out[..., 124:].mean((1, 2, 3))
        return int((left > right).sum())

    assert mirrored("Landmarks") == 0
    assert 10 < mirrored("General") < 54


def test_fine_tuned_models_are_scored_on_exactly_what_prediction_serves(tmp_path):
    """The out-of-fold path (squares in a store, batched views) and the Predictor (one image's
    bytes) give the same probabilities for the same model."""
    samples, labels, names = grocery()
    picked = [i for i, label in enumerate(labels) if label < 2][:12]
    request = classify([samples[i] for i in picked], [labels[i] for i in picked], names[:2])
    result = engine.train(request, cache=DirectoryCache(tmp_path))
    predictor = Predictor.from_bytes(result.bundle.to_bytes())
    spec = result.model.spec
    store = SquareStore.build(request.samples, spec.input_size, tmp_path)
    setup = finetune.Setup(request.recipe, spec, store, request.targets, False, torch.device("cpu"))
    model = finetune.Classifier(result.model.trunk, result.model.head)
    batched = finetune.predict(setup, model, torch.arange(len(picked)))
    one_by_one = torch.tensor([predictor.predict(s.read()) for s in request.samples])
    assert torch.allclose(batched, one_by_one, atol=1e-4)


# --- Honest figures ---------------------------------------------------------------------------


def shuffled_two_tags(seed: int) -> tuple[list[Sample], list[int]]:
    """All 96 photos under two tags that mean nothing: 48 each, assigned at random."""
    samples, _, _ = grocery()
    labels = [0] * 48 + [1] * 48
    random.Random(seed).shuffle(labels)
    return samples, labels


def reported(metrics: dict) -> list[float | None]:
    overall = metrics["overall"]
    tags = metrics["tags"]
    return [
        overall["precision"][50],
        overall["recall"][50],
        overall["average_precision"],
        *(t["precision"][50] for t in tags),
        *(t["average_precision"] for t in tags),
    ]


def test_random_labels_report_chance_in_quick_training(features_cache):
    samples, labels = shuffled_two_tags(seed=11)
    result = engine.train(classify(samples, labels, ["a", "b"]), cache=features_cache)
    figures = reported(result.metrics)
    assert all(near_chance(v) for v in figures), figures


def test_random_labels_report_chance_in_advanced_training_even_for_the_fine_tunes(features_cache):
    """Each fold's fine-tune starts from a head fitted without that fold: the fine-tuned
    models' own held-out scores (compared with Quick's) are at chance too."""
    samples, labels = shuffled_two_tags(seed=12)
    request = classify(
        samples, labels, ["a", "b"], recipe=SHORT, advanced=True, budget_seconds=150, folds=3
    )
    result = engine.train(request, cache=features_cache)
    details = result.details
    assert details["estimated_folds"] == 3, details
    assert near_chance(details["compared"]["fine_tuned_map"]), details
    assert near_chance(details["compared"]["frozen_map"]), details
    figures = reported(result.metrics)
    assert all(near_chance(v) for v in figures), (figures, details)
    assert result.seconds <= 150 * 1.05


def test_reported_precision_matches_photos_the_model_never_saw(features_cache):
    """Train on two thirds of the photos: the cross-validated precision at 50 % is within 0.1
    of the precision the final model really has on the held-out third."""
    samples, labels, names = grocery()
    order = list(range(len(samples)))
    random.Random(5).shuffle(order)
    train_rows, test_rows = order[:64], order[64:]
    request = classify([samples[i] for i in train_rows], [labels[i] for i in train_rows], names)
    result = engine.train(request, cache=features_cache)
    predictor = Predictor(result.bundle)
    probabilities = torch.tensor([predictor.predict(samples[i].read()) for i in test_rows])
    truth = one_hot([labels[i] for i in test_rows], len(names)).bool()
    predicted = probabilities >= 0.5
    real = float((predicted & truth).sum() / predicted.sum())
    assert abs(result.metrics["overall"]["precision"][50] - real) <= 0.1, (
        result.metrics["overall"]["precision"][50],
        real,
    )


# --- Advanced: model choice and budget ---------------------------------------------------------


def test_advanced_keeps_quick_when_fine_tuning_does_not_beat_it_and_says_why(features_cache):
    samples, labels, names = grocery()
    request = classify(
        samples, labels, names, recipe=SHORT, advanced=True, budget_seconds=120, folds=3
    )
    result = engine.train(request, cache=features_cache)
    details = result.details
    compared = details["compared"]
    better = (
        compared["fine_tuned_map"] >= compared["frozen_map"] + engine.KEEP_MARGIN
        and compared["fine_tuned_wins"] >= engine.KEEP_CONFIDENCE
    )
    assert details["kept"] == ("finetuned" if better else "frozen")
    assert result.kind == details["kept"]
    assert details["why"].startswith("Fine-tuned" if better else "Kept quick training's model")
    assert details["images_per_second"] > 0
    assert result.seconds <= 120 * 1.05


def test_a_kept_fine_tune_reports_only_the_folds_it_estimated(features_cache, monkeypatch):
    # Keep the fine-tune whatever it scores.
    monkeypatch.setattr(engine, "KEEP_MARGIN", -1.0)
    monkeypatch.setattr(engine, "KEEP_CONFIDENCE", 0.0)
    samples, labels, names = grocery()
    rows = [i for i, label in enumerate(labels) if label < 3]
    recipe = dataclasses.replace(SHORT, good_epochs=10_000, max_epochs=6)  # so one fold
    request = classify(
        [samples[i] for i in rows],
        [labels[i] for i in rows],
        names[:3],
        recipe=recipe,
        advanced=True,
        budget_seconds=45,
        folds=4,
    )
    result = engine.train(request, cache=features_cache)
    details = result.details
    assert result.kind == "finetuned", details
    assert details["estimated_folds"] == 1
    assert "Estimated on 1 of 4 folds" in details["why"]
    estimated = result.folds >= 0
    assert int(estimated.sum()) == details["compared"]["images"] == 12
    assert torch.isnan(result.oof_probabilities[~estimated]).all()
    assert not torch.isnan(result.oof_probabilities[estimated]).any()
    assert sum(t["image_count"] for t in result.metrics["tags"]) == 12
    assert result.seconds <= 45 * 1.05
    predictor = Predictor.from_bytes(result.bundle.to_bytes())
    assert len(predictor.predict(samples[rows[0]].read())) == 3


def test_a_budget_too_small_to_fine_tune_keeps_quick(features_cache):
    samples, labels, names = grocery()
    request = classify(samples[:32], labels[:32], names[:2], advanced=True, budget_seconds=3)
    result = engine.train(request, cache=features_cache)
    assert result.kind == "frozen"
    assert result.details["kept"] == "frozen"
    assert result.details["estimated_folds"] == 0
    assert "Kept quick training's model" in result.details["why"]


def test_plan_caps_a_single_fold_at_the_recipe_s_most_epochs():
    recipe = dataclasses.replace(recipe_for("General"), good_epochs=10_000, max_epochs=7)
    plan = finetune.plan(images=100, k=5, seconds=600, images_per_second=100, recipe=recipe)
    assert (plan.folds, plan.epochs) == (1, 7)
