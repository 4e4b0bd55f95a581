"""How predict finds an artifact's preprocessing, expands folders, ranks classes and streams (no real models here)."""

import json

import numpy as np
import pytest
from PIL import Image

from convpipe.data.decoder import Limits
from convpipe.export import description
from convpipe.export.runtimes import Artifact
from convpipe.serve import predict
from tests import dirty_images as dirty


def test_top_k_is_highest_first_with_labels():
    top = predict.top_k(np.array([0.1, 0.6, 0.3]), ("cat", "dog", "eel"), 2)
    assert top == (("dog", pytest.approx(0.6)), ("eel", pytest.approx(0.3)))
    assert predict.top_k(np.array([0.1, 0.6, 0.3]), None, 5)[0][0] == "1"


def test_description_written_by_export_is_read_back(tmp_path):
    description.write_description(tmp_path, [16, 12], 3, ["a", "b"])
    (tmp_path / "savedmodel").mkdir()
    prep = description.preprocessing_for(tmp_path / "savedmodel", (None, None, 3))
    assert prep == description.Preprocessing((16, 12), "rgb", ("a", "b"))
    assert (tmp_path / "labels.txt").read_text() == "a\nb\n"


def test_without_description_the_input_shape_and_labels_decide(tmp_path):
    (tmp_path / "labels.txt").write_text("zero\none\n")
    prep = description.preprocessing_for(tmp_path / "model.onnx", (8, 8, 1))
    assert prep == description.Preprocessing((8, 8), "grayscale", ("zero", "one"))


def test_any_size_model_without_description_is_refused(tmp_path):
    with pytest.raises(ValueError, match="no preprocessing.json beside it"):
        description.preprocessing_for(tmp_path / "savedmodel", (None, None, 1))


def test_description_that_contradicts_the_model_is_refused(tmp_path):
    with open(tmp_path / "preprocessing.json", "w") as handle:
        json.dump({"image_size": [16, 16], "color_mode": "grayscale", "class_names": ["a"]}, handle)
    with pytest.raises(ValueError, match=r"image_size \[16, 16\] but .* takes 8×8"):
        description.preprocessing_for(tmp_path / "m.tflite", (8, 8, 1))
    with pytest.raises(ValueError, match="color_mode grayscale but .* takes 3 channel"):
        description.preprocessing_for(tmp_path / "m.tflite", (16, 16, 3))


def test_expand_lists_folder_images_and_counts_the_rest(tmp_path):
    Image.new("L", (4, 4)).save(tmp_path / "b.png")
    Image.new("L", (4, 4)).save(tmp_path / "a.png")
    (tmp_path / "notes.txt").write_text("x")
    given = tmp_path.parent / "given.dat"  # a named file is kept whatever its extension
    files, passed_over = predict.expand([tmp_path, given])
    assert files == [tmp_path / "a.png", tmp_path / "b.png", given]
    assert passed_over == 1


def test_predictions_stream_a_batch_at_a_time(tmp_path, monkeypatch):
    monkeypatch.setattr(predict, "BATCH", 4)
    files = [dirty.good_jpeg(tmp_path, f"{i}.jpg", seed=i) for i in range(10)]
    batches = []

    def model(x):
        batches.append(len(x))
        return np.tile([0.2, 0.8], (len(x), 1))

    loaded = Artifact(model, "test", (8, 8, 3))
    results = predict.predict(files, loaded, description.Preprocessing((8, 8), "rgb", ("a", "b")), 1, Limits())
    assert next(results) == predict.Prediction(str(files[0]), (("b", pytest.approx(0.8)),))
    assert batches == [4]  # the first answer comes before the other files reach the model
    assert [r.path for r in results] == [str(f) for f in files[1:]]
    assert batches == [4, 4, 2]
