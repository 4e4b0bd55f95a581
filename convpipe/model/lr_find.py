"""A learning-rate range test (fastai's lr_find, after Leslie Smith): train a fresh model for a short run
while the rate grows exponentially, record the loss at each step, and suggest a rate from the curve.

The suggestion is the rate where the smoothed loss falls fastest ("steepest descent"); when the curve has no
descent to speak of, it falls back to the rate of the lowest loss ÷ 10.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

START_RATE = 1e-6  # the first rate tried
END_RATE = 1.0  # the last rate tried, unless the loss diverges first
STEPS = 100  # batches in the run
DIVERGENCE = 4.0  # stop once the smoothed loss exceeds this many times its lowest value
SMOOTHING = 0.98  # exponential moving average of the loss, bias-corrected (fastai's beta)
SKIP_START, SKIP_END = 10, 5  # steps left out of the suggestion at each end (noisy start, diverging end)


@dataclass(frozen=True)
class RateCurve:
    """What the range test saw: per step the rate, the raw and the smoothed loss."""

    rates: list[float]
    losses: list[float]
    smoothed: list[float]
    suggestion: float
    method: str  # "steepest descent" or "minimum loss ÷ 10"


def rates(steps: int = STEPS, start: float = START_RATE, end: float = END_RATE) -> list[float]:
    """`steps` rates growing exponentially from `start` to `end`."""
    return [start * (end / start) ** (i / max(steps - 1, 1)) for i in range(steps)]


def smooth(losses: list[float], beta: float = SMOOTHING) -> list[float]:
    """Bias-corrected exponential moving average, as fastai smooths the loss."""
    average, out = 0.0, []
    for i, loss in enumerate(losses, 1):
        average = beta * average + (1 - beta) * loss
        out.append(average / (1 - beta**i))
    return out


def suggest(rates_tried: list[float], smoothed: list[float]) -> tuple[float, str]:
    """The rate of steepest descent of the smoothed loss (in log rate), or the minimum-loss rate ÷ 10."""
    lowest = int(np.argmin(smoothed))
    end = min(len(smoothed) - SKIP_END, lowest + 1)
    start = min(SKIP_START, max(end - 2, 0))
    if end - start >= 3:
        slopes = np.gradient(np.asarray(smoothed[start:end]), np.log(np.asarray(rates_tried[start:end])))
        steepest = start + int(np.argmin(slopes))
        if slopes[steepest - start] < 0:
            return float(rates_tried[steepest]), "steepest descent"
    return float(rates_tried[lowest]) / 10, "minimum loss ÷ 10"


def find_rate(model: tf.keras.Model, batches, steps: int = STEPS, start: float = START_RATE, end: float = END_RATE):
    """Train the compiled `model` on `batches` (repeated as needed) for up to `steps` steps at exponentially
    growing rates; stop when the smoothed loss diverges. Returns a RateCurve."""
    tried, losses = rates(steps, start, end), []
    best = math.inf
    iterator = iter(batches.repeat())
    for rate in tried:
        model.optimizer.learning_rate.assign(rate)
        x, y = next(iterator)
        loss = float(model.train_on_batch(x, y, return_dict=True)["loss"])
        if not math.isfinite(loss):
            break
        losses.append(loss)
        current = smooth(losses)[-1]
        best = min(best, current)
        if current > DIVERGENCE * best:
            break
    tried = tried[: len(losses)]
    smoothed = smooth(losses)
    if not losses:
        raise ValueError("lr-find: the loss was not finite at the first step; check the data and model")
    suggestion, method = suggest(tried, smoothed)
    return RateCurve(tried, losses, smoothed, suggestion, method)
