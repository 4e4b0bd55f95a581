"""The architectures table and its builders: every row honours the model contract written in
convpipe/model/architectures.py; pretrained bases, weights files, unfreezing."""

from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from convpipe.core.params import Model, ParamsError, parse
from convpipe.evaluate.explain import last_feature_map
from convpipe.export import tfmot
from convpipe.model import builders
from convpipe.model.architectures import ARCHITECTURES
from convpipe.model.builders import bgr_minus_imagenet_mean, build_model, pretrained_base, unfreeze
from convpipe.model.saved import load_model
from convpipe.model.training import compile_model

TINY = {"filters": [8, 16], "dropout": 0.1, "alpha": 0.35}


def spec(arch, **changes):
    return Model(arch=arch, **{**TINY, **changes})


def stripes(n, side, channels, seed=0):
    """Class 0: bright top half; class 1: bright bottom half; plus noise. Raw 0-255 pixels."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 2
    images = rng.uniform(0, 60, (n, side, side, channels)).astype("float32")
    for image, label in zip(images, labels):
        image[label * side // 2 : (label + 1) * side // 2] += 180
    return images, labels


@pytest.mark.slow
@pytest.mark.parametrize(
    "arch,channels",
    [
        ("convnet_bn", 1),
        ("small_convnet", 1),
        ("mini_xception", 3),
        ("resnet34", 1),
        ("mobilenet", 3),
        ("mobilenet_v2", 1),
        ("efficientnet_b0", 3),
    ],
)
def test_each_arch_trains_and_round_trips(arch, channels, tmp_path):
    side = max(32, ARCHITECTURES[arch].min_side)
    images, labels = stripes(16, side, channels)
    model = build_model(spec(arch), (side, side, channels), 2)
    compile_model(model, 1e-3)
    before = [w.copy() for w in model.get_weights()]
    history = model.fit(images, labels, batch_size=8, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert any(not np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    probabilities = model.predict(images, verbose=0)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1, rtol=1e-5)
    model.save(tmp_path / "model.keras")
    loaded = tf.keras.models.load_model(tmp_path / "model.keras", safe_mode=True)
    np.testing.assert_array_equal(loaded.predict(images, verbose=0), probabilities)


# xception and resnet50 share the pretrained builder with the two above; at 20M+ parameters a training
# step and a save/load round trip cost minutes, so they are only built and run forward.
@pytest.mark.parametrize("arch,channels", [("xception", 3), ("resnet50", 1)])
def test_large_bases_build_and_predict(arch, channels):
    side = max(32, ARCHITECTURES[arch].min_side)
    images, _ = stripes(2, side, channels)
    model = build_model(spec(arch), (side, side, channels), 3)
    probabilities = model.predict(images, verbose=0)
    assert probabilities.shape == (2, 3)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1, rtol=1e-5)


# Large networks take from 20 s to a minute to save, load and wrap; the others show the same builders work.
LARGE = {"xception", "resnet50", "efficientnet_b0", "resnet34"}


@pytest.mark.parametrize(
    "arch", [pytest.param(name, marks=pytest.mark.slow) if name in LARGE else name for name in ARCHITECTURES]
)
def test_every_architecture_honours_the_model_contract(arch, tmp_path):
    row = ARCHITECTURES[arch]
    side = max(16, row.min_side)
    tf.keras.utils.set_random_seed(0)  # the untrained weights, hence the answer below, are the same every run
    model = build_model(spec(arch), (side, side, 3), 3)
    images = np.random.default_rng(0).uniform(0, 255, (2, side, side, 3)).astype("float32")
    probabilities = model.predict(images, verbose=0)
    assert probabilities.shape == (2, 3) and np.isfinite(probabilities).all()
    if row.preprocessing != "caffe":
        # Raw 0-255 pixels in: an untrained model that did not rescale them would answer with certainty.
        # "caffe" (ResNet50) only subtracts the ImageNet means, as its weights expect, so untrained it is
        # often certain anyway (0.94-0.9999 over three seeds); test_resnet50_preprocessing_matches_keras
        # pins that layer.
        assert probabilities.max() < 0.999
    head = model.layers[-1]
    assert isinstance(head, tf.keras.layers.Dense) and head.name == "probabilities"
    assert head.activation is tf.keras.activations.softmax
    assert len(last_feature_map(model)[-1].output_shape) == 4  # what Grad-CAM explains
    model.save(tmp_path / "model.keras")
    np.testing.assert_allclose(
        load_model(tmp_path / "model.keras").predict(images, verbose=0), probabilities, rtol=1e-5, atol=1e-6
    )
    if row.quantizable:
        tfmot.quantization_aware(model)
    else:
        with pytest.raises(tfmot.UnsupportedModel):
            tfmot.quantization_aware(model)


def test_every_row_names_a_builder_and_a_keras_application():
    for row in ARCHITECTURES.values():
        assert callable(getattr(builders, row.builder)), row.name
        if row.pretrained:
            assert hasattr(tf.keras.applications, row.application), row.name
            builders.preprocess_input(row)


def test_pretrained_base_is_frozen_for_feature_extraction(tmp_path):
    path = tmp_path / "base.weights.h5"
    pretrained_base(spec("mobilenet_v2"), (32, 32)).save_weights(path)
    model = build_model(spec("mobilenet_v2", weights=str(path)), (32, 32, 3), 4)
    base = next(layer for layer in model.layers if isinstance(layer, tf.keras.Model))
    assert not base.trainable
    assert [w.name.split("/")[0] for w in model.trainable_weights] == ["probabilities", "probabilities"]


def test_a_base_without_weights_trains_from_scratch():
    model = build_model(spec("mobilenet_v2"), (32, 32, 3), 4)
    base = next(layer for layer in model.layers if isinstance(layer, tf.keras.Model))
    assert base.trainable and len(model.trainable_weights) > 100
    assert {layer.momentum for layer in base.layers if isinstance(layer, tf.keras.layers.BatchNormalization)} == {0.9}


def test_weights_file_loads_into_the_base_and_grayscale_repeats_channels(tmp_path):
    source = build_model(spec("mobilenet_v2"), (32, 32, 3), 3)
    source_base = next(layer for layer in source.layers if isinstance(layer, tf.keras.Model))
    path = tmp_path / "base.weights.h5"
    source_base.save_weights(path)
    gray = build_model(spec("mobilenet_v2", weights=str(path)), (32, 32, 1), 3)
    gray_base = next(layer for layer in gray.layers if isinstance(layer, tf.keras.Model))
    for saved, loaded in zip(source_base.get_weights(), gray_base.get_weights(), strict=True):
        np.testing.assert_array_equal(saved, loaded)
    gray.get_layer("probabilities").set_weights(source.get_layer("probabilities").get_weights())
    images, _ = stripes(4, 32, 1)
    np.testing.assert_allclose(
        gray.predict(images, verbose=0), source.predict(np.repeat(images, 3, axis=-1), verbose=0), atol=1e-6
    )


def test_fresh_bases_differ_so_the_weights_test_can_fail():
    first, second = (pretrained_base(spec("mobilenet_v2"), (32, 32)) for _ in range(2))
    assert any(not np.array_equal(a, b) for a, b in zip(first.get_weights(), second.get_weights()))


def test_missing_weights_file_names_the_key(tmp_path):
    with pytest.raises(FileNotFoundError, match="model.weights.*nowhere.h5"):
        build_model(spec("mobilenet_v2", weights=str(tmp_path / "nowhere.h5")), (32, 32, 3), 2)


def test_too_small_images_for_a_base_name_the_minimum():
    with pytest.raises(ValueError, match="xception needs data.image_size of at least 71×71, got 32×32"):
        build_model(spec("xception"), (32, 32, 3), 2)


def test_resnet50_preprocessing_matches_keras():
    images = np.random.default_rng(1).uniform(0, 255, (2, 8, 8, 3)).astype("float32")
    expected = tf.keras.applications.resnet50.preprocess_input(images.copy())
    np.testing.assert_allclose(bgr_minus_imagenet_mean(tf.constant(images)).numpy(), expected, atol=1e-4)


def test_unfreeze_top_of_base_keeps_batch_norm_frozen():
    model = build_model(spec("mobilenet_v2"), (32, 32, 3), 2)
    base = next(layer for layer in model.layers if isinstance(layer, tf.keras.Model))
    weighted = [layer for layer in base.layers if layer.weights]
    assert unfreeze(model, 10) == 10
    top = weighted[-10:]
    assert [layer.trainable for layer in top] == [
        not isinstance(layer, tf.keras.layers.BatchNormalization) for layer in top
    ]
    assert not any(layer.trainable for layer in weighted[:-10])
    assert model.get_layer("probabilities").trainable


def test_unfreeze_fraction_of_a_scratch_model():
    model = build_model(spec("small_convnet", filters=[4, 4, 4]), (16, 16, 1), 2)
    for layer in model.layers:
        layer.trainable = False
    assert unfreeze(model, 0.5) == 2  # of 4 weighted layers: 3 convs and the dense head
    assert [layer.trainable for layer in model.layers if layer.weights] == [False, False, True, True]


def test_params_reject_weights_for_a_scratch_arch_and_odd_alpha():
    import yaml

    with open("params.yaml", encoding="utf-8") as handle:
        raw = yaml.safe_load(handle)
    raw["model"]["weights"] = "imagenet"
    with pytest.raises(ParamsError, match="model: .*needs a pretrained arch"):
        parse(raw)
    raw["model"].update(arch="mobilenet_v2", alpha=0.4)
    with pytest.raises(ParamsError, match="model.alpha"):
        parse(raw)


REAL_MOBILENET = Path.home() / ".cache" / "convpipe-weights" / "mobilenet_1_0_224_tf_no_top.h5"


@pytest.mark.skipif(not REAL_MOBILENET.is_file(), reason=f"no ImageNet MobileNet v1 weights at {REAL_MOBILENET}")
def test_real_mobilenet_weights_load_into_the_frozen_base():
    model = build_model(spec("mobilenet", alpha=1.0, weights=str(REAL_MOBILENET)), (32, 32, 3), 2)
    base = next(layer for layer in model.layers if isinstance(layer, tf.keras.Model))
    assert not base.trainable
    fresh = pretrained_base(spec("mobilenet", alpha=1.0), (32, 32))
    assert not np.array_equal(base.get_layer("conv1").get_weights()[0], fresh.get_layer("conv1").get_weights()[0])


def test_the_unfreeze_default_of_a_pretrained_base_is_its_top_30_percent():
    model = build_model(spec("mobilenet"), (32, 32, 3), 2)
    base = next(layer for layer in model.layers if isinstance(layer, tf.keras.Model))
    weighted = [layer for layer in base.layers if layer.weights]
    assert unfreeze(model, 0.3) == round(0.3 * len(weighted))
    assert not any(isinstance(layer, tf.keras.layers.BatchNormalization) and layer.trainable for layer in weighted)
