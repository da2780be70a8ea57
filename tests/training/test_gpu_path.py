"""The engine's GPU code path, run on the CPU through the same code.

No GPU has been lent to this project yet, so bf16 autocast, channels_last, the squares held on
the device, GPU batches, every stage fine-tuned and the producer thread that feeds them would
first run on a customer's GPU. `profile="gpu"` takes that path on any device: tiny images and
one epoch per fine-tune keep it a short test, and a bug of that path shows here first.
"""

from __future__ import annotations

import dataclasses
import threading

import pytest
import torch

from engine import finetune
from engine import train as engine
from engine.backbones import resolve
from engine.features import DirectoryCache, Sample
from engine.predict import Predictor
from engine.recipes import recipe_for
from tests.training.synthetic import photo

# One epoch per fine-tune; every fold is estimated.
ONE_EPOCH = dataclasses.replace(recipe_for("General"), min_epochs=1, good_epochs=1, max_epochs=1)


def tiny_request(**options) -> engine.TrainRequest:
    """Six red and six blue photos, Advanced, on the GPU path."""
    samples, rows = [], []
    for c, colour in enumerate(("red", "blue")):
        for i in range(6):
            data = photo(colour, seed=c * 100 + i)
            samples.append(Sample(key=f"gpu-{colour}-{i}", read=lambda d=data: d))
            rows.append([float(c == 0), float(c == 1)])
    return engine.TrainRequest(
        samples=samples,
        targets=torch.tensor(rows),
        tag_names=["red", "blue"],
        multilabel=False,
        recipe=ONE_EPOCH,
        advanced=True,
        budget_seconds=300,
        folds=2,
        device="cpu",
        **options,
    )


def tiny_backbone():
    """The General recipe's real backbone, given 32 px inputs instead of 224."""
    backbone = resolve(ONE_EPOCH.torchvision, ONE_EPOCH.bundled)
    return dataclasses.replace(backbone, spec=dataclasses.replace(backbone.spec, input_size=32))


def test_the_gpu_path_trains_exports_and_serves_on_a_cpu(tmp_path, monkeypatch):
    # Keep the fine-tune whatever it scores, so the final fine-tune and its export run too.
    monkeypatch.setattr(engine, "KEEP_MARGIN", -1.0)
    monkeypatch.setattr(engine, "KEEP_CONFIDENCE", 0.0)
    steps: list[tuple[int, bool, torch.dtype]] = []
    step = finetune._step

    def watched(setup, model, optimiser, x, y):
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=setup.gpu):
            dtype = model.trunk.stages[0](x[:1]).dtype
        steps.append((len(x), x.is_contiguous(memory_format=torch.channels_last), dtype))
        step(setup, model, optimiser, x, y)

    monkeypatch.setattr(finetune, "_step", watched)
    producers: set[str] = set()
    batch = finetune._batch

    def produced(setup, rows, generator):
        producers.add(threading.current_thread().name)
        return batch(setup, rows, generator)

    monkeypatch.setattr(finetune, "_batch", produced)

    request = tiny_request(profile="gpu", scratch_dir=tmp_path)
    result = engine.train(request, backbone=tiny_backbone(), cache=DirectoryCache(tmp_path))

    details = result.details
    assert result.kind == "finetuned", details
    assert result.device == "cpu"
    assert details["amp"] == "bf16"
    assert details["squares_on_device"] is True
    assert details["fine_tuned_stages"] == "all"
    assert details["estimated_folds"] == 2
    assert details["completed_share"] == [1.0, 1.0, 1.0]
    # Whole GPU batches (here every image of a fold at once), channels_last, in bf16.
    assert steps and all(n <= ONE_EPOCH.gpu_batch_size for n, *_ in steps)
    assert max(n for n, *_ in steps) == len(request.samples)  # the final fine-tune, one batch
    assert all(last and dtype == torch.bfloat16 for _, last, dtype in steps)
    assert "augment" in producers  # fine-tunes' batches come from the producer thread
    # Every image scored out of fold, by finite probabilities; the served graph agrees.
    assert not torch.isnan(result.oof_probabilities).any()
    assert torch.allclose(result.oof_probabilities.sum(1), torch.ones(12), atol=0.02)
    assert (result.folds >= 0).all()
    predictor = Predictor.from_bytes(result.bundle.to_bytes())
    assert predictor.image_size == result.model.image_size
    data = request.samples[0].read()
    served = torch.tensor(predictor.predict(data))
    with torch.no_grad():
        expected = result.model(predictor_pixels(data, predictor.image_size))[0]
    assert torch.allclose(served, expected, atol=1e-4)


def predictor_pixels(data: bytes, side: int) -> torch.Tensor:
    from engine.pixels import load_rgb, pixels_of

    return torch.from_numpy(pixels_of(load_rgb(data, side), side))


def test_the_cpu_path_is_the_default_on_a_cpu_and_a_wrong_profile_is_refused(monkeypatch):
    cpu = torch.device("cpu")
    monkeypatch.delenv("CV_ENGINE_PROFILE", raising=False)
    assert engine.pick_profile(None, cpu) is False
    assert engine.pick_profile("gpu", cpu) is True
    monkeypatch.setenv("CV_ENGINE_PROFILE", "gpu")
    assert engine.pick_profile(None, cpu) is True
    assert engine.pick_profile("cpu", cpu) is False
    with pytest.raises(ValueError, match="Unknown engine profile"):
        engine.pick_profile("tpu", cpu)
