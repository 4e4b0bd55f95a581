"""TFMOT wrapping refuses what it cannot handle by naming the layer, and leaves the source model alone."""

import numpy as np
import pytest
import tensorflow as tf

from convpipe.export import tfmot

layers = tf.keras.layers


class Scale(layers.Layer):
    """A custom layer with a weight, which neither QAT nor pruning knows."""

    def build(self, input_shape):
        self.factor = self.add_weight(name="factor", shape=(), initializer="ones")

    def call(self, x):
        return x * self.factor


def _nested() -> tf.keras.Model:
    base = tf.keras.Sequential([layers.Conv2D(4, 3), layers.GlobalAveragePooling2D()], name="backbone")
    inputs = tf.keras.Input((8, 8, 1))
    return tf.keras.Model(inputs, layers.Dense(3)(base(inputs)))


def _custom() -> tf.keras.Model:
    inputs = tf.keras.Input((4,))
    return tf.keras.Model(inputs, layers.Dense(2)(Scale(name="scale")(inputs)))


@pytest.mark.parametrize("wrap", [tfmot.quantization_aware, lambda m: tfmot.prunable(m, 0.5, 10)])
def test_a_nested_model_is_refused_by_name(wrap):
    with pytest.raises(tfmot.UnsupportedModel, match="'backbone' is a nested model"):
        wrap(_nested())


@pytest.mark.parametrize("wrap", [tfmot.quantization_aware, lambda m: tfmot.prunable(m, 0.5, 10)])
def test_an_unknown_layer_with_weights_is_refused_by_name(wrap):
    with pytest.raises(tfmot.UnsupportedModel, match=r"layer 'scale' \(Scale\), which has weights"):
        wrap(_custom())


def test_weightless_unknown_layers_stay_float_and_the_source_is_untouched():
    inputs = tf.keras.Input((8, 8, 1))
    x = layers.Flatten()(layers.Rescaling(1 / 255)(inputs))
    model = tf.keras.Model(inputs, layers.Dense(3)(x))
    before = [w.copy() for w in model.get_weights()]
    qat = tfmot.quantization_aware(model)
    names = [type(layer).__name__ for layer in qat.layers]
    assert "Rescaling" in names and "QuantizeWrapperV2" in names
    pruned = tfmot.prunable(model, 0.5, 10)
    pruned.layers[-1].layer.kernel.assign(tf.zeros_like(pruned.layers[-1].layer.kernel))
    for old, new in zip(before, model.get_weights()):
        np.testing.assert_array_equal(old, new)


def test_sparsity_counts_zero_kernel_values():
    inputs = tf.keras.Input((4,))
    model = tf.keras.Model(inputs, layers.Dense(2)(inputs))
    model.layers[-1].kernel.assign([[0, 1], [0, 1], [0, 0], [1, 1]])
    assert tfmot.sparsity(model) == 0.5
