"""Frozen-backbone features per image and view, cached so a retrain only computes new images."""

from __future__ import annotations

import io
import logging
import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import torch

from training.engine.backbones import FeatureNet, ResolvedBackbone
from training.engine.data import Sample, preprocessing_key
from training.engine.data import views as make_views

if TYPE_CHECKING:
    from training.engine.squares import SquareStore

__all__ = ["DirectoryCache", "FeatureCache", "NoCache", "Sample", "extract"]

logger = logging.getLogger(__name__)


class FeatureCache(Protocol):
    def get(self, namespace: str, key: str) -> dict[str, torch.Tensor] | None: ...
    def put(self, namespace: str, key: str, value: dict[str, torch.Tensor]) -> None: ...


class NoCache:
    def get(self, namespace: str, key: str) -> dict[str, torch.Tensor] | None:
        return None

    def put(self, namespace: str, key: str, value: dict[str, torch.Tensor]) -> None:
        return None


class DirectoryCache:
    """One small file per image under root/<backbone-preprocessing>/; written atomically."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _path(self, namespace: str, key: str) -> Path:
        return self.root / namespace / key[:2] / f"{key}.pt"

    def get(self, namespace: str, key: str) -> dict[str, torch.Tensor] | None:
        path = self._path(namespace, key)
        if not path.is_file():
            return None
        try:
            value: dict[str, torch.Tensor] = torch.load(path, map_location="cpu", weights_only=True)
            return value
        except Exception:  # a torn or stale file is recomputed, never trusted
            logger.warning("Ignoring unreadable feature cache file %s", path)
            return None

    def put(self, namespace: str, key: str, value: dict[str, torch.Tensor]) -> None:
        path = self._path(namespace, key)
        path.parent.mkdir(parents=True, exist_ok=True)
        buffer = io.BytesIO()
        torch.save(value, buffer)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(fd, "wb") as handle:
            handle.write(buffer.getvalue())
        Path(tmp).replace(path)


def extract(
    net: FeatureNet,
    backbone: ResolvedBackbone,
    samples: Sequence[Sample],
    views: Sequence[str],
    cache: FeatureCache,
    device: torch.device,
    on_progress: Callable[[int, int], None] = lambda done, total: None,
    batch_size: int | None = None,
    store: SquareStore | None = None,
) -> dict[str, torch.Tensor]:
    """Features of every sample for each view: {view: tensor (len(samples), feature_dim)}.

    Only images missing from the cache are read: from `store` when the training already
    decoded them, else decoded here.
    """
    from training.engine.squares import decode_squares

    spec = backbone.spec
    namespace = preprocessing_key(spec)
    rows: list[dict[str, torch.Tensor] | None] = []
    missing: list[int] = []
    for index, sample in enumerate(samples):
        cached = cache.get(namespace, sample.key)
        if cached is not None and all(v in cached for v in views):
            rows.append(cached)
        else:
            rows.append(cached)
            missing.append(index)
    net.eval().to(device)
    batch_size = batch_size or (128 if device.type == "cuda" else 16)
    done = len(samples) - len(missing)
    on_progress(done, len(samples))
    for start in range(0, len(missing), batch_size):
        chunk = missing[start : start + batch_size]
        if store is not None:
            squares = store.gather(torch.tensor(chunk), device)
        else:
            squares = torch.stack(decode_squares([samples[i] for i in chunk], spec.input_size))
        computed: dict[str, torch.Tensor] = {}
        with torch.inference_mode():
            for name, batch in zip(views, make_views(squares.to(device), views, spec), strict=True):
                computed[name] = net(batch).float().cpu()
        for offset, index in enumerate(chunk):
            value = dict(rows[index] or {})
            value.update({name: computed[name][offset].clone() for name in views})
            rows[index] = value
            cache.put(namespace, samples[index].key, value)
        done += len(chunk)
        on_progress(done, len(samples))
    return {name: torch.stack([row[name] for row in rows if row is not None]) for name in views}
