"""The export formats: one table that params validation, conversion, TFMOT tuning and the runtimes all read.

No TensorFlow here, so params can be validated without loading it.

Adding a format: add a row below. If it is converted in a new way, add a converter to
`convert.CONVERTERS` under the row's `converter`; if a new runtime loads it, add a loader to
`runtimes.LOADERS` under the row's `runtime`. An unknown converter, tuning or runtime is an error, and
tests/unit/test_export_formats_table.py checks every row against those tables.

What a row promises (the contract every format honours):
- the artifact takes float32 (or uint8, for `savedmodel`) pixels 0-255 of the training image size and
  channels, and returns class probabilities in the order of labels.txt;
- `file` is the artifact's name under models/export/ (a folder for a SavedModel);
- its accuracy and agreement with the Keras model are measured on the test split into export.json.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Format:
    """One deployable artifact kind."""

    name: str  # the key in params' export.formats and in reports/export.json
    file: str  # file or folder name under paths.export
    converter: str  # key of convert.CONVERTERS: how the Keras model becomes this artifact
    runtime: str  # key of runtimes.LOADERS: what loads and runs it
    quantization: str = "none"  # tflite only: none | float16 | dynamic | int8 (integer input and output)
    tuning: str | None = None  # key of tfmot.TUNINGS: the model is first tuned with TFMOT (qat | prune)


FORMATS: dict[str, Format] = {
    f.name: f
    for f in (
        Format("savedmodel", "savedmodel", "savedmodel", "savedmodel"),
        Format("tflite_float32", "model_float32.tflite", "tflite", "litert"),
        Format("tflite_float16", "model_float16.tflite", "tflite", "litert", quantization="float16"),
        Format("tflite_dynamic", "model_dynamic.tflite", "tflite", "litert", quantization="dynamic"),
        Format("tflite_int8", "model_int8.tflite", "tflite", "litert", quantization="int8"),
        Format("tflite_qat_int8", "model_qat_int8.tflite", "tflite", "litert", quantization="int8", tuning="qat"),
        Format(
            "tflite_pruned_int8", "model_pruned_int8.tflite", "tflite", "litert", quantization="int8", tuning="prune"
        ),
        Format("onnx", "model.onnx", "onnx", "onnx"),
    )
}
