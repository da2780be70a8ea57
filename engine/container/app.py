"""Serve an exported Custom Vision classifier or detector over HTTP, as Azure's exported
container does.

    POST /image   the image as the body (or as the multipart field `imageData`)
    POST /url     {"url": "https://…/photo.jpg"}

Both answer Azure's prediction JSON: {"id", "project", "iteration", "created", "predictions":
[{"probability", "tagId", "tagName", "boundingBox"}]}, most probable first; a detector's
`boundingBox` is {"left", "top", "width", "height"} normalised to the image (the server's
decoding and suppression, `boxes.py`), a classifier's is null. The Prediction
API's longer paths (`/{project}/classify/iterations/{name}/image`, `…/url`, with or without
`/nostore`) reach the same two routes, so code written against Azure's endpoint only needs
the host changed.

Standard library, ONNX Runtime, Pillow and numpy only. `PORT` (default 80) and `THREADS`
(ONNX Runtime's intra-op threads, default 1) come from the environment.
"""

from __future__ import annotations

import email.parser
import email.policy
import json
import os
import urllib.request
import uuid
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
from pixels import load_rgb, pixels_of

HERE = Path(__file__).resolve().parent
MAX_BYTES = 6 * 1024 * 1024  # what Azure's prediction endpoint takes
URL_TIMEOUT = 10


class Model:
    def __init__(self, directory: Path, threads: int) -> None:
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(
            str(directory / "model.onnx"), options, providers=["CPUExecutionProvider"]
        )
        graph_input = self.session.get_inputs()[0]
        self.input_name = graph_input.name
        self.side = int(graph_input.shape[2])
        self.dtype = np.float16 if graph_input.type == "tensor(float16)" else np.float32
        self.labels = (directory / "labels.txt").read_text(encoding="utf-8").splitlines()
        info_file = directory / "model.json"
        self.info = json.loads(info_file.read_text()) if info_file.exists() else {}

    def predict(self, data: bytes) -> dict[str, Any]:
        pixels = pixels_of(load_rgb(data, self.side), self.side).astype(self.dtype)
        (output,) = self.session.run(None, {self.input_name: pixels})
        tag_ids = self.info.get("tag_ids") or [""] * len(self.labels)
        if self.info.get("task") == "detection":
            predictions = self._detections(output[0], tag_ids)
        else:
            predictions = [
                {
                    "probability": float(p),
                    "tagId": tag_id,
                    "tagName": name,
                    "boundingBox": None,
                }
                for p, tag_id, name in zip(output[0], tag_ids, self.labels, strict=True)
            ]
        predictions.sort(key=lambda p: p["probability"], reverse=True)
        return {
            "id": str(uuid.uuid4()),
            "project": self.info.get("project", ""),
            "iteration": self.info.get("iteration", ""),
            "created": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
            "predictions": predictions,
        }

    def _detections(self, grid: np.ndarray, tag_ids: list[str]) -> list[dict[str, Any]]:
        from boxes import decode, nms

        anchors = np.asarray(self.info["anchors"], dtype=np.float64)
        return [
            {
                "probability": probability,
                "tagId": tag_ids[tag],
                "tagName": self.labels[tag],
                "boundingBox": {"left": left, "top": top, "width": width, "height": height},
            }
            for tag, probability, left, top, width, height in nms(
                *decode(grid.astype(np.float32), anchors)
            )
        ]


class BadRequest(Exception):
    pass


def image_from_body(content_type: str, body: bytes) -> bytes:
    if content_type.startswith("multipart/form-data"):
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            f"Content-Type: {content_type}\r\n\r\n".encode() + body
        )
        for part in message.iter_parts():
            if part.get_param("name", header="content-disposition") == "imageData":
                payload = part.get_payload(decode=True)
                return payload if isinstance(payload, bytes) else b""
        raise BadRequest("The multipart body has no imageData field.")
    return body


def image_from_url(body: bytes) -> bytes:
    try:
        url = json.loads(body or b"{}").get("url") or json.loads(body).get("Url")
    except (ValueError, AttributeError):
        raise BadRequest('Send JSON: {"url": "https://…"}.') from None
    if not isinstance(url, str) or not url.lower().startswith(("http://", "https://")):
        raise BadRequest("The url must be an http or https address.")
    with urllib.request.urlopen(url, timeout=URL_TIMEOUT) as response:  # noqa: S310 (checked)
        data: bytes = response.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise BadRequest("The image is larger than 6 MB.")
    return data


def route(path: str) -> str | None:
    """'image' or 'url' for any of the paths Azure's exported container or endpoint uses."""
    parts = [p for p in path.split("?")[0].lower().split("/") if p]
    if parts and parts[-1] == "nostore":
        parts = parts[:-1]
    return parts[-1] if parts and parts[-1] in ("image", "url") else None


class Handler(BaseHTTPRequestHandler):
    model: Model
    server_version = "CustomVisionExport/1.0"

    def do_POST(self) -> None:
        kind = route(self.path)
        if kind is None:
            self._json(404, {"code": "NotFound", "message": "POST /image or /url."})
            return
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BYTES * 2:
            self._json(413, {"code": "BadRequestImageSizeBytes", "message": "Too large."})
            return
        body = self.rfile.read(length)
        try:
            if kind == "image":
                data = image_from_body(self.headers.get("Content-Type", ""), body)
            else:
                data = image_from_url(body)
            if not data:
                raise BadRequest("No image was sent.")
            self._json(200, self.model.predict(data))
        except BadRequest as exc:
            self._json(400, {"code": "BadRequest", "message": str(exc)})
        except OSError as exc:  # unreadable image, unreachable URL
            self._json(400, {"code": "BadRequestImageFormat", "message": str(exc)})

    def do_GET(self) -> None:
        self._json(200, {"status": "Healthy", "tags": self.model.labels})

    def _json(self, status: int, payload: dict[str, Any]) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def main() -> None:
    Handler.model = Model(HERE, int(os.environ.get("THREADS", "1")))
    # Every interface: inside a container, that is how the published port reaches it.
    host = os.environ.get("HOST", "0.0.0.0")  # noqa: S104
    server = ThreadingHTTPServer((host, int(os.environ.get("PORT", "80"))), Handler)
    print(f"Serving the model on port {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
