"""Quantization-aware training and magnitude pruning of a Keras model with TFMOT, before conversion."""

from __future__ import annotations

from dataclasses import dataclass

import tensorflow as tf
import tensorflow_model_optimization as tfmot

from convpipe.core.params import Export
from convpipe.export.formats import FORMATS
from convpipe.model.training import compile_model


class UnsupportedModel(ValueError):
    """TFMOT cannot wrap this model; the message names the layer and the technique."""


def copy_model(model: tf.keras.Model) -> tf.keras.Model:
    """A copy with its own weights, so wrapping and tuning it leaves `model` untouched."""
    copy = tf.keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    return copy


def _wrap_layers(model: tf.keras.Model, wrap, supports, technique: str) -> tf.keras.Model:
    """Clone `model`, wrapping the layers `supports`; refuse if a layer with weights is unsupported.

    Weightless layers TFMOT does not know (Rescaling, for one) stay float: the int8 converter still
    calibrates them from the representative images.
    """
    for layer in model.layers:
        if isinstance(layer, tf.keras.Model):
            raise UnsupportedModel(
                f"{technique}: layer {layer.name!r} is a nested model, which TFMOT cannot wrap "
                "(build the network from its layers instead of as a model inside a model)"
            )
        if layer.weights and not supports(layer):
            raise UnsupportedModel(
                f"{technique}: TFMOT cannot wrap layer {layer.name!r} ({type(layer).__name__}), which has weights"
            )
    return tf.keras.models.clone_model(
        copy_model(model), clone_function=lambda layer: wrap(layer) if supports(layer) else layer
    )


def _sources(nodes) -> list[str]:
    """Inbound layer names in a layer config's inbound_nodes ([[name, node, tensor, kwargs], ...], nested
    one level deeper for most layers than for TFOpLambda ones)."""
    if isinstance(nodes, list) and len(nodes) == 4 and isinstance(nodes[0], str) and isinstance(nodes[1], int):
        return [nodes[0]]
    return [name for node in nodes if isinstance(node, list) for name in _sources(node)]


def folded_batch_norms(model: tf.keras.Model) -> set[str]:
    """Names of the BatchNormalization layers between a Conv2D and a ReLU: TFMOT's 8-bit scheme folds
    Conv2D → BatchNormalization → ReLU into one quantized convolution, though it cannot wrap a lone one."""
    kinds = {layer.name: layer for layer in model.layers}
    inbound, consumers = {}, {}
    for entry in model.get_config()["layers"]:
        sources = _sources(entry.get("inbound_nodes", []))
        inbound[entry["name"]] = sources
        for source in sources:
            consumers.setdefault(source, []).append(entry["name"])

    def relu(name: str) -> bool:
        layer = kinds[name]
        return isinstance(layer, tf.keras.layers.ReLU) or (
            isinstance(layer, tf.keras.layers.Activation) and layer.get_config()["activation"] == "relu"
        )

    return {
        name
        for name, layer in kinds.items()
        if isinstance(layer, tf.keras.layers.BatchNormalization)
        and len(inbound[name]) == 1
        and type(kinds[inbound[name][0]]) is tf.keras.layers.Conv2D
        and [relu(c) for c in consumers.get(name, [])] == [True]
    }


def quantization_aware(model: tf.keras.Model) -> tf.keras.Model:
    """A copy of `model` with fake-quantization (8-bit) on every layer TFMOT supports."""
    registry = tfmot.quantization.keras.default_8bit.Default8BitQuantizeScheme().get_quantize_registry()
    folded = folded_batch_norms(model)
    annotated = _wrap_layers(
        model,
        tfmot.quantization.keras.quantize_annotate_layer,
        lambda layer: registry.supports(layer) or layer.name in folded,
        "quantization-aware training",
    )
    try:
        return tfmot.quantization.keras.quantize_apply(annotated)
    except (ValueError, RuntimeError) as err:
        raise UnsupportedModel(f"quantization-aware training: TFMOT refused the model: {err}") from None


def _prunable(layer: tf.keras.layers.Layer) -> bool:
    # TFMOT has no public "supports" for pruning; wrapping raises ValueError for what it cannot prune.
    try:
        tfmot.sparsity.keras.prune_low_magnitude(layer)
    except ValueError:
        return False
    return True


def prunable(model: tf.keras.Model, sparsity: float, steps_per_epoch: int) -> tf.keras.Model:
    """A copy of `model` whose weights are pruned to `sparsity` at the start of every epoch of tuning."""
    schedule = tfmot.sparsity.keras.ConstantSparsity(sparsity, begin_step=0, frequency=steps_per_epoch)
    return _wrap_layers(
        model, lambda layer: tfmot.sparsity.keras.prune_low_magnitude(layer, schedule), _prunable, "pruning"
    )


def tune(model: tf.keras.Model, train_ds, epochs: int, learning_rate: float) -> None:
    """Fine-tune a wrapped model for a few epochs; pruning's step counter rides along as a callback."""
    compile_model(model, learning_rate)
    model.fit(train_ds, epochs=epochs, verbose=2, callbacks=[tfmot.sparsity.keras.UpdatePruningStep()])


def strip_pruning(model: tf.keras.Model) -> tf.keras.Model:
    """The plain Keras model left when the pruning wrappers are removed (the zeros stay)."""
    return tfmot.sparsity.keras.strip_pruning(model)


def sparsity(model: tf.keras.Model) -> float:
    """Share of exactly-zero values among the model's kernels."""
    kernels = [w.numpy() for layer in model.layers for w in layer.weights if "kernel" in w.name]
    return sum(float((k == 0).sum()) for k in kernels) / max(sum(k.size for k in kernels), 1)


@dataclass(frozen=True)
class TuningData:
    """The train split as QAT and pruning tune on it."""

    batches: object  # tf.data.Dataset of shuffled (pixels, label) batches
    steps_per_epoch: int


def quantization_aware_tuned(model: tf.keras.Model, data: TuningData, settings: Export) -> tf.keras.Model:
    """A QAT copy of `model` tuned on the train split for export.qat_epochs."""
    qat = quantization_aware(model)
    tune(qat, data.batches, settings.qat_epochs, settings.tune_learning_rate)
    return qat


def pruned_tuned(model: tf.keras.Model, data: TuningData, settings: Export) -> tf.keras.Model:
    """A copy of `model` pruned to export.sparsity while tuned on the train split, wrappers removed."""
    pruned = prunable(model, settings.sparsity, data.steps_per_epoch)
    tune(pruned, data.batches, settings.prune_epochs, settings.tune_learning_rate)
    return strip_pruning(pruned)


# formats.Format.tuning → what makes the model that format converts: (model, data, settings) → model
TUNINGS = {"qat": quantization_aware_tuned, "prune": pruned_tuned}


def source_model(model: tf.keras.Model, kind: str, data: TuningData, settings: Export) -> tf.keras.Model:
    """What artifact `kind` is converted from: `model` itself, or a copy tuned as its format's `tuning` says."""
    tuning = FORMATS[kind].tuning
    if tuning is None:
        return model
    if tuning not in TUNINGS:
        raise ValueError(f"export format {kind}: unknown tuning {tuning!r} (known: {', '.join(TUNINGS)})")
    return TUNINGS[tuning](model, data, settings)


def extra_measures(source: tf.keras.Model, kind: str) -> dict[str, float]:
    """Figures export.json adds for a tuned format: a pruned model's share of zero kernel weights."""
    return {"sparsity": sparsity(source)} if FORMATS[kind].tuning == "prune" else {}
