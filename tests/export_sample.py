"""A client of exported ONNX classifiers that does, step by step, what Microsoft's sample script
for them does (Azure-Samples/customvision-export-samples, samples/python/onnx/classification/
predict.py), so the tests hold an export to what that script needs:

- one graph input; its height and width are read from the graph (`shape[2:]`);
- its element type, float or float16, is what the script sends;
- the `Image.BitmapPixelFormat` metadata says Bgr8 or not, `Image.NominalPixelRange` says
  whether pixels are 0–255 (else the script divides by 255);
- the whole photo is resized to the input's size with Pillow's default filter, no crop;
- every output is returned by name.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import PIL.Image


def sample_predict(model_path: Path, image_path: Path) -> dict[str, np.ndarray]:
    session = onnxruntime.InferenceSession(str(model_path))
    inputs = session.get_inputs()
    assert len(inputs) == 1
    shape = inputs[0].shape[2:]
    dtype = {"tensor(float)": np.float32, "tensor(float16)": np.float16}[inputs[0].type]
    properties = {p.key: p.value for p in onnx.load(str(model_path)).metadata_props}
    bgr = properties.get("Image.BitmapPixelFormat") == "Bgr8"
    range255 = properties.get("Image.NominalPixelRange") == "NominalRange_0_255"

    image = PIL.Image.open(image_path).resize(shape)
    pixels = np.array(image, dtype=np.float32)[np.newaxis, :, :, :].transpose((0, 3, 1, 2))
    if bgr:
        pixels = pixels[:, (2, 1, 0), :, :]
    if not range255:
        pixels = pixels / 255
    names = [o.name for o in session.get_outputs()]
    outputs = session.run(names, {inputs[0].name: pixels.astype(dtype)})
    return dict(zip(names, outputs, strict=True))
