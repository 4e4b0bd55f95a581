"""`convpipe predict` on untrusted input: models with Python code are refused; hostile images fail one by one,
bounded in decoding time and memory, and any number of files streams through in batches."""

import json

import numpy as np
import tensorflow as tf
from PIL import Image

import convpipe  # noqa: F401  (Keras 2 before TensorFlow)
from convpipe.cli import main
from convpipe.serve import predict
from tests import dirty_images as dirty


def small_model(*extra_layers) -> tf.keras.Model:
    inputs = tf.keras.Input((8, 8, 1))
    x = inputs
    for layer in extra_layers:
        x = layer(x)
    outputs = tf.keras.layers.Dense(3, activation="softmax")(tf.keras.layers.Flatten()(x))
    return tf.keras.Model(inputs, outputs)


def test_a_keras_file_with_a_python_lambda_is_refused_and_never_run(tmp_path, capsys):
    marker = tmp_path / "pwned"
    target = str(marker)
    # Would create the marker file whenever the layer runs: at save time here, and on load if unsafe.
    evil = small_model(tf.keras.layers.Lambda(lambda t: t + 0 * len(str(open(target, "w")))))
    evil.save(tmp_path / "evil.keras")
    marker.unlink()
    image = tmp_path / "digit.png"
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(image)
    assert main(["predict", str(image), "--model", str(tmp_path / "evil.keras")]) == 2
    err = capsys.readouterr().err
    assert err == (
        f"convpipe predict: error: {tmp_path / 'evil.keras'}: refused: it holds Python code (a Lambda "
        "layer), which could run anything; a model may hold Keras layers and pure math only\n"
    )
    assert not marker.exists()


def test_hostile_images_fail_one_by_one_and_the_rest_are_predicted(tmp_path, capsys):
    small_model().save(tmp_path / "model.keras")
    files = [
        dirty.good_jpeg(tmp_path),
        dirty.bomb_png(tmp_path, size=(60000, 60000)),
        dirty.truncated_jpeg(tmp_path),
        dirty.corrupt_png(tmp_path),
        dirty.text_as_jpg(tmp_path),
        dirty.empty_file(tmp_path),
        dirty.grayscale_png(tmp_path),
    ]
    code = main(["predict", *map(str, files), "--model", str(tmp_path / "model.keras"), "--json"])
    assert code == 1
    results = {r["path"]: r for r in json.loads(capsys.readouterr().out)}
    assert list(results) == [str(f) for f in files]
    predicted = [p for p, r in results.items() if "top_k" in r]
    assert predicted == [str(files[0]), str(files[-1])]
    assert results[str(files[1])]["error"].startswith(
        "decompression bomb: Image size (3600000000 pixels) exceeds limit"
    )
    for bad in files[2:-1]:
        assert results[str(bad)]["error"], bad


def test_a_file_that_decodes_too_long_gets_the_timeout_error_and_the_rest_are_predicted(tmp_path, capsys):
    small_model().save(tmp_path / "model.keras")
    # The slow PNG takes seconds to decode, far past 0.05 s; the FIFO never delivers a byte.
    files = [dirty.good_jpeg(tmp_path), dirty.slow_png(tmp_path), dirty.fifo(tmp_path), dirty.grayscale_png(tmp_path)]
    code = main(["predict", *map(str, files), "--model", str(tmp_path / "model.keras"), "--decode-timeout", "0.05"])
    out, err = capsys.readouterr()
    assert code == 1
    assert [line.split(": ")[0] for line in out.splitlines()] == [str(files[0]), str(files[3])]
    errors = err.splitlines()
    assert errors[0] == f"{files[1]}: error: decoding took over 0.05 s (limit --decode-timeout)"
    # Today the FIFO is refused for its size of 0 before it is opened; were it opened, the timeout would end it.
    assert errors[1] in (
        f"{files[2]}: error: empty file",
        f"{files[2]}: error: decoding took over 0.05 s (limit --decode-timeout)",
    )
    assert len(errors) == 2


def test_a_file_that_needs_more_memory_than_allowed_gets_the_memory_error(tmp_path, capsys):
    small_model().save(tmp_path / "model.keras")
    # 64 MB of pixels, under Pillow's pixel limit, from a 70 KB file.
    files = [dirty.good_jpeg(tmp_path), dirty.huge_flat_png(tmp_path, size=(8000, 8000)), dirty.grayscale_png(tmp_path)]
    code = main(["predict", *map(str, files), "--model", str(tmp_path / "model.keras"), "--decode-memory-mb", "32"])
    out, err = capsys.readouterr()
    assert code == 1
    assert [line.split(": ")[0] for line in out.splitlines()] == [str(files[0]), str(files[2])]
    assert err == f"{files[1]}: error: decoding exceeded the 32 MiB decode memory limit (--decode-memory-mb)\n"
    # Within the default limit the same file is classified.
    assert main(["predict", str(files[1]), "--model", str(tmp_path / "model.keras")]) == 0


def test_many_files_stream_through_batches_in_order(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(predict, "BATCH", 4)  # 11 files: three batches, the last one short
    small_model().save(tmp_path / "model.keras")
    files = [
        dirty.text_as_jpg(tmp_path, f"{i:02d}.jpg") if i % 3 == 1 else dirty.good_jpeg(tmp_path, f"{i:02d}.jpg", i)
        for i in range(11)
    ]
    assert main(["predict", str(tmp_path), "--model", str(tmp_path / "model.keras"), "--json"]) == 1
    results = json.loads(capsys.readouterr().out)
    assert [r["path"] for r in results] == [str(f) for f in files]
    assert [("error" in r) for r in results] == [i % 3 == 1 for i in range(11)]
