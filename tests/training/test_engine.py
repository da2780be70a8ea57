"""The engine on its own: no Django, real pretrained weights, synthetic images."""

from __future__ import annotations

import pytest
import torch

from engine.data import square
from engine.features import DirectoryCache, Sample
from engine.predict import Predictor
from engine.recipes import recipe_for
from engine.train import TrainRequest, assign_folds, fold_count, train
from tests.training.synthetic import photo


def make_request(classes, per_class, multilabel=False, domain="General", **kwargs):
    samples, rows = [], []
    for c, colour in enumerate(classes):
        for i in range(per_class):
            data = photo(colour, seed=c * 100 + i)
            samples.append(Sample(key=f"{colour}-{i}", read=lambda d=data: d))
            rows.append([1.0 if j == c else 0.0 for j in range(len(classes))])
    return TrainRequest(
        samples=samples,
        targets=torch.tensor(rows),
        tag_names=list(classes),
        multilabel=multilabel,
        recipe=recipe_for(domain),
        **kwargs,
    )


class CountingCache(DirectoryCache):
    def __init__(self, root):
        super().__init__(root)
        self.puts = 0

    def put(self, namespace, key, value):
        self.puts += 1
        super().put(namespace, key, value)


def test_quick_training_separates_colours_with_honest_metrics(tmp_path):
    phases = []
    result = train(
        make_request(["red", "blue"], 8),
        cache=DirectoryCache(tmp_path),
        progress=lambda p, phase: phases.append((p, phase)),
    )
    assert result.weights_source.startswith("bundled efficientnet-lite0")
    overall = result.metrics["overall"]
    assert overall["precision"][50] == 1.0 and overall["recall"][50] == 1.0
    assert overall["average_precision"] == 1.0
    assert result.metrics["folds"] == 5
    # Out-of-fold probabilities: every image was scored, each row sums to one (softmax).
    assert torch.allclose(result.oof_probabilities.sum(1), torch.ones(16), atol=1e-5)
    assert [p for p, _ in phases] == sorted(p for p, _ in phases)
    assert phases[-1] == (100, "Completed")


def test_model_bundle_round_trip_predicts_the_right_tag(tmp_path):
    result = train(make_request(["red", "blue", "green"], 6), cache=DirectoryCache(tmp_path))
    predictor = Predictor.from_bytes(result.bundle.to_bytes())
    for index, colour in enumerate(["red", "blue", "green"]):
        photos = [photo(colour, seed=990 + 10 * index + k) for k in range(5)]
        answers = [predictor.predict(p) for p in photos]
        # Six photos a colour make a small model: most new photos, not every one, go right.
        right = sum(max(range(3), key=probs.__getitem__) == index for probs in answers)
        assert right >= 4, (colour, answers)
        assert all(abs(sum(probs) - 1) < 1e-5 for probs in answers)
        # The ONNX graph from the file computes what the trained torch modules do.
        with torch.no_grad():
            reference = result.model(square(photos[0], 224)[None].float())[0]
        assert torch.allclose(torch.tensor(answers[0]), reference, atol=1e-4)


def test_multilabel_uses_independent_sigmoids(tmp_path):
    samples, rows = [], []
    combos = [("red", None, [1, 0]), ("blue", None, [0, 1]), ("red", "blue", [1, 1])]
    for k, (a, b, row) in enumerate(combos):
        for i in range(6):
            data = photo(a, seed=k * 50 + i, second=b)
            samples.append(Sample(key=f"{k}-{i}", read=lambda d=data: d))
            rows.append(row)
    request = TrainRequest(
        samples=samples,
        targets=torch.tensor(rows, dtype=torch.float),
        tag_names=["red", "blue"],
        multilabel=True,
        recipe=recipe_for("General"),
    )
    result = train(request, cache=DirectoryCache(tmp_path))
    assert result.metrics["overall"]["average_precision"] > 0.9
    both = result.oof_probabilities[12:]
    assert (both > 0.5).all(), both  # images with both shapes get both tags


def test_feature_cache_makes_a_retrain_compute_only_new_images(tmp_path):
    cache = CountingCache(tmp_path)
    train(make_request(["red", "blue"], 5), cache=cache)
    assert cache.puts == 10
    bigger = make_request(["red", "blue"], 7)
    train(bigger, cache=cache)
    assert cache.puts == 14  # only the 4 new images


def test_landmarks_recipe_never_flips():
    recipe = recipe_for("Landmarks")
    assert "flip" not in recipe.train_views + recipe.test_views and not recipe.flips
    assert recipe_for("Retail").color_jitter == 0
    assert recipe_for("General (compact)").torchvision == ("mobilenet_v3_large",)


def test_folds_are_stratified():
    targets = torch.tensor([[1, 0]] * 10 + [[0, 1]] * 5, dtype=torch.float)
    k = fold_count(targets, 5, multilabel=False)
    folds = assign_folds(targets, k, seed=1)
    assert k == 5
    for fold in range(k):
        rows = targets[folds == fold]
        assert rows[:, 1].sum() == 1 and rows[:, 0].sum() == 2


def test_a_model_file_from_before_onnx_still_predicts(tmp_path):
    """Iterations trained before the ONNX bundle kept a torch pickle of trunk and head: they
    load, converted on first use, and answer as the modules do."""
    import io as _io

    from engine.bundle import ModelBundle
    from engine.legacy import LEGACY_FORMAT

    result = train(make_request(["red", "blue"], 5), cache=DirectoryCache(tmp_path))
    model = result.model
    old = {
        "format": LEGACY_FORMAT,
        "version": 1,
        "kind": "frozen",
        "backbone": model.spec.name,
        "weights_source": result.weights_source,
        "input_size": model.spec.input_size,
        "mean": list(model.spec.mean),
        "std": list(model.spec.std),
        "test_views": list(model.test_views),
        "multilabel": False,
        "tag_names": ["red", "blue"],
        "recipe": {},
        "trunk_state": model.trunk.state_dict(),
        "head_state": model.head.state_dict(),
        "tag_ids": ["r", "b"],
    }
    buffer = _io.BytesIO()
    torch.save(old, buffer)
    bundle = ModelBundle.from_bytes(buffer.getvalue())
    assert (bundle.tag_names, bundle.tag_ids, bundle.image_size) == (
        ["red", "blue"],
        ["r", "b"],
        256,
    )
    data = photo("blue", seed=4242)
    with torch.no_grad():
        expected = model(square(data, 224)[None].float())[0]
    assert torch.allclose(torch.tensor(Predictor(bundle).predict(data)), expected, atol=1e-4)
    with pytest.raises(ValueError, match="Not a model file"):
        ModelBundle.from_bytes(b"garbage")


def test_a_predictor_keeps_one_copy_of_the_weights(tmp_path):
    import gc
    import weakref

    from engine.bundle import ModelBundle

    result = train(make_request(["red", "blue"], 5), cache=DirectoryCache(tmp_path))
    data = result.bundle.to_bytes()
    bundle = ModelBundle.from_bytes(data)
    graph = weakref.ref(bundle)
    predictor = Predictor(bundle)
    del bundle
    gc.collect()
    # The session has the weights; the bundle (and its ONNX bytes) is not held on to.
    assert graph() is None
    assert predictor.tag_names == ["red", "blue"]
    assert predictor.predict(photo("red", seed=4)) == Predictor.from_bytes(data).predict(
        photo("red", seed=4)
    )


def test_features_fill_from_the_cache_and_compute_only_what_it_lacks(tmp_path):
    from engine.backbones import resolve
    from engine.data import preprocessing_key
    from engine.features import extract

    recipe = recipe_for("General")
    backbone = resolve(recipe.torchvision, recipe.bundled)
    net = backbone.build()
    samples = [
        Sample(key=f"s{i}", read=lambda i=i: photo(["red", "blue"][i % 2], seed=i))
        for i in range(5)
    ]
    views = ("center", "flip")
    fresh = extract(net, backbone, samples, views, DirectoryCache(tmp_path), torch.device("cpu"))
    assert {v: t.shape for v, t in fresh.items()} == dict.fromkeys(
        views, (5, fresh["center"].shape[1])
    )
    # One image cached without its flipped view: that view is computed, the rest read.
    cache = CountingCache(tmp_path)
    namespace = preprocessing_key(backbone.spec)
    cache.put(namespace, "s2", {"center": fresh["center"][2].clone()})
    cache.flush()  # `put` may write after it returns: the read below must find this value
    cache.puts = 0
    again = extract(net, backbone, samples, views, cache, torch.device("cpu"))
    assert cache.puts == 1  # only s2, now with both views
    for view in views:
        assert torch.allclose(again[view], fresh[view], atol=1e-5)


def test_the_feature_cache_reads_and_writes_several_at_once_in_order(tmp_path, caplog):
    """Against a shared bucket every read and write is a round trip: BlobCache overlaps them,
    hands values back in the keys' order, and a failed write costs a recomputation, not the
    training."""
    import threading
    import time

    from engine.features import BlobCache, DirectoryBlobs

    class RoundTrips(DirectoryBlobs):
        """A folder that takes 10 ms an operation and notes how many ran at once."""

        def __init__(self, root):
            super().__init__(root)
            self.lock, self.active, self.peak = threading.Lock(), 0, {"read": 0, "write": 0}
            self.failing: set[str] = set()

        def _trip(self, kind, work):
            with self.lock:
                self.active += 1
                self.peak[kind] = max(self.peak[kind], self.active)
            try:
                time.sleep(0.01)
                return work()
            finally:
                with self.lock:
                    self.active -= 1

        def read(self, key):
            return self._trip("read", lambda: super(RoundTrips, self).read(key))

        def write(self, key, data):
            if any(name in key for name in self.failing):
                raise OSError("the bucket said no")
            return self._trip("write", lambda: super(RoundTrips, self).write(key, data))

    blobs = RoundTrips(tmp_path)
    blobs.failing.add("k07")
    cache = BlobCache(blobs, threads=4)
    for i in range(20):
        cache.put("ns", f"k{i:02}", {"center": torch.full((3,), float(i))})
    cache.flush()  # the failed write is logged, not raised
    assert "Could not cache features" in caplog.text
    keys = [f"k{i:02}" for i in range(20)] + ["never-written"]
    values = list(cache.get_many("ns", keys))
    assert [None if v is None else int(v["center"][0]) for v in values] == [
        *range(7),
        None,
        *range(8, 20),
        None,
    ]
    assert cache.hits == 19
    assert blobs.peak["read"] > 1 and blobs.peak["write"] > 1


def test_phases_count_each_second_once_in_the_innermost_phase(monkeypatch):
    from engine import phases as module

    clock = iter([0.0, 1.0, 3.0, 7.0])  # features opens, decode opens, closes, features closes
    monkeypatch.setattr(module.time, "perf_counter", lambda: next(clock))
    phases = module.Phases()
    with phases("features"), phases("decode"):
        pass
    assert phases.rounded() == {"decode": 2.0, "features": 5.0}


def test_a_frozen_trunk_is_traced_once_and_reuse_gives_the_graph_a_fresh_trace_does(
    monkeypatch,
):
    from engine import serving
    from engine.backbones import resolve
    from engine.head import LinearHead

    recipe = recipe_for("General")
    backbone = resolve(recipe.torchvision, recipe.bundled)
    monkeypatch.setattr(serving, "_templates", type(serving._templates)())
    traced = []
    trace = serving._trace
    monkeypatch.setattr(serving, "_trace", lambda model: traced.append(model) or trace(model))

    def serving_model(classes, trunk=None):
        net = trunk or backbone.build()
        head = LinearHead(torch.randn(net.feature_dim), torch.rand(net.feature_dim) + 0.5, classes)
        return serving.ServingModel(net, head, backbone.spec, recipe.test_views, False)

    serving.export_onnx(serving_model(2), {"tags": "a,b"}, trunk_key=backbone.source)
    three = serving_model(3)  # another tag count, another head: the same graph with them put in
    reused = serving.export_onnx(three, {"tags": "a,b,c"}, trunk_key=backbone.source)
    assert len(traced) == 1
    assert reused == serving.export_onnx(three, {"tags": "a,b,c"})  # traced afresh
    assert len(traced) == 2
    changed = backbone.build()
    with torch.no_grad():
        next(changed.parameters()).add_(0.01)
    serving.export_onnx(serving_model(3, changed), {}, trunk_key=backbone.source)
    assert len(traced) == 3  # a trunk that differs is never served another's graph
