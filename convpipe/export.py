"""Deployable artifacts from a Keras model: SavedModel, TFLite (four quantizations) and ONNX."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import tensorflow as tf

ARTIFACT_FILES = {
    "savedmodel": "savedmodel",
    "tflite_float32": "model_float32.tflite",
    "tflite_float16": "model_float16.tflite",
    "tflite_dynamic": "model_dynamic.tflite",
    "tflite_int8": "model_int8.tflite",
    "tflite_qat_int8": "model_qat_int8.tflite",
    "tflite_pruned_int8": "model_pruned_int8.tflite",
    "onnx": "model.onnx",
}
# How each TFLite artifact is quantized; the QAT and pruned ones get their model from convpipe.compress.
TFLITE_QUANTIZATION = {
    "tflite_float32": "none",
    "tflite_float16": "float16",
    "tflite_dynamic": "dynamic",
    "tflite_int8": "int8",
    "tflite_qat_int8": "int8",
    "tflite_pruned_int8": "int8",
}


def save_savedmodel(model: tf.keras.Model, path: Path) -> None:
    """A SavedModel whose serving signature takes uint8 images of any size and resizes inside."""
    height, width, channels = model.input_shape[1:]

    @tf.function(input_signature=[tf.TensorSpec([None, None, None, channels], tf.uint8, name="image")])
    def serve(image):
        resized = tf.image.resize(tf.cast(image, tf.float32), (height, width))
        return {"probabilities": model(resized, training=False)}

    tf.saved_model.save(model, str(path), signatures={"serving_default": serve})


def tflite_model(model: tf.keras.Model, quantization: str, representative: np.ndarray) -> bytes:
    """TFLite flatbuffer: none (float32), float16 weights, dynamic-range int8 weights, or full int8."""
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if quantization != "none":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantization == "float16":
        converter.target_spec.supported_types = [tf.float16]
    elif quantization == "int8":
        # Calibration fixes activation ranges; a QAT model has most of them already, but not for
        # layers TFMOT left float (Rescaling) or for the input.
        converter.representative_dataset = lambda: ([image[None]] for image in representative)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        # Integer input and output too, so the model runs on integer-only accelerators.
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    return converter.convert()


def save_onnx(model: tf.keras.Model, path: Path, opset: int) -> None:
    """ONNX through tf2onnx, input named like the Keras one."""
    import tf2onnx

    spec = (tf.TensorSpec((None, *model.input_shape[1:]), tf.float32, name="image"),)
    tf2onnx.convert.from_keras(model, input_signature=spec, opset=opset, output_path=str(path))


def build(model: tf.keras.Model, kind: str, out_dir: Path, representative: np.ndarray, opset: int) -> Path:
    """Write artifact `kind` of `model` under out_dir; return its path."""
    if kind not in ARTIFACT_FILES:
        raise ValueError(f"export format {kind!r} is not one of {', '.join(ARTIFACT_FILES)}")
    path = Path(out_dir) / ARTIFACT_FILES[kind]
    if kind == "savedmodel":
        save_savedmodel(model, path)
    elif kind in TFLITE_QUANTIZATION:
        path.write_bytes(tflite_model(model, TFLITE_QUANTIZATION[kind], representative))
    else:
        save_onnx(model, path, opset)
    return path


def markdown(table: dict) -> str:
    """export.json as a Markdown table, for report.md and MLflow."""
    lines = ["| artifact | accuracy | agreement | max abs diff | size KiB | gzip KiB | p50 ms | p95 ms | runtime |",
             "|---|---|---|---|---|---|---|---|---|"]
    for kind, row in table.items():
        if "skipped" in row:
            lines.append(f"| {kind} | skipped: {row['skipped']} |||||||||")
            continue
        lines.append(f"| {kind} | {row['accuracy']:.4f} | {row['agreement']:.4f} | {row['max_abs_diff']:.2g} | "
                     f"{row['size_bytes'] / 1024:.1f} | {row['gzip_bytes'] / 1024:.1f} | "
                     f"{row['latency_ms']:.3f} | {row['latency_p95_ms']:.3f} | {row['runtime']} |")
    return "\n".join(lines) + "\n"
