"""Deployable artifacts from a Keras model, one converter per `formats.Format.converter`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tensorflow as tf

from convpipe.export.formats import FORMATS, Format


def save_savedmodel(model: tf.keras.Model, fmt: Format, path: Path, representative: np.ndarray, opset: int) -> None:
    """A SavedModel whose serving signature takes uint8 images of any size and resizes inside."""
    height, width, channels = model.input_shape[1:]

    @tf.function(input_signature=[tf.TensorSpec([None, None, None, channels], tf.uint8, name="image")])
    def serve(image):
        resized = tf.image.resize(tf.cast(image, tf.float32), (height, width))
        return {"probabilities": model(resized, training=False)}

    tf.saved_model.save(model, str(path), signatures={"serving_default": serve})


def save_tflite(model: tf.keras.Model, fmt: Format, path: Path, representative: np.ndarray, opset: int) -> None:
    """TFLite flatbuffer: none (float32), float16 weights, dynamic-range int8 weights, or full int8."""
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if fmt.quantization not in ("none", "float16", "dynamic", "int8"):
        raise ValueError(f"export format {fmt.name}: unknown quantization {fmt.quantization!r}")
    if fmt.quantization != "none":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if fmt.quantization == "float16":
        converter.target_spec.supported_types = [tf.float16]
    elif fmt.quantization == "int8":
        # Calibration fixes activation ranges; a QAT model has most of them already, but not for
        # layers TFMOT left float (Rescaling) or for the input.
        converter.representative_dataset = lambda: ([image[None]] for image in representative)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        # Integer input and output too, so the model runs on integer-only accelerators.
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    path.write_bytes(converter.convert())


def save_onnx(model: tf.keras.Model, fmt: Format, path: Path, representative: np.ndarray, opset: int) -> None:
    """ONNX through tf2onnx, input named like the Keras one."""
    import tf2onnx

    spec = (tf.TensorSpec((None, *model.input_shape[1:]), tf.float32, name="image"),)
    tf2onnx.convert.from_keras(model, input_signature=spec, opset=opset, output_path=str(path))


# formats.Format.converter → function(model, format, path, representative images, ONNX opset)
CONVERTERS = {"savedmodel": save_savedmodel, "tflite": save_tflite, "onnx": save_onnx}


def build(model: tf.keras.Model, kind: str, out_dir: Path, representative: np.ndarray, opset: int) -> Path:
    """Write artifact `kind` of `model` under out_dir; return its path."""
    fmt = FORMATS.get(kind)
    if fmt is None:
        raise ValueError(f"export format {kind!r} is not one of {', '.join(FORMATS)}")
    if fmt.converter not in CONVERTERS:
        raise ValueError(f"export format {kind}: no converter {fmt.converter!r} (known: {', '.join(CONVERTERS)})")
    path = Path(out_dir) / fmt.file
    CONVERTERS[fmt.converter](model, fmt, path, representative, opset)
    return path
