"""What Django adds around the model on a prediction (not a test: read the figures, not a
pass/fail).

Trains and publishes the sample project as bench/predict.py does, then calls the WSGI
application in this process, without any HTTP server, for ClassifyImageWithNoStore:

  * with the image work stubbed (decode and model answer at once): Django's own time per
    request, middleware, routing, key lookup and JSON, which no model speed-up touches;
  * the key-and-iteration lookup alone;
  * the whole request, model included, and the raw model (decode, resize, ONNX Runtime) alone.

    .venv/bin/python bench/overhead.py
"""

from __future__ import annotations

import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.predict import PHOTO, Server  # noqa: E402

ROUNDS = 5


def per_call_ms(work: Callable[[], object], calls: int) -> float:
    """Median over ROUNDS of the mean wall time of `calls` calls, in ms."""
    times = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        for _ in range(calls):
            work()
        times.append((time.perf_counter() - started) / calls * 1000)
    return statistics.median(times)


def measure(info: dict[str, str]) -> None:
    """In the served tree's process, with Django set up on the bench's data folder."""
    import django

    django.setup()

    import prediction.services.classify as classify
    from engine.predict import Predictor
    from portal.wsgi import application
    from projects.services.resources import key_hash

    photo = PHOTO.read_bytes()
    path = f"/customvision/v3.0/Prediction/{info['project']}/classify/iterations/m/image/nostore"

    def call() -> None:
        environ = {
            "REQUEST_METHOD": "POST",
            "PATH_INFO": path,
            "SCRIPT_NAME": "",
            "QUERY_STRING": "",
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "80",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "HTTP_HOST": "127.0.0.1",
            "HTTP_PREDICTION_KEY": info["key"],
            "CONTENT_TYPE": "application/octet-stream",
            "CONTENT_LENGTH": str(len(photo)),
            "wsgi.input": io.BytesIO(photo),
            "wsgi.url_scheme": "http",
            "wsgi.errors": sys.stderr,
            "wsgi.version": (1, 0),
            "wsgi.multithread": True,
            "wsgi.multiprocess": True,
            "wsgi.run_once": False,
        }
        status: list[str] = []

        def start_response(line: str, headers: Any, exc_info: Any = None) -> Any:
            status.append(line)
            return None

        body = application(environ, start_response)
        b"".join(body)
        body.close()
        assert status[0].startswith("200"), status

    bundle = (Path(os.environ["CV_DATA_DIR"]) / "media" / info["model"]).read_bytes()
    raw = Predictor.from_bytes(bundle, 1)
    for _ in range(20):
        call()
    whole = per_call_ms(call, 40)
    model = per_call_ms(lambda: raw.predict(photo), 40)

    digest, project = key_hash(info["key"]), uuid.UUID(info["project"])
    lookup = per_call_ms(
        lambda: classify.published_iteration_for_key(
            key_digest=digest, project_id=project, publish_name="m"
        ),
        2000,
    )
    decoded = classify._decode(photo, 1 << 30, raw.image_size)
    answer = [0.5] * len(raw.tag_names)
    decode, predict_image = classify._decode, Predictor.predict_image
    classify._decode = lambda data, max_bytes, side: decoded
    Predictor.predict_image = lambda self, image: answer  # type: ignore[method-assign]
    try:
        django_only = per_call_ms(call, 500)
    finally:
        classify._decode = decode
        Predictor.predict_image = predict_image  # type: ignore[method-assign]

    print(f"median of {ROUNDS} rounds, ms per call, one thread:")
    print(f"  Django around the model (image work stubbed): {django_only:6.2f}")
    print(f"    of which the key and iteration lookup:      {lookup:6.2f}")
    print(f"  whole request, in process:                    {whole:6.2f}")
    print(f"  raw model (decode, resize, ONNX Runtime):     {model:6.2f}")
    print(f"  → in-process ceiling of HTTP ÷ raw:            {model / (model + django_only):.3f}")
    print(f"\n{json.dumps({'django_ms': round(django_only, 3), 'lookup_ms': round(lookup, 3)})}")


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--inner":
        measure(json.loads(sys.argv[2]))
        return
    data = Path(tempfile.mkdtemp(prefix="cv-bench-overhead-"))
    try:
        server = Server(ROOT, data)
        info = server.setup()
        subprocess.run(
            [sys.executable, __file__, "--inner", json.dumps(info)],
            cwd=ROOT,
            env=server.env,
            check=True,
        )
    finally:
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
