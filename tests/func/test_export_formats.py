"""A tiny digits model converted to every export format, measured, and used through `convpipe predict`."""

import json

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image
from sklearn.datasets import load_digits

from convpipe.cli import main as cli_main
from convpipe.core.params import Export, Model
from convpipe.export import convert, description, tfmot
from convpipe.export.formats import FORMATS
from convpipe.export.measure import measure
from convpipe.model import builders
from convpipe.model.training import compile_model

pytestmark = pytest.mark.slow
FLOAT_FORMATS = ("savedmodel", "tflite_float32", "onnx")
INT8_FORMATS = ("tflite_dynamic", "tflite_int8", "tflite_qat_int8", "tflite_pruned_int8")


@pytest.fixture(scope="module")
def digits():
    """8×8 digits as 0-255 pixels: 1200 to train, 300 to test."""
    data = load_digits()
    x = (data.images[..., None] * (255 / 16)).round().astype(np.float32)
    return x[:1200], data.target[:1200], x[1200:1500], data.target[1200:1500]


@pytest.fixture(scope="module")
def exported(digits, tmp_path_factory):
    """Every format built from a model trained for two epochs; the measurement rows and the folder."""
    x_train, y_train, x_test, y_test = digits
    tf.keras.utils.set_random_seed(0)
    model = builders.small_convnet(Model(arch="small_convnet", filters=[16, 32], dropout=0.0), (8, 8, 1), 10)
    compile_model(model, 0.01)
    model.fit(x_train, y_train, epochs=2, batch_size=32, verbose=0)
    out = tmp_path_factory.mktemp("export")
    model.save(out / "model.keras")
    description.write_description(out, [8, 8], 1, [str(i) for i in range(10)])
    settings = Export(
        formats=list(FORMATS),
        representative_samples=100,
        onnx_opset=17,
        latency_runs=3,
        qat_epochs=1,
        sparsity=0.5,
        prune_epochs=2,
        tune_learning_rate=0.002,
        tune_batch_size=64,
    )
    train_ds = tf.data.Dataset.from_tensor_slices((x_train, y_train)).shuffle(1200, seed=0).batch(64)
    reference = model.predict(x_test, verbose=0)
    rows = {"keras": measure(out / "model.keras", x_test, y_test, reference, 3)}
    for kind in FORMATS:
        source = tfmot.source_model(model, kind, tfmot.TuningData(train_ds, 19), settings)
        rows.update(tfmot.extra_measures(source, kind))
        path = convert.build(source, kind, out, x_train[:100], settings.onnx_opset)
        rows[kind] = measure(path, x_test, y_test, reference, 3)
    rows["reference_after"] = model.predict(x_test, verbose=0)
    return out, rows, reference


def test_the_tiny_model_learned(exported):
    _, rows, _ = exported
    assert rows["keras"]["accuracy"] >= 0.85


def test_tuning_copies_leaves_the_finetuned_model_alone(exported):
    _, rows, reference = exported
    np.testing.assert_array_equal(rows["reference_after"], reference)


@pytest.mark.parametrize("kind", FLOAT_FORMATS)
def test_float_artifacts_match_keras(exported, kind):
    _, rows, _ = exported
    assert rows[kind]["agreement"] == 1.0
    assert rows[kind]["max_abs_diff"] < 1e-4
    assert rows[kind]["accuracy"] == rows["keras"]["accuracy"]


def test_float16_is_half_the_size_and_nearly_exact(exported):
    _, rows, _ = exported
    assert rows["tflite_float16"]["agreement"] >= 0.99
    assert rows["tflite_float16"]["max_abs_diff"] < 0.01
    assert rows["tflite_float16"]["size_bytes"] < 0.8 * rows["tflite_float32"]["size_bytes"]


@pytest.mark.parametrize("kind", INT8_FORMATS)
def test_quantized_artifacts_keep_accuracy_and_shrink(exported, kind):
    _, rows, _ = exported
    assert rows[kind]["accuracy"] >= rows["keras"]["accuracy"] - 0.03
    assert rows[kind]["agreement"] >= 0.95
    assert rows[kind]["size_bytes"] < 0.6 * rows["tflite_float32"]["size_bytes"]
    assert rows[kind]["runtime"] == "LiteRT"


def test_pruning_reaches_its_sparsity_and_compresses_better(exported):
    _, rows, _ = exported
    assert rows["sparsity"] >= 0.49
    assert rows["tflite_pruned_int8"]["gzip_bytes"] < rows["tflite_int8"]["gzip_bytes"]


def test_every_row_has_sizes_and_latencies(exported):
    _, rows, _ = exported
    for kind in ("keras", *FORMATS):
        row = rows[kind]
        assert 0 < row["gzip_bytes"] and 0 < row["size_bytes"]
        assert 0 < row["latency_ms"] <= row["latency_p95_ms"]


def test_predict_gives_the_same_top1_from_every_artifact(exported, digits, tmp_path, capsys):
    out, _, reference = exported
    _, _, x_test, _ = digits
    # Confident images only: quantization may fairly flip a near tie.
    chosen = [i for i in range(len(x_test)) if reference[i].max() > 0.9][:6]
    for i in chosen:
        Image.fromarray(x_test[i, :, :, 0].astype(np.uint8)).save(tmp_path / f"digit{i:03d}.png")
    (tmp_path / "zbroken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 20)
    expected = [str(reference[i].argmax()) for i in chosen]
    artifacts = ["model.keras", *(fmt.file for fmt in FORMATS.values())]
    for name in artifacts:
        code = cli_main(["predict", str(tmp_path), "--model", str(out / name), "-k", "2", "--json"])
        results = json.loads(capsys.readouterr().out)
        assert code == 1, name  # the broken file fails, the rest are still predicted
        assert [r["top_k"][0]["label"] for r in results[:-1]] == expected, name
        assert len(results[0]["top_k"]) == 2
        assert results[-1] == {"path": str(tmp_path / "zbroken.png"), "error": results[-1]["error"]}
        assert "image" in results[-1]["error"]
