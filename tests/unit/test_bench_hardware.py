"""The hardware section's pure parts: analytic FLOP counts, utilisation and its table."""

import math

import pytest

import convpipe  # noqa: F401  (selects Keras 2 before TensorFlow loads)
from convpipe.bench import hardware

tf = pytest.importorskip("tensorflow")


def test_flops_count_two_per_multiply_add_of_each_conv_and_dense_layer():
    inputs = tf.keras.Input((8, 8, 3))
    x = tf.keras.layers.Conv2D(4, 3, padding="same")(inputs)  # 8·8 positions × 3·3·3 × 4
    x = tf.keras.layers.SeparableConv2D(6, 3, padding="valid")(x)  # 6·6 × (3·3·4 + 4·6)
    x = tf.keras.layers.DepthwiseConv2D(3, padding="same")(x)  # 6·6 × 3·3·6
    x = tf.keras.layers.GlobalAveragePooling2D()(x)
    outputs = tf.keras.layers.Dense(5)(x)  # 6 × 5
    nested = tf.keras.Model(inputs, outputs)
    outer_in = tf.keras.Input((8, 8, 3))
    model = tf.keras.Model(outer_in, nested(outer_in))  # a nested base is counted too
    macs = 8 * 8 * 27 * 4 + 6 * 6 * (36 + 24) + 6 * 6 * 54 + 30
    assert hardware.forward_flops(model) == 2 * macs
    assert hardware.training_flops(model) == 6 * macs


def test_table_gives_achieved_flops_and_utilisation_per_precision():
    rows = hardware.table(
        {"float32": 100.0, "mixed_bfloat16": 50.0},
        {"default": {"float32": (1000.0, 20_000_000), "mixed_bfloat16": (500.0, 20_000_000)}},
    )
    assert [row["precision"] for row in rows] == ["float32", "mixed_bfloat16"]
    assert rows[0]["achieved_gflop_per_s"] == 20.0 and rows[0]["mfu"] == 0.2
    assert rows[1]["achieved_gflop_per_s"] == 10.0 and rows[1]["mfu"] == 0.2
    assert math.isnan(hardware.utilisation(1.0, 1.0, 0.0))


def test_matmul_gflops_is_a_positive_rate():
    assert hardware.matmul_gflops("float32", side=64, seconds=0.05) > 0


def test_time_to_accuracy_reads_epoch_lines_across_phases():
    from convpipe.bench import time_to_accuracy as tta
    from convpipe.model.training import epoch_line

    logs = {"loss": 0.5, "accuracy": 0.8, "val_loss": 0.4}
    lines = [
        (5.0, "train: precision float32, frozen-base feature cache off"),
        (9.0, epoch_line("train", 1, 3, {**logs, "val_accuracy": 0.8}, 0.002, 4, 8)),
        (13.0, epoch_line("train", 2, 3, {**logs, "val_accuracy": 0.9}, 0.002, 8, 4)),
    ]
    train = (15.0, tta.epoch_points(lines))
    assert train[1] == [(9.0, 0.8), (13.0, 0.9)]
    tuned = epoch_line("finetune", 1, 5, {**logs, "val_accuracy": 0.97}, 2e-4, 3, 9)
    finetune = (10.0, tta.epoch_points([(6.0, tuned)]))
    assert tta.time_to([train], 0.85) == 13.0
    assert tta.time_to([train, finetune], 0.95) == 21.0  # train's whole wall time, then finetune's first epoch
    assert tta.time_to([train, finetune], 0.99) is None


def test_weights_file_names_its_arch():
    from pathlib import Path

    from convpipe.bench.time_to_accuracy import infer_arch

    assert infer_arch(Path("xception_weights_tf_dim_ordering_tf_kernels_notop.h5")) == "xception"
    with pytest.raises(ValueError, match="--weights"):
        infer_arch(Path("weights.h5"))
