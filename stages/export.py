"""export: convert the finetuned model to each deployment format and measure every artifact on test.

Reads params: seed, paths, export, tracking.
Writes: paths.export/ (one file or folder per artifact, labels.txt, preprocessing.json) and
paths.reports/export.json: {artifact: measurements} with a "keras" reference row, and
{"skipped": reason} for an artifact TFMOT could not produce; the pruned row adds its sparsity.
"""
import json
import math
import sys
from pathlib import Path

import mlflow
import numpy as np
import tensorflow as tf

from convpipe import compress, export, predict, runners
from convpipe import params as params_module
from convpipe.atomic import atomic_dir, atomic_file
from convpipe.data import records
from convpipe.errors import run_main
from convpipe.tracking import stage_run
from convpipe.training import seed_everything


def representative_images(prepared: Path, count: int, seed: int) -> np.ndarray:
    """`count` train images in a seeded random order, for int8 calibration."""
    images, _ = records.arrays(prepared, "train")
    return images[np.random.default_rng(seed).permutation(len(images))[:count]]


def tuning_data(prepared: Path, batch_size: int, seed: int):
    """Shuffled train batches for QAT and pruning, and how many make an epoch."""
    total = records.read_meta(prepared)["counts"]["train"]["total"]
    return records.dataset(prepared, "train", batch_size, shuffle_seed=seed), math.ceil(total / batch_size)


def main() -> None:
    params = params_module.load()
    seed_everything(params.seed)
    prepared, settings = Path(params.paths.prepared), params.export
    # out_dir is a temporary sibling of paths.export, renamed into place when the stage succeeds.
    with stage_run("export", params) as run, atomic_dir(Path(params.paths.export)) as out_dir:
        model_path = Path(params.paths.finetune) / "model.keras"
        model = tf.keras.models.load_model(model_path, safe_mode=True)
        images, labels = records.arrays(prepared, "test")
        reference = model.predict(images, batch_size=256, verbose=0)
        meta = records.read_meta(prepared)
        predict.write_description(out_dir, meta["image_size"], meta["channels"], meta["class_names"])
        calibration = representative_images(prepared, settings.representative_samples, params.seed)
        train_ds, steps = tuning_data(prepared, settings.tune_batch_size, params.seed)
        table = {"keras": runners.measure(model_path, images, labels, reference, settings.latency_runs)}
        for kind in settings.formats:
            try:
                source = compress.source_model(model, kind, train_ds, steps, settings)
            except compress.UnsupportedModel as err:
                table[kind] = {"skipped": str(err)}
                print(f"export: {kind:<18} skipped: {err}", file=sys.stderr)
                continue
            path = export.build(source, kind, out_dir, calibration, settings.onnx_opset)
            table[kind] = runners.measure(path, images, labels, reference, settings.latency_runs)
            if kind == "tflite_pruned_int8":
                table[kind]["sparsity"] = compress.sparsity(source)  # share of zero kernel weights
            print(f"export: {kind:<18} accuracy {table[kind]['accuracy']:.4f}  "
                  f"{table[kind]['size_bytes'] / 1024:8.1f} KiB  {table[kind]['latency_ms']:.3f} ms")
        with atomic_file(Path(params.paths.reports) / "export.json") as handle:
            json.dump(table, handle, indent=2)
        print(export.markdown(table))
        if run:
            mlflow.log_metrics({f"{kind}.{key}": value for kind, row in table.items()
                                for key, value in row.items() if isinstance(value, (int, float))})
            mlflow.set_tags({f"skipped.{kind}": row["skipped"][:5000] for kind, row in table.items()
                             if "skipped" in row})
            mlflow.log_text(export.markdown(table), "export.md")
            mlflow.log_artifact(str(Path(params.paths.reports) / "export.json"))
            mlflow.log_artifacts(str(out_dir), "export")


if __name__ == "__main__":
    sys.exit(run_main(main, "export"))
