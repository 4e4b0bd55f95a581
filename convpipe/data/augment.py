"""Training-batch augmentation as one stateless function of (images, seed).

Flip, rotation, zoom and translation are fused into a single affine transform, so each image is
resampled once rather than once per Keras preprocessing layer. Every random draw comes from the
seed passed in, with no generator state: the batches of epoch e are the same whether the fit ran
straight through or resumed at e after a kill.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import tensorflow as tf

from convpipe.core.params import Augment

Augmenter = Callable[[tf.Tensor, tf.Tensor], tf.Tensor]  # (float32 N×H×W×C 0-255, int64 seed [2]) → same shape


def resolve(spec: Augment, channels: int) -> Augment:
    """`spec` with flip "auto" resolved: horizontal for colour images (`channels` 3), where a mirrored scene shows
    the same thing; none for grayscale ones, the digits and letters that mirroring turns into another symbol."""
    if spec.flip != "auto":
        return spec
    return spec.model_copy(update={"flip": "horizontal" if channels == 3 else "none"})


def augmentation(spec: Augment) -> Augmenter | None:
    """The random transforms `spec` asks for (flip resolved) as one stateless function; None when it asks for none."""
    if spec.flip == "auto":
        raise ValueError('augment.flip "auto" must be resolved from the images first (augment.resolve)')
    flips = {
        "none": (False, False),
        "horizontal": (True, False),
        "vertical": (False, True),
        "horizontal_and_vertical": (True, True),
    }[spec.flip]
    geometric = any(flips) or spec.rotation or spec.zoom or spec.translation
    if not (geometric or spec.contrast or spec.brightness):
        return None

    def augment(images: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
        draws = tf.random.experimental.stateless_split(seed, num=8)  # an independent seed per quantity
        n = tf.shape(images)[0]

        def uniform(draw: int, bound: float, centre: float = 0.0) -> tf.Tensor:
            return tf.random.stateless_uniform([n], draws[draw], centre - bound, centre + bound)

        if geometric:
            flip_x = tf.sign(uniform(0, 1.0)) if flips[0] else tf.ones([n])
            flip_y = tf.sign(uniform(1, 1.0)) if flips[1] else tf.ones([n])
            shift = tf.stack([uniform(4, spec.translation), uniform(5, spec.translation)], axis=1)
            images = affine(
                images,
                flip_x,
                flip_y,
                uniform(2, spec.rotation * 2 * math.pi),
                uniform(3, spec.zoom, centre=1.0),
                shift,
            )
        if spec.contrast:
            factor = uniform(6, spec.contrast, centre=1.0)[:, None, None, None]
            mean = tf.reduce_mean(images, axis=[1, 2], keepdims=True)
            images = tf.clip_by_value((images - mean) * factor + mean, 0.0, 255.0)
        if spec.brightness:
            delta = uniform(7, spec.brightness * 255)[:, None, None, None]
            images = tf.clip_by_value(images + delta, 0.0, 255.0)
        return images

    return augment


def affine(images: tf.Tensor, flip_x, flip_y, angle, scale, shift) -> tf.Tensor:
    """Each image flipped, rotated by `angle` (radians) and scaled about its centre, then shifted by
    `shift` (fractions of width, height); pixels from outside the image are 0, sampling bilinear."""
    height, width = tf.cast(tf.shape(images)[1], tf.float32), tf.cast(tf.shape(images)[2], tf.float32)
    centre_x, centre_y = (width - 1) / 2, (height - 1) / 2
    # ImageProjectiveTransformV3 maps each output pixel to the input pixel it samples, so this is the
    # inverse of flip·rotate·scale about the centre followed by the shift.
    cos, sin = tf.cos(angle) / scale, tf.sin(angle) / scale
    a00, a01, a10, a11 = flip_x * cos, flip_x * sin, -flip_y * sin, flip_y * cos
    out_x, out_y = centre_x + shift[:, 0] * width, centre_y + shift[:, 1] * height
    b0 = centre_x - a00 * out_x - a01 * out_y
    b1 = centre_y - a10 * out_x - a11 * out_y
    zeros = tf.zeros_like(angle)
    transforms = tf.stack([a00, a01, b0, a10, a11, b1, zeros, zeros], axis=1)
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=images,
        transforms=transforms,
        output_shape=tf.shape(images)[1:3],
        fill_value=0.0,
        interpolation="BILINEAR",
        fill_mode="CONSTANT",
    )
