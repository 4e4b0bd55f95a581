"""Looking inside a trained classifier: Grad-CAM, first-layer filters, a t-SNE map of its embeddings.

Works on any functional tf.keras classifier, including one whose convolutions sit in a nested base model.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

CONV_TYPES = (tf.keras.layers.Conv2D, tf.keras.layers.DepthwiseConv2D)  # SeparableConv2D is a Conv2D
POOL_TYPES = (tf.keras.layers.MaxPooling2D, tf.keras.layers.AveragePooling2D)


def _rank(layer: tf.keras.layers.Layer) -> int | None:
    shape = layer.output_shape
    return len(shape) if isinstance(shape, tuple) else None


def last_feature_map(model: tf.keras.Model) -> list[tf.keras.layers.Layer]:
    """Path to the last layer with a 4-D output, not a pooling layer: [nested model, …, layer]."""
    for layer in reversed(model.layers):
        if isinstance(layer, tf.keras.Model):
            try:
                return [layer, *last_feature_map(layer)]
            except ValueError:
                continue
        # Pooling only coarsens the map Grad-CAM explains; the layer before it has the same evidence.
        if _rank(layer) == 4 and not isinstance(layer, (tf.keras.layers.InputLayer, *POOL_TYPES)):
            return [layer]
    raise ValueError(f"model {model.name!r}: no layer with a 4-D (feature map) output to explain")


def _probe(model: tf.keras.Model, path: list, head: bool = True) -> tf.keras.Model:
    """A model returning (the feature map at the end of `path`, the input of the last layer if `head`,
    else the model's output)."""
    end = model.layers[-1].input if head else model.output
    if len(path) == 1:
        return tf.keras.Model(model.inputs, [path[0].output, end])
    inner = _probe(path[0], path[1:], head=False)
    # The nested base is called on one chain of top-level layers; rebuild that chain around it.
    x = inputs = tf.keras.Input(shape=model.input_shape[1:])
    symbolic = type(inputs)
    for layer in model.layers[:-1] if head else model.layers:
        if isinstance(layer, tf.keras.layers.InputLayer):
            continue
        if layer is path[0]:
            features, x = inner(x)
            continue
        # Call each layer as the model did (Concatenate([x, x, x]), TF-op layers with constant operands
        # like x / 127.5), with the chain's current tensor in place of the original one.
        node = layer.inbound_nodes[-1]
        args, kwargs = tf.nest.map_structure(
            lambda a, x=x: x if isinstance(a, symbolic) else a, (node.call_args, node.call_kwargs)
        )
        x = layer(*args, **kwargs)
    return tf.keras.Model(inputs, [features, x])


def _logits(layer: tf.keras.layers.Layer, x: tf.Tensor) -> tf.Tensor:
    """The class scores before the softmax of the model's last layer, given that layer's input."""
    if isinstance(layer, tf.keras.layers.Dense):
        return x @ layer.kernel + (layer.bias if layer.use_bias else 0.0)
    if isinstance(layer, tf.keras.layers.Activation):
        return x
    raise ValueError(f"last layer {layer.name!r}: expected a Dense or softmax Activation classifier")


def gradcam(model: tf.keras.Model, images: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """Grad-CAM heatmaps (N, H, W) in [0, 1] for `classes`, upsampled to the images' size (Selvaraju et al.)."""
    probe = _probe(model, last_feature_map(model))
    images = tf.convert_to_tensor(images, tf.float32)
    with tf.GradientTape() as tape:
        features, head_input = probe(images, training=False)
        # Logits, not probabilities: a confident softmax is flat, and its gradients are mostly noise.
        logits = _logits(model.layers[-1], head_input)
        scores = tf.gather(logits, tf.convert_to_tensor(classes), axis=1, batch_dims=1)
    # Each channel weighs in by its mean gradient: how much the class score rises with it.
    weights = tf.reduce_mean(tape.gradient(scores, features), axis=(1, 2))
    cam = tf.nn.relu(tf.einsum("nhwc,nc->nhw", features, weights))
    peak = tf.reduce_max(cam, axis=(1, 2), keepdims=True)
    cam = tf.math.divide_no_nan(cam, peak)
    resized = tf.image.resize(cam[..., None], images.shape[1:3], method="bilinear")[..., 0]
    return resized.numpy()


def first_conv_kernel(model: tf.keras.Model) -> np.ndarray:
    """The first convolution's kernel, (height, width, in_channels, filters)."""
    for layer in model.layers:
        if isinstance(layer, tf.keras.Model):
            try:
                return first_conv_kernel(layer)
            except ValueError:
                continue
        if isinstance(layer, CONV_TYPES):
            kernel = layer.get_weights()[0]
            if isinstance(layer, tf.keras.layers.DepthwiseConv2D):
                # (h, w, in, multiplier): each input channel has filters of its own, shown one by one.
                return kernel.reshape(*kernel.shape[:2], 1, -1)
            return kernel
    raise ValueError(f"model {model.name!r}: no convolution layer")


def tsne_map(embeddings: np.ndarray, seed: int) -> np.ndarray:
    """A 2-D t-SNE layout (N, 2) of the embeddings (van der Maaten & Hinton, 2008)."""
    from sklearn.manifold import TSNE
    from threadpoolctl import threadpool_limits

    flat = embeddings.reshape(len(embeddings), -1)
    perplexity = min(30.0, (len(flat) - 1) / 3)  # t-SNE needs more points than 3 × perplexity
    # One thread: next to TensorFlow's thread pools, OpenMP's spinning threads made it 10× slower.
    with threadpool_limits(1):
        return TSNE(2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(flat)
