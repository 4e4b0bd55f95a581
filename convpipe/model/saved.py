"""Trained models on disk: one file name, and one loader that checks a .keras file before Keras opens it and
never runs code the file carries.

Keras' safe mode refuses Lambda layers only. A TFOpLambda layer names any TensorFlow function (`io.read_file`,
`io.write_file`) and still loads; a config's `module` makes Keras import that module; a file that is not a zip
is loaded by the legacy HDF5 loader, which ignores safe mode and runs a Lambda's bytecode; and a zip member
declared gigabytes long is inflated in memory. So the zip and its config.json are checked here first.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import tensorflow as tf

from convpipe.core.text import first_line

MODEL_FILE = "model.keras"  # what train and finetune write in their output folders
CONFIG_FILE = "config.json"  # the architecture inside a .keras zip
MAX_MODEL_BYTES = 4 * 2**30  # what a .keras file may unpack to (a ResNet50 with its optimizer: ~300 MB)
MAX_MODEL_RATIO = 100  # ... and at most this many times its own size (weights hardly compress; a zip bomb does)
KERAS_MODULES = ("keras", "tf_keras")  # the only packages a config may name; "builtins" names Keras' own functions
# TensorFlow functions a TFOpLambda layer may call: arithmetic, shapes, activations. No file, network or process
# I/O, and nothing that allocates a size the config chooses (fill, tile, image.resize).
PURE_OPS = frozenset(
    {
        *("__operators__.add", "__operators__.getitem", "cast", "clip_by_value", "concat", "expand_dims"),
        *("identity", "linalg.matmul", "matmul", "reshape", "reverse", "split", "squeeze", "stack"),
        *("stop_gradient", "transpose", "unstack", "image.grayscale_to_rgb", "image.rgb_to_grayscale"),
        *("math.abs", "math.add", "math.add_n", "math.ceil", "math.divide", "math.divide_no_nan", "math.exp"),
        *("math.floor", "math.floordiv", "math.l2_normalize", "math.log", "math.log1p", "math.maximum"),
        *("math.minimum", "math.multiply", "math.negative", "math.pow", "math.reduce_max", "math.reduce_mean"),
        *("math.reduce_min", "math.reduce_sum", "math.round", "math.rsqrt", "math.sigmoid", "math.sign"),
        *("math.softplus", "math.sqrt", "math.square", "math.subtract", "math.tanh", "math.truediv"),
        *("nn.gelu", "nn.l2_normalize", "nn.relu", "nn.relu6", "nn.sigmoid", "nn.silu", "nn.softmax"),
    }
)
OP_LAYERS = ("TFOpLambda", "SlicingOpLambda")  # call the TensorFlow function their config names
# Layers that run Python code or call methods and attributes a config names, and layers that read a file their
# config names (a lookup vocabulary given as a path).
REFUSED_LAYERS = {
    "Lambda": "Python code (a Lambda layer), which could run anything",
    "ClassMethod": "a ClassMethod layer, which calls a method its config names",
    "InstanceMethod": "an InstanceMethod layer, which calls a method its config names",
    "InstanceProperty": "an InstanceProperty layer, which reads an attribute its config names",
    "__lambda__": "Python code (a serialized lambda), which could run anything",
}
# Where a serialized function (class_name "__function__") may come from: Keras' activations, losses and metrics.
FUNCTION_MODULES = ("builtins", "keras.activations", "keras.losses", "keras.metrics")
FILE_SETTINGS = ("vocabulary", "idf_weights")  # a lookup layer reads these from a file when given a path


class ModelRefused(ValueError):
    """A model file that is not loaded, and why."""


def load_model(path: Path | str) -> tf.keras.Model:
    """A .keras model, or a folder holding MODEL_FILE, checked (screen()) and loaded in Keras safe mode."""
    path = Path(path)
    if path.is_dir():
        path = path / MODEL_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such model file")
    screen(path)
    try:
        return tf.keras.models.load_model(path, safe_mode=True)
    except Exception as err:  # HDF5, JSON and Keras each raise their own types for a file they cannot read
        raise ValueError(f"{path}: cannot load this model: {first_line(str(err), 300, type(err).__name__)}") from None


def screen(path: Path) -> None:
    """Raise ModelRefused unless `path` is a bounded .keras zip whose config calls nothing but PURE_OPS."""
    reasons = refusals(read_config(path))
    if reasons:
        raise ModelRefused(
            f"{path}: refused: it holds {'; '.join(reasons)}; a model may hold Keras layers and pure math only"
        )


def read_config(path: Path) -> object:
    """The parsed config.json of a .keras zip, after checking what the zip may unpack to."""
    if path.suffix != ".keras":
        raise ModelRefused(f"{path}: not a .keras file")
    try:
        with zipfile.ZipFile(path) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
            bound = min(MAX_MODEL_BYTES, MAX_MODEL_RATIO * path.stat().st_size)
            if unpacked > bound:
                raise ModelRefused(
                    f"{path}: refused: its members unpack to {unpacked} bytes, over {bound} "
                    f"({MAX_MODEL_RATIO}× its size, at most {MAX_MODEL_BYTES}): a zip bomb, not a model"
                )
            text = archive.read(CONFIG_FILE)
    except zipfile.BadZipFile:
        # Keras would hand a file that is not a zip to its legacy HDF5 loader, which ignores safe mode.
        raise ModelRefused(f"{path}: not a .keras zip (an HDF5 or SavedModel model is not loaded)") from None
    except KeyError:
        raise ModelRefused(f"{path}: no {CONFIG_FILE} inside; not a .keras model") from None
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as err:
        raise ModelRefused(f"{path}: {CONFIG_FILE} is not readable JSON: {first_line(str(err), 200)}") from None


def refusals(config: object) -> list[str]:
    """Why the parsed config must not be loaded: each layer or object outside what a model needs; [] when none."""
    found, stack = [], [config]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, dict):
            found += _node_refusals(node)
            stack.extend(node.values())
    return sorted(set(found))


def _node_refusals(node: dict) -> list[str]:
    kind, settings, module = node.get("class_name"), node.get("config"), node.get("module")
    settings = settings if isinstance(settings, dict) else {}
    if not isinstance(kind, str | None) or not isinstance(module, str | None):
        return ["an object whose class or module is not a name"]
    found = []
    # A serialized object names its class and module; Keras imports the module. (A Lambda layer's settings
    # also hold a "module", of its Python code, which the Lambda refusal covers.)
    if kind is not None and module not in (None, "builtins") and module.split(".")[0] not in KERAS_MODULES:
        found.append(f"an object from module {module!r}, which Keras would import")
    if kind in REFUSED_LAYERS:
        found.append(REFUSED_LAYERS[kind])
    if kind == "__function__" and module not in FUNCTION_MODULES:
        found.append(f"a reference to the function {module}.{node.get('config')}, not an activation, loss or metric")
    function = settings.get("function")
    if kind in OP_LAYERS and not (isinstance(function, str) and function in PURE_OPS):
        found.append(f"a {kind} layer calling tf.{function}, not one of the pure math functions allowed")
    found += [
        f"a {kind} layer reading its {key} from a file" for key in FILE_SETTINGS if isinstance(settings.get(key), str)
    ]
    return found
