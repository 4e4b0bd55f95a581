"""Deployable artifacts from a Keras model, runners that load any of them, and their measurements."""
from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import tensorflow as tf

Runner = Callable[[np.ndarray], np.ndarray]  # float32 N×H×W×C pixels 0-255 → N×classes probabilities

ARTIFACT_FILES = {
    "savedmodel": "savedmodel",
    "tflite_float32": "model_float32.tflite",
    "tflite_int8": "model_int8.tflite",
    "onnx": "model.onnx",
}


def save_savedmodel(model: tf.keras.Model, path: Path) -> None:
    """A SavedModel whose serving signature takes uint8 images of any size and resizes inside."""
    height, width, channels = model.input_shape[1:]

    @tf.function(input_signature=[tf.TensorSpec([None, None, None, channels], tf.uint8, name="image")])
    def serve(image):
        resized = tf.image.resize(tf.cast(image, tf.float32), (height, width))
        return {"probabilities": model(resized, training=False)}

    tf.saved_model.save(model, str(path), signatures={"serving_default": serve})


def tflite_model(model: tf.keras.Model, kind: str, representative: np.ndarray) -> bytes:
    """float32, or full-integer int8 calibrated on `representative` train images."""
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if kind == "tflite_int8":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
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
    """Write artifact `kind` under out_dir; return its path."""
    path = out_dir / ARTIFACT_FILES[kind]
    if kind == "savedmodel":
        save_savedmodel(model, path)
    elif kind.startswith("tflite"):
        path.write_bytes(tflite_model(model, kind, representative))
    elif kind == "onnx":
        save_onnx(model, path, opset)
    return path


def load_runner(path: Path) -> tuple[Runner, str]:
    """A predict function for any artifact (by its file type), and the runtime's name."""
    path = Path(path)
    if path.suffix == ".keras":
        model = tf.keras.models.load_model(path, safe_mode=True)
        return (lambda x: model(x, training=False).numpy()), "tf.keras"
    if path.suffix == ".tflite":
        return _litert_runner(path), "LiteRT"
    if path.suffix == ".onnx":
        import onnxruntime

        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        return (lambda x: session.run(None, {name: x.astype(np.float32)})[0]), "ONNX Runtime"
    if (path / "saved_model.pb").exists():
        serve = tf.saved_model.load(str(path)).signatures["serving_default"]
        return (lambda x: serve(image=tf.constant(np.clip(np.rint(x), 0, 255).astype(np.uint8)))["probabilities"].numpy()), \
            "TF SavedModel"
    raise ValueError(f"{path}: not a model artifact (.keras, .tflite, .onnx or a SavedModel folder)")


def _litert_runner(path: Path) -> Runner:
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path), num_threads=2)
    interpreter.allocate_tensors()
    source, target = interpreter.get_input_details()[0], interpreter.get_output_details()[0]

    def run(batch: np.ndarray) -> np.ndarray:
        outputs = []
        for image in batch:  # the converted graph has a fixed batch of one
            interpreter.set_tensor(source["index"], _quantize(image[None], source))
            interpreter.invoke()
            outputs.append(_dequantize(interpreter.get_tensor(target["index"]), target)[0])
        return np.stack(outputs)

    return run


def _quantize(x: np.ndarray, detail: dict) -> np.ndarray:
    scale, zero_point = detail["quantization"]
    if detail["dtype"] == np.float32:
        return x.astype(np.float32)
    info = np.iinfo(detail["dtype"])
    return np.clip(np.rint(x / scale + zero_point), info.min, info.max).astype(detail["dtype"])


def _dequantize(y: np.ndarray, detail: dict) -> np.ndarray:
    scale, zero_point = detail["quantization"]
    return y.astype(np.float32) if detail["dtype"] == np.float32 else (y.astype(np.float32) - zero_point) * scale


def size_bytes(path: Path) -> int:
    """File size, or the total of a folder's files."""
    path = Path(path)
    return path.stat().st_size if path.is_file() else sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def latency_ms(runner: Runner, image: np.ndarray, runs: int, warmup: int = 10) -> dict[str, float]:
    """Batch-1 latency percentiles in milliseconds after warm-up."""
    for _ in range(warmup):
        runner(image[None])
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        runner(image[None])
        times.append((time.perf_counter() - start) * 1000)
    return {"latency_ms": float(np.percentile(times, 50)), "latency_p95_ms": float(np.percentile(times, 95))}


def measure(runner: Runner, images: np.ndarray, labels: np.ndarray, reference: np.ndarray,
            runs: int, batch_size: int = 256) -> dict[str, float]:
    """Accuracy, top-1 agreement and max probability difference vs the Keras model, and latency."""
    probabilities = np.concatenate([runner(images[i:i + batch_size]) for i in range(0, len(images), batch_size)])
    predicted = probabilities.argmax(axis=1)
    return {
        "accuracy": float((predicted == labels).mean()),
        "agreement": float((predicted == reference.argmax(axis=1)).mean()),
        "max_abs_diff": float(np.abs(probabilities - reference).max()),
        **latency_ms(runner, images[0], runs),
    }
