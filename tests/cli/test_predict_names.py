"""`convpipe predict` and `similar` on odd inputs: nothing to do is an error; a file name with a newline or a byte
that is not UTF-8 stays on one line of text output, quoted and escaped."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

import convpipe  # noqa: F401  (Keras 2 before TensorFlow)
from convpipe.cli import main
from convpipe.core.text import printable_path, quote_path
from convpipe.evaluate import retrieval


@pytest.fixture
def model(tmp_path):
    inputs = tf.keras.Input((8, 8, 1))
    outputs = tf.keras.layers.Dense(3, activation="softmax")(tf.keras.layers.Flatten()(inputs))
    tf.keras.Model(inputs, outputs).save(tmp_path / "model.keras")
    return tmp_path / "model.keras"


@pytest.mark.parametrize("command", ["predict", "similar"])
def test_an_empty_folder_is_nothing_to_do_and_exit_2(tmp_path, model, capsys, command):
    empty = tmp_path / "empty"
    empty.mkdir()
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "readme.txt").write_text("no images here")
    retrieval.save(tmp_path, retrieval.build(np.eye(2, 4), exact_max=10), ["a.png", "b.png"], ["a", "b"], {})
    option = ["--model", str(model)] if command == "predict" else ["--index", str(tmp_path)]
    assert main([command, str(empty), *option]) == 2
    assert capsys.readouterr().err == f"convpipe {command}: error: nothing to do: no image files in {empty}\n"
    assert main([command, str(empty), str(tmp_path / "notes"), *option]) == 2
    assert capsys.readouterr().err == (
        f"convpipe {command}: error: nothing to do: no image files in {empty}, {tmp_path / 'notes'} "
        "(only 1 other file(s))\n"
    )


def test_names_with_a_newline_or_a_non_utf8_byte_stay_on_one_line(tmp_path, model, capsys):
    folder = tmp_path / "images"
    folder.mkdir()
    pixels = Image.fromarray(np.zeros((8, 8), np.uint8))
    names = ["plain.png", "two\nlines.png", os.fsdecode(b"byte-\xff.png")]
    for name in names:
        pixels.save(folder / name, format="PNG")
    assert main(["predict", str(folder), "--model", str(model)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3
    shown = sorted(line.rsplit(": ", 1)[0] for line in lines)
    assert shown == sorted([f"{folder}/plain.png", f'"{folder}/two\\nlines.png"', f'"{folder}/byte-\\xff.png"'])
    assert main(["predict", str(folder), "--model", str(model), "--json"]) == 0
    assert sorted(r["path"] for r in json.loads(capsys.readouterr().out)) == sorted(str(folder / n) for n in names)


def test_quoting_and_printable_paths():
    assert quote_path("a/b c.png") == "a/b c.png"
    assert quote_path("café/日本.png") == "café/日本.png"
    assert quote_path('a\tb"c\\d\x07') == '"a\\tb\\"c\\\\d\\x07"'
    assert printable_path(os.fsdecode(b"notes\xff.txt")) == "notes\\xff.txt"
    assert printable_path("café.png") == "café.png"
