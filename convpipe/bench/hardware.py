"""The hardware's own limit: matrix-multiply GFLOP/s per precision, the default model's training FLOPs per
image, and model FLOP utilisation (MFU) = training images/s × FLOPs per image ÷ the matmul peak.

FLOPs are counted analytically from the layers (Conv2D, DepthwiseConv2D, SeparableConv2D, Dense: 2 FLOPs
per multiply-add of the forward pass); training costs ≈ 3× the forward pass (forward, then the gradients
with respect to activations and to weights, each about as costly). Pooling, activations, normalization
and the optimizer are left out: they are memory-bound, not FLOP-bound.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np

MATMUL_SIDE = 2048
PRECISIONS = {"float32": "float32", "mixed_bfloat16": "bfloat16"}  # Keras policy → the matmul's dtype
GAP = (
    "between the figures and the peak: layers too small to fill the matrix units (the first convolution "
    "has 1-3 input channels), memory-bound work the FLOP count leaves out (activations, pooling, "
    "normalization, the optimizer's update), per-step framework overhead, and, for bfloat16 on a CPU "
    "without AMX/AVX512-BF16, conversions to and from float32 around emulated arithmetic"
)


def forward_flops(model) -> int:
    """FLOPs (2 per multiply-add) of one image's forward pass through the convolutions and dense layers."""
    import tensorflow as tf

    layers = tf.keras.layers
    total = 0
    for layer in _leaves(model):
        if isinstance(layer, layers.SeparableConv2D):  # before Conv2D: it is one of its subclasses
            (h, w), (kh, kw) = layer.output.shape[1:3], layer.kernel_size
            depthwise = layer.input.shape[-1] * layer.depth_multiplier  # channels out of the depthwise step
            total += h * w * (kh * kw * depthwise + depthwise * layer.filters)
        elif isinstance(layer, layers.DepthwiseConv2D):
            (h, w), (kh, kw) = layer.output.shape[1:3], layer.kernel_size
            total += h * w * kh * kw * layer.input.shape[-1] * layer.depth_multiplier
        elif isinstance(layer, layers.Conv2D):
            (h, w), (kh, kw) = layer.output.shape[1:3], layer.kernel_size
            total += h * w * kh * kw * layer.input.shape[-1] // layer.groups * layer.filters
        elif isinstance(layer, layers.Dense):
            total += layer.input.shape[-1] * layer.units
    return 2 * total


def training_flops(model) -> int:
    """≈ 3 × forward_flops: the forward pass and the two gradient products of the backward pass."""
    return 3 * forward_flops(model)


def _leaves(model):
    for layer in model.layers:
        if hasattr(layer, "layers"):
            yield from _leaves(layer)
        else:
            yield layer


def matmul_gflops(dtype: str, side: int = MATMUL_SIDE, seconds: float = 2.0) -> float:
    """GFLOP/s of a side×side matrix product in `dtype`, on all cores, repeated for about `seconds`."""
    import tensorflow as tf

    a = tf.random.stateless_uniform((side, side), (1, 2), dtype=tf.float32)
    b = tf.random.stateless_uniform((side, side), (3, 4), dtype=tf.float32)
    a, b = tf.cast(a, dtype), tf.cast(b, dtype)
    product = tf.function(lambda x, y: tf.reduce_sum(tf.cast(tf.matmul(x, y)[:1, :1], tf.float32)))
    product(a, b).numpy()  # trace and warm up
    rounds, start = 0, time.perf_counter()
    while rounds < 2 or time.perf_counter() - start < seconds:
        product(a, b).numpy()
        rounds += 1
    return 2 * side**3 * rounds / (time.perf_counter() - start) / 1e9


WARMUP_STEPS = 3  # steps after tracing still set up oneDNN's kernels (bfloat16's most of all): not timed
MIN_STEPS = 5
WINDOW_S = 15.0  # a 3 s window held 2-3 steps at 160×160 and showed bfloat16 1.3× float32 where 15 s shows 3.5×


def training_images_per_s(
    model_spec, shape: tuple[int, int, int], policy: str, batch: int = 64, seconds: float = WINDOW_S
):
    """Training images/s of `model_spec` built under `policy` on random images (steps after a warm-up)."""
    import tensorflow as tf

    from convpipe.model import precision
    from convpipe.model.builders import build_model
    from convpipe.model.training import compile_model

    precision.use(policy)
    try:
        model = build_model(model_spec, shape, 10)
        compile_model(model, 1e-3)
        rng = np.random.default_rng(0)
        x = tf.constant(rng.uniform(0, 255, (batch, *shape)).astype("float32"))
        y = tf.constant(rng.integers(0, 10, batch))
        for _ in range(WARMUP_STEPS):  # the first also traces
            model.train_on_batch(x, y)
        steps, start = 0, time.perf_counter()
        while steps < MIN_STEPS or time.perf_counter() - start < seconds:
            model.train_on_batch(x, y)
            steps += 1
        return steps * batch / (time.perf_counter() - start), training_flops(model)
    finally:
        precision.use("float32")


def utilisation(images_per_s: float, flops_per_image: float, peak_gflops: float) -> float:
    """Model FLOP utilisation: achieved training FLOP/s over the matmul peak."""
    return images_per_s * flops_per_image / (peak_gflops * 1e9) if peak_gflops > 0 else math.nan


def table(peaks: dict[str, float], measured: dict[str, dict[str, tuple[float, int]]]) -> list[dict]:
    """Rows per (input, precision): images/s, GFLOPs per image, achieved GFLOP/s, peak and MFU."""
    rows = []
    for name, by_policy in measured.items():
        for policy, (rate, flops) in by_policy.items():
            peak = peaks[policy]
            rows.append(
                {
                    "input": name,
                    "precision": policy,
                    "train_images_per_s": round(rate, 1),
                    "train_gflop_per_image": round(flops / 1e9, 4),
                    "achieved_gflop_per_s": round(rate * flops / 1e9, 1),
                    "peak_gflop_per_s": round(peak, 1),
                    "mfu": round(utilisation(rate, flops, peak), 4),
                }
            )
    return rows


def default_inputs(root: Path) -> dict[str, tuple[int, int, int]]:
    """The default params' image shape, and the photos' 160×160 RGB."""
    from convpipe.core.params import load_params

    data = load_params(root / "params.yaml").data
    size = data.image_size if isinstance(data.image_size, list) else [16, 16]
    channels = 3 if data.color_mode == "rgb" else 1
    return {"default": (*size, channels), "photos 160×160 rgb": (160, 160, 3)}


def hardware(root: Path, seconds: float = WINDOW_S) -> dict:
    """Matmul peaks per precision, and each input's training rate, FLOPs and MFU under the default model."""
    from convpipe.core.params import load_params

    spec = load_params(root / "params.yaml").model
    peaks = {policy: matmul_gflops(dtype) for policy, dtype in PRECISIONS.items()}
    measured = {
        name: {policy: training_images_per_s(spec, shape, policy, seconds=seconds) for policy in PRECISIONS}
        for name, shape in default_inputs(root).items()
    }
    return {
        "matmul_side": MATMUL_SIDE,
        **{f"matmul_{policy}_gflop_per_s": round(peak, 1) for policy, peak in peaks.items()},
        "model": spec.arch,
        "flops": "analytic: 2 per multiply-add of Conv/Dense layers, training = 3 × forward",
        "rows": table(peaks, measured),
        "gap": GAP,
    }
