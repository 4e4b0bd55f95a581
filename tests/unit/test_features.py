"""The frozen-base feature cache: the base runs once per image without augmentation, the head trains the
full model, and the saved model predicts as one trained the slow way would."""

import numpy as np
import pytest

import convpipe  # noqa: F401  (selects Keras 2 before TensorFlow loads)
from convpipe.core.params import Augment, Model, Train
from convpipe.data.augment import augmentation
from convpipe.data.shards import Epochs
from tests.fit_worker import stripes

tf = pytest.importorskip("tensorflow")


class Counting(tf.keras.layers.Layer):
    """Passes its input on and counts the images it has seen."""

    def build(self, input_shape):
        self.seen = self.add_weight("seen", shape=(), dtype="int64", initializer="zeros", trainable=False)

    def call(self, x):
        self.seen.assign_add(tf.cast(tf.shape(x)[0], tf.int64))
        return x


def frozen_model():
    """Conv base (frozen, with a counter) → features → dropout → float32 softmax, as builders make it."""
    inputs = tf.keras.Input((16, 16, 1), name="image")
    x = tf.keras.layers.Rescaling(1 / 255)(inputs)
    x = tf.keras.layers.Conv2D(4, 3, activation="relu", trainable=False)(x)
    x = Counting()(x)
    x = tf.keras.layers.GlobalAveragePooling2D(name="features")(x)
    x = tf.keras.layers.Dropout(0.2)(x)
    outputs = tf.keras.layers.Dense(2, activation="softmax", name="probabilities", dtype="float32")(x)
    return tf.keras.Model(inputs, outputs)


def data(augment):
    train = Epochs(tf.data.Dataset.from_tensor_slices(stripes(24, 1)), 24, 24, 8, seed=0, augment=augment)
    val_ds = tf.data.Dataset.from_tensor_slices(stripes(8, 2)).batch(8)
    return train, val_ds


def counter(model):
    return int(next(layer for layer in model.layers if isinstance(layer, Counting)).seen.numpy())


def train_head(tmp_path, augment):
    from convpipe.model import features
    from convpipe.model.seeding import seed_everything
    from convpipe.model.training import compile_model, fit

    seed_everything(0)
    model = frozen_model()
    train, val_ds = data(augment)
    head, head_train, head_val = features.head_training(model, train, val_ds, 8)
    compile_model(head, 0.01)
    settings = Train(epochs=3, batch_size=8, learning_rate=0.01, patience=10)
    history = fit(head, head_train, head_val, settings, tmp_path / "out", tmp_path / "backup")
    return model, history, val_ds


@pytest.mark.parametrize("augmented", [False, True])
def test_base_runs_once_per_image_unless_augmented(tmp_path, augmented):
    augment = augmentation(Augment(flip="horizontal", rotation=0.05, zoom=0, translation=0, contrast=0))
    model, history, _ = train_head(tmp_path, augment if augmented else None)
    assert len(history) == 3
    # val (8) once; train (24) once, or once per epoch when each epoch's augmented batches differ
    assert counter(model) == 8 + 24 * (3 if augmented else 1)


def test_head_trains_the_full_model_which_saves_and_predicts_as_before(tmp_path):
    before = frozen_model()
    model, history, val_ds = train_head(tmp_path, None)
    probabilities = model.predict(val_ds, verbose=0)
    assert probabilities.shape == (8, 2) and probabilities.dtype == np.float32
    np.testing.assert_allclose(probabilities.sum(axis=1), 1, rtol=1e-5)
    # The best epoch's head weights are in the full model: its val loss is the history's best.
    model.compile(loss="sparse_categorical_crossentropy")
    assert model.evaluate(val_ds, verbose=0) == pytest.approx(min(r["val_loss"] for r in history), rel=1e-4)
    assert len(model.get_weights()) == len(before.get_weights())


def test_split_refuses_a_model_whose_base_trains():
    from convpipe.model import features
    from convpipe.model.builders import build_model

    assert features.split(build_model(Model(arch="small_convnet", filters=[4], dropout=0.1), (16, 16, 1), 2)) is None
    extractor, head = features.split(frozen_model())
    assert extractor.output.shape[-1] == 4 and [layer.name for layer in head.layers][-1] == "probabilities"
