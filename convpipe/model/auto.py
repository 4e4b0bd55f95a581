"""The train and finetune sections' "auto" values, resolved from the model kind and the train split's size.

No TensorFlow here: train, finetune, `convpipe lr-find` and the benches resolve them the same way.
"""

from __future__ import annotations

import math

from convpipe.core.params import Finetune, Model, Train
from convpipe.model.architectures import ARCHITECTURES

SCRATCH_EPOCHS = 60  # from scratch: a cap early stopping, not the cap, is meant to end (batch norm, cosine decay)
PRETRAINED_EPOCHS = 20  # a new head on a frozen pretrained base converges quickly
MAX_BATCH = 64  # images per step when the train split is large enough
MIN_BATCH = 8  # the batch is never halved below this
MIN_STEPS = 12  # the batch is halved until an epoch has at least this many steps
PRETRAINED_UNFREEZE = 0.3  # pretrained base: the top 30% of its layers (batch norm stays frozen)
PRETRAINED_RATE_DIVISOR = 30  # pretrained base: finetune at train's rate ÷ 30 (the books: 10-100× lower)
SCRATCH_RATE_DIVISOR = 10  # from scratch: every layer, at train's rate ÷ 10


def has_pretrained_base(model: Model) -> bool:
    """Whether model.arch is a keras.applications base loaded with weights (not randomly initialised)."""
    return ARCHITECTURES[model.arch].pretrained and model.weights != "none"


def epochs(value: str | int, model: Model) -> int:
    """train.epochs: an explicit number as given; "auto" SCRATCH_EPOCHS, or PRETRAINED_EPOCHS with a pretrained base."""
    if value != "auto":
        return value
    return PRETRAINED_EPOCHS if has_pretrained_base(model) else SCRATCH_EPOCHS


def batch_size(value: str | int, train_count: int) -> int:
    """train.batch_size: an explicit size as given; "auto" MAX_BATCH, halved (down to MIN_BATCH) until an
    epoch of `train_count` images has at least MIN_STEPS steps."""
    if value != "auto":
        return value
    size = MAX_BATCH
    while size > MIN_BATCH and math.ceil(train_count / size) < MIN_STEPS:
        size //= 2
    return size


def train_settings(settings: Train, model: Model, train_count: int) -> Train:
    """`settings` with epochs and batch_size resolved."""
    return settings.model_copy(
        update={"epochs": epochs(settings.epochs, model), "batch_size": batch_size(settings.batch_size, train_count)}
    )


def finetune_settings(settings: Finetune, train: Train, model: Model) -> Finetune:
    """`settings` with unfreeze and learning_rate resolved: with a pretrained base the top PRETRAINED_UNFREEZE
    of it at train's rate ÷ PRETRAINED_RATE_DIVISOR; from scratch all layers at ÷ SCRATCH_RATE_DIVISOR."""
    pretrained = has_pretrained_base(model)
    unfreeze = settings.unfreeze
    if unfreeze == "auto":
        unfreeze = PRETRAINED_UNFREEZE if pretrained else "all"
    rate = settings.learning_rate
    if rate == "auto":
        rate = train.learning_rate / (PRETRAINED_RATE_DIVISOR if pretrained else SCRATCH_RATE_DIVISOR)
    return settings.model_copy(update={"unfreeze": unfreeze, "learning_rate": rate})
