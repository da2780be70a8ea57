"""The served graph's signature: the names of its input and output.

Export writes them into the ONNX graph (`serving.py`), prediction feeds and reads them
(`predict.py`), and an exported model's users call them: one place, so they cannot drift.
"""

INPUT_NAME = "data"
OUTPUT_NAME = "model_output"
