""".keras files built to do harm: each is refused before Keras opens it, by predict, by similar's embedder and by
the one loader every stage uses; the models convpipe builds still load."""

import json
import zipfile

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

import convpipe  # noqa: F401  (Keras 2 before TensorFlow)
from convpipe.cli import main
from convpipe.evaluate import retrieval
from convpipe.model import saved


def small_model(*extra_layers) -> tf.keras.Model:
    inputs = tf.keras.Input((8, 8, 1))
    x = inputs
    for layer in extra_layers:
        x = layer(x)
    return tf.keras.Model(inputs, tf.keras.layers.Dense(3, activation="softmax")(tf.keras.layers.Flatten()(x)))


def rewrite_config(source, target, *replacements: tuple[bytes, bytes]):
    """Copy a .keras zip with config.json edited, as an attacker would write it by hand."""
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(target, "w") as out:
        for info in original.infolist():
            data = original.read(info)
            if info.filename == saved.CONFIG_FILE:
                for old, new in replacements:
                    assert old in data, old
                    data = data.replace(old, new)
            out.writestr(info, data)
    return target


def file_reading_model(tmp_path, secret):
    """A model whose output shifts by the length of `secret`, read by a TFOpLambda calling tf.io.read_file: no
    Python code, so Keras' safe mode loads it. Built with tf.strings.upper (which Keras can trace), then renamed."""
    inputs = tf.keras.Input((8, 8, 1))
    name = tf.strings.regex_replace(tf.strings.as_string(tf.math.reduce_sum(inputs)), ".*", str(secret))
    shift = tf.cast(tf.strings.length(tf.strings.upper(name)), tf.float32)
    outputs = tf.keras.layers.Dense(3, activation="softmax")(tf.keras.layers.Flatten()(inputs + shift))
    tf.keras.Model(inputs, outputs).save(tmp_path / "upper.keras")
    return rewrite_config(
        tmp_path / "upper.keras",
        tmp_path / "reader.keras",
        (b'"strings.upper"', b'"io.read_file"'),
        (b'{"encoding": "", "name": null}', b"{}"),
    )


@pytest.fixture
def image(tmp_path):
    path = tmp_path / "digit.png"
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(path)
    return path


def test_a_model_reading_a_file_through_a_tensorflow_op_is_refused(tmp_path, image, capsys):
    secret = tmp_path / "secret.txt"
    secret.write_text("a secret of some length")
    model = file_reading_model(tmp_path, secret)
    assert main(["predict", str(image), "--model", str(model)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(
        f"convpipe predict: error: {model}: refused: it holds a TFOpLambda layer calling tf.io.read_file"
    )
    assert err.count("\n") == 1
    # Under the same name the same layers without the file read are refused too: tf.strings.* is not pure math.
    with pytest.raises(saved.ModelRefused, match=r"tf\.strings\.upper, not one of the pure math functions"):
        saved.load_model(tmp_path / "upper.keras")


def test_similar_refuses_an_embedder_that_reads_a_file(tmp_path, image, capsys):
    model = file_reading_model(tmp_path, "/etc/hostname")
    index_dir = tmp_path / "index"
    retrieval.save(index_dir, retrieval.build(np.eye(2, 4), exact_max=10), ["a.png", "b.png"], ["a", "b"], {})
    (index_dir / retrieval.INFO_FILE).write_text(
        json.dumps({"kind": "exact", "image_size": [8, 8], "color_mode": "grayscale"})
    )
    model.rename(index_dir / retrieval.EMBEDDER_FILE)
    assert main(["similar", str(image), "--index", str(index_dir)]) == 2
    assert "refused: it holds a TFOpLambda layer calling tf.io.read_file" in capsys.readouterr().err


@pytest.mark.filterwarnings("ignore:You are saving your model as an HDF5 file")
def test_an_hdf5_model_named_keras_is_refused_and_its_lambda_never_runs(tmp_path, image, capsys):
    marker = tmp_path / "pwned"
    target = str(marker)
    # The legacy HDF5 loader ignores safe mode and would run this lambda's bytecode on load.
    small_model(tf.keras.layers.Lambda(lambda t: t + 0 * len(str(open(target, "w"))))).save(tmp_path / "evil.h5")
    marker.unlink()
    (tmp_path / "evil.h5").rename(tmp_path / "evil.keras")
    assert main(["predict", str(image), "--model", str(tmp_path / "evil.keras")]) == 2
    assert capsys.readouterr().err == (
        f"convpipe predict: error: {tmp_path / 'evil.keras'}: not a .keras zip (an HDF5 or SavedModel model is not "
        "loaded)\n"
    )
    assert not marker.exists()


def test_a_zip_bomb_keras_file_is_refused_before_keras_inflates_it(tmp_path, image, capsys):
    small_model().save(tmp_path / "model.keras")
    bomb = tmp_path / "bomb.keras"
    with zipfile.ZipFile(tmp_path / "model.keras") as original, zipfile.ZipFile(bomb, "w") as out:
        for info in original.infolist():
            out.writestr(info.filename, original.read(info), zipfile.ZIP_DEFLATED)
        padding = zipfile.ZipInfo("padding.bin")
        padding.compress_type = zipfile.ZIP_DEFLATED
        with out.open(padding, "w", force_zip64=True) as member:
            zeros = bytes(2**20)
            for _ in range(200):  # 200 MiB of zeros deflate to about 200 KB
                member.write(zeros)
    assert bomb.stat().st_size < 2**20
    assert main(["predict", str(image), "--model", str(bomb)]) == 2
    err = capsys.readouterr().err
    assert f"{bomb}: refused: its members unpack to 2097" in err and "a zip bomb, not a model" in err


def test_a_truncated_keras_file_is_one_line(tmp_path, image, capsys):
    small_model().save(tmp_path / "model.keras")
    whole = (tmp_path / "model.keras").read_bytes()
    (tmp_path / "cut.keras").write_bytes(whole[: len(whole) // 2])
    assert main(["predict", str(image), "--model", str(tmp_path / "cut.keras")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"convpipe predict: error: {tmp_path / 'cut.keras'}: ") and err.count("\n") == 1


def node(class_name, module="keras.layers", **config):
    return {"module": module, "class_name": class_name, "config": config, "registered_name": None}


@pytest.mark.parametrize(
    ("config", "reason"),
    [
        (
            node("TFOpLambda", "tf_keras.src.layers.core.tf_op_layer", function="io.write_file"),
            "calling tf.io.write_file",
        ),
        (node("SlicingOpLambda", function="io.gfile.rmtree"), "calling tf.io.gfile.rmtree"),
        (node("ClassMethod", cls_symbol="RaggedTensor", method_name="from_tensor"), "a ClassMethod layer"),
        (node("InstanceMethod", attr_name="__reduce__"), "an InstanceMethod layer"),
        (node("Dense", activation=node("system", "os")), "an object from module 'os', which Keras would import"),
        (node("__function__", "keras.utils"), "a reference to the function keras.utils."),
        (node("StringLookup", vocabulary="/etc/passwd"), "a StringLookup layer reading its vocabulary from a file"),
        ({"layers": [node("Lambda", function={"class_name": "__lambda__"})]}, "Python code (a Lambda layer)"),
        (node("TFOpLambda", function=["io.read_file"]), "calling tf.['io.read_file']"),
        ({"class_name": ["Dense"], "config": {}}, "an object whose class or module is not a name"),
    ],
)
def test_config_refusals(config, reason):
    assert any(reason in found for found in saved.refusals({"config": {"layers": [config]}}))


def test_what_convpipe_models_hold_passes():
    allowed = [
        node("TFOpLambda", function="math.truediv"),  # mobilenet_v2 and xception preprocessing
        node("TFOpLambda", function="math.subtract"),
        node("TFOpLambda", function="reverse"),  # resnet50's RGB → BGR
        node("Dense", activation="softmax", kernel_initializer=node("GlorotUniform", "keras.initializers")),
        node("Functional", "tf_keras.src.engine.functional"),
        {"loss": node("__function__", "builtins"), "optimizer": node("Adam", "keras.optimizers")},
        node("StringLookup", vocabulary=["cat", "dog"]),
    ]
    assert saved.refusals({"config": {"layers": allowed}}) == []
