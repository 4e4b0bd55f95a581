"""The train stage's hook into a tuning study: each epoch's val_loss goes to the trial, and the stage stops when
the study's pruner says the trial lags the others.

Active only inside `convpipe tune` (core.tracking.TUNE_ENV names a study with a pruner); elsewhere `callbacks`
gives nothing and train runs exactly as without a study. A pruned train exits with PRUNED_EXIT and one line: DVC
then records neither the stage nor its run-cache entry, so those params never pass for a finished train.
"""

from __future__ import annotations

import tensorflow as tf

from convpipe.core.errors import Stopped
from convpipe.core.tracking import StageRun, tune_trial

PRUNED_EXIT = 3  # train's exit code when its trial is pruned (1 is an error, 130/143 an interruption)


class ReportAndPrune(tf.keras.callbacks.Callback):
    """After each epoch, reports val_loss through `reporter` (a storage.TrialReporter) and stops the stage when
    the study prunes the trial."""

    def __init__(self, reporter, run: StageRun):
        super().__init__()
        self.reporter, self.run = reporter, run

    def on_epoch_end(self, epoch, logs=None):
        val_loss = float(logs["val_loss"])
        if self.reporter.report(epoch, val_loss):
            self.run.set_tags({"convpipe.tune.pruned_at_epoch": epoch})
            raise Stopped(
                f"pruned after epoch {epoch + 1}: val_loss {val_loss:.4f} lags the other trials of study "
                f"{self.reporter.study!r} (trial {self.reporter.number})",
                PRUNED_EXIT,
            )


def callbacks(run: StageRun) -> list[tf.keras.callbacks.Callback]:
    """[ReportAndPrune] for the trial this train runs in, when its study prunes; else []."""
    trial = tune_trial()
    if not trial.get("pruner"):
        return []
    # Optuna is imported only here, inside a study: a train outside one starts as it always has.
    from convpipe.tune.storage import TrialReporter

    return [ReportAndPrune(TrialReporter(trial["storage"], trial["study"], trial["trial"], trial["pruner"]), run)]
