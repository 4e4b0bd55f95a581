"""Load any exported artifact as a predict function, and measure it: accuracy, agreement, size, latency."""
from __future__ import annotations

import gzip
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

Runner = Callable[[np.ndarray], np.ndarray]  # float32 N×H×W×C pixels 0-255 → N×classes probabilities


@dataclass(frozen=True)
class Loaded:
    """An artifact ready to predict, with the runtime's name and its input (H, W, C; None: any)."""

    predict: Runner
    runtime: str
    input_shape: tuple[int | None, int | None, int | None]


def load(path: Path) -> Loaded:
    """Load an artifact by its file type: .keras, .tflite, .onnx or a SavedModel folder."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such model artifact")
    if path.suffix == ".keras":
        return _keras(path)
    if path.suffix == ".tflite":
        return _litert(path)
    if path.suffix == ".onnx":
        return _onnx(path)
    if (path / "saved_model.pb").exists():
        return _savedmodel(path)
    raise ValueError(f"{path}: not a model artifact (.keras, .tflite, .onnx or a SavedModel folder)")


def _shape(dims) -> tuple[int | None, int | None, int | None]:
    return tuple(d if isinstance(d, int) and d > 0 else None for d in list(dims)[1:])


def _keras(path: Path) -> Loaded:
    import tensorflow as tf

    try:
        # safe_mode: a .keras file may carry Python bytecode (Lambda layers); never run it.
        model = tf.keras.models.load_model(path, safe_mode=True)
    except ValueError as err:
        if "safe_mode" not in str(err):
            raise
        raise ValueError(f"{path}: refused: it holds Python code (a Lambda layer), which could run anything; "
                         "models are loaded in Keras safe mode") from None
    return Loaded(lambda x: model(x, training=False).numpy(), "tf.keras", _shape(model.input_shape))


def _savedmodel(path: Path) -> Loaded:
    import tensorflow as tf

    serve = tf.saved_model.load(str(path)).signatures["serving_default"]
    spec = serve.structured_input_signature[1]["image"]

    def run(x: np.ndarray) -> np.ndarray:
        return serve(image=tf.constant(np.clip(np.rint(x), 0, 255).astype(np.uint8)))["probabilities"].numpy()

    return Loaded(run, "TF SavedModel", _shape(spec.shape.as_list()))


def _onnx(path: Path) -> Loaded:
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    source = session.get_inputs()[0]
    return Loaded(lambda x: session.run(None, {source.name: x.astype(np.float32)})[0], "ONNX Runtime",
                  _shape(source.shape))


def _litert(path: Path) -> Loaded:
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

    return Loaded(run, "LiteRT", _shape(source["shape"].tolist()))


def _quantize(x: np.ndarray, detail: dict) -> np.ndarray:
    scale, zero_point = detail["quantization"]
    if detail["dtype"] == np.float32:
        return x.astype(np.float32)
    info = np.iinfo(detail["dtype"])
    return np.clip(np.rint(x / scale + zero_point), info.min, info.max).astype(detail["dtype"])


def _dequantize(y: np.ndarray, detail: dict) -> np.ndarray:
    scale, zero_point = detail["quantization"]
    return y.astype(np.float32) if detail["dtype"] == np.float32 else (y.astype(np.float32) - zero_point) * scale


def _files(path: Path) -> list[Path]:
    return [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())


def size_bytes(path: Path) -> int:
    """File size, or the total of a folder's files."""
    return sum(p.stat().st_size for p in _files(Path(path)))


def gzip_bytes(path: Path) -> int:
    """Size after gzip (level 9) of the file, or of each file of a folder: what a download costs."""
    return sum(len(gzip.compress(p.read_bytes(), compresslevel=9, mtime=0)) for p in _files(Path(path)))


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


def predict_all(runner: Runner, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Probabilities for all images, in batches."""
    return np.concatenate([runner(images[i:i + batch_size]) for i in range(0, len(images), batch_size)])


def quality(probabilities: np.ndarray, labels: np.ndarray, reference: np.ndarray) -> dict[str, float]:
    """Accuracy, top-1 agreement and max probability difference against the float Keras model."""
    predicted = probabilities.argmax(axis=1)
    return {
        "accuracy": float((predicted == labels).mean()),
        "agreement": float((predicted == reference.argmax(axis=1)).mean()),
        "max_abs_diff": float(np.abs(probabilities - reference).max()),
    }


def measure(path: Path, images: np.ndarray, labels: np.ndarray, reference: np.ndarray, runs: int) -> dict:
    """One row of reports/export.json: quality on test, size, gzip size, latency and runtime."""
    loaded = load(path)
    return {**quality(predict_all(loaded.predict, images), labels, reference),
            "size_bytes": size_bytes(path), "gzip_bytes": gzip_bytes(path),
            **latency_ms(loaded.predict, images[0], runs), "runtime": loaded.runtime}
