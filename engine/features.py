"""Frozen-backbone features per image and view, cached so a retrain only computes new images."""

from __future__ import annotations

import io
import logging
import os
import tempfile
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import torch

from engine.backbones import FeatureNet, ResolvedBackbone
from engine.data import Sample, preprocessing_key
from engine.data import views as make_views
from engine.phases import Phases

if TYPE_CHECKING:
    from engine.squares import SquareStore

__all__ = [
    "BlobCache",
    "Blobs",
    "DirectoryBlobs",
    "DirectoryCache",
    "FeatureCache",
    "NoCache",
    "Sample",
    "TieredBlobs",
    "extract",
]

logger = logging.getLogger(__name__)


Features = dict[str, torch.Tensor]


class FeatureCache(Protocol):
    def get_many(self, namespace: str, keys: Sequence[str]) -> Iterator[Features | None]:
        """The cached value of each key, in their order (None where there is none)."""
        ...

    def put(self, namespace: str, key: str, value: Features) -> None:
        """Keep `value`; it may be written after this returns, until `flush`."""
        ...

    def flush(self) -> None: ...


class NoCache:
    def get_many(self, namespace: str, keys: Sequence[str]) -> Iterator[Features | None]:
        return iter([None] * len(keys))

    def put(self, namespace: str, key: str, value: Features) -> None:
        return None

    def flush(self) -> None:
        return None


class Blobs(Protocol):
    """Bytes by key: a local folder, or (given by the caller) storage every host shares."""

    def read(self, key: str) -> bytes | None: ...
    def write(self, key: str, data: bytes) -> None: ...


class DirectoryBlobs:
    """Files under a local folder, written atomically (a reader never sees half a file)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def read(self, key: str) -> bytes | None:
        path = self.root / key
        try:
            return path.read_bytes()
        except FileNotFoundError:
            return None

    def write(self, key: str, data: bytes) -> None:
        path = self.root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        Path(tmp).replace(path)


class TieredBlobs:
    """A near store (this host's disk) in front of a far one (shared by every worker): reads
    try near first and keep a far hit near; writes go to both."""

    def __init__(self, near: Blobs, far: Blobs) -> None:
        self.near, self.far = near, far

    def read(self, key: str) -> bytes | None:
        data = self.near.read(key)
        if data is None:
            data = self.far.read(key)
            if data is not None:
                self.near.write(key, data)
        return data

    def write(self, key: str, data: bytes) -> None:
        self.near.write(key, data)
        self.far.write(key, data)


class BlobCache:
    """Features as one small file per image and preprocessing (<namespace>/<key>.pt), in any
    Blobs. Counts its hits: a retrain reports how many images it did not recompute.

    Reads and writes go through a few threads. Against storage every host shares each one is
    a round trip of tens of milliseconds, so a host's first training of a 100,000-image
    project would otherwise wait an hour on them, one at a time.
    """

    READ_CHUNK = 256  # values decoded and held at a time, whatever the number of keys
    PENDING_WRITES = 64  # writes queued at most before `put` waits for the oldest

    def __init__(self, blobs: Blobs, threads: int = 8) -> None:
        self.blobs = blobs
        self.hits = 0
        self.threads = threads
        self._pool: ThreadPoolExecutor | None = None
        self._writes: deque[Future[None]] = deque()

    @staticmethod
    def _key(namespace: str, key: str) -> str:
        return f"{namespace}/{key[:2]}/{key}.pt"

    def _io(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="feature-cache")
        return self._pool

    def get_many(self, namespace: str, keys: Sequence[str]) -> Iterator[Features | None]:
        paths = [self._key(namespace, key) for key in keys]
        for start in range(0, len(paths), self.READ_CHUNK):
            chunk = paths[start : start + self.READ_CHUNK]
            for path, data in zip(chunk, self._io().map(self.blobs.read, chunk), strict=True):
                yield self._loaded(path, data)

    def _loaded(self, path: str, data: bytes | None) -> Features | None:
        if data is None:
            return None
        try:
            value: Features = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
        except Exception:  # a torn or stale file is recomputed, never trusted
            logger.warning("Ignoring unreadable cached features %s", path)
            return None
        self.hits += 1
        return value

    def put(self, namespace: str, key: str, value: Features) -> None:
        buffer = io.BytesIO()
        torch.save(value, buffer)
        while len(self._writes) >= self.PENDING_WRITES:
            self._settle(self._writes.popleft())
        self._writes.append(
            self._io().submit(self.blobs.write, self._key(namespace, key), buffer.getvalue())
        )

    def flush(self) -> None:
        """Wait for every write so far, and let the threads go."""
        while self._writes:
            self._settle(self._writes.popleft())
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None

    @staticmethod
    def _settle(write: Future[None]) -> None:
        try:
            write.result()
        except Exception:  # a cache: the features are computed again next time
            logger.warning("Could not cache features", exc_info=True)


class DirectoryCache(BlobCache):
    """Features in a local folder (the engine's tests and benchmarks, one host)."""

    def __init__(self, root: Path) -> None:
        super().__init__(DirectoryBlobs(root))


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
    phases: Phases | None = None,
) -> dict[str, torch.Tensor]:
    """Features of every sample for each view: {view: tensor (len(samples), feature_dim)}.

    Only images missing from the cache are read: from `store` when the training already
    decoded them, else decoded here.
    """
    from engine.squares import decode_squares

    phases = phases or Phases()
    spec = backbone.spec
    namespace = preprocessing_key(spec)
    # One (N, dim) tensor per view, filled in place: a 100,000-image training holds each
    # feature once (5 KB per image and view), not also as a small tensor per image.
    out: dict[str, torch.Tensor] = {}

    def place(index: int, value: dict[str, torch.Tensor]) -> None:
        for name in views:
            if name not in out:
                out[name] = torch.empty(len(samples), value[name].numel())
            out[name][index] = value[name]

    partial: dict[int, dict[str, torch.Tensor]] = {}  # cached, but without every view
    missing: list[int] = []
    cached_values = cache.get_many(namespace, [sample.key for sample in samples])
    for index, cached in enumerate(cached_values):
        if cached is not None and all(v in cached for v in views):
            place(index, cached)
        else:
            if cached is not None:
                partial[index] = cached
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
            with phases("decode"):
                squares = torch.stack(decode_squares([samples[i] for i in chunk], spec.input_size))
        computed: dict[str, torch.Tensor] = {}
        with torch.inference_mode():
            for name, batch in zip(views, make_views(squares.to(device), views, spec), strict=True):
                computed[name] = net(batch).float().cpu()
        for offset, index in enumerate(chunk):
            value = partial.pop(index, {})
            value.update({name: computed[name][offset].clone() for name in views})
            place(index, value)
            cache.put(namespace, samples[index].key, value)
        done += len(chunk)
        on_progress(done, len(samples))
    cache.flush()
    return out
