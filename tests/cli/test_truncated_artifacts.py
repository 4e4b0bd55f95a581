"""A truncated model artifact or index file: `convpipe predict`/`similar` end with one line naming it, exit 2."""

import numpy as np
import onnx
import pytest
import tensorflow as tf
from onnx import TensorProto, helper
from PIL import Image

import convpipe  # noqa: F401  (Keras 2 before TensorFlow)
from convpipe.cli import main
from convpipe.evaluate import retrieval


def cut(path, keep: float = 0.5):
    """Keep the first part of a file, as an interrupted copy would."""
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def onnx_model(path):
    """A real ONNX classifier of 8×8×1 images (flatten, matmul, softmax), as export writes one."""
    weights = helper.make_tensor("w", TensorProto.FLOAT, [64, 3], np.ones(192, np.float32) / 64)
    graph = helper.make_graph(
        [
            helper.make_node("Flatten", ["image"], ["flat"]),
            helper.make_node("MatMul", ["flat", "w"], ["logits"]),
            helper.make_node("Softmax", ["logits"], ["probabilities"]),
        ],
        "classifier",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [None, 8, 8, 1])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [None, 3])],
        [weights],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


@pytest.fixture
def image(tmp_path):
    path = tmp_path / "digit.png"
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(path)
    return path


def one_line(capsys, command: str, path) -> str:
    err = capsys.readouterr().err
    assert err.startswith(f"convpipe {command}: error: {path}: ") and err.count("\n") == 1, err
    return err


def test_a_whole_onnx_model_predicts_and_a_truncated_one_is_one_line(tmp_path, image, capsys):
    model = onnx_model(tmp_path / "model.onnx")
    assert main(["predict", str(image), "--model", str(model)]) == 0
    capsys.readouterr()
    assert main(["predict", str(image), "--model", str(cut(model))]) == 2
    assert "not a readable onnx artifact" in one_line(capsys, "predict", model)


def test_a_truncated_savedmodel_is_one_line(tmp_path, image, capsys):
    module = tf.Module()
    module.serve = tf.function(
        lambda image: {"probabilities": tf.nn.softmax(tf.zeros([tf.shape(image)[0], 3]))},
        input_signature=[tf.TensorSpec([None, 8, 8, 1], tf.uint8, name="image")],
    )
    folder = tmp_path / "savedmodel"
    tf.saved_model.save(module, str(folder), signatures={"serving_default": module.serve})
    cut(folder / "saved_model.pb")
    assert main(["predict", str(image), "--model", str(folder)]) == 2
    assert "not a readable savedmodel artifact" in one_line(capsys, "predict", folder)


def test_a_truncated_tflite_model_is_one_line(tmp_path, image, capsys):
    inputs = tf.keras.Input((8, 8, 1), batch_size=1)
    keras_model = tf.keras.Model(
        inputs, tf.keras.layers.Dense(3, activation="softmax")(tf.keras.layers.Flatten()(inputs))
    )
    model = tmp_path / "model_float32.tflite"
    model.write_bytes(tf.lite.TFLiteConverter.from_keras_model(keras_model).convert())
    assert main(["predict", str(image), "--model", str(model)]) == 0
    capsys.readouterr()
    assert main(["predict", str(image), "--model", str(cut(model))]) == 2
    assert "not a readable litert artifact" in one_line(capsys, "predict", model)


def test_a_truncated_faiss_index_is_one_line(tmp_path, image, capsys):
    vectors = np.random.default_rng(0).normal(size=(500, 16))
    index_dir = tmp_path / "index"
    retrieval.save(
        index_dir, retrieval.build(vectors, exact_max=1000), [f"{i}.png" for i in range(500)], ["a"] * 500, {}
    )
    cut(index_dir / retrieval.INDEX_FILE)
    assert main(["similar", str(image), "--index", str(index_dir)]) == 2
    assert "not a readable FAISS index" in one_line(capsys, "similar", index_dir / retrieval.INDEX_FILE)
