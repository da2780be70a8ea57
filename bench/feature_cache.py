"""The feature cache against an S3-compatible bucket: writing and reading N images' features
one at a time against BlobCache's threads (not a test: read the figures).

The bucket is moto's server in a process of its own. On one machine its own CPU (~15 ms a
request) is the limit, not the network; `--round-trip-ms` adds the wait a real bucket's
network costs to every request, which is the case the threads are for.

    .venv/bin/python bench/feature_cache.py                      # moto as it is
    .venv/bin/python bench/feature_cache.py --round-trip-ms 20   # and 20 ms of network
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUCKET = "bench-features"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=400)
    parser.add_argument("--round-trip-ms", type=float, default=0.0)
    args = parser.parse_args()

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    moto = subprocess.Popen(
        [str(Path(sys.executable).with_name("moto_server")), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    data = Path(tempfile.mkdtemp(prefix="cv-bench-features-"))
    try:
        os.environ.update(
            {
                "CV_STORAGE": "s3",
                "AWS_STORAGE_BUCKET_NAME": BUCKET,
                "AWS_S3_ENDPOINT_URL": f"http://127.0.0.1:{port}",
                "AWS_S3_REGION_NAME": "us-east-1",
                "AWS_ACCESS_KEY_ID": "bench",
                "AWS_SECRET_ACCESS_KEY": "bench-secret",
                "CV_DATA_DIR": str(data),
                "SECRET_KEY": "bench",
                "DATABASE_URL": f"sqlite:///{data}/db.sqlite3",
                "DJANGO_SETTINGS_MODULE": "portal.settings",
            }
        )
        sys.path.insert(0, str(ROOT))
        run(args.images, args.round_trip_ms / 1000)
    finally:
        moto.terminate()
        shutil.rmtree(data, ignore_errors=True)


def run(images: int, round_trip: float) -> None:
    import boto3
    import django

    django.setup()
    import torch

    from engine.features import BlobCache
    from training.services.features import StoredBlobs

    bucket = boto3.client(
        "s3",
        endpoint_url=os.environ["AWS_S3_ENDPOINT_URL"],
        region_name="us-east-1",
        aws_access_key_id="bench",
        aws_secret_access_key=os.environ["AWS_SECRET_ACCESS_KEY"],
    )
    for _ in range(50):  # the server is still starting
        try:
            bucket.create_bucket(Bucket=BUCKET)
            break
        except Exception:
            time.sleep(0.2)

    class Network(StoredBlobs):
        def read(self, key: str) -> bytes | None:
            time.sleep(round_trip)
            return super().read(key)

        def write(self, key: str, data: bytes) -> None:
            time.sleep(round_trip)
            super().write(key, data)

    # Lite0's two views: 1,280 floats each, as a training caches them per image.
    value = {"center": torch.randn(1280), "flip": torch.randn(1280)}
    keys = [f"{i:06x}" for i in range(images)]
    print(f"{images} images' features, round trip {round_trip * 1000:g} ms added:")
    for threads in (1, BlobCache(Network("x")).threads):
        cache = BlobCache(Network(f"bench-{threads}"), threads=threads)
        started = time.perf_counter()
        for key in keys:
            cache.put("ns", key, value)
        cache.flush()
        wrote = time.perf_counter() - started
        started = time.perf_counter()
        found = sum(v is not None for v in cache.get_many("ns", keys))
        read = time.perf_counter() - started
        cache.flush()
        assert found == images
        label = f"{threads} thread{'s' if threads > 1 else ''}"
        print(f"  {label}: write {wrote:6.2f} s, read {read:6.2f} s")


if __name__ == "__main__":
    main()
