"""Load any exported artifact as a predict function, one loader per `formats.Format.runtime`, and time it."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from convpipe.core.text import first_line
from convpipe.export.formats import FORMATS

Predict = Callable[[np.ndarray], np.ndarray]  # float32 N×H×W×C pixels 0-255 → N×classes probabilities


@dataclass(frozen=True)
class Artifact:
    """An artifact ready to predict, with the runtime's name and its input (H, W, C; None: any)."""

    predict: Predict
    runtime: str
    input_shape: tuple[int | None, int | None, int | None]


def _shape(dims) -> tuple[int | None, int | None, int | None]:
    return tuple(d if isinstance(d, int) and d > 0 else None for d in list(dims)[1:])


def _keras(path: Path) -> Artifact:
    from convpipe.model.saved import load_model

    model = load_model(path)
    return Artifact(lambda x: model(x, training=False).numpy(), "tf.keras", _shape(model.input_shape))


def _savedmodel(path: Path) -> Artifact:
    import tensorflow as tf

    serve = tf.saved_model.load(str(path)).signatures["serving_default"]
    spec = serve.structured_input_signature[1]["image"]

    def run(x: np.ndarray) -> np.ndarray:
        return serve(image=tf.constant(np.clip(np.rint(x), 0, 255).astype(np.uint8)))["probabilities"].numpy()

    return Artifact(run, "TF SavedModel", _shape(spec.shape.as_list()))


def _onnx(path: Path) -> Artifact:
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    source = session.get_inputs()[0]
    return Artifact(
        lambda x: session.run(None, {source.name: x.astype(np.float32)})[0], "ONNX Runtime", _shape(source.shape)
    )


def _litert(path: Path) -> Artifact:
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

    return Artifact(run, "LiteRT", _shape(source["shape"].tolist()))


# formats.Format.runtime → loader; "keras" is the finetuned model itself, the reference every format is measured by
LOADERS: dict[str, Callable[[Path], Artifact]] = {
    "keras": _keras,
    "savedmodel": _savedmodel,
    "litert": _litert,
    "onnx": _onnx,
}
# An artifact's runtime by its file name's ending; a SavedModel is a folder holding saved_model.pb.
SUFFIXES = {".keras": "keras"} | {Path(f.file).suffix: f.runtime for f in FORMATS.values() if Path(f.file).suffix}


def runtime_of(path: Path | str) -> str:
    """The LOADERS key for the artifact at `path`, from its file type."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such model artifact")
    if path.is_dir() and (path / "saved_model.pb").exists():
        return "savedmodel"
    if path.is_file() and path.suffix in SUFFIXES:
        return SUFFIXES[path.suffix]
    raise ValueError(f"{path}: not a model artifact ({', '.join(SUFFIXES)} or a SavedModel folder)")


def load(path: Path | str) -> Artifact:
    """Load an artifact by its file type; one ValueError naming the file when the runtime cannot read it."""
    path = Path(path)
    runtime = runtime_of(path)
    if runtime == "keras":  # model/saved.py screens the file and words its own errors
        return LOADERS[runtime](path)
    try:
        return LOADERS[runtime](path)
    except Exception as err:  # each runtime raises its own types (protobuf, flatbuffer, checkpoint) on a bad file
        raise ValueError(
            f"{path}: not a readable {runtime} artifact: {first_line(str(err), 300, type(err).__name__)}"
        ) from None


def _quantize(x: np.ndarray, detail: dict) -> np.ndarray:
    scale, zero_point = detail["quantization"]
    if detail["dtype"] == np.float32:
        return x.astype(np.float32)
    info = np.iinfo(detail["dtype"])
    return np.clip(np.rint(x / scale + zero_point), info.min, info.max).astype(detail["dtype"])


def _dequantize(y: np.ndarray, detail: dict) -> np.ndarray:
    scale, zero_point = detail["quantization"]
    return y.astype(np.float32) if detail["dtype"] == np.float32 else (y.astype(np.float32) - zero_point) * scale


def predict_all(predict: Predict, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Probabilities for all images, in batches."""
    return np.concatenate([predict(images[i : i + batch_size]) for i in range(0, len(images), batch_size)])


def latency_ms(predict: Predict, images: np.ndarray, runs: int, warmup: int = 10) -> dict[str, float]:
    """Batch-1 latency percentiles in milliseconds over `runs` calls (cycling through `images`), after warm-up."""
    for image in images[np.arange(warmup) % len(images)]:
        predict(image[None])
    times = []
    for image in images[np.arange(runs) % len(images)]:
        start = time.perf_counter()
        predict(image[None])
        times.append((time.perf_counter() - start) * 1000)
    return {"latency_ms": float(np.percentile(times, 50)), "latency_p95_ms": float(np.percentile(times, 95))}


def throughput(predict: Predict, batch: np.ndarray, min_seconds: float = 1.0, min_rounds: int = 5) -> float:
    """Images per second predicting `batch` over and over, for at least `min_seconds` and `min_rounds`."""
    predict(batch)  # warm-up: the first call allocates and traces
    start, rounds = time.perf_counter(), 0
    while rounds < min_rounds or time.perf_counter() - start < min_seconds:
        predict(batch)
        rounds += 1
    return rounds * len(batch) / (time.perf_counter() - start)
