"""The builders of architectures.ARCHITECTURES, each honouring the model contract written there."""

from __future__ import annotations

from pathlib import Path

import tensorflow as tf

from convpipe.core.params import Model
from convpipe.model.architectures import ARCHITECTURES, Architecture

layers = tf.keras.layers
apps = tf.keras.applications
# Batch-norm momentum for networks trained from scratch: at Keras' 0.99 (0.999 in some bases) the moving
# statistics used at inference need far more steps than a small data set gives, and val accuracy
# stays at chance while train accuracy climbs.
BN_MOMENTUM = 0.9


def build_model(spec: Model, input_shape: tuple[int, int, int], num_classes: int) -> tf.keras.Model:
    """The network `model.arch` names, for input_shape (H, W, C) and num_classes outputs."""
    arch = ARCHITECTURES[spec.arch]
    if min(input_shape[:2]) < arch.min_side:
        raise ValueError(
            f"model.arch {spec.arch} needs data.image_size of at least {arch.min_side}×{arch.min_side}, "
            f"got {input_shape[0]}×{input_shape[1]}"
        )
    builder = globals().get(arch.builder)
    if not callable(builder):
        raise ValueError(f"model.arch {spec.arch}: no builder {arch.builder!r} in {__name__}")
    return builder(spec, input_shape, num_classes)


def _head(x, spec: Model, num_classes: int):
    x = layers.Dropout(spec.dropout)(x)
    # float32 under a mixed-precision policy too: a 16-bit softmax rounds small probabilities away.
    return layers.Dense(num_classes, activation="softmax", name="probabilities", dtype="float32")(x)


def convnet_bn(spec: Model, input_shape: tuple[int, int, int], num_classes: int) -> tf.keras.Model:
    """Blocks of two Conv-BatchNorm-ReLU with max-pooling between them, global average pooling, dropout, softmax.

    Batch normalization lets it train to convergence quickly at a high rate; the convolutions carry no bias
    (the normalization cancels it), which is also the Conv+BN+ReLU pattern TFMOT folds for 8-bit QAT.
    """
    inputs = tf.keras.Input(shape=input_shape, name="image")
    x = layers.Rescaling(1 / 255)(inputs)
    for i, filters in enumerate(spec.filters):
        if i:
            x = layers.MaxPooling2D()(x)
        for _ in range(2):
            x = layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)
            x = layers.BatchNormalization(momentum=BN_MOMENTUM)(x)
            x = layers.ReLU()(x)
    x = layers.GlobalAveragePooling2D(name="features")(x)
    return tf.keras.Model(inputs, _head(x, spec, num_classes), name=spec.arch)


def small_convnet(spec: Model, input_shape: tuple[int, int, int], num_classes: int) -> tf.keras.Model:
    """Conv2D blocks with MaxPooling between them, then dropout and a softmax (Deep Learning with Python, ch. 8)."""
    inputs = tf.keras.Input(shape=input_shape, name="image")
    x = layers.Rescaling(1 / 255)(inputs)
    for i, filters in enumerate(spec.filters):
        if i:
            x = layers.MaxPooling2D()(x)
        x = layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
    x = layers.Flatten(name="features")(x)
    return tf.keras.Model(inputs, _head(x, spec, num_classes), name=spec.arch)


def mini_xception(spec: Model, input_shape: tuple[int, int, int], num_classes: int) -> tf.keras.Model:
    """Residual blocks of batch-normalized separable convolutions (Deep Learning with Python, ch. 9)."""
    inputs = tf.keras.Input(shape=input_shape, name="image")
    x = layers.Rescaling(1 / 255)(inputs)
    x = layers.Conv2D(spec.filters[0], 5, padding="same", use_bias=False)(x)
    for filters in spec.filters:
        residual = x
        for _ in range(2):
            x = layers.BatchNormalization(momentum=BN_MOMENTUM)(x)
            x = layers.Activation("relu")(x)
            # No bias: the batch normalization that follows would cancel it.
            x = layers.SeparableConv2D(filters, 3, padding="same", use_bias=False)(x)
        x = layers.MaxPooling2D(3, strides=2, padding="same")(x)
        residual = layers.Conv2D(filters, 1, strides=2, padding="same", use_bias=False)(residual)
        x = layers.add([x, residual])
    x = layers.GlobalAveragePooling2D(name="features")(x)
    return tf.keras.Model(inputs, _head(x, spec, num_classes), name=spec.arch)


def _residual_unit(x, filters: int, strides: int):
    shortcut = x
    x = layers.Conv2D(filters, 3, strides=strides, padding="same", use_bias=False)(x)
    x = layers.Activation("relu")(layers.BatchNormalization(momentum=BN_MOMENTUM)(x))
    x = layers.BatchNormalization(momentum=BN_MOMENTUM)(layers.Conv2D(filters, 3, padding="same", use_bias=False)(x))
    if strides > 1:
        shortcut = layers.Conv2D(filters, 1, strides=strides, padding="same", use_bias=False)(shortcut)
        shortcut = layers.BatchNormalization(momentum=BN_MOMENTUM)(shortcut)
    return layers.Activation("relu")(layers.add([x, shortcut]))


def resnet34(spec: Model, input_shape: tuple[int, int, int], num_classes: int) -> tf.keras.Model:
    """ResNet-34: 3, 4, 6 and 3 residual units of 64 to 512 filters (Hands-On ML, ch. 14)."""
    inputs = tf.keras.Input(shape=input_shape, name="image")
    x = layers.Rescaling(1 / 255)(inputs)
    x = layers.Conv2D(64, 7, strides=2, padding="same", use_bias=False)(x)
    x = layers.Activation("relu")(layers.BatchNormalization(momentum=BN_MOMENTUM)(x))
    x = layers.MaxPooling2D(3, strides=2, padding="same")(x)
    previous = 64
    for filters in [64] * 3 + [128] * 4 + [256] * 6 + [512] * 3:
        x = _residual_unit(x, filters, 1 if filters == previous else 2)
        previous = filters
    x = layers.GlobalAveragePooling2D(name="features")(x)
    return tf.keras.Model(inputs, _head(x, spec, num_classes), name=spec.arch)


def bgr_minus_imagenet_mean(x):
    """resnet50.preprocess_input ("caffe" mode) from saveable layers: RGB → BGR, minus ImageNet means."""
    x = tf.reverse(x, axis=[-1])  # keras' own version slices with `...`, which a saved model cannot hold
    return layers.Normalization(mean=[103.939, 116.779, 123.68], variance=[1.0, 1.0, 1.0])(x)


def preprocess_input(arch: Architecture):
    """The input scaling the base of `arch` was trained with, as a function of a 0-255 RGB tensor."""
    if arch.preprocessing == "caffe":
        return bgr_minus_imagenet_mean
    return getattr(apps, arch.preprocessing).preprocess_input


def pretrained_base(spec: Model, size: tuple[int, int]) -> tf.keras.Model:
    """The keras.applications base of `model.arch` without its top, weights per `model.weights`."""
    arch = ARCHITECTURES[spec.arch]
    extra = {"alpha": spec.alpha} if arch.width_multiplier else {}
    weights = "imagenet" if spec.weights == "imagenet" else None
    base = getattr(apps, arch.application)(include_top=False, weights=weights, input_shape=(*size, 3), **extra)
    if spec.weights not in ("imagenet", "none"):
        if not Path(spec.weights).is_file():
            raise FileNotFoundError(f"model.weights: no weights file at {spec.weights}")
        base.load_weights(spec.weights)
    return base


def pretrained(spec: Model, input_shape: tuple[int, int, int], num_classes: int) -> tf.keras.Model:
    """A keras.applications base under a new head (pooling, dropout, softmax); frozen if it has weights."""
    inputs = tf.keras.Input(shape=input_shape, name="image")
    x = inputs
    if input_shape[-1] == 1:
        x = layers.Concatenate(name="gray_to_rgb")([x, x, x])  # the bases expect three channels
    x = preprocess_input(ARCHITECTURES[spec.arch])(
        x
    )  # each base expects its own scaling, e.g. [-1, 1] or BGR minus ImageNet means
    base = pretrained_base(spec, input_shape[:2])
    if spec.weights == "none":  # nothing learned to extract: the whole network trains from scratch
        for layer in base.layers:
            if isinstance(layer, layers.BatchNormalization):
                layer.momentum = BN_MOMENTUM
        x = base(x)
    else:
        base.trainable = False
        # training=False keeps the base's batch normalization in inference mode even after unfreeze(),
        # so a few small batches of new data cannot wreck its learned statistics.
        x = base(x, training=False)
    x = layers.GlobalAveragePooling2D(name="features")(x)
    return tf.keras.Model(inputs, _head(x, spec, num_classes), name=spec.arch)


def unfreeze(model: tf.keras.Model, count: str | int | float) -> int:
    """Make the top `count` layers (of the pretrained base, if any) trainable; return how many."""
    bases = [layer for layer in model.layers if isinstance(layer, tf.keras.Model)]
    if bases:
        bases[0].trainable = True
    candidates = [layer for layer in (bases[0] if bases else model).layers if layer.weights]
    n = len(candidates) if count == "all" else int(count) if isinstance(count, int) else round(count * len(candidates))
    n = min(n, len(candidates))
    for i, layer in enumerate(candidates):
        # A pretrained base's batch normalization stays frozen (Keras transfer-learning guide): its
        # ImageNet statistics are better than what a few small batches of new data would give.
        keep_frozen = bool(bases) and isinstance(layer, layers.BatchNormalization)
        layer.trainable = i >= len(candidates) - n and not keep_frozen
    return n
